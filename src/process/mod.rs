//! Utilities of the process itself: allocator settings and resident memory.

pub mod allocator;
pub mod memory;
