//! JSON Schema (draft 2020-12) for every JSON document pgdiag writes, generated from the types
//! that serialize them (schemars), so a schema cannot drift from the output. The committed copies
//! in `docs/schemas/` are checked against these by a unit test; `pgdiag schema <document>` prints
//! them.
//!
//! Schemas describe what pgdiag *writes* (the serialize side of each type), except the baseline
//! file's, which describes what `pgdiag check` *reads* (a version 1 file too; unknown fields are
//! refused there, as the reader refuses them). Report schemas leave unknown properties allowed: a
//! document of a later pgdiag within the same `schema_version` may add fields, and consumers
//! should ignore the ones they do not know.

use std::fmt;
use std::str::FromStr;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::{Value, json};

/// One JSON document pgdiag writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Document {
    /// `pgdiag explain --format json`.
    Explain,
    /// `pgdiag suggest --format json`.
    Suggest,
    /// `pgdiag check --format json`.
    Check,
    /// The baseline file `pgdiag baseline` and `pgdiag check --update` write, and `check` reads.
    Baseline,
    /// `pgdiag bench --format json`.
    Bench,
    /// `pgdiag demo --format json`.
    Demo,
    /// `pgdiag top --format json`.
    Top,
    /// `pgdiag indexes --format json`.
    Indexes,
    /// `pgdiag cache-advice --format json`.
    CacheAdvice,
}

impl Document {
    pub const ALL: [Document; 9] = [
        Document::Explain,
        Document::Suggest,
        Document::Check,
        Document::Baseline,
        Document::Bench,
        Document::Demo,
        Document::Top,
        Document::Indexes,
        Document::CacheAdvice,
    ];

    /// The document's name: `explain`, `baseline`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Document::Explain => "explain",
            Document::Suggest => "suggest",
            Document::Check => "check",
            Document::Baseline => "baseline",
            Document::Bench => "bench",
            Document::Demo => "demo",
            Document::Top => "top",
            Document::Indexes => "indexes",
            Document::CacheAdvice => "cache-advice",
        }
    }

    /// The committed schema's file name, in `docs/schemas/`: `explain.schema.json`.
    pub fn file_name(self) -> String {
        format!("{}.schema.json", self.as_str())
    }

    /// The `schema_version` of the document this pgdiag writes.
    pub fn schema_version(self) -> u32 {
        match self {
            Document::Explain => crate::report::SCHEMA_VERSION,
            Document::Suggest => crate::suggest::report::SCHEMA_VERSION,
            Document::Check => crate::gate::CHECK_SCHEMA_VERSION,
            Document::Baseline => crate::gate::BASELINE_SCHEMA_VERSION,
            Document::Bench => crate::bench::report::SCHEMA_VERSION,
            Document::Demo => crate::demo::SCHEMA_VERSION,
            Document::Top => crate::report::top::TOP_SCHEMA_VERSION,
            Document::Indexes => crate::suggest::hygiene::SCHEMA_VERSION,
            Document::CacheAdvice => crate::cache::advising::SCHEMA_VERSION,
        }
    }

    /// The oldest `schema_version` a document of this kind can carry and still be read: older
    /// baseline files still load.
    fn oldest_schema_version(self) -> u32 {
        match self {
            Document::Baseline => crate::gate::OLDEST_BASELINE_SCHEMA_VERSION,
            _ => self.schema_version(),
        }
    }

    /// What prints or reads the document, for the schema's title.
    fn title(self) -> &'static str {
        match self {
            Document::Explain => "pgdiag explain --format json",
            Document::Suggest => "pgdiag suggest --format json",
            Document::Check => "pgdiag check --format json",
            Document::Baseline => "pgdiag baseline file (pgdiag-baseline.json)",
            Document::Bench => "pgdiag bench --format json",
            Document::Demo => "pgdiag demo --format json",
            Document::Top => "pgdiag top --format json",
            Document::Indexes => "pgdiag indexes --format json",
            Document::CacheAdvice => "pgdiag cache-advice --format json",
        }
    }

    /// The documentation page that explains the document's fields.
    pub fn doc_page(self) -> &'static str {
        match self {
            Document::Explain => "docs/json-report.md",
            Document::Suggest => "docs/suggest-report.md",
            Document::Check | Document::Baseline => "docs/check-report.md",
            Document::Bench => "docs/bench-report.md",
            Document::Demo => "docs/demo-report.md",
            Document::Top => "docs/top-report.md",
            Document::Indexes => "docs/indexes-report.md",
            Document::CacheAdvice => "docs/cache-advice-report.md",
        }
    }

    /// The schema, as JSON.
    pub fn schema(self) -> Value {
        let schema = match self {
            Document::Explain => generate::<crate::report::ExplainReport>(),
            Document::Suggest => generate::<crate::suggest::report::SuggestReport>(),
            Document::Check => generate::<crate::gate::CheckReport>(),
            // A file pgdiag reads back: the schema says what it accepts (version 1 files too).
            Document::Baseline => generate_read::<crate::gate::Baseline>(),
            Document::Bench => generate::<crate::bench::BenchReport>(),
            Document::Demo => generate::<crate::demo::DemoReport>(),
            Document::Top => generate::<crate::report::top::TopReport>(),
            Document::Indexes => generate::<crate::suggest::hygiene::IndexesReport>(),
            Document::CacheAdvice => generate::<crate::cache::advising::CacheAdviceReport>(),
        };
        self.decorate(schema.to_value())
    }

    /// The schema as its committed file holds it: pretty-printed, ending in a newline.
    pub fn schema_text(self) -> String {
        let mut text = serde_json::to_string_pretty(&self.schema())
            .expect("a schema is a JSON value and always serializes");
        text.push('\n');
        text
    }

    /// Adds what the types cannot say: `$id`, the title, the version the document carries.
    fn decorate(self, generated: Value) -> Value {
        let Value::Object(generated) = generated else {
            unreachable!("schemars generates an object schema for a struct");
        };
        let version = self.schema_version();
        let oldest = self.oldest_schema_version();
        let mut schema = serde_json::Map::new();
        // Keys in the order a reader looks for them; the rest as generated.
        schema.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        schema.insert(
            "$id".into(),
            json!(format!("urn:pgdiag:schema:{}:{version}", self.as_str())),
        );
        schema.insert("title".into(), json!(self.title()));
        for (key, value) in generated {
            if key != "$schema" && key != "title" {
                schema.insert(key, value);
            }
        }
        let description = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        schema.insert(
            "description".into(),
            json!(format!(
                "{description}\n\nSchema version {version}; fields are documented in {}.",
                self.doc_page()
            )),
        );
        if let Some(Value::Object(properties)) = schema.get_mut("properties") {
            let version_schema = if oldest == version {
                json!({ "type": "integer", "const": version })
            } else {
                json!({ "type": "integer", "minimum": oldest, "maximum": version })
            };
            properties.insert("schema_version".into(), version_schema);
        }
        Value::Object(schema)
    }
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A name that is no document's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown document `{0}`; the documents are: {names}", names = Document::ALL.map(Document::as_str).join(", "))]
pub struct UnknownDocument(pub String);

