//! Flows through a queueing broker (RabbitMQ): publish -> exchange -> the
//! queues it was routed to -> deliveries to consumers, requeues, and
//! dead-lettering read from the message's own `x-death` history, so that
//! the classic "reject, wait out a TTL in a delay queue, come back to the
//! work queue" loop is one retry timeline, each cycle a row.
//!
//! What the wire cannot show is not claimed: a consumer's ack or reject
//! never reaches a monitor (the firehose traces publishes and deliveries
//! only). A reject shows when the message comes back dead-lettered or
//! redelivered; the last delivery with nothing after it is "delivered".

use super::correlator::Correlator;
use super::model::{Delivery, Flow, FlowId, FlowKind, Outcome, Role, StepKind};
use super::vocabulary::{Hop, QueueEvent};
use crate::capture::{Death, Record, Seq, Timestamp};

/// A bound copy and the firehose's publish of the same message arrive in
/// either order, this close together at most.
const SAME_PUBLISH_NS: i64 = 2_000_000_000;

/// Where a message stands in the broker, as far as the wire showed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueueState {
    /// Published and routed; not delivered yet.
    #[default]
    Queued,
    Delivered,
    /// Dead-lettered last, for this reason.
    DeadLettered(DeathReason),
    Unroutable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeathReason {
    Rejected,
    Expired,
    MaxLength,
    DeliveryLimit,
}

impl DeathReason {
    fn of(reason: &str) -> Self {
        match reason {
            "expired" => Self::Expired,
            "maxlen" => Self::MaxLength,
            "delivery_limit" => Self::DeliveryLimit,
            _ => Self::Rejected,
        }
    }
}

/// A message's hops through exchanges and queues.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueHops {
    pub state: QueueState,
    /// The firehose's publish was seen (with where it was routed).
    pub traced_publish: bool,
    /// A copy on one of the monitor's bindings was seen.
    pub copy_seen: bool,
    /// Dead-letterings counted so far: (queue, reason) -> count.
    pub deaths: Vec<(String, String, u64)>,
    /// Deliveries so far, every queue and cycle together.
    pub deliveries: u64,
}

fn hops_mut(flow: &mut Flow) -> &mut QueueHops {
    flow.detail_mut()
        .extras_mut()
        .queued
        .get_or_insert_with(Box::default)
}

impl Correlator {
    pub(super) fn on_queued(&mut self, seq: Seq, record: &Record, event: &QueueEvent) {
        let at = record.received_at;
        let known = self
            .queued
            .get(&event.key)
            .copied()
            .filter(|id| self.get(*id).is_some());
        let id = match (&event.hop, known) {
            (Hop::Published { routed, .. }, Some(id)) => {
                let traced = routed.is_some();
                let same = self.get(id).is_some_and(|flow| {
                    let hops = flow.detail().queued_hops();
                    let grew = dead_letter_news(hops, &event.deaths);
                    // Published again after a consumer had it: the
                    // consumer's own retry or parking, one more hop.
                    let republished = traced && hops.is_some_and(|h| h.deliveries > 0);
                    let unseen_half = hops.is_none_or(|h| {
                        if traced {
                            !h.traced_publish
                        } else {
                            !h.copy_seen
                        }
                    });
                    grew || republished || (unseen_half && at - flow.started_at <= SAME_PUBLISH_NS)
                });
                if same {
                    id
                } else {
                    self.new_queued_flow(seq, record)
                }
            }
            (_, Some(id)) => id,
            (_, None) => self.new_queued_flow(seq, record),
        };
        self.queued.insert(event.key, id);
        let Some(flow) = self.get_mut(id) else {
            return;
        };
        flow.updated_at = flow.updated_at.max(at);
        apply_deaths(flow, &event.deaths, &event.hop, at);
        match &event.hop {
            Hop::Published {
                exchange,
                routing_key,
                routed,
                client,
            } => published(
                flow,
                seq,
                at,
                exchange,
                routing_key,
                routed.as_deref(),
                client.as_deref(),
            ),
            Hop::Delivered {
                queue,
                consumer,
                redelivered,
                ..
            } => delivered(flow, seq, at, queue, consumer, *redelivered),
        }
    }

    fn new_queued_flow(&mut self, seq: Seq, record: &Record) -> FlowId {
        let kind = if record.reply().is_some() {
            FlowKind::Request
        } else {
            FlowKind::Queued
        };
        let mut flow = Flow::new(self.next_id(), kind, record.subject(), record.received_at);
        flow.broker = self.broker_of(record.connection);
        flow.first_record = Some(seq);
        let headers = self.publish_headers(record);
        flow.producer = headers.producer;
        flow.trace_id = headers.trace_id;
        flow.msg_id = headers.msg_id;
        if let Some(key) = headers.identity {
            self.on_identity(&mut flow, key);
        }
        if kind == FlowKind::Request
            && let (Some(reply), Some(key)) = (
                record.reply(),
                self.rules_of(record.connection).request_key(record),
            )
        {
            flow.detail_mut().reply_subject = Some(reply.into());
            flow.detail_mut().request_at = Some(record.received_at);
            self.by_reply.insert(key.into(), flow.id);
        }
        hops_mut(&mut flow);
        self.push(flow)
    }
}

