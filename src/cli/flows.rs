//! `eventscope flows`: a capture file's flows, or a flight recorder's,
//! correlated by the same code as the app, printed as lines, JSON or
//! Mermaid.

use std::io::Write;
use std::process::ExitCode;

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Complete, ConnectArgs, FilterArg};
use crate::capture::SubjectPattern;
use crate::capture::file::read_each;
use crate::flow::{Correlator, FlowConfig};
use crate::flow::{mermaid, summary_line};

pub fn flows_command(mut args: FlowsArgs) -> ExitCode {
    // A capture kept in a stream is read as the file it exports to.
    let _exported = match &args.from_stream {
        Some(name) => match super::jetstream::capture_from_stream("flows", name, &args.connect) {
            Ok(file) => {
                args.capture = Some(file.path().to_owned());
                Some(file)
            }
            Err(code) => return code,
        },
        None => None,
    };
    let correlated = match &args.from_recorder {
        Some(name) => from_recorder(&args, name),
        None => from_file(&args),
    };
    let (correlator, records, complete) = match correlated {
        Ok(c) => c,
        Err(code) => return code,
    };
    match print(&args, &correlator, records, &mut std::io::stdout().lock()) {
        Ok(()) if complete == Complete::Yes => ExitCode::SUCCESS,
        // What came before the bad line was printed; the exit says it was
        // not the whole file.
        Ok(()) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("eventscope flows: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config(args: &FlowsArgs) -> FlowConfig {
    let mut config = FlowConfig {
        slow_ns: (args.slow_ms * 1e6) as i64,
        max_flows: usize::MAX,
        ..FlowConfig::default()
    };
    config
        .producer_headers
        .extend(args.producer_header.iter().cloned());
    config
}

pub(super) type Correlated = (Correlator, u64, Complete);

/// Read a capture file and correlate it with the same code as the app.
fn from_file(args: &FlowsArgs) -> Result<Correlated, ExitCode> {
    let Some(path) = &args.capture else {
        eprintln!(
            "eventscope flows: give a capture file, --from-stream NAME or --from-recorder NAME"
        );
        return Err(ExitCode::FAILURE);
    };
    correlate_file("flows", path, config(args), |_| {})
}

/// A capture file (or `nats sub --dump` directory) streamed through a
/// correlator, each record also shown to `each`; bad lines are said and
/// skipped (the `Complete` says so). `command` names the subcommand in
/// what is printed.
pub(super) fn correlate_file(
    command: &str,
    path: &Path,
    config: FlowConfig,
    mut each: impl FnMut(&crate::capture::Record),
) -> Result<Correlated, ExitCode> {
    use anyhow::Context;
    let mut correlator = Correlator::new(config);
    let mut seq = 0;
    // Each line's connection and broker, so each record is read by its
    // broker's rules.
    let mut connections = crate::capture::Store::new(0);
    let skipped = read_each(path, |mut loaded| {
        loaded.record.connection =
            connections.intern_connection_of(&loaded.connection, loaded.broker);
        correlator.learn_brokers(connections.brokers());
        correlator.ingest(seq, &loaded.record);
        each(&loaded.record);
        seq += 1;
        Ok(())
    })
    .with_context(|| path.display().to_string())
    .map_err(|e| {
        eprintln!("eventscope {command}: {e:#}");
        ExitCode::FAILURE
    })?;
    let complete = match skipped {
        None => Complete::Yes,
        Some(skipped) => {
            eprintln!("eventscope {command}: {skipped}; using the other {seq} records");
            Complete::SkippedBadLines
        }
    };
    Ok((correlator, seq, complete))
}

/// Read a flight recorder's answers and advisories, correlate them, and
/// name each message from its stream.
fn from_recorder(args: &FlowsArgs, name: &str) -> Result<Correlated, ExitCode> {
    let since = match args.since.as_deref().map(crate::jetstream::parse_duration) {
        None => None,
        Some(Ok(ago)) => Some(
            crate::capture::now_timestamp() - i64::try_from(ago.as_nanos()).unwrap_or(i64::MAX),
        ),
        Some(Err(e)) => {
            eprintln!("eventscope flows: --since: {e}");
            return Err(ExitCode::from(2));
        }
    };
    super::connected::with_api("flows", &args.connect, async |api| {
        // The recorder is bounded by its own max bytes: all of it is read.
        let read = crate::jetstream::read_recorder(&api, name, since, 0, u64::MAX).await?;
        let mut correlator = Correlator::new(config(args));
        for (seq, record) in read.records.iter().enumerate() {
            correlator.ingest(seq as u64, record);
        }
        let unnamed = crate::jetstream::name_flows(&api, &mut correlator).await;
        if unnamed > 0 {
            eprintln!(
                "eventscope flows: {unnamed} messages are no longer in their streams; their subject is not known"
            );
        }
        if read.skipped_own > 0 {
            eprintln!(
                "eventscope flows: skipped {} answers about the recorder's own stream",
                read.skipped_own
            );
        }
        Ok((correlator, read.records.len() as u64, Complete::Yes))
    })
}

/// Select and print, as lines, JSON or Mermaid.
fn print(
    args: &FlowsArgs,
    correlator: &Correlator,
    records: u64,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let subject = args
        .subject
        .as_deref()
        .map(SubjectPattern::parse)
        .transpose()?;
    // The capture is over: a request it holds no reply to got none.
    let now = i64::MAX;
    let mut selected: Vec<_> = correlator
        .select(args.filter.into(), subject.as_ref(), now)
        .filter(|f| args.id.is_none_or(|id| f.id == id))
        .collect();
    if let Some(limit) = args.limit {
        let skip = selected.len().saturating_sub(limit);
        selected.drain(..skip);
    }
    if args.mermaid {
        write!(out, "{}", mermaid(&selected))?;
    } else if args.json {
        for flow in &selected {
            serde_json::to_writer(&mut *out, &correlator.json(flow, now))?;
            writeln!(out)?;
        }
    } else {
        let start = selected.first().map_or(0, |f| f.started_at);
        for flow in &selected {
            writeln!(
                out,
                "{:>6}  {}",
                flow.id,
                summary_line(flow, correlator.final_of(flow, now), start)
            )?;
        }
        eprintln!("{} flows ({} records)", selected.len(), records);
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct FlowsArgs {
    /// A capture file written by `eventscope record` or the app.
    #[arg(required_unless_present_any = ["from_recorder", "from_stream"])]
    pub capture: Option<PathBuf>,

    /// Read a capture kept in this stream (`record --to-stream`).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["capture", "from_recorder"])]
    pub from_stream: Option<String>,

    /// Rebuild flows from this flight recorder (see `recorder start`)
    /// instead of a file: retries that happened while nothing watched.
    #[arg(long, value_name = "NAME", conflicts_with = "capture")]
    pub from_recorder: Option<String>,

    /// With --from-recorder: only answers recorded this long ago or later
    /// (`15m`, `1h`, `24h`).
    #[arg(long, value_name = "DURATION", requires = "from_recorder")]
    pub since: Option<String>,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// One JSON object per flow, one per line.
    #[arg(long, conflicts_with = "mermaid")]
    pub json: bool,

    /// A Mermaid sequenceDiagram of the selected flows.
    #[arg(long)]
    pub mermaid: bool,

    /// Which flows.
    #[arg(long, value_enum, default_value_t = FilterArg::All)]
    pub filter: FilterArg,

    /// Only flows whose subject matches this pattern.
    #[arg(long, value_name = "PATTERN")]
    pub subject: Option<String>,

    /// Only the flow with this id (as printed).
    #[arg(long, value_name = "ID")]
    pub id: Option<u64>,

    /// At most this many flows (the newest).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Requests slower than this many milliseconds are "slow".
    #[arg(long, value_name = "MS", default_value_t = 250.0)]
    pub slow_ms: f64,

    /// Extra header naming the producer (repeatable; `ce-source` always).
    #[arg(long, value_name = "HEADER")]
    pub producer_header: Vec<String>,
}
