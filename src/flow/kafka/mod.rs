//! Kafka's delivery rules. A record is written once, at an offset of a
//! partition; consumers in groups read it and settle it by committing an
//! offset past it. A monitor reads the records (never joining a group)
//! and polls the groups' commits (`__consumer_offsets` records), so a
//! flow is: written -> each group's commit passing it (processed) or not
//! yet (lag). A consumer that fails copies the record on to a retry or
//! dead-letter topic (Spring's `orders-retry-1`, `orders.DLT`; Watermill's
//! poison queue): the copy names the original (Spring's
//! `kafka_dlt-original-*` headers) or carries the same id header
//! (`ce-id`, `_watermill_message_uuid`), and `logged.rs` draws the chain
//! as one timeline.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::model::{Delivery, Flow};
use super::rules::{ConsumerState, DeliveryRules};
use super::vocabulary::{AckBody, Class, LogEvent, Written};
use crate::capture::{BrokerKind, KafkaFields, Record, Timestamp};

/// Kafka, and the brokers that speak its protocol.
pub struct KafkaRules;

/// The correlation header of Spring's request/reply template.
const CORRELATION: &str = "kafka_correlationId";

/// The headers retry and dead-letter conventions and requests use.
const CONVENTION_HEADERS: [&str; 9] = [
    "kafka_dlt-original-topic",
    "kafka_original-topic",
    "kafka_dlt-original-partition",
    "kafka_original-partition",
    "kafka_dlt-original-offset",
    "kafka_original-offset",
    "kafka_dlt-exception-message",
    "kafka_exception-message",
    "retry_topic-attempts",
];
const POISONED: &str = "reason_poisoned";

/// A record's convention headers, read in one pass (most records have
/// none, and each is looked at for every record): exactly from the fields
/// where the header block could not hold them, else from the block.
struct Conventions(Vec<(&'static str, Vec<u8>)>);

impl Conventions {
    fn of(fields: &KafkaFields, record: &Record) -> Self {
        let known = |name: &str| {
            CONVENTION_HEADERS
                .iter()
                .chain([&POISONED, &CORRELATION])
                .find(|n| **n == name)
                .copied()
        };
        let mut found = Vec::new();
        if fields.headers_b64.is_empty() {
            for (name, value) in record.headers().iter().flat_map(|h| h.iter()) {
                if let Some(name) = known(name) {
                    found.push((name, value.as_bytes().to_vec()));
                }
            }
        } else {
            for (name, value) in &fields.headers_b64 {
                if let (Some(name), Some(value)) = (known(name), value.as_deref()) {
                    found.extend(BASE64.decode(value).ok().map(|v| (name, v)));
                }
            }
        }
        Self(found)
    }

    /// The first of `names` the record has.
    fn get(&self, names: &[&str]) -> Option<Vec<u8>> {
        names.iter().find_map(|name| {
            self.0
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        })
    }
}

/// A number as Spring writes it (big-endian, 4 or 8 bytes) or as text.
fn number(bytes: &[u8]) -> Option<i64> {
    match bytes.len() {
        4 => Some(i64::from(i32::from_be_bytes(bytes.try_into().ok()?))),
        8 => Some(i64::from_be_bytes(bytes.try_into().ok()?)),
        _ => std::str::from_utf8(bytes).ok()?.trim().parse().ok(),
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A topic that dead letters go to, by the conventions in use.
pub fn is_dead_letter_topic(topic: &str) -> bool {
    let lower = topic.to_ascii_lowercase();
    [".dlt", "-dlt", "_dlt", ".dlq", "-dlq", "_dlq"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}

pub(crate) fn written(record: &Record, fields: &KafkaFields) -> Written {
    let topic = record.subject().to_owned();
    let conventions = Conventions::of(fields, record);
    let h = |names: &[&str]| conventions.get(names);
    let origin = (|| {
        let topic = text(h(&["kafka_dlt-original-topic", "kafka_original-topic"])?);
        let partition = number(&h(&[
            "kafka_dlt-original-partition",
            "kafka_original-partition",
        ])?)?;
        let offset = number(&h(&["kafka_dlt-original-offset", "kafka_original-offset"])?)?;
        Some((topic, i32::try_from(partition).ok()?, offset))
    })();
    let poisoned = h(&["reason_poisoned"]).map(text);
    Written {
        dead_letter: poisoned.is_some() || is_dead_letter_topic(&topic),
        reason: poisoned
            .or_else(|| h(&["kafka_dlt-exception-message", "kafka_exception-message"]).map(text)),
        attempt: h(&["retry_topic-attempts"])
            .and_then(|a| number(&a))
            .and_then(|a| u32::try_from(a).ok()),
        origin,
        key: fields.key.clone(),
        partition: fields.partition.unwrap_or_default(),
        offset: fields.offset.unwrap_or_default(),
        topic,
    }
}

/// `topic` and the correlation id, the key a request waits on.
fn keyed<'a>(topic: Cow<'a, str>, record: &Record) -> Cow<'a, str> {
    // The fields are parsed only when they may hold the id exactly.
    let id = match record.fields() {
        Some(json) if json.contains(CORRELATION) => KafkaFields::of_json(Some(json))
            .and_then(|f| Conventions::of(&f, record).get(&[CORRELATION])),
        _ => record
            .headers()
            .and_then(|h| h.get(CORRELATION))
            .map(|v| v.as_bytes().to_vec()),
    };
    match id {
        Some(id) => Cow::Owned(format!("{topic}\u{0}{}", BASE64.encode(id))),
        None => topic,
    }
}

impl DeliveryRules for KafkaRules {
    fn broker(&self) -> BrokerKind {
        BrokerKind::Kafka
    }

    fn classify(&self, record: &Record) -> Class {
        if record.reply().is_some() {
            return Class::Request;
        }
        let Some(fields) = KafkaFields::of_json(record.fields()) else {
            return Class::Publish;
        };
        match fields.commit {
            Some(commit) => Class::Logged(Box::new(LogEvent::Committed(commit))),
            None => Class::Logged(Box::new(LogEvent::Written(written(record, &fields)))),
        }
    }

    fn request_key<'r>(&self, record: &'r Record) -> Option<Cow<'r, str>> {
        Some(keyed(Cow::Borrowed(record.reply()?), record))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_topics_by_their_conventions() {
        for t in ["orders.DLT", "orders-dlt", "orders_dlq", "orders-DLQ"] {
            assert!(is_dead_letter_topic(t), "{t}");
        }
        for t in ["orders", "orders-retry-1", "dltx"] {
            assert!(!is_dead_letter_topic(t), "{t}");
        }
    }

    #[test]
    fn numbers_as_spring_writes_them_or_as_text() {
        assert_eq!(number(&7i32.to_be_bytes()), Some(7));
        assert_eq!(number(&42i64.to_be_bytes()), Some(42));
        assert_eq!(number(b"12"), Some(12));
        assert_eq!(number(b"x"), None);
    }
}
