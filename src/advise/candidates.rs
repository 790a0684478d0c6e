//! Candidate indexes derived from a plan, its findings and its joins (a large table read whole to
//! feed a join that keeps few of its rows gets its join key): which table, which columns (or
//! expressions) in which order and direction, which method, INCLUDE columns and partial predicate,
//! and why; or, when nothing can be suggested, a reason a user can read.
//!
//! Column order follows the btree rule of thumb: equality columns first (in the order the plan
//! prints them, so the result is stable), then at most one range column, or the sort keys with their
//! direction when the index is meant to deliver rows in order. The other kinds (partial, INCLUDE,
//! GIN) and the "why not" reasons live in `kinds`; plans without timings go through `cost`.

mod cost;
mod joins;
mod kinds;

pub use cost::candidates_by_cost;

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::diagnose::{Finding, RuleId};
use crate::pg::{quote_ident, quote_qualified};
use crate::plan::{Explain, NodeType, PeopleNames, PlanNode};
use crate::units::{fmt_count, fmt_pct};

use super::conditions::{
    PATTERN_OPCLASS, Predicate, PredicateKind, TableRef, Target, parse_condition, parse_sort_key,
};
use super::row_size::{OmittedInclude, forget_covered_omissions};

/// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// The access method of a candidate: btree serves equality, ranges and order; GIN serves
/// containment (jsonb `@>`, `?`) and, with `pg_trgm`, LIKE/ILIKE patterns with a leading wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexMethod {
    #[default]
    Btree,
    Gin,
}

impl IndexMethod {
    /// The name `pg_am` uses, as written after `USING`.
    pub fn as_str(self) -> &'static str {
        match self {
            IndexMethod::Btree => "btree",
            IndexMethod::Gin => "gin",
        }
    }
}

/// What an index column is built on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexKey {
    /// A plain column, by name (unquoted).
    Column(String),
    /// An expression over the table's columns, as SQL text whose identifiers are already quoted
    /// (`lower("email")`): the form [`crate::advise::normalize_expression`] produces, so it can be
    /// compared with what `pg_get_indexdef` prints for an existing index.
    Expression(String),
}

/// One index column: its key, operator class (when not the type's default) and direction, NULLS
/// placement explicit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IndexColumn {
    pub key: IndexKey,
    /// `gin_trgm_ops`, `jsonb_path_ops`, `text_pattern_ops`...; `None` for the default class.
    pub opclass: Option<String>,
    pub desc: bool,
    pub nulls_first: bool,
}

impl IndexColumn {
    /// Ascending, NULLS LAST: PostgreSQL's default.
    pub fn asc(name: impl Into<String>) -> Self {
        IndexColumn {
            key: IndexKey::Column(name.into()),
            opclass: None,
            desc: false,
            nulls_first: false,
        }
    }

    /// Descending, NULLS FIRST: PostgreSQL's default for DESC.
    pub fn desc(name: impl Into<String>) -> Self {
        IndexColumn {
            desc: true,
            nulls_first: true,
            ..IndexColumn::asc(name)
        }
    }

    /// An ascending expression key; `text` must already have quoted identifiers.
    pub fn expression(text: impl Into<String>) -> Self {
        IndexColumn {
            key: IndexKey::Expression(text.into()),
            ..IndexColumn::asc(String::new())
        }
    }

    /// The same column with a non-default operator class.
    pub fn with_opclass(mut self, opclass: impl Into<String>) -> Self {
        self.opclass = Some(opclass.into());
        self
    }

    /// The column name for a plain-column key.
    pub fn name(&self) -> Option<&str> {
        match &self.key {
            IndexKey::Column(name) => Some(name),
            IndexKey::Expression(_) => None,
        }
    }

    /// The column name or the expression text, for messages and index names.
    pub fn label(&self) -> &str {
        match &self.key {
            IndexKey::Column(name) | IndexKey::Expression(name) => name,
        }
    }

    /// Same key and operator class (direction aside).
    pub fn same_key(&self, other: &IndexColumn) -> bool {
        self.key == other.key && self.opclass == other.opclass
    }

    /// The column as written in CREATE INDEX: an expression in parentheses, the operator class,
    /// then DESC and NULLS only where they differ from the default.
    pub(crate) fn ddl(&self) -> String {
        let mut out = match &self.key {
            IndexKey::Column(name) => quote_ident(name),
            IndexKey::Expression(text) => format!("({text})"),
        };
        if let Some(opclass) = &self.opclass {
            out.push(' ');
            out.push_str(&quote_ident(opclass));
        }
        out.push_str(order_suffix(self.desc, self.nulls_first));
        out
    }
}

