//! `eventscope map` and `eventscope asyncapi`: the map of the system
//! from a capture file (or a live look at a server for a while), made by
//! the same code as the window's Map view, printed as text, JSON,
//! Mermaid or SVG; and the AsyncAPI 3 document of what was seen.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::flows::correlate_file;
use super::schema_args::SchemaArgs;
use super::{Complete, ConnectArgs};
use crate::capture::{BrokerKind, Record};
use crate::flow::FlowConfig;
use crate::map::SystemMap;
use crate::map::asyncapi::{ChannelSamples, document};

/// Where the map is made from.
#[derive(Debug, Args)]
pub struct MapSource {
    /// A capture file or `nats sub --dump` directory (or, with --server,
    /// nothing: a live look).
    #[arg(required_unless_present_any = ["servers", "context"])]
    pub input: Option<PathBuf>,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// With --server: watch this many seconds, then draw.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub duration: f64,

    /// Subject patterns to watch live (repeatable; default `>`).
    #[arg(long = "subject", short = 's', value_name = "PATTERN")]
    pub subjects: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MapArgs {
    #[command(flatten)]
    pub source: MapSource,

    /// Nodes and edges as one JSON object.
    #[arg(long, conflicts_with_all = ["mermaid", "svg"])]
    pub json: bool,

    /// A Mermaid flowchart.
    #[arg(long, conflicts_with = "svg")]
    pub mermaid: bool,

    /// An SVG picture, as the window draws it.
    #[arg(long)]
    pub svg: bool,
}

#[derive(Debug, Args)]
pub struct AsyncApiArgs {
    #[command(flatten)]
    pub source: MapSource,

    #[command(flatten)]
    pub schemas: SchemaArgs,

    /// Write here (0600) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// The document's title.
    #[arg(long, default_value = "What eventscope saw")]
    pub title: String,
}

/// The capture to read: the file given, or a live look recorded to a
/// private temporary file for `--duration`.
struct Input {
    path: PathBuf,
    servers: Vec<(BrokerKind, String)>,
    _recorded: Option<tempfile::TempDir>,
}

fn input(command: &str, source: &MapSource) -> Result<Input, ExitCode> {
    if let Some(path) = &source.input {
        return Ok(Input {
            path: path.clone(),
            servers: Vec::new(),
            _recorded: None,
        });
    }
    let profile = match source.connect.to_profile(&source.subjects) {
        Ok(Some(profile)) => profile,
        Ok(None) => {
            eprintln!("eventscope {command}: give a capture file, or --server URL");
            return Err(ExitCode::from(2));
        }
        Err(e) => {
            eprintln!("eventscope {command}: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let Ok(duration) = Duration::try_from_secs_f64(source.duration) else {
        eprintln!("eventscope {command}: --duration must be a positive number of seconds");
        return Err(ExitCode::from(2));
    };
    let dir = tempfile::tempdir().map_err(|e| {
        eprintln!("eventscope {command}: a temporary directory: {e}");
        ExitCode::FAILURE
    })?;
    let path = dir.path().join("live.jsonl");
    let broker = profile.broker().unwrap_or_default();
    let servers = profile
        .server_list()
        .into_iter()
        .map(|url| (broker, url))
        .collect();
    eprintln!("eventscope {command}: watching for {duration:?}…");
    let summary = super::record::run(super::record::RecordOptions {
        profile,
        out: super::record::Output::File(path.clone()),
        duration: Some(duration),
        count: None,
    })
    .map_err(|e| {
        eprintln!("eventscope {command}: {e:#}");
        ExitCode::FAILURE
    })?;
    if let Some(refused) = summary.refused {
        eprintln!("eventscope {command}: nothing could be watched: {refused}");
        return Err(ExitCode::FAILURE);
    }
    eprintln!(
        "eventscope {command}: saw {} messages; {}",
        summary.messages,
        summary.losses.summary()
    );
    Ok(Input {
        path,
        servers,
        _recorded: Some(dir),
    })
}

/// The map of `input`, and every record shown to `each` on the way.
fn map_of(
    command: &str,
    input: &Input,
    each: impl FnMut(&Record),
) -> Result<(SystemMap, Complete), ExitCode> {
    let config = FlowConfig {
        max_flows: usize::MAX,
        ..FlowConfig::default()
    };
    let (correlator, _, complete) = correlate_file(command, &input.path, config, each)?;
    Ok((SystemMap::from_flows(&correlator, None), complete))
}

fn finish(complete: Complete, written: std::io::Result<()>, command: &str) -> ExitCode {
    match written {
        Err(e) => {
            eprintln!("eventscope {command}: {e}");
            ExitCode::FAILURE
        }
        Ok(()) if complete == Complete::Yes => ExitCode::SUCCESS,
        Ok(()) => ExitCode::FAILURE,
    }
}

pub fn map_command(args: MapArgs) -> ExitCode {
    let input = match input("map", &args.source) {
        Ok(input) => input,
        Err(code) => return code,
    };
    let (map, complete) = match map_of("map", &input, |_| {}) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let out = &mut std::io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer_pretty(&mut *out, &map)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else if args.mermaid {
        out.write_all(crate::map::mermaid(&map).as_bytes())
    } else if args.svg {
        out.write_all(crate::map::svg(&map).as_bytes())
    } else {
        write_text(out, &map)
    };
    finish(complete, written, "map")
}

/// One line per arrow, busiest first, then what was left out.
fn write_text(out: &mut impl Write, map: &SystemMap) -> std::io::Result<()> {
    writeln!(
        out,
        "{} boxes, {} arrows from {} flows over {:.0} s",
        map.nodes.len(),
        map.edges.len(),
        map.flows,
        map.span_seconds
    )?;
    for edge in &map.edges {
        let (from, to) = (&map.nodes[edge.from], &map.nodes[edge.to]);
        writeln!(
            out,
            "{} ({}) -> {} ({}): {}",
            from.name,
            from.kind.label(),
            to.name,
            to.kind.label(),
            crate::map::edge_label(edge)
        )?;
    }
    if map.edges_left_out > 0 {
        writeln!(out, "{} quieter arrows left out", map.edges_left_out)?;
    }
    Ok(())
}

pub fn asyncapi_command(args: AsyncApiArgs) -> ExitCode {
    let schemas = match args.schemas.settings().and_then(|s| s.load()) {
        Ok(schemas) => schemas,
        Err(e) => {
            eprintln!("eventscope asyncapi: {e}");
            return ExitCode::from(2);
        }
    };
    let input = match input("asyncapi", &args.source) {
        Ok(input) => input,
        Err(code) => return code,
    };
    let mut samples = ChannelSamples::default();
    let (map, complete) = match map_of("asyncapi", &input, |r| samples.add(r, &schemas)) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let doc = document(&args.title, &map, &samples, &input.servers);
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    let written = match &args.out {
        Some(path) => crate::capture::file::create_private(path)
            .and_then(|mut f| f.write_all(text.as_bytes())),
        None => std::io::stdout().lock().write_all(text.as_bytes()),
    };
    if let (Ok(()), Some(path)) = (&written, &args.out) {
        eprintln!(
            "eventscope asyncapi: {} channels, {} operations written to {}",
            doc["channels"].as_object().map_or(0, |c| c.len()),
            doc["operations"].as_object().map_or(0, |o| o.len()),
            path.display()
        );
    }
    finish(complete, written, "asyncapi")
}
