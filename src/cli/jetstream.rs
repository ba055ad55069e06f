//! `streams`, `consumers`, `browse`, `lag` and `recorder`: the JetStream
//! views without a window, on the same code as the GUI.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::ConnectArgs;
use super::connected::{exit, with_api};
use crate::capture::file::{CaptureHeader, CaptureWriter, create_private, parse_timestamp};
use crate::capture::now_timestamp;
use crate::jetstream::{
    Access, LagHistory, PageRequest, RecorderSettings, Start, list_consumers, list_streams,
    parse_bytes, parse_duration, poll_lag, stream_info,
};

#[derive(Debug, Args)]
pub struct StreamsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// One JSON object per stream, one per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConsumersArgs {
    pub stream: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// One JSON object per consumer, one per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BrowseArgs {
    pub stream: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Start at this sequence (default: the first).
    #[arg(long, value_name = "N", conflicts_with_all = ["since", "at", "last_per_subject"])]
    pub seq: Option<u64>,
    /// Start at the first message stored this long ago (`15m`, `1h`, `24h`).
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["at", "last_per_subject"])]
    pub since: Option<String>,
    /// Start at the first message stored at or after this RFC 3339 time.
    #[arg(long, value_name = "RFC3339", conflicts_with = "last_per_subject")]
    pub at: Option<String>,
    /// The last message of each subject (matching --subject).
    #[arg(long)]
    pub last_per_subject: bool,
    /// Only messages on subjects matching this pattern.
    #[arg(long, value_name = "PATTERN")]
    pub subject: Option<String>,
    /// At most this many messages.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub count: usize,
    /// Capture file to write; `-` is standard output.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "-")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct LagArgs {
    pub stream: String,
    pub consumer: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Seconds between polls.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub every: f64,
    /// Stop after this many seconds (default: one poll).
    #[arg(long = "for", value_name = "SECS")]
    pub for_secs: Option<f64>,
    /// One JSON object per poll, one per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RecorderArgs {
    #[command(subcommand)]
    pub action: RecorderAction,
}

#[derive(Debug, Subcommand)]
pub enum RecorderAction {
    /// Create the recorder stream (this changes what the server holds).
    Start(RecorderStartArgs),
    /// What the recorder holds.
    Status(RecorderNameArgs),
    /// Delete the recorder and what it recorded.
    Stop(RecorderNameArgs),
}

/// `--name` is the recorder's here; the connection's name moves to
/// `--connection-name`.
#[derive(Debug, Args)]
#[command(mut_arg("name", |a| a.long("connection-name")))]
pub struct RecorderNameArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The recorder stream's name.
    #[arg(
        long = "name",
        id = "recorder_name",
        value_name = "NAME",
        default_value = crate::jetstream::DEFAULT_RECORDER
    )]
    pub name: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RecorderStartArgs {
    #[command(flatten)]
    pub common: RecorderNameArgs,
    /// Answers older than this are dropped.
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub max_age: String,
    /// The recorder never holds more than this.
    #[arg(long, value_name = "BYTES", default_value = "1GiB")]
    pub max_bytes: String,
    /// Copies kept in a cluster (at most the number of servers).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub replicas: u64,
}

pub fn streams_command(args: StreamsArgs) -> ExitCode {
    exit(with_api("streams", &args.connect, async |api| {
        let streams = list_streams(&api).await?;
        let mut out = std::io::stdout().lock();
        if args.json {
            for s in &streams {
                serde_json::to_writer(&mut out, s)?;
                writeln!(out)?;
            }
        } else {
            writeln!(
                out,
                "{:<24} {:>10} {:>12} {:>10} {:>10} {:>9} {:<10} {:<6} {:>3}  subjects",
                "stream",
                "messages",
                "bytes",
                "first",
                "last",
                "consumers",
                "retention",
                "store",
                "R"
            )?;
            for s in &streams {
                writeln!(
                    out,
                    "{:<24} {:>10} {:>12} {:>10} {:>10} {:>9} {:<10} {:<6} {:>3}  {}",
                    s.name,
                    s.messages,
                    s.bytes,
                    s.first_seq,
                    s.last_seq,
                    s.consumers,
                    s.retention,
                    s.storage,
                    s.replicas,
                    s.subjects.join(",")
                )?;
            }
        }
        Ok(())
    }))
}