/// How an index key's order is written after its name: ` DESC` for descending, and the NULLS
/// order only where it differs from the direction's default (NULLS LAST ascending, FIRST
/// descending).
pub fn order_suffix(desc: bool, nulls_first: bool) -> &'static str {
    match (desc, nulls_first) {
        (false, false) => "",
        (false, true) => " NULLS FIRST",
        (true, true) => " DESC",
        (true, false) => " DESC NULLS LAST",
    }
}

/// An index worth trying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Present when the plan was explained with VERBOSE (or the caller knows it).
    pub schema: Option<String>,
    pub table: String,
    pub method: IndexMethod,
    pub columns: Vec<IndexColumn>,
    /// Non-key columns stored in the index (`INCLUDE`), so an index-only scan can answer the query.
    pub include: Vec<String>,
    /// Columns an index-only scan would need that INCLUDE leaves out because their size is not
    /// bounded or too large (see [`super::row_size`]), each with its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_omitted: Vec<OmittedInclude>,
    /// The WHERE of a partial index, as SQL text with quoted identifiers (normalized like
    /// [`IndexKey::Expression`]), e.g. `"status" = 'pending'::text`.
    pub predicate: Option<String>,
    /// An extension the operator class needs (`pg_trgm` for `gin_trgm_ops`).
    pub requires_extension: Option<String>,
    /// Why: what it serves, in one line (several when candidates were merged).
    pub reason: String,
    /// What it answers: the rules of the findings, or what advice saw itself.
    pub finding_rules: Vec<FindingRule>,
    /// The plan nodes (preorder ids, as findings number them) it was derived for, so a finding
    /// can name the index suggested for its node. Meaningful within one statement's plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<usize>,
}

/// Why advice proposed a candidate, as written in `finding_rules`: a diagnosis rule's finding,
/// or one of the reasons advice derives on its own, which no diagnosis rule reports and which
/// `--disable-rule` does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingRule {
    /// A finding of this rule on the node.
    Rule(RuleId),
    /// `sort-order`: the index would deliver a sort's order that the diagnosis did not flag (a
    /// cheap top-N sort over a flagged scan).
    SortOrder,
    /// `estimated-cost`: a plan without timings, where the scan or sort carries a large share of
    /// the estimated cost.
    EstimatedCost,
    /// `join-key`: a large table read whole to feed a join that keeps a small share of its rows;
    /// an index on the join key lets a nested loop fetch only the matching rows.
    JoinKey,
}

impl FindingRule {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingRule::Rule(id) => id.as_str(),
            FindingRule::SortOrder => "sort-order",
            FindingRule::EstimatedCost => "estimated-cost",
            FindingRule::JoinKey => "join-key",
        }
    }
}

impl fmt::Display for FindingRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for FindingRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sort-order" => Ok(FindingRule::SortOrder),
            "estimated-cost" => Ok(FindingRule::EstimatedCost),
            "join-key" => Ok(FindingRule::JoinKey),
            _ => s
                .parse()
                .map(FindingRule::Rule)
                .map_err(|_| format!("unknown finding rule `{s}`")),
        }
    }
}

impl Serialize for FindingRule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Written as a string: a rule's id, or one of advice's own reasons.
impl JsonSchema for FindingRule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FindingRule".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = RuleId::ALL
            .iter()
            .map(|&id| FindingRule::Rule(id))
            .chain([
                FindingRule::SortOrder,
                FindingRule::EstimatedCost,
                FindingRule::JoinKey,
            ])
            .map(FindingRule::as_str)
            .collect();
        json_schema!({
            "description": "Why advice proposed a candidate: a diagnosis rule's id, or one of \
                advice's own reasons (`sort-order`, `estimated-cost`, `join-key`).",
            "type": "string",
            "enum": names,
        })
    }
}

