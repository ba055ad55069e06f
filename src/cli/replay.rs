//! `eventscope replay`: the headless twin of the replay panel. Reads a
//! capture, connects (no subscriptions), and runs the same replay job as
//! the GUI, with a progress line and a summary.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use super::Complete;
use super::ConnectArgs;
use crate::broker::JobProgress;
use crate::broker::{Broker, Command, InitialConnect};
use crate::capture::SubjectPattern;
use crate::capture::file::read_all;
use crate::outgoing::Remap;
use crate::outgoing::{MAX_SPEED, MIN_SPEED, ReplayOptions, Timing, preview};
use crate::session::replay_job;
use clap::Args;
use std::path::PathBuf;

pub fn replay_command(mut args: ReplayArgs) -> ExitCode {
    // A capture kept in a stream is read as the file it exports to.
    let _exported = match &args.from_stream {
        Some(name) => match super::jetstream::capture_from_stream("replay", name, &args.connect) {
            Ok(file) => {
                args.capture = Some(file.path().to_owned());
                Some(file)
            }
            Err(code) => return code,
        },
        None => None,
    };
    match run(&args) {
        Ok(Complete::Yes) => ExitCode::SUCCESS,
        // What came before the bad line was replayed (or listed); the exit
        // says it was not the whole file.
        Ok(Complete::SkippedBadLines) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("eventscope replay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn options(args: &ReplayArgs) -> anyhow::Result<ReplayOptions> {
    let timing = match (args.speed, args.rate, args.max) {
        (_, _, true) => Timing::Max,
        (_, Some(rate), _) if rate > 0.0 => Timing::Rate { per_second: rate },
        (_, Some(_), _) => bail!("--rate must be above 0"),
        (Some(speed), _, _) if (MIN_SPEED..=MAX_SPEED).contains(&speed) => {
            Timing::Original { speed }
        }
        (Some(_), _, _) => bail!("--speed must be between {MIN_SPEED} and {MAX_SPEED}"),
        _ => Timing::Original { speed: 1.0 },
    };
    let remaps = args
        .remap
        .iter()
        .map(|r| Remap::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReplayOptions {
        remaps,
        timing,
        keep_msg_id: args.keep_msg_id,
        keep_headers: !args.no_headers,
        mark: !args.no_replay_header,
        include_machinery: args.include_machinery,
    })
}

fn run(args: &ReplayArgs) -> anyhow::Result<Complete> {
    let options = options(args)?;
    let subject = args
        .subject
        .as_deref()
        .map(SubjectPattern::parse)
        .transpose()?;
    let mut skipped = 0;
    let capture = args
        .capture
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("give a capture file or --from-stream NAME"))?;
    let read = read_all(capture, |r| {
        let chosen = subject.as_ref().is_none_or(|p| p.matches(r.subject()));
        let sent = options.replays(r);
        skipped += usize::from(chosen && !sent);
        chosen && sent
    })
    .with_context(|| capture.display().to_string())?;
    if skipped > 0 {
        eprintln!(
            "eventscope replay: skipping {skipped} JetStream API calls, acks, deliveries, inbox replies, \
             advisories and $SYS messages (--include-machinery sends them too)"
        );
    }
    let complete = match read.skipped.clone() {
        None => Complete::Yes,
        Some(skipped) => {
            eprintln!(
                "eventscope replay: {skipped}; using the other {} records",
                read.records.len()
            );
            Complete::SkippedBadLines
        }
    };
    let records = read.records;
    if records.is_empty() {
        bail!("nothing to replay in {}", capture.display());
    }
    if args.dry_run {
        for (from, to) in preview(&records, &options, 20) {
            println!("{from} -> {to}");
        }
        eprintln!("{} records would be replayed", records.len());
        return Ok(complete);
    }
    let mut profile = args
        .connect
        .to_profile(&[])
        .map_err(anyhow::Error::msg)?
        .context("give --server URL (or --context NAME)")?;
    profile.subscriptions.clear();
    let total = records.len() as u64;
    let (mut broker, _events) = Broker::new(Arc::new(|| {}))?;
    let shared = broker.connect(0, profile.clone(), InitialConnect::FailFast);
    broker.block_on(async {
        shared.connected().await.map_err(anyhow::Error::msg)?;
        eprintln!(
            "eventscope: replaying {total} messages to {} ({:?})",
            profile.servers, options.timing
        );
        let progress = JobProgress::new(total);
        broker
            .send(
                0,
                Command::Job {
                    job: replay_job(records, options),
                    progress: progress.clone(),
                },
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        while !progress.is_finished() {
            tokio::select! {
                _ = tick.tick() => print_progress(&progress),
                _ = tokio::signal::ctrl_c() => progress.cancel(),
                _ = sigterm.recv() => progress.cancel(),
            }
        }
        print_progress(&progress);
        eprintln!();
        let elapsed = progress.elapsed().as_secs_f64();
        eprintln!(
            "eventscope: {}: sent {}, failed {}, of {total} in {elapsed:.2} s ({:.0} msg/s)",
            if progress.is_cancelled() {
                "cancelled"
            } else {
                "done"
            },
            progress.sent(),
            progress.failed(),
            progress.sent() as f64 / elapsed.max(1e-9)
        );
        if let Some(e) = progress.last_error() {
            eprintln!("eventscope: last error: {e}");
        }
        anyhow::Ok(())
    })?;
    broker.disconnect(0);
    Ok(complete)
}

fn print_progress(progress: &JobProgress) {
    let total = progress.total().max(1);
    let sent = progress.sent();
    eprint!(
        "\r{sent}/{total} sent ({:.0}%), {} failed",
        sent as f64 * 100.0 / total as f64,
        progress.failed()
    );
    let _ = std::io::stderr().flush();
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A capture file written by `eventscope record` or the app.
    #[arg(required_unless_present = "from_stream")]
    pub capture: Option<PathBuf>,

    /// Replay a capture kept in this stream (`record --to-stream`).
    #[arg(long, value_name = "NAME", conflicts_with = "capture")]
    pub from_stream: Option<String>,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Original timing, this many times faster (0.1 to 100).
    #[arg(long, value_name = "X", conflicts_with_all = ["rate", "max"])]
    pub speed: Option<f64>,

    /// A fixed rate, messages per second.
    #[arg(long, value_name = "N", conflicts_with = "max")]
    pub rate: Option<f64>,

    /// As fast as possible.
    #[arg(long)]
    pub max: bool,

    /// Send subjects matching FROM to TO (token wildcards carry over),
    /// e.g. `orders.>=replay.orders.>`. Repeatable; first match wins.
    #[arg(long, value_name = "FROM=TO")]
    pub remap: Vec<String>,

    /// Keep `Nats-Msg-Id` (JetStream then deduplicates within its window).
    #[arg(long)]
    pub keep_msg_id: bool,

    /// Drop all other headers too.
    #[arg(long)]
    pub no_headers: bool,

    /// Do not add the `Eventscope-Replay` header.
    #[arg(long)]
    pub no_replay_header: bool,

    /// Also send JetStream API calls, acks, deliveries, inbox replies,
    /// advisories and `$SYS` messages (skipped by default: sent again they
    /// act on the live system).
    #[arg(long)]
    pub include_machinery: bool,

    /// Only replay records whose subject matches this pattern.
    #[arg(long, value_name = "PATTERN")]
    pub subject: Option<String>,

    /// Print the first subjects after remapping and exit without sending.
    #[arg(long)]
    pub dry_run: bool,
}
