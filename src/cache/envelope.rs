//! The compact binary envelope every cached value is stored in: a 25-byte header (one magic and
//! version byte, then three little-endian u64s) followed by the payload as-is.
//!
//! Cache the expensive part, not fat JSON: the header costs 25 bytes per key and decoding it is a
//! bounds check and three loads, so the timestamps strategies need never cost a parse.

/// Magic nibble `0xA` and format version `1`; anything else is rejected as garbage.
const MAGIC_VERSION: u8 = 0xA1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 1 + 3 * 8;

/// A decoded cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// When the payload was loaded from the database (ms since the Unix epoch).
    pub loaded_at_ms: u64,
    /// swr: the soft expiry, after which a read serves stale and triggers a refresh. xfetch and
    /// cache-aside: the logical expiry (`loaded_at + ttl`), the same instant Redis drops the key.
    pub refresh_at_ms: u64,
    /// How long the load took (ms): xfetch's `delta`.
    pub delta_ms: u64,
    pub payload: Vec<u8>,
}

/// Header plus payload, ready to `SET`.
pub fn encode(loaded_at_ms: u64, refresh_at_ms: u64, delta_ms: u64, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.push(MAGIC_VERSION);
    bytes.extend_from_slice(&loaded_at_ms.to_le_bytes());
    bytes.extend_from_slice(&refresh_at_ms.to_le_bytes());
    bytes.extend_from_slice(&delta_ms.to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// `None` for anything not written by [`encode`] (wrong magic or version, short header): callers
/// treat it as a miss and overwrite it.
pub fn decode(bytes: &[u8]) -> Option<Envelope> {
    let (&magic, rest) = bytes.split_first()?;
    if magic != MAGIC_VERSION || rest.len() < HEADER_LEN - 1 {
        return None;
    }
    let u64_at = |i: usize| -> Option<u64> {
        let field: [u8; 8] = rest.get(i * 8..i * 8 + 8)?.try_into().ok()?;
        Some(u64::from_le_bytes(field))
    };
    Some(Envelope {
        loaded_at_ms: u64_at(0)?,
        refresh_at_ms: u64_at(1)?,
        delta_ms: u64_at(2)?,
        payload: rest[HEADER_LEN - 1..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_every_field() {
        let bytes = encode(1_700_000_000_123, 1_700_000_045_123, 17, b"row data");
        assert_eq!(bytes.len(), HEADER_LEN + 8);
        let envelope = decode(&bytes).unwrap();
        assert_eq!(
            envelope,
            Envelope {
                loaded_at_ms: 1_700_000_000_123,
                refresh_at_ms: 1_700_000_045_123,
                delta_ms: 17,
                payload: b"row data".to_vec(),
            }
        );
    }

    #[test]
    fn empty_payload_and_extreme_values_round_trip() {
        let envelope = decode(&encode(u64::MAX, 0, u64::MAX, b"")).unwrap();
        assert_eq!(envelope.loaded_at_ms, u64::MAX);
        assert_eq!(envelope.refresh_at_ms, 0);
        assert!(envelope.payload.is_empty());
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(decode(b""), None);
        assert_eq!(
            decode(b"{\"json\": true, \"is\": \"not an envelope\"}"),
            None
        );
        // Right magic, truncated header.
        assert_eq!(decode(&encode(1, 2, 3, b"x")[..HEADER_LEN - 1]), None);
        // Another version.
        let mut other_version = encode(1, 2, 3, b"x");
        other_version[0] = 0xA2;
        assert_eq!(decode(&other_version), None);
    }
}
