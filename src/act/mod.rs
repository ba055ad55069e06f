//! Acting on the system: what to publish (templates with placeholders),
//! where replayed messages go (subject remapping) and when (timing).
//! Plain Rust; the broker runs the jobs.

pub mod placeholders;
pub mod remap;
pub mod replay;
pub mod template;
