//! The JetStream view: the stream report on the left, the chosen stream's
//! consumers, messages, subjects and detail on the right, the flight
//! recorder above. It draws what the app fetched and returns what the user
//! asked for; every change to the server goes through a confirmation here.

use super::browser::{BrowserView, browser_ui};
use super::consumers::{ConsumersView, consumers_ui};
pub use super::jetstream_actions::{JetStreamAction, Loaded};
use super::recorder::{RecorderView, recorder_ui};
use super::streams::{StreamsView, stream_detail_ui, stream_list_ui, subjects_ui};

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
