//! One event wherever the server put it: a sourced copy linked both ways
//! with its origin (`Nats-Stream-Source`), the server's RePublish copy
//! linked to the stored message (not a duplicate publish), the members of
//! an atomic batch placed by its commit's PubAck (or failed with it), and
//! the server's message-trace events attached to the message they trace.
//! Each link is made whichever side the monitor sees first.

use std::collections::VecDeque;

use foldhash::HashMap;
use serde::Serialize;

use super::correlator::Correlator;
use super::model::{FlowId, Role, StepKind};
use crate::capture::{Record, Timestamp};
use crate::server_answers::{TraceEvent, parse_trace_event};

/// A stored message: stream and sequence.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct StoredAt {
    pub stream: String,
    pub seq: u64,
}

/// A member of an atomic batch (`Nats-Batch-Id`, `-Sequence`, `-Commit`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BatchMember {
    pub id: String,
    pub seq: u64,
    pub commit: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Links {
    /// This message is a copy another stream sourced from that one.
    pub source: Option<StoredAt>,
    /// Copies of this message that sourcing streams stored.
    pub copies: Vec<StoredAt>,
    /// This publish is the server's RePublish copy of that stored message.
    pub republish_of: Option<StoredAt>,
    pub batch: Option<BatchMember>,
    /// The same event on another broker, one hop before: a bridge carried
    /// it here with its id header (`ce-id`, `traceparent`, a chosen one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crossed_from: Option<FlowId>,
    /// Its hops on other brokers after this one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub crossed_to: Vec<FlowId>,
}

/// Hops of one event seen closer together than this are in no order the
/// monitor can vouch for (measured: a bridge's next hop reached eventscope
/// 0.1 to 0.6 ms after the first, and now and then before it).
const SIMULTANEOUS_NS: i64 = 2_000_000;

/// Where a broker mostly sits on an event's way, edge first (Kafka, the
/// log, last: bridges mostly carry events into it).
fn edge_rank(broker: crate::capture::BrokerKind) -> u8 {
    use crate::capture::BrokerKind;
    match broker {
        BrokerKind::Mqtt => 0,
        BrokerKind::Nats => 1,
        BrokerKind::Amqp => 2,
        BrokerKind::Kafka => 3,
    }
}

impl Correlator {
    /// A new flow whose id header an earlier one has: on the same broker a
    /// duplicate publish (idempotency at stake), on another a hop of the
    /// same event carried by a bridge. The newest hop is what the id names
    /// from then on, so a chain MQTT -> NATS -> RabbitMQ links hop by hop.
    pub(super) fn on_identity(&mut self, flow: &mut super::model::Flow, key: Box<str>) {
        let Some(previous) = self.by_msg_id.get(&*key).copied() else {
            self.by_msg_id.insert(key, flow.id);
            return;
        };
        let Some(earlier) = self.get_mut(previous) else {
            self.by_msg_id.insert(key, flow.id);
            return;
        };
        if earlier.broker == flow.broker {
            earlier.duplicates += 1;
            flow.duplicate_of = Some(previous);
            return;
        }
        // Each connection reads on its own: the later hop's record can be
        // correlated first. The hops are ordered by when they were seen.
        if flow.started_at < earlier.started_at {
            let links = &mut earlier.detail_mut().extras_mut().links;
            if links.crossed_from.is_none() {
                links.crossed_from = Some(flow.id);
            }
            flow.detail_mut()
                .extras_mut()
                .links
                .crossed_to
                .push(previous);
        } else {
            earlier
                .detail_mut()
                .extras_mut()
                .links
                .crossed_to
                .push(flow.id);
            flow.detail_mut().extras_mut().links.crossed_from = Some(previous);
            self.by_msg_id.insert(key, flow.id);
        }
    }

