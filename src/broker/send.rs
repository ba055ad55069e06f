//! Publishing on a connection: one message (publish, request, JetStream
//! publish) with an exact outcome, and background jobs (repeat at a rate,
//! replay with timing) with progress, pause, resume and cancel.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::headers::HeaderNames;
use crate::outgoing::replay::OutMessage;

/// How to send one message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SendMode {
    Publish,
    Request { timeout: Duration },
    JetStream { timeout: Duration },
}

/// What became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    Published,
    Reply {
        headers: Vec<(String, String)>,
        status: Option<u16>,
        payload: Bytes,
        latency: Duration,
    },
    PubAck {
        stream: String,
        seq: u64,
        duplicate: bool,
    },
    Failed(String),
}

/// A message in the client's own terms, ready to publish: jobs build these
/// directly (max-rate replay spent a third of its time on an intermediate
/// header list).
pub struct WireMessage {
    pub subject: String,
    pub reply: Option<String>,
    pub headers: async_nats::HeaderMap,
    pub payload: Bytes,
}

impl TryFrom<OutMessage> for WireMessage {
    type Error = String;

    fn try_from(message: OutMessage) -> Result<Self, String> {
        Ok(Self {
            headers: HeaderNames::default().map(
                message
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str())),
            )?,
            subject: message.subject,
            reply: message.reply,
            payload: message.payload,
        })
    }
}

/// Publish without waiting for anything but the client's buffer.
pub(crate) async fn publish(
    client: &async_nats::Client,
    message: WireMessage,
) -> Result<(), String> {
    let headers = message.headers;
    let result = match message.reply {
        Some(reply) => {
            client
                .publish_with_reply_and_headers(message.subject, reply, headers, message.payload)
                .await
        }
        None => {
            client
                .publish_with_headers(message.subject, headers, message.payload)
                .await
        }
    };
    result.map_err(|e| e.to_string())
}

pub(crate) async fn send(
    client: &async_nats::Client,
    message: OutMessage,
    mode: SendMode,
) -> SendOutcome {
    let message = match WireMessage::try_from(message) {
        Ok(message) => message,
        Err(e) => return SendOutcome::Failed(e),
    };
    let subject = message.subject.clone();
    match mode {
        SendMode::Publish => match publish(client, message).await {
            Ok(()) => match tokio::time::timeout(Duration::from_secs(5), client.flush()).await {
                Ok(Ok(())) => SendOutcome::Published,
                _ => SendOutcome::Failed(
                    "published, but the server did not confirm in 5 s (disconnected?)".into(),
                ),
            },
            Err(e) => SendOutcome::Failed(e),
        },
        SendMode::Request { timeout } => {
            let request = async_nats::Request::new()
                .headers(message.headers)
                .payload(message.payload)
                .timeout(Some(timeout));
            let started = Instant::now();
            match client.send_request(subject.clone(), request).await {
                Ok(reply) => SendOutcome::Reply {
                    headers: reply
                        .headers
                        .iter()
                        .flat_map(|h| {
                            h.iter().flat_map(|(k, vs)| {
                                vs.iter().map(move |v| (k.to_string(), v.to_string()))
                            })
                        })
                        .collect(),
                    status: reply.status.map(|s| s.as_u16()),
                    payload: reply.payload,
                    latency: started.elapsed(),
                },
                Err(e) => SendOutcome::Failed(match e.kind() {
                    async_nats::RequestErrorKind::NoResponders => {
                        format!("no responders: nothing subscribes to {subject}")
                    }
                    async_nats::RequestErrorKind::TimedOut => format!(
                        "timeout: no reply within {timeout:?} (a wildcard monitor in the account, this one included, \
                         turns 'no responders' into a timeout)"
                    ),
                    _ => e.to_string(),
                }),
            }
        }
        SendMode::JetStream { timeout } => {
            let mut js = async_nats::jetstream::new(client.clone());
            js.set_timeout(timeout);
            let ack = match js
                .publish_with_headers(subject.clone(), message.headers, message.payload)
                .await
            {
                Ok(future) => future.await,
                Err(e) => return SendOutcome::Failed(e.to_string()),
            };
            match ack {
                Ok(ack) => SendOutcome::PubAck {
                    stream: ack.stream,
                    seq: ack.sequence,
                    duplicate: ack.duplicate,
                },
                Err(e) => SendOutcome::Failed(match e.kind() {
                    async_nats::jetstream::context::PublishErrorKind::StreamNotFound => {
                        format!("no stream matches {subject}")
                    }
                    async_nats::jetstream::context::PublishErrorKind::TimedOut => format!(
                        "no PubAck within {timeout:?}: no stream matches {subject}, or a wildcard monitor hides the \
                         'no responders' answer"
                    ),
                    _ => e.to_string(),
                }),
            }
        }
    }
}

