//! An AMQP 0.9.1 message in the record's terms, and back. The subject is
//! `EXCHANGE/ROUTING_KEY` (the default exchange is `amq.default`), the
//! reply is the `reply-to` property, string headers go into the header
//! block (so id headers, search and the inspector read them as anywhere),
//! and the rest is the record's fields (`AmqpFields`): exchange, routing
//! key, properties, the whole headers table typed when a value is more than
//! a string (`x-death`), and what the firehose said.
//!
//! The firehose (`amq.rabbitmq.trace`) sends each publish and delivery as a
//! message of its own: routing key `publish.<exchange>` or
//! `deliver.<queue>`, the original body, and the original's exchange,
//! routing keys and properties in its headers. Such a record is made to
//! read as the publish or delivery it describes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable, LongString};
use serde_json::{Map, Value, json};

use crate::capture::{AmqpFields, AmqpProperties, HeaderBlock, TraceEvent};

pub use crate::capture::AMQP_DEFAULT_EXCHANGE as DEFAULT_EXCHANGE;
/// The firehose's exchange (one per vhost, there whether tracing is on or
/// not).
pub const FIREHOSE: &str = "amq.rabbitmq.trace";

/// A received message as the parts of a record.
pub(crate) struct Parts {
    pub subject: String,
    pub reply: Option<String>,
    pub headers: Option<Vec<u8>>,
    pub fields: AmqpFields,
}

impl Parts {
    pub fn fields_json(&self) -> String {
        // Strings, numbers and JSON values always serialise.
        serde_json::to_string(&self.fields).unwrap_or_default()
    }
}

/// `EXCHANGE/ROUTING_KEY`.
pub fn subject_of(exchange: &str, routing_key: &str) -> String {
    let exchange = if exchange.is_empty() {
        DEFAULT_EXCHANGE
    } else {
        exchange
    };
    format!("{exchange}/{routing_key}")
}

/// `EXCHANGE/ROUTING_KEY` -> (exchange, routing key); the default
/// exchange is `""` again.
pub fn split_subject(subject: &str) -> Option<(&str, &str)> {
    let (exchange, key) = subject.split_once('/')?;
    Some((
        if exchange == DEFAULT_EXCHANGE {
            ""
        } else {
            exchange
        },
        key,
    ))
}

/// A message delivered to the monitor's own queue.
pub(crate) fn parts_of(
    exchange: &str,
    routing_key: &str,
    redelivered: bool,
    properties: &BasicProperties,
) -> Parts {
    if exchange == FIREHOSE
        && let Some(parts) = traced(routing_key, properties.headers().as_ref())
    {
        return parts;
    }
    let mut fields = AmqpFields {
        exchange: exchange.to_owned(),
        routing_key: routing_key.to_owned(),
        redelivered,
        properties: properties_of(properties),
        ..AmqpFields::default()
    };
    let headers = properties.headers().as_ref().and_then(|table| {
        let (block, typed) = header_block(table);
        fields.headers = typed;
        block
    });
    Parts {
        subject: subject_of(exchange, routing_key),
        reply: fields.properties.reply_to.clone(),
        headers,
        fields,
    }
}

