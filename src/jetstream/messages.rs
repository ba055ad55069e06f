//! Reading a stream's messages without a consumer. A consumer on an
//! interest or work-queue stream can remove the messages it reads
//! (nats-server #6538), so browsing asks the stream itself: a batched
//! direct get (`$JS.API.DIRECT.GET`, which async-nats 0.51 does not wrap)
//! when the stream allows it, else one `$JS.API.STREAM.MSG.GET` per
//! message.

use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::api::{API_TIMEOUT, Api, JsError, check_name, str_at, u64_at};
use crate::capture::{ConnectionKey, HeaderBlock, Record, Timestamp};

/// A message as the stream stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub stream: String,
    pub seq: u64,
    pub subject: String,
    /// When the stream stored it.
    pub time: Timestamp,
    pub headers: Option<HeaderBlock>,
    pub payload: Bytes,
}

impl StoredMessage {
    /// As a record received at its stored time, for the inspector, the
    /// flow view, publish and replay.
    pub fn to_record(&self, connection: ConnectionKey) -> Record {
        Record::new(
            self.time,
            connection,
            &self.subject,
            None,
            self.headers.as_ref(),
            &self.payload,
        )
    }

    fn bytes(&self) -> usize {
        self.subject.len()
            + self.payload.len()
            + self.headers.as_ref().map_or(0, |h| h.as_bytes().len())
    }
}

/// How messages were read; shown as a badge beside them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Batched direct get: one request per page, served by any replica.
    Direct,
    /// `STREAM.MSG.GET`: one request per message, served by the leader.
    MsgGet,
}

impl Access {
    pub fn of(allow_direct: bool) -> Self {
        if allow_direct {
            Self::Direct
        } else {
            Self::MsgGet
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Direct => "direct get",
            Self::MsgGet => "STREAM.MSG.GET",
        }
    }
}

/// Where a page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// At this sequence, or the next one that exists and matches.
    Seq(u64),
    /// At the first message stored at or after this time.
    Time(Timestamp),
    /// The last message of each subject matching the pattern (the page's
    /// subject filter is not used).
    LastPerSubject(String),
}

/// A page to read: never more than `count` messages or about `max_bytes`.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub start: Start,
    /// Only messages on subjects matching this pattern.
    pub subject: Option<String>,
    pub count: usize,
    pub max_bytes: usize,
}

/// The caps a page may not exceed, whatever is asked.
pub const MAX_PAGE_COUNT: usize = 10_000;
pub const MAX_PAGE_BYTES: usize = 64 << 20;

#[derive(Clone, Debug)]
pub struct Page {
    pub messages: Vec<StoredMessage>,
    pub access: Access,
    /// Whether messages after the page's last one match (so paging forward
    /// has something to show).
    pub more: bool,
}

/// Read one page of `stream`.
pub async fn fetch_page(
    api: &Api,
    stream: &str,
    access: Access,
    request: &PageRequest,
) -> Result<Page, JsError> {
    check_name(stream)?;
    let count = request.count.clamp(1, MAX_PAGE_COUNT);
    let max_bytes = request.max_bytes.clamp(1024, MAX_PAGE_BYTES);
    let filter = request.subject.clone().unwrap_or_else(|| ">".into());
    match access {
        Access::Direct => direct_page(api, stream, &request.start, &filter, count, max_bytes).await,
        Access::MsgGet => {
            msg_get_page(api, stream, &request.start, &filter, count, max_bytes).await
        }
    }
}

