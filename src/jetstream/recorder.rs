//! The flight recorder: a bounded JetStream stream, made only with the
//! user's consent, that keeps every consumer answer (`$JS.ACK.>`) and the
//! consumer advisories, so retries that happened while no eventscope ran
//! can be rebuilt later.
//!
//! A stream over `$JS.ACK.>` is refused unless `no_ack` is set (error
//! 10052 on nats-server 2.15); with it the server stores every ACK, NAK,
//! TERM and WPI. Each ack subject names the stream, consumer, delivery
//! count, stream and consumer sequence and the message's stored time; the
//! stored ack's own time is when the answer came. Deliveries themselves are
//! not on any subject a stream can hold, so a rebuilt delivery has its
//! answer's time, not its own (`delivered_at` is `null`).
//!
//! It never records itself and never loops: nothing here creates a
//! consumer on it (reading is by direct get), answers about its own stream
//! are skipped when read, and it does not take `$JS.EVENT.ADVISORY.API`,
//! the audit advisory every API request (this tool's own reads included)
//! would add.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::api::{Api, JsError, check_name, str_at, u64_at};
use super::messages::{Access, PageRequest, Start, fetch_page};
use super::streams::{StreamSummary, stream_info};
use crate::capture::{ConnectionKey, Record, Timestamp};
use crate::flow::Correlator;

/// What the recorder keeps.
pub const RECORDED_SUBJECTS: [&str; 2] = ["$JS.ACK.>", "$JS.EVENT.ADVISORY.CONSUMER.>"];

/// The stream's description says it is a recorder: `recorder stop` deletes
/// only such a stream.
const DESCRIPTION: &str = "eventscope flight recorder: consumer acks and advisories";

pub const DEFAULT_NAME: &str = "EVENTSCOPE_RECORDER";

/// How the recorder is bounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecorderSettings {
    pub name: String,
    pub max_age: Duration,
    pub max_bytes: u64,
    pub replicas: u64,
}

impl Default for RecorderSettings {
    fn default() -> Self {
        Self {
            name: DEFAULT_NAME.into(),
            max_age: Duration::from_secs(24 * 3600),
            max_bytes: 1 << 30,
            replicas: 1,
        }
    }
}

/// What the recorder holds now.
#[derive(Clone, Debug, Serialize)]
pub struct RecorderStatus {
    pub name: String,
    pub messages: u64,
    pub bytes: u64,
    /// RFC 3339 of the oldest and newest answer kept.
    pub first: Option<String>,
    pub last: Option<String>,
    /// Seconds from the oldest to now.
    pub covers_secs: f64,
    pub max_age_secs: f64,
    pub max_bytes: u64,
    pub replicas: u64,
}

/// Create the recorder (or find it already there with these bounds).
pub async fn start(api: &Api, settings: &RecorderSettings) -> Result<RecorderStatus, JsError> {
    check_name(&settings.name)?;
    if settings.max_age.is_zero() || settings.max_bytes == 0 {
        return Err(JsError::Invalid(
            "the recorder must be bounded: give a max age and max bytes above zero".into(),
        ));
    }
    let config = json!({
        "name": settings.name,
        "description": DESCRIPTION,
        "subjects": RECORDED_SUBJECTS,
        "retention": "limits",
        "storage": "file",
        "discard": "old",
        "max_age": u64::try_from(settings.max_age.as_nanos()).unwrap_or(u64::MAX),
        "max_bytes": settings.max_bytes,
        "num_replicas": settings.replicas.max(1),
        "no_ack": true,
        "allow_direct": true,
    });
    let answer = api
        .request(&format!("STREAM.CREATE.{}", settings.name), &config)
        .await?;
    Ok(status_of(&StreamSummary::from_info(answer), now()))
}

