//! An EXPLAIN JSON document kept as text: what the server returned (or what a saved plan's typed
//! tree serializes to), carried into reports verbatim.
//!
//! Text, not a `serde_json::Value`: a value tree recurses once per nesting level whenever it is
//! cloned, compared, written or dropped, and takes several times the memory of its text. Text is
//! flat at any depth. It is validated once (serde_json skips a value with a loop, at any depth) and
//! parsed into [`Explain`] values on demand, through [`super::deep`].

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::model::Explain;
use super::parse::{ParseError, parse_explain_document};

/// One EXPLAIN JSON document (the array `EXPLAIN (FORMAT JSON)` returns), as text.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawPlan(Box<RawValue>);

impl RawPlan {
    /// Checks that `text` is one JSON value (of any depth) and keeps it.
    pub fn from_text(text: String) -> Result<RawPlan, serde_json::Error> {
        RawValue::from_string(text).map(RawPlan)
    }

    /// The JSON of typed plans, as a report echoes a saved plan.
    pub fn from_explains(explains: &[&Explain]) -> Result<RawPlan, serde_json::Error> {
        serde_json::value::to_raw_value(explains).map(RawPlan)
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The plans in this document.
    pub fn explains(&self) -> Result<Vec<Explain>, ParseError> {
        parse_explain_document(self.as_str())
    }

    /// The document as a `serde_json::Value`, for callers that index into it (tests, tools).
    /// Value trees recurse when dropped: meant for plans of ordinary depth.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        super::deep::from_str(self.as_str())
    }
}

/// Written as the server sent it: the schema is the server's, not pgdiag's.
impl JsonSchema for RawPlan {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RawPlan".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The EXPLAIN (FORMAT JSON) document exactly as PostgreSQL produced it \
                (an array of plans), written as the server sent it."
        })
    }
}

impl PartialEq for RawPlan {
    fn eq(&self, other: &RawPlan) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for RawPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawPlan({} bytes)", self.as_str().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_text_and_reads_plans_back() {
        let text = r#"[{"Plan": {"Node Type": "Result", "Plans": [{"Node Type": "Seq Scan"}]}}]"#;
        let raw = RawPlan::from_text(text.to_owned()).unwrap();
        assert_eq!(raw.as_str(), text);
        let explains = raw.explains().unwrap();
        assert_eq!(explains[0].plan.plans.len(), 1);
        let again = RawPlan::from_explains(&[&explains[0]]).unwrap();
        assert_eq!(again.explains().unwrap()[0].plan.plans.len(), 1);
        assert!(RawPlan::from_text("[1".to_owned()).is_err());
        // In a report, the document is written as it is.
        #[derive(Serialize)]
        struct Report<'a> {
            plan: &'a RawPlan,
        }
        let report = serde_json::to_string(&Report { plan: &raw }).unwrap();
        assert_eq!(report, format!(r#"{{"plan":{text}}}"#));
        let back: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&report).unwrap();
        let back: RawPlan = serde_json::from_value(back["plan"].clone()).unwrap();
        assert_eq!(back.to_value().unwrap(), raw.to_value().unwrap());
    }
}
