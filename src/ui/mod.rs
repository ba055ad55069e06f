//! The views. Each file draws one panel from the model it is given and
//! returns what the user asked for; none touches the network or the store's
//! internals.

mod bounded;
mod browser;
mod cluster;
mod connection_form;
mod connections;
mod consumers;
mod flows;
mod format;
mod inspector;
mod jetstream;
mod jetstream_actions;
mod json_tree;
mod kv;
mod kv_actions;
mod kv_key;
mod loaded;
mod objects;
mod palette;
mod publish;
mod rates;
mod recorder;
mod replay;
mod sequence_diagram;
mod servers;
mod status_bar;
mod streams;
mod subject_tree;
mod traffic;

pub use bounded::Bounded;
pub use browser::{BrowserView, InFlight, parse_time_input};
pub use cluster::{ClusterTab, ClusterView, EVENTS_KEEP, EventFeed, cluster_ui};
pub use connections::{
    ConnectionRow, ConnectionsAction, ConnectionsView, FileField, connections_ui,
};
pub use consumers::ConsumersView;
pub use flows::{FlowsAction, FlowsView, diagram_ui, flow_list_ui};
pub use inspector::{InspectorAction, InspectorView, inspector_ui};
pub use jetstream::{JetStreamAction, JetStreamView, StreamTab, capture_picker_ui, jetstream_ui};
pub use kv::{KvAction, KvMode, KvView, WATCH_KEEP, WatchPanel, kv_ui};
pub use kv_key::{Confirm as KvConfirm, KeyPanel, KeyTab};
pub use loaded::Loaded;
pub use objects::{ObjectAction, ObjectsView};
pub use publish::{PublishAction, PublishMode, PublishView, RepeatMode, publish_ui};
pub use rates::{RatesView, rates_ui};
pub use recorder::{ConsentDialog, RecorderView};
pub use replay::{ReplayAction, ReplaySource, ReplayView, replay_ui};
pub use status_bar::{StatusFigures, status_bar_ui};
pub use streams::{PurgeDialog, StreamColumn, StreamsView};
pub use subject_tree::subject_tree_ui;
pub use traffic::{TrafficView, filter_bar_ui, table_ui};

/// The main areas of the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum View {
    Traffic,
    Flows,
    #[serde(alias = "Act")]
    Publish,
    Connections,
    JetStream,
    Servers,
    Kv,
}

impl View {
    pub const ALL: [View; 7] = [
        View::Traffic,
        View::Flows,
        View::JetStream,
        View::Kv,
        View::Servers,
        View::Publish,
        View::Connections,
    ];

    pub fn label(self) -> &'static str {
        match self {
            View::Traffic => "Traffic",
            View::Flows => "Flows",
            View::Publish => "Publish & replay",
            View::Connections => "Connections",
            View::JetStream => "JetStream",
            View::Servers => "Cluster",
            View::Kv => "KV & objects",
        }
    }
}

/// A widget after a label that names it for accessibility (egui_kittest
/// finds it by that label).
pub fn labelled(ui: &mut egui::Ui, label: &str, widget: impl egui::Widget) -> egui::Response {
    let label = ui.label(label);
    ui.add(widget).labelled_by(label.id)
}

/// A named one-line text field.
pub fn labelled_text_edit(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    width: f32,
) -> egui::Response {
    labelled(
        ui,
        label,
        egui::TextEdit::singleline(value).desired_width(width),
    )
}
