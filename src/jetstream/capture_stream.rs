//! Captures that live in JetStream, so they outgrow one machine: `record
//! --to-stream` stores each captured message as one stream message whose
//! payload is its capture-file line (subject, reply, headers and payload
//! byte-exact, base64 where needed, and eventscope's receive time), on the
//! subject `eventscope.capture.<NAME>`; the file's header line lives in the
//! stream's metadata. Reading one back gives the same capture file, which
//! everything that opens a capture file opens.
//!
//! Stored with JetStream publish acks, a bounded number in flight, each
//! with an id of its own (`Eventscope-Capture-Id: <run>-<n>`). A publish
//! retried after a failover may have been stored already (its ack was
//! what got lost): reading the capture back leaves such a repeat out, by
//! its id. This is done on reading rather than with `Nats-Msg-Id` because
//! the server's duplicate tracking cost about a quarter of the recording
//! throughput (`benches/record_stream.rs`), and a repeat is always close
//! to its first copy (at most two windows of publishes in flight apart),
//! so a reader needs only a bounded memory of recent ids. When the stream
//! is full, its oldest messages go (discard old).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use super::api::{Api, JsError, check_name, str_at};
use super::messages::scan_direct;
use super::streams::{StreamSummary, stream_info};
use crate::capture::file::CaptureHeader;

/// Where a capture stream's messages are published.
pub fn capture_subject(name: &str) -> String {
    format!("eventscope.capture.{name}")
}

/// How a capture stream is bounded and replicated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureStreamSettings {
    pub name: String,
    pub replicas: u64,
    pub max_age: Duration,
    pub max_bytes: u64,
}

/// Create the capture stream (or find it with this configuration).
pub async fn create_capture_stream(
    api: &Api,
    settings: &CaptureStreamSettings,
    header: &CaptureHeader,
) -> Result<StreamSummary, JsError> {
    check_name(&settings.name)?;
    let config = json!({
        "name": settings.name,
        "description": "an eventscope capture",
        "subjects": [capture_subject(&settings.name)],
        "retention": "limits",
        "storage": "file",
        "discard": "old",
        "max_age": u64::try_from(settings.max_age.as_nanos()).unwrap_or(u64::MAX),
        "max_bytes": if settings.max_bytes == 0 { -1 } else { settings.max_bytes as i64 },
        "num_replicas": settings.replicas.max(1),
        "allow_direct": true,
        "metadata": {
            "eventscope_capture": header.eventscope_capture.to_string(),
            "created": header.created,
            "tool": header.tool,
            "servers": header.servers.join(","),
        },
    });
    let answer = api
        .request(&format!("STREAM.CREATE.{}", settings.name), &config)
        .await?;
    Ok(StreamSummary::from_info(answer))
}

/// Whether a stream is a capture, by its metadata.
pub fn is_capture(stream: &StreamSummary) -> bool {
    str_at(&stream.raw, &["config", "metadata", "eventscope_capture"]).is_some()
}

/// The capture file's header line, from the stream's metadata.
fn header_of(stream: &StreamSummary) -> CaptureHeader {
    let meta = |key: &str| str_at(&stream.raw, &["config", "metadata", key]).unwrap_or("");
    CaptureHeader {
        eventscope_capture: meta("eventscope_capture").parse().unwrap_or(1),
        created: meta("created").to_owned(),
        tool: meta("tool").to_owned(),
        servers: meta("servers")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// A page of a capture stream (read by `browse`) as a capture file: the
/// stream's header line, then each stored line, a retried copy left out.
/// Returns the lines written.
pub fn write_capture_page<W: Write>(
    stream: &StreamSummary,
    messages: &[super::StoredMessage],
    out: &mut W,
) -> io::Result<usize> {
    serde_json::to_writer(&mut *out, &header_of(stream)).map_err(io::Error::other)?;
    out.write_all(b"\n")?;
    let mut recent = RecentIds::default();
    let mut lines = 0;
    for m in messages {
        if let Some(id) = id_of(m)
            && !recent.first_time(id)
        {
            continue;
        }
        out.write_all(&m.payload)?;
        out.write_all(b"\n")?;
        lines += 1;
    }
    out.flush()?;
    Ok(lines)
}

/// A stored capture line's id (`Eventscope-Capture-Id`).
fn id_of(message: &super::StoredMessage) -> Option<String> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.view().get(ID_HEADER))
        .map(str::to_owned)
}

