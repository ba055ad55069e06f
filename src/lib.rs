//! eventscope: a native desktop monitor for NATS event-driven systems.
//!
//! The rooms, from the bottom up (README "How it is built" has the map;
//! `tests/it/layers.rs` holds the directions):
//! - `capture`: records, the store, subject statistics, capture files;
//! - `server_answers`: what the NATS server says of itself (connection
//!   lists, trace events), parsed;
//! - `flow`: records become flows, laid out as sequence diagrams;
//! - `outgoing`: building messages to send (templates, replay plans);
//! - `broker`: connections to NATS, reading and sending;
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