async fn direct_page(
    api: &Api,
    stream: &str,
    start: &Start,
    filter: &str,
    count: usize,
    max_bytes: usize,
) -> Result<Page, JsError> {
    let mut messages: Vec<StoredMessage> = Vec::new();
    let mut bytes = 0;
    let mut body = match start {
        Start::Seq(seq) => json!({ "seq": (*seq).max(1), "next_by_subj": filter }),
        Start::Time(at) => json!({
            "start_time": crate::capture::file::format_timestamp(*at),
            "next_by_subj": filter,
        }),
        Start::LastPerSubject(pattern) => json!({ "multi_last": [pattern] }),
    };
    let mut more;
    // The server may end a batch early (its own caps): ask again from
    // after the last message until the page is full or the stream ends.
    loop {
        let want = count - messages.len();
        body["batch"] = json!(want);
        body["max_bytes"] = json!(max_bytes - bytes);
        let batch = direct_batch(api, stream, &body).await?;
        let got = batch.messages.len();
        for message in batch.messages {
            bytes += message.bytes();
            messages.push(message);
        }
        more = batch.pending > 0;
        let multi = matches!(start, Start::LastPerSubject(_));
        if got == 0 || !more || messages.len() >= count || bytes >= max_bytes || multi {
            break;
        }
        let next = messages.last().map_or(1, |m| m.seq + 1);
        body = json!({ "seq": next, "next_by_subj": filter });
    }
    Ok(Page {
        messages,
        access: Access::Direct,
        more,
    })
}

struct DirectBatch {
    messages: Vec<StoredMessage>,
    /// Matching messages after the last one sent (`Nats-Num-Pending`).
    pending: u64,
}

/// One batched direct get: replies arrive on an inbox of our own and end
/// with a `204 EOB` status (or `404` when nothing matches).
async fn direct_batch(api: &Api, stream: &str, body: &Value) -> Result<DirectBatch, JsError> {
    let subject = api.subject(&format!("DIRECT.GET.{stream}"));
    let send_error = |e: &dyn std::fmt::Display| JsError::Send {
        subject: subject.clone(),
        reason: e.to_string(),
    };
    let inbox = api.client.new_inbox();
    let mut replies = api
        .client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| send_error(&e))?;
    api.client
        .publish_with_reply(subject.clone(), inbox, Bytes::from(body.to_string()))
        .await
        .map_err(|e| send_error(&e))?;
    api.client.flush().await.map_err(|e| send_error(&e))?;
    let mut batch = DirectBatch {
        messages: Vec::new(),
        pending: 0,
    };
    let deadline = tokio::time::Instant::now() + API_TIMEOUT;
    loop {
        let next = tokio::time::timeout_at(deadline, replies.next()).await;
        let message = match next {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(_) => {
                return Err(JsError::Timeout {
                    subject,
                    seconds: API_TIMEOUT.as_secs(),
                });
            }
        };
        if let Some(status) = message.status {
            match status.as_u16() {
                // End of batch; 404: nothing (more) matches.
                204 | 404 => break,
                503 => return Err(JsError::NoResponders { subject }),
                code => {
                    return Err(JsError::Refused {
                        subject,
                        code: u64::from(code),
                        err_code: 0,
                        description: message.description.unwrap_or_default(),
                    });
                }
            }
        }
        let Some(headers) = message.headers else {
            return Err(JsError::BadAnswer {
                subject,
                reason: "a direct get answer without headers".into(),
            });
        };
        let text = |name: &str| headers.get(name).map(|v| v.as_str());
        let seq = text("Nats-Sequence").and_then(|s| s.parse().ok());
        let time = text("Nats-Time-Stamp").and_then(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .ok()?
                .timestamp_nanos_opt()
        });
        let (Some(seq), Some(time), Some(original)) = (seq, time, text("Nats-Subject")) else {
            return Err(JsError::BadAnswer {
                subject,
                reason:
                    "a direct get answer without Nats-Sequence, Nats-Time-Stamp or Nats-Subject"
                        .into(),
            });
        };
        batch.pending = text("Nats-Num-Pending")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let from = text("Nats-Stream").filter(|s| *s != stream);
        batch.messages.push(StoredMessage {
            stream: from.unwrap_or(stream).to_owned(),
            seq,
            subject: original.to_owned(),
            time,
            headers: original_headers(&headers),
            payload: message.payload,
        });
    }
    Ok(batch)
}

