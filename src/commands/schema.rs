//! `pgdiag schema`: the JSON Schema of each JSON document pgdiag writes, listed or printed.

use std::io::Write;

use anyhow::anyhow;

use crate::cli::SchemaArgs;
use crate::schema::Document;

use super::Outcome;

pub fn run(args: &SchemaArgs, out: &mut impl Write) -> anyhow::Result<Outcome> {
    match &args.document {
        None => {
            let width = Document::ALL
                .iter()
                .map(|d| d.as_str().len())
                .max()
                .unwrap_or(0);
            for document in Document::ALL {
                writeln!(
                    out,
                    "{:<width$}  version {}  docs/schemas/{}",
                    document.as_str(),
                    document.schema_version(),
                    document.file_name()
                )?;
            }
            writeln!(out)?;
            writeln!(out, "pgdiag schema <DOCUMENT> prints a document's schema.")?;
        }
        Some(name) => {
            let document: Document = name.parse().map_err(|e| anyhow!("{e}"))?;
            write!(out, "{}", document.schema_text())?;
        }
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_to_string(document: Option<&str>) -> String {
        let mut out = Vec::new();
        let outcome = run(
            &SchemaArgs {
                document: document.map(str::to_owned),
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(outcome, Outcome::Ok);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lists_the_documents_and_prints_a_schema_as_committed() {
        let list = run_to_string(None);
        assert!(
            list.starts_with("explain       version 1  docs/schemas/explain.schema.json\n"),
            "{list}"
        );
        assert!(
            list.contains("baseline      version 2  docs/schemas/baseline.schema.json\n"),
            "{list}"
        );
        assert_eq!(list.lines().count(), Document::ALL.len() + 2, "{list}");
        let committed = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/schemas/top.schema.json"
        ))
        .unwrap();
        assert_eq!(run_to_string(Some("top")), committed);
    }
}
