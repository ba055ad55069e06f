//! Comparing what was seen: two messages (their headers, and their
//! payloads structurally, as their decoders read them) and two captures
//! (per subject: what appeared, what vanished, what changed in count and
//! in the fields its payloads carry).
//!
//! The structural diff is ours: it walks two JSON values and names each
//! difference by its path in the Search view's syntax (`.data.items[1].qty`),
//! which a line diff of pretty-printed text cannot do for reordered keys.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::capture::Record;
use crate::decode::{Format, Schemas};

/// One difference between two values, by path.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Added {
        path: String,
        after: Value,
    },
    Removed {
        path: String,
        before: Value,
    },
    Changed {
        path: String,
        before: Value,
        after: Value,
    },
}

impl Change {
    pub fn path(&self) -> &str {
        match self {
            Change::Added { path, .. }
            | Change::Removed { path, .. }
            | Change::Changed { path, .. } => path,
        }
    }
}

/// Every difference from `before` to `after`, in document order.
pub fn json_diff(before: &Value, after: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    walk(String::new(), before, after, &mut changes);
    changes
}

fn walk(path: String, before: &Value, after: &Value, out: &mut Vec<Change>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, va) in a {
                let p = format!("{path}{}", key_step(key));
                match b.get(key) {
                    Some(vb) => walk(p, va, vb, out),
                    None => out.push(Change::Removed {
                        path: p,
                        before: va.clone(),
                    }),
                }
            }
            for (key, vb) in b {
                if !a.contains_key(key) {
                    out.push(Change::Added {
                        path: format!("{path}{}", key_step(key)),
                        after: vb.clone(),
                    });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let p = format!("{path}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(va), Some(vb)) => walk(p, va, vb, out),
                    (Some(va), None) => out.push(Change::Removed {
                        path: p,
                        before: va.clone(),
                    }),
                    (None, Some(vb)) => out.push(Change::Added {
                        path: p,
                        after: vb.clone(),
                    }),
                    (None, None) => {}
                }
            }
        }
        (a, b) if a != b => out.push(Change::Changed {
            path: if path.is_empty() { ".".into() } else { path },
            before: a.clone(),
            after: b.clone(),
        }),
        _ => {}
    }
}

/// `.key`, or `["odd key"]` for a key a path cannot spell bare.
fn key_step(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if bare {
        format!(".{key}")
    } else {
        format!("[{}]", Value::String(key.to_owned()))
    }
}

/// Two messages compared: their headers by name, their payloads as data
/// (when both decode) or as bytes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageDiff {
    /// (name, values before, values after) for each header that differs.
    pub headers: Vec<(String, Vec<String>, Vec<String>)>,
    pub payload: PayloadDiff,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PayloadDiff {
    /// Both read as data: the structural differences.
    Structural { changes: Vec<Change> },
    /// One or both are not data: only whether the bytes are equal.
    Bytes {
        same: bool,
        before_len: usize,
        after_len: usize,
    },
}

impl MessageDiff {
    pub fn is_same(&self) -> bool {
        self.headers.is_empty()
            && match &self.payload {
                PayloadDiff::Structural { changes } => changes.is_empty(),
                PayloadDiff::Bytes { same, .. } => *same,
            }
    }
}

pub fn message_diff(before: &Record, after: &Record, schemas: &Schemas) -> MessageDiff {
    let headers_of = |r: &Record| -> BTreeMap<String, Vec<String>> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(h) = r.headers() {
            for (name, value) in h.iter() {
                map.entry(name.to_owned())
                    .or_default()
                    .push(value.to_owned());
            }
        }
        map
    };
    let (a, b) = (headers_of(before), headers_of(after));
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let headers = names
        .into_iter()
        .filter_map(|name| {
            let (va, vb) = (
                a.get(name).cloned().unwrap_or_default(),
                b.get(name).cloned().unwrap_or_default(),
            );
            (va != vb).then(|| (name.clone(), va, vb))
        })
        .collect();
    let read = |r: &Record| {
        crate::decode::decode(schemas, r.subject(), r.payload(), Format::Auto)
            .ok()
            .map(|d| d.value)
    };
    let payload = match (read(before), read(after)) {
        (Some(va), Some(vb)) => PayloadDiff::Structural {
            changes: json_diff(&va, &vb),
        },
        _ => PayloadDiff::Bytes {
            same: before.payload() == after.payload(),
            before_len: before.payload().len(),
            after_len: after.payload().len(),
        },
    };
    MessageDiff { headers, payload }
}

/// What one subject did between two captures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubjectDiff {
    pub subject: String,
    pub before: u64,
    pub after: u64,
    pub status: SubjectStatus,
    /// Field paths its payloads carried only after / only before
    /// (arrays' elements as `[]`).
    pub fields_appeared: Vec<String>,
    pub fields_vanished: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectStatus {
    Appeared,
    Vanished,
    /// In both, with other counts or other fields.
    Changed,
    Same,
}