/// A firehose message as the publish or delivery it describes; `None` when
/// it does not read as one (then it is kept as the message it is).
fn traced(routing_key: &str, headers: Option<&FieldTable>) -> Option<Parts> {
    let (event, name) = match routing_key.split_once('.')? {
        ("publish", exchange) => (TraceEvent::Publish, exchange),
        ("deliver", queue) => (TraceEvent::Deliver, queue),
        _ => return None,
    };
    let table = headers?.inner();
    let text = |key: &str| table.get(key).and_then(string_of);
    let exchange = text("exchange_name")?;
    let mut keys = match table.get("routing_keys") {
        Some(AMQPValue::FieldArray(keys)) => keys
            .as_slice()
            .iter()
            .filter_map(string_of)
            .collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    let routing_key = if keys.is_empty() {
        String::new()
    } else {
        keys.remove(0)
    };
    let list = |key: &str| match table.get(key) {
        Some(AMQPValue::FieldArray(names)) => {
            Some(names.as_slice().iter().filter_map(string_of).collect())
        }
        _ => None,
    };
    let original = match table.get("properties") {
        Some(AMQPValue::FieldTable(p)) => p.clone(),
        _ => FieldTable::default(),
    };
    let mut fields = AmqpFields {
        exchange: exchange.clone(),
        routing_key: routing_key.clone(),
        trace: Some(event),
        queue: (event == TraceEvent::Deliver).then(|| name.to_owned()),
        routed_queues: if event == TraceEvent::Publish {
            Some(list("routed_queues").unwrap_or_default())
        } else {
            None
        },
        more_routing_keys: keys,
        redelivered: table.get("redelivered").and_then(integer_of).unwrap_or(0) != 0,
        connection: text("connection"),
        channel: table
            .get("channel")
            .and_then(integer_of)
            .and_then(|c| u64::try_from(c).ok()),
        user: text("user"),
        properties: properties_of_table(&original),
        headers: None,
    };
    let headers = match original.inner().get("headers") {
        Some(AMQPValue::FieldTable(h)) => {
            let (block, typed) = header_block(h);
            fields.headers = typed;
            block
        }
        _ => None,
    };
    Some(Parts {
        subject: subject_of(&exchange, &routing_key),
        reply: fields.properties.reply_to.clone(),
        headers,
        fields,
    })
}

/// String headers as a header block; the whole table typed as well when a
/// value is more than a string the block can carry exactly.
fn header_block(table: &FieldTable) -> (Option<Vec<u8>>, Option<Value>) {
    if table.inner().is_empty() {
        return (None, None);
    }
    let mut exact = true;
    let pairs: Vec<(&str, String)> = table
        .inner()
        .iter()
        .filter_map(|(name, value)| {
            let text = match value {
                AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
                AMQPValue::ShortString(s) => Some(s.as_str()),
                _ => None,
            };
            let fits = text.is_some_and(|t| !t.contains(['\r', '\n']) && t.trim() == t)
                && !name.as_str().is_empty()
                && !name.as_str().contains([':', '\r', '\n', ' ']);
            exact &= fits;
            fits.then(|| (name.as_str(), text.unwrap_or_default().to_owned()))
        })
        .collect();
    let block = (!pairs.is_empty()).then(|| {
        HeaderBlock::build(None, pairs.iter().map(|(n, v)| (*n, v.as_str()))).into_bytes()
    });
    let typed = (!exact).then(|| table_to_json(table));
    (block, typed)
}

fn string_of(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn integer_of(value: &AMQPValue) -> Option<i64> {
    Some(match value {
        AMQPValue::ShortShortInt(v) => i64::from(*v),
        AMQPValue::ShortShortUInt(v) => i64::from(*v),
        AMQPValue::ShortInt(v) => i64::from(*v),
        AMQPValue::ShortUInt(v) => i64::from(*v),
        AMQPValue::LongInt(v) => i64::from(*v),
        AMQPValue::LongUInt(v) => i64::from(*v),
        AMQPValue::LongLongInt(v) => *v,
        AMQPValue::Timestamp(v) => i64::try_from(*v).ok()?,
        AMQPValue::Boolean(b) => i64::from(*b),
        _ => return None,
    })
}

fn properties_of(p: &BasicProperties) -> AmqpProperties {
    let text = |s: &Option<lapin::types::ShortString>| s.as_ref().map(|s| s.as_str().to_owned());
    AmqpProperties {
        message_id: text(p.message_id()),
        correlation_id: text(p.correlation_id()),
        reply_to: text(p.reply_to()),
        expiration: text(p.expiration()),
        delivery_mode: *p.delivery_mode(),
        priority: *p.priority(),
        kind: text(p.kind()),
        timestamp: *p.timestamp(),
        content_type: text(p.content_type()),
        content_encoding: text(p.content_encoding()),
        user_id: text(p.user_id()),
        app_id: text(p.app_id()),
    }
}

/// The firehose's copy of the properties: a table keyed by their names.
fn properties_of_table(table: &FieldTable) -> AmqpProperties {
    let t = table.inner();
    let text = |key: &str| t.get(key).and_then(string_of);
    let small = |key: &str| {
        t.get(key)
            .and_then(integer_of)
            .and_then(|v| u8::try_from(v).ok())
    };
    AmqpProperties {
        message_id: text("message_id"),
        correlation_id: text("correlation_id"),
        reply_to: text("reply_to"),
        expiration: text("expiration"),
        delivery_mode: small("delivery_mode"),
        priority: small("priority"),
        kind: text("type"),
        timestamp: t
            .get("timestamp")
            .and_then(integer_of)
            .and_then(|v| u64::try_from(v).ok()),
        content_type: text("content_type"),
        content_encoding: text("content_encoding"),
        user_id: text("user_id"),
        app_id: text("app_id"),
    }
}

/// A headers table as JSON: strings, numbers, booleans, lists and tables
/// as themselves; a timestamp, bytes and a decimal as one-key objects
/// (`{"timestamp":…}`, `{"bytes_b64":…}`, `{"decimal":[scale,value]}`) so
/// that a replay sends them back as what they were.
pub fn table_to_json(table: &FieldTable) -> Value {
    Value::Object(
        table
            .inner()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), value_to_json(v)))
            .collect(),
    )
}

