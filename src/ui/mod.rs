//! The views, one folder per area: `traffic/` (table, subject tree,
//! inspector, rates), `flows/` (list and sequence diagram), `publish/`
//! (publish, request, replay), `jetstream/` (streams, consumers, message
//! browser, recorder), `kv/` (keys, revisions, object stores), `cluster/`
//! (servers, connections, replicas, links, events), `connections/` (the
//! list and the form). Shared by several: `palette`, `loaded`, `bounded`,
//! `format`, `json_tree`, `status_bar`.
//!
//! Each view draws one panel from the model it is given and returns what
//! the user asked for; none touches the network or the store's internals.

mod bounded;
mod cluster;
mod command_palette;
mod connections;
mod diff;
mod export;
mod flows;
mod format;
mod jetstream;
mod json_tree;
mod keys;
mod kv;
mod layout;
mod loaded;
mod look;
mod map;
mod notice;
pub mod palette;
mod publish;
mod schemas;
mod search;
mod services;
mod status_bar;
mod traffic;

pub use bounded::Bounded;
pub use cluster::{ClusterTab, ClusterView, EVENTS_KEEP, EventFeed, cluster_ui};
pub use command_palette::{CommandPaletteView, command_palette_ui};
pub use connections::{
    ConnectionRow, ConnectionsAction, ConnectionsView, FileField, connections_ui,
};
pub use diff::{CaptureDiffView, MessageDiffView, capture_diff_ui, message_diff_ui};
pub use export::{ExportTarget, ExportView, export_window_ui};
pub use flows::{FlowsAction, FlowsView, diagram_ui, flow_list_ui};
pub use format::clock as format_clock;
pub use jetstream::browser::{BrowserView, InFlight, parse_time_input};
pub use jetstream::consumers::ConsumersView;
pub use jetstream::recorder::{ConsentDialog, RecorderView};
pub use jetstream::streams::{PurgeDialog, StreamColumn, StreamsView};
pub use jetstream::{JetStreamAction, JetStreamView, StreamTab, capture_picker_ui, jetstream_ui};
pub use keys::{Binding, Command, VIEW_KEYS, key_help, markdown_table, shortcuts_window_ui};
pub use kv::key::{Confirm as KvConfirm, KeyPanel, KeyTab};
pub use kv::objects::{ObjectAction, ObjectsView};
pub use kv::{KvAction, KvMode, KvView, WATCH_KEEP, WatchPanel, kv_ui};
pub use layout::{bottom_default, bottom_range, side_default, side_range};
pub use loaded::Loaded;
pub use look::{Look, SCALES, ThemeChoice, look_menu_ui};
pub use map::{MapAction, MapPick, MapView, map_ui};
pub use notice::{Notice, NoticeKind, notice_ui};
pub use publish::replay::{ReplayAction, ReplaySource, ReplayView, replay_ui};
pub use publish::{PublishAction, PublishMode, PublishView, RepeatMode, publish_ui};
pub use schemas::{SchemasAction, SchemasView, schemas_window_ui};
pub use search::{SearchAction, SearchShown, SearchView, search_ui};
pub use services::{ServicesAction, ServicesView, services_view_ui};
pub use status_bar::{StatusFigures, status_bar_ui};
pub use traffic::group_lag::group_lag_ui;
pub use traffic::inspector::{InspectorAction, InspectorView, inspector_ui};
pub use traffic::rates::{RatesView, rates_ui};
pub use traffic::subject_tree::subject_tree_ui;
pub use traffic::{SCAN_PER_FRAME, TrafficView, filter_bar_ui, table_ui};

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
    Services,
    Search,
    Map,
}

impl View {
    pub const ALL: [View; 10] = [
        View::Traffic,
        View::Map,
        View::Search,
        View::Flows,
        View::JetStream,
        View::Kv,
        View::Services,
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
            View::Services => "Services",
            View::Search => "Search",
            View::Map => "Map",
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
