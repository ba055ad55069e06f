//! Entry points of the headless subcommands: parse, run, print, exit code.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::RecordArgs;
use crate::record::{Output, RecordOptions, run};

pub fn record_command(args: RecordArgs) -> ExitCode {
    let profile = match args.connect.to_profile(&args.subjects) {
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
    let out = match args.out {
        Some(path) if path.as_os_str() == "-" => Output::Stdout,
        Some(path) => Output::File(path),
        None => Output::File(
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
            eprintln!(
                "eventscope: recorded {} messages ({} bytes) to {out_name}; dropped by client: {}",
                summary.messages, summary.bytes, summary.dropped
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eventscope record: {e:#}");
            ExitCode::FAILURE
        }
    }
}
