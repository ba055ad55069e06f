//! The words the flow engine understands, whatever the broker: what a
//! record is (`Class`), which delivery it concerns (`DeliveryRef`), what a
//! consumer answered (`AckBody`), what the server said of a message
//! (`MessageAdvisory`). Each broker's rules (`rules.rs`) turn its records
//! into these; the correlator acts on them. The names are JetStream's, the
//! first broker's; `docs/adding-a-broker.md` says how others map onto them.

/// Which delivery of which message: for NATS, the tokens of the `$JS.ACK`
/// reply. Another broker maps its own: a queue or a topic partition is the
/// stream, the consumer tag or group the consumer, its delivery count
/// (`x-death` count, redelivered flag) `delivered`, an offset the stream
/// sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRef {
    /// JetStream domain, in the 11-token layout (`_` means none).
    pub domain: Option<String>,
    pub stream: String,
    pub consumer: String,
    /// Delivery count of this delivery (1 for the first).
    pub delivered: u64,
    pub stream_seq: u64,
    pub consumer_seq: u64,
    /// The message's stored time (unchanged across redeliveries).
    pub timestamp: i64,
    pub pending: u64,
}

/// What a consumer answered to a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckBody {
    /// Empty body or `+ACK`.
    Ack,
    Nak {
        delay_ns: Option<u64>,
    },
    Term {
        reason: Option<String>,
    },
    /// `+WPI`: still working, extend the ack wait.
    Progress,
    /// `+NXT`: acknowledge and ask for the next message.
    Next,
}

impl AckBody {
    pub fn label(&self) -> String {
        match self {
            AckBody::Ack => "ACK".into(),
            AckBody::Nak { delay_ns: None } => "NAK".into(),
            AckBody::Nak { delay_ns: Some(ns) } => {
                format!("NAK (delay {})", crate::flow::format_duration(*ns as i64))
            }
            AckBody::Term { reason: None } => "TERM".into(),
            AckBody::Term { reason: Some(r) } => format!("TERM: {r}"),
            AckBody::Progress => "WPI (in progress)".into(),
            AckBody::Next => "ACK +NXT".into(),
        }
    }
}

/// The server's word about one message of a consumer (a JetStream
/// advisory; a dead-lettering would be one too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageAdvisory {
    pub kind: AdvisoryKind,
    pub stream: String,
    pub consumer: String,
    pub stream_seq: u64,
    pub deliveries: u64,
    pub reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdvisoryKind {
    MaxDeliveries,
    Naked,
    Terminated,
}

impl AdvisoryKind {
    pub fn label(self) -> &'static str {
        match self {
            AdvisoryKind::MaxDeliveries => "MAX_DELIVERIES",
            AdvisoryKind::Naked => "MSG_NAKED",
            AdvisoryKind::Terminated => "MSG_TERMINATED",
        }
    }
}

/// What one record is, as a broker's rules say (`DeliveryRules::classify`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Class {
    /// A message with no reply subject.
    Publish,
    /// A message with a reply subject (a request, or a JetStream publish
    /// expecting its PubAck).
    Request,
    /// A JetStream delivery: the original subject, replying to `$JS.ACK`.
    Delivery(DeliveryRef),
    /// A consumer's answer on `$JS.ACK`; `sync` when it expects a response.
    Ack {
        ack: DeliveryRef,
        body: AckBody,
        sync: bool,
    },
    Advisory(MessageAdvisory),
    /// A queueing broker's account of one message (RabbitMQ).
    Queued(Box<QueueEvent>),
    /// A log broker's record or a consumer group's commit (Kafka).
    Logged(Box<LogEvent>),
    /// `$JS.API`, other advisories, metrics, flow control, heartbeats,
    /// `$SYS`: shown, but not flows.
    Control,
}

/// A queueing broker's account of one message: RabbitMQ's firehose says
/// where it was published and routed and which queue delivered it, a copy
/// on a binding says it passed an exchange, and the message itself carries
/// its dead-letter history (`x-death`). `key` names the message across all
/// of them (its message id, else its bytes and properties).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEvent {
    pub key: u64,
    pub hop: Hop,
    /// Its dead-letter history so far, newest first.
    pub deaths: Vec<crate::capture::Death>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hop {
    /// Published to `exchange`. `routed`: the queues that got it, where
    /// the broker said (the firehose; empty: unroutable); `None` for a
    /// copy read on a binding of the monitor's.
    Published {
        exchange: String,
        routing_key: String,
        routed: Option<Vec<String>>,
        /// The publishing client, as the broker names it.
        client: Option<String>,
    },
    /// `queue` delivered it to `consumer`; `redelivered`: it had been
    /// delivered before and came back (a nack or reject with requeue, or
    /// a consumer that went away unacknowledged).
    Delivered {
        queue: String,
        exchange: String,
        consumer: String,
        redelivered: bool,
    },
}

/// What a log broker (Kafka) said: a record written at an offset, or a
/// consumer group's committed offset passing records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEvent {
    Written(Written),
    /// A group's committed offset of one partition, as polled.
    Committed(crate::capture::GroupCommit),
}

/// A record as written to a topic's partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    /// The record it is a retry or dead-letter copy of, where the
    /// copier said (Spring's `kafka_dlt-original-*` headers).
    pub origin: Option<(String, i32, i64)>,
    /// Written to a dead-letter topic (`.DLT`, `-dlt`, `-dlq`), or
    /// poisoned (Watermill's `reason_poisoned`).
    pub dead_letter: bool,
    /// Why it was copied, where the copier said (the exception, the
    /// poison reason).
    pub reason: Option<String>,
    /// The attempt it is, where the copier said (`retry_topic-attempts`).
    pub attempt: Option<u32>,
}