    /// Every hop of the event `id` belongs to, in the order they were
    /// seen (at most 64).
    pub fn hops_of(&self, id: FlowId) -> Vec<FlowId> {
        let mut out = vec![id];
        let mut i = 0;
        while i < out.len() && out.len() < 64 {
            if let Some(links) = self.get(out[i]).and_then(|f| f.links()) {
                for next in links.crossed_from.iter().chain(&links.crossed_to) {
                    if self.get(*next).is_some() && !out.contains(next) {
                        out.push(*next);
                    }
                }
            }
            i += 1;
        }
        let hop = |id: &FlowId| self.get(*id).map(|f| (f.started_at, edge_rank(f.broker)));
        out.sort_by_key(|id| (hop(id), *id));
        // Each connection reads on its own thread of events: hops seen
        // closer together than that noise are drawn edge to core (MQTT,
        // NATS, RabbitMQ), the way bridges mostly carry events.
        let mut moved = true;
        while moved {
            moved = false;
            for i in 1..out.len() {
                if let (Some((a_at, a_rank)), Some((b_at, b_rank))) =
                    (hop(&out[i - 1]), hop(&out[i]))
                    && b_at - a_at < SIMULTANEOUS_NS
                    && b_rank < a_rank
                {
                    out.swap(i - 1, i);
                    moved = true;
                }
            }
        }
        out
    }
}

/// Bounded waiting rooms for links whose other side is not seen yet.
#[derive(Default)]
pub(super) struct PendingLinks {
    /// Batch members by batch id.
    batches: HashMap<String, Vec<(u64, FlowId)>>,
    /// Batches already settled: committed (stream, last seq, count) or
    /// failed (error), for members seen after.
    settled: HashMap<String, BatchEnd>,
    /// Copies seen before their origin, by origin.
    copies: HashMap<StoredAt, Vec<StoredAt>>,
    /// Traced publishes by fingerprint, and traces seen before them.
    traced: HashMap<Box<str>, FlowId>,
    early_traces: HashMap<Box<str>, Vec<TraceEvent>>,
    order: VecDeque<Box<str>>,
}

#[derive(Clone)]
enum BatchEnd {
    Committed {
        stream: String,
        last: u64,
        count: u64,
    },
    Failed(String),
}

const KEPT: usize = 4096;

impl PendingLinks {
    fn remember(&mut self, key: Box<str>) {
        self.order.push_back(key);
        while self.order.len() > KEPT {
            if let Some(old) = self.order.pop_front() {
                self.batches.remove(&*old);
                self.settled.remove(&*old);
                self.traced.remove(&old);
                self.early_traces.remove(&old);
            }
        }
        if self.copies.len() > KEPT {
            self.copies.clear();
        }
    }
}

/// The `Nats-*` headers of a publish that tell what the server will do
/// with it, read in the correlator's one pass over its headers.
#[derive(Default)]
pub(super) struct ServerHeaders {
    republish: (Option<String>, Option<u64>, bool),
    batch: (Option<String>, Option<u64>, bool),
    pub(super) ttl_ns: Option<i64>,
    pub(super) traced: bool,
    pub(super) rollup_all: Option<bool>,
}

impl ServerHeaders {
    pub(super) fn read(&mut self, name: &str, value: &str) {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("Nats-Stream") {
            self.republish.0 = Some(value.to_owned());
        } else if is("Nats-Sequence") {
            self.republish.1 = value.trim().parse().ok();
        } else if is("Nats-Subject") {
            self.republish.2 = true;
        } else if is("Nats-Batch-Id") {
            self.batch.0 = Some(value.to_owned());
        } else if is("Nats-Batch-Sequence") {
            self.batch.1 = value.trim().parse().ok();
        } else if is("Nats-Batch-Commit") {
            self.batch.2 = !value.trim().is_empty();
        } else if is("Nats-TTL") {
            self.ttl_ns = parse_ttl(value);
        } else if is("Nats-Trace-Dest") {
            self.traced = value.trim() != "trace disabled";
        } else if is("Nats-Rollup") {
            self.rollup_all = match value.trim().to_ascii_lowercase().as_str() {
                "all" => Some(true),
                "sub" => Some(false),
                _ => None,
            };
        }
    }

