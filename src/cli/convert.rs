//! `convert`: a capture file or a `nats sub --dump` directory written as
//! a capture file, NDJSON, CSV, JSON or a dump directory, payloads read
//! with `--proto`/`--descriptor-set`/`--avro` and `--bind` (in NDJSON,
//! CSV and JSON a decoded payload is `payload_json`, with `decoded_by`).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::capture::file::{
    CaptureHeader, CaptureWriter, LoadedRecord, create_private, read_each, write_dump_dir,
};
use crate::formats::{Column, ExportFormat, ExportItem, ExportWriter};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConvertTo {
    /// eventscope's capture file.
    Capture,
    Ndjson,
    Csv,
    Json,
    /// natscli's `nats sub --dump` directory (needs --out DIR).
    Dump,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// A capture file, or a directory `nats sub --dump` wrote.
    pub input: PathBuf,
    #[arg(long, value_enum)]
    pub to: ConvertTo,
    /// Where to write (a file; a directory for `--to dump`); standard
    /// output when not given.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// CSV columns, comma-separated (default: all): received_at,
    /// connection, broker, subject, reply, headers, size, payload,
    /// payload_json, decoded_by, fields
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    #[command(flatten)]
    pub schemas: super::schema_args::SchemaArgs,
}

pub fn convert_command(args: ConvertArgs) -> ExitCode {
    match convert(&args) {
        Ok((written, skipped)) => {
            if let Some(skipped) = skipped {
                eprintln!("eventscope convert: {skipped}");
            }
            eprintln!("eventscope convert: wrote {written} records");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eventscope convert: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn convert(args: &ConvertArgs) -> anyhow::Result<(u64, Option<String>)> {
    let columns = args
        .columns
        .iter()
        .map(|name| {
            Column::parse(name.trim()).with_context(|| format!("--columns: no column '{name}'"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let schemas = args.schemas.settings()?.load()?;
    if args.to == ConvertTo::Dump {
        let Some(dir) = &args.out else {
            bail!("--to dump writes a directory: give --out DIR");
        };
        let (records, skipped) = read_whole(&args.input)?;
        let written = write_dump_dir(dir, records.iter().map(|l| &l.record))
            .with_context(|| dir.display().to_string())?;
        return Ok((written, skipped));
    }
    let out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::new(
            create_private(path).with_context(|| path.display().to_string())?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut sink = match args.to {
        ConvertTo::Capture => Sink::Capture(CaptureWriter::new(out, &CaptureHeader::new(vec![]))?),
        ConvertTo::Ndjson => Sink::Rows(Box::new(ExportWriter::new(
            out,
            ExportFormat::Ndjson,
            &columns,
        )?)),
        ConvertTo::Csv => Sink::Rows(Box::new(ExportWriter::new(
            out,
            ExportFormat::Csv,
            &columns,
        )?)),
        ConvertTo::Json => Sink::Rows(Box::new(ExportWriter::new(
            out,
            ExportFormat::Json,
            &columns,
        )?)),
        ConvertTo::Dump => unreachable!("written above"),
    };
    let skipped = each_record(&args.input, |loaded| match &mut sink {
        Sink::Capture(writer) => {
            writer.note_broker(&loaded.connection, loaded.broker);
            match &loaded.stored {
                Some((stream, seq)) => {
                    writer.write_stored(&loaded.record, &loaded.connection, stream, *seq)
                }
                None => writer.write(&loaded.record, &loaded.connection),
            }
        }
        Sink::Rows(writer) => writer.write(
            &ExportItem {
                record: &loaded.record,
                connection: &loaded.connection,
                broker: loaded.broker,
            },
            &schemas,
        ),
    })?;
    let written = match sink {
        Sink::Capture(mut writer) => {
            writer.flush()?;
            writer.written()
        }
        Sink::Rows(writer) => writer.finish()?.0,
    };
    Ok((written, skipped))
}

enum Sink {
    Capture(CaptureWriter<Box<dyn Write>>),
    Rows(Box<ExportWriter<Box<dyn Write>>>),
}

/// Every record of the input, one at a time (a capture file is streamed);
/// what was skipped, in words.
fn each_record(
    input: &Path,
    mut each: impl FnMut(&LoadedRecord) -> std::io::Result<()>,
) -> anyhow::Result<Option<String>> {
    read_each(input, |loaded| each(&loaded)).with_context(|| input.display().to_string())
}

fn read_whole(input: &Path) -> anyhow::Result<(Vec<LoadedRecord>, Option<String>)> {
    crate::capture::file::read_all_loaded(input).with_context(|| input.display().to_string())
}
