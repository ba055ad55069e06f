//! What JetStream's API answers on the wire say of streams and consumers:
//! which consumers expect no answer, and, for a stream whose creation was
//! seen, which messages no consumer wants.

use super::classify::{parse_consumer_answer, parse_stream_created};
use super::correlator::{Correlator, KnownConsumer, KnownStream};
use super::model::{Final, Outcome};
use crate::capture::{Record, SubjectPattern, Timestamp};

impl KnownStream {
    /// What became of a message no consumer was delivered, if the stream's
    /// consumers say: none wants it (`Unmatched`), or, on an interest
    /// stream, none wanted it when it came (`NotRetained`).
    pub(super) fn unwanted(&self, subject: &str, at: Timestamp) -> Option<Final> {
        let wants = |c: &KnownConsumer| {
            c.filters.is_empty() || c.filters.iter().any(|f| f.matches(subject))
        };
        if self.interest {
            (!self.consumers.iter().any(|c| c.since <= at && wants(c)))
                .then_some(Final::NotRetained)
        } else {
            (!self.consumers.iter().any(wants)).then_some(Final::Unmatched)
        }
    }
}

impl Correlator {
    /// Learn from a JetStream API answer on an inbox: a stream created, a
    /// consumer created (its filters, whether it expects answers). False
    /// if the record is no such answer.
    pub(super) fn learn_from_api_answer(&mut self, record: &Record) -> bool {
        if let Some(stream) = parse_stream_created(record.payload()) {
            self.streams.insert(
                stream.name,
                KnownStream {
                    interest: stream.interest,
                    consumers: Vec::new(),
                },
            );
            return true;
        }
        if let Some(consumer) = parse_consumer_answer(record.payload()) {
            if let Some(known) = self.streams.get_mut(&consumer.stream)
                && !known.consumers.iter().any(|c| c.name == consumer.name)
            {
                known.consumers.push(KnownConsumer {
                    name: consumer.name.clone(),
                    filters: consumer
                        .filters
                        .iter()
                        .filter_map(|f| SubjectPattern::parse(f).ok())
                        .collect(),
                    since: record.received_at,
                });
            }
            if consumer.ack_none {
                self.no_answer_expected(&consumer.stream, &consumer.name);
                self.ack_none
                    .entry(consumer.stream)
                    .or_default()
                    .insert(consumer.name);
            } else if let Some(consumers) = self.ack_none.get_mut(&consumer.stream) {
                consumers.remove(&consumer.name);
            }
            return true;
        }
        false
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
