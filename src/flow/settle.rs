//! How a flow ended, by the server's own rules (nats-server 2.15): each
//! consumer that existed when the message was stored has a state (waiting,
//! acked, terminated, given up, delivered with no answer expected, or gone
//! with its consumer), decided by the first ACK or TERM in time, not by the
//! order answers reached the monitor; the message itself may have been
//! removed (expired, deleted, purged, rolled up). The verdict reads the
//! flow and what `streams.rs` knows of its stream, when asked, so facts
//! that arrive late still count.

use std::borrow::Cow;

use serde::Serialize;

use super::correlator::Correlator;
use super::model::{Final, Flow, FlowKind, Outcome};
use super::rules::{ConsumerState, rules_for};
use super::streams::{StreamRemoval, StreamState};
use crate::capture::Timestamp;

/// Why the server removed a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// Its `Nats-TTL` ran out.
    Ttl,
    /// The stream's `max_age` ran out (or a delete marker said `MaxAge`).
    MaxAge,
    /// Deleted by sequence (`STREAM.MSG.DELETE`, or a `Remove` marker).
    Deleted,
    Purged,
    /// A later message with `Nats-Rollup` replaced it.
    RolledUp,
    /// The consumer it was waiting on was deleted.
    ConsumerDeleted,
}

/// What removed a message, and when, where the wire says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Removal {
    pub reason: RemovalReason,
    /// RFC 3339 in JSON; `None` when the wire does not say when.
    #[serde(serialize_with = "super::export::optional_timestamp")]
    pub at: Option<Timestamp>,
    /// For `consumer_deleted`: which consumer.
    pub consumer: Option<String>,
}

/// A service's error reply (`Nats-Service-Error-Code`, `Nats-Service-Error`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceError {
    pub code: Option<String>,
    pub description: String,
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.description),
            None => f.write_str(&self.description),
        }
    }
}

/// A flow's final and, for `removed`, why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub final_outcome: Option<Final>,
    pub removed: Option<Removal>,
}

impl From<Final> for Verdict {
    fn from(final_outcome: Final) -> Self {
        Self {
            final_outcome: Some(final_outcome),
            removed: None,
        }
    }
}

impl Verdict {
    /// What the server did, in words, where a final alone does not say it
    /// (why a message was removed, what a service answered, where else the
    /// event is stored).
    pub fn explain(&self, flow: &Flow) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(removed) = &self.removed {
            let why = match removed.reason {
                RemovalReason::Ttl => "its Nats-TTL ran out".to_owned(),
                RemovalReason::MaxAge => "the stream's max age ran out".to_owned(),
                RemovalReason::Deleted => "deleted from the stream".to_owned(),
                RemovalReason::Purged => "purged from the stream".to_owned(),
                RemovalReason::RolledUp => "replaced by a later rollup".to_owned(),
                RemovalReason::ConsumerDeleted => format!(
                    "consumer {} was deleted before it answered",
                    removed.consumer.as_deref().unwrap_or("?")
                ),
            };
            let when = removed.at.map_or_else(String::new, |at| {
                format!(" at {}", crate::capture::file::format_timestamp(at))
            });
            out.push(format!("removed: {why}{when}"));
        }
        if let Some(error) = flow.detail().service_error() {
            out.push(format!("service error {error}"));
        }
        if let Some(links) = flow.links() {
            if let Some(origin) = &links.source {
                out.push(format!(
                    "a copy sourced from {} #{}",
                    origin.stream, origin.seq
                ));
            }
            for copy in &links.copies {
                out.push(format!("copied into {} #{}", copy.stream, copy.seq));
            }
            if let Some(origin) = &links.republish_of {
                out.push(format!(
                    "the server's RePublish copy of {} #{}",
                    origin.stream, origin.seq
                ));
            }
            if let Some(batch) = &links.batch {
                out.push(format!("member {} of atomic batch {}", batch.seq, batch.id));
            }
        }
        if let Some(stored) = flow.stored_subject() {
            out.push(format!("stored as {stored}"));
        }
        out
    }
}

