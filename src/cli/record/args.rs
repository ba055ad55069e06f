//! `eventscope record`'s arguments.

use std::path::PathBuf;

use clap::Args;

use crate::broker::ReadFrom;
use crate::cli::ConnectArgs;

#[derive(Debug, Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Subject patterns to record (repeatable; default `>`).
    #[arg(long = "subject", short = 's', value_name = "PATTERN")]
    pub subjects: Vec<String>,

    /// Output file; `-` writes to standard output. Default:
    /// `eventscope-<time>.jsonl` in the current directory.
    #[arg(long, short = 'o', value_name = "FILE", conflicts_with = "to_stream")]
    pub out: Option<PathBuf>,

    /// Record into this JetStream stream instead of a file (created if
    /// needed; the capture then lives on the servers, replicated).
    #[arg(long, value_name = "NAME")]
    pub to_stream: Option<String>,

    /// With --to-stream: copies kept in a cluster.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "to_stream")]
    pub replicas: u64,

    /// With --to-stream: messages older than this are dropped.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "24h",
        requires = "to_stream"
    )]
    pub max_age: String,

    /// With --to-stream: the stream never holds more (default: no limit
    /// but the account's).
    #[arg(long, value_name = "BYTES", requires = "to_stream")]
    pub max_bytes: Option<String>,

    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", conflicts_with = "count")]
    pub duration: Option<f64>,

    /// Stop after this many messages.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Kafka: read from this time on (`10m` ago, or `2026-12-07T08:00:00Z`)
    /// instead of only what is written from now.
    #[arg(long, value_name = "TIME", conflicts_with_all = ["offset", "from_beginning"])]
    pub since: Option<String>,

    /// Kafka: read each partition from this offset (negative: that many
    /// back from its end).
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        conflicts_with = "from_beginning"
    )]
    pub offset: Option<i64>,

    /// Kafka: read every record the partitions still have.
    #[arg(long)]
    pub from_beginning: bool,
}

impl RecordArgs {
    /// Where Kafka subscriptions start, from `--since`, `--offset` and
    /// `--from-beginning`.
    pub fn read_from(&self) -> Result<ReadFrom, String> {
        if self.from_beginning {
            return Ok(ReadFrom::Beginning);
        }
        if let Some(offset) = self.offset {
            return Ok(ReadFrom::Offset(offset));
        }
        let Some(since) = self.since.as_deref() else {
            return Ok(ReadFrom::End);
        };
        if let Ok(at) = chrono::DateTime::parse_from_rfc3339(since) {
            return Ok(ReadFrom::Since(at.timestamp_millis()));
        }
        let ago = crate::jetstream::parse_duration(since).map_err(|e| {
            format!(
                "--since: {e} (give a duration such as 10m, or a time such as 2026-12-07T08:00:00Z)"
            )
        })?;
        let at = chrono::Utc::now() - chrono::Duration::from_std(ago).unwrap_or_default();
        Ok(ReadFrom::Since(at.timestamp_millis()))
    }
}