/// Produces the `i`-th message of a job and when to send it (from the start).
pub type MessageSource = Box<dyn FnMut(u64) -> Result<(WireMessage, Duration), String> + Send>;

pub struct JobSpec {
    pub total: u64,
    pub next: MessageSource,
    /// Stop when the next message would be due after this.
    pub deadline: Option<Duration>,
}

impl std::fmt::Debug for JobSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSpec")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// Live progress of a job; shared with whoever started it.
#[derive(Debug, Default)]
pub struct JobProgress {
    pub total: AtomicU64,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    paused: AtomicBool,
    cancelled: AtomicBool,
    finished: AtomicBool,
    elapsed_ms: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl JobProgress {
    pub fn new(total: u64) -> Arc<Self> {
        let progress = Self::default();
        progress.total.store(total, Ordering::Relaxed);
        Arc::new(progress)
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Time from start to finish (0 while running).
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.elapsed_ms.load(Ordering::Relaxed))
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// The job could not start (no publishing connection): it ends with
    /// everything failed.
    pub(crate) fn abandon(&self, error: String) {
        self.failed.store(self.total(), Ordering::Relaxed);
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some(error);
        }
        self.finished.store(true, Ordering::Release);
    }

    fn fail(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some(error);
        }
    }
}

/// Run a job to the end, cancel, or deadline. Order is the source's order.
pub(crate) async fn run_job(
    client: async_nats::Client,
    mut job: JobSpec,
    progress: Arc<JobProgress>,
) {
    let start = Instant::now();
    let mut paused_for = Duration::ZERO;
    for i in 0..job.total {
        while progress.is_paused() && !progress.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            paused_for += Duration::from_millis(20);
        }
        if progress.is_cancelled() {
            break;
        }
        let (message, offset) = match (job.next)(i) {
            Ok(next) => next,
            Err(e) => {
                progress.fail(e);
                continue;
            }
        };
        if job.deadline.is_some_and(|d| offset > d) {
            break;
        }
        // A zero offset (as fast as possible) is always due: no clock read.
        let due = start + paused_for + offset;
        if !offset.is_zero() && due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        match publish(&client, message).await {
            Ok(()) => {
                progress.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => progress.fail(e),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), client.flush()).await;
    progress
        .elapsed_ms
        .store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
    progress.finished.store(true, Ordering::Release);
}

/// Replay captured records in order, with the options' timing.
pub fn replay_job(
    records: Vec<crate::capture::Record>,
    options: crate::outgoing::replay::ReplayOptions,
) -> JobSpec {
    use crate::outgoing::remap::remap_subject;
    use crate::outgoing::replay::send_offset;
    let first = records.first().map_or(0, |r| r.received_at);
    let mut header_maps = ReplayHeaderMaps::default();
    JobSpec {
        total: records.len() as u64,
        next: Box::new(move |i| {
            let index = i as usize;
            let record = records.get(index).ok_or("no such record")?;
            let headers = header_maps.for_record(&records, index, &options)?;
            let message = WireMessage {
                subject: remap_subject(&options.remaps, record.subject()),
                reply: None,
                headers,
                payload: record.payload_bytes(),
            };
            Ok((
                message,
                send_offset(options.timing, first, record.received_at, i as usize),
            ))
        }),
        deadline: None,
    }
}

