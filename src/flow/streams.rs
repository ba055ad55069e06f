//! What JetStream's API answers and advisories on the wire say of streams
//! and consumers, each fact kept with the time it became true: which
//! consumers existed when a message was stored (created, updated, deleted,
//! paused), the stream's subject transform and age limit, and what the
//! server removed (deleted, purged, rolled up, expired behind a delete
//! marker). The finals (`settle.rs`) are read from these, so the order in
//! which the monitor saw them does not matter.

use std::collections::BTreeMap;

use foldhash::HashMap;

use super::correlator::Correlator;
use super::model::{Final, Outcome};
use super::nats::{ConsumerAnswer, StreamAnswer, parse_consumer_answer, parse_stream_answer};
use super::transform::SubjectTransform;
use crate::capture::{Record, SubjectPattern, Timestamp};

/// Facts kept per stream are bounded: a stream deleting or purging without
/// end keeps its newest ones.
const FACTS_KEPT: usize = 4096;

#[derive(Default)]
pub(super) struct StreamState {
    /// Its creation answer was seen: every consumer made since is known,
    /// enough to say that none wants a message.
    pub(super) created_seen: bool,
    pub(super) interest: bool,
    pub(super) transform: Option<SubjectTransform>,
    pub(super) max_age_ns: Option<i64>,
    pub(super) consumers: Vec<KnownConsumer>,
    /// Consumers deleted, by name, and when (the delete answer or the
    /// `CONSUMER.DELETED` advisory).
    pub(super) deleted_consumers: HashMap<String, Timestamp>,
    /// Pauses per consumer, oldest first.
    pub(super) pauses: HashMap<String, Vec<Pause>>,
    /// Purges, rollups and delete markers, oldest first.
    pub(super) removals: Vec<StreamRemoval>,
    /// Messages deleted by sequence (`STREAM.MSG.DELETE`).
    pub(super) deleted_msgs: BTreeMap<u64, Timestamp>,
}

/// One consumer's configuration for as long as it held.
pub(super) struct KnownConsumer {
    pub(super) name: String,
    /// Empty: every subject of the stream.
    pub(super) filters: Vec<SubjectPattern>,
    pub(super) since: Timestamp,
    /// Deleted, or its configuration replaced by an update.
    pub(super) until: Option<Timestamp>,
    pub(super) ack_none: bool,
}

impl KnownConsumer {
    fn wants(&self, subject: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| f.matches(subject))
    }

    fn alive_at(&self, at: Timestamp) -> bool {
        self.since <= at && self.until.is_none_or(|until| at < until)
    }
}

/// A consumer paused from `from` until `until` (its `pause_until`, or when
/// it was resumed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pause {
    pub(super) from: Timestamp,
    pub(super) until: Timestamp,
}

/// Something the server removed from a stream, over many messages.
pub(super) enum StreamRemoval {
    /// `STREAM.PURGE`: every message stored before `at` matching `filter`
    /// and below `below_seq`.
    Purge {
        at: Timestamp,
        filter: Option<SubjectPattern>,
        below_seq: Option<u64>,
    },
    /// A message published with `Nats-Rollup`: every earlier one on its
    /// subject (`sub`) or in the stream (`all`).
    Rollup {
        at: Timestamp,
        seq: u64,
        subject: Option<String>,
    },
    /// A delete marker the server stored (`Nats-Marker-Reason`): the
    /// messages on its subject stored before it are gone.
    Marker {
        at: Timestamp,
        seq: u64,
        subject: String,
        reason: super::settle::RemovalReason,
    },
}

impl StreamState {
    /// What became of a message no consumer was delivered, if the stream's
    /// consumers say: none wants it (`Unmatched`), or, on an interest
    /// stream, none wanted it when it came (`NotRetained`). Consumers
    /// deleted before it was stored do not count.
    pub(super) fn unwanted(&self, subject: &str, at: Timestamp) -> Option<Final> {
        if !self.created_seen {
            return None;
        }
        let could_get = |c: &KnownConsumer| {
            c.wants(subject)
                && if self.interest {
                    c.alive_at(at)
                } else {
                    c.until.is_none_or(|until| at < until)
                }
        };
        if self.consumers.iter().any(could_get) {
            return None;
        }
        Some(if self.interest {
            Final::NotRetained
        } else {
            Final::Unmatched
        })
    }

    /// Consumers that existed when a message on `subject` was stored at
    /// `at`, want it, and expect an answer for it.
    pub(super) fn expecting(&self, subject: &str, at: Timestamp) -> impl Iterator<Item = &str> {
        self.consumers
            .iter()
            .filter(move |c| !c.ack_none && c.alive_at(at) && c.wants(subject))
            .map(|c| c.name.as_str())
    }

    /// The consumer's current configuration says `ack_policy: none`.
    pub(super) fn expects_no_answer(&self, consumer: &str) -> bool {
        self.consumers
            .iter()
            .rev()
            .find(|c| c.name == consumer)
            .is_some_and(|c| c.ack_none)
    }

    /// The pause a delivery at `delivered` of a message stored at `stored`
    /// waited on, if any.
    pub(super) fn pause_between(
        &self,
        consumer: &str,
        stored: Timestamp,
        delivered: Timestamp,
    ) -> Option<Pause> {
        self.pauses
            .get(consumer)?
            .iter()
            .rev()
            .find(|p| p.from < delivered && stored < p.until)
            .copied()
    }

