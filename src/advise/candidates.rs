//! Candidate btree indexes derived from a plan and its findings: which table, which columns in
//! which order and direction, and why; or, when nothing can be suggested, a reason a user can read.
//!
//! Column order follows the btree rule of thumb: equality columns first (in the order the plan
//! prints them, so the result is stable), then at most one range column, or the sort keys with their
//! direction when the index is meant to deliver rows in order.

use crate::diagnose::Finding;
use crate::pg::quote_ident;
use crate::plan::{Explain, PlanNode};

use super::conditions::{
    Predicate, PredicateKind, TableRef, Target, parse_condition, parse_sort_key,
};

/// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// Scans whose filter an index could replace.
const TABLE_SCANS: [&str; 4] = [
    "Seq Scan",
    "Bitmap Heap Scan",
    "Index Scan",
    "Index Only Scan",
];

/// One index column: the column and its direction, NULLS placement explicit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexColumn {
    pub name: String,
    pub desc: bool,
    pub nulls_first: bool,
}

impl IndexColumn {
    /// Ascending, NULLS LAST: PostgreSQL's default.
    pub fn asc(name: impl Into<String>) -> Self {
        IndexColumn {
            name: name.into(),
            desc: false,
            nulls_first: false,
        }
    }

    /// Descending, NULLS FIRST: PostgreSQL's default for DESC.
    pub fn desc(name: impl Into<String>) -> Self {
        IndexColumn {
            name: name.into(),
            desc: true,
            nulls_first: true,
        }
    }

    /// The column as written in CREATE INDEX: DESC and NULLS only where they differ from the default.
    fn ddl(&self) -> String {
        let mut out = quote_ident(&self.name);
        if self.desc {
            out.push_str(" DESC");
        }
        if self.nulls_first != self.desc {
            out.push_str(if self.nulls_first {
                " NULLS FIRST"
            } else {
                " NULLS LAST"
            });
        }
        out
    }
}

/// A btree index worth trying.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Present when the plan was explained with VERBOSE (or the caller knows it).
    pub schema: Option<String>,
    pub table: String,
    pub columns: Vec<IndexColumn>,
    /// Why: what it serves, in one line (several when candidates were merged).
    pub reason: String,
    /// Rule ids of the findings it answers.
    pub finding_rules: Vec<String>,
}

impl Candidate {
    /// `CREATE INDEX CONCURRENTLY IF NOT EXISTS "name" ON "schema"."table" ("col" DESC, ...)`.
    pub fn ddl(&self, index_name: &str) -> String {
        let table = match &self.schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&self.table)),
            None => quote_ident(&self.table),
        };
        let columns: Vec<String> = self.columns.iter().map(IndexColumn::ddl).collect();
        format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {table} ({})",
            quote_ident(index_name),
            columns.join(", ")
        )
    }

    /// `<table>_<cols>_idx`, truncated to 63 bytes (on a character boundary) keeping `_idx`.
    pub fn index_name(&self) -> String {
        let mut base = self.table.clone();
        for column in &self.columns {
            base.push('_');
            base.push_str(&column.name);
            if column.desc {
                base.push_str("_desc");
            }
        }
        let suffix = "_idx";
        let limit = MAX_IDENTIFIER_BYTES - suffix.len();
        if base.len() > limit {
            let mut cut = limit;
            while !base.is_char_boundary(cut) {
                cut -= 1;
            }
            base.truncate(cut);
        }
        base.push_str(suffix);
        base
    }

    /// True when `self`'s columns, with their directions, are a leading prefix of `other`'s on the
    /// same table: an index built for `other` serves `self` too.
    pub fn is_covered_by(&self, other: &Candidate) -> bool {
        self.schema == other.schema
            && self.table == other.table
            && self.columns.len() <= other.columns.len()
            && other.columns.starts_with(&self.columns)
    }
}

/// A plan node for which no index is suggested, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSuggestion {
    pub node_id: usize,
    pub reason: String,
}

