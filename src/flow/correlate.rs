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

use serde::Serialize;

use super::classify::{
    AckBody, AckSubject, AdvisoryKind, Class, MessageAdvisory, classify, parse_api_error,
    parse_pub_ack,
};
use crate::capture::store::Seq;
use crate::capture::{Record, SubjectPattern, Timestamp};

pub type FlowId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    Jetstream,
    Request,
    Publish,
}

/// What became of one delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ack,
    Nak,
    Term,
    Wpi,
    /// Redelivered (or given up) with no answer: the ack wait expired.
    Timeout,
    Pending,
}

/// How a flow ended, as far as the wire shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Final {
    Acked,
    Terminated,
    MaxDeliveries,
    Pending,
    Replied,
    NoReply,
}

impl Final {
    pub fn label(self) -> &'static str {
        match self {
            Final::Acked => "acked",
            Final::Terminated => "terminated",
            Final::MaxDeliveries => "max deliveries",
            Final::Pending => "pending",
            Final::Replied => "replied",
            Final::NoReply => "no reply",
        }
    }

    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Final::Terminated | Final::MaxDeliveries | Final::NoReply
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub consumer: String,
    pub count: u64,
    /// The delivery's record; `None` when only its acknowledgement was seen.
    pub record: Option<Seq>,
    pub at: Timestamp,
    pub outcome: Outcome,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    Publish,
    DuplicatePublish,
    PubAck {
        duplicate: bool,
    },
    PublishError,
    Request,
    Reply,
    NoReply,
    Deliver {
        count: u64,
    },
    Answer(AckBody),
    /// No answer before the next delivery: drawn as a gap on the consumer.
    AckWaitExpired,
    Advisory(AdvisoryKind),
}

/// One arrow (or marker, when `from == to`) of the sequence diagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub at: Timestamp,
    pub record: Option<Seq>,
    pub kind: StepKind,
    pub from: usize,
    pub to: usize,
    pub label: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Producer,
    Subject,
    Stream,
    Consumer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lane {
    pub name: String,
    pub role: Role,
}

#[derive(Clone, Debug)]
pub struct Flow {
    pub id: FlowId,
    pub kind: FlowKind,
    pub subject: String,
    /// From a producer header (`ce-source` or the configured ones); `None`
    /// when the wire does not say.
    pub producer: Option<String>,
    pub trace_id: Option<String>,
    /// The id header that linked messages (`Nats-Msg-Id`, `ce-id`, …).
    pub msg_id: Option<String>,
    /// Other publishes with the same id (a duplicate: idempotency at stake).
    pub duplicates: u32,
    /// This flow repeats the id of that earlier flow.
    pub duplicate_of: Option<FlowId>,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    /// The first record of the flow.
    pub first_record: Option<Seq>,
    /// `None` until the flow is more than a core publish.
    detail: Option<Box<FlowDetail>>,
}

/// What a flow beyond a single core publish carries: its stream, lanes and
/// steps, deliveries, request and reply. Core publishes, by far the most
/// frequent flows, carry none of it, so it lives behind a pointer that they
/// leave empty: inline, it made every flow 408 bytes and the 100,000-flow
/// index 60 MiB.
#[derive(Clone, Debug, Default)]
pub struct FlowDetail {
    pub stream: Option<String>,
    pub stream_seq: Option<u64>,
    pub lanes: Vec<Lane>,
    pub steps: Vec<Step>,
    pub deliveries: Vec<Delivery>,
    /// Consumers whose MAX_DELIVERIES advisory named this message.
    pub max_deliveries: Vec<String>,
    pub request_at: Option<Timestamp>,
    pub reply_at: Option<Timestamp>,
    pub responder: Option<String>,
    pub publish_error: Option<String>,
    reply_subject: Option<Box<str>>,
    /// Folded into another flow (a duplicate JetStream publish).
    merged_into: Option<FlowId>,
}

impl FlowDetail {
    /// The lanes' names, left to right.
    pub fn lane_names(&self) -> Vec<&str> {
        self.lanes.iter().map(|l| l.name.as_str()).collect()
    }

    /// The steps' labels, top to bottom.
    pub fn step_labels(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.label.as_str()).collect()
    }
}