pub fn consumers_command(args: ConsumersArgs) -> ExitCode {
    exit(with_api("consumers", &args.connect, async |api| {
        let consumers = list_consumers(&api, &args.stream).await?;
        let mut out = std::io::stdout().lock();
        if args.json {
            for c in &consumers {
                serde_json::to_writer(&mut out, c)?;
                writeln!(out)?;
            }
        } else {
            writeln!(
                out,
                "{:<24} {:>10} {:>11} {:>11} {:>8} {:>10} {:>10}",
                "consumer",
                "pending",
                "ack pending",
                "redelivered",
                "waiting",
                "ack floor",
                "delivered"
            )?;
            for c in &consumers {
                writeln!(
                    out,
                    "{:<24} {:>10} {:>11} {:>11} {:>8} {:>10} {:>10}",
                    c.name,
                    c.num_pending,
                    c.num_ack_pending,
                    c.num_redelivered,
                    c.num_waiting,
                    c.ack_floor_stream_seq,
                    c.delivered_stream_seq
                )?;
            }
        }
        Ok(())
    }))
}

pub fn browse_command(args: BrowseArgs) -> ExitCode {
    let start = match browse_start(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("eventscope browse: {e}");
            return ExitCode::from(2);
        }
    };
    let servers: Vec<String> = match args.connect.to_profile(&[]) {
        Ok(Some(p)) => p
            .server_list()
            .iter()
            .map(|s| crate::broker::redact_url(s))
            .collect(),
        _ => Vec::new(),
    };
    exit(with_api("browse", &args.connect, async |api| {
        let info = stream_info(&api, &args.stream).await?;
        let access = Access::of(info.allow_direct);
        let page = crate::jetstream::fetch_page(
            &api,
            &args.stream,
            access,
            &PageRequest {
                start,
                subject: args.subject.clone(),
                count: args.count,
                max_bytes: crate::jetstream::MAX_PAGE_BYTES,
            },
        )
        .await?;
        let header = CaptureHeader::new(servers.clone());
        let connection = format!("stream {}", args.stream);
        let sink: Box<dyn Write> = if args.out.as_os_str() == "-" {
            Box::new(std::io::stdout().lock())
        } else {
            Box::new(create_private(&args.out)?)
        };
        if crate::jetstream::is_capture(&info) {
            // A capture recorded into this stream: its own lines, as the
            // capture file `record` would have written.
            let read = crate::jetstream::write_capture_page(
                &info,
                &page.messages,
                &mut std::io::BufWriter::new(sink),
            )?;
            eprintln!(
                "eventscope browse: {} captured messages of capture stream {}{}",
                read.lines,
                args.stream,
                if page.more { "; more follow" } else { "" }
            );
            if let Some(left_out) = read.describe() {
                eprintln!("eventscope browse: {left_out}");
            }
            return Ok(());
        }
        let mut writer = CaptureWriter::new(std::io::BufWriter::new(sink), &header)?;
        for m in &page.messages {
            writer.write_stored(&m.to_record(0), &connection, &m.stream, m.seq)?;
        }
        writer.flush()?;
        eprintln!(
            "eventscope browse: {} messages of {} read by {}{}",
            page.messages.len(),
            args.stream,
            access.label(),
            if page.more { "; more follow" } else { "" }
        );
        Ok(())
    }))
}

fn browse_start(args: &BrowseArgs) -> Result<Start, String> {
    if args.last_per_subject {
        return Ok(Start::LastPerSubject(
            args.subject.clone().unwrap_or_else(|| ">".into()),
        ));
    }
    if let Some(since) = &args.since {
        let ago = parse_duration(since).map_err(|e| e.to_string())?;
        return Ok(Start::Time(
            now_timestamp() - i64::try_from(ago.as_nanos()).unwrap_or(i64::MAX),
        ));
    }
    if let Some(at) = &args.at {
        return parse_timestamp(at)
            .map(Start::Time)
            .map_err(|e| e.to_string());
    }
    Ok(Start::Seq(args.seq.unwrap_or(1)))
}

