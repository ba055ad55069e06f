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

use super::classify::{
    Class, classify, parse_api_error, parse_consumer_answer, parse_pub_ack, parse_stream_created,
};
use super::model::{
    Final, Flow, FlowId, FlowKind, KvOp, ObjectPut, Outcome, Reply, Role, Step, StepKind,
    UNKNOWN_PRODUCER, object_chunk,
};
use crate::capture::Seq;
use crate::capture::{Record, SubjectPattern, Timestamp};

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
            id_headers: vec!["Nats-Msg-Id".into(), "ce-id".into()],
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
    /// Consumers whose creation answer said `ack_policy: none`, by stream:
    /// their deliveries are `delivered`, not waiting.
    pub(super) ack_none: HashMap<String, foldhash::HashSet<String>>,
    /// Streams whose creation was seen, with every consumer created since:
    /// enough to say that no consumer wants a message.
    pub(super) streams: HashMap<String, KnownStream>,
    /// Object flows by (bucket, nuid).
    pub(super) objects: HashMap<(String, String), FlowId>,
    /// Requests answered lately, by inbox: more replies may follow
    /// (scatter-gather). Kept apart from `by_reply` so that the lookup
    /// every record makes stays on a small table.
    pub(super) answered: RecentAnswers,
}

/// Inboxes by their hash: no allocation per answered request. A hash
/// that collides is caught by comparing the flow's own reply subject.
#[derive(Default)]
pub(super) struct RecentAnswers {
    by_inbox: HashMap<u64, FlowId>,
    order: VecDeque<(Timestamp, u64)>,
}

fn inbox_hash(inbox: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0).hash_one(inbox)
}

impl RecentAnswers {
    fn keep(&mut self, inbox: &str, id: FlowId, at: Timestamp, window: i64) {
        const KEPT: usize = 65_536;
        while let Some(&(first, old)) = self.order.front()
            && (first < at - window || self.order.len() >= KEPT)
        {
            self.by_inbox.remove(&old);
            self.order.pop_front();
        }
        let hash = inbox_hash(inbox);
        self.order.push_back((at, hash));
        self.by_inbox.insert(hash, id);
    }

    fn get(&self, inbox: &str) -> Option<FlowId> {
        self.by_inbox.get(&inbox_hash(inbox)).copied()
    }
}

/// A chunk's PubAck (or error) counted in its object's flow.
fn object_answer(flow: &mut Flow, seq: Seq, at: Timestamp, stored: bool, error: Option<String>) {
    let Some(object) = flow.detail_mut().extras_mut().object.as_mut() else {
        return;
    };
    if stored {
        object.stored += 1;
    }
    let label = format!("stored {} of {} chunks", object.stored, object.chunks);
    if let Some(error) = error {
        flow.detail_mut().publish_error = Some(error);
    }
    match flow
        .detail_mut()
        .steps
        .iter_mut()
        .find(|s| matches!(s.kind, StepKind::PubAck { .. }))
    {
        Some(step) => step.label = label,
        None => {
            let stream = flow.stream_lane();
            let producer = flow
                .detail()
                .lanes
                .iter()
                .position(|l| l.role == Role::Producer)
                .unwrap_or(0);
            flow.step(
                at,
                Some(seq),
                StepKind::PubAck { duplicate: false },
                stream,
                producer,
                label,
            );
        }
    }
    flow.updated_at = flow.updated_at.max(at);
}

pub(super) struct KnownStream {
    interest: bool,
    consumers: Vec<KnownConsumer>,
}

struct KnownConsumer {
    name: String,
    /// Empty: every subject of the stream.
    filters: Vec<SubjectPattern>,
    since: Timestamp,
}

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

/// What a publish's headers say (`Correlator::publish_headers`).
#[derive(Default)]
struct PublishHeaders {
    producer: Option<String>,
    msg_id: Option<String>,
    trace_id: Option<String>,
    identity: Option<Box<str>>,
}

/// Inbox answers waiting a moment for their request, bounded in number and
/// age.
#[derive(Default)]
pub(super) struct EarlyReplies {
    by_inbox: HashMap<Box<str>, Vec<(Seq, Record)>>,
    order: VecDeque<(Timestamp, Box<str>)>,
}

/// How long an answer waits for its request (far beyond any reordering
/// between connections, short enough to keep few).
const EARLY_REPLY_WAIT_NS: i64 = 2_000_000_000;
const EARLY_REPLIES_KEPT: usize = 4096;

