//! How JetStream settles a delivery (measured on nats-server 2.15.1): the
//! first ACK or TERM by its time settles the message for that consumer,
//! whatever order the monitor saw the answers in; a NAK or a progress
//! note only says where it stands until then; MAX_DELIVERIES ends it.

use crate::capture::Timestamp;
use crate::flow::model::{Delivery, Flow, Outcome};
use crate::flow::rules::ConsumerState;

use crate::flow::vocabulary::AckBody;

/// The same delivery seen in two flows: keep what each saw, the earlier
/// settlement winning as it does on the server.
pub(super) fn merge(ours: &mut Delivery, other: Delivery) {
    if ours.record.is_none() && other.record.is_some() {
        ours.record = other.record;
        ours.at = other.at;
    }
    ours.answered_at = ours.answered_at.max(other.answered_at);
    match (ours.settled_at, other.settled_at) {
        (mine, Some(theirs)) if mine.is_none_or(|mine| theirs < mine) => {
            ours.settled_at = Some(theirs);
            ours.outcome = other.outcome;
            ours.reason = other.reason;
        }
        (Some(_), _) | (None, Some(_)) => {}
        (None, None) => {
            if ours.outcome == Outcome::Pending || other.outcome == Outcome::Nak {
                ours.outcome = other.outcome;
            }
        }
    }
}

/// Apply one answer as the server does: the first ACK or TERM (by its
/// time, not the order the monitor saw it in) settles the delivery and
/// every later answer changes nothing; until then a NAK or a progress
/// note says where it stands.
pub(super) fn answer(delivery: &mut Delivery, body: &AckBody, at: Timestamp) {
    delivery.answered_at = delivery.answered_at.max(Some(at));
    let settled_before = delivery.settled_at.is_some_and(|s| s <= at);
    match body {
        AckBody::Ack | AckBody::Next | AckBody::Term { .. } if !settled_before => {
            delivery.settled_at = Some(at);
            (delivery.outcome, delivery.reason) = match body {
                AckBody::Term { reason } => (Outcome::Term, reason.as_deref().map(Box::from)),
                _ => (Outcome::Ack, None),
            };
        }
        _ if delivery.settled_at.is_some() => {}
        AckBody::Nak { .. } => delivery.outcome = Outcome::Nak,
        AckBody::Progress if delivery.outcome == Outcome::Pending => {
            delivery.outcome = Outcome::Wpi
        }
        _ => {}
    }
}

/// One consumer's state: the earliest settlement in time (an ACK sent on
/// an earlier delivery after a redelivery is honoured; an ACK after a TERM
/// changes nothing), else the server giving up, else the last delivery's
/// standing.
pub(super) fn consumer_state(flow: &Flow, consumer: &str) -> ConsumerState {
    let deliveries = flow
        .detail()
        .deliveries
        .iter()
        .filter(|d| d.consumer == consumer);
    let settled = deliveries
        .clone()
        .filter_map(|d| Some((d.settled_at?, d.outcome)))
        .min_by_key(|(at, _)| *at);
    match settled {
        Some((_, Outcome::Term)) => return ConsumerState::Terminated,
        Some(_) => return ConsumerState::Acked,
        None => {}
    }
    if flow.detail().max_deliveries.iter().any(|c| c == consumer) {
        return ConsumerState::MaxDeliveries;
    }
    match deliveries.max_by_key(|d| d.count).map(|d| d.outcome) {
        Some(Outcome::Delivered) => ConsumerState::Delivered,
        _ => ConsumerState::Waiting,
    }
}
