//! An AsyncAPI 3.0 document of what was seen: one channel per subject,
//! topic or exchange on the map, its message with a payload schema
//! inferred from the payloads (read by the bound Protobuf or Avro type
//! when one is bound, named so) and the header names seen; one operation
//! per producer that sent on a channel and per consumer that received
//! from it. JSON, which AsyncAPI reads as well as YAML.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::json_schema::Shape;
use super::{NodeKind, SystemMap};
use crate::capture::{BrokerKind, Record};
use crate::decode::{DecodedBy, Format, Schemas, decode};

/// Payloads read per channel: enough to see optional fields, bounded.
const SAMPLES_PER_CHANNEL: u64 = 200;
/// Channels sampled at most (a capture of per-id subjects has millions).
const MAX_CHANNELS: usize = 5_000;

/// What was seen on each channel, gathered record by record.
#[derive(Default)]
pub struct ChannelSamples {
    channels: BTreeMap<String, Seen>,
}

#[derive(Default)]
struct Seen {
    shape: Shape,
    /// What read the payloads (JSON, a Protobuf type, …), and how often.
    read_by: BTreeMap<String, u64>,
    /// Payloads nothing read (text, binary).
    unread: u64,
    headers: BTreeSet<String>,
}

impl ChannelSamples {
    /// Read one more record.
    pub fn add(&mut self, record: &Record, schemas: &Schemas) {
        let subject = record.subject();
        if self.channels.len() >= MAX_CHANNELS && !self.channels.contains_key(subject) {
            return;
        }
        let seen = self.channels.entry(subject.to_owned()).or_default();
        if seen.shape.samples() + seen.unread >= SAMPLES_PER_CHANNEL {
            return;
        }
        if let Some(headers) = record.headers() {
            for (name, _) in headers.iter().take(64) {
                seen.headers.insert(name.to_owned());
            }
        }
        match decode(schemas, subject, record.payload(), Format::Auto) {
            Ok(decoded) => {
                seen.shape.add(&decoded.value);
                let by = match &decoded.by {
                    DecodedBy::Json => "JSON".to_owned(),
                    other => other.to_string(),
                };
                *seen.read_by.entry(by).or_default() += 1;
            }
            Err(_) => seen.unread += 1,
        }
    }
}

/// An id AsyncAPI accepts for a channel, message or operation key.
fn key(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "_".into()
    } else {
        cleaned
    }
}

fn protocol(broker: BrokerKind) -> &'static str {
    match broker {
        BrokerKind::Nats => "nats",
        BrokerKind::Mqtt => "mqtt",
        BrokerKind::Amqp => "amqp",
        BrokerKind::Kafka => "kafka",
    }
}

