//! Everything the app keeps of what it saw: records (each from a connection
//! of a known broker), the bounded store, the subject tree with rates,
//! filters and the capture file format.
//!
//! Plain Rust: nothing here knows about egui or the network, so the GUI, the
//! headless CLI and the benchmarks share it unchanged.

mod broker;
mod fields;
pub mod file;
mod filter;
mod group_lag;
mod headers;
mod load;
mod record;
mod store;
mod subject;
mod subject_tree;

pub use broker::BrokerKind;
pub use fields::{
    AMQP_DEFAULT_EXCHANGE, AmqpFields, AmqpProperties, Death, GroupCommit, KAFKA_COMMITS_TOPIC,
    KafkaFields, MqttFields, TraceEvent,
};
pub use filter::{Filter, FilteredIndex};
pub use group_lag::{GroupLagHistory, GroupPartition, MAX_SERIES, POINTS_PER_SERIES};
pub use headers::{HeaderBlock, Headers};
pub use load::{CaptureLoad, LoadEvent};
pub use record::{
    ConnectionKey, Incoming, Record, RecordPacker, Timestamp, now_timestamp, timestamp_to_utc,
};
pub use store::{Seq, Store, StoreCounters};
pub use subject::{
    SubjectError, SubjectPattern, has_wildcards, patterns_overlap, validate_pattern,
    validate_subject, validate_topic_filter,
};
pub use subject_tree::{NodeId, ROOT, SubjectTree};
