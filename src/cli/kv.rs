//! `kv` and `object`: KV buckets and object stores without a window, on
//! the same code as the GUI's KV view.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::ConnectArgs;
use super::connected::{exit, with_client};
use crate::kv::{self, KeyFilter, WatchMode};

#[derive(Debug, Args)]
pub struct KvArgs {
    #[command(subcommand)]
    pub action: KvAction,
}

#[derive(Debug, Subcommand)]
pub enum KvAction {
    /// The account's buckets.
    Buckets(Listing),
    /// A bucket's keys with their last revision (deleted keys marked).
    Keys(KeysArgs),
    /// A key's value (raw to standard output; `--json` for the entry).
    Get(GetArgs),
    /// Store a value (`-` reads standard input); prints the new revision.
    Put(PutArgs),
    /// Put a delete marker on a key (its history stays).
    Delete(KeyArgs),
    /// Purge a key: its history goes.
    Purge(KeyArgs),
    /// Every revision the bucket keeps of a key.
    History(HistoryArgs),
    /// What changed between two revisions of a key, line by line.
    Diff(DiffArgs),
    /// Make an old revision current again (as a new revision).
    Revert(RevertArgs),
    /// Watch a bucket or key pattern: one JSON object per entry.
    Watch(WatchArgs),
}

#[derive(Debug, Args)]
pub struct Listing {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    pub bucket: String,
    /// Only keys matching this subject pattern (`orders.*`, `>`).
    #[arg(long, value_name = "PATTERN", default_value = ">")]
    pub filter: String,
    #[command(flatten)]
    pub listing: Listing,
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    pub bucket: String,
    pub key: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// This revision instead of the latest.
    #[arg(long, value_name = "N")]
    pub revision: Option<u64>,
    /// The entry as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// The value; `-` reads standard input.
    pub value: String,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// One JSON object per revision.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// Types to read values that are not JSON with (bound to
    /// `$KV.BUCKET.KEY` patterns).
    #[command(flatten)]
    pub schemas: super::schema_args::SchemaArgs,
    /// The older revision.
    pub from: u64,
    /// The newer revision (default: the latest).
    pub to: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RevertArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// The revision to make current again.
    pub revision: u64,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    pub bucket: String,
    /// Keys matching this pattern (default: the whole bucket).
    #[arg(default_value = ">")]
    pub pattern: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Only changes from now on (default: current values first).
    #[arg(long)]
    pub updates_only: bool,
    /// Stop after this many seconds.
    #[arg(long = "for", value_name = "SECS")]
    pub for_secs: Option<f64>,
}

