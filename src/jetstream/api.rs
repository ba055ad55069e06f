//! The JetStream API spoken as plain requests: `$JS.API.*` subjects with
//! JSON bodies. The raw answer is kept, because async-nats' typed answers
//! drop fields this tool shows (cluster replicas' lag, mirror errors,
//! paused consumers on older client versions).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::broker::{ConnectionProfile, Fetcher};
use thiserror::Error;

/// How long one API request may take before it is reported as unanswered.
pub const API_TIMEOUT: Duration = Duration::from_secs(5);

/// What went wrong talking to JetStream, said so a user can act on it.
#[derive(Debug, Error)]
pub enum JsError {
    #[error("no JetStream answered {subject} (JetStream not enabled, or no permission)")]
    NoResponders { subject: String },
    #[error("JetStream did not answer {subject} within {seconds} s")]
    Timeout { subject: String, seconds: u64 },
    #[error("JetStream refused {subject}: {description} (code {code}, error {err_code})")]
    Refused {
        subject: String,
        code: u64,
        err_code: u64,
        description: String,
    },
    #[error("JetStream's answer to {subject} is not what was expected: {reason}")]
    BadAnswer { subject: String, reason: String },
    #[error("cannot send {subject}: {reason}")]
    Send { subject: String, reason: String },
    #[error("{0}")]
    Invalid(String),
}

impl JsError {
    /// The server's `err_code`, when the server refused.
    pub fn err_code(&self) -> Option<u64> {
        match self {
            Self::Refused { err_code, .. } => Some(*err_code),
            _ => None,
        }
    }
}

/// Requests to one account's JetStream API through an async-nats client;
/// with the connection's profile, batched direct gets over a link of their
/// own (`broker::Fetcher`), read byte-exact.
#[derive(Clone)]
pub struct Api {
    pub(super) client: async_nats::Client,
    /// `$JS.API`, or `$JS.<domain>.API`.
    prefix: String,
    /// The fetch link, opened on first use and kept.
    pub(super) fetch: Option<Arc<FetchSlot>>,
}

/// The profile to open the fetch link with, and the link once open.
pub(super) struct FetchSlot {
    profile: ConnectionProfile,
    link: tokio::sync::Mutex<Option<Fetcher>>,
}

impl FetchSlot {
    /// The open link (opened now if it is not), held until the guard drops.
    pub(super) async fn link(&self) -> Result<tokio::sync::MappedMutexGuard<'_, Fetcher>, JsError> {
        let mut slot = self.link.lock().await;
        if slot.is_none() {
            let fetcher = Fetcher::open(&self.profile)
                .await
                .map_err(|e| JsError::Send {
                    subject: "the fetch link".into(),
                    reason: e.to_string(),
                })?;
            *slot = Some(fetcher);
        }
        Ok(tokio::sync::MutexGuard::map(slot, |s| {
            s.as_mut().expect("opened above")
        }))
    }

    /// A link that failed is opened again next time.
    pub(super) async fn forget(&self) {
        *self.link.lock().await = None;
    }
}

impl Api {
    /// JSON requests only: reading stored messages (direct gets) needs the
    /// fetch link, which `with_profile` opens.
    pub fn new(client: async_nats::Client) -> Self {
        Self {
            client,
            prefix: "$JS.API".into(),
            fetch: None,
        }
    }

    /// As `new`, with direct gets over a link of their own opened from
    /// `profile`: headers byte-exact, several windows in flight.
    pub fn with_profile(client: async_nats::Client, profile: ConnectionProfile) -> Self {
        Self {
            client,
            prefix: "$JS.API".into(),
            fetch: Some(Arc::new(FetchSlot {
                profile,
                link: tokio::sync::Mutex::new(None),
            })),
        }
    }

    /// The API of a JetStream domain (leaf nodes, hubs).
    pub fn with_domain(client: async_nats::Client, domain: &str) -> Self {
        Self {
            client,
            prefix: format!("$JS.{domain}.API"),
            fetch: None,
        }
    }

    /// The fetch link's slot; an `Api` made without a profile has none.
    pub(super) fn fetch_slot(&self) -> Result<&FetchSlot, JsError> {
        self.fetch.as_deref().ok_or_else(|| {
            JsError::Invalid("reading stored messages needs the connection's profile".into())
        })
    }

    /// The client the requests go through (for requests beyond JetStream).
    pub fn client(&self) -> async_nats::Client {
        self.client.clone()
    }

    pub fn subject(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }

