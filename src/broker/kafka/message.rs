//! A Kafka record in the record's terms, and back: the topic is the
//! subject, Spring's `kafka_replyTopic` header the reply, text headers the
//! header block, and the rest (partition, offset, key, timestamp and its
//! type, headers a header block cannot hold) the record's fields:
//!
//! ```text
//! {"partition":0,"offset":42,"key":"order-7","timestamp_ms":1733000000000,"timestamp_type":"create"}
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, TimestampType};
use thiserror::Error;

use crate::broker::WireMessage;
use crate::capture::{HeaderBlock, KafkaFields};

/// The header Spring's request/reply template names the reply topic in.
pub const REPLY_TOPIC_HEADER: &str = "kafka_replyTopic";
/// The header Spring's request/reply template correlates by.
pub const CORRELATION_HEADER: &str = "kafka_correlationId";

/// A read record as the parts of an eventscope record.
pub(crate) struct Parts {
    pub headers: Option<Vec<u8>>,
    pub reply: Option<String>,
    pub fields: String,
}

/// Whether the header block carries this header exactly.
fn plain(name: &str, value: Option<&Bytes>) -> bool {
    let Some(text) = value.and_then(|v| std::str::from_utf8(v).ok()) else {
        return false;
    };
    !name.is_empty()
        && !name.contains([':', '\r', '\n'])
        && name.trim() == name
        && !text.chars().any(|c| c.is_control() && c != '\t')
        && text.trim() == text
}

pub(crate) fn parts_of(record: &Record, partition: i32) -> Parts {
    let mut fields = KafkaFields {
        partition: Some(partition),
        offset: Some(record.offset),
        timestamp_ms: Some(record.timestamp),
        timestamp_type: Some(
            match record.timestamp_type {
                TimestampType::Creation => "create",
                TimestampType::LogAppend => "log_append",
            }
            .into(),
        ),
        ..KafkaFields::default()
    };
    if let Some(key) = &record.key {
        match std::str::from_utf8(key) {
            Ok(text) => fields.key = Some(text.to_owned()),
            Err(_) => fields.key_b64 = Some(BASE64.encode(key)),
        }
    }
    let mut headers = None;
    let mut reply = None;
    if !record.headers.is_empty() {
        let text: Vec<(&str, &str)> = record
            .headers
            .iter()
            .filter_map(|(name, value)| {
                let value = std::str::from_utf8(value.as_ref()?).ok()?;
                // Binary values (Spring's numbers) only in the fields.
                (!value.chars().any(|c| c.is_control() && c != '\t'))
                    .then_some((name.as_str(), value))
            })
            .collect();
        reply = text
            .iter()
            .find(|(n, _)| *n == REPLY_TOPIC_HEADER)
            .map(|(_, v)| (*v).to_owned());
        if !record.headers.iter().all(|(n, v)| plain(n, v.as_ref())) {
            fields.headers_b64 = record
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_ref().map(|v| BASE64.encode(v))))
                .collect();
        }
        if !text.is_empty() {
            headers = Some(HeaderBlock::build(None, text).into_bytes());
        }
    }
    Parts {
        headers,
        reply,
        // A struct of strings and numbers always serialises.
        fields: serde_json::to_string(&fields).unwrap_or_default(),
    }
}

/// Why a message cannot be produced to Kafka as given.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KafkaSendError {
    #[error(
        "'{0}' is not a Kafka topic name (1 to 249 of letters, digits, '.', '_' and '-'; not '.' or '..')"
    )]
    BadTopic(String),
    #[error("the Kafka fields are not valid JSON of eventscope's form: {0}")]
    BadFields(String),
    #[error("the key in base64 does not decode: {0}")]
    BadKey(String),
    #[error("a header value in base64 does not decode: {0}")]
    BadHeader(String),
}

/// Kafka's own rule for topic names.
pub fn check_topic(topic: &str) -> Result<(), KafkaSendError> {
    let ok = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(KafkaSendError::BadTopic(topic.to_owned()))
    }
}

/// A message to produce: its topic, the partition asked for (if any), and
/// the record (key, headers, value; offset and time set by the batch).
pub(crate) struct Outgoing {
    pub topic: String,
    pub partition: Option<i32>,
    pub record: Record,
}

