//! `eventscope record`: the headless twin of live capture. Same broker and
//! capture code as the GUI; records go to a capture file written on a
//! thread of its own so disk stalls never slow the subscriptions.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::broker::{Broker, BrokerEvent, Command, ConnectionProfile, InitialConnect};
use crate::capture::Record;
use crate::capture::file::{CaptureHeader, CaptureWriter, format_timestamp};

pub enum Output {
    Stdout,
    File(PathBuf),
}

pub struct RecordOptions {
    pub profile: ConnectionProfile,
    pub out: Output,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
}

#[derive(Debug)]
pub struct RecordSummary {
    pub messages: u64,
    pub bytes: u64,
    pub dropped: u64,
}

/// How long to wait, after being told to stop, for messages the client had
/// already read to come through.
const STOP_GRACE: Duration = Duration::from_secs(2);

pub fn run(options: RecordOptions) -> anyhow::Result<RecordSummary> {
    let sink: Box<dyn Write + Send> = match &options.out {
        Output::Stdout => Box::new(io::stdout()),
        Output::File(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
    };
    let header = CaptureHeader::new(options.profile.server_list());
    let writer = CaptureWriter::new(BufWriter::with_capacity(1 << 20, sink), &header)
        .context("cannot write the capture header")?;
    let connection_name = options.profile.name.clone();
    let (tx, rx) = sync_channel::<Vec<Record>>(256);
    let writer_thread = std::thread::Builder::new()
        .name("eventscope-writer".into())
        .spawn(move || write_all(writer, &connection_name, rx))
        .context("cannot start the writer thread")?;

    let (mut broker, mut events) = Broker::new(Arc::new(|| {}))?;
    let shared = broker.connect(0, options.profile.clone(), InitialConnect::FailFast);
    let outcome = broker.block_on(async {
        shared.connected().await.map_err(anyhow::Error::msg)?;
        let status = shared.status();
        let server = status
            .server
            .map(|s| format!(" ({} {})", s.name, s.version))
            .unwrap_or_default();
        let patterns: Vec<&str> = options
            .profile
            .subscriptions
            .iter()
            .map(|s| s.pattern.as_str())
            .collect();
        eprintln!(
            "eventscope: recording {} from {}{server}; Ctrl-C to stop",
            patterns.join(" "),
            options.profile.servers
        );
        let mut remaining = options.count;
        let deadline = options.duration.map(|d| tokio::time::Instant::now() + d);
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        let mut messages: u64 = 0;
        let mut stop_reason = "stopped";
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => {
                        if forward(event, &tx, &mut remaining, &mut messages) {
                            stop_reason = "count reached";
                            break;
                        }
                    }
                    None => break,
                },
                _ = sleep_until(deadline) => { stop_reason = "duration reached"; break; }
                _ = tokio::signal::ctrl_c() => { stop_reason = "interrupted"; break; }
                _ = sigterm.recv() => { stop_reason = "terminated"; break; }
            }
        }
        if remaining != Some(0) {
            // Everything the client already read is written too.
            let target = shared.in_messages();
            let grace = Instant::now() + STOP_GRACE;
            while shared.delivered() < target && Instant::now() < grace {
                match tokio::time::timeout(Duration::from_millis(50), events.recv()).await {
                    Ok(Some(event)) => {
                        if forward(event, &tx, &mut remaining, &mut messages) {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
            while let Ok(event) = events.try_recv() {
                if forward(event, &tx, &mut remaining, &mut messages) {
                    break;
                }
            }
        }
        let _ = broker.send(0, Command::Close);
        eprintln!("eventscope: {stop_reason}");
        anyhow::Ok(())
    });
    shared.settle_drops();
    let dropped = shared.dropped();
    drop(broker);
    drop(tx);
    let written = writer_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?
        .context("writing the capture failed")?;
    outcome?;
    Ok(RecordSummary {
        messages: written.0,
        bytes: written.1,
        dropped,
    })
}

/// Hand an event's records to the writer; true once the count is reached.
fn forward(
    event: BrokerEvent,
    tx: &SyncSender<Vec<Record>>,
    remaining: &mut Option<u64>,
    messages: &mut u64,
) -> bool {
    match event {
        BrokerEvent::Batch(mut batch) => {
            if let Some(left) = remaining {
                batch
                    .records
                    .truncate(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= batch.records.len() as u64;
            }
            *messages += batch.records.len() as u64;
            // The writer thread is the only receiver; if it died, the error
            // surfaces when it is joined.
            let _ = tx.send(batch.records);
            *remaining == Some(0)
        }
        BrokerEvent::Link { up, at, .. } => {
            let when = format_timestamp(at);
            if up {
                eprintln!("eventscope: connected at {when}");
            } else {
                eprintln!(
                    "eventscope: disconnected at {when}; reconnecting (messages sent meanwhile are not seen)"
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

fn write_all(
    mut writer: CaptureWriter<BufWriter<Box<dyn Write + Send>>>,
    connection: &str,
    rx: Receiver<Vec<Record>>,
) -> io::Result<(u64, u64)> {
    let mut bytes = 0;
    for batch in rx {
        for record in &batch {
            bytes += record.wire_size() as u64;
            writer.write(record, connection)?;
        }
    }
    writer.flush()?;
    Ok((writer.written(), bytes))
}
