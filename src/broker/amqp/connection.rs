//! The task behind one RabbitMQ connection: a private queue of the
//! monitor's own (exclusive, auto-delete: it ends with the connection),
//! bound wherever the profile's patterns say (`EXCHANGE/BINDING_KEY`, the
//! firehose for `amq.rabbitmq.trace/#`), read into records in batches and
//! acknowledged a batch at a time (a bounded prefetch: the broker holds the
//! backlog, not this process), reconnection with a marked gap, and the
//! commands (subscribe, unsubscribe, send, jobs).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};

use super::link::{AmqpLinkError, open, refusal, said};
use super::message::parts_of;
use super::watch::{PROBE_KEY, Watch};
use crate::broker::profile::ConnectionProfile;
use crate::broker::reading::Reading;
use crate::broker::retrying::{BrokerLink, Ended, LinkError, Retrying};
use crate::broker::status::SubscriptionState;
use crate::broker::{Command, JobProgress, JobSpec, MAX_BATCH, SendMode, SendOutcome, WireMessage};
use crate::capture::{Incoming, TraceEvent, now_timestamp};

/// Messages the broker may send before the monitor acknowledges: the
/// broker keeps the rest queued, so this process's memory stays bounded.
const PREFETCH: u16 = 8192;
/// The monitor queues' prefix (their deliveries in the firehose are a
/// monitor's own reading, not the system's traffic).
const MONITOR_QUEUE: &str = "eventscope.monitor.";
/// Deliveries between two acknowledgements at most: a quarter of
/// PREFETCH, so that the broker never waits on them.
const ACK_EVERY: u32 = PREFETCH as u32 / 4;
/// How long deliveries may wait for their acknowledgement when the
/// traffic stops.
const ACK_TICK: Duration = Duration::from_millis(100);

/// Acknowledge everything delivered so far.
async fn ack_all(channel: &Channel, unacked: &mut Option<(u64, u32)>) -> lapin::Result<()> {
    if let Some((tag, _)) = unacked.take() {
        channel
            .basic_ack(tag, BasicAckOptions { multiple: true })
            .await?;
    }
    Ok(())
}

/// RabbitMQ's part of the monitoring task (`retrying.rs` has the rest).
pub(crate) struct Amqp;

pub(crate) type AmqpTask = Retrying<Amqp>;

impl LinkError for AmqpLinkError {
    fn is_configuration(&self) -> bool {
        AmqpLinkError::is_configuration(self)
    }

    fn is_auth(&self) -> bool {
        AmqpLinkError::is_auth(self)
    }
}

impl BrokerLink for Amqp {
    type Link = (Connection, String);
    type Error = AmqpLinkError;
    const CONNECTION: &'static str = "a RabbitMQ connection";

    async fn open(task: &AmqpTask, url: &str) -> Result<(Connection, String), AmqpLinkError> {
        let name = format!("eventscope monitor {}", crate::broker::own_token());
        Ok((open(&task.profile, url, &name).await?, url.to_owned()))
    }

    async fn session(
        task: &mut AmqpTask,
        (connection, url): (Connection, String),
        ever_up: &mut bool,
    ) -> Ended<AmqpLinkError> {
        let vhost = url.rsplit_once('/').map(|(_, v)| v.to_owned());
        let ended = task.session(&connection, &url, vhost, ever_up).await;
        // Closed by the user, or refused for good: say goodbye.
        if match &ended {
            Ended::Closed => true,
            Ended::Broken(e) => e.is_configuration(),
        } {
            let _ = connection.close(200, "closed".into()).await;
        }
        ended
    }

    async fn send(profile: ConnectionProfile, message: WireMessage, mode: SendMode) -> SendOutcome {
        super::send::send(&profile, message, mode).await
    }

    async fn run_job(profile: ConnectionProfile, job: JobSpec, progress: Arc<JobProgress>) {
        super::send::run_job(profile, job, progress).await
    }
}

impl AmqpTask {
    fn show_subscriptions(&self, watch: &Watch) {
        let states = self
            .profile
            .subscriptions
            .iter()
            .map(|s| SubscriptionState {
                pattern: s.pattern.clone(),
                queue_group: None,
                active: !watch.refused.contains_key(&s.pattern),
                error: watch
                    .refused
                    .get(&s.pattern)
                    .or_else(|| watch.warnings.get(&s.pattern))
                    .cloned(),
            })
            .collect();
        self.shared.update(|s| s.subscriptions = states);
    }

