//! Captures that live in JetStream, so they outgrow one machine: `record
//! --to-stream` stores each captured message as one stream message whose
//! payload is its capture-file line (subject, reply, headers and payload
//! byte-exact, base64 where needed, and eventscope's receive time), on the
//! subject `eventscope.capture.<NAME>`; the file's header line lives in the
//! stream's metadata. Reading one back gives the same capture file, which
//! everything that opens a capture file opens.
//!
//! Stored with JetStream publish acks, a bounded number in flight, with
//! no header of our own: a header on every message (an id, or the server's
//! `Nats-Msg-Id` deduplication) cost a sixth to a quarter of the recording
//! throughput (`benches/record_stream.rs`). Storing each line once through
//! a failover is done where the doubt arises instead: when a publish's ack
//! fails, the message may still have been stored (only its ack lost). So
//! before it is sent again, the stream's messages stored after the last
//! acknowledged one are read back and a copy with the same bytes, if there
//! is one, is taken as its own; and the retry carries
//! `Nats-Expected-Last-Sequence` (only a retry), so that a copy stored late
//! (a proposal the new leader commits after that read) makes the server
//! refuse the retry, and the read is done again. One recorder writes a
//! capture stream. When the stream is full, its oldest messages go
//! (discard old).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use super::api::{Api, JsError, check_name, str_at};
use super::messages::scan_direct;
use super::own_ranges::SeqRanges;
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

/// What reading a capture stream kept and left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureRead {
    /// Lines written out.
    pub lines: u64,
    /// Lines the recorder did not write (another publisher on the capture
    /// subject): skipped.
    pub foreign: u64,
    /// Lines that are not a capture line at all: skipped.
    pub malformed: u64,
    /// Lines after the recorder's last list of its own (written while it
    /// ran, or in its last seconds before it was killed): kept, unconfirmed.
    pub unconfirmed: u64,
    /// The stream has no usable list of the recorder's own lines (an older
    /// capture, or too many foreign lines to list): foreign lines cannot be
    /// told apart.
    pub unverified: bool,
}

impl CaptureRead {
    /// What was left out or is unsure, in words; `None` when all is well.
    pub fn describe(&self) -> Option<String> {
        let mut said = Vec::new();
        if self.foreign > 0 {
            said.push(format!(
                "skipped {} lines the recorder did not write (another publisher on the capture subject)",
                self.foreign
            ));
        }
        if self.malformed > 0 {
            said.push(format!(
                "skipped {} lines that are not capture lines",
                self.malformed
            ));
        }
        if self.unconfirmed > 0 {
            said.push(format!(
                "{} lines after the recorder's last list of its own are kept unconfirmed",
                self.unconfirmed
            ));
        }
        if self.unverified {
            said.push(
                "the stream does not list its recorder's lines: foreign lines cannot be told apart"
                    .into(),
            );
        }
        (!said.is_empty()).then(|| said.join("; "))
    }

    /// Whether a stored message is to be written out; counts it.
    fn keep(&mut self, own: Option<&SeqRanges>, seq: u64, payload: &[u8]) -> bool {
        match own {
            Some(own) if seq <= own.last() && !own.contains(seq) => {
                self.foreign += 1;
                return false;
            }
            Some(own) if seq > own.last() => self.unconfirmed += 1,
            _ => {}
        }
        if serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_err() {
            self.malformed += 1;
            return false;
        }
        self.lines += 1;
        true
    }
}

/// The recorder's list of its own sequences, from the stream's metadata.
fn own_lines(stream: &StreamSummary, read: &mut CaptureRead) -> Option<SeqRanges> {
    let own = str_at(&stream.raw, &["config", "metadata", OWN_KEY]).and_then(SeqRanges::parse);
    read.unverified = own.is_none();
    own
}

