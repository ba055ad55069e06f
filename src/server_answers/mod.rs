//! What the NATS server says about itself, parsed: its connection list and
//! closed connections (`connz`), the account's counters, its trace events,
//! its server-table row (`varz`), the cluster's tables (`cluster`:
//! connections, links, events, the meta group and stream replicas), and
//! the micro services running on it (`services`). Plain
//! data, read by `broker` (which asks) and by `flow` and the views (which
//! show what they say).

mod cluster;
mod connz;
mod services;
mod trace;
mod varz;

pub use cluster::{
    ConnectionRow, ConnectionSort, EVENT_SUBJECTS, EventKind, LinkKind, LinkRow, MetaGroup, Peer,
    ServerEvent, StreamGroup, connection_rates,
};
pub use connz::{
    AccountCounters, ClosedConnection, Connection, Directory, Subscription, account_counters,
    closed_in_connz,
};
pub use services::{Answered, Endpoint, Service, ServiceInstance, services_from};
pub use trace::{TraceEvent, TraceHop, TraceRequest, TraceServer, parse_trace_event};
pub use varz::{ServerRow, with_rates_from};

/// An answer that is not what the server sends.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("not a connz answer: {0}")]
    NotConnz(serde_json::Error),
    #[error("not a trace event: {0}")]
    NotTraceEvent(serde_json::Error),
}
