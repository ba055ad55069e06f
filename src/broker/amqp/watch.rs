//! What one monitoring connection keeps while it runs: the monitor's own
//! queue and where it is bound (`EXCHANGE/BINDING_KEY`, the firehose for
//! `>`), refusals and warnings per pattern in words, and the firehose
//! probe (one unroutable message of the monitor's own whose trace must
//! come back, or tracing is off).

use std::collections::HashMap;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, QueueBindOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use thiserror::Error;

use super::link::refusal;
use super::message::FIREHOSE;
use crate::broker::reading::Reading;

/// How long the firehose may stay silent after the monitor's probe before
/// it is said to be off.
pub(super) const PROBE_WAIT: Duration = Duration::from_secs(3);
/// The routing key of the firehose probe's prefix.
pub(super) const PROBE_KEY: &str = "eventscope.firehose-probe.";

/// `>` and `#` (every profile's default) mean the firehose: RabbitMQ has no
/// other way to see everything.
fn binding_of(pattern: &str) -> Option<(String, String)> {
    if pattern == ">" || pattern == "#" {
        return Some((FIREHOSE.to_owned(), "#".to_owned()));
    }
    let (exchange, key) = pattern.split_once('/')?;
    (!exchange.is_empty()).then(|| (exchange.to_owned(), key.to_owned()))
}

/// A pattern's syntax (for the profile's check).
pub(crate) fn check_pattern(pattern: &str) -> Result<(), BadBinding> {
    match binding_of(pattern) {
        Some(_) => Ok(()),
        None => Err(BadBinding(pattern.to_owned())),
    }
}

/// A RabbitMQ pattern that names no binding.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "'{0}': write EXCHANGE/BINDING_KEY (orders/# for every routing key), or amq.rabbitmq.trace/# for the firehose"
)]
pub struct BadBinding(pub String);

/// The firehose probe waiting for its trace.
pub(super) struct Probe {
    pub(super) until: tokio::time::Instant,
    pub(super) seen: bool,
}

/// What one monitoring connection keeps while it runs.
pub(super) struct Watch {
    pub(super) reading: Reading,
    /// The monitor's own queue.
    pub(super) queue: String,
    /// The channel bindings are made on: a refusal closes it, and the next
    /// operation opens another (the reading channel is never touched).
    pub(super) admin: Option<Channel>,
    /// Patterns the broker refused, with its reason in words.
    pub(super) refused: HashMap<String, String>,
    pub(super) probe: Option<Probe>,
    /// The patterns bound to the firehose.
    pub(super) firehose: Vec<String>,
    /// Whether the firehose was probed on this connection.
    pub(super) probed: bool,
    /// Patterns bound, with something the user must know (the firehose
    /// is off).
    pub(super) warnings: HashMap<String, String>,
    pub(super) vhost: String,
}

impl Watch {
    async fn admin(&mut self, connection: &Connection) -> lapin::Result<Channel> {
        if let Some(channel) = &self.admin
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let channel = connection.create_channel().await?;
        self.admin = Some(channel.clone());
        Ok(channel)
    }

    /// Bind the monitor's queue as `pattern` says; a refusal is the
    /// pattern's error in words. An error returned ends the connection.
    pub(super) async fn bind(
        &mut self,
        connection: &Connection,
        pattern: &str,
    ) -> lapin::Result<()> {
        let Some((exchange, key)) = binding_of(pattern) else {
            let why = BadBinding(pattern.to_owned()).to_string();
            self.refused.insert(pattern.to_owned(), why);
            return Ok(());
        };
        let channel = self.admin(connection).await?;
        let bound = channel
            .queue_bind(
                self.queue.as_str().into(),
                exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await;
        if let Err(e) = bound {
            if !connection.status().connected() {
                return Err(e);
            }
            let why = if exchange == FIREHOSE {
                format!(
                    "RabbitMQ would not let this user read the firehose ({}): publishes and deliveries cannot be seen; give the user read permission on amq.rabbitmq.trace in vhost '{}'",
                    refusal(&e),
                    self.vhost
                )
            } else {
                format!("RabbitMQ refused to bind '{pattern}': {}", refusal(&e))
            };
            self.reading.shared.push_error(why.clone());
            self.refused.insert(pattern.to_owned(), why);
        } else if exchange == FIREHOSE {
            self.firehose.push(pattern.to_owned());
        }
        Ok(())
    }

    pub(super) async fn unbind(
        &mut self,
        connection: &Connection,
        pattern: &str,
    ) -> lapin::Result<()> {
        self.firehose.retain(|p| p != pattern);
        self.warnings.remove(pattern);
        let Some((exchange, key)) = binding_of(pattern) else {
            return Ok(());
        };
        let channel = self.admin(connection).await?;
        let unbound = channel
            .queue_unbind(
                self.queue.as_str().into(),
                exchange.as_str().into(),
                key.as_str().into(),
                FieldTable::default(),
            )
            .await;
        match unbound {
            Err(e) if !connection.status().connected() => Err(e),
            _ => Ok(()),
        }
    }

    /// With the firehose bound, publish one unroutable message of the
    /// monitor's own and wait for its trace: silence means tracing is off
    /// on this vhost, and the user is told how to turn it on.
    pub(super) async fn probe_firehose(
        &mut self,
        connection: &Connection,
        token: &str,
    ) -> lapin::Result<()> {
        if self.firehose.is_empty() || self.probed {
            return Ok(());
        }
        self.probed = true;
        let channel = self.admin(connection).await?;
        let sent = channel
            .basic_publish(
                "".into(),
                format!("{PROBE_KEY}{token}").as_str().into(),
                BasicPublishOptions::default(),
                b"",
                BasicProperties::default(),
            )
            .await;
        if let Err(e) = sent
            && !connection.status().connected()
        {
            return Err(e);
        }
        self.probe = Some(Probe {
            until: tokio::time::Instant::now() + PROBE_WAIT,
            seen: false,
        });
        Ok(())
    }

    /// The probe's trace did not come.
    pub(super) fn firehose_silent(&mut self) {
        if self.probe.take().is_some_and(|p| !p.seen) {
            let why = format!(
                "the firehose is off on vhost '{0}': no publish or delivery can be seen through amq.rabbitmq.trace until it is on (rabbitmqctl trace_on -p '{0}')",
                self.vhost
            );
            self.reading.shared.push_error(why.clone());
            for pattern in &self.firehose {
                self.warnings.insert(pattern.clone(), why.clone());
            }
        }
    }
}