impl<'de> Deserialize<'de> for FindingRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Tests and reports compare against the spelling users see.
impl PartialEq<&str> for FindingRule {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Candidate {
    /// A plain btree candidate with no INCLUDE, predicate, reason or rules yet.
    pub fn btree(
        schema: Option<String>,
        table: impl Into<String>,
        columns: Vec<IndexColumn>,
    ) -> Self {
        Candidate {
            schema,
            table: table.into(),
            method: IndexMethod::Btree,
            columns,
            include: Vec::new(),
            include_omitted: Vec::new(),
            predicate: None,
            requires_extension: None,
            reason: String::new(),
            finding_rules: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// `CREATE INDEX CONCURRENTLY IF NOT EXISTS "name" ON "schema"."table" [USING gin]
    /// ("col" DESC, (expr), "c" "opclass") [INCLUDE ("x")] [WHERE predicate]`.
    pub fn ddl(&self, index_name: &str) -> String {
        let table = quote_qualified(self.schema.as_deref(), &self.table);
        let columns: Vec<String> = self.columns.iter().map(IndexColumn::ddl).collect();
        let mut out = format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {table}",
            quote_ident(index_name)
        );
        if self.method != IndexMethod::Btree {
            out.push_str(" USING ");
            out.push_str(self.method.as_str());
        }
        out.push_str(&format!(" ({})", columns.join(", ")));
        if !self.include.is_empty() {
            let include: Vec<String> = self.include.iter().map(|c| quote_ident(c)).collect();
            out.push_str(&format!(" INCLUDE ({})", include.join(", ")));
        }
        if let Some(predicate) = &self.predicate {
            out.push_str(" WHERE ");
            out.push_str(predicate);
        }
        out
    }

    /// `<table>_<cols>[_incl_<cols>][_gin][_where_<words>]_idx`. Over 63 bytes it is cut (on a
    /// character boundary) and a hash of the full name is appended, so two candidates that differ
    /// only past the cut (or only in their predicate) never share a name, which `IF NOT EXISTS`
    /// would silently turn into "nothing created".
    pub fn index_name(&self) -> String {
        let mut base = self.table.clone();
        for column in &self.columns {
            base.push('_');
            match &column.key {
                IndexKey::Column(name) => base.push_str(name),
                IndexKey::Expression(text) => base.push_str(&name_words(text)),
            }
            if column.desc {
                base.push_str("_desc");
            }
            if let Some(opclass) = &column.opclass {
                base.push('_');
                base.push_str(opclass.trim_end_matches("_ops"));
            }
        }
        if !self.include.is_empty() {
            base.push_str("_incl");
            for column in &self.include {
                base.push('_');
                base.push_str(column);
            }
        }
        if self.method != IndexMethod::Btree {
            base.push('_');
            base.push_str(self.method.as_str());
        }
        if let Some(predicate) = &self.predicate {
            base.push_str("_where_");
            base.push_str(&name_words(predicate));
        }
        let suffix = "_idx";
        let limit = MAX_IDENTIFIER_BYTES - suffix.len();
        if base.len() > limit {
            let hash = format!("_{:08x}", fnv1a(&base) as u32);
            let mut cut = limit - hash.len();
            while !base.is_char_boundary(cut) {
                cut -= 1;
            }
            base.truncate(cut);
            base.push_str(&hash);
        }
        base.push_str(suffix);
        base
    }

    /// True when an index built for `other` serves everything `self` was suggested for: same table,
    /// method and predicate; for btree, `self`'s key columns (with opclass and direction) are a
    /// leading prefix of `other`'s and `self`'s INCLUDE columns are somewhere in `other`; for GIN,
    /// every key of `self` is a key of `other`.
    pub fn is_covered_by(&self, other: &Candidate) -> bool {
        self.same_target(other)
            && self.keys_within(other)
            && self
                .include
                .iter()
                .all(|c| other.include.contains(c) || other.key_names().any(|k| k == c))
    }

    /// `CREATE EXTENSION IF NOT EXISTS "pg_trgm"` when the operator class needs one: run it before
    /// [`Candidate::ddl`] (it needs the CREATE privilege on the database; pg_trgm is trusted).
    pub fn extension_ddl(&self) -> Option<String> {
        self.requires_extension
            .as_deref()
            .map(crate::pg::admin::create_extension_sql)
    }

    /// Whether a GIN or partial index can be tried hypothetically: HypoPG builds btree indexes,
    /// including expression, partial and INCLUDE ones, but not GIN.
    pub fn hypopg_supported(&self) -> bool {
        self.method == IndexMethod::Btree
    }

    fn same_target(&self, other: &Candidate) -> bool {
        self.schema == other.schema
            && self.table == other.table
            && self.method == other.method
            && self.predicate == other.predicate
    }

    fn keys_within(&self, other: &Candidate) -> bool {
        match self.method {
            IndexMethod::Btree => {
                self.columns.len() <= other.columns.len()
                    && other.columns.starts_with(&self.columns)
            }
            IndexMethod::Gin => self
                .columns
                .iter()
                .all(|c| other.columns.iter().any(|o| o.same_key(c))),
        }
    }

    fn key_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().filter_map(IndexColumn::name)
    }
}

/// Identifier-ish words of an expression or predicate for an index name: `lower("email")` gives
/// `lower_email`, `"status" = 'pending'::text` gives `status_pending_text`.
fn name_words(text: &str) -> String {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    words.join("_")
}

/// 64-bit FNV-1a: a stable hash (unlike `DefaultHasher`, fixed across Rust versions).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A plan node for which no index is suggested, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoSuggestion {
    pub node_id: usize,
    pub reason: String,
}