fn value_to_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::Float(f) => json!(f),
        AMQPValue::Double(f) => json!(f),
        AMQPValue::DecimalValue(d) => json!({ "decimal": [d.scale, d.value] }),
        AMQPValue::ShortString(s) => json!(s.as_str()),
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(text) => json!(text),
            Err(_) => json!({ "bytes_b64": BASE64.encode(s.as_bytes()) }),
        },
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(value_to_json).collect()),
        AMQPValue::Timestamp(t) => json!({ "timestamp": t }),
        AMQPValue::FieldTable(t) => table_to_json(t),
        AMQPValue::ByteArray(b) => json!({ "bytes_b64": BASE64.encode(b.as_slice()) }),
        AMQPValue::Void => Value::Null,
        other => integer_of(other).map_or(Value::Null, |i| json!(i)),
    }
}

/// JSON back to a headers table (`table_to_json`'s inverse; integers come
/// back as 64-bit, which RabbitMQ and every client read as the number).
pub fn json_to_table(object: &Map<String, Value>) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in object {
        table.insert(name.as_str().into(), json_to_value(value));
    }
    table
}

fn json_to_value(value: &Value) -> AMQPValue {
    match value {
        Value::Null => AMQPValue::Void,
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => AMQPValue::LongLongInt(i),
            (None, Some(f)) => AMQPValue::Double(f),
            _ => AMQPValue::Void,
        },
        Value::String(s) => AMQPValue::LongString(LongString::from(s.as_bytes().to_vec())),
        Value::Array(items) => AMQPValue::FieldArray(FieldArray::from(
            items.iter().map(json_to_value).collect::<Vec<_>>(),
        )),
        Value::Object(o) if o.len() == 1 => {
            let (key, inner) = o.iter().next().expect("one key");
            match (key.as_str(), inner) {
                ("timestamp", Value::Number(n)) if n.as_u64().is_some() => {
                    AMQPValue::Timestamp(n.as_u64().unwrap_or_default())
                }
                ("bytes_b64", Value::String(b)) => match BASE64.decode(b) {
                    Ok(bytes) => AMQPValue::ByteArray(ByteArray::from(bytes)),
                    Err(_) => AMQPValue::FieldTable(json_to_table(o)),
                },
                ("decimal", Value::Array(pair)) if pair.len() == 2 => {
                    match (pair[0].as_u64(), pair[1].as_u64()) {
                        (Some(scale), Some(value)) => AMQPValue::DecimalValue(DecimalValue {
                            scale: u8::try_from(scale).unwrap_or(u8::MAX),
                            value: u32::try_from(value).unwrap_or(u32::MAX),
                        }),
                        _ => AMQPValue::FieldTable(json_to_table(o)),
                    }
                }
                _ => AMQPValue::FieldTable(json_to_table(o)),
            }
        }
        Value::Object(o) => AMQPValue::FieldTable(json_to_table(o)),
    }
}

