//! eventscope: a native desktop monitor for NATS event-driven systems.
//!
//! Layers point one way: `ui` reads `capture` and sends `broker` commands;
//! `broker` produces `capture::Record`s; `capture` knows nothing of egui or
//! the network. The headless CLI uses the same `broker` and `capture` code.

pub mod act;
pub mod allocator;
pub mod app;
pub mod broker;
pub mod capture;
pub mod cli;
pub mod demo;
pub mod flow;
pub mod gui;
pub mod headless;
pub mod local_server;
pub mod monitor;
pub mod process_memory;
pub mod record;
pub mod replay;
pub mod screenshot;
pub mod ui;
