//! Correlation: records become flows as they arrive.
//!
//! - request -> reply (latency), or no reply within the timeout;
//! - JetStream publish -> PubAck (stream seq) -> every delivery of that
//!   stream seq to each consumer (with its delivery count) -> each ack
//!   outcome -> advisories for that seq; a redelivery with no answer to the
//!   previous delivery is an ack-wait expiry;
//! - messages with the same id header are linked, duplicates flagged.
//!
//! Bounded: the oldest flows are evicted (and counted) past `max_flows`.

use std::collections::VecDeque;

use foldhash::{HashMap, HashMapExt};

use super::admin::AdminRequests;
use super::answers::{EarlyReplies, RecentAnswers};
use super::links::PendingLinks;
use super::model::{Flow, FlowId, FlowKind, KvOp, Reply, Role, StepKind, object_chunk};
use super::nats::{parse_api_error, parse_pub_ack};
use super::rules::{DeliveryRules, rules_for};
use super::streams::StreamState;
use super::vocabulary::Class;
use crate::capture::{BrokerKind, ConnectionKey, Record, Seq, Timestamp};

/// Settings for correlation.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// Headers naming the producer, first found wins.
    pub producer_headers: Vec<String>,
    /// Headers carrying a message id; equal ids link messages.
    pub id_headers: Vec<String>,
    /// A request with no reply after this is `no_reply`.
    pub reply_timeout_ns: i64,
    /// Requests slower than this are "slow".
    pub slow_ns: i64,
    pub max_flows: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            producer_headers: vec!["ce-source".into()],
            id_headers: vec![
                "Nats-Msg-Id".into(),
                "ce-id".into(),
                "_watermill_message_uuid".into(),
            ],
            reply_timeout_ns: 5_000_000_000,
            slow_ns: 250_000_000,
            max_flows: 100_000,
        }
    }
}

pub struct Correlator {
    pub config: FlowConfig,
    pub(super) flows: VecDeque<Flow>,
    pub(super) first_id: FlowId,
    pub(super) evicted: u64,
    /// Latest record time seen: "now" for replayed or loaded captures.
    pub(super) latest: Timestamp,
    pub(super) by_reply: HashMap<Box<str>, FlowId>,
    pub(super) by_stream_seq: HashMap<(String, u64), FlowId>,
    /// Flows by what makes a message the same one (`identity`).
    pub(super) by_msg_id: HashMap<Box<str>, FlowId>,
    /// Recent `MSG.NEXT` reply inboxes per (stream, consumer), newest
    /// last: each pull has its own inbox, and naming the worker needs one
    /// that the server's connection list still shows.
    pub(super) pull_inboxes: HashMap<(String, String), VecDeque<Box<str>>>,
    /// Answers on inboxes whose request has not been seen yet: from
    /// another connection, a PubAck can reach the monitor before the
    /// publish it answers.
    pub(super) early_replies: EarlyReplies,
    /// What the wire said of each stream and its consumers, each fact
    /// with its time (`streams.rs`).
    pub(super) streams: HashMap<String, StreamState>,
    /// Management requests waiting for their answers (`admin.rs`).
    pub(super) admin: AdminRequests,
    /// Links whose other side is not seen yet (`links.rs`).
    pub(super) pending: PendingLinks,
    /// Object flows by (bucket, nuid).
    pub(super) objects: HashMap<(String, String), FlowId>,
    /// Requests answered lately, by inbox: more replies may follow
    /// (scatter-gather). Kept apart from `by_reply` so that the lookup
    /// every record makes stays on a small table.
    pub(super) answered: RecentAnswers,
    /// Flows through a queueing broker, by message key (`queued.rs`).
    pub(super) queued: HashMap<u64, FlowId>,
    /// Kafka's records and groups (`logged.rs`).
    pub(super) logs: super::logged::Logs,
    /// The broker of each connection, by key (NATS unless told).
    brokers: Vec<BrokerKind>,
}

impl Default for Correlator {
    fn default() -> Self {
        Self::new(FlowConfig::default())
    }
}

impl Correlator {
    pub fn new(config: FlowConfig) -> Self {
        Self {
            config,
            flows: VecDeque::new(),
            first_id: 1,
            evicted: 0,
            latest: 0,
            queued: HashMap::new(),
            logs: Default::default(),
            by_reply: HashMap::new(),
            by_stream_seq: HashMap::new(),
            by_msg_id: HashMap::new(),
            pull_inboxes: HashMap::new(),
            early_replies: EarlyReplies::default(),
            streams: HashMap::new(),
            admin: AdminRequests::default(),
            pending: PendingLinks::default(),
            objects: HashMap::new(),
            answered: RecentAnswers::default(),
            brokers: Vec::new(),
        }
    }

