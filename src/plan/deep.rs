//! Plans of any depth: JSON reading without a nesting limit and tree recursion that cannot
//! overflow the stack.
//!
//! EXPLAIN nests one JSON object and one `"Plans"` array per plan level, so a 61-table join
//! already passes serde_json's default limit of 128 nested values, and a 10,000-level plan nests
//! 20,000 deep. Recursion over such a tree needs more stack than a thread has (tokio's workers
//! have 2 MiB). The rules, for every walk over a plan:
//! - JSON is read by [`from_str`] / [`from_value`]: no nesting limit, and the recursion of serde's
//!   derived code grows the stack on the heap as it goes (`serde_stacker`);
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

/// Runs `f`, on a new heap-allocated stack segment when less than [`RED_ZONE`] remains.
pub fn grow<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

/// `serde_json::from_str` without a nesting limit and without stack overflow at any depth.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.disable_recursion_limit();
    let value = T::deserialize(stacked(&mut deserializer))?;
    deserializer.end()?;
    Ok(value)
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

    #[test]
    fn reads_and_drops_any_depth_on_a_small_stack() {
        // A tokio worker's stack size: what the live path runs on.
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                let value: Value = from_str(&nested_arrays(200_000)).unwrap();
                drop_value(value);
                let value: Value = from_str(&nested_arrays(50_000)).unwrap();
                let again: Value = from_value(value).unwrap();
                drop_value(again);
            })
            .unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn trailing_text_and_bad_json_are_errors() {
        assert!(from_str::<Value>("[1] x").is_err());
        assert!(from_str::<Value>(&"[".repeat(10_000)).is_err());
    }
}