/// The properties to publish a message with: the fields' own, the header
/// block's pairs as string headers, the typed table over them.
pub(crate) fn publish_properties(
    fields: &AmqpFields,
    header_pairs: &[(String, String)],
    reply: Option<&str>,
) -> BasicProperties {
    let p = &fields.properties;
    let mut props = BasicProperties::default();
    let short = |s: &String| lapin::types::ShortString::from(s.as_str());
    if let Some(v) = &p.message_id {
        props = props.with_message_id(short(v));
    }
    if let Some(v) = &p.correlation_id {
        props = props.with_correlation_id(short(v));
    }
    if let Some(v) = reply.map(str::to_owned).or_else(|| p.reply_to.clone()) {
        props = props.with_reply_to(short(&v));
    }
    if let Some(v) = &p.expiration {
        props = props.with_expiration(short(v));
    }
    if let Some(v) = p.delivery_mode {
        props = props.with_delivery_mode(v);
    }
    if let Some(v) = p.priority {
        props = props.with_priority(v);
    }
    if let Some(v) = &p.kind {
        props = props.with_type(short(v));
    }
    if let Some(v) = p.timestamp {
        props = props.with_timestamp(v);
    }
    if let Some(v) = &p.content_type {
        props = props.with_content_type(short(v));
    }
    if let Some(v) = &p.content_encoding {
        props = props.with_content_encoding(short(v));
    }
    if let Some(v) = &p.user_id {
        props = props.with_user_id(short(v));
    }
    if let Some(v) = &p.app_id {
        props = props.with_app_id(short(v));
    }
    let mut table = FieldTable::default();
    for (name, value) in header_pairs {
        table.insert(
            name.as_str().into(),
            AMQPValue::LongString(LongString::from(value.as_bytes().to_vec())),
        );
    }
    if let Some(Value::Object(typed)) = &fields.headers {
        for (name, value) in json_to_table(typed).inner() {
            table.insert(name.clone(), value.clone());
        }
    }
    if !table.inner().is_empty() {
        props = props.with_headers(table);
    }
    props
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_headers_survive_json_and_back() {
        let mut death = FieldTable::default();
        death.insert("queue".into(), AMQPValue::LongString("work".into()));
        death.insert("reason".into(), AMQPValue::LongString("rejected".into()));
        death.insert("count".into(), AMQPValue::LongLongInt(3));
        death.insert("time".into(), AMQPValue::Timestamp(1_700_000_000));
        let mut table = FieldTable::default();
        table.insert(
            "x-death".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldTable(death)])),
        );
        table.insert(
            "raw".into(),
            AMQPValue::ByteArray(ByteArray::from(vec![0u8, 255])),
        );
        table.insert("ok".into(), AMQPValue::Boolean(true));
        let json = table_to_json(&table);
        let Value::Object(object) = &json else {
            panic!("an object")
        };
        assert_eq!(json_to_table(object), table);
        let fields = AmqpFields {
            headers: Some(json),
            ..AmqpFields::default()
        };
        let deaths = fields.deaths();
        assert_eq!(deaths.len(), 1);
        assert_eq!((deaths[0].queue.as_str(), deaths[0].count), ("work", 3));
        assert_eq!(deaths[0].time, Some(1_700_000_000));
    }

    #[test]
    fn subjects_name_the_default_exchange() {
        assert_eq!(subject_of("", "work"), "amq.default/work");
        assert_eq!(split_subject("amq.default/work"), Some(("", "work")));
        assert_eq!(split_subject("orders/a.b/c"), Some(("orders", "a.b/c")));
    }
}