impl EarlyReplies {
    fn keep(&mut self, seq: Seq, record: &Record, latest: Timestamp) {
        while let Some((at, inbox)) = self.order.front()
            && (*at < latest - EARLY_REPLY_WAIT_NS || self.order.len() >= EARLY_REPLIES_KEPT)
        {
            self.by_inbox.remove(inbox);
            self.order.pop_front();
        }
        let inbox: Box<str> = record.subject().into();
        self.order.push_back((record.received_at, inbox.clone()));
        self.by_inbox
            .entry(inbox)
            .or_default()
            .push((seq, record.detached()));
    }

    fn take(&mut self, inbox: &str) -> Vec<(Seq, Record)> {
        self.by_inbox.remove(inbox).unwrap_or_default()
    }
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
            by_reply: HashMap::new(),
            by_stream_seq: HashMap::new(),
            by_msg_id: HashMap::new(),
            pull_inboxes: HashMap::new(),
            early_replies: EarlyReplies::default(),
            ack_none: HashMap::new(),
            streams: HashMap::new(),
            objects: HashMap::new(),
            answered: RecentAnswers::default(),
        }
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
        *self = Self::new(config);
        self.first_id = next;
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
        if let Some(id) = self.by_reply.remove(record.subject()) {
            self.on_reply(id, seq, record);
            return;
        }
        match classify(record) {
            Class::Publish => self.on_publish(seq, record, FlowKind::Publish),
            Class::Request => self.on_publish(seq, record, FlowKind::Request),
            Class::Delivery(ack) => self.on_delivery(seq, record, &ack),
            Class::Ack { ack, body, sync } => self.on_ack(seq, record, &ack, body, sync),
            Class::Advisory(advisory) => self.on_advisory(seq, record, &advisory),
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
                if let Some(stream) = parse_stream_created(record.payload()) {
                    self.streams.insert(
                        stream.name,
                        KnownStream {
                            interest: stream.interest,
                            consumers: Vec::new(),
                        },
                    );
                    return;
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
                    return;
                }
                self.early_replies.keep(seq, record, self.latest)
            }
            Class::Control => self.on_control(record),
        }
    }

    pub(super) fn on_control(&mut self, record: &Record) {
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

    /// What a publish's headers say, read in one pass: the producer and
    /// the message id (the first configured header present of each), the
    /// trace id, and what makes two publishes the same message where the
    /// wire says it without the server: a CloudEvent is its `ce-source`
    /// with its `ce-id` (one service forwarding another's event under its
    /// own source is a new event); other configured id headers by their
    /// value. A `Nats-Msg-Id` is left to the server, which deduplicates
    /// within a stream and says so in the PubAck.
    fn publish_headers(&self, record: &Record) -> PublishHeaders {
        let mut found = PublishHeaders::default();
        let Some(headers) = record.headers() else {
            return found;
        };
        let (producers, ids) = (&self.config.producer_headers, &self.config.id_headers);
        let rank =
            |names: &[String], name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        let (mut producer, mut msg_id, mut identity) = (None, None, None);
        let (mut ce_id, mut ce_source) = (None, None);
        for (name, value) in headers.iter() {
            let better = |best: &Option<(usize, &str)>, r: usize| best.is_none_or(|(b, _)| r < b);
            if let Some(r) = rank(producers, name)
                && better(&producer, r)
            {
                producer = Some((r, value));
            }
            if let Some(r) = rank(ids, name) {
                if better(&msg_id, r) {
                    msg_id = Some((r, value));
                }
                if !name.eq_ignore_ascii_case("Nats-Msg-Id")
                    && identity.is_none_or(|(b, _, _)| r < b)
                {
                    identity = Some((r, name, value));
                }
            }
            if name.eq_ignore_ascii_case("traceparent") && found.trace_id.is_none() {
                found.trace_id = value.split('-').nth(1).map(str::to_owned);
            }
            if name.eq_ignore_ascii_case("ce-id") && ce_id.is_none() {
                ce_id = Some(value);
            }
            if name.eq_ignore_ascii_case("ce-source") && ce_source.is_none() {
                ce_source = Some(value);
            }
        }
        found.producer = producer.map(|(_, v)| v.to_owned());
        found.msg_id = msg_id.map(|(_, v)| v.to_owned());
        found.identity = identity.map(|(_, name, value)| {
            if name.eq_ignore_ascii_case("ce-id") {
                let source = ce_source.unwrap_or("");
                format!("ce-id\0{source}\0{}", ce_id.unwrap_or(value)).into()
            } else {
                format!("{name}\0{value}").into()
            }
        });
        found
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
        if kind == FlowKind::Request {
            flow.add_first_step();
            flow.detail_mut().request_at = Some(at);
            if let Some(reply) = record.reply() {
                flow.detail_mut().reply_subject = Some(reply.into());
                self.by_reply.insert(reply.into(), flow.id);
            }
        }
        if let Some(key) = headers.identity {
            match self.by_msg_id.get(&*key).copied() {
                Some(first) if self.get(first).is_some() => {
                    flow.duplicate_of = Some(first);
                    if let Some(original) = self.get_mut(first) {
                        original.duplicates += 1;
                    }
                }
                _ => {
                    self.by_msg_id.insert(key, flow.id);
                }
            }
        }
        let id = self.push(flow);
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
            if let Some(flow) = self.get_mut(id) {
                object_answer(flow, seq, at, pub_ack.is_some(), api_error);
            }
            return;
        }
        let stored_kind = if flow.detail().kv().is_some() {
            FlowKind::Kv
        } else {
            FlowKind::Jetstream
        };
        if let Some(ack) = pub_ack {
            // A JetStream publish: the subject lane becomes the stream.
            flow.kind = stored_kind;
            flow.detail_mut().stream = Some(ack.stream.clone());
            flow.detail_mut().stream_seq = Some(ack.seq);
            if let Some(lane) = flow
                .detail_mut()
                .lanes
                .iter_mut()
                .find(|l| l.role == Role::Subject)
            {
                lane.name = ack.stream.clone();
                lane.role = Role::Stream;
            }
            // It was a publish, not a request: its sender is a producer.
            if flow.producer.is_none()
                && let Some(lane) = flow
                    .detail_mut()
                    .lanes
                    .iter_mut()
                    .find(|l| l.role == Role::Producer)
            {
                lane.name = UNKNOWN_PRODUCER.into();
            }
            let label = format!("publish {}", flow.subject);
            if let Some(first) = flow.detail_mut().steps.first_mut() {
                first.kind = StepKind::Publish;
                first.label = label;
            }
            let stream = flow.stream_lane();
            let producer = 0;
            let label = if ack.duplicate {
                format!("PubAck seq {} (duplicate)", ack.seq)
            } else {
                format!("PubAck seq {}", ack.seq)
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
            let key = (ack.stream.clone(), ack.seq);
            match self.by_stream_seq.get(&key).copied() {
                Some(original) if ack.duplicate && original != id => {
                    self.merge_duplicate(id, original)
                }
                Some(early) if early != id && self.started_at_stream(early) => {
                    // Its deliveries came before the PubAck: one flow.
                    self.by_stream_seq.insert(key, id);
                    self.absorb(id, early);
                }
                _ => {
                    self.by_stream_seq.insert(key, id);
                }
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

    /// The flow of an object store object, made at its first chunk.
    pub(super) fn object_flow(&mut self, bucket: &str, nuid: &str, at: Timestamp) -> FlowId {
        let key = (bucket.to_owned(), nuid.to_owned());
        if let Some(&id) = self.objects.get(&key)
            && self.get(id).is_some()
        {
            return id;
        }
        let mut flow = Flow::new(
            self.next_id(),
            FlowKind::Object,
            &format!("$O.{bucket}.C.{nuid}"),
            at,
        );
        flow.detail_mut().stream = Some(format!("OBJ_{bucket}"));
        flow.detail_mut().extras_mut().object = Some(ObjectPut {
            bucket: bucket.to_owned(),
            nuid: nuid.to_owned(),
            ..Default::default()
        });
        let id = self.push(flow);
        self.objects.insert(key, id);
        id
    }

    /// One chunk of an object: counted in its object's flow, not a flow of
    /// its own (an object is thousands of chunks).
    fn on_object_chunk(&mut self, seq: Seq, record: &Record, bucket: &str, nuid: &str) {
        let at = record.received_at;
        let id = self.object_flow(bucket, nuid, at);
        if let Some(reply) = record.reply() {
            self.by_reply.insert(reply.into(), id);
        }
        let producer = self.header_value(record, &self.config.producer_headers);
        let Some(flow) = self.get_mut(id) else {
            return;
        };
        if flow.producer.is_none() {
            flow.producer = producer;
        }
        let Some(object) = flow.detail_mut().extras_mut().object.as_mut() else {
            return;
        };
        object.chunks += 1;
        object.bytes += record.payload().len() as u64;
        let label = format!("put {} chunks ({} bytes)", object.chunks, object.bytes);
        match flow
            .detail_mut()
            .steps
            .iter_mut()
            .find(|s| s.kind == StepKind::Publish)
        {
            Some(step) => step.label = label,
            None => {
                flow.first_record = Some(seq);
                let producer = flow
                    .producer
                    .clone()
                    .unwrap_or_else(|| UNKNOWN_PRODUCER.into());
                let from = flow.lane(&producer, Role::Producer);
                let to = flow.stream_lane();
                flow.step(at, Some(seq), StepKind::Publish, from, to, label);
            }
        }
        flow.updated_at = flow.updated_at.max(at);
    }

    /// An object's metadata (`$O.<bucket>.M.<name>`, JSON with its name
    /// and nuid) names the object of those chunks. False if it is not one.
    fn on_object_meta(&mut self, record: &Record) -> bool {
        #[derive(serde::Deserialize)]
        struct Meta {
            name: String,
            nuid: String,
        }
        let Some(bucket) = record
            .subject()
            .strip_prefix("$O.")
            .and_then(|rest| rest.split_once(".M."))
            .map(|(bucket, _)| bucket)
        else {
            return false;
        };
        let Ok(meta) = serde_json::from_slice::<Meta>(record.payload()) else {
            return false;
        };
        let Some(&id) = self.objects.get(&(bucket.to_owned(), meta.nuid)) else {
            return false;
        };
        let Some(flow) = self.get_mut(id) else {
            return false;
        };
        if let Some(object) = flow.detail_mut().extras_mut().object.as_mut() {
            object.name = Some(meta.name);
        }
        true
    }

    /// Deliveries seen before their consumer's creation answer said it
    /// expects no answers: delivered, not waiting.
    fn no_answer_expected(&mut self, stream: &str, consumer: &str) {
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

    /// A flow begun by a delivery or an answer, its publish not (yet) seen.
    fn started_at_stream(&self, id: FlowId) -> bool {
        self.get(id).is_some_and(|f| {
            f.kind.is_stored()
                && f.detail().request_at.is_none()
                && !f.detail().steps.iter().any(|s| {
                    matches!(
                        s.kind,
                        StepKind::Publish | StepKind::Request | StepKind::PubAck { .. }
                    )
                })
        })
    }

    /// Fold a flow begun at the stream into the flow of its publish, seen
    /// after it: the same flow as when the publish came first.
    fn absorb(&mut self, into: FlowId, early: FlowId) {
        let Some(from) = self.get_mut(early) else {
            return;
        };
        from.detail_mut().merged_into = Some(into);
        let detail = from.detail().clone();
        let Some(to) = self.get_mut(into) else {
            return;
        };
        let lanes: Vec<usize> = detail
            .lanes
            .iter()
            .map(|l| to.lane(&l.name, l.role))
            .collect();
        let lane = |i: usize| lanes.get(i).copied().unwrap_or(0);
        for step in detail.steps {
            to.step(
                step.at,
                step.record,
                step.kind,
                lane(step.from),
                lane(step.to),
                step.label,
            );
        }
        to.detail_mut().steps.sort_by_key(|s| s.at);
        for delivery in detail.deliveries {
            let known = to
                .detail_mut()
                .deliveries
                .iter_mut()
                .find(|d| d.consumer == delivery.consumer && d.count == delivery.count);
            match known {
                Some(known) => known.merge(delivery),
                None => {
                    to.detail_mut().add_delivery(delivery);
                }
            }
        }
        for consumer in detail.max_deliveries {
            if !to.detail().max_deliveries.contains(&consumer) {
                to.detail_mut().max_deliveries.push(consumer);
            }
        }
    }

    /// Fold a duplicate JetStream publish into the flow of the original.
    pub(super) fn merge_duplicate(&mut self, duplicate: FlowId, original: FlowId) {
        let Some(dup) = self.get_mut(duplicate) else {
            return;
        };
        dup.detail_mut().merged_into = Some(original);
        let steps: Vec<Step> = dup.detail().steps.clone();
        let producer = dup.producer.clone();
        let already_linked = dup.duplicate_of == Some(original);
        let Some(orig) = self.get_mut(original) else {
            return;
        };
        if !already_linked {
            orig.duplicates += 1;
        }
        let producer_lane = orig.lane(
            producer.as_deref().unwrap_or(UNKNOWN_PRODUCER),
            Role::Producer,
        );
        let stream_lane = orig.stream_lane();
        for step in steps {
            let (kind, from, to, label) = match step.kind {
                StepKind::Publish | StepKind::Request => (
                    StepKind::DuplicatePublish,
                    producer_lane,
                    stream_lane,
                    format!("publish again (same {})", "message id"),
                ),
                other => (other, stream_lane, producer_lane, step.label),
            };
            orig.step(step.at, step.record, kind, from, to, label);
        }
        orig.detail_mut().steps.sort_by_key(|s| s.at);
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
