//! The rule ids: the one list of diagnosis rules, each with its kebab-case id (as written in JSON,
//! `pgdiag.toml`, `--disable-rule` and the doc page's name) and the type that implements it. The
//! registry ([`super::rules`]), config validation and every comparison go through [`RuleId`]. The
//! list itself is in `diagnose/mod.rs`, beside the rules' `mod` lines, so a new rule is its own
//! file plus two lines there.

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::RuleId;

/// Declares [`RuleId`] from the one list in `diagnose/mod.rs`, next to the rules' `mod` lines.
macro_rules! rule_ids {
    ($($variant:ident => $id:literal, $rule:path;)*) => {
        /// A diagnosis rule, by id. Serialized as its kebab-case id (`"seq-scan"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RuleId {
            $($variant,)*
        }

        impl RuleId {
            /// Every rule, in documentation order (the order rules run and are listed in).
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant,)*];

            /// The kebab-case id, also the doc page's name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(RuleId::$variant => $id,)*
                }
            }

            /// The rule's page (`docs/rules/<id>.md`), built into the binary: what `pgdiag rules
            /// <id>` prints wherever it runs.
            pub fn page(self) -> &'static str {
                match self {
                    $(RuleId::$variant => include_str!(concat!(
                        env!("CARGO_MANIFEST_DIR"), "/docs/rules/", $id, ".md"
                    )),)*
                }
            }

            /// The rule that implements this id.
            pub(crate) fn rule(self) -> Box<dyn $crate::diagnose::Rule> {
                match self {
                    $(RuleId::$variant => Box::new($rule),)*
                }
            }
        }
    };
}
pub(super) use rule_ids;

impl RuleId {
    /// What the rule finds, in one line: its page's title after the id (`sequential scan of a
    /// large table that throws most rows away`).
    pub fn summary(self) -> &'static str {
        let title = self.page().lines().next().unwrap_or_default();
        title.split_once(" — ").map_or(title, |(_, s)| s.trim())
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: widths such as `{:<16}` align as they did for the string.
        f.pad(self.as_str())
    }
}

/// An id that names no rule; the message lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule `{0}`; known: {known}", known = known_ids())]
pub struct UnknownRule(pub String);

fn known_ids() -> String {
    RuleId::ALL
        .iter()
        .map(|id| id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ordered by id, as the strings were: records sorted by rule keep their order.
impl Ord for RuleId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for RuleId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for RuleId {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuleId::ALL
            .iter()
            .copied()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| UnknownRule(s.to_owned()))
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Written as its id: a string, one of the rules' ids.
impl JsonSchema for RuleId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RuleId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let ids: Vec<&str> = RuleId::ALL.iter().map(|id| id.as_str()).collect();
        json_schema!({
            "description": "A diagnosis rule, by its kebab-case id (`pgdiag rules` lists them).",
            "type": "string",
            "enum": ids,
        })
    }
}

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        id.parse().map_err(serde::de::Error::custom)
    }
}

/// Ids read naturally in tests and match arms against the spelling users see.
impl PartialEq<str> for RuleId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_name_their_rule() {
        for &id in RuleId::ALL {
            assert_eq!(id.as_str().parse::<RuleId>(), Ok(id));
            assert_eq!(id.rule().id(), id, "{id} registers the wrong rule");
            assert_eq!(serde_json::to_value(id).unwrap(), id.as_str());
        }
        assert_eq!(
            "nope".parse::<RuleId>().unwrap_err().to_string(),
            format!("unknown rule `nope`; known: {}", known_ids())
        );
    }
}
