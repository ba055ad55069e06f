//! `eventscope record`: the headless twin of live capture. Same broker and
//! capture code as the GUI; records go to a capture file written on a
//! thread of its own so disk stalls never slow the subscriptions.
//!
//! Durable and honest: the file is flushed at least once a second and
//! synced to disk every few seconds, so a dropped SSH session, SIGKILL or a
//! crash loses about a second; SIGHUP, SIGQUIT, SIGTERM and Ctrl-C end it
//! cleanly; a write error (full disk, closed pipe) stops it at once with a
//! summary and a non-zero exit. What waits for the disk is bounded in bytes
//! by the network side's in-flight allowance (batches carry their share of
//! it to the writer); past it, messages are dropped and counted.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

mod args;
use crate::broker::{
    Batch, Broker, BrokerEvent, Command, ConnectionProfile, InitialConnect, Losses,
};
use crate::capture::file::{CaptureHeader, CaptureWriter, create_private, format_timestamp};
pub use args::RecordArgs;

mod own;
mod watch;

use own::OwnTraffic;
use watch::{ServerSaid, WATCH_EVERY, nothing_more};

pub enum Output {
    Stdout,
    File(PathBuf),
    /// A JetStream stream of its own (`--to-stream`).
    Stream(crate::jetstream::CaptureStreamSettings),
}

pub struct RecordOptions {
    pub profile: ConnectionProfile,
    pub out: Output,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
}

#[derive(Debug)]
pub struct RecordSummary {
    /// Messages written to the capture.
    pub messages: u64,
    pub bytes: u64,
    /// Everything that was missed, by cause.
    pub losses: Losses,
    /// Why recording ended.
    pub stop_reason: String,
    /// The write error that ended it, if one did: the exit is non-zero.
    pub write_error: Option<String>,
    /// With `--to-stream`: its own writes and acks seen on the subscription
    /// and left out.
    pub own_skipped: u64,
    /// Why nothing (more) could be recorded: the server refused the
    /// credentials or every subscription, no server took the connection, or
    /// it was stopped before the link came up. The exit is non-zero.
    pub refused: Option<String>,
    /// With `--to-stream`: how many of the recorded lines the stream still
    /// keeps (its limits discard the oldest), when it could be asked.
    pub kept_in_stream: Option<u64>,
    /// Messages read from the server (own reads included).
    pub read: u64,
}

/// How long to wait, after being told to stop, for messages already read
/// to come through.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// The capture reaches the file (the kernel) at least this often.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// And the disk at least this often (`fsync`; a regular file only).
pub const SYNC_EVERY: Duration = Duration::from_secs(5);

