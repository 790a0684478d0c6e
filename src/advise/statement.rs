//! Index advice for one statement: the candidates of [`super::candidates()`] for its findings,
//! plus the sort keys of a sort fed by a flagged scan (straight, or through the outer side of a
//! join that keeps its order). One function, so every caller
//! (the suggest pipeline, and any command that names the index for a finding) gets the same answer.

use super::candidates::{
    Advice, FindingRule, candidates, candidates_by_cost, keeps_outer_order, merge,
};
use super::conditions::{TableRef, parse_sort_key};
use crate::diagnose::{Finding, RuleId};
use crate::plan::{Explain, NodeType};

/// The index candidates for a statement's analysed plan and its findings.
pub fn index_candidates(explain: &Explain, findings: &[Finding]) -> Advice {
    let with_sorts = with_sort_findings(explain, findings);
    let mut advice = candidates(explain, &with_sorts);
    if with_sorts.len() > findings.len() {
        relabel_sort_rules(&mut advice, findings);
    }
    advice
}

/// The index candidates for a plan without timings (plain EXPLAIN, a generic plan, a statement
/// that ran past its timeout): the scans and sorts carrying at least `min_cost_share` of the
/// estimated cost ([`candidates_by_cost`]), and the candidates of the findings the rules that judge
/// estimates made (`correlated-subplan`: a table read once per outer row, whose share of the cost
/// the plan's nodes do not show).
pub fn estimated_candidates(
    explain: &Explain,
    findings: &[Finding],
    min_cost_share: f64,
) -> Advice {
    let mut advice = candidates_by_cost(explain, min_cost_share);
    if findings.is_empty() {
        return advice;
    }
    let flagged: Vec<usize> = findings.iter().map(|f| f.node_id).collect();
    let from_findings = index_candidates(explain, findings);
    advice
        .no_suggestions
        .retain(|n| !flagged.contains(&n.node_id));
    advice.no_suggestions.extend(
        from_findings
            .no_suggestions
            .into_iter()
            .filter(|n| flagged.contains(&n.node_id)),
    );
    advice.candidates.extend(
        from_findings
            .candidates
            .into_iter()
            .filter(|c| c.nodes.iter().any(|n| flagged.contains(n))),
    );
    advice.candidates = merge(std::mem::take(&mut advice.candidates));
    advice
}

/// Sorts fed straight by a scan that a finding flags also get a sort finding, so the candidate
/// continues with the sort keys (`(product_id, score DESC)` rather than `(product_id)`): an index
/// that delivers the rows in order removes the sort for the price of the same seek. The diagnosis
/// rightly leaves a cheap top-N sort alone; verification decides whether the longer index pays.
fn with_sort_findings(explain: &Explain, findings: &[Finding]) -> Vec<Finding> {
    let nodes = explain.plan.preorder();
    let mut all = findings.to_vec();
    for (id, node) in nodes.iter().enumerate() {
        if node.node_type != NodeType::Sort || findings.iter().any(|f| f.node_id == id) {
            continue;
        }
        // Down the single-child chain, or the outer side of a join that keeps that side's order,
        // to the scan (preorder: the first child is the next node).
        let mut scan = id;
        while (nodes[scan].plans.len() == 1
            || (nodes[scan].plans.len() == 2 && keeps_outer_order(&nodes[scan].node_type)))
            && nodes[scan].relation_name.is_none()
        {
            scan += 1;
        }
        // Only a sort on the scanned table's own columns can come from its index.
        let Some(relation) = nodes[scan].relation_name.as_deref() else {
            continue;
        };
        let table = TableRef {
            relation,
            alias: nodes[scan].alias.as_deref(),
        };
        let own_keys = node
            .sort_key
            .iter()
            .flatten()
            .all(|key| parse_sort_key(key, table).target.is_some());
        let flagged = findings.iter().find(|f| {
            own_keys
                && f.node_id == scan
                && matches!(f.rule, RuleId::SeqScan | RuleId::IndexFilterWaste)
        });
        if let Some(flagged) = flagged {
            let mut sort = flagged.clone();
            sort.rule = RuleId::UnindexedSort;
            sort.node_id = id;
            all.push(sort);
        }
    }
    all
}

