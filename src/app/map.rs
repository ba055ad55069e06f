//! The Map view's work: the map made again from the flows once a second
//! while it is shown, a click turned into the traffic's and the flows'
//! filters, and its exports (Mermaid to the clipboard, SVG, PNG, the
//! AsyncAPI document of what the store holds).

use std::time::{Duration, Instant};

use super::EventscopeApp;
use super::pending::Waiting;
use crate::map::{NodeKind, SystemMap};
use crate::ui::{MapAction, MapPick, Notice, View};

/// How often a shown map is made again from the flows.
const REBUILD_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct MapWork {
    pub(super) view: crate::ui::MapView,
    built_at: Option<Instant>,
    /// What the flows were when the map was made (how many, the newest
    /// time, how many evicted): unchanged, the map is not made again.
    built_from: Option<(usize, crate::capture::Timestamp, u64)>,
}

impl EventscopeApp {
    /// The first connection's view of who subscribes to what (the flows
    /// and the map name lanes and boxes from it).
    pub(super) fn directory(&self) -> Option<std::sync::Arc<crate::server_answers::Directory>> {
        self.session
            .profiles()
            .iter()
            .find_map(|(key, _)| self.session.shared(*key)?.directory())
            .map(|(d, _)| d)
    }

    /// Something the map is made from besides the flows changed (the
    /// services answered): make it again when next due.
    pub(super) fn map_sources_changed(&mut self) {
        self.map.built_from = None;
    }

    /// The map as the flows stand now.
    pub fn current_map(&self) -> SystemMap {
        let services = self
            .services
            .view
            .services
            .value
            .as_deref()
            .unwrap_or_default();
        SystemMap::from_flows_and_services(
            &self.session.flows,
            self.directory().as_deref(),
            services,
        )
    }

    /// Make the map again when it is due and the flows changed (or
    /// `force`): 12 ms for 100,000 flows (`cargo bench --bench map`), so
    /// not every frame, and not at all while nothing comes.
    pub(super) fn refresh_map(&mut self, force: bool) {
        let flows = &self.session.flows;
        let now_from = (flows.len(), flows.latest(), flows.evicted());
        let due = self
            .map
            .built_at
            .is_none_or(|at| at.elapsed() >= REBUILD_EVERY)
            && self.map.built_from != Some(now_from);
        if force || due {
            let map = self.current_map();
            self.map.view.set_map(map);
            self.map.built_at = Some(Instant::now());
            self.map.built_from = Some(now_from);
        }
    }

    pub(super) fn map_view_ui(&mut self, ui: &mut egui::Ui) {
        self.refresh_map(false);
        // A live map moves: look again when the next one is due.
        ui.ctx().request_repaint_after(REBUILD_EVERY);
        if self.look.flows_beside_map {
            let now = crate::capture::now_timestamp();
            egui::Panel::bottom("map-flows")
                .resizable(true)
                .default_size(crate::ui::bottom_default(ui, 320.0))
                .size_range(crate::ui::bottom_range(ui))
                .show(ui, |ui| self.flow_panels_ui(ui, now, "map-flow-list"));
        }
        let actions = crate::ui::map_ui(ui, &mut self.map.view);
        for action in actions {
            match action {
                MapAction::Picked(pick) => self.filter_to(pick),
                MapAction::ShowTraffic => self.view = View::Traffic,
                MapAction::ShowFlows => self.view = View::Flows,
                MapAction::CopyMermaid => self.copy_map_as_mermaid(),
                MapAction::SaveSvg => self.save_map_as_svg(),
                MapAction::SavePng(rect) => self
                    .pending
                    .wait(Waiting::PngExport(rect, self.pick_save_path("map.png"))),
                MapAction::SaveAsyncApi => self.save_asyncapi(),
            }
        }
    }

    /// Screenshot mode on the Map: the selected message's subject picked,
    /// so the picture shows the side panel too.
    pub(super) fn drive_map_screenshot(&mut self) {
        if self.screenshot.is_none() || self.view != View::Map || self.map.view.picked.is_some() {
            return;
        }
        let Some(subject) = self
            .traffic
            .selected
            .and_then(|seq| self.session.store.get(seq))
            .map(|r| r.subject().to_owned())
        else {
            return;
        };
        self.refresh_map(false);
        if let Some(node) = self.map.view.map.node_named(NodeKind::Channel, &subject) {
            self.map.view.picked = Some(MapPick::Node(node));
            self.filter_to(MapPick::Node(node));
        }
    }