/// Whether `deaths` holds dead-letterings the flow has not counted.
fn dead_letter_news(hops: Option<&QueueHops>, deaths: &[Death]) -> bool {
    deaths.iter().any(|d| {
        let known = hops
            .and_then(|h| {
                h.deaths
                    .iter()
                    .find(|(q, r, _)| *q == d.queue && *r == d.reason)
            })
            .map_or(0, |(_, _, n)| *n);
        d.count > known
    })
}

fn producer_lane(flow: &mut Flow, client: Option<&str>) -> usize {
    let name = match (&flow.producer, client) {
        (Some(p), _) => p.clone(),
        (None, Some(c)) => format!("client {c}"),
        (None, None) => super::model::UNKNOWN_PRODUCER.into(),
    };
    flow.lane(&name, Role::Producer)
}

fn exchange_name(exchange: &str) -> &str {
    if exchange.is_empty() {
        crate::capture::AMQP_DEFAULT_EXCHANGE
    } else {
        exchange
    }
}

fn published(
    flow: &mut Flow,
    seq: Seq,
    at: Timestamp,
    exchange: &str,
    routing_key: &str,
    routed: Option<&[String]>,
    client: Option<&str>,
) {
    let hops = hops_mut(flow);
    let first = !hops.traced_publish && !hops.copy_seen;
    if routed.is_some() && hops.traced_publish && hops.deliveries > 0 {
        republished(
            flow,
            seq,
            at,
            exchange,
            routing_key,
            routed.unwrap_or_default(),
        );
        return;
    }
    match routed {
        Some(_) if hops.traced_publish => return,
        Some(_) => hops.traced_publish = true,
        None => {
            hops.copy_seen = true;
            if !first {
                return;
            }
        }
    }
    let exchange = exchange_name(exchange).to_owned();
    // The producer's lane first: lanes are drawn left to right as made.
    let p = first.then(|| producer_lane(flow, client));
    let x = flow.lane(&exchange, Role::Subject);
    if let Some(p) = p {
        let verb = if flow.kind == FlowKind::Request {
            StepKind::Request
        } else {
            StepKind::Publish
        };
        flow.step(at, Some(seq), verb, p, x, format!("publish {routing_key}"));
    } else if let Some(client) = client
        && flow.producer.is_none()
    {
        // The copy came first: the firehose names the publisher.
        let name = format!("client {client}");
        if let Some(lane) = flow
            .detail_mut()
            .lanes
            .iter_mut()
            .find(|l| l.role == Role::Producer)
        {
            lane.name = name;
        }
    }
    let Some(routed) = routed else { return };
    if routed.is_empty() {
        flow.step(
            at,
            Some(seq),
            StepKind::DeadLetter,
            x,
            x,
            "unroutable: no queue bound for this routing key".into(),
        );
        hops_mut(flow).state = QueueState::Unroutable;
        return;
    }
    for queue in routed {
        let q = flow.lane(queue, Role::Stream);
        flow.step(
            at,
            Some(seq),
            StepKind::Route,
            x,
            q,
            format!("routed to {queue}"),
        );
    }
}

/// Published again by the consumer that had it last (its own retry, or a
/// parking queue): a row from that consumer to the exchange, and on to the
/// queues it was routed to.
fn republished(
    flow: &mut Flow,
    seq: Seq,
    at: Timestamp,
    exchange: &str,
    routing_key: &str,
    routed: &[String],
) {
    settle_any_pending(flow, "published again by its consumer");
    let consumer = flow
        .detail()
        .lanes
        .iter()
        .rposition(|l| l.role == Role::Consumer);
    let x = flow.lane(exchange_name(exchange), Role::Subject);
    let from = consumer.unwrap_or(x);
    flow.step(
        at,
        Some(seq),
        StepKind::Publish,
        from,
        x,
        format!("published again: {routing_key}"),
    );
    hops_mut(flow).state = if routed.is_empty() {
        QueueState::Unroutable
    } else {
        QueueState::Queued
    };
    for queue in routed {
        let q = flow.lane(queue, Role::Stream);
        flow.step(
            at,
            Some(seq),
            StepKind::Route,
            x,
            q,
            format!("routed to {queue}"),
        );
    }
}