/// Headers the server adds to a direct get answer, not the message's own.
const DIRECT_GET_HEADERS: [&str; 7] = [
    "Nats-Stream",
    "Nats-Sequence",
    "Nats-Subject",
    "Nats-Time-Stamp",
    "Nats-Num-Pending",
    "Nats-Last-Sequence",
    "Nats-UpTo-Sequence",
];

/// The message's own headers from a direct get answer. async-nats hands
/// headers over as a map, so names come back grouped (each name's values
/// in their order); `STREAM.MSG.GET` keeps the exact block.
fn original_headers(headers: &async_nats::HeaderMap) -> Option<HeaderBlock> {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(name, _)| !DIRECT_GET_HEADERS.contains(&name.as_ref()))
        .flat_map(|(name, values)| values.iter().map(move |v| (name.as_ref(), v.as_str())))
        .collect();
    (!pairs.is_empty()).then(|| HeaderBlock::build(None, pairs))
}

async fn msg_get_page(
    api: &Api,
    stream: &str,
    start: &Start,
    filter: &str,
    count: usize,
    max_bytes: usize,
) -> Result<Page, JsError> {
    let mut messages = Vec::new();
    if let Start::LastPerSubject(pattern) = start {
        // One request per subject: the subject list says which exist.
        let subjects = super::streams::stream_subjects(api, stream, pattern, count).await?;
        for (subject, _) in subjects {
            if let Some(m) = msg_get(api, stream, &json!({ "last_by_subj": subject })).await? {
                messages.push(m);
            }
        }
        messages.sort_by_key(|m: &StoredMessage| m.seq);
        return Ok(Page {
            messages,
            access: Access::MsgGet,
            more: false,
        });
    }
    let mut seq = match start {
        Start::Seq(seq) => (*seq).max(1),
        Start::Time(at) => seq_at_time(api, stream, Access::MsgGet, *at).await?,
        Start::LastPerSubject(_) => unreachable!("answered above"),
    };
    let mut bytes = 0;
    let mut more = false;
    while let Some(m) = msg_get(api, stream, &json!({ "seq": seq, "next_by_subj": filter })).await?
    {
        if messages.len() >= count || bytes >= max_bytes {
            more = true;
            break;
        }
        seq = m.seq + 1;
        bytes += m.bytes();
        messages.push(m);
    }
    Ok(Page {
        messages,
        access: Access::MsgGet,
        more,
    })
}

/// One `STREAM.MSG.GET`; `None` when no message matches.
async fn msg_get(api: &Api, stream: &str, body: &Value) -> Result<Option<StoredMessage>, JsError> {
    let suffix = format!("STREAM.MSG.GET.{stream}");
    let answer = match api.request(&suffix, body).await {
        Ok(answer) => answer,
        // 10037: no message found.
        Err(e) if e.err_code() == Some(10037) => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = |reason: &str| JsError::BadAnswer {
        subject: api.subject(&suffix),
        reason: reason.to_owned(),
    };
    let message = answer.get("message").ok_or_else(|| bad("no message"))?;
    let decode = |key: &str| -> Result<Option<Vec<u8>>, JsError> {
        str_at(message, &[key])
            .map(|b64| base64::engine::general_purpose::STANDARD.decode(b64))
            .transpose()
            .map_err(|_| bad("payload or headers are not base64"))
    };
    let time = str_at(message, &["time"])
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| bad("no time"))?;
    Ok(Some(StoredMessage {
        stream: stream.to_owned(),
        seq: u64_at(message, &["seq"]),
        subject: str_at(message, &["subject"]).unwrap_or("").to_owned(),
        time,
        headers: decode("hdrs")?
            .filter(|h| !h.is_empty())
            .map(HeaderBlock::from_wire),
        payload: Bytes::from(decode("data")?.unwrap_or_default()),
    }))
}