    /// The brokers of the connections, by key (`Store::brokers`): each
    /// record is read by its connection's broker's rules.
    pub fn learn_brokers(&mut self, brokers: &[BrokerKind]) {
        if self.brokers != brokers {
            self.brokers = brokers.to_vec();
        }
    }

    pub(super) fn broker_of(&self, connection: ConnectionKey) -> BrokerKind {
        self.brokers
            .get(usize::from(connection))
            .copied()
            .unwrap_or_default()
    }

    pub(super) fn rules_of(&self, connection: ConnectionKey) -> &'static dyn DeliveryRules {
        rules_for(self.broker_of(connection))
    }

    /// Reply inboxes of a consumer's recent pull requests, newest first.
    pub fn pull_inboxes(&self, stream: &str, consumer: &str) -> Vec<&str> {
        self.pull_inboxes
            .get(&(stream.to_owned(), consumer.to_owned()))
            .map(|q| q.iter().rev().map(|s| &**s).collect())
            .unwrap_or_default()
    }

    pub fn clear(&mut self) {
        let config = self.config.clone();
        let next = self.next_id();
        let brokers = std::mem::take(&mut self.brokers);
        *self = Self::new(config);
        self.first_id = next;
        self.brokers = brokers;
    }

    pub(super) fn next_id(&self) -> FlowId {
        self.first_id + self.flows.len() as FlowId
    }

    pub fn get(&self, id: FlowId) -> Option<&Flow> {
        let index = id.checked_sub(self.first_id)?;
        self.flows.get(usize::try_from(index).ok()?)
    }

    pub(super) fn get_mut(&mut self, id: FlowId) -> Option<&mut Flow> {
        let index = id.checked_sub(self.first_id)?;
        self.flows.get_mut(usize::try_from(index).ok()?)
    }

    /// Visible flows, oldest first.
    pub fn flows(&self) -> impl DoubleEndedIterator<Item = &Flow> {
        self.flows.iter().filter(|f| f.is_visible())
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Visible flows that started in `from..=to`. Flows are made in arrival
    /// order, so their start times rise: a binary search finds the first,
    /// and nothing outside the window is visited (the diagram asks every
    /// frame).
    pub fn started_within(&self, from: Timestamp, to: Timestamp) -> impl Iterator<Item = &Flow> {
        let first = self.flows.partition_point(|f| f.started_at < from);
        self.flows
            .range(first..)
            .take_while(move |f| f.started_at <= to)
            .filter(|f| f.is_visible())
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The time correlation has reached (the newest record).
    pub fn latest(&self) -> Timestamp {
        self.latest
    }

    /// Correlate one record (in arrival order) stored under `seq`.
    pub fn ingest(&mut self, seq: Seq, record: &Record) {
        self.latest = self.latest.max(record.received_at);
        let rules = self.rules_of(record.connection);
        // Asked only while a request waits: an MQTT key reads the fields.
        if !self.by_reply.is_empty()
            && let Some(id) = self.by_reply.remove(&*rules.answer_key(record))
        {
            self.on_reply(id, seq, record);
            // A queued answer's deliveries (to the requester) belong to
            // the request.
            if let Class::Queued(event) = rules.classify(record) {
                self.queued.insert(event.key, id);
            }
            return;
        }
        match rules.classify(record) {
            Class::Publish => {
                if !self.on_trace_event(record) {
                    self.on_publish(seq, record, FlowKind::Publish)
                }
            }
            Class::Request => self.on_publish(seq, record, FlowKind::Request),
            Class::Delivery(ack) => self.on_delivery(seq, record, &ack),
            Class::Ack { ack, body, sync } => self.on_ack(seq, record, &ack, body, sync),
            Class::Advisory(advisory) => self.on_advisory(seq, record, &advisory),
            Class::Queued(event) => self.on_queued(seq, record, &event),
            Class::Logged(event) => self.on_logged(seq, record, &event),
            // Heartbeats, flow control and pull statuses on inboxes answer
            // no publish; a 503 (no responders) answers a request.
            Class::Control
                if record.subject().starts_with("_INBOX.")
                    && record
                        .headers()
                        .and_then(|h| h.status())
                        .is_none_or(|status| status == 503) =>
            {
                // Another reply to a request already answered.
                if let Some(id) = self.answered.get(record.subject())
                    && self
                        .get(id)
                        .and_then(|f| f.detail().reply_subject.as_deref())
                        == Some(record.subject())
                {
                    self.on_reply(id, seq, record);
                    return;
                }
                if self.on_admin_answer(record) || self.learn_from_api_answer(record) {
                    return;
                }
                self.early_replies.keep(seq, record, self.latest)
            }
            Class::Control => self.on_control(record),
        }
    }

    pub(super) fn on_control(&mut self, record: &Record) {
        let subject = record.subject();
        if subject.starts_with("$JSC.R.") {
            // The server's own consumers (a stream's sources and mirror)
            // are created with their answers here.
            self.learn_from_api_answer(record);
            return;
        }
        if subject.starts_with("$JS.EVENT.ADVISORY.") {
            self.on_stream_advisory(record);
            return;
        }
        if subject.starts_with("$JS.API.") && record.reply().is_some() {
            self.on_admin_request(record);
        }
        if let (Some(rest), Some(reply)) = (
            record.subject().strip_prefix("$JS.API.CONSUMER.MSG.NEXT."),
            record.reply(),
        ) && let Some((stream, consumer)) = rest.split_once('.')
        {
            const KEEP: usize = 32;
            let recent = self
                .pull_inboxes
                .entry((stream.to_owned(), consumer.to_owned()))
                .or_default();
            if recent.back().map(|r| &**r) != Some(reply) {
                recent.push_back(reply.into());
                if recent.len() > KEEP {
                    recent.pop_front();
                }
            }
        }
    }

    pub(super) fn push(&mut self, flow: Flow) -> FlowId {
        let id = flow.id;
        self.flows.push_back(flow);
        while self.flows.len() > self.config.max_flows {
            if let Some(old) = self.flows.pop_front() {
                self.forget(&old);
                self.first_id += 1;
                self.evicted += 1;
            }
        }
        // Identities of evicted flows are dropped in bulk: keeping the key
        // in every flow for its eviction cost 16 bytes a flow.
        if self.by_msg_id.len() > self.config.max_flows.max(1024).saturating_mul(2) {
            let first = self.first_id;
            self.by_msg_id.retain(|_, id| *id >= first);
        }
        // A request keyed by more than its reply subject (MQTT's correlation
        // data) is not found by `forget`: unanswered ones go in bulk too.
        if self.by_reply.len() > self.config.max_flows.max(1024).saturating_mul(2) {
            let first = self.first_id;
            self.by_reply.retain(|_, id| *id >= first);
        }
        if self.queued.len() > self.config.max_flows.max(1024).saturating_mul(2) {
            let first = self.first_id;
            self.queued.retain(|_, id| *id >= first);
        }
        if self.logs.len() > self.config.max_flows.max(1024).saturating_mul(2) {
            self.logs.forget_before(self.first_id);
        }
        id
    }

    /// Drop an evicted flow's index entries (only those still pointing to it).
    pub(super) fn forget(&mut self, flow: &Flow) {
        let detail = flow.detail();
        if let Some(reply) = &detail.reply_subject
            && self.by_reply.get(reply) == Some(&flow.id)
        {
            self.by_reply.remove(reply);
        }
        if let (Some(stream), Some(seq)) = (&detail.stream, detail.stream_seq) {
            let key = (stream.clone(), seq);
            if self.by_stream_seq.get(&key) == Some(&flow.id) {
                self.by_stream_seq.remove(&key);
            }
        }
        if let Some(object) = detail.object() {
            let key = (object.bucket.clone(), object.nuid.clone());
            if self.objects.get(&key) == Some(&flow.id) {
                self.objects.remove(&key);
            }
        }
        // `by_msg_id` is pruned of evicted flows when it grows (`push`).
    }

    pub(super) fn header_value(&self, record: &Record, names: &[String]) -> Option<String> {
        let headers = record.headers()?;
        headers.first_of(names).map(str::to_owned)
    }

    pub(super) fn on_publish(&mut self, seq: Seq, record: &Record, kind: FlowKind) {
        if let Some((bucket, nuid)) = object_chunk(record.subject()) {
            self.on_object_chunk(seq, record, bucket, nuid);
            return;
        }
        if self.on_object_meta(record) {
            return;
        }
        let at = record.received_at;
        let mut flow = Flow::new(self.next_id(), kind, record.subject(), at);
        flow.broker = self.broker_of(record.connection);
        flow.first_record = Some(seq);
        let headers = self.publish_headers(record);
        flow.producer = headers.producer;
        flow.trace_id = headers.trace_id;
        flow.msg_id = headers.msg_id;
        // A core publish is one arrow; its lanes and step are drawn from the
        // flow's fields when needed (`materialized`), which keeps the most
        // frequent kind of flow cheap to make.
        if let Some(kv) = KvOp::of(record) {
            flow.detail_mut().extras_mut().kv = Some(kv);
        }
        if let Some(ttl) = headers.ttl_ns {
            flow.detail_mut().extras_mut().ttl_ns = Some(ttl);
        }
        if let Some(all) = headers.rollup_all {
            flow.detail_mut().extras_mut().rollup_all = Some(all);
        }
        let marks = self.rules_of(record.connection).marks(record);
        if marks != Default::default() {
            flow.detail_mut().extras_mut().marks = marks;
        }
        if headers.batch.is_some() {
            // Stored, if at all, with its batch's commit.
            flow.kind = FlowKind::Jetstream;
            flow.add_first_step();
        }
        if kind == FlowKind::Request {
            if flow.kind == FlowKind::Request {
                flow.add_first_step();
                flow.detail_mut().request_at = Some(at);
            }
            if let (Some(reply), Some(key)) = (
                record.reply(),
                self.rules_of(record.connection).request_key(record),
            ) {
                flow.detail_mut().reply_subject = Some(reply.into());
                self.by_reply.insert(key.into(), flow.id);
            }
        }
        if let Some(origin) = headers.republish_of {
            // The server's RePublish copy: the stored message again, not a
            // second publish of it.
            flow.detail_mut().extras_mut().links.republish_of = Some(origin);
        } else if let Some(key) = headers.identity {
            self.on_identity(&mut flow, key);
        }
        let id = self.push(flow);
        if let Some(member) = headers.batch {
            self.on_batch_member(id, member);
        }
        if headers.traced {
            self.on_traced_publish(id, record);
        }
        // Its answers may have come first.
        if kind == FlowKind::Request
            && let Some(reply) = record.reply()
        {
            for (seq, answer) in self.early_replies.take(reply) {
                self.on_reply(id, seq, &answer);
            }
        }
    }

    pub(super) fn on_reply(&mut self, id: FlowId, seq: Seq, record: &Record) {
        let at = record.received_at;
        let responder = self.header_value(record, &self.config.producer_headers);
        let pub_ack = parse_pub_ack(record.payload());
        let api_error = if pub_ack.is_none() {
            parse_api_error(record.payload())
        } else {
            None
        };
        let Some(flow) = self.get_mut(id) else {
            return;
        };
        if flow.kind == FlowKind::Object {
            self.on_object_answer(id, seq, at, pub_ack.is_some(), api_error);
            return;
        }
        let stored_kind = if flow.detail().kv().is_some() {
            FlowKind::Kv
        } else {
            FlowKind::Jetstream
        };
        let batch = flow
            .links()
            .and_then(|l| l.batch.as_ref())
            .map(|b| b.id.clone());
        if let Some(ack) = pub_ack {
            // A JetStream publish: the subject lane becomes the stream.
            flow.stored_in(&ack.stream, ack.seq);
            let stream = flow.stream_lane();
            let producer = 0;
            let label = match (&ack.batch, ack.duplicate) {
                (Some((batch, count)), _) => {
                    format!(
                        "PubAck seq {} (batch {batch} of {count} committed)",
                        ack.seq
                    )
                }
                (None, true) => format!("PubAck seq {} (duplicate)", ack.seq),
                (None, false) => format!("PubAck seq {}", ack.seq),
            };
            flow.step(
                at,
                Some(seq),
                StepKind::PubAck {
                    duplicate: ack.duplicate,
                },
                stream,
                producer,
                label,
            );
            let rollup = flow.rollup_all();
            let key = (ack.stream.clone(), ack.seq);
            match self.by_stream_seq.get(&key).copied() {
                Some(original) if ack.duplicate && original != id => {
                    self.merge_duplicate(id, original)
                }
                _ => self.index_stored(&ack.stream, ack.seq, id),
            }
            if let Some((batch, count)) = &ack.batch {
                self.batch_committed(batch, &ack.stream, ack.seq, *count);
            }
            if let Some(all) = rollup {
                let subject = (!all).then(|| self.get(id)).flatten().map(|f| {
                    f.subject_in_stream(self.streams.get(&ack.stream))
                        .into_owned()
                });
                self.stream_state(&ack.stream)
                    .removal(super::streams::StreamRemoval::Rollup {
                        at,
                        seq: ack.seq,
                        subject,
                    });
            }
            return;
        }
        if let Some(error) = api_error {
            flow.kind = stored_kind;
            flow.detail_mut().publish_error = Some(error.clone());
            let (from, to) = (flow.detail().steps.first().map_or(1, |s| s.to), 0);
            flow.step(
                at,
                Some(seq),
                StepKind::PublishError,
                from,
                to,
                format!("error: {error}"),
            );
            if let Some(batch) = batch {
                self.batch_failed(&batch, format!("atomic batch {batch} refused: {error}"), at);
            }
            return;
        }
        if batch.is_some() && record.payload().is_empty() {
            // A batch member taken in, to be stored with the commit.
            let (from, to) = (flow.detail().steps.first().map_or(1, |s| s.to), 0);
            flow.step(
                at,
                Some(seq),
                StepKind::PubAck { duplicate: false },
                from,
                to,
                "batch member accepted".to_owned(),
            );
            return;
        }
        if let Some(error) = super::links::service_error(record) {
            flow.step(
                at,
                Some(seq),
                StepKind::PublishError,
                flow.detail().steps.first().map_or(1, |s| s.to),
                0,
                format!("service error {}", error),
            );
            flow.detail_mut().reply_at.get_or_insert(at);
            flow.detail_mut().extras_mut().service_error = Some(error);
            return;
        }
        let latency = flow.detail().request_at.map(|r| at - r).unwrap_or(0);
        let first = flow.detail().reply_at.is_none();
        if first {
            // The first reply is the request's answer; more (scatter-gather,
            // a second responder by mistake) are kept beside it.
            flow.detail_mut().reply_at = Some(at);
            if let Some(name) = &responder {
                flow.detail_mut().responder = Some(name.clone());
                if let Some(lane) = flow
                    .detail_mut()
                    .lanes
                    .iter_mut()
                    .find(|l| l.role == Role::Subject)
                {
                    lane.name = format!("{} ({name})", lane.name);
                }
            }
        }
        let inbox = record.subject();
        let n = flow.detail().reply_count() + 1;
        let label = match (&responder, first) {
            (_, true) => format!("reply in {}", super::format_duration(latency)),
            (Some(name), false) => {
                format!(
                    "reply #{n} in {} from {name}",
                    super::format_duration(latency)
                )
            }
            (None, false) => format!("reply #{n} in {}", super::format_duration(latency)),
        };
        if !first {
            flow.detail_mut()
                .extras_mut()
                .more_replies
                .push(Reply { at, responder });
        }
        let target = flow.detail().steps.first().map_or(1, |s| s.to);
        flow.step(at, Some(seq), StepKind::Reply, target, 0, label);
        if first {
            let window = self.config.reply_timeout_ns;
            self.answered.keep(inbox, id, at, window);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::HeaderBlock;

    fn event(at: Timestamp, id: u64) -> Record {
        let id = id.to_string();
        let headers = HeaderBlock::build(None, [("ce-source", "svc"), ("ce-id", id.as_str())]);
        Record::new(at, 0, "events.created", None, Some(&headers), b"{}")
    }

    #[test]
    fn identities_of_evicted_flows_are_dropped_and_live_ones_still_link() {
        let mut c = Correlator::new(FlowConfig {
            max_flows: 16,
            ..FlowConfig::default()
        });
        for n in 0..10_000 {
            c.ingest(n, &event(n as i64, n));
        }
        assert!(c.by_msg_id.len() <= 2 * 1024 + 1, "{}", c.by_msg_id.len());
        // A live flow's id again is a duplicate; an evicted one's is new.
        c.ingest(10_000, &event(10_000, 9_999));
        c.ingest(10_001, &event(10_001, 5));
        let flows: Vec<&Flow> = c.flows().collect();
        let n = flows.len();
        assert!(flows[n - 2].duplicate_of.is_some());
        assert!(flows[n - 1].duplicate_of.is_none());
    }
}