/// Everything the advisor concluded for one plan (or, after [`merge`], several).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    pub candidates: Vec<Candidate>,
    pub no_suggestions: Vec<NoSuggestion>,
}

/// A node in preorder with its parent, so findings' `node_id`s index it directly.
struct Indexed<'a> {
    nodes: Vec<&'a PlanNode>,
    parents: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
}

impl<'a> Indexed<'a> {
    fn new(root: &'a PlanNode) -> Self {
        let mut nodes = Vec::new();
        let mut parents = Vec::new();
        let mut pending = vec![(root, None)];
        while let Some((node, parent)) = pending.pop() {
            let id = nodes.len();
            nodes.push(node);
            parents.push(parent);
            pending.extend(node.plans.iter().rev().map(|child| (child, Some(id))));
        }
        let mut children = vec![Vec::new(); nodes.len()];
        for (id, parent) in parents.iter().enumerate() {
            if let Some(p) = parent {
                children[*p].push(id);
            }
        }
        Indexed {
            nodes,
            parents,
            children,
        }
    }
}

fn table_ref(node: &PlanNode) -> Option<TableRef<'_>> {
    Some(TableRef {
        relation: node.relation_name.as_deref()?,
        alias: node.alias.as_deref(),
    })
}

/// The predicates of a scan node: index and recheck conditions, then the filter.
fn scan_predicates(node: &PlanNode, table: TableRef<'_>) -> Vec<Predicate> {
    [&node.index_cond, &node.recheck_cond, &node.filter]
        .into_iter()
        .flatten()
        .flat_map(|condition| parse_condition(condition, table))
        .collect()
}

/// A join whose output can come in its outer side's order: a nested loop does; a hash join is
/// what the planner picks over an unordered outer scan, and becomes a nested loop once an index
/// delivers the outer rows in order (verification decides whether it does).
pub(crate) fn keeps_outer_order(node_type: &NodeType) -> bool {
    matches!(node_type, NodeType::NestedLoop | NodeType::HashJoin)
}

fn is_join(node_type: &NodeType) -> bool {
    matches!(
        node_type,
        NodeType::HashJoin | NodeType::MergeJoin | NodeType::NestedLoop
    )
}

/// The joins above a scan whose conditions join `table` to another relation, nearest first.
struct JoinKeys {
    /// The join node.
    join_id: usize,
    /// This table's equality keys in the join's condition (`Hash Cond`, `Merge Cond`,
    /// `Join Filter`).
    keys: Vec<Predicate>,
    /// Whether a parameterised nested loop could fetch this table's rows by these keys: the other
    /// side of the join yields fewer rows (so fewer lookups) than the scan keeps (or the plan has
    /// no row counts).
    nested_loop: bool,
}

/// Rows a node produced over all its loops (EXPLAIN ANALYZE), else the planner's estimate.
fn rows_out(node: &PlanNode) -> Option<f64> {
    match node.actual_rows {
        Some(rows) => Some(rows * node.actual_loops.unwrap_or(1.0).max(1.0)),
        None => node.plan_rows,
    }
}