/// A page of a capture stream (read by `browse`) as a capture file: the
/// stream's header line, then each stored line the recorder wrote.
pub fn write_capture_page<W: Write>(
    stream: &StreamSummary,
    messages: &[super::StoredMessage],
    out: &mut W,
) -> io::Result<CaptureRead> {
    serde_json::to_writer(&mut *out, &header_of(stream)).map_err(io::Error::other)?;
    out.write_all(b"\n")?;
    let mut read = CaptureRead::default();
    let own = own_lines(stream, &mut read);
    for m in messages {
        if read.keep(own.as_ref(), m.seq, &m.payload) {
            out.write_all(&m.payload)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(read)
}

/// Write a capture stream out as a capture file: its header line, then
/// every stored line the recorder wrote, in stream order; foreign and
/// malformed lines are skipped and counted, never stop the reading.
pub async fn export_capture<W: Write>(
    api: &Api,
    name: &str,
    out: &mut W,
) -> Result<CaptureRead, JsError> {
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
    let mut read = CaptureRead::default();
    let own = own_lines(&info, &mut read);
    let mut failed = None;
    scan_direct(api, name, info.first_seq, info.last_seq, ">", |message| {
        if !read.keep(own.as_ref(), message.seq, &message.payload) {
            return true;
        }
        let written = out
            .write_all(&message.payload)
            .and_then(|()| out.write_all(b"\n"));
        match written {
            Ok(()) => true,
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
    Ok(read)
}

/// How many of the recorder's lines the stream still keeps (its limits
/// discard the oldest), from its list and its first sequence.
pub async fn lines_kept(api: &Api, name: &str) -> Result<Option<u64>, JsError> {
    let info = stream_info(api, name).await?;
    let mut read = CaptureRead::default();
    Ok(own_lines(&info, &mut read).map(|own| own.count_from(info.first_seq.max(1))))
}

/// The lines a recorder has sent to its capture stream and not yet seen
/// come back on its own `>` subscription: its writes are told from another
/// publisher's by their bytes (a keyed hash no one else can steer), never
/// by the subject alone, which anyone in the account may publish on.
#[derive(Default)]
pub struct OwnWrites {
    keys: std::hash::RandomState,
    sent: std::sync::Mutex<std::collections::HashMap<u64, u32>>,
}

impl OwnWrites {
    fn key(&self, line: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        self.keys.hash_one(line)
    }

    fn sent(&self, line: &[u8]) {
        let key = self.key(line);
        if let Ok(mut sent) = self.sent.lock() {
            *sent.entry(key).or_default() += 1;
        }
    }

    /// Whether `payload` is a line this recorder sent (each counted once).
    pub fn take(&self, payload: &[u8]) -> bool {
        let key = self.key(payload);
        let Ok(mut sent) = self.sent.lock() else {
            return false;
        };
        match sent.get_mut(&key) {
            Some(1) => {
                sent.remove(&key);
                true
            }
            Some(n) => {
                *n -= 1;
                true
            }
            None => false,
        }
    }
}

/// The metadata key of the recorder's own sequences, and its value when
/// the list grew too long to keep.
pub const OWN_KEY: &str = "eventscope_own";
const INCOMPLETE: &str = "incomplete";
/// How often the list is written while recording (and at the end).
const RANGES_EVERY: Duration = Duration::from_secs(2);

/// Publishes awaited at most at once.
const IN_FLIGHT: usize = 512;
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
    name: String,
    subject: String,
    line: Vec<u8>,
    header_seen: bool,
    waiting: VecDeque<(Bytes, async_nats::jetstream::context::PublishAckFuture)>,
    /// The highest sequence a line of ours is known to be stored at: a
    /// line whose ack failed can only have been stored after it.
    settled_seq: u64,
    /// Lines the stream acknowledged (what the recording can claim).
    acked: Arc<AtomicU64>,
    /// Lines sent, for the recorder to know its own writes.
    own: Arc<OwnWrites>,
    /// The sequences the stream acknowledged, written to its metadata now
    /// and then (`own_ranges`).
    ranges: SeqRanges,
    ranges_dirty: bool,
    ranges_written: std::time::Instant,
    api: Api,
}

impl StreamSink {
    pub fn new(
        runtime: tokio::runtime::Handle,
        client: async_nats::Client,
        name: &str,
        acked: Arc<AtomicU64>,
        own: Arc<OwnWrites>,
    ) -> Self {
        // The context starts a task of its own on the runtime.
        let js = {
            let _inside = runtime.enter();
            async_nats::jetstream::new(client.clone())
        };
        Self {
            runtime,
            js,
            name: name.to_owned(),
            subject: capture_subject(name),
            line: Vec::new(),
            header_seen: false,
            waiting: VecDeque::new(),
            settled_seq: 0,
            acked,
            own,
            ranges: SeqRanges::default(),
            ranges_dirty: false,
            ranges_written: std::time::Instant::now(),
            api: Api::new(client),
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
                self.own.sent(&line);
                let ack = self
                    .js
                    .publish(self.subject.clone(), line.clone())
                    .await
                    .map_err(cannot_publish)?;
                self.waiting.push_back((line, ack));
            }
            self.write_ranges_when_due().await;
            Ok(())
        })
    }

    /// Write the list of our sequences to the stream's metadata, at most
    /// every `RANGES_EVERY` (a failure is tried again next time).
    async fn write_ranges_when_due(&mut self) {
        if self.ranges_dirty && self.ranges_written.elapsed() >= RANGES_EVERY {
            self.write_ranges().await;
        }
    }

    async fn write_ranges(&mut self) {
        let Ok(info) = stream_info(&self.api, &self.name).await else {
            return;
        };
        let Some(mut config) = info.raw.get("config").cloned() else {
            return;
        };
        let text = self
            .ranges
            .to_text()
            .unwrap_or_else(|| INCOMPLETE.to_owned());
        config["metadata"][OWN_KEY] = text.into();
        let update = format!("STREAM.UPDATE.{}", self.name);
        crate::broker::note_own_event(&format!("$JS.EVENT.ADVISORY.STREAM.UPDATED.{}", self.name));
        if self.api.request(&update, &config).await.is_ok() {
            self.ranges_dirty = false;
            self.ranges_written = std::time::Instant::now();
        }
    }

    /// Await the oldest publish; when its ack fails, settle every line in
    /// flight (`recover`).
    async fn settle_oldest(&mut self) -> io::Result<()> {
        let Some((line, ack)) = self.waiting.pop_front() else {
            return Ok(());
        };
        match ack.await {
            Ok(stored) => {
                self.stored(stored.sequence);
                Ok(())
            }
            // Full storage does not clear by waiting: said at once, with
            // the server's words.
            Err(e) if is_storage_refusal(&e.to_string()) => Err(refused(&e)),
            Err(_) => self.recover(line).await,
        }
    }

    fn stored(&mut self, seq: u64) {
        self.acked.fetch_add(1, Ordering::Relaxed);
        self.settled_seq = self.settled_seq.max(seq);
        self.ranges.insert(seq);
        self.ranges_dirty = true;
    }

    /// A failed ack: `first` and maybe others in flight may or may not be
    /// stored. The other acks are awaited first (the sequences they got
    /// are ours and known); then, in order, each doubtful line is looked
    /// for among the messages stored after the last known one (the same
    /// bytes: lines with the same bytes are the same capture line) and
    /// sent again only if it is not there, expecting the stream as read
    /// (`Nats-Expected-Last-Sequence`): a copy stored late makes the server
    /// refuse the retry, and the stream is read again. For up to
    /// `RETRY_FOR`.
    async fn recover(&mut self, first: Bytes) -> io::Result<()> {
        let started = std::time::Instant::now();
        let mut doubtful = vec![first];
        let mut ours = std::collections::HashSet::new();
        while let Some((line, ack)) = self.waiting.pop_front() {
            match ack.await {
                Ok(stored) => {
                    ours.insert(stored.sequence);
                    self.acked.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => doubtful.push(line),
            }
        }
        let mut read_to = self.settled_seq;
        let mut copies: VecDeque<(u64, Bytes)> = VecDeque::new();
        let mut rounds = 0;
        for line in doubtful {
            loop {
                let why = match self.read_after(read_to, &ours).await {
                    Ok((last, stored)) => {
                        read_to = last;
                        copies.extend(stored);
                        if let Some(i) = copies.iter().position(|(_, c)| *c == line) {
                            if let Some((seq, _)) = copies.remove(i) {
                                ours.insert(seq);
                            }
                            self.acked.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        match self.publish_after(line.clone(), read_to).await?.await {
                            Ok(stored) => {
                                ours.insert(stored.sequence);
                                self.acked.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            Err(e) if is_storage_refusal(&e.to_string()) => {
                                return Err(refused(&e));
                            }
                            Err(e) => e.to_string(),
                        }
                    }
                    Err(e) => e.to_string(),
                };
                if started.elapsed() >= RETRY_FOR {
                    return Err(io::Error::other(format!(
                        "the stream did not store a message for {RETRY_FOR:?}: {why}"
                    )));
                }
                // The first retry goes at once (the stream may be back
                // already); further ones wait a little.
                rounds += 1;
                if rounds > 1 {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
        self.settled_seq = self
            .settled_seq
            .max(read_to)
            .max(ours.iter().copied().max().unwrap_or(0));
        for seq in ours {
            self.ranges.insert(seq);
        }
        self.ranges_dirty = true;
        Ok(())
    }

    /// The stream's messages after `after` that are not `ours`, in order,
    /// and the stream's last sequence when read.
    async fn read_after(
        &self,
        after: u64,
        ours: &std::collections::HashSet<u64>,
    ) -> Result<(u64, Vec<(u64, Bytes)>), ReadBackError> {
        let mut stream = self.js.get_stream(&self.name).await?;
        let last = stream.info().await?.state.last_sequence;
        // Read from the leader (a replica answering a direct get may not
        // have the copy yet), skipping over any gap.
        let mut found = Vec::new();
        let mut seq = after + 1;
        while seq <= last {
            let m = match stream.get_first_raw_message_by_subject(&self.subject, seq).await {
                Ok(m) => m,
                Err(e) if e.kind() == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound => break,
                Err(e) => return Err(e.into()),
            };
            if m.sequence > last {
                break;
            }
            if !ours.contains(&m.sequence) {
                found.push((m.sequence, m.payload));
            }
            seq = m.sequence + 1;
        }
        Ok((last.max(after), found))
    }

    /// Publish `line` again, refused by the server if anything was stored
    /// after `last`.
    async fn publish_after(
        &self,
        line: Bytes,
        last: u64,
    ) -> io::Result<async_nats::jetstream::context::PublishAckFuture> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Expected-Last-Sequence", last.to_string().as_str());
        self.own.sent(&line);
        self.js
            .publish_with_headers(self.subject.clone(), headers, line)
            .await
            .map_err(cannot_publish)
    }
}

/// Why the stream could not be read back after a failed ack.
#[derive(Debug, thiserror::Error)]
enum ReadBackError {
    #[error("cannot look the stream up: {0}")]
    Stream(#[from] async_nats::jetstream::context::GetStreamError),
    #[error("cannot read the stream's state: {0}")]
    State(#[from] async_nats::jetstream::context::RequestError),
    #[error("cannot read a stored line back: {0}")]
    Line(#[from] async_nats::jetstream::stream::LastRawMessageError),
}

/// The server's answer says its storage (or the account's) is spent.
fn is_storage_refusal(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    [
        "insufficient resources",
        "resource limits exceeded",
        "maximum bytes exceeded",
        "maximum messages exceeded",
        "storage",
    ]
    .iter()
    .any(|words| error.contains(words))
}

fn refused(e: &impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("the stream refused to store the capture: {e}"))
}

fn cannot_publish(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("cannot publish to the capture stream: {e}"))
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
            self.write_ranges_when_due().await;
            Ok(())
        })
    }
}

impl Drop for StreamSink {
    /// The last acknowledged lines are listed as ours too.
    fn drop(&mut self) {
        if self.ranges_dirty {
            let runtime = self.runtime.clone();
            runtime.block_on(self.write_ranges());
        }
    }
}

/// Capture streams among the account's streams.
pub fn captures(streams: &[StreamSummary]) -> Vec<&StreamSummary> {
    streams.iter().filter(|s| is_capture(s)).collect()
}