    async fn session(
        &mut self,
        connection: &Connection,
        url: &str,
        vhost: Option<String>,
        ever_up: &mut bool,
    ) -> Ended<AmqpLinkError> {
        let server = crate::broker::redact_url(url);
        let vhost = vhost
            .map(|v| {
                url::form_urlencoded::parse(v.as_bytes())
                    .map(|(k, _)| k)
                    .collect()
            })
            .filter(|v: &String| !v.is_empty())
            .unwrap_or_else(|| "/".to_owned());
        let broken = |e: lapin::Error| Ended::Broken(said(&server, &vhost, &e));
        // A refusal on the monitor's own queue is the user's permissions,
        // not a passing failure.
        let own_queue = |e: lapin::Error| match said(&server, &vhost, &e) {
            AmqpLinkError::Refused { server, reason } if connection.status().connected() => {
                Ended::Broken(AmqpLinkError::OwnQueue {
                    server,
                    vhost: vhost.clone(),
                    reason,
                })
            }
            _ if connection.status().connected() => Ended::Broken(AmqpLinkError::OwnQueue {
                server: server.clone(),
                vhost: vhost.clone(),
                reason: refusal(&e),
            }),
            other => Ended::Broken(other),
        };
        let token = crate::broker::own_token();
        let queue = format!("{MONITOR_QUEUE}{token}");
        let reading_channel = match connection.create_channel().await {
            Ok(c) => c,
            Err(e) => return broken(e),
        };
        if let Err(e) = reading_channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
        {
            return own_queue(e);
        }
        let mut watch = Watch {
            reading: Reading::new(
                self.key,
                self.shared.clone(),
                self.sink.clone(),
                self.profile.subscription_capacity.unwrap_or(usize::MAX),
            ),
            queue,
            admin: None,
            refused: HashMap::new(),
            probe: None,
            firehose: Vec::new(),
            probed: false,
            warnings: HashMap::new(),
            vhost: vhost.clone(),
        };
        for spec in self.profile.subscriptions.clone() {
            if let Err(e) = watch.bind(connection, &spec.pattern).await {
                return broken(e);
            }
        }
        let consumed = async {
            reading_channel
                .basic_qos(PREFETCH, BasicQosOptions::default())
                .await?;
            reading_channel
                .basic_consume(
                    watch.queue.as_str().into(),
                    "eventscope-monitor".into(),
                    BasicConsumeOptions {
                        exclusive: true,
                        ..BasicConsumeOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
        };
        let mut consumer = match consumed.await {
            Ok(c) => c,
            Err(e) => return own_queue(e),
        };
        if let Err(e) = watch.probe_firehose(connection, &token).await {
            return broken(e);
        }
        self.show_subscriptions(&watch);
        *ever_up = true;
        self.sink.link_came_up(self.key, &self.shared).await;
        let tx = self.sink.tx.clone();
        // Acknowledged in bulk: every ACK_EVERY deliveries, and whatever is
        // left at the next tick (one ack per batch cost a fifth of the rate).
        let mut unacked: Option<(u64, u32)> = None;
        let mut tick = tokio::time::interval(ACK_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let ended = loop {
            let probe_until = watch.probe.as_ref().map(|p| p.until);
            tokio::select! {
                biased;
                room = tx.reserve(), if !watch.reading.ready.is_empty() => match room {
                    Ok(room) => watch.reading.send_with(room),
                    Err(_) => break Ended::Closed,
                },
                delivery = consumer.next() => {
                    let first = match delivery {
                        Some(Ok(d)) => d,
                        Some(Err(e)) => break broken(e),
                        None => break Ended::Broken(AmqpLinkError::Closed {
                            server: server.clone(),
                            reason: "the monitor's consumer was cancelled".into(),
                        }),
                    };
                    // Everything already here, then one batch handed over
                    // and acknowledged at once.
                    let now = now_timestamp();
                    let mut last_tag = first.delivery_tag;
                    self.on_delivery(&mut watch, first, now);
                    let mut failed = None;
                    let mut taken: u32 = 1;
                    for _ in 1..MAX_BATCH {
                        match consumer.next().now_or_never() {
                            Some(Some(Ok(d))) => {
                                taken += 1;
                                last_tag = d.delivery_tag;
                                self.on_delivery(&mut watch, d, now);
                            }
                            Some(Some(Err(e))) => {
                                failed = Some(e);
                                break;
                            }
                            _ => break,
                        }
                    }
                    watch.reading.finish_batch();
                    if let Some(e) = failed {
                        break broken(e);
                    }
                    let count = unacked.map_or(0, |(_, n)| n) + taken;
                    unacked = Some((last_tag, count));
                    if count >= ACK_EVERY
                        && let Err(e) = ack_all(&reading_channel, &mut unacked).await
                    {
                        break broken(e);
                    }
                    if watch.probe.as_ref().is_some_and(|p| p.seen) {
                        watch.probe = None;
                    }
                }
                _ = tick.tick(), if unacked.is_some() => {
                    if let Err(e) = ack_all(&reading_channel, &mut unacked).await {
                        break broken(e);
                    }
                }
                _ = async {
                    match probe_until {
                        Some(until) => tokio::time::sleep_until(until).await,
                        None => std::future::pending().await,
                    }
                } => {
                    watch.firehose_silent();
                    self.show_subscriptions(&watch);
                }
                command = self.commands.recv() => match command {
                    None | Some(Command::Close) => break Ended::Closed,
                    Some(Command::Subscribe { spec, .. }) => {
                        if self.profile.subscriptions.iter().any(|s| s.pattern == spec.pattern) {
                            continue;
                        }
                        let bound = watch.bind(connection, &spec.pattern).await;
                        self.profile.subscriptions.push(spec);
                        if let Err(e) = bound {
                            break broken(e);
                        }
                        if let Err(e) = watch.probe_firehose(connection, &token).await {
                            break broken(e);
                        }
                        self.show_subscriptions(&watch);
                    }
                    Some(Command::Unsubscribe { pattern }) => {
                        self.profile.subscriptions.retain(|s| s.pattern != pattern);
                        let was_refused = watch.refused.remove(&pattern).is_some();
                        self.show_subscriptions(&watch);
                        if !was_refused
                            && let Err(e) = watch.unbind(connection, &pattern).await
                        {
                            break broken(e);
                        }
                    }
                    Some(Command::InjectPanic) => panic!("a panic injected by a test"),
                    Some(other) => self.spawn_send(other),
                },
            }
        };
        watch.reading.finish_batch();
        while !watch.reading.ready.is_empty() {
            match tx.reserve().await {
                Ok(room) => watch.reading.send_with(room),
                Err(_) => return Ended::Closed,
            }
        }
        ended
    }

    fn on_delivery(&self, watch: &mut Watch, delivery: Delivery, now: crate::capture::Timestamp) {
        let mut parts = parts_of(
            delivery.exchange.as_str(),
            delivery.routing_key.as_str(),
            delivery.redelivered,
            &delivery.properties,
        );
        match parts.fields.trace {
            // The probe, and monitors' own reading: not the system's.
            Some(TraceEvent::Publish) if parts.fields.routing_key.starts_with(PROBE_KEY) => {
                if let Some(probe) = &mut watch.probe {
                    probe.seen = true;
                }
                return;
            }
            Some(TraceEvent::Deliver)
                if parts
                    .fields
                    .queue
                    .as_deref()
                    .is_some_and(|q| q.starts_with(MONITOR_QUEUE)) =>
            {
                return;
            }
            _ => {}
        }
        // Monitors' queues are not where the system's messages go.
        if let Some(routed) = &mut parts.fields.routed_queues {
            routed.retain(|q| !q.starts_with(MONITOR_QUEUE));
        }
        let fields = parts.fields_json();
        watch.reading.message(
            now,
            &Incoming {
                subject: parts.subject.as_bytes(),
                reply: parts.reply.as_deref().map(str::as_bytes),
                headers: parts.headers.as_deref(),
                fields: &fields,
                payload: &delivery.data,
            },
        );
    }
}
