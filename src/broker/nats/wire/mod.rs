//! The monitoring side of the NATS protocol, read directly: subscriptions,
//! pings and the server's messages, kept byte-exact; and the same for the
//! answers to batched direct gets (`fetch`). Publishing, requests
//! and the JetStream API stay on async-nats (see docs/architecture.md, "How it is
//! built" for why the two sides differ).

mod fetch;
pub mod frame;
pub(crate) mod link;
pub(crate) mod session;

pub use fetch::{Answer as FetchAnswer, FetchError, Fetcher};
