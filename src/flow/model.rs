//! The flow model: a flow (a core publish, a request, a JetStream
//! message), its lanes and steps for the sequence diagram, its deliveries
//! and how it ended. Built by the `correlator`, read by every view.

use serde::Serialize;

use super::links::Links;
use super::settle::{Removal, ServiceError};
use super::vocabulary::{AckBody, AdvisoryKind};
use crate::capture::Seq;
use crate::capture::Timestamp;

/// The lane of a producer the wire does not name.
pub const UNKNOWN_PRODUCER: &str = "producer (unknown)";

pub type FlowId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    Jetstream,
    /// A key-value operation (a JetStream message in `KV_<bucket>`).
    Kv,
    /// An object put in an object store: its chunks, grouped.
    Object,
    Request,
    Publish,
    /// Published to an exchange, routed to queues, delivered from them
    /// (RabbitMQ): its hops in `queued_hops`.
    Queued,
    /// Written to a log's partitions (Kafka), read by consumer groups,
    /// copied to retry and dead-letter topics: its hops in `log_hops`.
    Logged,
}

impl FlowKind {
    /// Stored by JetStream: a PubAck, deliveries, answers.
    pub fn is_stored(self) -> bool {
        matches!(self, FlowKind::Jetstream | FlowKind::Kv)
    }
}

/// An object store object (`$O.<bucket>.C.<nuid>` chunks, its
/// `$O.<bucket>.M.<name>` metadata), one flow however many chunks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ObjectPut {
    pub bucket: String,
    pub nuid: String,
    /// From the metadata, once it is seen.
    pub name: Option<String>,
    /// Chunks published, and their bytes.
    pub chunks: u64,
    pub bytes: u64,
    /// Chunks the server acknowledged storing.
    pub stored: u64,
    /// Chunk deliveries seen (someone reading the object).
    pub read: u64,
}

/// `$O.<bucket>.C.<nuid>` -> (bucket, nuid).
pub fn object_chunk(subject: &str) -> Option<(&str, &str)> {
    let (bucket, rest) = subject.strip_prefix("$O.")?.split_once('.')?;
    Some((bucket, rest.strip_prefix("C.")?))
}

/// A key-value operation, from its subject (`$KV.<bucket>.<key>`) and its
/// `KV-Operation` header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KvOp {
    pub bucket: String,
    pub key: String,
    pub operation: KvOperation,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KvOperation {
    Put,
    Delete,
    Purge,
}

impl KvOperation {
    pub fn label(self) -> &'static str {
        match self {
            KvOperation::Put => "put",
            KvOperation::Delete => "delete",
            KvOperation::Purge => "purge",
        }
    }
}

impl KvOp {
    pub fn of(record: &crate::capture::Record) -> Option<Self> {
        let (bucket, key) = record.subject().strip_prefix("$KV.")?.split_once('.')?;
        let operation = match record.headers().and_then(|h| h.get("KV-Operation")) {
            Some("DEL") => KvOperation::Delete,
            Some("PURGE") => KvOperation::Purge,
            _ => KvOperation::Put,
        };
        Some(Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            operation,
        })
    }
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
    /// Delivered to a consumer that expects no answer (`AckPolicy: none`,
    /// an ordered consumer or a key-value watcher), as its creation said.
    Delivered,
    /// No answer to this delivery is needed any more: an answer to another
    /// delivery of the same message to the same consumer settled it first
    /// (a late ACK of delivery 1 arriving after delivery 2 went out).
    Settled,
    Pending,
}

pub use super::finals::Final;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub consumer: String,
    pub count: u64,
    /// The delivery's record; `None` when only its acknowledgement was seen.
    pub record: Option<Seq>,
    /// When it was delivered (when its answer was, if the delivery was
    /// not seen).
    pub at: Timestamp,
    /// When the consumer answered it last (ack, nak, term, progress).
    pub answered_at: Option<Timestamp>,
    /// When its first ACK or TERM came: the server acts on that one and
    /// ignores every later answer, whatever order the monitor saw them in.
    pub settled_at: Option<Timestamp>,
    pub outcome: Outcome,
    pub reason: Option<Box<str>>,
}