/// The join keys of `table` in every join above `scan_id` reached through joins and nodes that
/// pass rows through: on either side of a hash or merge join, on the inner side of a nested loop
/// (an index on the outer side cannot serve the loop).
fn join_keys(plan: &Indexed<'_>, scan_id: usize, table: TableRef<'_>) -> Vec<JoinKeys> {
    let kept = rows_out(plan.nodes[scan_id]);
    let mut found = Vec::new();
    let mut child = scan_id;
    while let Some(parent) = plan.parents[child] {
        let node = plan.nodes[parent];
        if is_join(&node.node_type) {
            let position = plan.children[parent].iter().position(|c| *c == child);
            let inner = position == Some(1);
            if inner || node.node_type != NodeType::NestedLoop {
                let keys: Vec<Predicate> = [&node.hash_cond, &node.merge_cond, &node.join_filter]
                    .into_iter()
                    .flatten()
                    .flat_map(|condition| parse_condition(condition, table))
                    .filter(|p| {
                        p.join_key && p.kind == PredicateKind::Equality && p.why_not.is_none()
                    })
                    .collect();
                if !keys.is_empty() {
                    let other = plan.children[parent]
                        .iter()
                        .find(|c| **c != child)
                        .and_then(|c| rows_out(plan.nodes[*c]));
                    let nested_loop = match (other, kept) {
                        (Some(other), Some(kept)) => other < kept,
                        _ => true,
                    };
                    found.push(JoinKeys {
                        join_id: parent,
                        keys,
                        nested_loop,
                    });
                }
            }
        } else if !node.node_type.passes_rows_through() {
            break;
        }
        child = parent;
    }
    found
}

fn push_unique(columns: &mut Vec<IndexColumn>, column: IndexColumn) {
    if !columns.iter().any(|c| c.key == column.key) {
        columns.push(column);
    }
}

/// The key a predicate gives an index column, when a btree can use it.
fn btree_key(p: &Predicate) -> Option<IndexColumn> {
    if p.why_not.is_some() {
        return None;
    }
    let column = match &p.target {
        Target::Column(c) => IndexColumn::asc(c.as_str()),
        Target::Expression(e) => IndexColumn::expression(e.as_str()),
    };
    Some(if p.prefix_pattern {
        column.with_opclass(PATTERN_OPCLASS)
    } else {
        column
    })
}

fn equality_columns<'p>(predicates: impl IntoIterator<Item = &'p Predicate>) -> Vec<IndexColumn> {
    let mut columns = Vec::new();
    for p in predicates {
        if p.kind == PredicateKind::Equality
            && let Some(c) = btree_key(p)
        {
            push_unique(&mut columns, c);
        }
    }
    columns
}

/// Whether the index keys check `p` themselves. When some predicate is not (a second range, a
/// pattern, an expression no index holds), every row still needs a heap visit to be filtered, so
/// INCLUDE columns would buy no index-only scan.
fn is_key(p: &Predicate, keys: &[IndexColumn]) -> bool {
    let key = match &p.target {
        Target::Column(c) => IndexKey::Column(c.clone()),
        Target::Expression(e) => IndexKey::Expression(e.clone()),
    };
    p.why_not.is_none()
        && matches!(p.kind, PredicateKind::Equality | PredicateKind::Range)
        && keys.iter().any(|k| k.key == key)
}

/// Why the first predicate no index can serve is unusable, for the reason.
fn first_unusable(predicates: &[Predicate]) -> Option<String> {
    predicates.iter().find_map(|p| p.why_not.clone())
}