impl FromStr for Document {
    type Err = UnknownDocument;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Document::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDocument(s.to_owned()))
    }
}

/// The serialize-side schema of `T`: what pgdiag writes.
fn generate<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>()
}

/// The deserialize-side schema of `T`: what pgdiag reads (fields with a default may be absent).
fn generate_read<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<T>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn committed_path(document: Document) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("docs/schemas")
            .join(document.file_name())
    }

    /// The committed schemas are what the types generate. `PGDIAG_WRITE_SCHEMAS=1` rewrites them.
    #[test]
    fn committed_schemas_are_up_to_date() {
        let write = std::env::var("PGDIAG_WRITE_SCHEMAS").is_ok_and(|v| v == "1");
        let mut stale = Vec::new();
        for document in Document::ALL {
            let path = committed_path(document);
            let generated = document.schema_text();
            if write {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &generated).unwrap();
                continue;
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            if committed != generated {
                stale.push(path.display().to_string());
            }
        }
        assert!(
            stale.is_empty(),
            "schema files differ from the types: {stale:?}; regenerate them with \
             `PGDIAG_WRITE_SCHEMAS=1 cargo test --lib committed_schemas`"
        );
    }

    #[test]
    fn every_schema_names_its_document_and_version() {
        for document in Document::ALL {
            let schema = document.schema();
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
            assert_eq!(
                schema["$id"],
                format!("urn:pgdiag:schema:{document}:{}", document.schema_version())
            );
            assert!(schema["title"].as_str().unwrap().starts_with("pgdiag "));
            let version = &schema["properties"]["schema_version"];
            assert_eq!(version["type"], "integer", "{document}");
            assert!(
                schema["required"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("schema_version")),
                "{document}"
            );
        }
    }

    #[test]
    fn documents_parse_from_their_names() {
        for document in Document::ALL {
            assert_eq!(document.as_str().parse::<Document>(), Ok(document));
        }
        let err = "explian".parse::<Document>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown document `explian`; the documents are: explain, suggest, check, baseline, \
             bench, demo, top, indexes, cache-advice"
        );
    }
}