/// The first message stored at or after `at`: one answer where the server
/// takes `start_time` (direct get), else a bisection on stored times over
/// the stream's sequence range, at most 64 requests.
pub async fn seq_at_time(
    api: &Api,
    stream: &str,
    access: Access,
    at: Timestamp,
) -> Result<u64, JsError> {
    let info = super::streams::stream_info(api, stream).await?;
    if access == Access::Direct {
        let start = json!({ "start_time": crate::capture::file::format_timestamp(at), "batch": 1 });
        let batch = direct_batch(api, stream, &start).await?;
        return Ok(batch.messages.first().map_or(info.last_seq + 1, |m| m.seq));
    }
    // Stored times grow with sequences. Every message below `low` is
    // older than `at`; `best` is the first known one that is not; none
    // exists in `[high, best)`.
    let (mut low, mut high) = (info.first_seq.max(1), info.last_seq + 1);
    let mut best = info.last_seq + 1;
    for _ in 0..64 {
        if low >= high {
            break;
        }
        let mid = low + (high - low) / 2;
        match msg_get(api, stream, &json!({ "seq": mid, "next_by_subj": ">" })).await? {
            Some(m) if m.time < at => low = m.seq + 1,
            Some(m) => {
                best = best.min(m.seq);
                high = mid;
            }
            None => high = mid,
        }
    }
    Ok(best)
}

/// How many messages matching `filter` are stored at or after `seq`,
/// exactly, from a direct get's `Nats-Num-Pending`.
pub async fn count_from(api: &Api, stream: &str, seq: u64, filter: &str) -> Result<u64, JsError> {
    let batch = direct_batch(
        api,
        stream,
        &json!({ "seq": seq.max(1), "next_by_subj": filter, "batch": 1 }),
    )
    .await?;
    Ok(if batch.messages.is_empty() {
        0
    } else {
        batch.pending + 1
    })
}

/// Sequences per window of a scan, and windows asked for at once.
pub const SCAN_WINDOW: u64 = 1000;
pub const SCAN_IN_FLIGHT: usize = 4;

/// Every message of `[from, to]` (matching `filter`), in order, handed to
/// `each` until it returns `false`: fixed windows of sequences, several
/// asked for at once, so the server is never idle waiting for the next
/// request (one batch after another left half the time on the round
/// trip). A window's batch starts at its first sequence; what it returns
/// past the window belongs to the next one and is dropped, so gaps
/// (deleted messages, a filter) lose nothing and repeat nothing.
pub async fn scan_direct(
    api: &Api,
    stream: &str,
    from: u64,
    to: u64,
    filter: &str,
    mut each: impl FnMut(StoredMessage) -> bool,
) -> Result<(), JsError> {
    use futures_util::StreamExt;
    check_name(stream)?;
    let from = from.max(1);
    if from > to {
        return Ok(());
    }
    let windows = (from..=to)
        .step_by(SCAN_WINDOW as usize)
        .map(|start| (start, (start + SCAN_WINDOW - 1).min(to)));
    let mut batches = futures_util::stream::iter(windows)
        .map(|(start, end)| fetch_window(api, stream, start, end, filter))
        .buffered(SCAN_IN_FLIGHT);
    while let Some(batch) = batches.next().await {
        for message in batch? {
            if !each(message) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The messages of `[start, end]` matching `filter`, by direct get; asks
/// again from the last one when the server ended a batch early (its byte
/// cap).
async fn fetch_window(
    api: &Api,
    stream: &str,
    start: u64,
    end: u64,
    filter: &str,
) -> Result<Vec<StoredMessage>, JsError> {
    let mut messages = Vec::new();
    let mut next = start;
    while next <= end {
        let want = end - next + 1;
        let body = json!({
            "seq": next, "next_by_subj": filter, "batch": want, "max_bytes": MAX_PAGE_BYTES,
        });
        let batch = direct_batch(api, stream, &body).await?;
        let got = batch.messages.len() as u64;
        let past = batch.messages.last().is_none_or(|m| m.seq >= end);
        messages.extend(batch.messages.into_iter().filter(|m| m.seq <= end));
        // Done: nothing more matches, the window is covered, or the batch
        // came whole.
        if got == 0 || past || batch.pending == 0 || got >= want {
            break;
        }
        next = messages.last().map_or(end + 1, |m| m.seq + 1);
    }
    Ok(messages)
}
