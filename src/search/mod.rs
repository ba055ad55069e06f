//! Finding messages among everything retained (live or a capture opened):
//! a subject pattern, text or a regular expression in the payload and
//! headers, a JSON test on the payload as its decoder reads it, a time
//! range. Run on a thread of its own over records handed to it a slice
//! at a time (`run`), cancellable, never holding a frame; the same query
//! runs headless over a capture file (`eventscope search`).
//!
//! Cheap tests go first: the subject, the time, then bytes a match must
//! hold (the text, a compared string), and only then is a payload parsed.

mod json_test;
mod run;

use memchr::memmem;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::capture::{Record, SubjectPattern, Timestamp};
use crate::decode::{Format, Schemas};

pub use json_test::{JsonTest, JsonTestError};
pub use run::{SearchProgress, SearchRun};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("subject: {0}")]
    Subject(String),
    #[error("regular expression: {0}")]
    Regex(String),
    #[error("JSON test: {0}")]
    Json(#[from] JsonTestError),
    #[error("'{0}' is not a time (RFC 3339, or an age such as 15m, 2h, 30s)")]
    Time(String),
}

/// A search as typed: what saved searches keep.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueryInput {
    pub subject: String,
    pub text: String,
    /// `text` is a regular expression.
    pub regex: bool,
    pub json: String,
    /// RFC 3339, or an age ("15m": fifteen minutes ago).
    pub from: String,
    pub to: String,
}

/// A saved search, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSearch {
    pub name: String,
    pub query: QueryInput,
}

enum TextTest {
    Plain(Vec<u8>),
    Regex(regex::bytes::Regex),
}

/// A parsed search.
pub struct Query {
    subject: Option<SubjectPattern>,
    text: Option<TextTest>,
    json: Option<JsonTest>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

impl QueryInput {
    /// The query, with ages read against `now`.
    pub fn parse(&self, now: Timestamp) -> Result<Query, QueryError> {
        let subject = match self.subject.trim() {
            "" | ">" => None,
            s => Some(SubjectPattern::parse(s).map_err(|e| QueryError::Subject(e.to_string()))?),
        };
        let text = match (self.text.is_empty(), self.regex) {
            (true, _) => None,
            (false, false) => Some(TextTest::Plain(self.text.as_bytes().to_vec())),
            (false, true) => Some(TextTest::Regex(
                regex::bytes::Regex::new(&self.text)
                    .map_err(|e| QueryError::Regex(e.to_string()))?,
            )),
        };
        let json = match self.json.trim() {
            "" => None,
            j => Some(JsonTest::parse(j)?),
        };
        Ok(Query {
            subject,
            text,
            json,
            from: time(&self.from, now)?,
            to: time(&self.to, now)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == QueryInput::default()
    }
}

fn time(text: &str, now: Timestamp) -> Result<Option<Timestamp>, QueryError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = crate::capture::file::parse_timestamp(text) {
        return Ok(Some(t));
    }
    let bad = || QueryError::Time(text.to_owned());
    let (number, unit) = text.split_at(text.len() - 1);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        "d" => number * 86_400,
        _ => return Err(bad()),
    };
    Ok(Some(now - seconds * 1_000_000_000))
}

impl Query {
    /// Whether `record` is found; its payload decoded with `schemas` only
    /// when a JSON test needs it and the cheap tests passed.
    pub fn matches(&self, record: &Record, schemas: &Schemas) -> bool {
        if self.from.is_some_and(|from| record.received_at < from)
            || self.to.is_some_and(|to| record.received_at > to)
        {
            return false;
        }
        if let Some(pattern) = &self.subject
            && !pattern.matches(record.subject())
        {
            return false;
        }
        if let Some(text) = &self.text {
            let headers = record.headers();
            let header_bytes = headers.as_ref().map_or(&[][..], |h| h.as_bytes());
            let found = match text {
                TextTest::Plain(needle) => {
                    memmem::find(record.payload(), needle).is_some()
                        || memmem::find(header_bytes, needle).is_some()
                }
                TextTest::Regex(re) => re.is_match(record.payload()) || re.is_match(header_bytes),
            };
            if !found {
                return false;
            }
        }
        match &self.json {
            None => true,
            Some(test) => json_matches(test, record, schemas),
        }
    }
}

/// The JSON test, after the bytes a match must hold: a JSON text escapes
/// nothing in most payloads, so a backslash turns the byte tests off.
fn json_matches(test: &JsonTest, record: &Record, schemas: &Schemas) -> bool {
    let payload = record.payload();
    let escaped = memchr::memchr(b'\\', payload).is_some();
    if !escaped
        && let Some(needle) = test.required_bytes()
        && memmem::find(payload, needle).is_none()
    {
        return false;
    }
    let json_text = matches!(
        payload.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    );
    if json_text
        && !escaped
        && let Some(key) = test.required_in_json_text()
        && memmem::find(payload, key).is_none()
    {
        return false;
    }
    if json_text && let Ok(found) = test.test_text(payload) {
        return found;
    }
    crate::decode::decode(schemas, record.subject(), payload, Format::Auto)
        .is_ok_and(|decoded| test.test(&decoded.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::HeaderBlock;

    #[test]
    fn every_part_of_a_query_narrows() {
        let headers = HeaderBlock::build(None, [("ce-id", "evt-9")]);
        let order = Record::new(
            10_000_000_000,
            0,
            "orders.created",
            None,
            Some(&headers),
            br#"{"data":{"order_id":"ord-42","total":12.5}}"#,
        );
        let schemas = Schemas::default();
        let found = |input: QueryInput| {
            input
                .parse(20_000_000_000)
                .expect("valid")
                .matches(&order, &schemas)
        };
        assert!(found(QueryInput::default()));
        assert!(found(QueryInput {
            subject: "orders.*".into(),
            json: r#".data.order_id == "ord-42""#.into(),
            ..Default::default()
        }));
        assert!(!found(QueryInput {
            json: r#".data.order_id == "ord-4""#.into(),
            ..Default::default()
        }));
        assert!(found(QueryInput {
            json: ".data.total > 10".into(),
            ..Default::default()
        }));
        assert!(
            found(QueryInput {
                text: "evt-9".into(),
                ..Default::default()
            }),
            "headers are searched"
        );
        assert!(found(QueryInput {
            text: r"ord-\d+".into(),
            regex: true,
            ..Default::default()
        }));
        assert!(
            !found(QueryInput {
                from: "5s".into(),
                ..Default::default()
            }),
            "older than five seconds before now"
        );
        assert!(found(QueryInput {
            from: "15s".into(),
            ..Default::default()
        }));
        assert!(matches!(
            QueryInput {
                from: "yesterday".into(),
                ..Default::default()
            }
            .parse(0),
            Err(QueryError::Time(_))
        ));
    }
}