    pub(super) fn republish_of(&self) -> Option<StoredAt> {
        match &self.republish {
            (Some(stream), Some(seq), true) => Some(StoredAt {
                stream: stream.clone(),
                seq: *seq,
            }),
            _ => None,
        }
    }

    pub(super) fn batch(&self) -> Option<BatchMember> {
        match &self.batch {
            (Some(id), Some(seq), commit) => Some(BatchMember {
                id: id.clone(),
                seq: *seq,
                commit: *commit,
            }),
            _ => None,
        }
    }
}

/// `Nats-TTL`: a Go duration (`1s`, `1m30s`, `500ms`) or whole seconds;
/// `never` (or anything else) is no expiry.
fn parse_ttl(value: &str) -> Option<i64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return (seconds > 0).then(|| seconds.saturating_mul(1_000_000_000));
    }
    let mut total: i64 = 0;
    let mut rest = value;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.saturating_add((number * scale) as i64);
    }
    (total > 0).then_some(total)
}

/// A service's error reply: `Nats-Service-Error-Code` and
/// `Nats-Service-Error` (NATS micro services).
pub(super) fn service_error(record: &Record) -> Option<super::settle::ServiceError> {
    let headers = record.headers()?;
    let description = headers.get("Nats-Service-Error");
    let code = headers.get("Nats-Service-Error-Code");
    if description.is_none() && code.is_none() {
        return None;
    }
    Some(super::settle::ServiceError {
        code: code.map(str::to_owned),
        description: description.unwrap_or_default().to_owned(),
    })
}

/// `Nats-Stream-Source: O 1 > > o.x DVpIYR0O` (older servers: `O:hash 1`).
pub(super) fn parse_stream_source(value: &str) -> Option<StoredAt> {
    let mut tokens = value.split_whitespace();
    let stream = tokens.next()?.split(':').next()?.to_owned();
    let seq = tokens.next()?.parse().ok()?;
    Some(StoredAt { stream, seq })
}

/// What makes a traced publish and its trace event the same message: the
/// subject it came in on and every header it carried, in a stable order.
fn trace_fingerprint<'a>(
    subject: &str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
) -> Box<str> {
    let mut pairs: Vec<(String, &str)> = headers
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    pairs.sort();
    let mut key = String::from(subject);
    for (name, value) in pairs {
        key.push('\0');
        key.push_str(&name);
        key.push('=');
        key.push_str(value);
    }
    key.into()
}

impl Correlator {
    /// A batch member, published: wait for the commit (or place it now if
    /// the commit came first).
    pub(super) fn on_batch_member(&mut self, id: FlowId, member: BatchMember) {
        let batch = member.id.clone();
        if let Some(flow) = self.get_mut(id) {
            flow.detail_mut().extras_mut().links.batch = Some(member.clone());
        }
        match self.pending.settled.get(&batch).cloned() {
            Some(BatchEnd::Committed {
                stream,
                last,
                count,
            }) => self.place_member(id, &stream, last, count, member.seq),
            Some(BatchEnd::Failed(error)) => self.fail_member(id, &error, None),
            None => {
                if !self.pending.batches.contains_key(&batch) {
                    self.pending.remember(batch.clone().into());
                }
                self.pending
                    .batches
                    .entry(batch)
                    .or_default()
                    .push((member.seq, id));
            }
        }
    }

    /// The commit's PubAck: every member is stored, the last at `last`.
    pub(super) fn batch_committed(&mut self, batch: &str, stream: &str, last: u64, count: u64) {
        let end = BatchEnd::Committed {
            stream: stream.to_owned(),
            last,
            count,
        };
        for (seq, id) in self.pending.batches.remove(batch).unwrap_or_default() {
            self.place_member(id, stream, last, count, seq);
        }
        self.pending.settled.insert(batch.to_owned(), end);
    }

