//! Message tracing (nats-server 2.11+): the events the server sends for a
//! message published with `Nats-Trace-Dest`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::AnswerError;

#[derive(Clone, Debug, Deserialize)]
pub struct TraceEvent {
    #[serde(default)]
    pub server: TraceServer,
    #[serde(default)]
    pub request: TraceRequest,
    #[serde(default)]
    pub events: Vec<TraceHop>,
}

/// The traced message as the server received it: its headers (every
/// value of each name) and size.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TraceRequest {
    #[serde(default)]
    pub header: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub msgsize: u64,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct TraceServer {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub ver: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct TraceHop {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cid: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subj: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub queue: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stream: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub acc: String,
}

impl TraceHop {
    /// "name (cid N)", as lanes are named.
    pub fn connection(&self) -> String {
        let name = if self.name.is_empty() {
            "unnamed connection"
        } else {
            &self.name
        };
        format!("{name} (cid {})", self.cid)
    }
}

pub fn parse_trace_event(payload: &[u8]) -> Result<TraceEvent, AnswerError> {
    serde_json::from_slice(payload).map_err(AnswerError::NotTraceEvent)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