/// One reply to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub at: Timestamp,
    /// From a producer header of the reply, where there is one.
    pub responder: Option<String>,
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
    /// An exchange routed it to a queue.
    Route,
    /// A queue dead-lettered it (the reason in the label).
    DeadLetter,
    /// A hop the server's message trace reported, or a pause waited on.
    Trace,
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
    /// The broker whose rules settle it (its first record's).
    pub broker: crate::capture::BrokerKind,
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
    /// The first reply's time and responder.
    pub reply_at: Option<Timestamp>,
    pub responder: Option<String>,
    /// Replies, key-value and object details: behind one pointer, as most
    /// flows have none of them and every JetStream flow carries this.
    extras: Option<Box<Extras>>,
    pub publish_error: Option<String>,
    pub(super) reply_subject: Option<Box<str>>,
    /// Folded into another flow (a duplicate JetStream publish).
    pub(super) merged_into: Option<FlowId>,
}

/// What only some flows carry.
#[derive(Clone, Debug, Default)]
pub(super) struct Extras {
    /// Replies to a request after its first (which is `reply_at` and
    /// `responder`), in the order seen.
    pub(super) more_replies: Vec<Reply>,
    /// The key-value operation, for a `Kv` flow.
    pub(super) kv: Option<KvOp>,
    /// The object, for an `Object` flow.
    pub(super) object: Option<ObjectPut>,
    /// Removed by the server where the wire said so at once (a message
    /// deleted by sequence, a purge that kept the newest few).
    pub(super) removed: Option<Removal>,
    /// The error a service answered with.
    pub(super) service_error: Option<ServiceError>,
    /// Links to the same event stored elsewhere (`links.rs`).
    pub(super) links: Links,
    /// The subject the stream stored it under, where its transform or a
    /// delivery shows one other than the published subject.
    pub(super) stored_subject: Option<String>,
    /// `Nats-TTL` of the publish, in nanoseconds.
    pub(super) ttl_ns: Option<i64>,
    /// `Nats-Rollup` of the publish: `true` for `all`, `false` for `sub`.
    pub(super) rollup_all: Option<bool>,
    /// What the broker said of the publish (MQTT's retain and dup).
    pub(super) marks: super::rules::PublishMarks,
    /// What the server's message trace said of it (`Nats-Trace-Dest`).
    pub(super) trace: Vec<crate::server_answers::TraceHop>,
    /// Its hops through a queueing broker's exchanges and queues.
    pub(super) queued: Option<Box<super::queued::QueueHops>>,
    /// Its writes to a log broker's topics, and the groups past them.
    pub(super) logged: Option<Box<super::logged::LogHops>>,
}

impl FlowDetail {
    /// Every reply to a request, in the order seen (made on asking: most
    /// requests have one, kept without an allocation of its own).
    pub fn replies(&self) -> Vec<Reply> {
        let first = self.reply_at.map(|at| Reply {
            at,
            responder: self.responder.clone(),
        });
        let more = self.extras.as_ref().map_or(&[][..], |e| &e.more_replies);
        first.into_iter().chain(more.iter().cloned()).collect()
    }

    /// How many replies came.
    pub fn reply_count(&self) -> usize {
        usize::from(self.reply_at.is_some())
            + self.extras.as_ref().map_or(0, |e| e.more_replies.len())
    }

    pub fn kv(&self) -> Option<&KvOp> {
        self.extras.as_ref()?.kv.as_ref()
    }

    pub fn object(&self) -> Option<&ObjectPut> {
        self.extras.as_ref()?.object.as_ref()
    }

    pub fn service_error(&self) -> Option<&ServiceError> {
        self.extras.as_ref()?.service_error.as_ref()
    }

    /// Sources, copies, RePublish and batch membership.
    pub fn links(&self) -> Option<&Links> {
        self.extras.as_ref().map(|e| &e.links)
    }

    pub fn stored_subject(&self) -> Option<&str> {
        self.extras.as_ref()?.stored_subject.as_deref()
    }

    pub fn queued_hops(&self) -> Option<&super::queued::QueueHops> {
        self.extras.as_ref()?.queued.as_deref()
    }

    pub fn log_hops(&self) -> Option<&super::logged::LogHops> {
        self.extras.as_ref()?.logged.as_deref()
    }

    pub(super) fn ttl_ns(&self) -> Option<i64> {
        self.extras.as_ref()?.ttl_ns
    }