/// Write a capture stream out as a capture file: its header line, then
/// every stored line in stream order. Returns the lines written.
pub async fn export_capture<W: Write>(api: &Api, name: &str, out: &mut W) -> Result<u64, JsError> {
    let info = stream_info(api, name).await?;
    if !is_capture(&info) {
        return Err(JsError::Invalid(format!(
            "stream {name} is not an eventscope capture"
        )));
    }
    let write_error = |e: io::Error| JsError::Invalid(format!("cannot write the capture: {e}"));
    serde_json::to_writer(&mut *out, &header_of(&info))
        .map_err(|e| write_error(io::Error::other(e)))?;
    out.write_all(b"\n").map_err(write_error)?;
    let mut lines = 0;
    let mut failed = None;
    let mut recent = RecentIds::default();
    scan_direct(api, name, info.first_seq, info.last_seq, ">", |message| {
        if let Some(id) = id_of(&message)
            && !recent.first_time(id)
        {
            // A retried publish stored twice: the capture has it once.
            return true;
        }
        let written = out
            .write_all(&message.payload)
            .and_then(|()| out.write_all(b"\n"));
        match written {
            Ok(()) => {
                lines += 1;
                true
            }
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    })
    .await?;
    if let Some(e) = failed {
        return Err(write_error(e));
    }
    out.flush().map_err(write_error)?;
    Ok(lines)
}

/// Publishes awaited at most at once.
const IN_FLIGHT: usize = 512;
/// Each stored line's id, for leaving out a retried publish stored twice.
const ID_HEADER: &str = "Eventscope-Capture-Id";
/// Ids remembered while reading: a repeat is at most two windows of
/// publishes in flight after its first copy; this is many times that.
const RECENT_IDS: usize = 64 * IN_FLIGHT;

/// The last `RECENT_IDS` ids read.
#[derive(Default)]
struct RecentIds {
    set: std::collections::HashSet<String>,
    order: VecDeque<String>,
}

impl RecentIds {
    /// Whether `id` was not among the recent ones (and remember it).
    fn first_time(&mut self, id: String) -> bool {
        if self.set.contains(&id) {
            return false;
        }
        if self.order.len() == RECENT_IDS
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.set.insert(id.clone());
        self.order.push_back(id);
        true
    }
}
/// How long a message is retried before the recording fails: a node lost
/// in a cluster leaves its streams without a leader until an election,
/// which takes seconds (more on a loaded machine); meanwhile the server
/// answers "no stream found".
const RETRY_FOR: Duration = Duration::from_secs(30);

/// A `Write` for `CaptureWriter` that stores each capture line in the
/// stream (the header line goes to the metadata, so it is skipped here).
/// Used from a thread of its own (the recorder's writer), which it blocks
/// while acks are awaited.
pub struct StreamSink {
    runtime: tokio::runtime::Handle,
    js: async_nats::jetstream::Context,
    subject: String,
    /// Distinguishes this run's message ids from another run's.
    run: String,
    next_id: u64,
    line: Vec<u8>,
    header_seen: bool,
    waiting: VecDeque<(
        String,
        Bytes,
        async_nats::jetstream::context::PublishAckFuture,
    )>,
    /// Lines the stream acknowledged (what the recording can claim).
    acked: Arc<AtomicU64>,
}

impl StreamSink {
    pub fn new(
        runtime: tokio::runtime::Handle,
        client: async_nats::Client,
        name: &str,
        acked: Arc<AtomicU64>,
    ) -> Self {
        // The context starts a task of its own on the runtime.
        let js = {
            let _inside = runtime.enter();
            async_nats::jetstream::new(client)
        };
        Self {
            runtime,
            js,
            subject: capture_subject(name),
            run: format!("{:x}", crate::capture::now_timestamp()),
            next_id: 0,
            line: Vec::new(),
            header_seen: false,
            waiting: VecDeque::new(),
            acked,
        }
    }

    /// Store lines (one `block_on` for all of them: a write hands over a
    /// buffer's worth of lines at once).
    fn publish(&mut self, lines: Vec<Bytes>) -> io::Result<()> {
        let runtime = self.runtime.clone();
        runtime.block_on(async {
            for line in lines {
                while self.waiting.len() >= IN_FLIGHT {
                    self.settle_oldest().await?;
                }
                self.next_id += 1;
                let id = format!("{}-{}", self.run, self.next_id);
                let ack = send(&self.js, &self.subject, &id, line.clone()).await?;
                self.waiting.push_back((id, line, ack));
            }
            Ok(())
        })
    }

    /// Await the oldest publish; publish it again (same id, so a reader
    /// can leave out a second copy) while the
    /// stream is not reachable, for up to `RETRY_FOR`.
    async fn settle_oldest(&mut self) -> io::Result<()> {
        let Some((id, line, mut ack)) = self.waiting.pop_front() else {
            return Ok(());
        };
        let mut first_failure = None;
        let mut failures = 0;
        loop {
            match ack.await {
                Ok(_) => {
                    self.acked.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) => {
                    let since = *first_failure.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() >= RETRY_FOR {
                        return Err(io::Error::other(format!(
                            "the stream did not store a message for {RETRY_FOR:?}: {e}"
                        )));
                    }
                    // The first retry goes at once (the acks in flight
                    // behind a lost node all fail together, and the stream
                    // may be back already); further ones wait a little.
                    failures += 1;
                    if failures > 1 {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    ack = send(&self.js, &self.subject, &id, line.clone()).await?;
                }
            }
        }
    }
}

async fn send(
    js: &async_nats::jetstream::Context,
    subject: &str,
    id: &str,
    line: Bytes,
) -> io::Result<async_nats::jetstream::context::PublishAckFuture> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(ID_HEADER, id);
    js.publish_with_headers(subject.to_owned(), headers, line)
        .await
        .map_err(|e| io::Error::other(format!("cannot publish to the capture stream: {e}")))
}

impl Write for StreamSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        let mut lines = Vec::new();
        while let Some(end) = memchr::memchr(b'\n', rest) {
            self.line.extend_from_slice(&rest[..end]);
            rest = &rest[end + 1..];
            let line = Bytes::from(std::mem::take(&mut self.line));
            if self.header_seen {
                lines.push(line);
            } else {
                self.header_seen = true;
            }
        }
        self.line.extend_from_slice(rest);
        if !lines.is_empty() {
            self.publish(lines)?;
        }
        Ok(buf.len())
    }

    /// Every line so far is stored (acknowledged) when this returns.
    fn flush(&mut self) -> io::Result<()> {
        let runtime = self.runtime.clone();
        runtime.block_on(async {
            while !self.waiting.is_empty() {
                self.settle_oldest().await?;
            }
            Ok(())
        })
    }
}

/// Capture streams among the account's streams.
pub fn captures(streams: &[StreamSummary]) -> Vec<&StreamSummary> {
    streams.iter().filter(|s| is_capture(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_id_is_left_out_while_remembered() {
        let mut recent = RecentIds::default();
        assert!(recent.first_time("run-1".into()));
        assert!(recent.first_time("run-2".into()));
        assert!(!recent.first_time("run-1".into()), "a retried publish");
        for n in 3..(RECENT_IDS as u64 + 3) {
            assert!(recent.first_time(format!("run-{n}")));
        }
        assert_eq!(recent.set.len(), RECENT_IDS, "bounded");
    }
}