/// The recorder's status, or `None` when there is none of that name.
pub async fn status(api: &Api, name: &str) -> Result<Option<RecorderStatus>, JsError> {
    match stream_info(api, name).await {
        Ok(info) if is_recorder(&info) => Ok(Some(status_of(&info, now()))),
        Ok(_) => Err(JsError::Invalid(format!(
            "stream {name} exists but is not an eventscope recorder"
        ))),
        // 10059: stream not found.
        Err(e) if e.err_code() == Some(10059) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Remove the recorder and what it holds. Refuses a stream that is not one.
pub async fn stop(api: &Api, name: &str) -> Result<bool, JsError> {
    if status(api, name).await?.is_none() {
        return Ok(false);
    }
    api.request(&format!("STREAM.DELETE.{name}"), &serde_json::Value::Null)
        .await?;
    Ok(true)
}

fn is_recorder(info: &StreamSummary) -> bool {
    str_at(&info.raw, &["config", "description"]) == Some(DESCRIPTION)
}

fn status_of(info: &StreamSummary, now: Timestamp) -> RecorderStatus {
    let first =
        super::api::time_at(&info.raw, &["state", "first_ts"]).filter(|_| info.messages > 0);
    RecorderStatus {
        name: info.name.clone(),
        messages: info.messages,
        bytes: info.bytes,
        first: first.map(crate::capture::file::format_timestamp),
        last: info.last_ts.clone().filter(|_| info.messages > 0),
        covers_secs: first.map_or(0.0, |f| (now - f).max(0) as f64 / 1e9),
        max_age_secs: u64_at(&info.raw, &["config", "max_age"]) as f64 / 1e9,
        max_bytes: u64_at(&info.raw, &["config", "max_bytes"]),
        replicas: info.replicas,
    }
}

fn now() -> Timestamp {
    crate::capture::now_timestamp()
}

/// What reading the recorder gave.
#[derive(Debug, Default)]
pub struct RecorderRead {
    /// The answers and advisories as they were on the wire, at the time
    /// the recorder stored them, oldest first.
    pub records: Vec<Record>,
    /// Answers about the recorder's own stream (someone consumed it).
    pub skipped_own: u64,
    /// Older answers of the range left unread to stay within the byte
    /// budget: the read began at this sequence instead.
    pub began_at: Option<u64>,
}

/// Read what the recorder holds from `since` (or all of it), oldest first;
/// where that is more than about `max_bytes`, only the newest part of it
/// (said in `began_at`).
pub async fn read(
    api: &Api,
    name: &str,
    since: Option<Timestamp>,
    connection: ConnectionKey,
    max_bytes: u64,
) -> Result<RecorderRead, JsError> {
    let info = stream_info(api, name).await?;
    if !is_recorder(&info) {
        return Err(JsError::Invalid(format!(
            "stream {name} is not an eventscope recorder"
        )));
    }
    let own_ack = format!("$JS.ACK.{name}.");
    let own_advisory = format!(".{name}.");
    let mut read = RecorderRead::default();
    let mut from = match since {
        Some(t) => super::messages::seq_at_time(api, name, Access::Direct, t).await?,
        None => info.first_seq.max(1),
    };
    // The stream's bytes per message tell how many of the newest fit.
    let per_message = info.bytes.checked_div(info.messages).unwrap_or(0).max(1);
    let fit = max_bytes / per_message;
    let span = info.last_seq.saturating_sub(from) + 1;
    if span > fit {
        from = info.last_seq.saturating_sub(fit) + 1;
        read.began_at = Some(from);
    }
    // One block for many records (see `RecordPacker`).
    let mut packer = crate::capture::RecordPacker::default();
    super::messages::scan_direct(api, name, from, info.last_seq, ">", |message| {
        let own = message.subject.starts_with(&own_ack)
            || (message.subject.starts_with("$JS.EVENT.ADVISORY.")
                && message.subject.contains(&own_advisory));
        if own {
            read.skipped_own += 1;
        } else {
            read.records.push(packer.pack(
                message.time,
                connection,
                &message.subject,
                None,
                message.headers.as_ref(),
                &message.payload,
            ));
        }
        true
    })
    .await?;
    Ok(read)
}

/// How many stored messages are read back to name flows, at most.
pub const MAX_NAMED: usize = 20_000;

/// Name the flows a recorder rebuilt with their messages' subjects, read
/// from their streams. Returns how many could not be named.
pub async fn name_flows(api: &Api, correlator: &mut Correlator) -> usize {
    let (named, unnamed) = stored_subjects(api, correlator.unnamed_stored()).await;
    for (stream, seq, subject) in named {
        correlator.learn_stored_subject(&stream, seq, &subject);
    }
    unnamed
}

/// The subjects of stored messages, read from their streams (by direct
/// get where the stream allows it), at most `MAX_NAMED`. Returns them and
/// how many could not be read (message gone: acked off a work queue, aged
/// out, or over the limit).
pub async fn stored_subjects(
    api: &Api,
    mut wanted: Vec<(String, u64)>,
) -> (Vec<(String, u64, String)>, usize) {
    use futures_util::StreamExt;
    wanted.sort();
    let mut unnamed = wanted.len().saturating_sub(MAX_NAMED);
    wanted.truncate(MAX_NAMED);
    let mut access = std::collections::HashMap::new();
    for (stream, _) in &wanted {
        if !access.contains_key(stream) {
            let allow_direct = stream_info(api, stream)
                .await
                .map(|i| i.allow_direct)
                .unwrap_or(false);
            access.insert(stream.clone(), Access::of(allow_direct));
        }
    }
    let fetches = futures_util::stream::iter(wanted)
        .map(|(stream, seq)| {
            let access = access[&stream];
            async move {
                let page = fetch_page(
                    api,
                    &stream,
                    access,
                    &PageRequest {
                        start: Start::Seq(seq),
                        subject: None,
                        count: 1,
                        max_bytes: 1024,
                    },
                )
                .await;
                (stream, seq, page)
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let mut named = Vec::new();
    for (stream, seq, page) in fetches {
        match page.ok().and_then(|p| p.messages.into_iter().next()) {
            Some(m) if m.seq == seq => named.push((stream, seq, m.subject)),
            _ => unnamed += 1,
        }
    }
    (named, unnamed)
}