/// Everything the advisor concluded for one plan (or, after [`merge`], several).
#[derive(Debug, Clone, Default, PartialEq)]
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

/// Join keys of `table` from the nearest join above `scan_id`, when the scan is on its inner side.
fn join_predicates(plan: &Indexed<'_>, scan_id: usize, table: TableRef<'_>) -> Vec<Predicate> {
    let mut child = scan_id;
    while let Some(parent) = plan.parents[child] {
        let node = plan.nodes[parent];
        if matches!(
            node.node_type.as_str(),
            "Hash Join" | "Merge Join" | "Nested Loop"
        ) {
            let inner = plan.children[parent].get(1) == Some(&child);
            if !inner && node.node_type != "Merge Join" {
                return Vec::new();
            }
            return [&node.hash_cond, &node.merge_cond, &node.join_filter]
                .into_iter()
                .flatten()
                .flat_map(|condition| parse_condition(condition, table))
                .filter(|p| p.join_key)
                .collect();
        }
        if !matches!(
            node.node_type.as_str(),
            "Hash" | "Sort" | "Materialize" | "Memoize" | "Gather" | "Gather Merge" | "Result"
        ) {
            return Vec::new();
        }
        child = parent;
    }
    Vec::new()
}

fn push_unique(columns: &mut Vec<IndexColumn>, column: IndexColumn) {
    if !columns.iter().any(|c| c.name == column.name) {
        columns.push(column);
    }
}

fn equality_columns(predicates: &[Predicate]) -> Vec<IndexColumn> {
    let mut columns = Vec::new();
    for p in predicates {
        if p.kind == PredicateKind::Equality
            && let Some(c) = p.target.column()
        {
            push_unique(&mut columns, IndexColumn::asc(c));
        }
    }
    columns
}

/// Why the first predicate no plain-column btree can serve is unusable, for the reason.
fn first_unusable(predicates: &[Predicate]) -> Option<String> {
    predicates.iter().find_map(|p| match &p.target {
        Target::Expression(e) => Some(format!("filter is not on a plain column: {e}")),
        Target::Column(_) if p.kind == PredicateKind::Other => Some(format!(
            "filter uses an operator a btree cannot serve: {}",
            p.text
        )),
        Target::Column(_) => None,
    })
}

/// Candidate indexes for one plan, from its findings.
pub fn candidates(explain: &Explain, findings: &[Finding]) -> Advice {
    let plan = Indexed::new(&explain.plan);
    let mut advice = Advice::default();
    let mut tables_with_findings = Vec::new();
    for finding in findings {
        if finding.node_id >= plan.nodes.len() {
            continue;
        }
        let result = match finding.rule.as_str() {
            "seq-scan" | "index-filter-waste" => filter_candidate(&plan, finding.node_id),
            "unindexed-sort" => sort_candidate(&plan, finding.node_id),
            _ => continue,
        };
        if let Some(scan) = scan_below(&plan, finding.node_id) {
            tables_with_findings.push(scan);
        }
        match result {
            Ok(mut candidate) => {
                candidate.finding_rules = vec![finding.rule.clone()];
                advice.candidates.push(candidate);
            }
            Err(reason) => advice.no_suggestions.push(NoSuggestion {
                node_id: finding.node_id,
                reason,
            }),
        }
    }
    for (id, node) in plan.nodes.iter().enumerate() {
        if TABLE_SCANS.contains(&node.node_type.as_str())
            && node.relation_name.is_some()
            && !tables_with_findings.contains(&id)
        {
            advice.no_suggestions.push(NoSuggestion {
                node_id: id,
                reason: format!(
                    "no finding on this table ({} on {})",
                    node.node_type,
                    node.relation_name.as_deref().unwrap_or_default()
                ),
            });
        }
    }
    advice.candidates = merge(advice.candidates);
    advice
}

