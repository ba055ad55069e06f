//! Sending on a connection: one message (publish, request, JetStream
//! publish) with an exact outcome, and background jobs (a source of
//! messages with their send times) with progress, pause, resume and
//! cancel. What to send is built elsewhere (`session::jobs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

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
#[derive(Debug)]
pub struct WireMessage {
    pub subject: String,
    pub reply: Option<String>,
    pub headers: async_nats::HeaderMap,
    pub payload: Bytes,
    /// The broker's own fields for a broker other than NATS (a replayed
    /// MQTT message's QoS and retain, say), as a record keeps them.
    pub fields: Option<String>,
}

impl WireMessage {
    /// The headers as name/value pairs, in order (another broker's user
    /// properties or headers).
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (k.to_string(), v.to_string())))
            .collect()
    }
}

/// Publish without waiting for anything but the client's buffer.
pub(crate) async fn publish(
    client: &async_nats::Client,
    message: WireMessage,
) -> Result<(), async_nats::PublishError> {
    let headers = message.headers;
    match message.reply {
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
    }
}

pub(crate) async fn send(
    client: &async_nats::Client,
    message: WireMessage,
    mode: SendMode,
) -> SendOutcome {
    let subject = message.subject.clone();
    match mode {
        SendMode::Publish => match publish(client, message).await {
            Ok(()) => match tokio::time::timeout(Duration::from_secs(5), client.flush()).await {
                Ok(Ok(())) => SendOutcome::Published,
                _ => SendOutcome::Failed(
                    "published, but the server did not confirm in 5 s (disconnected?)".into(),
                ),
            },
            Err(e) => SendOutcome::Failed(e.to_string()),
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
/// Why a job's source could not give a message (a bad header, a template
/// that does not expand): counted as a failure, the job goes on.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

pub type MessageSource = Box<dyn FnMut(u64) -> Result<(WireMessage, Duration), SourceError> + Send>;

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

    /// The job has ended (its time was set by `run_paced`).
    pub(crate) fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }

    pub(crate) fn fail(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some(error);
        }
    }
}

/// Where a job's messages go: any broker's link.
pub(crate) trait JobSink: Send {
    type Error: std::fmt::Display;

    fn send(
        &mut self,
        message: WireMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

struct NatsSink<'a>(&'a async_nats::Client);

impl JobSink for NatsSink<'_> {
    type Error = async_nats::PublishError;

    async fn send(&mut self, message: WireMessage) -> Result<(), async_nats::PublishError> {
        publish(self.0, message).await
    }
}

/// Run a job to the end, cancel, or deadline, each message at its time,
/// through `sink`. Order is the source's order.
pub(crate) async fn run_paced(mut job: JobSpec, progress: &JobProgress, sink: &mut impl JobSink) {
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
                progress.fail(e.to_string());
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
        match sink.send(message).await {
            Ok(()) => {
                progress.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => progress.fail(e.to_string()),
        }
    }
    progress
        .elapsed_ms
        .store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
}

/// Run a job on NATS, then flush.
pub(crate) async fn run_job(client: async_nats::Client, job: JobSpec, progress: Arc<JobProgress>) {
    run_paced(job, &progress, &mut NatsSink(&client)).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), client.flush()).await;
    progress.finished.store(true, Ordering::Release);
}