    fn learn_consumer(&mut self, consumer: &ConsumerAnswer, at: Timestamp) {
        let filters: Vec<SubjectPattern> = consumer
            .filters
            .iter()
            .filter_map(|f| SubjectPattern::parse(f).ok())
            .collect();
        let current = self
            .consumers
            .iter_mut()
            .rev()
            .find(|c| c.name == consumer.name && c.until.is_none());
        if let Some(current) = current {
            if current.filters == filters && current.ack_none == consumer.ack_none {
                return; // an info answer, or the same configuration again
            }
            // An update: the old configuration held until now.
            current.until = Some(at);
        }
        if self
            .deleted_consumers
            .get(&consumer.name)
            .is_some_and(|deleted| *deleted <= at)
        {
            self.deleted_consumers.remove(&consumer.name);
        }
        if self.consumers.len() >= FACTS_KEPT {
            self.consumers.retain(|c| c.until.is_none());
        }
        self.consumers.push(KnownConsumer {
            name: consumer.name.clone(),
            filters,
            since: at,
            until: None,
            ack_none: consumer.ack_none,
        });
    }

    pub(super) fn consumer_deleted(&mut self, name: &str, at: Timestamp) {
        for c in self.consumers.iter_mut() {
            if c.name == name && c.until.is_none_or(|until| until > at) && c.since <= at {
                c.until = Some(at);
            }
        }
        let entry = self.deleted_consumers.entry(name.to_owned()).or_insert(at);
        *entry = (*entry).min(at);
    }

    pub(super) fn paused(&mut self, name: &str, at: Timestamp, until: Option<Timestamp>) {
        let pauses = self.pauses.entry(name.to_owned()).or_default();
        match until {
            Some(until) => {
                if pauses.len() >= 64 {
                    pauses.remove(0);
                }
                pauses.push(Pause { from: at, until });
            }
            // Resumed: the pause open at `at` ends there.
            None => {
                if let Some(open) = pauses
                    .iter_mut()
                    .rev()
                    .find(|p| p.from <= at && at < p.until)
                {
                    open.until = at;
                }
            }
        }
    }

    pub(super) fn removal(&mut self, removal: StreamRemoval) {
        if self.removals.len() >= FACTS_KEPT {
            self.removals.remove(0);
        }
        self.removals.push(removal);
    }

    pub(super) fn message_deleted(&mut self, seq: u64, at: Timestamp) {
        if self.deleted_msgs.len() >= FACTS_KEPT {
            self.deleted_msgs.pop_first();
        }
        self.deleted_msgs.insert(seq, at);
    }
}

impl Correlator {
    pub(super) fn stream_state(&mut self, stream: &str) -> &mut StreamState {
        if !self.streams.contains_key(stream) {
            self.streams
                .insert(stream.to_owned(), StreamState::default());
        }
        self.streams
            .get_mut(stream)
            .expect("inserted just above when missing")
    }

    /// Learn from a JetStream API answer: a stream or a consumer created,
    /// updated or described. False if the record is no such answer.
    pub(super) fn learn_from_api_answer(&mut self, record: &Record) -> bool {
        if let Some(stream) = parse_stream_answer(record.payload()) {
            self.learn_stream(stream, record.received_at);
            return true;
        }
        if let Some(consumer) = parse_consumer_answer(record.payload()) {
            self.learn_consumer(consumer, record.received_at);
            return true;
        }
        false
    }

    /// A stream's configuration from a creation, update or info answer.
    /// Only a creation says that every consumer since is known.
    fn learn_stream(&mut self, stream: StreamAnswer, at: Timestamp) {
        let state = self.stream_state(&stream.name);
        if stream.created {
            // Consumers of an earlier stream of that name are gone; those
            // made after this creation (seen first, from another
            // connection) stay.
            state.created_seen = true;
            state.consumers.retain(|c| c.since >= at);
        }
        state.interest = stream.interest;
        state.transform = stream.transform;
        state.max_age_ns = stream.max_age_ns;
    }

    /// A consumer's creation (or info, or update) answer: its filters and
    /// whether it expects answers, from now on.
    fn learn_consumer(&mut self, consumer: ConsumerAnswer, at: Timestamp) {
        self.stream_state(&consumer.stream)
            .learn_consumer(&consumer, at);
        if consumer.ack_none {
            self.no_answer_expected(&consumer.stream, &consumer.name);
        }
    }

    /// Deliveries seen before their consumer's creation answer said it
    /// expects no answers: delivered, not waiting.
    pub(super) fn no_answer_expected(&mut self, stream: &str, consumer: &str) {
        for flow in self.flows.iter_mut() {
            if flow.detail().stream.as_deref() != Some(stream)
                || !flow
                    .detail()
                    .deliveries
                    .iter()
                    .any(|d| d.consumer == consumer)
            {
                continue;
            }
            for d in flow.detail_mut().deliveries.iter_mut() {
                if d.consumer == consumer && d.outcome == Outcome::Pending {
                    d.outcome = Outcome::Delivered;
                }
            }
        }
    }
}
