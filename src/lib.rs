//! eventscope: a native desktop monitor for NATS event-driven systems.
//!
//! The rooms, from the bottom up (docs/architecture.md has the map;
//! `tests/it/layers.rs` holds the directions):
//! - `capture`: records, the store, subject statistics, capture files;
//! - `server_answers`: what the NATS server says of itself (connection
//!   lists, account counters, trace events, the cluster's tables), parsed;
//! - `flow`: records become flows by the server's own rules, laid out as
//!   sequence diagrams;
//! - `outgoing`: building messages to send (templates, replay plans);
//! - `broker`: connections to NATS: the monitoring link read from the
//!   protocol, the disk spool behind it, own-traffic recognition, sending;
//! - `jetstream`, `kv`: streams, consumers, captures in streams, the flight
//!   recorder; KV buckets and object stores;
//! - `session`: connections, store and flows together, without a UI;
//! - `ui`: the views, drawing only;
//! - `app`: the desktop app (start-up, frames, background work);
//! - `cli`: the command line and the headless subcommands;
//! - `demo`, `process`: the demo system, process utilities.

pub mod app;
pub mod broker;
pub mod capture;
pub mod cli;
pub mod demo;
pub mod flow;
pub mod jetstream;
pub mod kv;
pub mod outgoing;
pub mod process;
pub mod server_answers;
pub mod session;
pub mod ui;