pub fn kv_command(args: KvArgs) -> ExitCode {
    match args.action {
        KvAction::Buckets(a) => exit(with_client("kv buckets", &a.connect, async |client, _| {
            let buckets = kv::list_buckets(&client).await?;
            let mut out = std::io::stdout().lock();
            if a.json {
                return json_lines(&mut out, &buckets);
            }
            writeln!(
                out,
                "{:<24} {:>8} {:>9} {:>10} {:>7} {:>3}",
                "bucket", "keys", "values", "bytes", "history", "R"
            )?;
            for b in &buckets {
                writeln!(
                    out,
                    "{:<24} {:>8} {:>9} {:>10} {:>7} {:>3}",
                    b.name, b.keys, b.values, b.bytes, b.history, b.replicas
                )?;
            }
            Ok(())
        })),
        KvAction::Keys(a) => exit(with_client(
            "kv keys",
            &a.listing.connect,
            async |client, _| {
                let store = kv::open_bucket(&client, &a.bucket).await?;
                let filter = KeyFilter {
                    pattern: a.filter.clone(),
                    ..Default::default()
                };
                let list = kv::list_keys(&client, &store, &filter).await?;
                let mut out = std::io::stdout().lock();
                if a.listing.json {
                    json_lines(&mut out, &list.rows)?;
                } else {
                    for k in &list.rows {
                        writeln!(
                            out,
                            "{:<40} rev {:>8} {:>7} {:>8} B",
                            k.key,
                            k.revision,
                            k.operation.label(),
                            k.size
                        )?;
                    }
                }
                if !list.complete {
                    eprintln!("eventscope kv keys: the listing stalled; some keys may be missing");
                }
                Ok(())
            },
        )),
        KvAction::Get(a) => exit(with_key("kv get", &a.key, async |store| {
            let entry = kv::get_key(&store, &a.key.key, a.revision).await?;
            // A delete or purge marker is not a value: said, and the exit
            // says there is none (`--revision` still reads the marker).
            if a.revision.is_none() && entry.operation != crate::flow::KvOperation::Put {
                anyhow::bail!(
                    "'{}' was {} at revision {} (`kv history` shows what it held)",
                    a.key.key,
                    if entry.operation == crate::flow::KvOperation::Purge {
                        "purged"
                    } else {
                        "deleted"
                    },
                    entry.revision
                );
            }
            let mut out = std::io::stdout().lock();
            if a.json {
                json_lines(&mut out, std::slice::from_ref(&entry))
            } else {
                Ok(out.write_all(&entry.value)?)
            }
        })),
        KvAction::Put(a) => exit(with_key("kv put", &a.key, async |store| {
            let value = if a.value == "-" {
                let mut buf = Vec::new();
                std::io::stdin().read_to_end(&mut buf)?;
                buf
            } else {
                a.value.clone().into_bytes()
            };
            let revision = kv::put_key(&store, &a.key.key, value.into()).await?;
            println!("{revision}");
            Ok(())
        })),
        KvAction::Delete(a) => exit(with_key("kv delete", &a, async |store| {
            Ok(kv::delete_key(&store, &a.key).await?)
        })),
        KvAction::Purge(a) => exit(with_key("kv purge", &a, async |store| {
            Ok(kv::purge_key(&store, &a.key).await?)
        })),
        KvAction::History(a) => exit(with_key("kv history", &a.key, async |store| {
            let revisions = kv::history(&store, &a.key.key).await?;
            let mut out = std::io::stdout().lock();
            if a.json {
                return json_lines(&mut out, &revisions);
            }
            for r in &revisions {
                writeln!(
                    out,
                    "rev {:>8} {:<7} {} {}",
                    r.revision,
                    r.operation.label(),
                    crate::capture::timestamp_to_utc(r.created).to_rfc3339(),
                    kv::display_value(&r.value).replace('\n', " ")
                )?;
            }
            Ok(())
        })),
        KvAction::Diff(a) => exit(with_key("kv diff", &a.key, async |store| {
            let from = kv::get_key(&store, &a.key.key, Some(a.from)).await?;
            let to = kv::get_key(&store, &a.key.key, a.to).await?;
            let schemas = a.schemas.settings()?.load()?;
            let subject = format!("$KV.{}.{}", a.key.bucket, a.key.key);
            let shown = |value: &[u8]| {
                crate::decode::read_as_text(&schemas, &subject, value)
                    .unwrap_or_else(|| kv::display_value(value))
            };
            let mut out = std::io::stdout().lock();
            writeln!(out, "--- revision {}", from.revision)?;
            writeln!(out, "+++ revision {}", to.revision)?;
            for line in kv::diff_texts(&shown(&from.value), &shown(&to.value)) {
                let mark = match line.tag {
                    kv::DiffTag::Same => ' ',
                    kv::DiffTag::Removed => '-',
                    kv::DiffTag::Added => '+',
                };
                writeln!(out, "{mark}{}", line.text)?;
            }
            Ok(())
        })),
        KvAction::Revert(a) => exit(with_key("kv revert", &a.key, async |store| {
            match kv::revert(&store, &a.key.key, a.revision, None).await? {
                Some(revision) => println!("{revision}"),
                None => println!("deleted (revision {} was a delete)", a.revision),
            }
            Ok(())
        })),
        KvAction::Watch(a) => exit(with_client("kv watch", &a.connect, async |client, _| {
            let store = kv::open_bucket(&client, &a.bucket).await?;
            let mode = if a.updates_only {
                WatchMode::UpdatesOnly
            } else {
                WatchMode::InitialThenUpdates
            };
            let mut watch = kv::watch_keys(&store, &a.pattern, mode).await?;
            eprintln!(
                "eventscope kv watch: watching '{}' in '{}'",
                a.pattern, a.bucket
            );
            print_watch(a.for_secs, async || Ok(watch.next().await?)).await
        })),
    }
}

/// Open the key's bucket and run `work` with it.
fn with_key(
    command: &str,
    key: &KeyArgs,
    work: impl AsyncFnOnce(async_nats::jetstream::kv::Store) -> anyhow::Result<()>,
) -> Result<(), ExitCode> {
    // A bad key is said as such before anything is asked.
    if let Err(e) = kv::check_key(&key.key) {
        eprintln!("eventscope {command}: {e}");
        return Err(ExitCode::from(2));
    }
    with_client(command, &key.connect, async |client, _| {
        work(kv::open_bucket(&client, &key.bucket).await?).await
    })
}

/// Print each entry `next` gives as a JSON line, flushed at once, for
/// `secs` (or until `next` fails: a watch ends only so).
async fn print_watch<T: serde::Serialize>(
    secs: Option<f64>,
    mut next: impl AsyncFnMut() -> anyhow::Result<T>,
) -> anyhow::Result<()> {
    let printing = async {
        let mut out = std::io::stdout().lock();
        loop {
            serde_json::to_writer(&mut out, &next().await?)?;
            writeln!(out)?;
            out.flush()?;
        }
    };
    match secs {
        Some(secs) => tokio::time::timeout(Duration::from_secs_f64(secs.max(0.0)), printing)
            .await
            .unwrap_or(Ok(())),
        None => printing.await,
    }
}

