//! What JetStream holds, asked of the server: streams, consumers, stored
//! messages (read without a consumer), a consumer's lag over time, and the
//! flight recorder that keeps consumer answers for later. Everything here
//! is a request on an async-nats client; nothing creates server state but
//! the calls named for it (purge, delete, consumer changes, the recorder),
//! which the GUI confirms first.

mod api;
mod capture_stream;
mod consumers;
mod direct_raw;
mod lag;
mod messages;
mod own_ranges;
mod purge;
mod recorder;
mod search;
mod stored;
mod streams;
mod units;

pub use api::{API_TIMEOUT, Api, JsError, parse_answer};
pub use capture_stream::{
    CaptureRead, CaptureStreamSettings, OwnWrites, StreamSink, capture_subject, captures,
    create_capture_stream, export_capture, is_capture, lines_kept, write_capture_page,
};
pub use consumers::{
    ConsumerSummary, Health, ResetPreview, consumer_info, delete_consumer, list_consumers,
    pause_consumer, put_consumer, reset_consumer, reset_preview,
};
pub use lag::{LagHistory, LagSample, poll as poll_lag};
pub use messages::{
    Access, MAX_PAGE_BYTES, MAX_PAGE_COUNT, Page, PageRequest, Start, StoredMessage, count_from,
    fetch_filtered, fetch_page, seq_at_time,
};
pub use purge::{Purge, PurgePreview, delete_message, purge, purge_preview};
pub use recorder::{
    DEFAULT_NAME as DEFAULT_RECORDER, MAX_NAMED, RECORDED_SUBJECTS, RecorderRead, RecorderSettings,
    RecorderStatus, name_flows, read as read_recorder, start as start_recorder,
    status as recorder_status, stop as stop_recorder, stored_subjects,
};
pub use search::{SearchProgress, SearchRequest, search};
pub use streams::{
    ClusterState, Replica, ReplicasError, StreamSummary, Upstream, list_streams, replica_groups,
    stream_info, stream_subjects,
};
pub use units::{UnitError, parse_bytes, parse_duration};
