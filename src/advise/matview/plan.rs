//! The plan side of a view suggestion: which aggregate node a finding is about, the tables below
//! it, and the derived table (Subquery Scan alias) or CTE (InitPlan name) around it.

use crate::plan::{NodeType, PlanNode};

/// The Aggregate directly above a scan (through sorts, hashes, gathers and partial aggregates, not
/// through a join), whose whole input the scan is.
pub(super) fn aggregate_over_scan(plan: &PlanIndex<'_>, scan: usize) -> Option<usize> {
    let mut current = scan;
    while let Some(parent) = plan.parents[current] {
        let node = plan.nodes[parent];
        match node.node_type {
            NodeType::Aggregate if node.partial_mode.as_deref() != Some("Partial") => {
                return Some(parent);
            }
            NodeType::Aggregate
            | NodeType::Sort
            | NodeType::IncrementalSort
            | NodeType::Gather
            | NodeType::GatherMerge
            | NodeType::Result
            | NodeType::Materialize => current = parent,
            _ => return None,
        }
    }
    None
}

/// The Aggregate over a join that scan `scan` feeds: up through sorts, hashes, gathers, partial
/// aggregates and at least one join, to the first whole aggregate. The shape of an aggregate over a
/// join (`FROM products p JOIN reviews r ... GROUP BY p.id` with `avg(r.rating)`).
pub(super) fn aggregate_over_join(plan: &PlanIndex<'_>, scan: usize) -> Option<usize> {
    let mut current = scan;
    let mut joined = false;
    while let Some(parent) = plan.parents[current] {
        let node = plan.nodes[parent];
        match node.node_type {
            NodeType::Aggregate if node.partial_mode.as_deref() != Some("Partial") => {
                return joined.then_some(parent);
            }
            NodeType::HashJoin | NodeType::MergeJoin | NodeType::NestedLoop => {
                joined = true;
                current = parent;
            }
            NodeType::Aggregate => current = parent,
            ref other if other.passes_rows_through() => current = parent,
            _ => return None,
        }
    }
    None
}

/// The plan in preorder (the order of findings' `node_id`s) with parents.
pub(super) struct PlanIndex<'a> {
    pub(super) nodes: Vec<&'a PlanNode>,
    pub(super) parents: Vec<Option<usize>>,
}

impl<'a> PlanIndex<'a> {
    pub(super) fn new(root: &'a PlanNode) -> Self {
        let mut nodes = Vec::new();
        let mut parents = Vec::new();
        let mut pending = vec![(root, None)];
        while let Some((node, parent)) = pending.pop() {
            let id = nodes.len();
            nodes.push(node);
            parents.push(parent);
            pending.extend(node.plans.iter().rev().map(|child| (child, Some(id))));
        }
        PlanIndex { nodes, parents }
    }

    pub(super) fn descendants(&self, id: usize) -> Vec<usize> {
        (id + 1..self.nodes.len())
            .filter(|&d| {
                let mut current = self.parents[d];
                while let Some(p) = current {
                    if p == id {
                        return true;
                    }
                    current = self.parents[p];
                }
                false
            })
            .collect()
    }
}

/// Where in the plan an aggregate sits: the tables below it, and the derived table or CTE around it.
#[derive(Debug, Default)]
pub(super) struct PlanContext {
    /// (schema, relation) of every table scanned below the aggregate.
    pub(super) relations: Vec<(Option<String>, String)>,
    /// Alias of the nearest Subquery Scan above (a derived table, or an inlined CTE reference).
    pub(super) subquery_alias: Option<String>,
    /// Name of the CTE whose InitPlan holds the aggregate.
    pub(super) cte: Option<String>,
    pub(super) group_key: Vec<String>,
    /// The aggregate's output (VERBOSE), whose columns the planner qualifies.
    pub(super) output: Vec<String>,
}

/// What surrounds aggregate `id`: the tables below it and the nearest derived table or CTE above
/// (a CTE that PostgreSQL inlines shows as a Subquery Scan under its reference's alias).
pub(super) fn plan_context(plan: &PlanIndex<'_>, id: usize) -> PlanContext {
    let mut context = PlanContext {
        group_key: plan.nodes[id].group_key.clone().unwrap_or_default(),
        output: plan.nodes[id].output.clone().unwrap_or_default(),
        ..PlanContext::default()
    };
    for d in plan.descendants(id) {
        let node = plan.nodes[d];
        if let Some(relation) = &node.relation_name {
            let entry = (node.schema.clone(), relation.clone());
            if !context.relations.contains(&entry) {
                context.relations.push(entry);
            }
        }
    }
    let mut current = id;
    loop {
        let node = plan.nodes[current];
        if node.parent_relationship.as_deref() == Some("InitPlan")
            && let Some(name) = node
                .subplan_name
                .as_deref()
                .and_then(|s| s.strip_prefix("CTE "))
        {
            context.cte = Some(name.to_owned());
            break;
        }
        if current != id && node.node_type == NodeType::SubqueryScan {
            context.subquery_alias = node.alias.clone();
            break;
        }
        match plan.parents[current] {
            Some(parent) => current = parent,
            None => break,
        }
    }
    context
}
