//! Plans of any depth: JSON reading without a nesting limit and tree recursion that cannot
//! overflow the stack.
//!
//! EXPLAIN nests one JSON object and one `"Plans"` array per plan level, so a 61-table join
//! already passes serde_json's default limit of 128 nested values, and a 10,000-level plan nests
//! 20,000 deep. Recursion over such a tree needs more stack than a thread has (tokio's workers
//! have 2 MiB). The rules, for every walk over a plan:
//! - JSON is read by [`from_str`] / [`from_value`]: no nesting limit through plan levels, and the
//!   recursion of serde's derived code grows the stack on the heap as it goes (`serde_stacker`);
//!   values outside the plan tree keep serde_json's limit ([`OTHER_NESTING_LIMIT`]), as nothing
//!   EXPLAIN prints nests deep there and such values end up in recursive `serde_json::Value`s;
//! - code that recurses over the tree itself (the `Plans` list's `Clone`, `Debug`, `Serialize`,
//!   `Deserialize`) runs each level under [`grow`], which switches to a fresh heap-allocated stack
//!   segment when the current one runs low; other walks are loops over an explicit stack
//!   ([`super::PlanNode::preorder`]);
//! - dropping is iterative: [`super::model::Plans`] and [`drop_value`] take children apart in a loop.
//!
//! Validating JSON and keeping it as text ([`super::RawPlan`]) needs none of this: serde_json skips
//! a value with a loop, at any depth.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Room left on the stack below which [`grow`] switches to a new segment. The largest frames of
/// one plan level (a `PlanNode` being deserialized or cloned in a debug build) stay well below it.
const RED_ZONE: usize = 256 * 1024;
/// Size of each new stack segment.
const SEGMENT: usize = 4 * 1024 * 1024;

/// Runs `f`, on a new heap-allocated stack segment when less than 256 KiB remains.
pub fn grow<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

/// How deep values may nest outside the plan tree: serde_json's own default limit. EXPLAIN's
/// deepest such value (a worker's JIT timing) nests 5 deep; the limit keeps what lands in
/// `serde_json::Value`s (unmodelled keys), whose drop recurses, shallow.
pub const OTHER_NESTING_LIMIT: usize = 128;

/// `serde_json::from_str` without a nesting limit through plan levels (`"Plan"` objects,
/// `"Plans"` arrays and their nodes) and without stack overflow at any depth; any other value
/// nested more than [`OTHER_NESTING_LIMIT`] deep is an error, as it is for serde_json.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    match check_nesting(text) {
        Ok(()) => {}
        Err(Nesting::TooDeep) => {
            return Err(serde::de::Error::custom(format!(
                "a value nests more than {OTHER_NESTING_LIMIT} levels deep outside the plan tree"
            )));
        }
        // serde_json would find it too, but only after descending to the end, and then work out
        // the error's position again at every level on the way back up (quadratic in the depth).
        Err(Nesting::Unbalanced) => {
            return Err(serde::de::Error::custom("unbalanced brackets"));
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.disable_recursion_limit();
    let value = T::deserialize(stacked(&mut deserializer))?;
    deserializer.end()?;
    Ok(value)
}

/// One open JSON container while [`check_nesting`] scans.
struct Open {
    object: bool,
    /// Counted nesting: plan levels do not count.
    depth: usize,
    /// An array under a `"Plans"` key, whose objects are plan nodes.
    plans: bool,
}

/// What [`check_nesting`] found wrong.
enum Nesting {
    TooDeep,
    Unbalanced,
}

