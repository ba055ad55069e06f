//! eventscope: a native desktop monitor for NATS event-driven systems.
//!
//! The rooms, from the bottom up (docs/architecture.md has the map;
//! `tests/it/layers.rs` holds the directions):
//! - `capture`: records (each from a connection of a known broker), the
//!   store, subject statistics, capture files;
//! - `server_answers`: what the NATS server says of itself (connection
//!   lists, account counters, trace events, the cluster's tables), parsed;
//! - `flow`: records become flows by each broker's delivery rules (NATS's
//!   in `flow/nats`), laid out as sequence diagrams;
//! - `map`: the map of the system made from the flows (and who subscribes),
//!   as Mermaid, SVG and an AsyncAPI document;
//! - `outgoing`: building messages to send (templates, replay plans);
//! - `broker`: connections, broker-neutral (runtime, event channel, disk
//!   spool, status, profiles), and NATS's in `broker/nats` (the monitoring
//!   link read from the protocol, own-traffic recognition, sending);
//! - `jetstream`, `kv`: streams, consumers, captures in streams, the flight
//!   recorder; KV buckets and object stores;
//! - `session`: the one service the window talks to: connections, store
//!   and flows together, and every request beyond traffic as typed
//!   commands and answers, without a UI;
//! - `ui`: the views, drawing only, grouped by area;
//! - `app`: the desktop app (start-up, frames, answers handed to views),
//!   holding no broker client;
//! - `cli`: the command line and the headless subcommands;
//! - `demo`, `process`: the demo system, process utilities.

pub mod app;
pub mod broker;
pub mod capture;
pub mod cli;
pub mod compare;
pub mod decode;
pub mod demo;
pub mod flow;
pub mod formats;
pub mod jetstream;
pub mod kv;
pub mod map;
pub mod outgoing;
pub mod process;
pub mod search;
pub mod server_answers;
pub mod session;
pub mod ui;
