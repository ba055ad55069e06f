//! A broker's own fields of a message, as a record keeps them (a JSON
//! object, `Record::fields`): typed here for the brokers that have them,
//! so that the flow engine, the views and the links read one form.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// The fields of one MQTT message, as a record keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttFields {
    /// 0 when not given (another broker's fields, replayed into MQTT).
    #[serde(default)]
    pub qos: u8,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dup: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format: Option<u8>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_expiry: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_data_b64: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscription_ids: Vec<usize>,
    /// Only when the header block could not carry them exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_properties: Vec<(String, String)>,
}

impl MqttFields {
    /// The fields of a record (`None` when it has none, or not these).
    pub fn of_json(fields: Option<&str>) -> Option<Self> {
        serde_json::from_str(fields?).ok()
    }

    /// Only the correlation data's base64 of a record's fields: the flow
    /// engine asks for it per record, and the rest need not be built.
    pub fn correlation_of(fields: Option<&str>) -> Option<String> {
        #[derive(Deserialize)]
        struct Correlation {
            correlation_data_b64: Option<String>,
        }
        serde_json::from_str::<Correlation>(fields?)
            .ok()?
            .correlation_data_b64
    }

    pub fn correlation_data(&self) -> Option<Vec<u8>> {
        BASE64.decode(self.correlation_data_b64.as_deref()?).ok()
    }
}

/// The name RabbitMQ also accepts for its default exchange (`""`), so that
/// a subject `EXCHANGE/ROUTING_KEY` always has a first level.
pub const AMQP_DEFAULT_EXCHANGE: &str = "amq.default";

/// Which of the RabbitMQ firehose's events a record is
/// (`amq.rabbitmq.trace`, routing keys `publish.<exchange>` and
/// `deliver.<queue>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceEvent {
    /// A client published it to `exchange`; `routed_queues` got it.
    Publish,
    /// `queue` delivered it to a consumer (or a `basic.get`).
    Deliver,
}

/// The fields of one AMQP 0.9.1 message, as a record keeps them: where it
/// was published, its properties, and what the firehose said of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AmqpFields {
    /// `""` for the default exchange.
    #[serde(default)]
    pub exchange: String,
    #[serde(default)]
    pub routing_key: String,
    /// The firehose's event, for a record read off `amq.rabbitmq.trace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceEvent>,
    /// The queue that delivered it (a `deliver` event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The queues a publish was routed to (a `publish` event; empty:
    /// unroutable, dropped or returned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed_queues: Option<Vec<String>>,
    /// More routing keys (the `CC` and `BCC` headers), from the firehose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_routing_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redelivered: bool,
    /// The publishing or consuming client, as the firehose names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "AmqpProperties::is_empty")]
    pub properties: AmqpProperties,
    /// The headers table, typed (`amqp_value` in `broker/amqp`), when a
    /// value is more than a string (`x-death` is a list of tables); string
    /// headers are in the record's header block as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<serde_json::Value>,
}

/// The basic properties of an AMQP message, as set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmqpProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Milliseconds, as a string (AMQP's form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// 1 transient, 2 persistent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_mode: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

impl AmqpProperties {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One entry of a message's `x-death` header: RabbitMQ's account of one
/// (queue, reason) pair of its dead-lettering, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Death {
    pub queue: String,
    /// `rejected`, `expired`, `maxlen` or `delivery_limit`.
    pub reason: String,
    pub count: u64,
    pub exchange: String,
    pub routing_keys: Vec<String>,
    /// Seconds since the epoch, when it was dead-lettered last for this
    /// pair.
    pub time: Option<u64>,
}

impl AmqpFields {
    pub fn of_json(fields: Option<&str>) -> Option<Self> {
        serde_json::from_str(fields?).ok()
    }

    /// The `x-death` entries, newest first (empty when never dead-lettered).
    pub fn deaths(&self) -> Vec<Death> {
        let Some(list) = self
            .headers
            .as_ref()
            .and_then(|h| h.get("x-death"))
            .and_then(|d| d.as_array())
        else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|entry| {
                let text = |name: &str| entry.get(name).and_then(|v| v.as_str()).map(str::to_owned);
                Some(Death {
                    queue: text("queue")?,
                    reason: text("reason")?,
                    count: entry.get("count").and_then(|v| v.as_u64()).unwrap_or(1),
                    exchange: text("exchange").unwrap_or_default(),
                    routing_keys: entry
                        .get("routing-keys")
                        .and_then(|v| v.as_array())
                        .map(|keys| {
                            keys.iter()
                                .filter_map(|k| k.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    time: entry
                        .get("time")
                        .and_then(|t| t.get("timestamp"))
                        .and_then(|t| t.as_u64()),
                })
            })
            .collect()
    }
}

/// What a record on Kafka's `__consumer_offsets` is: eventscope's reading
/// of a consumer group's committed offset of one partition (polled, so its
/// time is when the poll saw it), with the partition's end then.
pub const KAFKA_COMMITS_TOPIC: &str = "__consumer_offsets";

/// The fields of one Kafka record, as a record keeps them; or, on
/// `__consumer_offsets`, one group's commit (`commit`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaFields {
    /// Read from this partition; to publish, the partition to write to
    /// (none: the broker's choice by key, as a producer's partitioner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// The key as text, when it is UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The key's bytes, when they are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_b64: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
    /// `create` (the producer's clock) or `log_append` (the broker's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_type: Option<String>,
    /// Every header exactly (name, value in base64, none for null), when
    /// the header block could not carry them as they were: a binary or
    /// null value, a name it cannot hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_b64: Vec<(String, Option<String>)>,
    /// Set on `__consumer_offsets` records only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<GroupCommit>,
}

/// A consumer group's committed offset of one partition, as polled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCommit {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    /// The next offset the group will read: every offset below it is
    /// processed.
    pub committed: i64,
    /// The partition's end (high watermark) when polled.
    pub end: i64,
}

impl GroupCommit {
    /// Records written and not yet processed by the group.
    pub fn lag(&self) -> i64 {
        (self.end - self.committed).max(0)
    }
}

impl KafkaFields {
    pub fn of_json(fields: Option<&str>) -> Option<Self> {
        serde_json::from_str(fields?).ok()
    }

    /// The key's bytes, whichever way it was kept.
    pub fn key_bytes(&self) -> Option<Vec<u8>> {
        match (&self.key, &self.key_b64) {
            (Some(text), _) => Some(text.as_bytes().to_vec()),
            (None, Some(b64)) => BASE64.decode(b64).ok(),
            (None, None) => None,
        }
    }
}
