//! Flows reconstructed from what the wire shows: each record classified
//! (`classify`), correlated into flows incrementally (`correlate`), and
//! written out as Mermaid sequence diagrams or JSON (`export`).
//! Plain Rust: no egui, no network.

pub mod classify;
pub mod correlate;
pub mod export;
pub mod identity;
pub mod trace;

pub use correlate::{
    Correlator, Final, Flow, FlowConfig, FlowDetail, FlowFilter, FlowId, FlowKind, Outcome, Step,
    StepKind,
};

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
