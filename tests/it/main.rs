//! Every integration test in one binary: one link instead of one per file
//! (CI compiled and linked 17 test binaries against the whole GUI stack).
//! Each file is a module, as it was a crate; `common` is the harness.

mod common;

mod amqp;
mod amqp_flows;
mod bridge;
mod capture_stream;
mod cluster;
mod compare;
mod flow_fixtures;
mod flows;
mod flows_exact;
mod flows_rules;
mod formats;
mod jetstream;
mod kafka;
mod kv;
mod layers;
mod map;
mod mqtt;
mod publish;
mod record;
mod search;
mod servers;
mod services;
mod session;
mod tls_brokers;
mod trust;
mod ui;
mod ui_brokers;
mod ui_decode;
mod ui_jetstream;
mod ui_kv;
mod ui_look;
mod wire;
