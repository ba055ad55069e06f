//! What the JetStream panels ask the app for, and how they hold what it
//! fetched: shared by the panels and the view that lays them out.

use std::time::Duration;

use crate::capture::Seq;
use crate::flow::FlowFilter;
use crate::jetstream::{Purge, RecorderSettings, SearchRequest, Start};

/// Something fetched: its value, whether a fetch is running, the last error.
#[derive(Debug)]
pub struct Loaded<T> {
    pub value: Option<T>,
    pub loading: bool,
    pub error: Option<String>,
}

impl<T> Default for Loaded<T> {
    fn default() -> Self {
        Self {
            value: None,
            loading: false,
            error: None,
        }
    }
}

impl<T> Loaded<T> {
    /// Take an answer: the value, or the error beside the old value.
    pub fn answer(&mut self, result: Result<T, String>) {
        self.loading = false;
        match result {
            Ok(v) => {
                self.value = Some(v);
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// For data polled again and again: the spinner only until the first
    /// value (a spinner line coming and going would move what is below
    /// it), the error always.
    pub fn first_status_ui(&self, ui: &mut egui::Ui) {
        if self.loading && self.value.is_none() {
            ui.spinner();
        }
        if let Some(e) = &self.error {
            ui.colored_label(super::sequence_diagram::BAD, e);
        }
    }

    /// The spinner or the error, on one line.
    pub fn status_ui(&self, ui: &mut egui::Ui) {
        if self.loading {
            ui.spinner();
        }
        if let Some(e) = &self.error {
            ui.colored_label(super::sequence_diagram::BAD, e);
        }
    }
}

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