/// The document. `servers` are (broker, URL) of what was monitored.
pub fn document(
    title: &str,
    map: &SystemMap,
    samples: &ChannelSamples,
    servers: &[(BrokerKind, String)],
) -> Value {
    let mut channels = Map::new();
    let mut messages = Map::new();
    let mut channel_keys: BTreeMap<usize, String> = BTreeMap::new();
    for (i, node) in map.nodes.iter().enumerate() {
        if node.kind != NodeKind::Channel {
            continue;
        }
        let channel_key = unique(&channels, &key(&node.name));
        let message_key = channel_key.clone();
        messages.insert(
            message_key.clone(),
            message(&node.name, samples.channels.get(&node.name)),
        );
        channels.insert(
            channel_key.clone(),
            json!({
                "address": node.name,
                "description": format!("{} on {}: {} messages seen", node.kind.label(), node.brokers_label(), node.messages),
                "messages": { message_key.clone(): { "$ref": format!("#/components/messages/{message_key}") } },
            }),
        );
        channel_keys.insert(i, channel_key);
    }
    let mut operations = Map::new();
    for edge in &map.edges {
        let (from, to) = (&map.nodes[edge.from], &map.nodes[edge.to]);
        let (action, who, channels_of) = match (from.kind, to.kind) {
            (NodeKind::Producer, NodeKind::Channel) => ("send", from, vec![edge.to]),
            (NodeKind::Channel, NodeKind::Consumer) => ("receive", to, vec![edge.from]),
            // A consumer of a stream or queue receives what its channels
            // brought in.
            (NodeKind::Store, NodeKind::Consumer) => (
                "receive",
                to,
                map.edges
                    .iter()
                    .filter(|e| e.to == edge.from && map.nodes[e.from].kind == NodeKind::Channel)
                    .map(|e| e.from)
                    .collect(),
            ),
            _ => continue,
        };
        for channel in channels_of {
            let Some(channel_key) = channel_keys.get(&channel) else {
                continue;
            };
            let operation_key = key(&format!("{}.{action}.{channel_key}", who.name));
            if operations.contains_key(&operation_key) {
                continue;
            }
            operations.insert(
                operation_key,
                json!({
                    "action": action,
                    "summary": format!("{} {} ({} messages seen)", who.name, if action == "send" { "sends" } else { "receives" }, edge.messages),
                    "channel": { "$ref": format!("#/channels/{channel_key}") },
                    "messages": [ { "$ref": format!("#/channels/{channel_key}/messages/{channel_key}") } ],
                }),
            );
        }
    }
    let mut document = json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": "seen",
            "description": format!(
                "Made by eventscope from {} flows over {:.0} s: what was seen, not what was designed.",
                map.flows, map.span_seconds
            ),
        },
        "channels": channels,
        "operations": operations,
        "components": { "messages": messages },
    });
    let mut server_map = Map::new();
    for (broker, url) in servers {
        let Ok(parsed) = url::Url::parse(url) else {
            continue;
        };
        let Some(host) = parsed.host_str() else {
            continue;
        };
        let host = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        // Never a URL's credentials: only host and port go in.
        let server_key = unique(&server_map, &key(&format!("{}-{host}", protocol(*broker))));
        server_map.insert(
            server_key,
            json!({ "host": host, "protocol": protocol(*broker) }),
        );
    }
    if !server_map.is_empty() {
        document["servers"] = Value::Object(server_map);
    }
    document
}

fn unique(taken: &Map<String, Value>, wanted: &str) -> String {
    let mut candidate = wanted.to_owned();
    let mut n = 2;
    while taken.contains_key(&candidate) {
        candidate = format!("{wanted}_{n}");
        n += 1;
    }
    candidate
}

fn message(subject: &str, seen: Option<&Seen>) -> Value {
    let mut message = Map::new();
    message.insert("name".into(), json!(key(subject)));
    let Some(seen) = seen else {
        message.insert("summary".into(), json!("no payload was kept to describe"));
        return Value::Object(message);
    };
    let read_by = seen
        .read_by
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(by, _)| by.as_str());
    let content_type = match read_by {
        Some("JSON") => Some("application/json"),
        Some(by) if by.starts_with("Protobuf") => Some("application/x-protobuf"),
        Some(by) if by.starts_with("Avro") => Some("application/avro"),
        Some("MessagePack") => Some("application/msgpack"),
        Some("CBOR") => Some("application/cbor"),
        _ => None,
    };
    if let Some(content_type) = content_type {
        message.insert("contentType".into(), json!(content_type));
    }
    let mut payload = if seen.shape.samples() > 0 {
        seen.shape.to_schema()
    } else {
        json!({})
    };
    let mut description = format!(
        "Inferred from {} payloads",
        seen.shape.samples() + seen.unread
    );
    if let Some(by) = read_by {
        description.push_str(&format!(", read as {by}"));
    }
    if seen.unread > 0 {
        description.push_str(&format!(
            "; {} not read as data (text or binary)",
            seen.unread
        ));
    }
    if let Value::Object(schema) = &mut payload {
        schema.insert("description".into(), json!(description));
    }
    message.insert("payload".into(), payload);
    if !seen.headers.is_empty() {
        let properties: Map<String, Value> = seen
            .headers
            .iter()
            .map(|h| (h.clone(), json!({ "type": "string" })))
            .collect();
        message.insert(
            "headers".into(),
            json!({ "type": "object", "properties": properties }),
        );
    }
    Value::Object(message)
}