pub(crate) fn outgoing(message: &WireMessage) -> Result<Outgoing, KafkaSendError> {
    check_topic(&message.subject)?;
    let fields = match message.fields.as_deref() {
        Some(json) => serde_json::from_str::<KafkaFields>(json)
            .map_err(|e| KafkaSendError::BadFields(e.to_string()))?,
        None => KafkaFields::default(),
    };
    let key = match (&fields.key, &fields.key_b64) {
        (Some(text), _) => Some(Bytes::from(text.clone())),
        (None, Some(b64)) => Some(Bytes::from(
            BASE64
                .decode(b64)
                .map_err(|e| KafkaSendError::BadKey(e.to_string()))?,
        )),
        (None, None) => None,
    };
    let mut headers: IndexMap<StrBytes, Option<Bytes>> = IndexMap::new();
    if fields.headers_b64.is_empty() {
        for (name, value) in message.header_pairs() {
            headers.insert(StrBytes::from_string(name), Some(Bytes::from(value)));
        }
    } else {
        // The exact copy first; then what was added to the header block
        // since (a replay's mark).
        for (name, value) in &fields.headers_b64 {
            let value = match value {
                Some(b64) => Some(Bytes::from(
                    BASE64
                        .decode(b64)
                        .map_err(|e| KafkaSendError::BadHeader(e.to_string()))?,
                )),
                None => None,
            };
            headers.insert(StrBytes::from_string(name.clone()), value);
        }
        for (name, value) in message.header_pairs() {
            if !fields.headers_b64.iter().any(|(n, _)| *n == name) {
                headers.insert(StrBytes::from_string(name), Some(Bytes::from(value)));
            }
        }
    }
    if let Some(reply) = &message.reply {
        headers.insert(
            StrBytes::from_static_str(REPLY_TOPIC_HEADER),
            Some(Bytes::from(reply.clone())),
        );
    }
    let timestamp = fields
        .timestamp_ms
        .filter(|_| fields.timestamp_type.as_deref() != Some("log_append"))
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp,
        key,
        value: Some(message.payload.clone()),
        headers,
    };
    Ok(Outgoing {
        topic: message.subject.clone(),
        partition: fields.partition,
        record,
    })
}

/// Kafka's default partitioner for a keyed record (murmur2 of the key,
/// positive, modulo the partitions), so that a keyed record lands where a
/// Java or librdkafka producer would put it. Written here: it is ten
/// lines of Kafka's own definition, not a general hash.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) as u32 & 0x7fff_ffff) % partitions.max(1) as u32) as i32
}

/// Kafka's `Utils.murmur2`.
fn murmur2(key: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ key.len() as u32;
    let mut chunks = key.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_land_where_kafkas_partitioner_puts_them() {
        // Kafka's own UtilsTest.testMurmur2.
        for (key, hash) in [
            (&b"21"[..], -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"abc", 479470107),
        ] {
            assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
        }
        for p in 1..8 {
            assert!((0..p).contains(&partition_for_key(b"order-7", p)));
        }
    }

    #[test]
    fn topic_names_follow_kafkas_rule() {
        assert!(check_topic("orders.retry-1_x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(250)] {
            assert!(check_topic(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_record_round_trips_through_its_parts() {
        let mut headers = IndexMap::new();
        headers.insert(StrBytes::from_static_str("ce-id"), Some(Bytes::from("e1")));
        headers.insert(
            StrBytes::from_static_str("bin"),
            Some(Bytes::from(vec![0u8, 255])),
        );
        headers.insert(StrBytes::from_static_str("null"), None);
        let record = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 42,
            sequence: -1,
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::from(vec![1u8, 2, 250])),
            value: Some(Bytes::from("v")),
            headers,
        };
        let parts = parts_of(&record, 3);
        let fields = KafkaFields::of_json(Some(&parts.fields)).unwrap();
        assert_eq!((fields.partition, fields.offset), (Some(3), Some(42)));
        assert_eq!(fields.key_bytes(), Some(vec![1, 2, 250]));
        assert_eq!(
            fields.headers_b64.len(),
            3,
            "binary and null headers kept exactly"
        );
        let block = HeaderBlock::from_wire(parts.headers.unwrap());
        assert_eq!(block.view().get("ce-id"), Some("e1"));
        let message = WireMessage {
            subject: "orders".into(),
            reply: None,
            headers: Default::default(),
            payload: Bytes::from("v"),
            fields: Some(parts.fields),
        };
        let out = outgoing(&message).unwrap();
        assert_eq!(out.partition, Some(3));
        assert_eq!(out.record.key, record.key);
        assert_eq!(out.record.headers, record.headers);
        assert_eq!(out.record.timestamp, record.timestamp);
    }
}
