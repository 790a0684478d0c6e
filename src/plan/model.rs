//! Typed mirror of PostgreSQL's `EXPLAIN (FORMAT JSON)` document.
//!
//! Owns the data shapes only: field names follow the keys PostgreSQL 12–17 emits (serde renames keep
//! the JSON round-trippable), numbers are accepted as ints or floats because versions and forks
//! differ, and every key we do not model lands in an `extra` map instead of being rejected, so a plan
//! from a newer server still loads. Derived figures live in [`super::analysis`].

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Add, AddAssign, Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::deep::grow;
use super::node_type::NodeType;

/// One EXPLAIN result: the plan tree plus the statement-level figures around it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Explain {
    /// Present in auto_explain output and in pev2-style saved plans; absent from plain EXPLAIN.
    #[serde(
        rename = "Query Text",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub query_text: Option<String>,
    #[serde(rename = "Plan")]
    pub plan: PlanNode,
    #[serde(
        rename = "Planning Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub planning_time_ms: Option<f64>,
    #[serde(
        rename = "Execution Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub execution_time_ms: Option<f64>,
    #[serde(rename = "JIT", default, skip_serializing_if = "Option::is_none")]
    pub jit: Option<Jit>,
    /// Non-default planner settings (`EXPLAIN (SETTINGS)`, PG12+). PostgreSQL prints every value as a
    /// string; other scalars are stringified rather than rejected.
    #[serde(
        rename = "Settings",
        default,
        deserialize_with = "lenient_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub settings: BTreeMap<String, String>,
    #[serde(rename = "Triggers", default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
    /// Buffers touched while planning (`"Planning"` group, PG13+ with BUFFERS).
    #[serde(rename = "Planning", default, skip_serializing_if = "Option::is_none")]
    pub planning_buffers: Option<Buffers>,
    /// Top-level keys not modelled above ("Query Identifier", "Serialization", ...), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Explain {
    /// Wraps a bare plan node (someone pasted only the `"Plan"` object) into an `Explain`.
    pub fn from_plan(plan: PlanNode) -> Self {
        Explain {
            query_text: None,
            plan,
            planning_time_ms: None,
            execution_time_ms: None,
            jit: None,
            settings: BTreeMap::new(),
            triggers: Vec::new(),
            planning_buffers: None,
            extra: Map::new(),
        }
    }
}