pub fn run(options: RecordOptions) -> anyhow::Result<RecordSummary> {
    let mut profile = options.profile;
    profile.take_url_credentials();
    let header = CaptureHeader::new(profile.server_list());
    // With --to-stream: a runtime and client of the writer's own, and the
    // count of what the stream acknowledged (what the summary may claim).
    let mut stream_parts = None;
    let (sink, file): (Box<dyn Write + Send>, Option<File>) = match &options.out {
        Output::Stdout => (Box::new(io::stdout()), None),
        Output::File(path) => {
            let file = create_private(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let sync = file.try_clone().ok();
            (Box::new(file), sync)
        }
        Output::Stream(settings) => {
            let (sink, parts) = open_stream_sink(&profile, settings, &header)?;
            stream_parts = Some(parts);
            (Box::new(sink), None)
        }
    };
    let mut writer = CaptureWriter::new(BufWriter::with_capacity(1 << 20, sink), &header)
        .context("cannot write the capture header")?;
    writer.flush().context("cannot write the capture header")?;
    let connection_name = profile.name.clone();
    // Each line says its broker (absent: NATS).
    writer.note_broker(&connection_name, profile.broker().unwrap_or_default());
    let own = stream_parts.as_ref().map(|p: &StreamParts| OwnTraffic {
        subject: p.subject.clone(),
        inbox_prefix: p.inbox_prefix.clone(),
        stream: p.stream.clone(),
        writes: p.writes.clone(),
        skipped: 0,
    });
    // Unbounded in count, bounded in bytes: every batch holds its share of
    // the in-flight allowance until the writer has written it.
    let (tx, rx) = channel::<Batch>();
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<String>();
    let writer_thread = std::thread::Builder::new()
        .name("eventscope-writer".into())
        .spawn(move || {
            let result = write_all(writer, file, &connection_name, rx, own);
            if let Err(e) = &result {
                let _ = failed_tx.send(e.error.to_string());
            }
            result
        })
        .context("cannot start the writer thread")?;

    let (mut broker, mut events) = Broker::new(Arc::new(|| {}))?;
    let shared = broker.connect(0, profile.clone(), InitialConnect::FailFast);
    let mut refused = None;
    let mut said = ServerSaid::default();
    let outcome = broker.block_on(async {
        let mut signals = Signals::new()?;
        // --duration counts from the start, connecting included.
        let deadline = options.duration.map(|d| tokio::time::Instant::now() + d);
        let mut watch = tokio::time::interval(WATCH_EVERY);
        let before = loop {
            tokio::select! {
                connected = shared.connected() => {
                    connected.map_err(anyhow::Error::msg)?;
                    break None;
                }
                name = signals.recv() => break Some(format!("{name} before connecting")),
                _ = sleep_until(deadline) => break Some("duration reached before connecting".to_owned()),
                _ = watch.tick() => said.print_new(&shared),
            }
        };
        if let Some(stop) = before {
            refused = Some(format!("{stop}: {}", shared.state().label()));
            let _ = broker.send(0, Command::Close);
            return Ok(stop);
        }
        let status = shared.status();
        let server = status
            .server
            .map(|s| format!(" ({} {})", s.name, s.version))
            .unwrap_or_default();
        let patterns: Vec<&str> = profile
            .subscriptions
            .iter()
            .map(|s| s.pattern.as_str())
            .collect();
        eprintln!(
            "eventscope: recording {} from {}{server}; Ctrl-C to stop",
            patterns.join(" "),
            profile.servers
        );
        let mut remaining = options.count;
        let mut failed = std::pin::pin!(failed_rx);
        let mut stop_reason = "stopped".to_owned();
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => {
                        if forward(event, &tx, &mut remaining) {
                            stop_reason = "count reached".into();
                            break;
                        }
                    }
                    None => break,
                },
                _ = sleep_until(deadline) => { stop_reason = "duration reached".into(); break; }
                name = signals.recv() => { stop_reason = name.to_owned(); break; }
                _ = watch.tick() => {
                    said.print_new(&shared);
                    if let Some(reason) = nothing_more(&shared) {
                        stop_reason = "the server refused".into();
                        refused = Some(reason);
                        break;
                    }
                }
                error = &mut failed => {
                    stop_reason = format!("the capture could not be written ({})", error.unwrap_or_default());
                    let _ = broker.send(0, Command::Close);
                    return Ok(stop_reason);
                }
            }
        }
        if remaining != Some(0) {
            // Everything already read is written too.
            let grace = Instant::now() + STOP_GRACE;
            while shared.in_flight() > 0 && Instant::now() < grace {
                match tokio::time::timeout(Duration::from_millis(50), events.recv()).await {
                    Ok(Some(event)) => {
                        if forward(event, &tx, &mut remaining) {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
            while let Ok(event) = events.try_recv() {
                if forward(event, &tx, &mut remaining) {
                    break;
                }
            }
        }
        let _ = broker.send(0, Command::Close);
        anyhow::Ok(stop_reason)
    });
    let losses = shared.losses();
    let read = shared.in_messages();
    drop(broker);
    drop(tx);
    let written = writer_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    let stop_reason = outcome?;
    let (mut messages, bytes, write_error, own_skipped) = match written {
        Ok((messages, bytes, own)) => (messages, bytes, None, own),
        Err(failure) => (
            failure.written,
            failure.bytes,
            Some(failure.error.to_string()),
            failure.own_skipped,
        ),
    };
    let mut kept_in_stream = None;
    if let Some(parts) = stream_parts {
        // Only what the stream acknowledged is recorded.
        messages = parts.acked.load(std::sync::atomic::Ordering::Relaxed);
        kept_in_stream = parts
            .runtime
            .block_on(crate::jetstream::lines_kept(&parts.api, &parts.stream))
            .ok()
            .flatten();
        drop(parts.runtime);
    }
    Ok(RecordSummary {
        messages,
        bytes,
        losses,
        stop_reason,
        write_error,
        own_skipped,
        refused,
        kept_in_stream,
        read,
    })
}

/// The signals that end a recording cleanly: a dropped SSH session (HUP),
/// Ctrl-C, Ctrl-\ (QUIT), and a service manager's TERM.
struct Signals {
    hangup: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        let listen = |kind| signal(kind).context("cannot listen for signals");
        Ok(Self {
            hangup: listen(SignalKind::hangup())?,
            interrupt: listen(SignalKind::interrupt())?,
            quit: listen(SignalKind::quit())?,
            terminate: listen(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.hangup.recv() => "hung up (SIGHUP)",
            _ = self.interrupt.recv() => "interrupted",
            _ = self.quit.recv() => "quit (SIGQUIT)",
            _ = self.terminate.recv() => "terminated",
        }
    }
}

/// Hand an event's records to the writer; true once the count is reached.
fn forward(event: BrokerEvent, tx: &Sender<Batch>, remaining: &mut Option<u64>) -> bool {
    match event {
        BrokerEvent::Batch(mut batch) => {
            if let Some(left) = remaining {
                batch
                    .records
                    .truncate(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= batch.records.len() as u64;
            }
            // The writer thread is the only receiver; if it died, its error
            // has been or will be reported.
            let _ = tx.send(batch);
            *remaining == Some(0)
        }
        BrokerEvent::Link { up, at, reason, .. } => {
            let when = format_timestamp(at);
            if up {
                eprintln!("eventscope: connected at {when}");
            } else {
                let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
                eprintln!(
                    "eventscope: disconnected at {when}{why}; reconnecting (messages sent meanwhile are not seen)"
                );
            }
            false
        }
        BrokerEvent::ConfirmLiteral { spec, consumer, .. } => {
            eprintln!(
                "eventscope: not subscribing to '{}': it is the deliver subject of push consumer {consumer}, \
                 and a literal subscription would take its messages. Use a wildcard pattern instead.",
                spec.pattern
            );
            false
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What `--to-stream` keeps alive while recording.
struct StreamParts {
    runtime: tokio::runtime::Runtime,
    subject: String,
    inbox_prefix: String,
    stream: String,
    writes: Arc<crate::jetstream::OwnWrites>,
    acked: Arc<std::sync::atomic::AtomicU64>,
    api: crate::jetstream::Api,
}

/// Connect the writer's own client (replies under an inbox prefix of its
/// own), create the capture stream, and make the sink.
fn open_stream_sink(
    profile: &ConnectionProfile,
    settings: &crate::jetstream::CaptureStreamSettings,
    header: &CaptureHeader,
) -> anyhow::Result<(crate::jetstream::StreamSink, StreamParts)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("eventscope-stream")
        .enable_all()
        .build()
        .context("cannot start the stream writer's runtime")?;
    let inbox_prefix = format!("_INBOX.{}", crate::broker::own_token());
    let client = runtime
        .block_on(crate::broker::open_client_with_inbox(
            profile,
            &inbox_prefix,
        ))
        .map_err(anyhow::Error::msg)?;
    let api = crate::jetstream::Api::new(client.clone());
    let stream = runtime
        .block_on(crate::jetstream::create_capture_stream(
            &api, settings, header,
        ))
        .with_context(|| format!("cannot create the capture stream {}", settings.name))?;
    eprintln!(
        "eventscope: recording into stream {} (R{}, subject {}); when it is full, its oldest messages are dropped",
        stream.name,
        stream.replicas,
        crate::jetstream::capture_subject(&settings.name)
    );
    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writes = Arc::new(crate::jetstream::OwnWrites::default());
    let sink = crate::jetstream::StreamSink::new(
        runtime.handle().clone(),
        client,
        &settings.name,
        acked.clone(),
        writes.clone(),
    );
    Ok((
        sink,
        StreamParts {
            runtime,
            subject: crate::jetstream::capture_subject(&settings.name),
            inbox_prefix,
            stream: settings.name.clone(),
            writes,
            acked,
            api,
        },
    ))
}

/// A write that failed, with what had been written before it.
struct WriteFailure {
    error: io::Error,
    written: u64,
    bytes: u64,
    own_skipped: u64,
}

fn write_all(
    mut writer: CaptureWriter<BufWriter<Box<dyn Write + Send>>>,
    file: Option<File>,
    connection: &str,
    rx: Receiver<Batch>,
    mut own: Option<OwnTraffic>,
) -> Result<(u64, u64, u64), WriteFailure> {
    let mut bytes = 0;
    // What surely reached the file (the kernel): records and bytes as of
    // the last flush that succeeded. A failed write counts only those.
    let mut durable = (0, 0);
    let mut flushed = Instant::now();
    let mut synced = Instant::now();
    let mut dirty = false;
    let fail = |error: io::Error, durable: (u64, u64), own: &Option<OwnTraffic>| WriteFailure {
        error,
        written: durable.0,
        bytes: durable.1,
        own_skipped: own.as_ref().map_or(0, |o| o.skipped),
    };
    loop {
        match rx.recv_timeout(FLUSH_EVERY) {
            Ok(batch) => {
                for record in &batch.records {
                    if own.as_mut().is_some_and(|o| o.is_own(record)) {
                        continue;
                    }
                    if let Err(e) = writer.write(record, connection) {
                        return Err(fail(e, durable, &own));
                    }
                    bytes += record.wire_size() as u64;
                }
                dirty = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if dirty && flushed.elapsed() >= FLUSH_EVERY {
            if let Err(e) = writer.flush() {
                return Err(fail(e, durable, &own));
            }
            durable = (writer.written(), bytes);
            flushed = Instant::now();
            dirty = false;
            if let Some(file) = &file
                && synced.elapsed() >= SYNC_EVERY
            {
                if let Err(e) = file.sync_data() {
                    return Err(fail(e, durable, &own));
                }
                synced = Instant::now();
            }
        }
    }
    if let Err(e) = writer.flush() {
        return Err(fail(e, durable, &own));
    }
    if let Some(file) = &file {
        let _ = file.sync_data();
    }
    Ok((writer.written(), bytes, own.map_or(0, |o| o.skipped)))
}

pub fn record_command(args: RecordArgs) -> ExitCode {
    let read_from = match args.read_from() {
        Ok(from) => from,
        Err(e) => {
            eprintln!("eventscope record: {e}");
            return ExitCode::from(2);
        }
    };
    let mut profile = match args.connect.to_profile(&args.subjects) {
        Ok(Some(profile)) => profile,
        Ok(None) => {
            eprintln!("eventscope record: give --server URL (or --context NAME)");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("eventscope record: {e}");
            return ExitCode::from(2);
        }
    };
    if !read_from.is_end() {
        if profile.broker().ok() != Some(crate::capture::BrokerKind::Kafka) {
            eprintln!(
                "eventscope record: --since, --offset and --from-beginning read a Kafka log; other brokers deliver only what comes next (for a JetStream stream, use `eventscope browse`)"
            );
            return ExitCode::from(2);
        }
        for spec in &mut profile.subscriptions {
            spec.read_from = read_from;
        }
    }
    let out = match (&args.to_stream, args.out) {
        (Some(name), _) => {
            let settings = (|| -> Result<_, crate::jetstream::UnitError> {
                Ok(crate::jetstream::CaptureStreamSettings {
                    name: name.clone(),
                    replicas: args.replicas,
                    max_age: crate::jetstream::parse_duration(&args.max_age)?,
                    max_bytes: match args.max_bytes.as_deref() {
                        Some(b) => crate::jetstream::parse_bytes(b)?,
                        None => 0,
                    },
                })
            })();
            match settings {
                Ok(s) => Output::Stream(s),
                Err(e) => {
                    eprintln!("eventscope record: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        (None, Some(path)) if path.as_os_str() == "-" => Output::Stdout,
        (None, Some(path)) => Output::File(path),
        (None, None) => Output::File(
            format!(
                "eventscope-{}.jsonl",
                chrono::Utc::now().format("%Y%m%d-%H%M%S")
            )
            .into(),
        ),
    };
    let out_name = match &out {
        Output::Stdout => "standard output".to_owned(),
        Output::File(p) => p.display().to_string(),
        Output::Stream(s) => format!("stream {}", s.name),
    };
    let duration = match args.duration.map(Duration::try_from_secs_f64) {
        Some(Err(_)) => {
            eprintln!("eventscope record: --duration must be a positive number of seconds");
            return ExitCode::from(2);
        }
        other => other.and_then(Result::ok),
    };
    let options = RecordOptions {
        profile,
        out,
        duration,
        count: args.count,
    };
    match run(options) {
        Ok(summary) => {
            eprintln!("eventscope: {}", summary.stop_reason);
            eprintln!(
                "eventscope: recorded {} messages ({} bytes) to {out_name}; {}",
                summary.messages,
                summary.bytes,
                summary.losses.summary()
            );
            if let Some(kept) = summary.kept_in_stream
                && kept < summary.messages
            {
                eprintln!(
                    "eventscope: the stream keeps {kept} of them: its limits (--max-age, --max-bytes) discarded the oldest {}",
                    summary.messages - kept
                );
            }
            if summary.own_skipped > 0 {
                eprintln!(
                    "eventscope: left out {} of its own writes to the stream and their acks",
                    summary.own_skipped
                );
            }
            if let Some(reason) = &summary.refused {
                eprintln!("eventscope record: nothing more could be recorded: {reason}");
            }
            match summary.write_error {
                None if summary.refused.is_none() => ExitCode::SUCCESS,
                None => ExitCode::FAILURE,
                Some(error) => {
                    eprintln!("eventscope record: writing {out_name} failed: {error}");
                    let accounted = summary.messages
                        + summary.losses.dropped
                        + summary.losses.own_skipped
                        + summary.own_skipped;
                    let unrecorded = summary.read.saturating_sub(accounted);
                    if unrecorded > 0 {
                        eprintln!(
                            "eventscope record: {unrecorded} messages read from the server were not recorded"
                        );
                    }
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("eventscope record: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests;