/// The client's header map for each replayed record. Building one (a
/// `HashMap` with SipHash, a `Vec` and a `String` per value) was a third of
/// a max-rate replay; while records repeat the previous one's header text
/// (one producer's static headers), the map is cloned instead, which costs
/// about half. The map kept holds a mark too, replaced per message: adding
/// a fourth header to a clone of three would regrow and rehash its table.
#[derive(Default)]
struct ReplayHeaderMaps {
    names: HeaderNames,
    marks: crate::capture::file::TimestampFormatter,
    /// The map of the current run of records with the same header text.
    repeated: Option<async_nats::HeaderMap>,
}

impl ReplayHeaderMaps {
    fn for_record(
        &mut self,
        records: &[crate::capture::Record],
        index: usize,
        options: &crate::outgoing::replay::ReplayOptions,
    ) -> Result<async_nats::HeaderMap, String> {
        use crate::outgoing::replay::{REPLAY_HEADER, kept_headers};
        fn header_text(record: &crate::capture::Record) -> Option<&[u8]> {
            record.headers().map(|h| h.as_bytes())
        }
        let record = &records[index];
        let repeats = index
            .checked_sub(1)
            .and_then(|previous| records.get(previous))
            .is_some_and(|previous| header_text(previous) == header_text(record));
        let original_time = options.mark.then(|| self.marks.format(record.received_at));
        if let Some(map) = &self.repeated
            && repeats
        {
            let mut map = map.clone();
            if let Some(time) = original_time {
                self.names.set(&mut map, REPLAY_HEADER, time)?;
            }
            return Ok(map);
        }
        let mut map = self.names.build(|add| kept_headers(record, options, add))?;
        if let Some(time) = original_time {
            self.names.append(&mut map, REPLAY_HEADER, time)?;
        }
        self.repeated = repeats.then(|| map.clone());
        Ok(map)
    }
}

/// Send a template `count` times, at `rate` per second (or as fast as
/// possible), stopping after `duration` if given.
pub fn repeat_job(
    template: crate::outgoing::template::PublishTemplate,
    count: u64,
    rate: Option<f64>,
    duration: Option<Duration>,
) -> JobSpec {
    JobSpec {
        total: count,
        next: Box::new(move |i| {
            let offset = match rate {
                Some(r) if r > 0.0 => Duration::from_secs_f64(i as f64 / r),
                _ => Duration::ZERO,
            };
            Ok((template.message(i + 1)?.try_into()?, offset))
        }),
        deadline: duration,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{HeaderBlock, Record};
    use crate::outgoing::replay::{REPLAY_HEADER, ReplayOptions};

    fn record(at: i64, headers: &[(&str, &str)]) -> Record {
        let block = HeaderBlock::build(None, headers.iter().copied());
        Record::new(at, 0, "orders.created", None, Some(&block), b"{}")
    }

    /// Runs of records with the same header text reuse one header map; each
    /// message must still carry its own headers and its own mark.
    #[test]
    fn replayed_headers_follow_each_record_through_repeats() {
        let same = [("ce-type", "created"), ("X-Multi", "a"), ("X-Multi", "b")];
        let records = vec![
            record(1_000, &same),
            record(2_000, &same),
            record(3_000, &same),
            record(4_000, &[("ce-type", "deleted")]),
            record(5_000, &same),
            record(6_000, &same),
        ];
        let expected_types = [
            "created", "created", "created", "deleted", "created", "created",
        ];
        let mut job = replay_job(records.clone(), ReplayOptions::default());
        for (i, record) in records.iter().enumerate() {
            let (message, _) = (job.next)(i as u64).expect("message");
            let h = &message.headers;
            assert_eq!(
                h.get("ce-type").map(|v| v.as_str()),
                Some(expected_types[i])
            );
            let multi: Vec<&str> = h.get_all("X-Multi").map(|v| v.as_str()).collect();
            let expected_multi: &[&str] = if i == 3 { &[] } else { &["a", "b"] };
            assert_eq!(multi, expected_multi, "message {i}");
            let mark: Vec<&str> = h.get_all(REPLAY_HEADER).map(|v| v.as_str()).collect();
            assert_eq!(
                mark,
                [crate::capture::file::format_timestamp(record.received_at).as_str()],
                "one mark, this record's time, on message {i}"
            );
        }
    }
}