/// One plan node. Times are milliseconds *per loop* and row counts are *per loop*, exactly as
/// PostgreSQL reports them; [`super::analysis`] turns them into totals.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlanNode {
    #[serde(rename = "Node Type")]
    pub node_type: NodeType,
    #[serde(
        rename = "Parent Relationship",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_relationship: Option<String>,
    #[serde(
        rename = "Subplan Name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subplan_name: Option<String>,
    #[serde(rename = "CTE Name", default, skip_serializing_if = "Option::is_none")]
    pub cte_name: Option<String>,
    #[serde(
        rename = "Parallel Aware",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parallel_aware: Option<bool>,
    #[serde(
        rename = "Async Capable",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub async_capable: Option<bool>,
    #[serde(rename = "Operation", default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(
        rename = "Relation Name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub relation_name: Option<String>,
    #[serde(rename = "Schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(rename = "Alias", default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(
        rename = "Index Name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub index_name: Option<String>,
    #[serde(
        rename = "Function Name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub function_name: Option<String>,
    #[serde(
        rename = "Scan Direction",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub scan_direction: Option<String>,
    #[serde(rename = "Strategy", default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    #[serde(
        rename = "Partial Mode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub partial_mode: Option<String>,
    #[serde(rename = "Join Type", default, skip_serializing_if = "Option::is_none")]
    pub join_type: Option<String>,
    #[serde(
        rename = "Inner Unique",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub inner_unique: Option<bool>,

    #[serde(
        rename = "Startup Cost",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub startup_cost: Option<f64>,
    #[serde(
        rename = "Total Cost",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub total_cost: Option<f64>,
    /// Estimated rows per loop (per process inside a parallel section).
    #[serde(rename = "Plan Rows", default, skip_serializing_if = "Option::is_none")]
    pub plan_rows: Option<f64>,
    #[serde(
        rename = "Plan Width",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub plan_width: Option<f64>,

    #[serde(
        rename = "Actual Startup Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_startup_time: Option<f64>,
    /// Milliseconds, averaged over loops.
    #[serde(
        rename = "Actual Total Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_total_time: Option<f64>,
    /// Rows per loop, averaged (rounded to an integer before PG18).
    #[serde(
        rename = "Actual Rows",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_rows: Option<f64>,
    #[serde(
        rename = "Actual Loops",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_loops: Option<f64>,

    #[serde(
        rename = "Workers Planned",
        default,
        deserialize_with = "lenient_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub workers_planned: Option<u32>,
    #[serde(
        rename = "Workers Launched",
        default,
        deserialize_with = "lenient_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub workers_launched: Option<u32>,
    #[serde(rename = "Workers", default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<Worker>,

    #[serde(rename = "Output", default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Vec<String>>,
    #[serde(rename = "Filter", default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(
        rename = "Rows Removed by Filter",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rows_removed_by_filter: Option<f64>,
    #[serde(
        rename = "Index Cond",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub index_cond: Option<String>,
    #[serde(
        rename = "Recheck Cond",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub recheck_cond: Option<String>,
    #[serde(
        rename = "Rows Removed by Index Recheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rows_removed_by_index_recheck: Option<f64>,
    #[serde(
        rename = "Join Filter",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub join_filter: Option<String>,
    #[serde(
        rename = "Rows Removed by Join Filter",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rows_removed_by_join_filter: Option<f64>,
    #[serde(rename = "Hash Cond", default, skip_serializing_if = "Option::is_none")]
    pub hash_cond: Option<String>,
    #[serde(
        rename = "Merge Cond",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub merge_cond: Option<String>,

    #[serde(rename = "Sort Key", default, skip_serializing_if = "Option::is_none")]
    pub sort_key: Option<Vec<String>>,
    #[serde(
        rename = "Presorted Key",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub presorted_key: Option<Vec<String>>,
    #[serde(
        rename = "Sort Method",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sort_method: Option<String>,
    /// Kilobytes.
    #[serde(
        rename = "Sort Space Used",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub sort_space_used_kb: Option<u64>,
    /// "Memory" or "Disk".
    #[serde(
        rename = "Sort Space Type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sort_space_type: Option<String>,
    #[serde(rename = "Group Key", default, skip_serializing_if = "Option::is_none")]
    pub group_key: Option<Vec<String>>,

    #[serde(
        rename = "Hash Buckets",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub hash_buckets: Option<u64>,
    #[serde(
        rename = "Original Hash Buckets",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_hash_buckets: Option<u64>,
    #[serde(
        rename = "Hash Batches",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub hash_batches: Option<u64>,
    #[serde(
        rename = "Original Hash Batches",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_hash_batches: Option<u64>,
    /// Kilobytes (Hash and HashAggregate nodes).
    #[serde(
        rename = "Peak Memory Usage",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub peak_memory_usage_kb: Option<u64>,
    /// Kilobytes spilled by HashAggregate (PG13+).
    #[serde(
        rename = "Disk Usage",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub disk_usage_kb: Option<u64>,
    #[serde(
        rename = "HashAgg Batches",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub hashagg_batches: Option<u64>,
    #[serde(
        rename = "Planned Partitions",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub planned_partitions: Option<u64>,

    #[serde(
        rename = "Heap Fetches",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub heap_fetches: Option<u64>,
    #[serde(
        rename = "Exact Heap Blocks",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub exact_heap_blocks: Option<u64>,
    #[serde(
        rename = "Lossy Heap Blocks",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub lossy_heap_blocks: Option<u64>,

    /// Buffer counters, cumulative over loops and over the node's children.
    #[serde(flatten)]
    pub buffers: Buffers,

    /// PG13–15: time reading/writing shared and local blocks (needs `track_io_timing`).
    #[serde(
        rename = "I/O Read Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub io_read_time_ms: Option<f64>,
    #[serde(
        rename = "I/O Write Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub io_write_time_ms: Option<f64>,
    /// PG16+ split the I/O timings by buffer kind.
    #[serde(
        rename = "Shared I/O Read Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_io_read_time_ms: Option<f64>,
    #[serde(
        rename = "Shared I/O Write Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_io_write_time_ms: Option<f64>,
    #[serde(
        rename = "Local I/O Read Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub local_io_read_time_ms: Option<f64>,
    #[serde(
        rename = "Local I/O Write Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub local_io_write_time_ms: Option<f64>,
    #[serde(
        rename = "Temp I/O Read Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub temp_io_read_time_ms: Option<f64>,
    #[serde(
        rename = "Temp I/O Write Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub temp_io_write_time_ms: Option<f64>,

    #[serde(rename = "Plans", default, skip_serializing_if = "Plans::is_empty")]
    pub plans: Plans,

    /// Keys not modelled above (node-specific details, newer versions), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PlanNode {
    pub fn children(&self) -> &[PlanNode] {
        &self.plans
    }

    /// Depth-first, parent before children, children in plan order. Iterative, so a deep plan cannot
    /// overflow the stack.
    pub fn preorder(&self) -> Vec<&PlanNode> {
        let mut ordered = Vec::new();
        let mut pending = vec![self];
        while let Some(node) = pending.pop() {
            ordered.push(node);
            pending.extend(node.plans.iter().rev());
        }
        ordered
    }

    /// The name PostgreSQL's text format prints for this node: "Parallel " / "Async " prefixes, the
    /// aggregate strategy ("HashAggregate", "Finalize GroupAggregate"), "HashSetOp", and the
    /// operation of a ModifyTable ("Insert"). Join types are deliberately left out: they are a
    /// property of the node, shown separately.
    pub fn label(&self) -> String {
        let base = match &self.node_type {
            NodeType::Aggregate => {
                let name = match self.strategy.as_deref() {
                    Some("Sorted") => "GroupAggregate",
                    Some("Hashed") => "HashAggregate",
                    Some("Mixed") => "MixedAggregate",
                    _ => "Aggregate",
                };
                match self.partial_mode.as_deref() {
                    Some(mode @ ("Partial" | "Finalize")) => format!("{mode} {name}"),
                    _ => name.to_string(),
                }
            }
            NodeType::SetOp if self.strategy.as_deref() == Some("Hashed") => {
                "HashSetOp".to_string()
            }
            NodeType::ModifyTable => self
                .operation
                .clone()
                .unwrap_or_else(|| self.node_type.to_string()),
            other => other.to_string(),
        };
        let mut label = String::with_capacity(base.len() + 15);
        if self.parallel_aware == Some(true) {
            label.push_str("Parallel ");
        }
        if self.async_capable == Some(true) {
            label.push_str("Async ");
        }
        label.push_str(&base);
        label
    }

    /// "schema.table" when EXPLAIN VERBOSE (or auto_explain) reported the schema, else the bare
    /// relation name; `None` for nodes that do not read a table.
    pub fn relation(&self) -> Option<String> {
        let relation = self.relation_name.as_deref()?;
        Some(match self.schema.as_deref() {
            Some(schema) => format!("{schema}.{relation}"),
            None => relation.to_string(),
        })
    }

    /// True for Gather and Gather Merge, the nodes that start a parallel section.
    pub fn is_gather(&self) -> bool {
        self.node_type.is_gather()
    }

    /// The CTE this node computes, when it is a CTE's InitPlan ("Subplan Name": "CTE name").
    pub fn defined_cte_name(&self) -> Option<&str> {
        if self.parent_relationship.as_deref() != Some("InitPlan") {
            return None;
        }
        self.subplan_name.as_deref()?.strip_prefix("CTE ")
    }
}