/// Candidate indexes for one plan: from its findings, then from the scans no finding points at
/// that feed a join keeping a small share of their rows ([`FindingRule::JoinKey`]).
pub fn candidates(explain: &Explain, findings: &[Finding]) -> Advice {
    let plan = Indexed::new(&explain.plan);
    let mut advice = Advice::default();
    let mut tables_with_findings = Vec::new();
    for finding in findings {
        if finding.node_id >= plan.nodes.len() {
            continue;
        }
        let result = match finding.rule {
            RuleId::SeqScan
            | RuleId::IndexFilterWaste
            | RuleId::JoinFullScan
            | RuleId::UnindexedForeignKey
            | RuleId::CorrelatedSubplan => filter_candidates(&plan, finding.node_id),
            RuleId::UnindexedSort => sort_candidate(&plan, finding.node_id).map(|c| vec![c]),
            _ => continue,
        };
        if let Some(scan) = scan_below(&plan, finding.node_id) {
            tables_with_findings.push(scan);
        }
        advice.record(finding.node_id, FindingRule::Rule(finding.rule), result);
    }
    let mut join_reasons = Vec::new();
    for id in 0..plan.nodes.len() {
        if tables_with_findings.contains(&id) {
            continue;
        }
        // No finding points here, but a large table is read whole to feed a join whose other side
        // is small enough to probe it by its join key, or scanned again for each outer row by a
        // correlated SubPlan.
        match joins::assess(&plan, id) {
            Some(Ok(_)) => {}
            Some(Err(reason)) => {
                join_reasons.push((id, reason));
                continue;
            }
            None if joins::repeated_correlated_scan(&plan, id) => {}
            None => continue,
        }
        tables_with_findings.push(id);
        advice.record(id, FindingRule::JoinKey, filter_candidates(&plan, id));
    }
    for (id, node) in plan.nodes.iter().enumerate() {
        if node.node_type.is_table_scan()
            && node.relation_name.is_some()
            && !tables_with_findings.contains(&id)
        {
            let reason = match join_reasons.iter().position(|(node, _)| *node == id) {
                Some(at) => join_reasons.swap_remove(at).1,
                None => kinds::unflagged_scan_reason(&plan, id),
            };
            advice.no_suggestions.push(NoSuggestion {
                node_id: id,
                reason,
            });
        }
    }
    advice.candidates = merge(advice.candidates);
    advice.for_people(explain);
    advice
}

impl Advice {
    /// Reasons name tables as people wrote them: the planner's own aliases (`lineitem_1`) become
    /// the table's name ([`PeopleNames`]).
    fn for_people(&mut self, explain: &Explain) {
        let names = PeopleNames::of(&explain.plan);
        if names.is_empty() {
            return;
        }
        for candidate in &mut self.candidates {
            candidate.reason = names.apply(&candidate.reason);
        }
        for no in &mut self.no_suggestions {
            no.reason = names.apply(&no.reason);
        }
    }

    fn record(
        &mut self,
        node_id: usize,
        rule: FindingRule,
        result: Result<Vec<Candidate>, String>,
    ) {
        match result {
            Ok(found) => {
                for mut candidate in found {
                    candidate.finding_rules = vec![rule];
                    candidate.nodes = vec![node_id];
                    self.candidates.push(candidate);
                }
            }
            Err(reason) => self.no_suggestions.push(NoSuggestion { node_id, reason }),
        }
    }
}

/// The scan a finding is about: the node itself, or the table scan a sort reads from (straight,
/// or as the outer side of joins that keep its order, [`keeps_outer_order`]).
fn scan_below(plan: &Indexed<'_>, id: usize) -> Option<usize> {
    let mut current = id;
    loop {
        let node = plan.nodes[current];
        if node.node_type.is_table_scan() && node.relation_name.is_some() {
            return Some(current);
        }
        match plan.children[current].as_slice() {
            [only] => current = *only,
            // A nested loop keeps its outer side's order; a hash join fed by an index in order
            // becomes one (verification decides).
            [outer, _] if keeps_outer_order(&node.node_type) => current = *outer,
            _ => return None,
        }
    }
}

