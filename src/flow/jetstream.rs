//! The JetStream part of correlation: a stored message's deliveries to
//! each consumer, their acks, and the server's advisories about them.

use super::correlator::Correlator;
use super::links::{StoredAt, parse_stream_source};
use super::model::{Delivery, Flow, FlowId, FlowKind, KvOp, Outcome, Role, StepKind, object_chunk};
use super::settle::RemovalReason;
use super::streams::StreamRemoval;
use super::vocabulary::{AckBody, AdvisoryKind, DeliveryRef, MessageAdvisory};
use crate::capture::{Record, Seq, Timestamp};

/// The subject of a flow known only from an answer to its delivery.
const DELIVERY_NOT_SEEN: &str = "(delivery not seen)";

impl Correlator {
    /// Stored messages known only from answers to their deliveries (a
    /// flight recorder keeps answers, not deliveries): their subject is
    /// still to be read from the stream.
    pub fn unnamed_stored(&self) -> Vec<(String, u64)> {
        self.by_stream_seq
            .iter()
            .filter(|(_, id)| {
                self.get(**id)
                    .is_some_and(|f| f.subject == DELIVERY_NOT_SEEN)
            })
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// The highest delivery count seen for a stored message and consumer
    /// (the in-flight window's column).
    pub fn observed_deliveries(&self, stream: &str, seq: u64, consumer: &str) -> Option<u64> {
        let id = *self.by_stream_seq.get(&(stream.to_owned(), seq))?;
        self.get(id)?
            .detail()
            .deliveries
            .iter()
            .filter(|d| d.consumer == consumer)
            .map(|d| d.count)
            .max()
    }

    /// What the stream holds at `seq`, read from the stream itself: names
    /// the flow that was known only from answers.
    pub fn learn_stored_subject(&mut self, stream: &str, seq: u64, subject: &str) {
        let Some(&id) = self.by_stream_seq.get(&(stream.to_owned(), seq)) else {
            return;
        };
        if let Some(flow) = self.get_mut(id)
            && flow.subject == DELIVERY_NOT_SEEN
        {
            flow.subject = subject.to_owned();
        }
    }

    fn flow_for_stream_seq(
        &mut self,
        ack: &DeliveryRef,
        subject: &str,
        at: Timestamp,
        record: Option<&Record>,
    ) -> FlowId {
        let key = (ack.stream.clone(), ack.stream_seq);
        if let Some(&id) = self.by_stream_seq.get(&key)
            && self.get(id).is_some()
        {
            return id;
        }
        // The publish was not seen (before the capture, or a core publish
        // into the stream): the flow starts at the stream.
        let kv = record.and_then(KvOp::of);
        let kind = if kv.is_some() {
            FlowKind::Kv
        } else {
            FlowKind::Jetstream
        };
        let mut flow = Flow::new(self.next_id(), kind, subject, at);
        if let Some(record) = record {
            flow.broker = self.broker_of(record.connection);
        }
        if let Some(kv) = kv {
            flow.detail_mut().extras_mut().kv = Some(kv);
        }
        flow.detail_mut().stream = Some(ack.stream.clone());
        flow.detail_mut().stream_seq = Some(ack.stream_seq);
        if let Some(record) = record {
            flow.producer = self.header_value(record, &self.config.producer_headers);
            flow.msg_id = self.header_value(record, &self.config.id_headers);
        }
        flow.stream_lane();
        let id = self.push(flow);
        self.index_stored(&ack.stream, ack.stream_seq, id);
        id
    }

    pub(super) fn on_delivery(&mut self, seq: Seq, record: &Record, ack: &DeliveryRef) {
        let at = record.received_at;
        if let Some((bucket, nuid)) = object_chunk(record.subject()) {
            let id = self.object_flow(bucket, nuid, at);
            if let Some(flow) = self.get_mut(id) {
                object_read(flow, seq, at, &ack.consumer);
            }
            return;
        }
        let no_answer_expected = self
            .streams
            .get(&ack.stream)
            .is_some_and(|s| s.expects_no_answer(&ack.consumer));
        let id = self.flow_for_stream_seq(ack, record.subject(), at, Some(record));
        let Some(flow) = self.get_mut(id) else {
            return;
        };
        if flow.subject == DELIVERY_NOT_SEEN {
            // Its answer came first: now the subject is known.
            flow.subject = record.subject().to_owned();
        } else if flow.subject != record.subject() && flow.stored_subject().is_none() {
            // Stored under another subject (the stream's transform).
            flow.detail_mut().extras_mut().stored_subject = Some(record.subject().to_owned());
        }
        if flow.first_record.is_none() {
            flow.first_record = Some(seq);
        }
        if flow
            .detail()
            .deliveries
            .iter()
            .any(|d| d.consumer == ack.consumer && d.count == ack.delivered && d.record.is_some())
        {
            return; // the same delivery seen twice (overlapping subscriptions)
        }
        let stream = flow.stream_lane();
        let consumer = flow.lane(&ack.consumer, Role::Consumer);
        expire_unanswered(flow, &ack.consumer, ack.delivered, at, consumer);
        match flow
            .detail_mut()
            .deliveries
            .iter_mut()
            .find(|d| d.consumer == ack.consumer && d.count == ack.delivered)
        {
            Some(known) => {
                known.record = Some(seq);
                known.at = at;
            }
            None => {
                flow.detail_mut().add_delivery(Delivery {
                    consumer: ack.consumer.clone(),
                    count: ack.delivered,
                    record: Some(seq),
                    at,
                    answered_at: None,
                    settled_at: None,
                    outcome: if no_answer_expected {
                        Outcome::Delivered
                    } else {
                        Outcome::Pending
                    },
                    reason: None,
                });
            }
        }
        let label = if ack.delivered > 1 {
            format!("redeliver #{}", ack.delivered)
        } else {
            "deliver #1".to_owned()
        };
        flow.step(
            at,
            Some(seq),
            StepKind::Deliver {
                count: ack.delivered,
            },
            stream,
            consumer,
            label,
        );
        let stored = flow.started_at;
        if let Some(pause) = self
            .streams
            .get(&ack.stream)
            .and_then(|s| s.pause_between(&ack.consumer, stored, at))
            && let Some(flow) = self.get_mut(id)
        {
            let label = format!("waited on a pause of {}", ack.consumer);
            let lane = flow.lane(&ack.consumer, Role::Consumer);
            flow.step(
                pause.from.max(stored),
                None,
                StepKind::Trace,
                lane,
                lane,
                label,
            );
        }
        self.server_made_headers(id, record, ack);
    }

    /// What the headers of a delivered message say the server did: a copy
    /// sourced from another stream, or a delete marker it stored.
    fn server_made_headers(&mut self, id: FlowId, record: &Record, ack: &DeliveryRef) {
        let Some(headers) = record.headers() else {
            return;
        };
        if let Some(origin) = headers
            .get("Nats-Stream-Source")
            .and_then(parse_stream_source)
        {
            let copy = StoredAt {
                stream: ack.stream.clone(),
                seq: ack.stream_seq,
            };
            self.on_sourced_copy(id, copy, origin);
        }
        if let Some(reason) = headers.get("Nats-Marker-Reason") {
            let reason = match reason.trim() {
                "Remove" => RemovalReason::Deleted,
                "Purge" => RemovalReason::Purged,
                _ => RemovalReason::MaxAge,
            };
            self.stream_state(&ack.stream)
                .removal(StreamRemoval::Marker {
                    at: ack.timestamp,
                    seq: ack.stream_seq,
                    subject: record.subject().to_owned(),
                    reason,
                });
        }
    }

    pub(super) fn on_ack(
        &mut self,
        seq: Seq,
        record: &Record,
        ack: &DeliveryRef,
        body: AckBody,
        sync: bool,
    ) {
        let at = record.received_at;
        let id = self.flow_for_stream_seq(ack, DELIVERY_NOT_SEEN, at, None);
        let Some(flow) = self.get_mut(id) else {
            return;
        };
        let stream = flow.stream_lane();
        let consumer = flow.lane(&ack.consumer, Role::Consumer);
        let index = match flow
            .detail()
            .deliveries
            .iter()
            .position(|d| d.consumer == ack.consumer && d.count == ack.delivered)
        {
            Some(i) => i,
            None => flow.detail_mut().add_delivery(Delivery {
                consumer: ack.consumer.clone(),
                count: ack.delivered,
                record: None,
                at,
                answered_at: None,
                settled_at: None,
                outcome: Outcome::Pending,
                reason: None,
            }),
        };
        let rules = super::rules::rules_for(flow.broker);
        rules.answer(&mut flow.detail_mut().deliveries[index], &body, at);
        let mut label = body.label();
        if sync {
            label.push_str(" (sync)");
        }
        flow.step(
            at,
            Some(seq),
            StepKind::Answer(body),
            consumer,
            stream,
            label,
        );
    }

    pub(super) fn on_advisory(&mut self, seq: Seq, record: &Record, advisory: &MessageAdvisory) {
        let at = record.received_at;
        let key = (advisory.stream.clone(), advisory.stream_seq);
        let Some(&id) = self.by_stream_seq.get(&key) else {
            return; // about a message we never saw
        };
        let Some(flow) = self.get_mut(id) else {
            return;
        };
        let stream = flow.stream_lane();
        let consumer = flow.lane(&advisory.consumer, Role::Consumer);
        let label = match advisory.kind {
            AdvisoryKind::MaxDeliveries => {
                if !flow.detail().max_deliveries.contains(&advisory.consumer) {
                    flow.detail_mut()
                        .max_deliveries
                        .push(advisory.consumer.clone());
                }
                // The last delivery went unanswered until the server gave
                // up: its ack wait expired, drawn like the earlier ones.
                let last = flow
                    .detail()
                    .deliveries
                    .iter()
                    .filter(|d| d.consumer == advisory.consumer)
                    .map(|d| d.count)
                    .max();
                if let Some(last) = last {
                    expire_unanswered(flow, &advisory.consumer, last + 1, at, consumer);
                }
                format!(
                    "MAX_DELIVERIES: gave up after {} deliveries",
                    advisory.deliveries
                )
            }
            AdvisoryKind::Naked => format!("advisory MSG_NAKED (delivery {})", advisory.deliveries),
            AdvisoryKind::Terminated => match &advisory.reason {
                Some(reason) => format!("advisory MSG_TERMINATED: {reason}"),
                None => "advisory MSG_TERMINATED".to_owned(),
            },
        };
        flow.step(
            at,
            Some(seq),
            StepKind::Advisory(advisory.kind),
            stream,
            consumer,
            label,
        );
    }
}

/// A delivery with a higher count means earlier unanswered deliveries to
/// that consumer timed out: mark them and draw the gap.
fn expire_unanswered(flow: &mut Flow, consumer: &str, count: u64, at: Timestamp, lane: usize) {
    let mut expired = Vec::new();
    for d in flow.detail_mut().deliveries.iter_mut() {
        if d.consumer == consumer
            && d.count < count
            && matches!(d.outcome, Outcome::Pending | Outcome::Wpi)
        {
            d.outcome = Outcome::Timeout;
            expired.push((d.count, at - d.at));
        }
    }
    for (n, waited) in expired {
        flow.step(
            at,
            None,
            StepKind::AckWaitExpired,
            lane,
            lane,
            format!(
                "no answer to #{n}: ack wait expired after {}",
                super::format_duration(waited)
            ),
        );
    }
}

/// A chunk read back (a get reads an object through a consumer): counted.
fn object_read(flow: &mut Flow, seq: Seq, at: Timestamp, consumer: &str) {
    let Some(object) = flow.detail_mut().extras_mut().object.as_mut() else {
        return;
    };
    object.read += 1;
    let label = format!("read {} chunks", object.read);
    match flow
        .detail_mut()
        .steps
        .iter_mut()
        .find(|s| matches!(s.kind, StepKind::Deliver { .. }))
    {
        Some(step) => step.label = label,
        None => {
            let stream = flow.stream_lane();
            let reader = flow.lane(consumer, Role::Consumer);
            flow.step(
                at,
                Some(seq),
                StepKind::Deliver { count: 1 },
                stream,
                reader,
                label,
            );
        }
    }
    flow.updated_at = flow.updated_at.max(at);
}
