//! `cluster`: what the whole cluster shows one connection - what it can
//! see, the connections report, the meta group and stream replicas,
//! routes/gateways/leaf nodes, and the connect/disconnect/auth-error feed.
//! The same requests as the Cluster view.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use futures_util::StreamExt;

use super::ConnectArgs;
use super::connected::{exit, with_client};
use crate::server_answers::{ConnectionSort, connection_rates};

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub action: ClusterAction,
}

#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// What this connection can see (system account, account-scoped
    /// requests, JetStream, a monitoring URL), and what is missing.
    Access(Output),
    /// Every connection on every server with rates, like `nats top`.
    Connections(ConnectionsArgs),
    /// The JetStream meta group and each replicated stream's peers.
    Replicas(Output),
    /// Routes, gateways and leaf nodes of every server.
    Links(Output),
    /// Connect, disconnect and authentication-failure events as they come.
    Events(EventsArgs),
}

#[derive(Debug, Args)]
pub struct Output {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// JSON (one object per line).
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SortArg {
    InMsgs,
    OutMsgs,
    InBytes,
    OutBytes,
    Subs,
    Pending,
    Name,
    Account,
    Server,
}

impl From<SortArg> for ConnectionSort {
    fn from(s: SortArg) -> Self {
        match s {
            SortArg::InMsgs => ConnectionSort::InMsgsRate,
            SortArg::OutMsgs => ConnectionSort::OutMsgsRate,
            SortArg::InBytes => ConnectionSort::InBytesRate,
            SortArg::OutBytes => ConnectionSort::OutBytesRate,
            SortArg::Subs => ConnectionSort::Subscriptions,
            SortArg::Pending => ConnectionSort::Pending,
            SortArg::Name => ConnectionSort::Name,
            SortArg::Account => ConnectionSort::Account,
            SortArg::Server => ConnectionSort::Server,
        }
    }
}

#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    #[command(flatten)]
    pub output: Output,
    /// Sorted by this (rates from two reports a second apart).
    #[arg(long, value_enum, default_value = "in-msgs")]
    pub sort: SortArg,
    /// Only this account's connections.
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
    /// At most this many rows.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub output: Output,
    /// Stop after this many seconds.
    #[arg(long = "for", value_name = "SECS")]
    pub for_secs: Option<f64>,
}

