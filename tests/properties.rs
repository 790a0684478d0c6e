//! Property tests of the readers of untrusted text: the statement splitter (through the input
//! layer, which also drops a byte-order mark) and the plan parser. Bounded to a few hundred cases
//! each so the whole module runs in seconds.

use pgdiag::input;
use pgdiag::plan::parse_explain;
use proptest::prelude::*;

use crate::support::fixture;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A failing case is reported as found: no long shrinking in CI.
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    }
}

/// A piece of a statement that may hide a `;` (or a quote) from a naive splitter.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,8}".prop_map(|word| word),
        "[0-9]{1,6}".prop_map(|number| number),
        // A string literal with semicolons, doubled quotes, dollars and comment markers inside.
        "([a-z ;$*/-]|'')*".prop_map(|body| format!("'{body}'")),
        // A quoted identifier.
        "([a-z ;']|\"\")*".prop_map(|body| format!("\"x{body}\"")),
        // A dollar-quoted body, tagged or not.
        ("(|fn|body)", "[a-z ;'\"*/-]*").prop_map(|(tag, body)| format!("${tag}${body}${tag}$")),
        // Comments, always followed by more of the statement.
        "[a-z ;'\"$]*".prop_map(|text| format!("/* {text} */ 1")),
        "[a-z ;'\"$]*".prop_map(|text| format!("-- {text}\n 1")),
        Just("(1 + 2)".to_owned()),
        Just("::text".to_owned()),
    ]
}

/// A statement: SELECT and a few pieces, without leading or trailing blanks.
fn statement() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 1..6).prop_map(|pieces| format!("SELECT {}", pieces.join(" ")))
}

proptest! {
    #![proptest_config(config(256))]

    /// Joining statements with `;` and splitting again gives them back, each one whole, with a
    /// byte-order mark in front of the file or not, blank statements dropped.
    #[test]
    fn splitting_then_joining_keeps_every_statement(
        statements in prop::collection::vec(statement(), 1..6),
        bom in any::<bool>(),
        blanks in prop::collection::vec("[ \n\t]{0,3}", 0..3),
    ) {
        let mut text = String::new();
        if bom {
            text.push('\u{feff}');
        }
        for blank in &blanks {
            text.push_str(blank);
            text.push(';');
        }
        text.push_str(&statements.join(";\n"));
        text.push_str(";\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.sql");
        std::fs::write(&path, &text).unwrap();
        let sources = input::read(&[path], None).unwrap();
        let split = input::statements(&sources, None).unwrap();
        let texts: Vec<&str> = split.iter().map(|s| s.statement.text.as_str()).collect();
        prop_assert_eq!(texts, statements.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// Whatever the text, the splitter returns statements or "no statement", never panics.
    #[test]
    fn the_splitter_never_panics(text in "(\\PC|[;'\"$\\-/*\n])*") {
        let source = input::Source { origin: input::Origin::Command, text };
        let _ = source.statements();
    }

    /// Random text never makes the plan parser panic.
    #[test]
    fn random_text_never_panics_the_plan_parser(text in "(\\PC|[{}\\[\\]\":,0-9\n])*") {
        let _ = parse_explain(&text);
    }
}

/// A saved plan with some bytes removed, replaced or inserted.
fn mutated_plan() -> impl Strategy<Value = String> {
    let plan = std::fs::read_to_string(fixture("fixtures/plans/join_chain.json")).unwrap();
    let length = plan.len();
    let edit = (
        0..length,
        0..3u8,
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            "\"",
            ",",
            ":",
            "0",
            "-1",
            "1e999",
            "null",
            "\"Plans\": [",
            "\"Node Type\": 7",
            "\u{feff}",
            "\\u0000",
            "[[[[[[[[",
            "true",
            "",
        ]),
    );
    prop::collection::vec(edit, 1..8).prop_map(move |edits| {
        let mut text = plan.clone();
        for (at, kind, insert) in edits {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match kind {
                0 => {
                    let mut end = (at + 1).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, "");
                }
                1 => text.insert_str(at, insert),
                _ => {
                    let mut end = (at + insert.len()).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, insert);
                }
            }
        }
        text
    })
}

proptest! {
    #![proptest_config(config(200))]

    /// Mutated plans load or give a one-line error; never a panic.
    #[test]
    fn mutated_plans_never_panic_the_parser(text in mutated_plan()) {
        if let Err(error) = parse_explain(&text) {
            prop_assert!(!error.to_string().contains('\n'), "{}", error);
        }
    }
}

/// A real psql text-format plan with some lines edited: indentation moved, arrows and labels
/// added or removed, figures broken.
fn mutated_text_plan() -> impl Strategy<Value = String> {
    let plan =
        std::fs::read_to_string(fixture("fixtures/plans/text_verbose_subplan_pg18.txt")).unwrap();
    let lines: Vec<String> = plan.lines().map(str::to_owned).collect();
    let count = lines.len();
    let edit = (
        0..count,
        0..4u8,
        prop::sample::select(vec![
            "->  ",
            "  ",
            "SubPlan 1",
            "InitPlan 3 (returns $0)",
            "CTE x",
            "Worker 0:  ",
            "(cost=",
            "(actual time=1..",
            "(never executed)",
            "  (cost=1.00..2.00 rows=3 width=4)",
            "Buffers: shared hit=x",
            "duration: 1.0 ms  plan:",
            "\t",
            ":",
            "",
        ]),
    );
    prop::collection::vec(edit, 1..8).prop_map(move |edits| {
        let mut lines = lines.clone();
        for (at, kind, text) in edits {
            let at = at.min(lines.len().saturating_sub(1));
            match kind {
                0 if !lines.is_empty() => {
                    lines.remove(at);
                }
                1 => lines.insert(at, text.to_owned()),
                2 => lines[at].insert_str(0, text),
                _ => lines[at].push_str(text),
            }
        }
        lines.join("\n")
    })
}

proptest! {
    #![proptest_config(config(200))]

    /// Mutated text plans load or give a one-line error; never a panic.
    #[test]
    fn mutated_text_plans_never_panic_the_parser(text in mutated_text_plan()) {
        if let Err(error) = parse_explain(&text) {
            prop_assert!(!error.to_string().contains('\n'), "{}", error);
        }
    }
}

/// Deep nesting of every kind (arrays, objects, plans) is read or refused, never a crash.
#[test]
fn deep_nesting_of_any_kind_never_crashes() {
    for depth in [1_000, 100_000] {
        for text in [
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
            format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)),
            format!(
                "[{{\"Plan\": {{\"Node Type\": \"Result\", \"Output\": {}{}}}}}]",
                "[".repeat(depth),
                "]".repeat(depth)
            ),
            "[".repeat(depth),
            format!(
                "[{{\"Plan\": {}",
                "{\"Node Type\": \"Result\", \"Plans\": [".repeat(depth)
            ),
        ] {
            let _ = parse_explain(&text);
        }
    }
}