/// The indexes that could replace a scan's filter or let a join fetch only its matching rows: a
/// btree on the equality keys then one range (partial when a literal filter is highly selective;
/// INCLUDE when an index-only scan comes within reach); for each join above the scan, the same
/// keys followed by the join's keys where a parameterised nested loop could use them (the join
/// keys alone when the scan has no filter); and a GIN per column filtered by containment or a
/// pattern. Verification decides which of them changes the plan and pays.
fn filter_candidates(plan: &Indexed<'_>, id: usize) -> Result<Vec<Candidate>, String> {
    let node = plan.nodes[id];
    let table = table_ref(node).ok_or_else(|| format!("{} reads no table", node.node_type))?;
    if let Some(reason) = kinds::tiny_table(node) {
        return Err(reason);
    }
    let joins = if node.node_type == NodeType::SeqScan {
        join_keys(plan, id, table)
    } else {
        Vec::new()
    };
    let low = kinds::low_selectivity(node);
    if let Some(reason) = &low
        && joins.is_empty()
    {
        return Err(reason.clone());
    }
    // A filter keeping most of the rows makes a poor leading key: the join keys stand alone.
    let predicates = if low.is_some() {
        Vec::new()
    } else {
        scan_predicates(node, table)
    };
    let partial = kinds::partial_predicates(node, &predicates);
    let filter_keys = equality_columns(
        predicates
            .iter()
            .filter(|p| !partial.iter().any(|q| q == p)),
    );
    let range = |columns: &[IndexColumn]| {
        predicates
            .iter()
            .filter(|p| p.kind == PredicateKind::Range)
            .filter_map(btree_key)
            .find(|c| !columns.iter().any(|e| e.key == c.key))
    };
    let predicate = (!partial.is_empty()).then(|| {
        partial
            .iter()
            .map(|p| p.sql.as_str())
            .collect::<Vec<_>>()
            .join(" AND ")
    });
    // The ways in: the filter alone, then each join whose keys a nested loop could use (with no
    // filter to start from and no such join, every join: verification has the last word).
    let filtered = !filter_keys.is_empty() || range(&filter_keys).is_some() || predicate.is_some();
    let mut ways: Vec<(Vec<IndexColumn>, Option<&JoinKeys>)> = Vec::new();
    if filtered {
        ways.push((filter_keys.clone(), None));
    }
    // When probing by the join key alone fetches a small share of the table, the index keeps to
    // the join columns (the filter is checked on the rows fetched): narrow, and shared by every
    // statement joining on them.
    let probe = joins::assess(plan, id).and_then(Result::ok);
    let alone_at = probe.filter(|p| filtered && p.key_alone());
    let any_nested_loop = joins.iter().any(|j| j.nested_loop);
    for join in &joins {
        if (filtered || any_nested_loop) && !join.nested_loop {
            continue;
        }
        let mut columns = if alone_at.is_some_and(|p| p.join == join.join_id) {
            Vec::new()
        } else {
            filter_keys.clone()
        };
        for column in equality_columns(&join.keys) {
            push_unique(&mut columns, column);
        }
        ways.push((columns, Some(join)));
    }
    let gin = kinds::gin_candidates(node, table, &predicates);
    let mut found = Vec::new();
    for (mut columns, join) in ways {
        let alone = match (alone_at, join) {
            (Some(probe), Some(join)) if probe.join == join.join_id => Some(probe),
            _ => None,
        };
        if alone.is_none()
            && let Some(range) = range(&columns)
        {
            columns.push(range);
        }
        if columns.is_empty()
            && let Some(first) = partial.first()
        {
            columns.push(kinds::partial_key(plan, id, table, first));
        }
        if columns.is_empty() {
            continue;
        }
        let mut parts = Vec::new();
        if let Some(filter) = node.filter.as_deref().filter(|_| low.is_none()) {
            parts.push(format!("filter {filter}"));
        }
        if let Some(join) = join {
            let keys: Vec<&str> = join.keys.iter().map(|p| p.text.as_str()).collect();
            parts.push(format!(
                "join on {} ({})",
                keys.join(" AND "),
                plan.nodes[join.join_id].node_type
            ));
        }
        if let Some(reason) = &low {
            parts.push(format!("its filter alone would not pay ({reason})"));
        }
        if let Some(probe) = alone {
            parts.push(format!(
                "the join key alone fetches about {} of its {} rows; the filter is checked on those",
                fmt_count(probe.fetched),
                fmt_count(probe.table_rows)
            ));
        }
        let predicate = if alone.is_some() {
            None
        } else {
            predicate.clone()
        };
        if let Some(kept) = kinds::kept_share(node)
            && predicate.is_some()
        {
            parts.push(format!(
                "partial: the filter keeps {} of the rows read",
                fmt_pct(kept)
            ));
        }
        let unserved = low.is_some()
            || predicates
                .iter()
                .any(|p| !partial.contains(&p) && !is_key(p, &columns));
        let include = if unserved {
            Vec::new()
        } else {
            kinds::include_columns(plan, id, table, &columns)
        };
        found.push(Candidate {
            include,
            predicate,
            reason: format!(
                "{} on {}: {}",
                node.node_type,
                table.relation,
                parts.join("; ")
            ),
            ..Candidate::btree(node.schema.clone(), table.relation, columns)
        });
    }
    if found.is_empty() && gin.is_empty() {
        return Err(match first_unusable(&predicates) {
            Some(reason) => reason,
            None if predicates.is_empty() && joins.is_empty() => format!(
                "{} on {} has no filter or join key an index could serve",
                node.node_type, table.relation
            ),
            None => format!(
                "no usable equality or range predicate on {}",
                table.relation
            ),
        });
    }
    found.extend(gin);
    Ok(found)
}

