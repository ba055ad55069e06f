//! Records written out in the formats other tools read: NDJSON, CSV
//! (chosen columns) and JSON for spreadsheets and scripts, with payloads
//! decoded (`payload_json`, and the decoder named); natscli's dump
//! directories and eventscope's capture files (both in `capture::file`);
//! and a record as the shell command that would send it again (`nats`,
//! `mosquitto_pub`, `rabbitmqadmin`, `kcat`).
//!
//! Plain Rust over records: the window's export, the inspector's "Copy as
//! command" and `eventscope convert` share it.

mod command;
mod export;

pub use command::{SendCommand, send_commands};
pub use export::{Column, ExportFormat, ExportItem, ExportWriter};
