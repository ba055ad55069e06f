//! Outgoing messages, built: what to publish (templates with
//! placeholders), where replayed messages go (subject remapping) and when
//! (timing). Plain data and functions; `broker::send` sends them.

mod placeholders;
mod remap;
mod replay_plan;
mod template;

pub use remap::{Remap, RemapError, remap_subject};
pub use replay_plan::{
    MAX_SPEED, MIN_SPEED, MSG_ID_HEADER, OutMessage, REPLAY_HEADER, ReplayOptions, Timing,
    is_machinery, kept_headers, preview, replay_headers, send_offset,
};
pub use template::{Encoding, PublishTemplate, TemplateError};