impl Flow {
    /// A delivery's outcome as the server sees it: one still waiting after
    /// another delivery's answer settled the message needs none.
    pub fn delivery_outcome(&self, delivery: &super::model::Delivery) -> Outcome {
        if matches!(delivery.outcome, Outcome::Pending | Outcome::Wpi)
            && self.detail().deliveries.iter().any(|d| {
                d.consumer == delivery.consumer
                    && d.settled_at.is_some()
                    && d.count != delivery.count
            })
        {
            return Outcome::Settled;
        }
        delivery.outcome
    }

    /// The subject the stream stored it under, as far as known.
    pub(super) fn subject_in_stream(&self, stream: Option<&StreamState>) -> Cow<'_, str> {
        if let Some(stored) = self.stored_subject() {
            return Cow::Borrowed(stored);
        }
        match stream
            .and_then(|s| s.transform.as_ref())
            .and_then(|t| t.apply(&self.subject))
        {
            Some(transformed) => Cow::Owned(transformed),
            None => Cow::Borrowed(&self.subject),
        }
    }
}

impl Correlator {
    pub fn final_of(&self, flow: &Flow, now: Timestamp) -> Option<Final> {
        self.verdict(flow, now).final_outcome
    }

    /// How the flow ended; `None` for a core publish (the wire shows no
    /// outcome). `now` decides when a request has had its chance to be
    /// answered and when a message's time to live ran out.
    pub fn verdict(&self, flow: &Flow, now: Timestamp) -> Verdict {
        let detail = flow.detail();
        match flow.kind {
            FlowKind::Publish => Verdict::default(),
            FlowKind::Object => {
                let Some(object) = detail.object() else {
                    return Verdict::default();
                };
                if detail.publish_error.is_some() {
                    Final::PublishFailed.into()
                } else if object.chunks > 0 && object.stored >= object.chunks {
                    Final::Stored.into()
                } else {
                    Final::Pending.into()
                }
            }
            FlowKind::Request => {
                if detail.service_error().is_some() {
                    Final::ServiceError.into()
                } else if detail.reply_at.is_some() {
                    Final::Replied.into()
                } else if now - flow.started_at > self.config.reply_timeout_ns {
                    Final::NoReply.into()
                } else {
                    Final::Pending.into()
                }
            }
            FlowKind::Jetstream | FlowKind::Kv => self.stored_verdict(flow, now),
            FlowKind::Queued => super::queued::queued_final(flow).into(),
            FlowKind::Logged => super::logged::logged_final(flow).into(),
        }
    }

