//! The names people recognise in text built from a plan. When a query reads one table twice
//! without giving the second reference an alias of its own (a correlated subquery over the table
//! the outer query reads: TPC-H's `l_quantity < (SELECT 0.2 * avg(l_quantity) FROM lineitem WHERE
//! l_partkey = p_partkey)`), EXPLAIN VERBOSE names it `lineitem_1`, a name that appears nowhere in
//! the user's SQL. Findings, advice and reasons show such a planner alias as the table's own name;
//! aliases the user wrote (`l1`, `l2`) are theirs and stay.

use super::model::PlanNode;

/// The planner's own aliases of one plan, each with the name to show instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeopleNames {
    /// `(planner alias, table or CTE name)`, longest alias first so `t_12` is replaced before
    /// `t_1` could match a prefix of it.
    renames: Vec<(String, String)>,
}

impl PeopleNames {
    /// The planner aliases of every node of `root`: an alias that is the node's relation (or CTE)
    /// name followed by `_` and digits.
    pub fn of(root: &PlanNode) -> Self {
        let mut renames: Vec<(String, String)> = Vec::new();
        for node in root.preorder() {
            let Some(alias) = node.alias.as_deref() else {
                continue;
            };
            let Some(name) = node.relation_name.as_deref().or(node.cte_name.as_deref()) else {
                continue;
            };
            if is_planner_alias(alias, name) && !renames.iter().any(|(a, _)| a == alias) {
                renames.push((alias.to_owned(), name.to_owned()));
            }
        }
        renames.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        PeopleNames { renames }
    }

    /// Whether the plan has any planner alias at all.
    pub fn is_empty(&self) -> bool {
        self.renames.is_empty()
    }

    /// `text` with each planner alias used as a qualifier (`lineitem_1.l_partkey`, or quoted
    /// `"Order Items_1"."id"`) or standing alone as a word written as its table's name. Text inside
    /// single-quoted literals is left alone.
    pub fn apply(&self, text: &str) -> String {
        if self.renames.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        let mut in_literal = false;
        while let Some(c) = rest.chars().next() {
            if c == '\'' {
                in_literal = !in_literal;
            }
            let at_word_start = !out.ends_with(|p: char| p.is_alphanumeric() || p == '_');
            if !in_literal
                && at_word_start
                && let Some((len, name)) = self.alias_at(rest)
            {
                out.push_str(&name);
                rest = &rest[len..];
                continue;
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }

    /// The planner alias `rest` starts with (bare and ending at a word boundary, or double-quoted),
    /// as its length and the name to write instead.
    fn alias_at(&self, rest: &str) -> Option<(usize, String)> {
        for (alias, name) in &self.renames {
            let quoted = format!("\"{}\"", alias.replace('"', "\"\""));
            if rest.starts_with(&quoted) {
                return Some((quoted.len(), format!("\"{}\"", name.replace('"', "\"\""))));
            }
            if let Some(after) = rest.strip_prefix(alias.as_str())
                && !after.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '"')
            {
                return Some((alias.len(), name.clone()));
            }
        }
        None
    }
}

/// `lineitem_1` for `lineitem`: the name ruleutils gives a second reference to a relation that
/// has no alias of its own.
fn is_planner_alias(alias: &str, name: &str) -> bool {
    alias
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::PeopleNames;
    use crate::plan::PlanNode;

    fn scan(relation: &str, alias: &str) -> PlanNode {
        PlanNode {
            node_type: "Seq Scan".into(),
            relation_name: Some(relation.into()),
            alias: Some(alias.into()),
            ..PlanNode::default()
        }
    }

    fn plan(scans: Vec<PlanNode>) -> PlanNode {
        PlanNode {
            node_type: "Nested Loop".into(),
            plans: scans.into(),
            ..PlanNode::default()
        }
    }

    #[test]
    fn planner_aliases_become_the_table_name_and_user_aliases_stay() {
        let names = PeopleNames::of(&plan(vec![
            scan("lineitem", "lineitem"),
            scan("lineitem", "lineitem_1"),
            scan("lineitem", "l2"),
            scan("part", "part_12"),
        ]));
        assert_eq!(
            names.apply(
                "(lineitem_1.l_partkey = part_12.p_partkey) AND (l2.l_suppkey <> 'lineitem_1.x')"
            ),
            "(lineitem.l_partkey = part.p_partkey) AND (l2.l_suppkey <> 'lineitem_1.x')"
        );
        // A longer name that merely starts with the alias is another name.
        assert_eq!(
            names.apply("lineitem_10.a, lineitem_1x, Seq Scan on lineitem lineitem_1"),
            "lineitem_10.a, lineitem_1x, Seq Scan on lineitem lineitem"
        );
    }

    #[test]
    fn quoted_planner_aliases_keep_their_quotes() {
        let names = PeopleNames::of(&plan(vec![scan("Order Items", "Order Items_1")]));
        assert_eq!(
            names.apply(r#"("Order Items_1".qty > 3)"#),
            r#"("Order Items".qty > 3)"#
        );
    }

    #[test]
    fn a_plan_without_planner_aliases_changes_nothing() {
        let names = PeopleNames::of(&plan(vec![scan("orders", "o"), scan("orders", "orders")]));
        assert!(names.is_empty());
        assert_eq!(names.apply("o.id = orders.id"), "o.id = orders.id");
    }
}
