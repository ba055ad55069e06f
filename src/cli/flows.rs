//! `eventscope flows`: a capture file's flows, correlated by the same code
//! as the app, printed as lines, JSON or Mermaid.

use std::io::{BufReader, Write};
use std::process::ExitCode;

use super::{Complete, FlowsArgs};
use crate::capture::SubjectPattern;
use crate::capture::file::CaptureReader;
use crate::flow::{Correlator, FlowConfig};
use crate::flow::{FlowJson, mermaid, summary_line};

pub fn flows_command(args: FlowsArgs) -> ExitCode {
    match flows(&args, &mut std::io::stdout().lock()) {
        Ok(Complete::Yes) => ExitCode::SUCCESS,
        // What came before the bad line was printed; the exit says it was
        // not the whole file.
        Ok(Complete::StoppedAtBadLine) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("eventscope flows: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Read a capture, correlate it with the same code as the app, print.
fn flows(args: &FlowsArgs, out: &mut impl Write) -> anyhow::Result<Complete> {
    use anyhow::Context;
    let subject = args
        .subject
        .as_deref()
        .map(SubjectPattern::parse)
        .transpose()?;
    let file = std::fs::File::open(&args.capture)
        .with_context(|| format!("cannot open {}", args.capture.display()))?;
    let mut reader = CaptureReader::new(BufReader::new(file))
        .with_context(|| args.capture.display().to_string())?;
    let mut config = FlowConfig {
        slow_ns: (args.slow_ms * 1e6) as i64,
        max_flows: usize::MAX,
        ..FlowConfig::default()
    };
    config
        .producer_headers
        .extend(args.producer_header.iter().cloned());
    let mut correlator = Correlator::new(config);
    let mut seq = 0;
    let mut complete = Complete::Yes;
    while let Some(next) = reader.next_record() {
        match next {
            Ok(loaded) => {
                correlator.ingest(seq, &loaded.record);
                seq += 1;
            }
            Err(e) => {
                eprintln!("eventscope flows: {e}; using the {seq} records before it");
                complete = Complete::StoppedAtBadLine;
                break;
            }
        }
    }
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
            serde_json::to_writer(
                &mut *out,
                &FlowJson::new(flow, correlator.final_of(flow, now)),
            )?;
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
        eprintln!("{} flows ({} records)", selected.len(), seq);
    }
    Ok(complete)
}