    fn stored_verdict(&self, flow: &Flow, now: Timestamp) -> Verdict {
        let detail = flow.detail();
        if detail.publish_error.is_some() {
            return Final::PublishFailed.into();
        }
        let stream = detail.stream.as_deref().and_then(|s| self.streams.get(s));
        let mut consumers: Vec<(&str, ConsumerState)> = flow
            .consumers()
            .into_iter()
            .map(|c| (c, rules_for(flow.broker).consumer_state(flow, c)))
            .collect();
        if let Some(state) = stream {
            let subject = flow.subject_in_stream(stream);
            for name in state.expecting(&subject, flow.started_at) {
                if !consumers.iter().any(|(c, _)| *c == name) {
                    consumers.push((name, ConsumerState::Waiting));
                }
            }
            for (name, consumer) in consumers.iter_mut() {
                if *consumer == ConsumerState::Waiting
                    && let Some(&deleted) = state.deleted_consumers.get(*name)
                    && deleted >= flow.started_at
                {
                    *consumer = ConsumerState::Deleted(deleted);
                }
            }
        }
        if flow.kind == FlowKind::Kv && detail.stream_seq.is_some() && consumers.is_empty() {
            // Kept as the key's revision; watchers need not answer.
            return Final::Stored.into();
        }
        let any = |wanted: fn(&ConsumerState) -> bool| consumers.iter().any(|(_, s)| wanted(s));
        if any(|s| *s == ConsumerState::MaxDeliveries) {
            return Final::MaxDeliveries.into();
        }
        if any(|s| *s == ConsumerState::Terminated) {
            return Final::Terminated.into();
        }
        let waiting = any(|s| *s == ConsumerState::Waiting);
        let consumer_gone = consumers.iter().find_map(|(name, s)| match s {
            ConsumerState::Deleted(at) => Some(Removal {
                reason: RemovalReason::ConsumerDeleted,
                at: Some(*at),
                consumer: Some((*name).to_owned()),
            }),
            _ => None,
        });
        let message_gone = (waiting || consumer_gone.is_some() || consumers.is_empty())
            .then(|| self.removal(flow, stream, now))
            .flatten();
        // Whichever the server did first.
        let removed = match (message_gone, consumer_gone) {
            (Some(m), Some(c)) => Some(if c.at < m.at { c } else { m }),
            (Some(m), None) => Some(m),
            // Others still owe an answer: the message waits on them.
            (None, c) => c.filter(|_| !waiting),
        };
        if let Some(removed) = removed {
            return Verdict {
                final_outcome: Some(Final::Removed),
                removed: Some(removed),
            };
        }
        if waiting {
            return Final::Pending.into();
        }
        if any(|s| *s == ConsumerState::Acked) {
            return Final::Acked.into();
        }
        if !consumers.is_empty() {
            // Every consumer that got it expects no answer.
            return if flow.kind == FlowKind::Kv {
                Final::Stored
            } else {
                Final::Delivered
            }
            .into();
        }
        if flow.kind == FlowKind::Jetstream
            && let Some(unwanted) =
                stream.and_then(|s| s.unwanted(&flow.subject_in_stream(Some(s)), flow.started_at))
        {
            return unwanted.into();
        }
        Final::Pending.into()
    }

    /// What removed a message still waiting on a consumer, if the wire (or
    /// its time to live, by `now`) says.
    fn removal(
        &self,
        flow: &Flow,
        stream: Option<&StreamState>,
        now: Timestamp,
    ) -> Option<Removal> {
        let detail = flow.detail();
        if let Some(removed) = detail.removed() {
            return Some(removed.clone());
        }
        let stored = flow.started_at;
        let removal = |reason, at| Removal {
            reason,
            at,
            consumer: None,
        };
        if let Some(state) = stream {
            let seq = detail.stream_seq;
            if let Some(seq) = seq
                && let Some(&at) = state.deleted_msgs.get(&seq)
            {
                return Some(removal(RemovalReason::Deleted, Some(at)));
            }
            let subject = flow.subject_in_stream(stream);
            for event in &state.removals {
                match event {
                    StreamRemoval::Purge {
                        at,
                        filter,
                        below_seq,
                    } if stored <= *at
                        && filter.as_ref().is_none_or(|f| f.matches(&subject))
                        && below_seq.is_none_or(|below| seq.is_some_and(|s| s < below)) =>
                    {
                        return Some(removal(RemovalReason::Purged, Some(*at)));
                    }
                    StreamRemoval::Rollup {
                        at,
                        seq: rollup,
                        subject: on,
                    } if seq.is_some_and(|s| s < *rollup)
                        && on.as_ref().is_none_or(|on| *on == subject) =>
                    {
                        return Some(removal(RemovalReason::RolledUp, Some(*at)));
                    }
                    StreamRemoval::Marker {
                        at,
                        seq: marker,
                        subject: on,
                        reason,
                    } if seq.is_some_and(|s| s < *marker) && *on == subject => {
                        return Some(removal(*reason, Some(*at)));
                    }
                    _ => {}
                }
            }
        }
        if let Some(ttl) = flow.ttl_ns()
            && now >= stored.saturating_add(ttl)
        {
            return Some(removal(
                RemovalReason::Ttl,
                Some(stored.saturating_add(ttl)),
            ));
        }
        if let Some(max_age) = stream.and_then(|s| s.max_age_ns)
            && now >= stored.saturating_add(max_age)
        {
            return Some(removal(
                RemovalReason::MaxAge,
                Some(stored.saturating_add(max_age)),
            ));
        }
        None
    }
}
