//! RabbitMQ's delivery rules (AMQP 0.9.1). Every record is a hop of one
//! message (`Class::Queued`): the firehose's publish (with the queues it
//! was routed to) and deliver events, and copies read on the monitor's
//! bindings; `queued.rs` draws them as one flow per message, its
//! dead-letter cycles from `x-death`. A message is known across its hops
//! by its message id, else by its bytes and the properties RabbitMQ keeps
//! through dead-lettering. RPC (`reply-to` and `correlation-id`) is
//! request/response: the answer is the publish to the reply queue (the
//! default exchange, routing key = `reply-to`) with the same correlation
//! id.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hasher};

use super::model::{Delivery, Flow};
use super::rules::{ConsumerState, DeliveryRules};
use super::vocabulary::{AckBody, Class, Hop, QueueEvent};
use crate::capture::{
    AMQP_DEFAULT_EXCHANGE, AmqpFields, BrokerKind, Record, Timestamp, TraceEvent,
};

/// RabbitMQ.
pub struct AmqpRules;

/// The message's key across its hops.
fn message_key(fields: &AmqpFields, payload: &[u8]) -> u64 {
    // Fixed: the same message in two captures has the same key.
    let mut h = foldhash::fast::FixedState::with_seed(0x5ca1_ab1e).build_hasher();
    let p = &fields.properties;
    match &p.message_id {
        Some(id) => h.write(id.as_bytes()),
        None => {
            h.write(payload);
            h.write(p.correlation_id.as_deref().unwrap_or_default().as_bytes());
            h.write_u64(p.timestamp.unwrap_or_default());
            h.write(p.kind.as_deref().unwrap_or_default().as_bytes());
        }
    }
    h.finish()
}

/// The publishing or consuming client's address, short (the firehose
/// names a connection `client:port -> server:port`).
fn client_of(fields: &AmqpFields) -> Option<String> {
    let connection = fields.connection.as_deref()?;
    let client = connection.split(" -> ").next().unwrap_or(connection);
    Some(match fields.channel {
        Some(channel) => format!("{client} ch{channel}"),
        None => client.to_owned(),
    })
}

/// `correlation-id` of a record, cheaply (asked per record only while a
/// request waits).
fn correlation_of(record: &Record) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Properties {
        correlation_id: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Only {
        properties: Option<Properties>,
    }
    serde_json::from_str::<Only>(record.fields()?)
        .ok()?
        .properties?
        .correlation_id
}

fn keyed<'a>(target: Cow<'a, str>, record: &Record) -> Cow<'a, str> {
    match correlation_of(record) {
        Some(correlation) => Cow::Owned(format!("{target}\u{0}{correlation}")),
        None => target,
    }
}

impl DeliveryRules for AmqpRules {
    fn broker(&self) -> BrokerKind {
        BrokerKind::Amqp
    }

    fn classify(&self, record: &Record) -> Class {
        let Some(fields) = AmqpFields::of_json(record.fields()) else {
            return if record.reply().is_some() {
                Class::Request
            } else {
                Class::Publish
            };
        };
        let key = message_key(&fields, record.payload());
        let deaths = fields.deaths();
        let client = client_of(&fields);
        let hop = match fields.trace {
            Some(TraceEvent::Deliver) => Hop::Delivered {
                queue: fields.queue.clone().unwrap_or_default(),
                exchange: fields.exchange,
                consumer: client.unwrap_or_else(|| "(unknown)".into()),
                redelivered: fields.redelivered,
            },
            Some(TraceEvent::Publish) => Hop::Published {
                exchange: fields.exchange,
                routing_key: fields.routing_key,
                routed: Some(fields.routed_queues.unwrap_or_default()),
                client,
            },
            None => Hop::Published {
                exchange: fields.exchange,
                routing_key: fields.routing_key,
                routed: None,
                client: None,
            },
        };
        Class::Queued(Box::new(QueueEvent { key, hop, deaths }))
    }

    /// An RPC answer is published to the default exchange with the
    /// request's `reply-to` as routing key and its correlation id.
    fn request_key<'r>(&self, record: &'r Record) -> Option<Cow<'r, str>> {
        let target = format!("{AMQP_DEFAULT_EXCHANGE}/{}", record.reply()?);
        Some(keyed(Cow::Owned(target), record))
    }

    fn answer_key<'r>(&self, record: &'r Record) -> Cow<'r, str> {
        keyed(Cow::Borrowed(record.subject()), record)
    }

    fn answer(&self, _delivery: &mut Delivery, _body: &AckBody, _at: Timestamp) {}

    fn merge(&self, _ours: &mut Delivery, _theirs: Delivery) {}

    fn consumer_state(&self, _flow: &Flow, _consumer: &str) -> ConsumerState {
        ConsumerState::Delivered
    }
}
