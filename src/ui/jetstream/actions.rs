//! What the JetStream panels ask the app for, and how they hold what it
//! fetched: shared by the panels and the view that lays them out.

use std::time::Duration;

use crate::capture::Seq;
use crate::flow::FlowFilter;
use crate::jetstream::{Purge, RecorderSettings, SearchRequest, Start};

/// What the user asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum JetStreamAction {
    RefreshStreams,
    /// Show this stream: fetch its consumers, subjects and first page.
    OpenStream(String),
    RefreshConsumers,
    /// Read a page of the chosen stream.
    Browse {
        start: Start,
        subject: Option<String>,
    },
    /// The messages a consumer holds (ack floor to last delivered).
    InFlight(String),
    /// Open the flow view on one consumer's flows.
    OpenFlows {
        consumer: String,
        filter: FlowFilter,
    },
    /// Show a browsed message in the inspector.
    Inspect(Seq),
    EditAndResend(Seq),
    /// Follow a browsed message's id through everything retained.
    Follow(String, String),
    /// Compare two browsed messages (before, after); `Err` says why not.
    Compare(Result<(crate::capture::Record, crate::capture::Record), String>),
    /// Ask the server who would receive a copy of a browsed message.
    Trace(Seq),
    /// Hand the browsed page to replay (republish to original subjects).
    Replay(Vec<Seq>),
    /// Republish what a consumer gave up on (max deliveries, terminated)
    /// through replay, which counts them before anything is sent.
    Redrive(String),
    /// Search the stream's payloads and headers over a range.
    Search(Box<SearchRequest>),
    PreviewPurge(Purge),
    /// Confirmed by the user, naming the stream.
    Purge(Purge),
    DeleteMessage(u64),
    PauseConsumer {
        consumer: String,
        pause: bool,
    },
    DeleteConsumer(String),
    /// Count what a reset would deliver again.
    PreviewReset {
        consumer: String,
        seq: u64,
    },
    /// Confirmed by the user, naming the consumer and the sequence.
    ResetConsumer {
        consumer: String,
        seq: u64,
    },
    /// Create (or, `update`, change) a consumer from its JSON config.
    PutConsumer {
        config: serde_json::Value,
        update: bool,
    },
    StartRecorder(RecorderSettings),
    StopRecorder,
    /// Fill the flow view from the recorder for this long back.
    LoadHistory(Duration),
    /// Open a capture kept in a stream, as a capture file opens.
    OpenCapture(String),
}
