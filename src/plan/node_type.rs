//! Plan node types: every `"Node Type"` PostgreSQL 14 to 18 writes in EXPLAIN's JSON (the names
//! `ExplainNode` in explain.c gives them), with [`NodeType::Other`] keeping any other verbatim, so
//! a plan from a newer server or a fork still reads and round-trips unchanged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! node_types {
    ($($variant:ident => $name:literal,)*) => {
        /// A plan node's type, as PostgreSQL names it (`"Seq Scan"`).
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum NodeType {
            $($variant,)*
            /// A type this list does not know, kept as written.
            Other(String),
        }

        impl NodeType {
            /// Every known type, in explain.c's order.
            pub const KNOWN: &'static [NodeType] = &[$(NodeType::$variant,)*];

            /// The name exactly as EXPLAIN writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(NodeType::$variant => $name,)*
                    NodeType::Other(name) => name,
                }
            }

            /// The known type of that name, or [`NodeType::Other`].
            pub fn from_name(name: &str) -> NodeType {
                match name {
                    $($name => NodeType::$variant,)*
                    other => NodeType::Other(other.to_owned()),
                }
            }
        }
    };
}

node_types! {
    Result => "Result",
    ProjectSet => "ProjectSet",
    ModifyTable => "ModifyTable",
    Append => "Append",
    MergeAppend => "Merge Append",
    RecursiveUnion => "Recursive Union",
    BitmapAnd => "BitmapAnd",
    BitmapOr => "BitmapOr",
    NestedLoop => "Nested Loop",
    MergeJoin => "Merge Join",
    HashJoin => "Hash Join",
    SeqScan => "Seq Scan",
    SampleScan => "Sample Scan",
    Gather => "Gather",
    GatherMerge => "Gather Merge",
    IndexScan => "Index Scan",
    IndexOnlyScan => "Index Only Scan",
    BitmapIndexScan => "Bitmap Index Scan",
    BitmapHeapScan => "Bitmap Heap Scan",
    TidScan => "Tid Scan",
    TidRangeScan => "Tid Range Scan",
    SubqueryScan => "Subquery Scan",
    FunctionScan => "Function Scan",
    TableFunctionScan => "Table Function Scan",
    ValuesScan => "Values Scan",
    CteScan => "CTE Scan",
    NamedTuplestoreScan => "Named Tuplestore Scan",
    WorkTableScan => "WorkTable Scan",
    ForeignScan => "Foreign Scan",
    CustomScan => "Custom Scan",
    Materialize => "Materialize",
    Memoize => "Memoize",
    Sort => "Sort",
    IncrementalSort => "Incremental Sort",
    Group => "Group",
    Aggregate => "Aggregate",
    WindowAgg => "WindowAgg",
    Unique => "Unique",
    SetOp => "SetOp",
    LockRows => "LockRows",
    Limit => "Limit",
    Hash => "Hash",
}

impl NodeType {
    /// Scans that read a table's rows (what an index could replace or serve).
    pub fn is_table_scan(&self) -> bool {
        matches!(
            self,
            NodeType::SeqScan
                | NodeType::BitmapHeapScan
                | NodeType::IndexScan
                | NodeType::IndexOnlyScan
        )
    }

    /// Nodes that hand their input's rows on unchanged as a set (Hash, Sort, Incremental Sort,
    /// Materialize, Memoize, Gather, Gather Merge, Result): a scan below one still feeds the join
    /// or aggregate above it, and an index on the scan serves that node.
    pub fn passes_rows_through(&self) -> bool {
        matches!(
            self,
            NodeType::Hash
                | NodeType::Sort
                | NodeType::IncrementalSort
                | NodeType::Materialize
                | NodeType::Memoize
                | NodeType::Gather
                | NodeType::GatherMerge
                | NodeType::Result
        )
    }

    /// Gather and Gather Merge, the nodes that start a parallel section.
    pub fn is_gather(&self) -> bool {
        matches!(self, NodeType::Gather | NodeType::GatherMerge)
    }

    /// The three join nodes.
    pub fn is_join(&self) -> bool {
        matches!(
            self,
            NodeType::HashJoin | NodeType::MergeJoin | NodeType::NestedLoop
        )
    }
}

/// An empty name (an `Other`), as `String::default()` was before the type existed.
impl Default for NodeType {
    fn default() -> Self {
        NodeType::Other(String::new())
    }
}

impl From<&str> for NodeType {
    fn from(name: &str) -> Self {
        NodeType::from_name(name)
    }
}

impl fmt::Display for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Tests and fixtures compare against the name EXPLAIN prints.
impl PartialEq<&str> for NodeType {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for NodeType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for NodeType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(NodeType::from_name(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_kept() {
        for known in NodeType::KNOWN {
            assert_eq!(&NodeType::from_name(known.as_str()), known);
            let json = serde_json::to_string(known).unwrap();
            assert_eq!(&serde_json::from_str::<NodeType>(&json).unwrap(), known);
        }
        let future: NodeType = serde_json::from_str(r#""Quantum Scan""#).unwrap();
        assert_eq!(future, NodeType::Other("Quantum Scan".into()));
        assert_eq!(serde_json::to_string(&future).unwrap(), r#""Quantum Scan""#);
        assert_eq!(NodeType::from_name("Seq Scan"), NodeType::SeqScan);
    }
}