/// A node's children (`"Plans"`), a `Vec<PlanNode>` in every use (it derefs to one). Its own type
/// keeps a plan of any depth safe (see [`super::deep`]): dropping takes the tree apart in a loop,
/// and cloning, printing and (de)serializing run each level under [`grow`].
#[derive(Default)]
pub struct Plans(pub Vec<PlanNode>);

impl Plans {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(mut self) -> Vec<PlanNode> {
        std::mem::take(&mut self.0)
    }
}

impl Deref for Plans {
    type Target = Vec<PlanNode>;
    fn deref(&self) -> &Vec<PlanNode> {
        &self.0
    }
}

impl DerefMut for Plans {
    fn deref_mut(&mut self) -> &mut Vec<PlanNode> {
        &mut self.0
    }
}

impl From<Vec<PlanNode>> for Plans {
    fn from(plans: Vec<PlanNode>) -> Self {
        Plans(plans)
    }
}

impl FromIterator<PlanNode> for Plans {
    fn from_iter<I: IntoIterator<Item = PlanNode>>(iter: I) -> Self {
        Plans(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Plans {
    type Item = &'a PlanNode;
    type IntoIter = std::slice::Iter<'a, PlanNode>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a mut Plans {
    type Item = &'a mut PlanNode;
    type IntoIter = std::slice::IterMut<'a, PlanNode>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

impl Drop for Plans {
    /// Iterative: the derived drop would recurse once per plan level.
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.0);
        while let Some(mut node) = pending.pop() {
            pending.append(&mut node.plans.0);
        }
    }
}

impl Clone for Plans {
    fn clone(&self) -> Self {
        grow(|| Plans(self.0.clone()))
    }
}

impl fmt::Debug for Plans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        grow(|| self.0.fmt(f))
    }
}