/// What a capture holds per subject: a count, and the field paths its
/// payloads carried.
#[derive(Default)]
pub struct CaptureProfile {
    subjects: BTreeMap<String, (u64, BTreeSet<String>)>,
}

impl CaptureProfile {
    pub fn add(&mut self, record: &Record, schemas: &Schemas) {
        let entry = self
            .subjects
            .entry(record.subject().to_owned())
            .or_default();
        entry.0 += 1;
        if let Ok(decoded) =
            crate::decode::decode(schemas, record.subject(), record.payload(), Format::Auto)
        {
            field_paths(String::new(), &decoded.value, &mut entry.1, 0);
        }
    }
}

/// Leaf paths, arrays collapsed to `[]`, bounded in depth.
fn field_paths(path: String, value: &Value, out: &mut BTreeSet<String>, depth: usize) {
    if depth > 16 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                field_paths(format!("{path}{}", key_step(key)), v, out, depth + 1);
            }
        }
        Value::Array(items) => {
            for v in items {
                field_paths(format!("{path}[]"), v, out, depth + 1);
            }
        }
        _ if !path.is_empty() => {
            out.insert(path);
        }
        _ => {}
    }
}

/// Every subject of either capture, those that differ first.
pub fn capture_diff(before: &CaptureProfile, after: &CaptureProfile) -> Vec<SubjectDiff> {
    let subjects: BTreeSet<&String> = before
        .subjects
        .keys()
        .chain(after.subjects.keys())
        .collect();
    let empty = (0, BTreeSet::new());
    let mut diffs: Vec<SubjectDiff> = subjects
        .into_iter()
        .map(|subject| {
            let a = before.subjects.get(subject).unwrap_or(&empty);
            let b = after.subjects.get(subject).unwrap_or(&empty);
            let status = match (a.0, b.0) {
                (0, _) => SubjectStatus::Appeared,
                (_, 0) => SubjectStatus::Vanished,
                (x, y) if x == y && a.1 == b.1 => SubjectStatus::Same,
                _ => SubjectStatus::Changed,
            };
            SubjectDiff {
                subject: subject.clone(),
                before: a.0,
                after: b.0,
                status,
                fields_appeared: b.1.difference(&a.1).cloned().collect(),
                fields_vanished: a.1.difference(&b.1).cloned().collect(),
            }
        })
        .collect();
    diffs.sort_by_key(|d| d.status == SubjectStatus::Same);
    diffs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::HeaderBlock;
    use serde_json::json;

    #[test]
    fn structural_diff_names_each_change_by_path() {
        let before = json!({"id": "a", "items": [{"qty": 1}, {"qty": 2}], "gone": true});
        let after = json!({"items": [{"qty": 1}, {"qty": 3}, {"qty": 4}], "id": "a", "new key": 1});
        let changes = json_diff(&before, &after);
        let paths: Vec<&str> = changes.iter().map(Change::path).collect();
        assert_eq!(
            paths,
            [".items[1].qty", ".items[2]", ".gone", "[\"new key\"]"]
        );
        assert!(
            json_diff(&before, &before).is_empty(),
            "key order does not matter"
        );
    }

    #[test]
    fn messages_and_captures_compare() {
        let h1 = HeaderBlock::build(None, [("ce-id", "1"), ("x", "a")]);
        let h2 = HeaderBlock::build(None, [("ce-id", "2"), ("x", "a")]);
        let a = Record::new(0, 0, "o", None, Some(&h1), br#"{"n":1}"#);
        let b = Record::new(0, 0, "o", None, Some(&h2), br#"{"n":2}"#);
        let schemas = Schemas::default();
        let diff = message_diff(&a, &b, &schemas);
        assert_eq!(
            diff.headers,
            [("ce-id".into(), vec!["1".into()], vec!["2".into()])]
        );
        assert_eq!(
            diff.payload,
            PayloadDiff::Structural {
                changes: vec![Change::Changed {
                    path: ".n".into(),
                    before: json!(1),
                    after: json!(2)
                }]
            }
        );
        let (mut before, mut after) = (CaptureProfile::default(), CaptureProfile::default());
        before.add(&a, &schemas);
        before.add(&Record::new(0, 0, "old", None, None, b"x"), &schemas);
        after.add(
            &Record::new(0, 0, "o", None, None, br#"{"n":1,"m":2}"#),
            &schemas,
        );
        after.add(&Record::new(0, 0, "new", None, None, b"x"), &schemas);
        let diffs = capture_diff(&before, &after);
        let by = |s: &str| diffs.iter().find(|d| d.subject == s).expect(s).clone();
        assert_eq!(by("new").status, SubjectStatus::Appeared);
        assert_eq!(by("old").status, SubjectStatus::Vanished);
        let o = by("o");
        assert_eq!(
            (o.status, o.fields_appeared.as_slice()),
            (SubjectStatus::Changed, &[".m".to_owned()][..])
        );
    }
}
