//! The JetStream view: the stream report on the left, the chosen stream's
//! consumers, messages, subjects and detail on the right, the flight
//! recorder above. It draws what the app fetched and returns what the user
//! asked for; every change to the server goes through a confirmation here.

use std::time::Duration;

use super::browser::{BrowserView, browser_ui};
use super::consumers::{ConsumersView, consumers_ui};
use super::recorder::{RecorderView, recorder_ui};
use super::streams::{StreamsView, stream_detail_ui, stream_list_ui, subjects_ui};
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

/// The tabs of a chosen stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamTab {
    #[default]
    Consumers,
    Messages,
    Subjects,
    Detail,
}

impl StreamTab {
    const ALL: [StreamTab; 4] = [
        StreamTab::Consumers,
        StreamTab::Messages,
        StreamTab::Subjects,
        StreamTab::Detail,
    ];

    fn label(self) -> &'static str {
        match self {
            StreamTab::Consumers => "Consumers",
            StreamTab::Messages => "Browse",
            StreamTab::Subjects => "Subjects",
            StreamTab::Detail => "Detail",
        }
    }
}

#[derive(Default)]
pub struct JetStreamView {
    pub streams: StreamsView,
    pub tab: StreamTab,
    pub consumers: ConsumersView,
    pub browser: BrowserView,
    pub recorder: RecorderView,
    /// JetStream could not be reached on the chosen connection (why).
    pub unavailable: Option<String>,
}

impl JetStreamView {
    /// The stream the right side shows.
    pub fn selected_stream(&self) -> Option<&str> {
        self.streams.selected.as_deref()
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
}

/// The whole view.
pub fn jetstream_ui(ui: &mut egui::Ui, view: &mut JetStreamView, now: i64) -> Vec<JetStreamAction> {
    let mut actions = Vec::new();
    if let Some(why) = &view.unavailable {
        ui.colored_label(super::sequence_diagram::BAD, why);
    }
    egui::Panel::top("recorder").show(ui, |ui| recorder_ui(ui, &mut view.recorder, &mut actions));
    egui::Panel::left("streams")
        .resizable(true)
        .default_size(560.0)
        .min_size(560.0)
        .show(ui, |ui| {
            stream_list_ui(ui, &mut view.streams, now, &mut actions)
        });
    egui::CentralPanel::default().show(ui, |ui| {
        let Some(stream) = view.streams.selected_summary().cloned() else {
            ui.label("Choose a stream on the left.");
            return;
        };
        ui.horizontal(|ui| {
            ui.heading(&stream.name);
            ui.separator();
            for tab in StreamTab::ALL {
                ui.selectable_value(&mut view.tab, tab, tab.label());
            }
        });
        ui.separator();
        match view.tab {
            StreamTab::Consumers => {
                consumers_ui(ui, &mut view.consumers, &stream, now, &mut actions)
            }
            StreamTab::Messages => browser_ui(ui, &mut view.browser, &stream, &mut actions),
            StreamTab::Subjects => subjects_ui(ui, &mut view.streams, &mut actions),
            StreamTab::Detail => stream_detail_ui(ui, &mut view.streams, &stream, &mut actions),
        }
    });
    // A subject picked in the subject list, or the in-flight window, opens
    // the message tab.
    if actions.iter().any(|a| {
        matches!(
            a,
            JetStreamAction::Browse { .. } | JetStreamAction::InFlight(_)
        )
    }) {
        view.tab = StreamTab::Messages;
    }
    actions
}