/// The detail of a flow that has none.
static NO_DETAIL: FlowDetail = FlowDetail {
    stream: None,
    stream_seq: None,
    lanes: Vec::new(),
    steps: Vec::new(),
    deliveries: Vec::new(),
    max_deliveries: Vec::new(),
    request_at: None,
    reply_at: None,
    responder: None,
    publish_error: None,
    reply_subject: None,
    merged_into: None,
};

impl Flow {
    pub(crate) fn new(id: FlowId, kind: FlowKind, subject: &str, at: Timestamp) -> Self {
        Self {
            id,
            kind,
            subject: subject.to_owned(),
            producer: None,
            trace_id: None,
            msg_id: None,
            duplicates: 0,
            duplicate_of: None,
            started_at: at,
            updated_at: at,
            first_record: None,
            detail: None,
        }
    }

    /// Stream, lanes, steps, deliveries, request and reply (all empty for
    /// a core publish).
    pub fn detail(&self) -> &FlowDetail {
        self.detail.as_deref().unwrap_or(&NO_DETAIL)
    }

    pub(crate) fn detail_mut(&mut self) -> &mut FlowDetail {
        self.detail.get_or_insert_with(Box::default)
    }

    pub(crate) fn lane(&mut self, name: &str, role: Role) -> usize {
        let lanes = &mut self.detail_mut().lanes;
        if let Some(i) = lanes.iter().position(|l| l.name == name && l.role == role) {
            return i;
        }
        lanes.push(Lane {
            name: name.to_owned(),
            role,
        });
        lanes.len() - 1
    }

    pub(crate) fn step(
        &mut self,
        at: Timestamp,
        record: Option<Seq>,
        kind: StepKind,
        from: usize,
        to: usize,
        label: String,
    ) {
        self.updated_at = self.updated_at.max(at);
        self.detail_mut().steps.push(Step {
            at,
            record,
            kind,
            from,
            to,
            label,
        });
    }

    fn stream_lane(&mut self) -> usize {
        let name = self
            .detail()
            .stream
            .clone()
            .unwrap_or_else(|| "stream".into());
        self.lane(&name, Role::Stream)
    }

    /// Lanes and the first arrow, from the producer and subject.
    fn add_first_step(&mut self) {
        let producer_name = match (&self.producer, self.kind) {
            (Some(p), _) => p.clone(),
            (None, FlowKind::Publish) => "producer (unknown)".into(),
            (None, _) => "requester (unknown)".into(),
        };
        let producer = self.lane(&producer_name, Role::Producer);
        let subject = self.subject.clone();
        let target = self.lane(&subject, Role::Subject);
        let (step, label) = match self.kind {
            FlowKind::Publish => (StepKind::Publish, format!("publish {subject}")),
            _ => (StepKind::Request, format!("request {subject}")),
        };
        let at = self.started_at;
        self.step(at, self.first_record, step, producer, target, label);
    }