pub fn lag_command(args: LagArgs) -> ExitCode {
    if !(args.every.is_finite() && args.every >= 0.05) {
        eprintln!("eventscope lag: --every must be at least 0.05 seconds");
        return ExitCode::from(2);
    }
    exit(with_api("lag", &args.connect, async |api| {
        let info = stream_info(&api, &args.stream).await?;
        let polls = args
            .for_secs
            .map_or(1, |f| (f / args.every).floor() as usize + 1);
        let mut history = LagHistory::new(polls.min(100_000));
        let mut tick = tokio::time::interval(Duration::from_secs_f64(args.every));
        let mut out = std::io::stdout().lock();
        for _ in 0..polls {
            tick.tick().await;
            let (consumer, oldest) =
                poll_lag(&api, &args.stream, &args.consumer, info.allow_direct).await?;
            let sample = history.push(&consumer, now_timestamp(), oldest);
            if args.json {
                serde_json::to_writer(&mut out, sample)?;
                writeln!(out)?;
            } else {
                let fmt = |v: Option<f64>, unit: &str| {
                    v.map_or("-".to_owned(), |v| format!("{v:.1}{unit}"))
                };
                writeln!(
                    out,
                    "{}  pending {}  ack pending {}  redelivered {}  delivered {}  acked {}  oldest {}  drains in {}",
                    sample.at,
                    sample.num_pending,
                    sample.num_ack_pending,
                    sample.num_redelivered,
                    fmt(sample.delivered_per_s, "/s"),
                    fmt(sample.acked_per_s, "/s"),
                    fmt(sample.oldest_unprocessed_age_s, " s"),
                    fmt(sample.time_to_drain_s, " s"),
                )?;
            }
            out.flush()?;
        }
        Ok(())
    }))
}

pub fn recorder_command(args: RecorderArgs) -> ExitCode {
    match args.action {
        RecorderAction::Start(start) => {
            let settings = match (
                parse_duration(&start.max_age),
                parse_bytes(&start.max_bytes),
            ) {
                (Ok(max_age), Ok(max_bytes)) => RecorderSettings {
                    name: start.common.name.clone(),
                    max_age,
                    max_bytes,
                    replicas: start.replicas,
                },
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("eventscope recorder: {e}");
                    return ExitCode::from(2);
                }
            };
            exit(with_api("recorder", &start.common.connect, async |api| {
                let status = crate::jetstream::start_recorder(&api, &settings).await?;
                print_recorder(&status, start.common.json)
            }))
        }
        RecorderAction::Status(args) => exit(with_api("recorder", &args.connect, async |api| {
            match crate::jetstream::recorder_status(&api, &args.name).await? {
                Some(status) => print_recorder(&status, args.json),
                None => anyhow::bail!("no recorder named {}", args.name),
            }
        })),
        RecorderAction::Stop(args) => exit(with_api("recorder", &args.connect, async |api| {
            if crate::jetstream::stop_recorder(&api, &args.name).await? {
                println!("recorder {} deleted", args.name);
                Ok(())
            } else {
                anyhow::bail!("no recorder named {}", args.name)
            }
        })),
    }
}

fn print_recorder(status: &crate::jetstream::RecorderStatus, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(status)?);
    } else {
        println!(
            "recorder {}: {} answers, {} bytes, covering {:.0} s (keeps {:.0} s, {} bytes at most, R{})",
            status.name,
            status.messages,
            status.bytes,
            status.covers_secs,
            status.max_age_secs,
            status.max_bytes,
            status.replicas
        );
    }
    Ok(())
}

/// `export --from-stream NAME --out FILE`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The capture stream (made by `record --to-stream`).
    #[arg(long, value_name = "NAME")]
    pub from_stream: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The capture file to write; `-` is standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
}

pub fn export_command(args: ExportArgs) -> ExitCode {
    exit(with_api("export", &args.connect, async |api| {
        let sink: Box<dyn Write> = if args.out.as_os_str() == "-" {
            Box::new(std::io::stdout().lock())
        } else {
            Box::new(create_private(&args.out)?)
        };
        let mut out = std::io::BufWriter::new(sink);
        let read = crate::jetstream::export_capture(&api, &args.from_stream, &mut out).await?;
        eprintln!(
            "eventscope export: {} messages of stream {} written to {}",
            read.lines,
            args.from_stream,
            args.out.display()
        );
        if let Some(left_out) = read.describe() {
            eprintln!("eventscope export: {left_out}");
        }
        Ok(())
    }))
}

/// A capture stream as a capture file of its own (private, deleted when
/// dropped), for the commands that read capture files.
pub(super) fn capture_from_stream(
    command: &str,
    name: &str,
    connect: &ConnectArgs,
) -> Result<tempfile::NamedTempFile, ExitCode> {
    with_api(command, connect, async |api| {
        let file = tempfile::Builder::new()
            .prefix("eventscope-stream-")
            .suffix(".jsonl")
            .tempfile()?;
        let mut out = std::io::BufWriter::new(file.as_file());
        let read = crate::jetstream::export_capture(&api, name, &mut out).await?;
        drop(out);
        if let Some(left_out) = read.describe() {
            eprintln!("eventscope {command}: capture stream {name}: {left_out}");
        }
        Ok(file)
    })
}