pub fn cluster_command(args: ClusterArgs) -> ExitCode {
    match args.action {
        ClusterAction::Access(a) => exit(with_client(
            "cluster access",
            &a.connect,
            async |client, profile| {
                let seen =
                    crate::broker::visibility(&client, profile.monitoring_url.is_some()).await;
                let mut out = std::io::stdout().lock();
                if a.json {
                    serde_json::to_writer(&mut out, &seen)?;
                    writeln!(out)?;
                } else {
                    writeln!(out, "system account: {}", yes(seen.system_account))?;
                    writeln!(out, "account connections: {}", yes(seen.account_connz))?;
                    writeln!(out, "JetStream: {}", yes(seen.jetstream))?;
                    writeln!(out, "monitoring URL: {}", yes(seen.monitoring_url))?;
                    for missing in seen.missing() {
                        writeln!(out, "- {missing}")?;
                    }
                }
                Ok(())
            },
        )),
        ClusterAction::Connections(a) => exit(with_client(
            "cluster connections",
            &a.output.connect,
            async |client, _| {
                let (_, first) = crate::broker::connections_report(&client).await?;
                let started = Instant::now();
                tokio::time::sleep(Duration::from_secs(1)).await;
                let (scope, second) = crate::broker::connections_report(&client).await?;
                let mut rows = connection_rates(second, &first, started.elapsed().as_secs_f64());
                if let Some(account) = &a.account {
                    rows.retain(|r| &r.account == account);
                }
                ConnectionSort::from(a.sort).sort(&mut rows);
                rows.truncate(a.top.unwrap_or(usize::MAX));
                let mut out = std::io::stdout().lock();
                if a.output.json {
                    for r in &rows {
                        serde_json::to_writer(&mut out, r)?;
                        writeln!(out)?;
                    }
                    return Ok(());
                }
                writeln!(out, "{} connections ({scope:?})", rows.len())?;
                writeln!(
                    out,
                    "{:<10} {:>5} {:<24} {:<10} {:>5} {:>10} {:>10} {:>12} {:>12}",
                    "server",
                    "cid",
                    "name",
                    "account",
                    "subs",
                    "msgs in/s",
                    "msgs out/s",
                    "bytes in/s",
                    "pending"
                )?;
                for r in &rows {
                    writeln!(
                        out,
                        "{:<10} {:>5} {:<24} {:<10} {:>5} {:>10.0} {:>10.0} {:>12.0} {:>12}",
                        r.server,
                        r.cid,
                        r.name,
                        r.account,
                        r.subscriptions,
                        r.in_msgs_per_s.unwrap_or(0.0),
                        r.out_msgs_per_s.unwrap_or(0.0),
                        r.in_bytes_per_s.unwrap_or(0.0),
                        r.pending_bytes
                    )?;
                }
                Ok(())
            },
        )),
        ClusterAction::Replicas(a) => exit(with_client(
            "cluster replicas",
            &a.connect,
            async |client, _| {
                let (meta, streams) = crate::jetstream::replica_groups(&client).await?;
                let mut out = std::io::stdout().lock();
                if a.json {
                    serde_json::to_writer(
                        &mut out,
                        &serde_json::json!({"meta": meta, "streams": streams}),
                    )?;
                    writeln!(out)?;
                    return Ok(());
                }
                if let Some(meta) = &meta {
                    writeln!(
                        out,
                        "meta group {} (leader {}, {} peers)",
                        meta.name, meta.leader, meta.size
                    )?;
                    write_peers(&mut out, &meta.peers)?;
                }
                for s in &streams {
                    let leader = if s.leader.is_empty() {
                        "none"
                    } else {
                        &s.leader
                    };
                    writeln!(out, "stream {} {} (leader {leader})", s.account, s.stream)?;
                    write_peers(&mut out, &s.peers)?;
                }
                Ok(())
            },
        )),
        ClusterAction::Links(a) => exit(with_client(
            "cluster links",
            &a.connect,
            async |client, _| {
                let rows = crate::broker::links(&client).await?;
                let mut out = std::io::stdout().lock();
                for r in &rows {
                    if a.json {
                        serde_json::to_writer(&mut out, r)?;
                        writeln!(out)?;
                    } else {
                        writeln!(
                            out,
                            "{:<10} {:<12} {:<24} {:<22} {:>10} {:>10}",
                            r.server,
                            r.kind.label(),
                            r.remote,
                            r.address,
                            r.in_msgs,
                            r.out_msgs
                        )?;
                    }
                }
                Ok(())
            },
        )),
        ClusterAction::Events(a) => exit(with_client(
            "cluster events",
            &a.output.connect,
            async |client, _| {
                let seen = crate::broker::visibility(&client, false).await;
                if !seen.system_account {
                    anyhow::bail!(
                        "connect, disconnect and auth-error events flow in the system account only; \
                         connect with a system-account user"
                    );
                }
                let mut events = crate::broker::server_events(&client).await?;
                eprintln!("eventscope cluster events: listening");
                let feed = async {
                    let mut out = std::io::stdout().lock();
                    while let Some(e) = events.next().await {
                        if a.output.json {
                            serde_json::to_writer(&mut out, &e)?;
                            writeln!(out)?;
                        } else {
                            writeln!(
                                out,
                                "{} {:<10} {:<10} {:<10} cid {:<5} {:<20} {}",
                                crate::capture::timestamp_to_utc(e.at).to_rfc3339(),
                                e.kind.label(),
                                e.server,
                                e.account,
                                e.cid,
                                e.name,
                                e.reason
                            )?;
                        }
                        out.flush()?;
                    }
                    anyhow::Ok(())
                };
                match a.for_secs {
                    Some(secs) => {
                        tokio::time::timeout(Duration::from_secs_f64(secs.max(0.0)), feed)
                            .await
                            .unwrap_or(Ok(()))
                    }
                    None => feed.await,
                }
            },
        )),
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn write_peers(out: &mut impl Write, peers: &[crate::server_answers::Peer]) -> std::io::Result<()> {
    for p in peers.iter().filter(|p| !p.name.is_empty()) {
        writeln!(out, "  {:<12} {}", p.name, p.state())?;
    }
    Ok(())
}
