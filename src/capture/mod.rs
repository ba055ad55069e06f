//! Everything the app keeps of what it saw: records, the bounded store, the
//! subject tree with rates, filters and the capture file format.
//!
//! Plain Rust: nothing here knows about egui or the network, so the GUI, the
//! headless CLI and the benchmarks share it unchanged.

pub mod file;
pub mod filter;
pub mod headers;
pub mod load;
pub mod record;
pub mod store;
pub mod subject;
pub mod subject_tree;

pub use filter::{Filter, FilteredIndex};
pub use headers::{HeaderBlock, Headers};
pub use record::{ConnectionKey, Record, RecordPacker, Timestamp};
pub use store::{Store, StoreCounters};
pub use subject::{SubjectError, SubjectPattern};
pub use subject_tree::SubjectTree;