    /// The traffic and the flows narrowed to a box or an arrow: its
    /// subject, the subjects into its stream, its consumer.
    fn filter_to(&mut self, pick: MapPick) {
        let map = &self.map.view.map;
        let node = |i: usize| map.nodes.get(i);
        // Subjects into a stream or queue node.
        let into = |i: usize| -> Vec<String> {
            map.edges
                .iter()
                .filter(|e| e.to == i && node(e.from).is_some_and(|n| n.kind == NodeKind::Channel))
                .filter_map(|e| node(e.from).map(|n| n.name.clone()))
                .collect()
        };
        let (subject, text) = match pick {
            MapPick::Node(i) => match node(i) {
                Some(n) if n.kind == NodeKind::Channel => (Some(n.name.clone()), None),
                Some(n) if n.kind == NodeKind::Producer => {
                    let out: Vec<String> = map
                        .edges
                        .iter()
                        .filter(|e| e.from == i)
                        .filter_map(|e| node(e.to).map(|n| n.name.clone()))
                        .collect();
                    (single(out), Some(n.name.clone()))
                }
                Some(n) if n.kind == NodeKind::Store => (single(into(i)), None),
                Some(_) => {
                    let from: Vec<usize> = map
                        .edges
                        .iter()
                        .filter(|e| e.to == i)
                        .map(|e| e.from)
                        .collect();
                    let subjects = from
                        .iter()
                        .flat_map(|f| match node(*f) {
                            Some(n) if n.kind == NodeKind::Channel => vec![n.name.clone()],
                            _ => into(*f),
                        })
                        .collect();
                    (single(subjects), None)
                }
                None => (None, None),
            },
            MapPick::Edge(i) => match map.edges.get(i) {
                Some(e) => {
                    let (from, to) = (node(e.from), node(e.to));
                    match (from, to) {
                        (Some(f), Some(t)) if t.kind == NodeKind::Channel => (
                            Some(t.name.clone()),
                            (f.kind == NodeKind::Producer).then(|| f.name.clone()),
                        ),
                        (Some(f), _) if f.kind == NodeKind::Channel => (Some(f.name.clone()), None),
                        (Some(f), _) if f.kind == NodeKind::Store => (single(into(e.from)), None),
                        _ => (None, None),
                    }
                }
                None => (None, None),
            },
        };
        self.traffic.subject_filter = subject.clone().unwrap_or_default();
        self.traffic.text_filter = text.unwrap_or_default();
        self.traffic.apply_filter();
        self.flows.filter_subject(subject.unwrap_or_default());
    }

    pub(super) fn copy_map_as_mermaid(&mut self) {
        self.refresh_map(true);
        self.to_clipboard = Some(crate::map::mermaid(&self.map.view.map));
        self.say(Notice::done(
            "The map copied to the clipboard as a Mermaid flowchart",
        ));
    }

    pub(super) fn save_map_as_svg(&mut self) {
        self.refresh_map(true);
        self.save_text_as("map.svg", crate::map::svg(&self.map.view.map));
    }

    /// The AsyncAPI document of the map and of the payloads the store
    /// still holds (read as the inspector reads them).
    pub(super) fn save_asyncapi(&mut self) {
        self.refresh_map(true);
        let map = &self.map.view.map;
        let store = &self.session.store;
        let schemas = &self.inspector.schemas;
        let mut samples = crate::map::asyncapi::ChannelSamples::default();
        for seq in store.first_seq()..store.end_seq() {
            if let Some(record) = store.get(seq) {
                samples.add(record, schemas);
            }
        }
        let servers: Vec<_> = self
            .session
            .profiles()
            .iter()
            .flat_map(|(_, p)| {
                let broker = p.broker().unwrap_or_default();
                p.server_list().into_iter().map(move |url| (broker, url))
            })
            .collect();
        let doc = crate::map::asyncapi::document("What eventscope saw", map, &samples, &servers);
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        self.save_text_as("asyncapi.json", text);
    }
}

/// The one subject, when there is exactly one.
fn single(mut subjects: Vec<String>) -> Option<String> {
    subjects.dedup();
    (subjects.len() == 1).then(|| subjects.remove(0))
}