/// Every delivery still pending is settled (what came after says so).
fn settle_any_pending(flow: &mut Flow, reason: &str) {
    for d in &mut flow.detail_mut().deliveries {
        if d.outcome == Outcome::Pending {
            d.outcome = Outcome::Settled;
            d.reason = Some(reason.into());
        }
    }
}

/// Dead-letterings the message's `x-death` shows and the flow has not
/// drawn yet, oldest first: each a row from the queue that dead-lettered
/// it to the exchange it went to (the next entry's, or the event's own),
/// and on to the queue that exchange routed it to.
fn apply_deaths(flow: &mut Flow, deaths: &[Death], hop: &Hop, at: Timestamp) {
    if !dead_letter_news(flow.detail().queued_hops(), deaths) {
        return;
    }
    let (event_exchange, event_queue) = match hop {
        Hop::Published { exchange, .. } => (exchange.as_str(), None),
        Hop::Delivered {
            exchange, queue, ..
        } => (exchange.as_str(), Some(queue.as_str())),
    };
    // Newest first in the header: walk it oldest first.
    for (i, death) in deaths.iter().enumerate().rev() {
        let hops = hops_mut(flow);
        let known = match hops
            .deaths
            .iter_mut()
            .find(|(q, r, _)| *q == death.queue && *r == death.reason)
        {
            Some(entry) => std::mem::replace(&mut entry.2, death.count),
            None => {
                hops.deaths
                    .push((death.queue.clone(), death.reason.clone(), death.count));
                0
            }
        };
        if death.count <= known {
            continue;
        }
        let newer = i.checked_sub(1).and_then(|n| deaths.get(n));
        let to_exchange = newer.map_or(event_exchange, |n| n.exchange.as_str());
        let to_queue = newer.map(|n| n.queue.as_str()).or(event_queue);
        let reason = DeathReason::of(&death.reason);
        hops.state = QueueState::DeadLettered(reason);
        if reason == DeathReason::Rejected {
            settle_last_delivery(flow, &death.queue, Outcome::Nak, "rejected: dead-lettered");
        }
        let times = death.count - known;
        let label = match times {
            1 => format!("dead-lettered from {}: {}", death.queue, death.reason),
            n => format!("dead-lettered from {} ×{n}: {}", death.queue, death.reason),
        };
        let from = flow.lane(&death.queue, Role::Stream);
        let x = flow.lane(exchange_name(to_exchange), Role::Subject);
        flow.step(at, None, StepKind::DeadLetter, from, x, label);
        if let Some(queue) = to_queue {
            let q = flow.lane(queue, Role::Stream);
            flow.step(
                at,
                None,
                StepKind::Route,
                x,
                q,
                format!("routed to {queue}"),
            );
        }
    }
}

/// The last pending delivery from `queue` gets `outcome` (its answer was
/// not on the wire; what came after says what it was).
fn settle_last_delivery(flow: &mut Flow, queue: &str, outcome: Outcome, reason: &str) {
    let prefix = format!("{queue} -> ");
    if let Some(d) = flow
        .detail_mut()
        .deliveries
        .iter_mut()
        .filter(|d| d.consumer.starts_with(&prefix) && d.outcome == Outcome::Pending)
        .max_by_key(|d| d.count)
    {
        d.outcome = outcome;
        d.reason = Some(reason.into());
    }
}

fn delivered(
    flow: &mut Flow,
    seq: Seq,
    at: Timestamp,
    queue: &str,
    consumer: &str,
    redelivered: bool,
) {
    if redelivered {
        settle_last_delivery(flow, queue, Outcome::Nak, "requeued");
    }
    let hops = hops_mut(flow);
    hops.deliveries += 1;
    hops.state = QueueState::Delivered;
    let count = hops.deliveries;
    let q = flow.lane(queue, Role::Stream);
    let c = flow.lane(&format!("consumer {consumer}"), Role::Consumer);
    let label = if redelivered {
        format!("deliver #{count} (redelivered)")
    } else {
        format!("deliver #{count}")
    };
    flow.step(at, Some(seq), StepKind::Deliver { count }, q, c, label);
    flow.detail_mut().add_delivery(Delivery {
        consumer: format!("{queue} -> {consumer}"),
        count,
        record: Some(seq),
        at,
        answered_at: None,
        settled_at: None,
        outcome: Outcome::Pending,
        reason: None,
    });
}

/// How a queued flow ended, as far as the wire shows.
pub(super) fn queued_final(flow: &Flow) -> super::model::Final {
    use super::model::Final;
    match flow
        .detail()
        .queued_hops()
        .map(|h| h.state)
        .unwrap_or_default()
    {
        QueueState::Queued => Final::Pending,
        QueueState::Delivered => Final::Delivered,
        QueueState::Unroutable => Final::Unroutable,
        QueueState::DeadLettered(DeathReason::Expired) => Final::Expired,
        QueueState::DeadLettered(_) => Final::DeadLettered,
    }
}
