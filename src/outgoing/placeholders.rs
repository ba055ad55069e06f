//! `{{seq}}`, `{{uuid}}` and `{{now}}` in payloads and header values, so
//! one template generates a series of distinct events.

use crate::capture::file::format_timestamp;
use crate::capture::now_timestamp;

pub fn has_placeholders(text: &str) -> bool {
    text.contains("{{seq}}") || text.contains("{{uuid}}") || text.contains("{{now}}")
}

/// Replace the placeholders for the `seq`-th message (1-based).
pub fn expand(text: &str, seq: u64) -> String {
    if !has_placeholders(text) {
        return text.to_owned();
    }
    text.replace("{{seq}}", &seq.to_string())
        .replace("{{uuid}}", &uuid_v4())
        .replace("{{now}}", &format_timestamp(now_timestamp()))
}

/// A random (version 4) UUID. The randomness comes from the standard
/// library's per-process random hasher seeds mixed with a counter and the
/// clock: unique enough for test events, not for cryptography.
pub fn uuid_v4() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_i64(now_timestamp());
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_each_placeholder() {
        let out = expand(r#"{"n":{{seq}},"id":"{{uuid}}","at":"{{now}}"}"#, 7);
        assert!(out.starts_with(r#"{"n":7,"id":""#), "{out}");
        assert!(!has_placeholders(&out));
        let v: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
        let id = v["id"].as_str().expect("id");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(chrono::DateTime::parse_from_rfc3339(v["at"].as_str().expect("at")).is_ok());
        assert_ne!(uuid_v4(), uuid_v4());
        assert_eq!(expand("plain", 1), "plain");
    }
}
