//! `search`: the Search view's query over a capture file or a natscli
//! dump directory: the matches as NDJSON rows (payloads decoded, as
//! `convert --to ndjson` writes them), or counted by subject.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::capture::file::read_all_loaded;
use crate::formats::{ExportFormat, ExportItem, ExportWriter};
use crate::search::QueryInput;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// A capture file, or a directory `nats sub --dump` wrote.
    pub input: PathBuf,
    /// Subject pattern (`orders.>`).
    #[arg(long)]
    pub subject: Option<String>,
    /// Text searched in payloads and headers.
    #[arg(long, conflicts_with = "regex")]
    pub text: Option<String>,
    /// A regular expression searched in payloads and headers.
    #[arg(long)]
    pub regex: Option<String>,
    /// A JSON test on the payload as its decoder reads it:
    /// `.data.order_id == "ord-42"`, `.lines[].count >= 2`, `.total`.
    #[arg(long = "json-test", value_name = "TEST")]
    pub json: Option<String>,
    /// From this time (RFC 3339, or an age such as 15m).
    #[arg(long)]
    pub from: Option<String>,
    /// Until this time.
    #[arg(long)]
    pub to: Option<String>,
    /// Only the number of matches per subject.
    #[arg(long)]
    pub count: bool,
    #[command(flatten)]
    pub schemas: super::schema_args::SchemaArgs,
}

pub fn search_command(args: SearchArgs) -> ExitCode {
    match search(&args) {
        Ok(found) => {
            eprintln!("eventscope search: {found} matches");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eventscope search: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn search(args: &SearchArgs) -> anyhow::Result<u64> {
    let input = QueryInput {
        subject: args.subject.clone().unwrap_or_default(),
        text: args.regex.clone().or(args.text.clone()).unwrap_or_default(),
        regex: args.regex.is_some(),
        json: args.json.clone().unwrap_or_default(),
        from: args.from.clone().unwrap_or_default(),
        to: args.to.clone().unwrap_or_default(),
    };
    let query = input.parse(crate::capture::now_timestamp())?;
    let schemas = args.schemas.settings()?.load()?;
    let (records, skipped) =
        read_all_loaded(&args.input).with_context(|| args.input.display().to_string())?;
    if let Some(skipped) = skipped {
        eprintln!("eventscope search: {skipped}");
    }
    let found: Vec<_> = records
        .iter()
        .filter(|l| query.matches(&l.record, &schemas))
        .collect();
    if args.count {
        let mut counts: Vec<(&str, u64)> = Vec::new();
        for loaded in &found {
            let subject = loaded.record.subject();
            match counts.iter_mut().find(|(s, _)| *s == subject) {
                Some((_, n)) => *n += 1,
                None => counts.push((subject, 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut out = BufWriter::new(std::io::stdout().lock());
        for (subject, n) in counts {
            writeln!(out, "{n:>9}  {subject}")?;
        }
        out.flush()?;
    } else {
        let out = BufWriter::new(std::io::stdout().lock());
        let mut writer = ExportWriter::new(out, ExportFormat::Ndjson, &[])?;
        for loaded in &found {
            let item = ExportItem {
                record: &loaded.record,
                connection: &loaded.connection,
                broker: loaded.broker,
            };
            writer.write(&item, &schemas)?;
        }
        writer.finish()?;
    }
    Ok(found.len() as u64)
}