    /// The flow with every lane and step, for drawing and export (a core
    /// publish keeps them implicit until then).
    pub fn materialized(&self) -> std::borrow::Cow<'_, Flow> {
        if self.kind == FlowKind::Publish && self.detail().steps.is_empty() {
            let mut flow = self.clone();
            flow.add_first_step();
            std::borrow::Cow::Owned(flow)
        } else {
            std::borrow::Cow::Borrowed(self)
        }
    }

    /// The reply subject of a request (its inbox).
    pub fn reply_subject(&self) -> Option<&str> {
        self.detail().reply_subject.as_deref()
    }

    pub fn is_visible(&self) -> bool {
        self.detail().merged_into.is_none()
    }

    /// Request latency, when a reply came.
    pub fn latency(&self) -> Option<i64> {
        let detail = self.detail();
        Some(detail.reply_at? - detail.request_at?)
    }

    pub fn has_retries(&self) -> bool {
        self.detail()
            .deliveries
            .iter()
            .any(|d| d.count > 1 || d.outcome == Outcome::Nak)
    }

    /// Consumers that got this message, in order of first delivery.
    pub fn consumers(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for d in &self.detail().deliveries {
            if !out.contains(&d.consumer.as_str()) {
                out.push(&d.consumer);
            }
        }
        out
    }

    /// Outcome for one consumer.
    pub fn consumer_final(&self, consumer: &str) -> Final {
        if self.detail().max_deliveries.iter().any(|c| c == consumer) {
            return Final::MaxDeliveries;
        }
        let last = self
            .detail()
            .deliveries
            .iter()
            .filter(|d| d.consumer == consumer)
            .max_by_key(|d| d.count);
        match last.map(|d| d.outcome) {
            Some(Outcome::Ack) => Final::Acked,
            Some(Outcome::Term) => Final::Terminated,
            _ => Final::Pending,
        }
    }

    /// How the flow ended; `None` for a core publish (the wire shows no
    /// outcome). `now` and `reply_timeout` decide when a request has had
    /// its chance to be answered.
    pub fn final_outcome(&self, now: Timestamp, reply_timeout: i64) -> Option<Final> {
        match self.kind {
            FlowKind::Publish => None,
            FlowKind::Request => Some(if self.detail().reply_at.is_some() {
                Final::Replied
            } else if now - self.started_at > reply_timeout {
                Final::NoReply
            } else {
                Final::Pending
            }),
            FlowKind::Jetstream => {
                if self.detail().publish_error.is_some() {
                    return Some(Final::NoReply);
                }
                let finals: Vec<Final> = self
                    .consumers()
                    .iter()
                    .map(|c| self.consumer_final(c))
                    .collect();
                Some(if finals.contains(&Final::MaxDeliveries) {
                    Final::MaxDeliveries
                } else if finals.contains(&Final::Terminated) {
                    Final::Terminated
                } else if !finals.is_empty() && finals.iter().all(|f| *f == Final::Acked) {
                    Final::Acked
                } else {
                    Final::Pending
                })
            }
        }
    }
}

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

/// Which flows the list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum FlowFilter {
    #[default]
    All,
    Retries,
    Failed,
    Slow,
}

impl FlowFilter {
    pub const ALL: [FlowFilter; 4] = [
        FlowFilter::All,
        FlowFilter::Retries,
        FlowFilter::Failed,
        FlowFilter::Slow,
    ];

    pub fn label(self) -> &'static str {
        match self {
            FlowFilter::All => "All",
            FlowFilter::Retries => "With retries",
            FlowFilter::Failed => "Failed",
            FlowFilter::Slow => "Slow",
        }
    }
}

/// What the list's filters look at, worked out once per flow.
#[derive(Clone, Copy)]
struct FlowTraits {
    retries: bool,
    failed: bool,
    slow: bool,
}

impl FlowFilter {
    fn accepts(self, traits: FlowTraits) -> bool {
        match self {
            FlowFilter::All => true,
            FlowFilter::Retries => traits.retries,
            FlowFilter::Failed => traits.failed,
            FlowFilter::Slow => traits.slow,
        }
    }
}

/// Counts of each kind of flow, for the list's header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounts {
    pub all: usize,
    pub retries: usize,
    pub failed: usize,
    pub slow: usize,
}

pub struct Correlator {
    pub config: FlowConfig,
    flows: VecDeque<Flow>,
    first_id: FlowId,
    evicted: u64,
    /// Latest record time seen: "now" for replayed or loaded captures.
    latest: Timestamp,
    by_reply: HashMap<Box<str>, FlowId>,
    by_stream_seq: HashMap<(String, u64), FlowId>,
    by_msg_id: HashMap<String, FlowId>,
    /// Recent `MSG.NEXT` reply inboxes per (stream, consumer), newest
    /// last: each pull has its own inbox, and naming the worker needs one
    /// that the server's connection list still shows.
    pull_inboxes: HashMap<(String, String), VecDeque<Box<str>>>,
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

    fn next_id(&self) -> FlowId {
        self.first_id + self.flows.len() as FlowId
    }

    pub fn get(&self, id: FlowId) -> Option<&Flow> {
        let index = id.checked_sub(self.first_id)?;
        self.flows.get(usize::try_from(index).ok()?)
    }

