//! Reading a stream's messages without a consumer. A consumer on an
//! interest or work-queue stream can remove the messages it reads
//! (nats-server #6538), so browsing asks the stream itself: a batched
//! direct get (`$JS.API.DIRECT.GET`, which async-nats 0.51 does not wrap)
//! when the stream allows it, else one `$JS.API.STREAM.MSG.GET` per
//! message.

use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};

use super::api::{Api, JsError, check_name, str_at, u64_at};
use super::stored::DirectBatch;
pub use super::stored::{Access, MAX_PAGE_BYTES, MAX_PAGE_COUNT, StoredMessage};
use crate::capture::{HeaderBlock, Timestamp};

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

/// A page of the messages any of `filters` takes (a consumer with several
/// filter subjects): one page per filter, merged in sequence order, cut
/// to `count`.
pub async fn fetch_filtered(
    api: &Api,
    stream: &str,
    access: Access,
    from: u64,
    filters: &[String],
    count: usize,
) -> Result<Page, JsError> {
    let page = |subject: Option<String>| PageRequest {
        start: Start::Seq(from),
        subject,
        count,
        max_bytes: 8 << 20,
    };
    if filters.len() <= 1 {
        return fetch_page(api, stream, access, &page(filters.first().cloned())).await;
    }
    let mut messages: Vec<StoredMessage> = Vec::new();
    let mut more = false;
    for filter in filters {
        let one = fetch_page(api, stream, access, &page(Some(filter.clone()))).await?;
        more |= one.more;
        messages.extend(one.messages);
    }
    messages.sort_by_key(|m| m.seq);
    messages.dedup_by_key(|m| m.seq);
    more |= messages.len() > count;
    messages.truncate(count);
    Ok(Page {
        messages,
        access,
        more,
    })
}

/// One batched direct get, over the fetch link (byte-exact headers).
async fn direct_batch(api: &Api, stream: &str, body: &Value) -> Result<DirectBatch, JsError> {
    let fetch = api.fetch_slot()?;
    // A link the server closed (a restart, a failover) is opened again
    // once before the error is given.
    for attempt in 0..2 {
        let mut link = fetch.link().await?;
        let result = super::direct_raw::batch(api, &mut link, stream, body).await;
        drop(link);
        match result {
            Err(JsError::Send { .. }) if attempt == 0 => fetch.forget().await,
            Err(e) => {
                fetch.forget().await;
                return Err(e);
            }
            ok => return ok,
        }
    }
    unreachable!("the second attempt returns")
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
    each: impl FnMut(StoredMessage) -> bool,
) -> Result<(), JsError> {
    check_name(stream)?;
    let from = from.max(1);
    if from > to {
        return Ok(());
    }
    let windows = (from..=to)
        .step_by(SCAN_WINDOW as usize)
        .map(|start| (start, (start + SCAN_WINDOW - 1).min(to)));
    let fetch = api.fetch_slot()?;
    let mut link = fetch.link().await?;
    let result = super::direct_raw::scan(
        api,
        &mut link,
        stream,
        windows,
        SCAN_IN_FLIGHT,
        filter,
        each,
    )
    .await;
    if result.is_err() {
        drop(link);
        fetch.forget().await;
    }
    result
}