    pub(super) fn rollup_all(&self) -> Option<bool> {
        self.extras.as_ref()?.rollup_all
    }

    pub fn marks(&self) -> super::rules::PublishMarks {
        self.extras.as_ref().map(|e| e.marks).unwrap_or_default()
    }

    pub(super) fn removed(&self) -> Option<&Removal> {
        self.extras.as_ref()?.removed.as_ref()
    }

    /// The hops the server's trace reported, in the order it sent them.
    pub fn trace(&self) -> &[crate::server_answers::TraceHop] {
        self.extras.as_ref().map_or(&[][..], |e| &e.trace)
    }

    pub(super) fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Add a delivery where it belongs: by consumer, then delivery count,
    /// whatever order they were seen in. Returns its index.
    pub(super) fn add_delivery(&mut self, delivery: Delivery) -> usize {
        let at = self
            .deliveries
            .partition_point(|d| (&d.consumer, d.count) < (&delivery.consumer, delivery.count));
        self.deliveries.insert(at, delivery);
        at
    }

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
    extras: None,
    publish_error: None,
    reply_subject: None,
    merged_into: None,
};

impl Flow {
    pub(crate) fn new(id: FlowId, kind: FlowKind, subject: &str, at: Timestamp) -> Self {
        Self {
            id,
            kind,
            broker: crate::capture::BrokerKind::Nats,
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

    pub(super) fn stream_lane(&mut self) -> usize {
        let name = self
            .detail()
            .stream
            .clone()
            .unwrap_or_else(|| "stream".into());
        self.lane(&name, Role::Stream)
    }

    /// Lanes and the first arrow, from the producer and subject.
    pub(super) fn add_first_step(&mut self) {
        let producer_name = match (&self.producer, self.kind) {
            (Some(p), _) => p.clone(),
            (None, FlowKind::Request) => "requester (unknown)".into(),
            (None, _) => UNKNOWN_PRODUCER.into(),
        };
        let producer = self.lane(&producer_name, Role::Producer);
        let subject = self.subject.clone();
        let target = self.lane(&subject, Role::Subject);
        let (step, label) = match self.kind {
            FlowKind::Request => (StepKind::Request, format!("request {subject}")),
            _ => (StepKind::Publish, format!("publish {subject}")),
        };
        let at = self.started_at;
        self.step(at, self.first_record, step, producer, target, label);
    }

    /// Stored by JetStream as `seq` of `stream` (a PubAck, or a batch's
    /// commit): the subject lane becomes the stream, and a request that
    /// was one is a publish.
    pub(super) fn stored_in(&mut self, stream: &str, seq: u64) {
        if self.kind != FlowKind::Kv {
            self.kind = if self.detail().kv().is_some() {
                FlowKind::Kv
            } else {
                FlowKind::Jetstream
            };
        }
        self.detail_mut().stream = Some(stream.to_owned());
        self.detail_mut().stream_seq = Some(seq);
        if let Some(lane) = self
            .detail_mut()
            .lanes
            .iter_mut()
            .find(|l| l.role == Role::Subject)
        {
            lane.name = stream.to_owned();
            lane.role = Role::Stream;
        }
        // It was a publish, not a request: its sender is a producer.
        if self.producer.is_none()
            && let Some(lane) = self
                .detail_mut()
                .lanes
                .iter_mut()
                .find(|l| l.role == Role::Producer)
        {
            lane.name = UNKNOWN_PRODUCER.into();
        }
        let label = format!("publish {}", self.subject);
        if let Some(first) = self.detail_mut().steps.first_mut() {
            first.kind = StepKind::Publish;
            first.label = label;
        }
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

    /// Sources, copies, RePublish and batch membership.
    pub fn links(&self) -> Option<&Links> {
        self.detail().links()
    }

    /// The subject its stream stored it under, where that differs from
    /// the published one and the wire (or the stream's transform) says.
    pub fn stored_subject(&self) -> Option<&str> {
        self.detail().stored_subject()
    }

    pub(super) fn ttl_ns(&self) -> Option<i64> {
        self.detail().ttl_ns()
    }

    pub(super) fn rollup_all(&self) -> Option<bool> {
        self.detail().rollup_all()
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
}
