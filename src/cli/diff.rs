//! `diff`: two captures (files or natscli dumps) compared per subject:
//! what appeared, what vanished, what changed in count or in the fields
//! its payloads carry (read with `--proto`/`--avro` and `--bind`).

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::compare::{CaptureProfile, SubjectStatus, capture_diff};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The capture before (a file or a dump directory).
    pub before: PathBuf,
    /// The capture after.
    pub after: PathBuf,
    /// One JSON object per subject.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub schemas: super::schema_args::SchemaArgs,
}

pub fn diff_command(args: DiffArgs) -> ExitCode {
    match diff(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eventscope diff: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn diff(args: &DiffArgs) -> anyhow::Result<()> {
    let schemas = args.schemas.settings()?.load()?;
    let profile = |path: &PathBuf| -> anyhow::Result<CaptureProfile> {
        let (records, skipped) = crate::capture::file::read_all_loaded(path)
            .with_context(|| path.display().to_string())?;
        if let Some(skipped) = skipped {
            eprintln!("eventscope diff: {}: {skipped}", path.display());
        }
        let mut profile = CaptureProfile::default();
        for loaded in &records {
            profile.add(&loaded.record, &schemas);
        }
        Ok(profile)
    };
    let diffs = capture_diff(&profile(&args.before)?, &profile(&args.after)?);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for d in &diffs {
        if args.json {
            serde_json::to_writer(&mut out, d)?;
            writeln!(out)?;
            continue;
        }
        let status = match d.status {
            SubjectStatus::Appeared => "appeared",
            SubjectStatus::Vanished => "vanished",
            SubjectStatus::Changed => "changed",
            SubjectStatus::Same => "same",
        };
        writeln!(
            out,
            "{status:<9} {:>8} -> {:<8} {}",
            d.before, d.after, d.subject
        )?;
        for field in &d.fields_appeared {
            writeln!(out, "{:30}+ {field}", "")?;
        }
        for field in &d.fields_vanished {
            writeln!(out, "{:30}- {field}", "")?;
        }
    }
    out.flush()?;
    Ok(())
}
