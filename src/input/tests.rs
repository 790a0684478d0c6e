use std::fs;
use std::path::{Path, PathBuf};

use super::*;

/// A directory tree of files (path relative to the root, content).
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
    dir
}

fn names(origins: &[Origin], root: &Path) -> Vec<String> {
    origins
        .iter()
        .map(|o| match o {
            Origin::File(p) => p.strip_prefix(root).unwrap().display().to_string(),
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn directories_give_their_sql_files_sorted_and_recursive_hidden_ones_skipped() {
    let dir = tree(&[
        ("b.sql", "SELECT 2"),
        ("a.sql", "SELECT 1"),
        ("notes.txt", "not SQL"),
        ("sub/c.sql", "SELECT 3"),
        (".git/d.sql", "SELECT 4"),
    ]);
    let origins = expand(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(names(&origins, dir.path()), ["a.sql", "b.sql", "sub/c.sql"]);
}

#[test]
fn arguments_keep_their_order_and_a_file_is_read_once() {
    let dir = tree(&[("a.sql", "SELECT 1"), ("z/b.sql", "SELECT 2")]);
    let a = dir.path().join("a.sql");
    let z = dir.path().join("z");
    let origins = expand(&[z.clone(), PathBuf::from("-"), a.clone(), z.join("b.sql")]).unwrap();
    assert_eq!(names(&origins, dir.path()), ["z/b.sql", "<stdin>", "a.sql"]);
    // A file given directly is read whatever its extension.
    let txt = dir.path().join("query.txt");
    fs::write(&txt, "SELECT 1").unwrap();
    assert_eq!(
        expand(std::slice::from_ref(&txt)).unwrap(),
        [Origin::File(txt)]
    );
}

#[test]
fn missing_paths_and_empty_directories_are_named() {
    let err = expand(&[PathBuf::from("/nonexistent/query.sql")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read /nonexistent/query.sql: no such file or directory"
    );
    let dir = tree(&[("readme.md", "# no SQL here")]);
    let err = expand(&[dir.path().to_path_buf()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("no .sql files found under {}", dir.path().display())
    );
    // Standard input alone is not a path to find files under.
    assert_eq!(expand(&[PathBuf::from("-")]).unwrap(), [Origin::Stdin]);
}

#[test]
fn text_must_be_utf8_without_nul_bytes() {
    assert_eq!(
        text::decode(b"SELECT 1".to_vec(), "q.sql").unwrap(),
        "SELECT 1"
    );
    assert_eq!(
        text::decode(vec![0x7f, b'E', 0, 1], "q.sql")
            .unwrap_err()
            .to_string(),
        "q.sql is not a text file (NUL byte at offset 2); expected SQL or EXPLAIN JSON"
    );
    assert_eq!(
        text::decode(b"SELECT '\xe9'".to_vec(), "<stdin>")
            .unwrap_err()
            .to_string(),
        "<stdin> is not UTF-8 text (invalid byte at offset 8); expected SQL or EXPLAIN JSON"
    );
    let dir = tree(&[]);
    let err = read_file(dir.path()).unwrap_err().to_string();
    assert!(err.ends_with(": is a directory"), "{err}");
}

#[test]
fn command_comes_first_then_files_in_order() {
    let dir = tree(&[("a.sql", "SELECT 1;\nSELECT 2")]);
    let sources = read(&[dir.path().join("a.sql")], Some("SELECT 0")).unwrap();
    assert_eq!(sources.len(), 2);
    assert_eq!(sources[0].origin, Origin::Command);
    assert_eq!(sources[0].origin.to_string(), "-c");
    assert_eq!(sources[1].text, "SELECT 1;\nSELECT 2");
    let all = statements(&sources, None).unwrap();
    let found: Vec<(String, usize, usize)> = all
        .iter()
        .map(|s| {
            (
                s.origin.path().map_or("-c".into(), |p| {
                    p.file_name().unwrap().to_string_lossy().into_owned()
                }),
                s.statement.index,
                s.statement.line,
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("-c".into(), 1, 1),
            ("a.sql".into(), 1, 1),
            ("a.sql".into(), 2, 2)
        ]
    );
}

#[test]
fn a_params_comment_wins_and_the_command_line_fills_the_rest() {
    let source = Source {
        origin: Origin::File("q.sql".into()),
        text: "-- pgdiag: params 42, null\nSELECT $1, $2;\nSELECT $1".into(),
    };
    let cli = [ParamValue::Text("7".into())];
    let all = statements(std::slice::from_ref(&source), Some(&cli)).unwrap();
    assert_eq!(
        all[0].params,
        Some(vec![ParamValue::Text("42".into()), ParamValue::Null])
    );
    assert_eq!(all[1].params, Some(vec![ParamValue::Text("7".into())]));
    let all = statements(&[source], None).unwrap();
    assert_eq!(all[1].params, None);
}

#[test]
fn a_source_without_statements_is_named_in_the_error() {
    let source = Source {
        origin: Origin::Stdin,
        text: "-- nothing here\n".into(),
    };
    assert_eq!(
        statements(&[source], None).unwrap_err().to_string(),
        "<stdin>: no SQL statement found (the input is empty or only comments)"
    );
}

#[test]
fn command_line_params() {
    assert_eq!(cli_params(&[], None).unwrap(), None);
    assert_eq!(
        cli_params(&["42".into(), "x".into()], None).unwrap(),
        Some(vec![
            ParamValue::Text("42".into()),
            ParamValue::Text("x".into())
        ])
    );
    assert_eq!(
        cli_params(&[], Some(r#"[1, null]"#)).unwrap(),
        Some(vec![ParamValue::Text("1".into()), ParamValue::Null])
    );
    assert!(
        cli_params(&[], Some("{}"))
            .unwrap_err()
            .to_string()
            .contains("--params-json must be a JSON array")
    );
}

#[test]
fn a_byte_order_mark_is_dropped() {
    let dir = tree(&[("bom.sql", "\u{feff}SELECT 1;\nSELECT 2")]);
    let path = dir.path().join("bom.sql");
    assert_eq!(read_file(&path).unwrap(), "SELECT 1;\nSELECT 2");
    let sources = read(&[path], Some("\u{feff}SELECT 3")).unwrap();
    let all = statements(&sources, None).unwrap();
    let texts: Vec<&str> = all.iter().map(|s| s.statement.text.as_str()).collect();
    assert_eq!(texts, ["SELECT 3", "SELECT 1", "SELECT 2"]);
    assert!(matches!(
        all[1].statement.kind,
        crate::pg::StatementKind::Explainable { .. }
    ));
    // Offsets in messages still count the file's bytes.
    match text::decode(b"\xef\xbb\xbfSELECT \xe9".to_vec(), "q.sql").unwrap_err() {
        InputError::NotUtf8 { offset, .. } => assert_eq!(offset, 10),
        other => panic!("{other}"),
    }
}

#[test]
fn call_rates_in_every_unit_integer_or_decimal() {
    let per_hour = |text: &str| text.parse::<CallRate>().map(CallRate::per_hour);
    assert_eq!(per_hour("120/min"), Ok(7200.0));
    assert_eq!(per_hour("2.5/s"), Ok(9000.0));
    assert_eq!(per_hour("1000/h"), Ok(1000.0));
    assert_eq!(per_hour(" 3 / hour "), Ok(3.0));
    assert_eq!(per_hour("0.5/sec"), Ok(1800.0));
    assert_eq!(per_hour("1/minute"), Ok(60.0));
}

#[test]
fn bad_call_rates_say_what_is_wrong() {
    let reason = |text: &str| text.parse::<CallRate>().unwrap_err();
    assert!(reason("120").contains("has no unit"), "{}", reason("120"));
    assert!(reason("lots/min").contains("`lots` is not a number"));
    assert!(reason("-3/min").contains("`-3` is not a number"));
    assert!(reason("1e3/min").contains("not a number"));
    assert!(reason("0/min").contains("above zero"));
    assert!(reason("5/day").contains("`day` is not a unit of time"));
    assert!(reason("").contains("no rate given"));
}

#[test]
fn each_statement_takes_its_comment_else_the_default_else_an_error_at_its_line() {
    let source = Source {
        origin: Origin::File(PathBuf::from("shop.sql")),
        text: "-- pgdiag: calls=60/min\nSELECT 1;\n\nSELECT 2;\n-- pgdiag: calls=often\nSELECT 3"
            .into(),
    };
    let all = statements(&[source], None).unwrap();
    assert_eq!(calls_per_hour(&all[0], None).unwrap(), 3600.0);
    match calls_per_hour(&all[1], None).unwrap_err() {
        err @ InputError::CallRate { .. } => {
            let text = err.to_string();
            assert!(
                text.starts_with("shop.sql:4: no expected call rate"),
                "{text}"
            );
            assert!(text.contains("--calls"), "{text}");
        }
        other => panic!("{other}"),
    }
    let default = "10/h".parse::<CallRate>().ok();
    assert_eq!(calls_per_hour(&all[1], default).unwrap(), 10.0);
    // A comment of its own outranks the default, and a bad one is an error even with a default.
    assert_eq!(calls_per_hour(&all[0], default).unwrap(), 3600.0);
    let err = calls_per_hour(&all[2], default).unwrap_err().to_string();
    assert!(err.starts_with("shop.sql:5: `often` has no unit"), "{err}");
}
