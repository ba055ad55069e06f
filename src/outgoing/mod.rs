//! Outgoing messages, built: what to publish (templates with
//! placeholders), where replayed messages go (subject remapping) and when
//! (timing). Plain data and functions; `broker::send` sends them.

pub mod placeholders;
pub mod remap;
pub mod replay;
pub mod template;
