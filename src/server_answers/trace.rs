//! Message tracing (nats-server 2.11+): the events the server sends for a
//! message published with `Nats-Trace-Dest`.

use serde::Deserialize;

use super::AnswerError;

#[derive(Clone, Debug, Deserialize)]
pub struct TraceEvent {
    #[serde(default)]
    pub server: TraceServer,
    #[serde(default)]
    pub events: Vec<TraceHop>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct TraceServer {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub ver: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct TraceHop {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub cid: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub subj: String,
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub queue: String,
    #[serde(default)]
    pub stream: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
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