    fn place_member(&mut self, id: FlowId, stream: &str, last: u64, count: u64, member: u64) {
        let Some(seq) = count
            .checked_sub(member)
            .and_then(|behind| last.checked_sub(behind))
        else {
            return;
        };
        let Some(flow) = self.get_mut(id) else {
            return;
        };
        if flow.detail().stream_seq.is_some() {
            return; // the commit itself, placed by its own PubAck
        }
        flow.stored_in(stream, seq);
        let stream_lane = flow.stream_lane();
        let label = format!("stored with its batch's commit as seq {seq}");
        let at = flow.updated_at;
        flow.step(
            at,
            None,
            StepKind::PubAck { duplicate: false },
            stream_lane,
            0,
            label,
        );
        self.index_stored(stream, seq, id);
    }

    /// The batch was refused or abandoned: no member was stored, and each
    /// says why.
    pub(super) fn batch_failed(&mut self, batch: &str, error: String, at: Timestamp) {
        for (_, id) in self.pending.batches.remove(batch).unwrap_or_default() {
            self.fail_member(id, &error, Some(at));
        }
        self.pending
            .settled
            .insert(batch.to_owned(), BatchEnd::Failed(error));
    }

    fn fail_member(&mut self, id: FlowId, error: &str, at: Option<Timestamp>) {
        let Some(flow) = self.get_mut(id) else {
            return;
        };
        if flow.detail().publish_error.is_some() {
            return;
        }
        flow.detail_mut().publish_error = Some(error.to_owned());
        let at = at.unwrap_or(flow.updated_at);
        let from = flow.detail().steps.first().map_or(1, |s| s.to);
        flow.step(
            at,
            None,
            StepKind::PublishError,
            from,
            0,
            format!("error: {error}"),
        );
    }

    /// A stored message now known under (stream, seq): index it, and link
    /// the copies of it seen before it.
    pub(super) fn index_stored(&mut self, stream: &str, seq: u64, id: FlowId) {
        let key = (stream.to_owned(), seq);
        match self.by_stream_seq.get(&key).copied() {
            Some(early) if early != id && self.started_at_stream(early) => {
                self.by_stream_seq.insert(key, id);
                self.absorb(id, early);
            }
            Some(other) if other != id && self.get(other).is_some() => {}
            _ => {
                self.by_stream_seq.insert(key, id);
            }
        }
        let origin = StoredAt {
            stream: stream.to_owned(),
            seq,
        };
        if let Some(copies) = self.pending.copies.remove(&origin) {
            for copy in copies {
                self.link_copy(id, copy);
            }
        }
    }

    /// A delivery of a message a sourcing stream stored: link the copy and
    /// its origin both ways.
    pub(super) fn on_sourced_copy(&mut self, copy_id: FlowId, copy: StoredAt, origin: StoredAt) {
        if let Some(flow) = self.get_mut(copy_id) {
            if flow.links().and_then(|l| l.source.as_ref()) == Some(&origin) {
                return;
            }
            let lane = flow.lane(&origin.stream, Role::Stream);
            let stream = flow.stream_lane();
            let label = format!("sourced from {} #{}", origin.stream, origin.seq);
            let at = flow.started_at;
            flow.step(
                at,
                None,
                StepKind::Deliver { count: 1 },
                lane,
                stream,
                label,
            );
            flow.detail_mut().extras_mut().links.source = Some(origin.clone());
        }
        match self
            .by_stream_seq
            .get(&(origin.stream.clone(), origin.seq))
            .copied()
        {
            Some(origin_id) => self.link_copy(origin_id, copy),
            None => self.pending.copies.entry(origin).or_default().push(copy),
        }
    }