    fn get_mut(&mut self, id: FlowId) -> Option<&mut Flow> {
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

    pub fn final_of(&self, flow: &Flow, now: Timestamp) -> Option<Final> {
        flow.final_outcome(now, self.config.reply_timeout_ns)
    }

    /// Which of the list's filters a flow passes.
    fn traits(&self, flow: &Flow, now: Timestamp) -> FlowTraits {
        FlowTraits {
            retries: flow.has_retries(),
            failed: self.final_of(flow, now).is_some_and(Final::is_failure),
            slow: flow.latency().is_some_and(|l| l > self.config.slow_ns),
        }
    }

    pub fn matches(&self, flow: &Flow, filter: FlowFilter, now: Timestamp) -> bool {
        filter.accepts(self.traits(flow, now))
    }

    /// Flows passing a filter and an optional subject pattern.
    pub fn select<'a>(
        &'a self,
        filter: FlowFilter,
        subject: Option<&'a SubjectPattern>,
        now: Timestamp,
    ) -> impl DoubleEndedIterator<Item = &'a Flow> + 'a {
        self.flows()
            .filter(move |f| self.matches(f, filter, now))
            .filter(move |f| subject.is_none_or(|p| p.matches(&f.subject)))
    }

    /// The ids passing a filter and subject pattern, and the counts of each
    /// kind, in one walk over the flows (call a few times a second, not per
    /// frame).
    pub fn select_and_count(
        &self,
        filter: FlowFilter,
        subject: Option<&SubjectPattern>,
        now: Timestamp,
    ) -> (Vec<FlowId>, FlowCounts) {
        let mut counts = FlowCounts::default();
        let mut list = Vec::new();
        for flow in self.flows() {
            let traits = self.traits(flow, now);
            counts.all += 1;
            counts.retries += usize::from(traits.retries);
            counts.failed += usize::from(traits.failed);
            counts.slow += usize::from(traits.slow);
            if filter.accepts(traits) && subject.is_none_or(|p| p.matches(&flow.subject)) {
                list.push(flow.id);
            }
        }
        (list, counts)
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
            Class::Control => self.on_control(record),
        }
    }

    fn on_control(&mut self, record: &Record) {
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

    fn push(&mut self, flow: Flow) -> FlowId {
        let id = flow.id;
        self.flows.push_back(flow);
        while self.flows.len() > self.config.max_flows {
            if let Some(old) = self.flows.pop_front() {
                self.forget(&old);
                self.first_id += 1;
                self.evicted += 1;
            }
        }
        id
    }

    /// Drop an evicted flow's index entries (only those still pointing to it).
    fn forget(&mut self, flow: &Flow) {
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
        if let Some(id) = &flow.msg_id
            && self.by_msg_id.get(id) == Some(&flow.id)
        {
            self.by_msg_id.remove(id);
        }
    }

    fn header_value(&self, record: &Record, names: &[String]) -> Option<String> {
        let headers = record.headers()?;
        headers.first_of(names).map(str::to_owned)
    }

    fn on_publish(&mut self, seq: Seq, record: &Record, kind: FlowKind) {
        let at = record.received_at;
        let mut flow = Flow::new(self.next_id(), kind, record.subject(), at);
        flow.first_record = Some(seq);
        flow.producer = self.header_value(record, &self.config.producer_headers);
        flow.trace_id = record
            .headers()
            .as_ref()
            .and_then(|h| h.get("traceparent"))
            .and_then(|tp| tp.split('-').nth(1))
            .map(str::to_owned);
        flow.msg_id = self.header_value(record, &self.config.id_headers);
        // A core publish is one arrow; its lanes and step are drawn from the
        // flow's fields when needed (`materialized`), which keeps the most
        // frequent kind of flow cheap to make.
        if kind == FlowKind::Request {
            flow.add_first_step();
            flow.detail_mut().request_at = Some(at);
            if let Some(reply) = record.reply() {
                flow.detail_mut().reply_subject = Some(reply.into());
                self.by_reply.insert(reply.into(), flow.id);
            }
        }
        if let Some(msg_id) = flow.msg_id.clone() {
            match self.by_msg_id.get(&msg_id).copied() {
                Some(first) if self.get(first).is_some() => {
                    flow.duplicate_of = Some(first);
                    if let Some(original) = self.get_mut(first) {
                        original.duplicates += 1;
                    }
                }
                _ => {
                    self.by_msg_id.insert(msg_id, flow.id);
                }
            }
        }
        self.push(flow);
    }

    fn on_reply(&mut self, id: FlowId, seq: Seq, record: &Record) {
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
        if let Some(ack) = pub_ack {
            // A JetStream publish: the subject lane becomes the stream.
            flow.kind = FlowKind::Jetstream;
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
                _ => {
                    self.by_stream_seq.insert(key, id);
                }
            }
            return;
        }
        if let Some(error) = api_error {
            flow.kind = FlowKind::Jetstream;
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
        flow.detail_mut().reply_at = Some(at);
        let latency = flow.detail().request_at.map(|r| at - r).unwrap_or(0);
        if let Some(name) = responder {
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
        let target = flow.detail().steps.first().map_or(1, |s| s.to);
        flow.step(
            at,
            Some(seq),
            StepKind::Reply,
            target,
            0,
            format!("reply (+{})", super::format_duration(latency)),
        );
    }

    /// Fold a duplicate JetStream publish into the flow of the original.
    fn merge_duplicate(&mut self, duplicate: FlowId, original: FlowId) {
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
            producer.as_deref().unwrap_or("producer (unknown)"),
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

    fn flow_for_stream_seq(
        &mut self,
        ack: &AckSubject,
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
        let mut flow = Flow::new(self.next_id(), FlowKind::Jetstream, subject, at);
        flow.detail_mut().stream = Some(ack.stream.clone());
        flow.detail_mut().stream_seq = Some(ack.stream_seq);
        if let Some(record) = record {
            flow.producer = self.header_value(record, &self.config.producer_headers);
            flow.msg_id = self.header_value(record, &self.config.id_headers);
        }
        flow.stream_lane();
        let id = flow.id;
        self.by_stream_seq.insert(key, id);
        self.push(flow)
    }

    fn on_delivery(&mut self, seq: Seq, record: &Record, ack: &AckSubject) {
        let at = record.received_at;
        let id = self.flow_for_stream_seq(ack, record.subject(), at, Some(record));
        let Some(flow) = self.get_mut(id) else {
            return;
        };
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
            None => flow.detail_mut().deliveries.push(Delivery {
                consumer: ack.consumer.clone(),
                count: ack.delivered,
                record: Some(seq),
                at,
                outcome: Outcome::Pending,
                reason: None,
            }),
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
    }

    fn on_ack(&mut self, seq: Seq, record: &Record, ack: &AckSubject, body: AckBody, sync: bool) {
        let at = record.received_at;
        let id = self.flow_for_stream_seq(ack, "(delivery not seen)", at, None);
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
            None => {
                flow.detail_mut().deliveries.push(Delivery {
                    consumer: ack.consumer.clone(),
                    count: ack.delivered,
                    record: None,
                    at,
                    outcome: Outcome::Pending,
                    reason: None,
                });
                flow.detail().deliveries.len() - 1
            }
        };
        let delivery = &mut flow.detail_mut().deliveries[index];
        match &body {
            AckBody::Ack | AckBody::Next => delivery.outcome = Outcome::Ack,
            AckBody::Nak { .. } => delivery.outcome = Outcome::Nak,
            AckBody::Term { reason } => {
                delivery.outcome = Outcome::Term;
                delivery.reason = reason.clone();
            }
            AckBody::Progress => {
                if delivery.outcome == Outcome::Pending {
                    delivery.outcome = Outcome::Wpi;
                }
            }
        }
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

    fn on_advisory(&mut self, seq: Seq, record: &Record, advisory: &MessageAdvisory) {
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
                // The last delivery went unanswered until the server gave up.
                if let Some(last) = flow
                    .detail_mut()
                    .deliveries
                    .iter_mut()
                    .filter(|d| d.consumer == advisory.consumer)
                    .max_by_key(|d| d.count)
                    && matches!(last.outcome, Outcome::Pending | Outcome::Wpi)
                {
                    last.outcome = Outcome::Timeout;
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
