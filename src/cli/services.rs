//! `services`: every NATS micro service the connection's account reaches
//! (`$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`), each instance and endpoint
//! with its counters, as a table or JSON.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::ConnectArgs;
use super::connected::{exit, with_client};
use crate::server_answers::Service;

#[derive(Debug, Args)]
pub struct ServicesArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// One JSON object per service (its instances and their endpoints
    /// with their stats), one per line.
    #[arg(long)]
    pub json: bool,
}

pub fn services_command(args: ServicesArgs) -> ExitCode {
    exit(with_client("services", &args.connect, async |client, _| {
        let services = crate::broker::services(&client).await?;
        let mut out = std::io::stdout().lock();
        if args.json {
            for service in &services {
                serde_json::to_writer(&mut out, service)?;
                writeln!(out)?;
            }
        } else {
            table(&mut out, &services)?;
        }
        if services.is_empty() {
            eprintln!(
                "eventscope services: no micro service answered $SRV.PING in this connection's account"
            );
        }
        Ok(())
    }))
}

/// A line per service, then its endpoints indented.
fn table(out: &mut impl Write, services: &[Service]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<24} {:<12} {:>9} {:>9} {:>7} {:>10}  last error",
        "service / endpoint", "version", "instances", "requests", "errors", "avg ms"
    )?;
    for s in services {
        writeln!(
            out,
            "{:<24} {:<12} {:>9} {:>9} {:>7} {:>10.3}  {}",
            s.name,
            s.versions.join(","),
            s.instances.len(),
            s.requests(),
            s.errors(),
            s.average_ns() as f64 / 1e6,
            s.last_error().map_or("-", |(_, e)| e)
        )?;
        for e in s.endpoints() {
            let queue = e.queue_group.as_deref().unwrap_or("-");
            writeln!(
                out,
                "  {:<22} {:<12} {:>9} {:>9} {:>7} {:>10.3}  {}  (subject {}, queue {queue})",
                e.name,
                "",
                "",
                e.requests,
                e.errors,
                e.average_ns as f64 / 1e6,
                e.last_error.as_deref().unwrap_or("-"),
                e.subject
            )?;
        }
    }
    Ok(())
}