impl Serialize for Plans {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        grow(|| self.0.serialize(serializer))
    }
}

impl<'de> Deserialize<'de> for Plans {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        grow(|| Vec::<PlanNode>::deserialize(deserializer).map(Plans))
    }
}

/// Buffer counters in blocks (8 kB by default). EXPLAIN reports them cumulatively: a node's figures
/// include its children's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buffers {
    #[serde(
        rename = "Shared Hit Blocks",
        default,
        deserialize_with = "lenient_u64_or_zero"
    )]
    pub shared_hit: u64,
    #[serde(
        rename = "Shared Read Blocks",
        default,
        deserialize_with = "lenient_u64_or_zero"
    )]
    pub shared_read: u64,
    #[serde(
        rename = "Shared Dirtied Blocks",
        default,
        deserialize_with = "lenient_u64_or_zero"
    )]
    pub shared_dirtied: u64,
    #[serde(
        rename = "Shared Written Blocks",
        default,
        deserialize_with = "lenient_u64_or_zero"
    )]
    pub shared_written: u64,
    #[serde(
        rename = "Local Hit Blocks",
        default,
        deserialize_with = "lenient_u64_or_zero"
    )]
    pub local_hit: u64,
    #[serde(
        rename = "Local Read Blocks",
        default,
        deserialize_with = "lenient_u64_or_zero"
    )]
    pub local_read: u64,
    #[serde(
        rename = "Local Dirtied Blocks",
        default,
        deserialize_with = "lenient_u64_or_zero"
    )]
    pub local_dirtied: u64,
    #[serde(
        rename = "Local Written Blocks",
        default,
        deserialize_with = "lenient_u64_or_zero"
    )]
    pub local_written: u64,
    #[serde(
        rename = "Temp Read Blocks",
        default,
        deserialize_with = "lenient_u64_or_zero"
    )]
    pub temp_read: u64,
    #[serde(
        rename = "Temp Written Blocks",
        default,
        deserialize_with = "lenient_u64_or_zero"
    )]
    pub temp_written: u64,
}

impl Buffers {
    /// Number of counters, for code that treats the struct as a vector.
    pub const COUNTERS: usize = 10;

    pub fn is_zero(&self) -> bool {
        *self == Buffers::default()
    }

    /// Blocks found in shared buffers or read into them.
    pub fn shared_total(&self) -> u64 {
        self.shared_hit.saturating_add(self.shared_read)
    }

    pub fn to_array(&self) -> [u64; Self::COUNTERS] {
        [
            self.shared_hit,
            self.shared_read,
            self.shared_dirtied,
            self.shared_written,
            self.local_hit,
            self.local_read,
            self.local_dirtied,
            self.local_written,
            self.temp_read,
            self.temp_written,
        ]
    }

    pub fn from_array(counters: [u64; Self::COUNTERS]) -> Self {
        let [
            shared_hit,
            shared_read,
            shared_dirtied,
            shared_written,
            local_hit,
            local_read,
            local_dirtied,
            local_written,
            temp_read,
            temp_written,
        ] = counters;
        Buffers {
            shared_hit,
            shared_read,
            shared_dirtied,
            shared_written,
            local_hit,
            local_read,
            local_dirtied,
            local_written,
            temp_read,
            temp_written,
        }
    }

    fn zip_with(&self, other: &Buffers, combine: impl Fn(u64, u64) -> u64) -> Buffers {
        let (left, right) = (self.to_array(), other.to_array());
        Buffers::from_array(std::array::from_fn(|i| combine(left[i], right[i])))
    }

