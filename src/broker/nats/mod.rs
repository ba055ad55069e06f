//! NATS: the connection task (`connection`), the monitoring link read off
//! the wire (`wire`), publishing and jobs (`send`), the server's own
//! answers asked over NATS (`servers`) and over HTTP (`connz`), natscli
//! contexts (`contexts`), header maps for async-nats (`headers`), the
//! client's options from a profile (`options`), and how
//! our own requests are known (`own`). The only room of `broker/` that
//! uses async-nats.

pub(crate) mod connection;
pub(crate) mod connz;
pub(crate) mod contexts;
pub(crate) mod headers;
pub(crate) mod options;
pub(crate) mod own;
pub(crate) mod send;
pub(crate) mod servers;
pub(crate) mod services;
pub(crate) mod wire;

/// The async-nats client a connection opens for publishing, requests and
/// the JetStream API (`Command::Client`).
pub type Client = async_nats::Client;

// What the NATS rooms share with the rest of `broker/`, under the names
// they used as its rooms.
use super::{
    BrokerError, BrokerEvent, Command, EventSink, HeaderError, ServersError, profile, redact_url,
    status,
};
