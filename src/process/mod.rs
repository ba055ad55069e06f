//! Utilities of the process itself: allocator settings and resident memory.

mod allocator;
mod memory;

pub use allocator::{TOP_PAD_BYTES, release_free_memory, tune};
pub use memory::{ResidentSampler, resident_bytes};