    /// Counter-wise subtraction that stops at zero: children can report more than their parent
    /// after CTE and rounding effects, and a negative block count means nothing.
    pub fn saturating_sub(&self, other: &Buffers) -> Buffers {
        self.zip_with(other, u64::saturating_sub)
    }

    pub fn saturating_add(&self, other: &Buffers) -> Buffers {
        self.zip_with(other, u64::saturating_add)
    }
}

impl Add for Buffers {
    type Output = Buffers;
    fn add(self, other: Buffers) -> Buffers {
        self.saturating_add(&other)
    }
}

impl AddAssign for Buffers {
    fn add_assign(&mut self, other: Buffers) {
        *self = self.saturating_add(&other);
    }
}

/// Per-worker figures a parallel node reports under `"Workers"` (VERBOSE, or sorts/hashes).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Worker {
    #[serde(
        rename = "Worker Number",
        default,
        deserialize_with = "lenient_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub worker_number: Option<u32>,
    #[serde(
        rename = "Actual Startup Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_startup_time: Option<f64>,
    #[serde(
        rename = "Actual Total Time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_total_time: Option<f64>,
    #[serde(
        rename = "Actual Rows",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_rows: Option<f64>,
    #[serde(
        rename = "Actual Loops",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_loops: Option<f64>,
    #[serde(
        rename = "Sort Method",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sort_method: Option<String>,
    #[serde(
        rename = "Sort Space Used",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub sort_space_used_kb: Option<u64>,
    #[serde(
        rename = "Sort Space Type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sort_space_type: Option<String>,
    #[serde(flatten)]
    pub buffers: Buffers,
    /// Includes PG15's per-worker "JIT" group, which we do not interpret.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One row of the `"Triggers"` list (ANALYZE of INSERT/UPDATE/DELETE with triggers or FKs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Trigger {
    #[serde(
        rename = "Trigger Name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub trigger_name: Option<String>,
    #[serde(
        rename = "Constraint Name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub constraint_name: Option<String>,
    #[serde(rename = "Relation", default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    /// Milliseconds over all calls.
    #[serde(rename = "Time", default, skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<f64>,
    #[serde(
        rename = "Calls",
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub calls: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The statement-level `"JIT"` group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Jit {
    #[serde(
        rename = "Functions",
        default,
        deserialize_with = "lenient_u64_or_zero"
    )]
    pub functions: u64,
    /// "Inlining", "Optimization", "Expressions", "Deforming" flags.
    #[serde(
        rename = "Options",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, bool>,
    /// Only with ANALYZE (and TIMING on).
    #[serde(rename = "Timing", default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<JitTiming>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// JIT phase timings in milliseconds. PG17 turned "Generation" into an object with "Deform" and
/// "Total"; both shapes load, keeping the total.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JitTiming {
    #[serde(rename = "Generation", default, deserialize_with = "number_or_total")]
    pub generation: f64,
    #[serde(rename = "Inlining", default, deserialize_with = "number_or_total")]
    pub inlining: f64,
    #[serde(rename = "Optimization", default, deserialize_with = "number_or_total")]
    pub optimization: f64,
    #[serde(rename = "Emission", default, deserialize_with = "number_or_total")]
    pub emission: f64,
    #[serde(rename = "Total", default, deserialize_with = "number_or_total")]
    pub total: f64,
}

/// Float-to-integer `as` casts saturate (and map NaN to 0), which is the behaviour we want for
/// counters that some versions print with decimals.
fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.map(|value| value as u64))
}

fn lenient_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.map(|value| value as u32))
}

fn lenient_u64_or_zero<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    Ok(lenient_u64(deserializer)?.unwrap_or(0))
}

fn number_or_total<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrGroup {
        Number(f64),
        Group {
            #[serde(rename = "Total", default)]
            total: f64,
        },
        Null(()),
    }
    Ok(match NumberOrGroup::deserialize(deserializer)? {
        NumberOrGroup::Number(value) => value,
        NumberOrGroup::Group { total } => total,
        NumberOrGroup::Null(()) => 0.0,
    })
}

fn lenient_string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = Option::<BTreeMap<String, Value>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(raw
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            (key, text)
        })
        .collect())
}