    /// Send `body` to `$JS.API.<suffix>` and return the JSON answer, or the
    /// error the server put in it.
    pub async fn request(&self, suffix: &str, body: &Value) -> Result<Value, JsError> {
        let subject = self.subject(suffix);
        let payload = if body.is_null() {
            bytes::Bytes::new()
        } else {
            bytes::Bytes::from(body.to_string())
        };
        // Said in advance: a monitor of `>` in this process leaves the
        // request, its answer and its audit advisory out.
        crate::broker::note_own_api_request(&subject, &payload);
        let answer =
            tokio::time::timeout(API_TIMEOUT, self.client.request(subject.clone(), payload))
                .await
                .map_err(|_| JsError::Timeout {
                    subject: subject.clone(),
                    seconds: API_TIMEOUT.as_secs(),
                })?
                .map_err(|e| match e.kind() {
                    async_nats::RequestErrorKind::NoResponders => JsError::NoResponders {
                        subject: subject.clone(),
                    },
                    async_nats::RequestErrorKind::TimedOut => JsError::Timeout {
                        subject: subject.clone(),
                        seconds: API_TIMEOUT.as_secs(),
                    },
                    _ => JsError::Send {
                        subject: subject.clone(),
                        reason: e.to_string(),
                    },
                })?;
        parse_answer(&subject, &answer.payload)
    }
}

/// Every item of a listing the server hands out in pages (`STREAM.LIST`,
/// `CONSUMER.LIST.<stream>`): the `key` array of each answer, asked for
/// from the offset reached until the answer's `total` is reached.
pub(super) async fn all_pages(api: &Api, suffix: &str, key: &str) -> Result<Vec<Value>, JsError> {
    let mut items = Vec::new();
    loop {
        let answer = api
            .request(suffix, &serde_json::json!({ "offset": items.len() }))
            .await?;
        let page = answer
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let total = u64_at(&answer, &["total"]) as usize;
        let got = page.len();
        items.extend(page);
        if got == 0 || items.len() >= total {
            return Ok(items);
        }
    }
}

/// The JSON of an API answer, or the error it carries.
pub fn parse_answer(subject: &str, payload: &[u8]) -> Result<Value, JsError> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| JsError::BadAnswer {
        subject: subject.to_owned(),
        reason: e.to_string(),
    })?;
    if let Some(error) = value.get("error") {
        return Err(JsError::Refused {
            subject: subject.to_owned(),
            code: error.get("code").and_then(Value::as_u64).unwrap_or(0),
            err_code: error.get("err_code").and_then(Value::as_u64).unwrap_or(0),
            description: error
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("no description")
                .to_owned(),
        });
    }
    Ok(value)
}

/// Stream and consumer names go into subjects: a dot, space or wildcard
/// would address something else.
pub(super) fn check_name(name: &str) -> Result<(), JsError> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| matches!(c, '.' | '*' | '>' | ' ' | '\t' | '\r' | '\n'))
    {
        return Err(JsError::Invalid(format!(
            "{name:?} is not a valid stream or consumer name"
        )));
    }
    Ok(())
}

/// Small readers for the raw JSON answers.
pub(super) fn u64_at(value: &Value, path: &[&str]) -> u64 {
    at(value, path).and_then(Value::as_u64).unwrap_or(0)
}

pub(super) fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str)
}

pub(super) fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// An RFC 3339 time of an answer, as nanoseconds; the zero time Go writes
/// for "never" (`0001-01-01T00:00:00Z`) is `None`.
pub(super) fn time_at(value: &Value, path: &[&str]) -> Option<i64> {
    let text = str_at(value, path)?;
    let time = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    let ns = time.timestamp_nanos_opt()?;
    (ns > 0).then_some(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_in_answers_are_refusals_with_their_codes() {
        let e = parse_answer(
            "$JS.API.STREAM.INFO.X",
            br#"{"type":"io.nats.jetstream.api.v1.stream_info_response","error":{"code":404,"err_code":10059,"description":"stream not found"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.err_code(), Some(10059));
        assert!(e.to_string().contains("stream not found"), "{e}");
        assert!(parse_answer("s", b"not json").is_err());
        assert!(parse_answer("s", br#"{"total":0}"#).is_ok());
    }

    #[test]
    fn go_zero_time_is_never() {
        let v: Value = serde_json::json!({"a":"0001-01-01T00:00:00Z","b":"2026-01-02T03:04:05.5Z"});
        assert_eq!(time_at(&v, &["a"]), None);
        assert_eq!(time_at(&v, &["b"]), Some(1_767_323_045_500_000_000));
    }

    #[test]
    fn names_that_would_change_the_subject_are_refused() {
        for bad in ["", "a.b", "a*", ">", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("ORDERS_2-x").is_ok());
    }
}
