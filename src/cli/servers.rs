//! `servers`: every server of the cluster the connection reaches, from
//! `$SYS.REQ.SERVER.PING.VARZ` (the system account's), as a table or JSON.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::ConnectArgs;
use super::connected::{exit, with_client};

#[derive(Debug, Args)]
pub struct ServersArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// One JSON object per server, one per line.
    #[arg(long)]
    pub json: bool,
}

/// `servers`: every server of the cluster the connection reaches (needs
/// the system account).
pub fn servers_command(args: ServersArgs) -> ExitCode {
    exit(with_client(
        "servers",
        &args.connect,
        async |client, profile| {
            // Two answers a second apart give the rates.
            let monitoring = profile.monitoring_url.clone();
            let (first, _) =
                crate::broker::server_table_or_one(&client, monitoring.clone()).await?;
            let started = std::time::Instant::now();
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (second, note) = crate::broker::server_table_or_one(&client, monitoring).await?;
            if let Some(note) = note {
                eprintln!("eventscope servers: {note}");
            }
            let seconds = started.elapsed().as_secs_f64();
            let rows = crate::server_answers::with_rates_from(second, &first, seconds);
            let mut out = std::io::stdout().lock();
            if args.json {
                for row in &rows {
                    serde_json::to_writer(&mut out, row)?;
                    writeln!(out)?;
                }
            } else {
                writeln!(
                    out,
                    "{:<16} {:<9} {:<10} {:>6} {:>7} {:>10} {:>10} {:>9} {:>6} {:>5}",
                    "server",
                    "version",
                    "cluster",
                    "conns",
                    "subs",
                    "msgs in/s",
                    "msgs out/s",
                    "mem MiB",
                    "cpu %",
                    "slow"
                )?;
                for r in &rows {
                    writeln!(
                        out,
                        "{:<16} {:<9} {:<10} {:>6} {:>7} {:>10.0} {:>10.0} {:>9.1} {:>6.1} {:>5}",
                        r.name,
                        r.version,
                        r.cluster.as_deref().unwrap_or("-"),
                        r.connections,
                        r.subscriptions,
                        r.in_msgs_per_s.unwrap_or(0.0),
                        r.out_msgs_per_s.unwrap_or(0.0),
                        r.mem as f64 / 1_048_576.0,
                        r.cpu,
                        r.slow_consumers
                    )?;
                }
            }
            Ok(())
        },
    ))
}