/// The scan a finding is about: the node itself, or the table scan a sort reads from.
fn scan_below(plan: &Indexed<'_>, id: usize) -> Option<usize> {
    let mut current = id;
    loop {
        let node = plan.nodes[current];
        if TABLE_SCANS.contains(&node.node_type.as_str()) && node.relation_name.is_some() {
            return Some(current);
        }
        match plan.children[current].as_slice() {
            [only] => current = *only,
            _ => return None,
        }
    }
}

fn filter_candidate(plan: &Indexed<'_>, id: usize) -> Result<Candidate, String> {
    let node = plan.nodes[id];
    let table = table_ref(node).ok_or_else(|| format!("{} reads no table", node.node_type))?;
    let predicates = scan_predicates(node, table);
    let joins = if node.node_type == "Seq Scan" {
        join_predicates(plan, id, table)
    } else {
        Vec::new()
    };
    let mut columns = equality_columns(&predicates);
    for column in equality_columns(&joins) {
        push_unique(&mut columns, column);
    }
    let range = predicates.iter().find_map(|p| {
        (p.kind == PredicateKind::Range)
            .then(|| p.target.column())
            .flatten()
            .filter(|c| !columns.iter().any(|e| e.name == *c))
    });
    if let Some(range) = range {
        columns.push(IndexColumn::asc(range));
    }
    if columns.is_empty() {
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
    let mut parts = Vec::new();
    if let Some(filter) = node.filter.as_deref() {
        parts.push(format!("filter {filter}"));
    }
    if !joins.is_empty() {
        let keys: Vec<&str> = joins.iter().map(|p| p.text.as_str()).collect();
        parts.push(format!("join on {}", keys.join(" AND ")));
    }
    Ok(Candidate {
        schema: node.schema.clone(),
        table: table.relation.to_owned(),
        columns,
        reason: format!(
            "{} on {}: {}",
            node.node_type,
            table.relation,
            parts.join("; ")
        ),
        finding_rules: Vec::new(),
    })
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
                if columns.iter().any(|c| c.name == name) {
                    // An equality column is constant within the result: already in order.
                    continue;
                }
                columns.push(IndexColumn {
                    name,
                    desc: parsed.desc,
                    nulls_first: parsed.nulls_first,
                });
            }
            Some(Target::Expression(expression)) => {
                return Err(format!("sort key is not a plain column: {expression}"));
            }
            None => {
                return Err(format!(
                    "sort key {key} is not a column of {}",
                    table.relation
                ));
            }
        }
    }
    Ok(Candidate {
        schema: scan.schema.clone(),
        table: table.relation.to_owned(),
        columns,
        reason: format!(
            "Sort on {} by {}{}",
            table.relation,
            keys.join(", "),
            scan.filter
                .as_deref()
                .map(|f| format!(" after filter {f}"))
                .unwrap_or_default()
        ),
        finding_rules: Vec::new(),
    })
}

/// Merge candidates (across queries): one whose columns are a leading prefix of another's, in the
/// same directions, is dropped in favour of the longer one, which inherits its reasons and rules.
/// Order is otherwise kept.
pub fn merge(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut merged: Vec<Candidate> = Vec::new();
    for candidate in candidates {
        if let Some(existing) = merged.iter_mut().find(|m| candidate.is_covered_by(m)) {
            absorb(existing, &candidate);
            continue;
        }
        // The newcomer may cover some already kept.
        let mut keep = candidate;
        merged.retain(|m| {
            if m.is_covered_by(&keep) {
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

fn absorb(into: &mut Candidate, from: &Candidate) {
    for line in from.reason.lines() {
        if !into.reason.lines().any(|l| l == line) {
            into.reason.push('\n');
            into.reason.push_str(line);
        }
    }
    for rule in &from.finding_rules {
        if !into.finding_rules.contains(rule) {
            into.finding_rules.push(rule.clone());
        }
    }
}

#[cfg(test)]
mod tests;
