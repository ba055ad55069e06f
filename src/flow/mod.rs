//! Flows reconstructed from what the wire shows: each record classified by
//! its broker's delivery rules (`rules`, NATS's in `nats`), correlated into
//! flows incrementally (`correlator`) in the shape of `model`, judged
//! (`settle`), listed (`selection`), named from the server's connection
//! list (`identity`, `trace`) and written out as Mermaid or JSON
//! (`export`). Plain Rust: no egui, no network.

mod admin;
mod amqp;
mod answers;
mod correlator;
mod export;
mod finals;
mod headers;
mod identity;
mod jetstream;
mod kafka;
mod layout;
mod links;
mod logged;
mod merge;
mod model;
mod mqtt;
mod nats;
mod objects;
mod queued;
mod rules;
mod selection;
mod settle;
mod streams;
mod trace;
mod transform;
mod vocabulary;

pub use correlator::{Correlator, FlowConfig};
pub use export::{DeliveryJson, FlowJson, KvJson, ReplyJson, mermaid, summary_line, title};
pub use identity::{annotate, audience};
pub use layout::{Layout, Row, RowKind};
pub use links::{BatchMember, Links, StoredAt};
pub use logged::group_lane;
pub use model::{
    Delivery, Final, Flow, FlowDetail, FlowId, FlowKind, KvOp, KvOperation, Lane, ObjectPut,
    Outcome, Reply, Role, Step, StepKind, UNKNOWN_PRODUCER,
};
pub use rules::{ConsumerState, DeliveryRules, PublishMarks, rules_for};
pub use selection::{ConsumerScope, FlowCounts, FlowFilter};
pub use settle::{Removal, RemovalReason, ServiceError, Verdict};
pub use trace::trace_flow;
pub use vocabulary::{AckBody, AdvisoryKind};

/// `1.5 s`, `12 ms`, `830 µs`: a duration in nanoseconds for people.
pub fn format_duration(ns: i64) -> String {
    let abs = ns.unsigned_abs();
    if abs >= 10_000_000_000 {
        format!("{:.0} s", ns as f64 / 1e9)
    } else if abs >= 1_000_000_000 {
        format!("{:.1} s", ns as f64 / 1e9)
    } else if abs >= 1_000_000 {
        format!("{:.0} ms", ns as f64 / 1e6)
    } else {
        format!("{:.0} µs", ns as f64 / 1e3)
    }
}
