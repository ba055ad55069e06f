//! The JetStream view: the stream report on the left, the chosen stream's
//! consumers, messages, subjects and detail on the right, the flight
//! recorder above. It draws what the app fetched and returns what the user
//! asked for; every change to the server goes through a confirmation here.

pub(super) mod actions;
pub(super) mod browser;
pub(super) mod consumers;
pub(super) mod recorder;
pub(super) mod streams;

pub use crate::ui::jetstream::actions::JetStreamAction;
use crate::ui::jetstream::browser::{BrowserView, browser_ui};
use crate::ui::jetstream::consumers::{ConsumersView, consumers_ui};
use crate::ui::jetstream::recorder::{RecorderView, recorder_ui};
use crate::ui::jetstream::streams::{StreamsView, stream_detail_ui, stream_list_ui, subjects_ui};

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
    /// The "Open capture from stream" window is open.
    pub capture_picker: bool,
}

impl JetStreamView {
    /// The stream the right side shows.
    pub fn selected_stream(&self) -> Option<&str> {
        self.streams.selected.as_deref()
    }
}

/// The whole view.
pub fn jetstream_ui(ui: &mut egui::Ui, view: &mut JetStreamView, now: i64) -> Vec<JetStreamAction> {
    let mut actions = Vec::new();
    if let Some(why) = &view.unavailable {
        ui.colored_label(crate::ui::palette::of(ui).bad, why);
    }
    egui::Panel::top("recorder").show(ui, |ui| recorder_ui(ui, &mut view.recorder, &mut actions));
    egui::Panel::left("streams")
        .resizable(true)
        .default_size(crate::ui::side_default(ui, 560.0))
        .size_range(crate::ui::side_range(ui))
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

/// "Open capture from stream": the capture streams (made by `record
/// --to-stream`) among the streams; a click opens one like a capture file.
pub fn capture_picker_ui(ctx: &egui::Context, view: &mut JetStreamView) -> Vec<JetStreamAction> {
    let mut actions = Vec::new();
    if !view.capture_picker {
        return actions;
    }
    let mut open = true;
    egui::Window::new("Open capture from stream")
        .open(&mut open)
        .collapsible(false)
        .show(ctx, |ui| {
            ui.label("Captures recorded into JetStream (eventscope record --to-stream):");
            if ui.button("Refresh").clicked() {
                actions.push(JetStreamAction::RefreshStreams);
            }
            view.streams.list.status_ui(ui);
            let captures: Vec<_> = view
                .streams
                .list
                .value
                .as_deref()
                .map(crate::jetstream::captures)
                .unwrap_or_default();
            if captures.is_empty() && !view.streams.list.loading {
                ui.weak("none on this connection");
            }
            for stream in captures {
                let text = format!(
                    "{}: {} messages, {}",
                    stream.name,
                    super::format::count(stream.messages),
                    super::format::bytes(stream.bytes)
                );
                if ui.button(text).clicked() {
                    actions.push(JetStreamAction::OpenCapture(stream.name.clone()));
                }
            }
        });
    if !open
        || !actions
            .iter()
            .all(|a| matches!(a, JetStreamAction::RefreshStreams))
    {
        view.capture_picker = false;
    }
    actions
}