    fn link_copy(&mut self, origin: FlowId, copy: StoredAt) {
        let Some(flow) = self.get_mut(origin) else {
            return;
        };
        if flow.links().is_some_and(|l| l.copies.contains(&copy)) {
            return;
        }
        let from = flow.stream_lane();
        let to = flow.lane(&copy.stream, Role::Stream);
        let label = format!("copied into {} #{}", copy.stream, copy.seq);
        let at = flow.updated_at;
        flow.step(at, None, StepKind::Deliver { count: 1 }, from, to, label);
        flow.detail_mut().extras_mut().links.copies.push(copy);
    }

    /// A publish carrying `Nats-Trace-Dest`: its trace event may follow
    /// (or have come already).
    pub(super) fn on_traced_publish(&mut self, id: FlowId, record: &Record) {
        let Some(headers) = record.headers() else {
            return;
        };
        let key = trace_fingerprint(record.subject(), headers.iter());
        if let Some(events) = self.pending.early_traces.remove(&key) {
            for event in events {
                self.attach_trace(id, event);
            }
            return;
        }
        self.pending.remember(key.clone());
        self.pending.traced.insert(key, id);
    }

    /// A message-trace event (`{"server":…,"request":…,"events":[…]}`):
    /// attached to the publish it traces. False if the record is none.
    pub(super) fn on_trace_event(&mut self, record: &Record) -> bool {
        if !record.payload().starts_with(b"{\"server\":{") {
            return false;
        }
        let Ok(event) = parse_trace_event(record.payload()) else {
            return false;
        };
        let Some(ingress) = event.events.iter().find(|e| e.kind == "in") else {
            return false;
        };
        let headers = event
            .request
            .header
            .iter()
            .flat_map(|(name, values)| values.iter().map(move |v| (name.as_str(), v.as_str())));
        let key = trace_fingerprint(&ingress.subj, headers);
        match self.pending.traced.get(&key).copied() {
            Some(id) => self.attach_trace(id, event),
            None => {
                if !self.pending.early_traces.contains_key(&key) {
                    self.pending.remember(key.clone());
                }
                self.pending
                    .early_traces
                    .entry(key)
                    .or_default()
                    .push(event);
            }
        }
        true
    }

    fn attach_trace(&mut self, id: FlowId, event: TraceEvent) {
        let Some(flow) = self.get_mut(id) else {
            return;
        };
        if flow.kind == super::model::FlowKind::Publish && flow.detail().steps.is_empty() {
            flow.add_first_step();
        }
        let server = event.server.name.clone();
        for hop in event.events {
            let label = match hop.kind.as_str() {
                "in" => format!("trace: received from {} on {}", hop.connection(), server),
                "eg" if hop.queue.is_empty() => {
                    format!("trace: delivered to {} (sub {})", hop.connection(), hop.sub)
                }
                "eg" => format!(
                    "trace: delivered to {} (sub {}, queue {})",
                    hop.connection(),
                    hop.sub,
                    hop.queue
                ),
                "js" => format!("trace: stored by stream {}", hop.stream),
                other => format!("trace: {other}"),
            };
            let lane = flow.detail().steps.first().map_or(0, |s| s.to);
            let at = flow.updated_at;
            flow.step(at, None, StepKind::Trace, lane, lane, label);
            flow.detail_mut().extras_mut().trace.push(hop);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_as_clients_write_them() {
        assert_eq!(parse_ttl("1s"), Some(1_000_000_000));
        assert_eq!(parse_ttl("5"), Some(5_000_000_000));
        assert_eq!(parse_ttl("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_ttl("250ms"), Some(250_000_000));
        assert_eq!(parse_ttl("never"), None);
    }

    #[test]
    fn stream_source_headers_in_both_forms() {
        assert_eq!(
            parse_stream_source("O 1 > > o.x DVpIYR0O"),
            Some(StoredAt {
                stream: "O".into(),
                seq: 1
            })
        );
        assert_eq!(
            parse_stream_source("ORDERS:a1b2 42").map(|s| (s.stream, s.seq)),
            Some(("ORDERS".to_owned(), 42))
        );
        assert_eq!(parse_stream_source("nonsense"), None);
    }
}