fn json_lines<T: serde::Serialize>(out: &mut impl Write, items: &[T]) -> anyhow::Result<()> {
    for item in items {
        serde_json::to_writer(&mut *out, item)?;
        writeln!(out)?;
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ObjectArgs {
    #[command(subcommand)]
    pub action: ObjectAction,
}

#[derive(Debug, Subcommand)]
pub enum ObjectAction {
    /// The account's object stores.
    Buckets(Listing),
    /// A bucket's objects.
    Ls(ObjectListArgs),
    /// One object's info as the server keeps it (JSON).
    Info(ObjectNameArgs),
    /// Download an object to a file (the digest is checked).
    Get(ObjectGetArgs),
    /// Upload a file as an object.
    Put(ObjectPutArgs),
    /// Watch a bucket's objects: one JSON object per change.
    Watch(ObjectWatchArgs),
}

#[derive(Debug, Args)]
pub struct ObjectListArgs {
    pub bucket: String,
    #[command(flatten)]
    pub listing: Listing,
}

#[derive(Debug, Args)]
pub struct ObjectNameArgs {
    pub bucket: String,
    pub object: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct ObjectGetArgs {
    #[command(flatten)]
    pub object: ObjectNameArgs,
    /// The file to write.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ObjectPutArgs {
    pub bucket: String,
    pub file: PathBuf,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The object's name (default: the file's name).
    #[arg(long, value_name = "NAME")]
    pub object_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ObjectWatchArgs {
    pub bucket: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The current objects first, then changes.
    #[arg(long)]
    pub initial: bool,
    /// Stop after this many seconds.
    #[arg(long = "for", value_name = "SECS")]
    pub for_secs: Option<f64>,
}

pub fn object_command(args: ObjectArgs) -> ExitCode {
    match args.action {
        ObjectAction::Buckets(a) => exit(with_client(
            "object buckets",
            &a.connect,
            async |client, _| {
                let buckets = kv::list_object_buckets(&client).await?;
                let mut out = std::io::stdout().lock();
                if a.json {
                    return json_lines(&mut out, &buckets);
                }
                for b in &buckets {
                    writeln!(out, "{:<24} {:>12} B  R{}", b.name, b.bytes, b.replicas)?;
                }
                Ok(())
            },
        )),
        ObjectAction::Ls(a) => exit(with_client(
            "object ls",
            &a.listing.connect,
            async |client, _| {
                let store = kv::open_object_store(&client, &a.bucket).await?;
                let rows = kv::list_objects(&store).await?;
                let mut out = std::io::stdout().lock();
                if a.listing.json {
                    return json_lines(&mut out, &rows);
                }
                for o in &rows {
                    writeln!(
                        out,
                        "{:<40} {:>12} B {:>6} chunks",
                        o.name, o.size, o.chunks
                    )?;
                }
                Ok(())
            },
        )),
        ObjectAction::Info(a) => exit(with_client("object info", &a.connect, async |client, _| {
            let store = kv::open_object_store(&client, &a.bucket).await?;
            println!("{}", kv::object_info(&store, &a.object).await?.info_json);
            Ok(())
        })),
        ObjectAction::Get(a) => exit(with_client(
            "object get",
            &a.object.connect,
            async |client, _| {
                let store = kv::open_object_store(&client, &a.object.bucket).await?;
                let bytes = kv::download_object(&store, &a.object.object, &a.out).await?;
                eprintln!("{bytes} bytes written to {}", a.out.display());
                Ok(())
            },
        )),
        ObjectAction::Put(a) => exit(with_client("object put", &a.connect, async |client, _| {
            let store = kv::open_object_store(&client, &a.bucket).await?;
            let name = match &a.object_name {
                Some(n) => n.clone(),
                None => a
                    .file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| {
                        anyhow::anyhow!("give --object-name: the path has no file name")
                    })?,
            };
            let row = kv::upload_object(&store, &a.file, &name).await?;
            let mut out = std::io::stdout().lock();
            json_lines(&mut out, std::slice::from_ref(&row))
        })),
        ObjectAction::Watch(a) => exit(with_client(
            "object watch",
            &a.connect,
            async |client, _| {
                let store = kv::open_object_store(&client, &a.bucket).await?;
                let mut watch = kv::watch_objects(&store, a.initial).await?;
                eprintln!("eventscope object watch: watching '{}'", a.bucket);
                print_watch(a.for_secs, async || Ok(watch.next().await?)).await
            },
        )),
    }
}
