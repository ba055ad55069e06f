//! The system account's other answers, parsed: the connections report
//! (`CONNZ` from every server, like `nats top`), the JetStream meta group
//! (`JSZ`), routes, gateways and leaf nodes (`ROUTEZ`, `GATEWAYZ`,
//! `LEAFZ`), and the connect / disconnect / auth-error advisories. Each
//! `PING` answer is `{"server": {...}, "data": {...}}`.

mod connections;
mod events;
mod links;
mod raft;

pub use connections::{ConnectionRow, ConnectionSort, connection_rates};
pub use events::{EVENT_SUBJECTS, EventKind, ServerEvent};
pub use links::{LinkKind, LinkRow};
pub use raft::{MetaGroup, Peer, StreamGroup};

use serde_json::Value;

use crate::capture::Timestamp;

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn number(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// RFC 3339 as nanoseconds since the epoch (0 when absent or unparsable).
fn time(v: &Value, pointer: &str) -> Timestamp {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}
