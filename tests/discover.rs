//! What a user finds without a checkout: the rules' pages from the binary, shell completions and
//! man pages generated from the command-line definitions, the JSON documents' schemas.

use pgdiag::diagnose::RuleId;
use pgdiag::schema::Document;

use crate::support::pgdiag;

#[test]
fn rules_lists_every_rule_and_prints_each_page_from_the_binary() {
    let list = pgdiag(&["rules"]);
    assert_eq!(list.code, 0, "{}", list.all_output());
    for rule in RuleId::ALL {
        let line = list
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(rule.as_str()))
            .unwrap_or_else(|| panic!("{rule} listed:\n{}", list.stdout));
        assert!(line.contains(rule.summary()), "{line}");
        let page = pgdiag(&["rules", rule.as_str()]);
        assert_eq!(page.code, 0, "{}", page.all_output());
        let file = std::fs::read_to_string(format!(
            "{}/docs/rules/{rule}.md",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(page.stdout, file, "the page of {rule} is the doc's");
    }
    let unknown = pgdiag(&["rules", "no-such-rule"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("known: seq-scan"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_itself() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = pgdiag(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.all_output());
        for command in ["explain", "suggest", "top", "indexes", "rules"] {
            assert!(run.stdout.contains(command), "{shell} completes {command}");
        }
    }
    assert!(
        pgdiag(&["completions", "bash"])
            .stdout
            .contains("--from-pg-stat-statements")
    );
    assert_eq!(pgdiag(&["completions", "tcsh"]).code, 2, "an unknown shell");

    let man = pgdiag(&["man"]);
    assert_eq!(man.code, 0, "{}", man.all_output());
    assert!(
        man.stdout.contains(".TH pgdiag 1"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    let dir = tempfile::tempdir().unwrap();
    let written = pgdiag(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(written.code, 0, "{}", written.all_output());
    for page in [
        "pgdiag.1",
        "pgdiag-suggest.1",
        "pgdiag-explain.1",
        "pgdiag-top.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
}

#[test]
fn schema_lists_the_documents_and_prints_each_schema_as_committed() {
    let list = pgdiag(&["schema"]);
    assert_eq!(list.code, 0, "{}", list.all_output());
    for document in Document::ALL {
        let line = list
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(document.as_str()))
            .unwrap_or_else(|| panic!("{document} listed:\n{}", list.stdout));
        assert!(
            line.ends_with(&format!("docs/schemas/{}", document.file_name())),
            "{line}"
        );
        let printed = pgdiag(&["schema", document.as_str()]);
        assert_eq!(printed.code, 0, "{}", printed.all_output());
        let committed = std::fs::read_to_string(format!(
            "{}/docs/schemas/{}",
            env!("CARGO_MANIFEST_DIR"),
            document.file_name()
        ))
        .unwrap();
        assert_eq!(printed.stdout, committed, "the schema of {document}");
        // A schema by the draft 2020-12 meta-schema, one a validator compiles.
        let schema: serde_json::Value = serde_json::from_str(&printed.stdout).unwrap();
        jsonschema::meta::validate(&schema)
            .unwrap_or_else(|e| panic!("{document}: not a valid schema: {e}"));
        jsonschema::validator_for(&schema).unwrap();
    }
    let unknown = pgdiag(&["schema", "report"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown
            .stderr
            .contains("[possible values: explain, suggest, check, baseline"),
        "{}",
        unknown.stderr
    );
    assert!(pgdiag(&["completions", "bash"]).stdout.contains("schema"));
}
