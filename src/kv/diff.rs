//! What changed between two revisions of a key, line by line. Values that
//! are JSON are compared pretty-printed (a one-line JSON document would
//! otherwise be one changed line); binary values as hex lines. The line
//! diff itself is `similar`'s (Myers, with a deadline so a huge value
//! cannot stall a frame).

use std::time::Duration;

use similar::{ChangeTag, TextDiff};

/// Longer than this, a diff gives up finding the smallest answer and
/// returns a correct but coarser one.
const DEADLINE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffTag {
    Same,
    Removed,
    Added,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub tag: DiffTag,
    pub text: String,
}

/// A value as the diff and the views show it: pretty JSON, text, or hex.
pub fn display_value(value: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(value)
        && (json.is_object() || json.is_array())
    {
        return serde_json::to_string_pretty(&json).unwrap_or_default();
    }
    match std::str::from_utf8(value) {
        Ok(text) => text.to_owned(),
        Err(_) => value
            .chunks(16)
            .enumerate()
            .map(|(i, chunk)| {
                let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                format!("{:08x}  {}", i * 16, hex.join(" "))
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The lines of `new` against `old`: kept, removed and added, in order.
pub fn diff_values(old: &[u8], new: &[u8]) -> Vec<DiffLine> {
    diff_texts(&display_value(old), &display_value(new))
}

/// A line diff of two values as shown (a decoded payload's JSON, say).
pub fn diff_texts(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = TextDiff::configure().timeout(DEADLINE).diff_lines(old, new);
    diff.iter_all_changes()
        .map(|change| DiffLine {
            tag: match change.tag() {
                ChangeTag::Equal => DiffTag::Same,
                ChangeTag::Delete => DiffTag::Removed,
                ChangeTag::Insert => DiffTag::Added,
            },
            text: change.value().trim_end_matches(['\n', '\r']).to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_differ_by_the_changed_field_only() {
        let lines = diff_values(br#"{"a":1,"b":"x"}"#, br#"{"a":1,"b":"y"}"#);
        let changed: Vec<_> = lines.iter().filter(|l| l.tag != DiffTag::Same).collect();
        assert_eq!(changed.len(), 2, "{lines:?}");
        assert_eq!(changed[0].tag, DiffTag::Removed);
        assert!(changed[0].text.contains("\"x\""));
        assert_eq!(changed[1].tag, DiffTag::Added);
        assert!(changed[1].text.contains("\"y\""));
    }

    #[test]
    fn binary_values_are_compared_as_hex() {
        let lines = diff_values(&[0xff, 0, 1], &[0xff, 0, 2]);
        assert!(
            lines
                .iter()
                .any(|l| l.tag == DiffTag::Added && l.text.ends_with("ff 00 02"))
        );
    }
}