/// Scans JSON text (valid or not, without building anything) for nesting deeper than
/// [`OTHER_NESTING_LIMIT`] that plan levels do not account for, and for brackets that do not
/// pair up.
fn check_nesting(text: &str) -> Result<(), Nesting> {
    let bytes = text.as_bytes();
    let mut open: Vec<Open> = Vec::new();
    let mut expect_key = false;
    let mut key: &[u8] = b"";
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if expect_key {
                    key = &bytes[start..i.min(bytes.len())];
                    expect_key = false;
                }
            }
            opening @ (b'{' | b'[') => {
                let object = opening == b'{';
                let (parent_depth, plan_level) = match open.last() {
                    None => (0, false),
                    Some(parent) if parent.object => (
                        parent.depth,
                        (object && key == b"Plan") || (!object && key == b"Plans"),
                    ),
                    Some(parent) => (parent.depth, object && parent.plans),
                };
                let depth = parent_depth + usize::from(!plan_level);
                if depth > OTHER_NESTING_LIMIT {
                    return Err(Nesting::TooDeep);
                }
                open.push(Open {
                    object,
                    depth,
                    plans: !object && plan_level,
                });
                expect_key = object;
                key = b"";
            }
            closing @ (b'}' | b']') => {
                if open.pop().is_none_or(|o| o.object != (closing == b'}')) {
                    return Err(Nesting::Unbalanced);
                }
                expect_key = false;
            }
            b',' => expect_key = open.last().is_some_and(|o| o.object),
            _ => {}
        }
        i += 1;
    }
    if open.is_empty() {
        Ok(())
    } else {
        Err(Nesting::Unbalanced)
    }
}

/// `serde_json::from_value` without stack overflow at any depth. The value is consumed as it is
/// read, so its parts are dropped on the grown stack too.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    T::deserialize(stacked(value))
}

/// A deserializer whose every nested value runs under [`grow`]'s policy.
pub(crate) fn stacked<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> serde_stacker::Deserializer<D> {
    let mut stacked = serde_stacker::Deserializer::new(deserializer);
    stacked.red_zone = RED_ZONE;
    stacked.stack_size = SEGMENT;
    stacked
}

/// Drops a JSON value of any depth with a loop (serde_json's own drop recurses once per level).
pub fn drop_value(value: Value) {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => pending.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_arrays(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    /// `levels` plan nodes, each the only child of the one above.
    fn plan_chain(levels: usize) -> String {
        let node = r#"{"Node Type": "Result", "Plans": ["#;
        format!(
            r#"[{{"Plan": {}{{"Node Type": "Result"}}{}}}]"#,
            node.repeat(levels),
            "]}".repeat(levels)
        )
    }

    #[test]
    fn reads_and_drops_any_depth_on_a_small_stack() {
        // A tokio worker's stack size: what the live path runs on.
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                let value: Value = from_str(&plan_chain(100_000)).unwrap();
                drop_value(value);
                let value: Value = from_str(&plan_chain(20_000)).unwrap();
                let again: Value = from_value(value).unwrap();
                drop_value(again);
                let explains: Vec<crate::plan::Explain> = from_str(&plan_chain(100_000)).unwrap();
                drop(explains);
            })
            .unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn other_values_keep_serde_jsons_nesting_limit() {
        assert!(from_str::<Value>(&nested_arrays(OTHER_NESTING_LIMIT)).is_ok());
        let error = from_str::<Value>(&nested_arrays(OTHER_NESTING_LIMIT + 1)).unwrap_err();
        assert!(
            error.to_string().contains("outside the plan tree"),
            "{error}"
        );
        // Inside a plan node too, and whatever the text: no crash, no panic.
        let deep_output = format!(
            r#"[{{"Plan": {{"Node Type": "Result", "Output": {}}}}}]"#,
            nested_arrays(100_000)
        );
        assert!(from_str::<Value>(&deep_output).is_err());
        for garbage in [r#"{"a": "\"#, r#"[{"Plans": ["#, "]]]}}}", "\"x\\"] {
            assert!(from_str::<Value>(garbage).is_err());
        }
        // Escaped quotes and brackets inside strings are not structure.
        assert!(from_str::<Value>(r#"{"Plans": "[[[\"]]]", "x": ["]"]}"#).is_ok());
    }

    #[test]
    fn trailing_text_and_bad_json_are_errors() {
        assert!(from_str::<Value>("[1] x").is_err());
        assert!(from_str::<Value>(&plan_chain(10_000)[..50_000]).is_err());
    }
}