fn sort_candidate(plan: &Indexed<'_>, sort_id: usize) -> Result<Candidate, String> {
    let sort = plan.nodes[sort_id];
    let scan_id = scan_below(plan, sort_id)
        .ok_or_else(|| "the sort does not read straight from a table scan".to_owned())?;
    let scan = plan.nodes[scan_id];
    let table = table_ref(scan).ok_or_else(|| "the sort's input reads no table".to_owned())?;
    let predicates = scan_predicates(scan, table);
    let mut columns = equality_columns(&predicates);
    let keys = sort.sort_key.clone().unwrap_or_default();
    if keys.is_empty() {
        return Err("the sort has no sort key in the plan".to_owned());
    }
    for key in &keys {
        let parsed = parse_sort_key(key, table);
        match parsed.target {
            Some(Target::Column(name)) => {
                if columns.iter().any(|c| c.name() == Some(name.as_str())) {
                    // An equality column is constant within the result: already in order.
                    continue;
                }
                columns.push(IndexColumn {
                    desc: parsed.desc,
                    nulls_first: parsed.nulls_first,
                    ..IndexColumn::asc(name)
                });
            }
            Some(Target::Expression(expression)) => {
                if let Some(why) = parsed.why_not {
                    return Err(why);
                }
                let key = IndexKey::Expression(expression);
                if columns.iter().any(|c| c.key == key) {
                    continue;
                }
                columns.push(IndexColumn {
                    key,
                    desc: parsed.desc,
                    nulls_first: parsed.nulls_first,
                    ..IndexColumn::asc(String::new())
                });
            }
            None => {
                return Err(format!(
                    "sort key {key} is not a column of {}",
                    table.relation
                ));
            }
        }
    }
    let unserved = predicates.iter().any(|p| !is_key(p, &columns));
    let include = if unserved {
        Vec::new()
    } else {
        kinds::include_columns(plan, scan_id, table, &columns)
    };
    Ok(Candidate {
        include,
        reason: format!(
            "Sort on {} by {}{}",
            table.relation,
            keys.join(", "),
            scan.filter
                .as_deref()
                .map(|f| format!(" after filter {f}"))
                .unwrap_or_default()
        ),
        ..Candidate::btree(scan.schema.clone(), table.relation, columns)
    })
}

/// Merge candidates (across queries), so one index serves several: a candidate whose key columns
/// are a leading prefix of another's (same table, method, predicate and directions; any subset for
/// GIN) is dropped in favour of the longer one, which inherits its reasons, rules and INCLUDE
/// columns (and the columns left out of INCLUDE, unless the longer one has them); equal keys with different INCLUDE lists become one with the union. Order is otherwise
/// kept.
pub fn merge(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut merged: Vec<Candidate> = Vec::new();
    for candidate in candidates {
        if let Some(existing) = merged.iter_mut().find(|m| candidate.merges_into(m)) {
            absorb(existing, &candidate);
            continue;
        }
        // The newcomer may serve some already kept.
        let mut keep = candidate;
        merged.retain(|m| {
            if m.merges_into(&keep) {
                absorb(&mut keep, m);
                false
            } else {
                true
            }
        });
        merged.push(keep);
    }
    merged
}

impl Candidate {
    fn merges_into(&self, other: &Candidate) -> bool {
        self.same_target(other) && self.keys_within(other)
    }
}

fn absorb(into: &mut Candidate, from: &Candidate) {
    for column in &from.include {
        if !into.include.contains(column) && !into.key_names().any(|k| k == column) {
            into.include.push(column.clone());
        }
    }
    for omitted in &from.include_omitted {
        if !into
            .include_omitted
            .iter()
            .any(|o| o.column == omitted.column)
        {
            into.include_omitted.push(omitted.clone());
        }
    }
    forget_covered_omissions(into);
    if into.requires_extension.is_none() {
        into.requires_extension.clone_from(&from.requires_extension);
    }
    for line in from.reason.lines() {
        if !into.reason.lines().any(|l| l == line) {
            into.reason.push('\n');
            into.reason.push_str(line);
        }
    }
    for rule in &from.finding_rules {
        if !into.finding_rules.contains(rule) {
            into.finding_rules.push(*rule);
        }
    }
    for node in &from.nodes {
        if !into.nodes.contains(node) {
            into.nodes.push(*node);
        }
    }
}

#[cfg(test)]
mod tests;