/// Candidates answering only the added sort findings say so, rather than claiming a finding the
/// diagnosis did not make.
fn relabel_sort_rules(advice: &mut Advice, real: &[Finding]) {
    if real.iter().any(|f| f.rule == RuleId::UnindexedSort) {
        return;
    }
    for candidate in &mut advice.candidates {
        for rule in &mut candidate.finding_rules {
            if *rule == FindingRule::Rule(RuleId::UnindexedSort) {
                *rule = FindingRule::SortOrder;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Severity;
    use crate::plan::parse_explain;

    fn finding(rule: &str, node_id: usize) -> Finding {
        Finding {
            rule: rule.parse().unwrap(),
            severity: Severity::Warning,
            node_id,
            node_path: String::new(),
            relation: Some("recommendations".into()),
            expressions: Vec::new(),
            summary: String::new(),
            evidence: Vec::new(),
            time_at_stake_ms: 10.0,
            share_at_stake: 0.9,
            advice: String::new(),
            doc: String::new(),
        }
    }

    #[test]
    fn an_estimated_plan_gets_the_index_its_correlated_subplan_needs() {
        // TPC-H q17 planned at SF 0.2: the SubPlan's scan of lineitem is a sliver of the plan's
        // cost per execution, so only the correlated-subplan finding names it.
        let path = format!(
            "{}/fixtures/plans/correlated_subplan_tpch_q17_estimated.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let explain = parse_explain(&std::fs::read_to_string(path).unwrap())
            .unwrap()
            .remove(0);
        let analysis = crate::plan::analyze(&explain);
        let findings = crate::diagnose::diagnose(&explain, &analysis, &Default::default()).findings;
        let advice = estimated_candidates(&explain, &findings, 0.2);
        let shapes: Vec<String> = advice
            .candidates
            .iter()
            .map(|c| {
                let columns: Vec<&str> = c.columns.iter().map(|k| k.label()).collect();
                format!("{} ({})", c.table, columns.join(", "))
            })
            .collect();
        assert!(
            shapes.contains(&"lineitem (l_partkey)".to_owned()),
            "{shapes:?}"
        );
        let candidate = advice
            .candidates
            .iter()
            .find(|c| c.columns[0].label() == "l_partkey")
            .unwrap();
        assert!(
            candidate
                .finding_rules
                .contains(&FindingRule::Rule(RuleId::CorrelatedSubplan)),
            "{:?}",
            candidate.finding_rules
        );
        // The flagged node has its candidate, not a "small share of the cost" reason.
        let flagged = findings[0].node_id;
        assert!(
            advice.no_suggestions.iter().all(|n| n.node_id != flagged),
            "{:?}",
            advice.no_suggestions
        );
    }

    /// Limit → Sort (top-N, not flagged) → Seq Scan (flagged).
    fn top_n_plan() -> Explain {
        let json = r#"[{"Plan": {"Node Type": "Limit", "Plans": [
            {"Node Type": "Sort", "Sort Key": ["recommendations.score DESC"], "Plans": [
              {"Node Type": "Seq Scan", "Relation Name": "recommendations", "Schema": "public",
               "Alias": "recommendations", "Filter": "(recommendations.product_id = 42)"}]}]}}]"#;
        parse_explain(json).unwrap().remove(0)
    }

    #[test]
    fn a_sort_fed_by_a_flagged_scan_continues_the_index_with_its_keys() {
        let explain = top_n_plan();
        let findings = vec![finding("seq-scan", 2)];
        let all = with_sort_findings(&explain, &findings);
        assert_eq!(all.len(), 2);
        assert_eq!((all[1].rule, all[1].node_id), (RuleId::UnindexedSort, 1));
        let mut advice = candidates(&explain, &all);
        relabel_sort_rules(&mut advice, &findings);
        let columns: Vec<(&str, bool)> = advice.candidates[0]
            .columns
            .iter()
            .map(|c| (c.label(), c.desc))
            .collect();
        assert_eq!(
            columns,
            [("product_id", false), ("score", true)],
            "{advice:#?}"
        );
        assert!(
            advice.candidates[0]
                .finding_rules
                .contains(&FindingRule::SortOrder)
        );
        assert!(
            !advice.candidates[0]
                .finding_rules
                .contains(&FindingRule::Rule(RuleId::UnindexedSort))
        );
    }

    #[test]
    fn no_sort_finding_without_a_flagged_scan_or_when_already_flagged() {
        let explain = top_n_plan();
        assert!(with_sort_findings(&explain, &[]).is_empty());
        let flagged = vec![finding("seq-scan", 2), finding("unindexed-sort", 1)];
        assert_eq!(with_sort_findings(&explain, &flagged).len(), 2);
    }

    #[test]
    fn index_candidates_adds_the_sort_keys_and_says_why() {
        let explain = top_n_plan();
        let advice = index_candidates(&explain, &[finding("seq-scan", 2)]);
        assert_eq!(advice.candidates.len(), 1, "{advice:#?}");
        let rules = &advice.candidates[0].finding_rules;
        assert_eq!(rules.len(), 2, "{rules:?}");
        assert!(
            rules.contains(&FindingRule::Rule(RuleId::SeqScan)),
            "{rules:?}"
        );
        assert!(rules.contains(&FindingRule::SortOrder), "{rules:?}");
    }
}
