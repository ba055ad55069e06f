//! The Map view: the system as boxes and arrows (producers, subjects,
//! streams and queues, consumers), arrows as thick as their rate and
//! coloured by what went wrong on them. A click on a box or an arrow
//! filters the traffic and the flows to it; the side panel says what it
//! carried and leads there.

use egui::{Align2, Color32, FontId, Pos2, Rect, RichText, Sense, Stroke, Vec2};

use super::format;
use super::palette::{self, Palette};
use crate::map::{Health, MapLayout, NODE_HEIGHT, NODE_WIDTH, NodeKind, SystemMap};

/// What is picked on the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapPick {
    Node(usize),
    Edge(usize),
}

/// A pick by names, which outlive the map's numbering: a box (kind,
/// name), or an arrow from it to another box.
type PickKey = (NodeKind, String, Option<(NodeKind, String)>);

pub struct MapView {
    pub map: SystemMap,
    layout: MapLayout,
    pub picked: Option<MapPick>,
    pub zoom: f32,
    /// Zoomed to the panel's width (until Ctrl+wheel zooms by hand).
    pub fit: bool,
}

impl Default for MapView {
    fn default() -> Self {
        Self {
            map: SystemMap::default(),
            layout: MapLayout::default(),
            picked: None,
            zoom: 1.0,
            fit: true,
        }
    }
}

impl MapView {
    /// A new map; what was picked stays picked if it is still there.
    pub fn set_map(&mut self, map: SystemMap) {
        let picked = self.picked.and_then(|p| self.pick_key(p));
        self.layout = MapLayout::new(&map);
        self.map = map;
        self.picked = picked.and_then(|key| self.find_key(&key));
    }

    fn pick_key(&self, pick: MapPick) -> Option<PickKey> {
        let node = |i: usize| self.map.nodes.get(i).map(|n| (n.kind, n.name.clone()));
        match pick {
            MapPick::Node(i) => node(i).map(|(k, n)| (k, n, None)),
            MapPick::Edge(i) => {
                let e = self.map.edges.get(i)?;
                let (fk, fname) = node(e.from)?;
                Some((fk, fname, node(e.to)))
            }
        }
    }

    fn find_key(&self, key: &PickKey) -> Option<MapPick> {
        let from = self.map.node_named(key.0, &key.1)?;
        match &key.2 {
            None => Some(MapPick::Node(from)),
            Some((kind, name)) => {
                let to = self.map.node_named(*kind, name)?;
                self.map
                    .edges
                    .iter()
                    .position(|e| e.from == from && e.to == to)
                    .map(MapPick::Edge)
            }
        }
    }
}

/// What the user asked of the map.
#[derive(Clone, Debug, PartialEq)]
pub enum MapAction {
    /// Filter the traffic and the flows to this.
    Picked(MapPick),
    ShowTraffic,
    ShowFlows,
    CopyMermaid,
    SaveSvg,
    SavePng(Rect),
    SaveAsyncApi,
}

pub fn map_ui(ui: &mut egui::Ui, view: &mut MapView) -> Vec<MapAction> {
    let mut actions = Vec::new();
    let map_rect = std::cell::Cell::new(Rect::NOTHING);
    egui::Panel::top("map-bar").show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            let map = &view.map;
            ui.label(format!(
                "{} boxes, {} arrows from {} flows over {}",
                map.nodes.len(),
                map.edges.len(),
                format::count(map.flows),
                format::seconds(map.span_seconds)
            ));
            if map.edges_left_out > 0 {
                ui.colored_label(
                    palette::of(ui).warn,
                    format!("{} quieter arrows not drawn", map.edges_left_out),
                );
            }
            ui.separator();
            if ui.button("Copy Mermaid").clicked() {
                actions.push(MapAction::CopyMermaid);
            }
            if ui.button("Save SVG…").clicked() {
                actions.push(MapAction::SaveSvg);
            }
            if ui.button("Save PNG…").clicked() {
                actions.push(MapAction::SavePng(Rect::NOTHING));
            }
            if ui.button("Save AsyncAPI…").clicked() {
                actions.push(MapAction::SaveAsyncApi);
            }
            ui.toggle_value(&mut view.fit, "Fit width")
                .on_hover_text("Zoom the map to the panel's width (Ctrl+wheel zooms by hand)");
            ui.separator();
            legend_ui(ui);
        });
    });
    if let Some(pick) = view.picked {
        egui::Panel::right("map-picked")
            .resizable(true)
            .default_size(crate::ui::side_default(ui, 280.0))
            .size_range(crate::ui::side_range(ui))
            .show(ui, |ui| picked_ui(ui, view, pick, &mut actions));
    }
    egui::CentralPanel::default().show(ui, |ui| {
        if view.map.nodes.is_empty() {
            ui.label(
                RichText::new(
                    "Nothing to draw yet: the map is made from the flows (connect, or open a capture file).",
                )
                .weak(),
            );
            return;
        }
        if ui.input(|i| i.modifiers.command) {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0 {
                view.fit = false;
                view.zoom = (view.zoom * (1.0 + scroll / 400.0)).clamp(0.3, 3.0);
            }
        }
        if view.fit && view.layout.width > 0.0 {
            view.zoom = ((ui.available_width() - 12.0) / view.layout.width).clamp(0.4, 1.0);
        }
        egui::ScrollArea::both()
            .id_salt("map-scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if let Some(pick) = draw_map(ui, view, &map_rect) {
                    view.picked = Some(pick);
                    actions.push(MapAction::Picked(pick));
                }
            });
    });
    for action in &mut actions {
        if let MapAction::SavePng(rect) = action {
            *rect = map_rect.get();
        }
    }
    actions
}

fn legend_ui(ui: &mut egui::Ui) {
    let p = palette::of(ui);
    for (colour, what) in [
        (p.muted, "fine"),
        (p.progress, "waiting"),
        (p.retry, "retries"),
        (p.bad, "failures, dead letters"),
    ] {
        let (swatch, _) = ui.allocate_exact_size(Vec2::new(16.0, 4.0), Sense::hover());
        ui.painter().rect_filled(swatch, 1.0, colour);
        ui.label(what);
    }
}

fn health_colour(p: &Palette, health: Health) -> Color32 {
    match health {
        Health::Fine => p.muted,
        Health::Waiting => p.progress,
        Health::Retrying => p.retry,
        Health::Failing => p.bad,
    }
}

fn node_fill(p: &Palette, kind: NodeKind) -> Color32 {
    match kind {
        NodeKind::Producer => p.producer_fill,
        NodeKind::Channel => p.subject_fill,
        NodeKind::Store => p.stream_fill,
        NodeKind::Consumer => p.consumer_fill,
    }
}

/// Draws the map; returns what was clicked.
fn draw_map(
    ui: &mut egui::Ui,
    view: &MapView,
    map_rect: &std::cell::Cell<Rect>,
) -> Option<MapPick> {
    let z = view.zoom;
    let size = Vec2::new(view.layout.width, view.layout.height) * z;
    let (area, response) = ui.allocate_exact_size(size, Sense::click());
    map_rect.set(area.intersect(ui.clip_rect()));
    let painter = ui.painter_at(area);
    let p = palette::of(ui);
    let origin = area.min;
    let at = |(x, y): (f32, f32)| origin + Vec2::new(x, y) * z;
    let pointer = response.hover_pos();
    let mut hovered = None;
    let mut curves = Vec::with_capacity(view.map.edges.len());
    for (i, edge) in view.map.edges.iter().enumerate() {
        let (Some(from), Some(to)) = (
            view.layout.nodes.get(edge.from),
            view.layout.nodes.get(edge.to),
        ) else {
            continue;
        };
        let points = crate::map::edge_curve(from, to).map(at);
        let width = crate::map::edge_width(edge.rate) * z.max(0.5);
        if let Some(pointer) = pointer
            && near_curve(&points, pointer, width / 2.0 + 4.0)
        {
            hovered = Some(MapPick::Edge(i));
        }
        curves.push((i, points, width, edge.health()));
    }
    for (i, points, width, health) in &curves {
        let picked = view.picked == Some(MapPick::Edge(*i)) || hovered == Some(MapPick::Edge(*i));
        let colour = health_colour(p, *health);
        let stroke = Stroke::new(if picked { width + 2.0 } else { *width }, colour);
        painter.add(egui::epaint::CubicBezierShape::from_points_stroke(
            *points,
            false,
            Color32::TRANSPARENT,
            stroke,
        ));
        // The arrowhead, at the receiving box, along the curve's end.
        let tip = points[3];
        let along = (points[3] - points[2]).normalized();
        let across = along.rot90();
        painter.add(egui::Shape::convex_polygon(
            vec![
                tip,
                tip - along * 8.0 * z + across * 4.5 * z,
                tip - along * 8.0 * z - across * 4.5 * z,
            ],
            colour,
            Stroke::NONE,
        ));
    }
    let mut clicked = None;
    for (i, (node, place)) in view.map.nodes.iter().zip(&view.layout.nodes).enumerate() {
        let rect = Rect::from_min_size(
            at((place.x, place.y)),
            Vec2::new(NODE_WIDTH, NODE_HEIGHT) * z,
        );
        // Each box is a widget: clickable, and named for screen readers.
        let boxed = ui.interact(rect, ui.scope_id().with(("map-node", i)), Sense::click());
        boxed.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::Button, true, node.name.as_str())
        });
        if boxed.hovered() {
            hovered = Some(MapPick::Node(i));
        }
        if boxed.clicked() {
            clicked = Some(MapPick::Node(i));
        }
        let picked = view.picked == Some(MapPick::Node(i)) || hovered == Some(MapPick::Node(i));
        painter.rect(
            rect,
            6.0 * z,
            node_fill(p, node.kind),
            Stroke::new(
                if picked { 2.5 } else { 1.0 },
                if picked { p.publish } else { p.rule },
            ),
            egui::StrokeKind::Inside,
        );
        painter.text(
            rect.center() - Vec2::new(0.0, 6.0) * z,
            Align2::CENTER_CENTER,
            crate::map::short(&node.name, 28),
            FontId::proportional(12.5 * z),
            p.box_text,
        );
        painter.text(
            rect.center() + Vec2::new(0.0, 10.0) * z,
            Align2::CENTER_CENTER,
            format!("{} · {}", node.kind.label(), node.brokers_label()),
            FontId::proportional(9.5 * z),
            p.box_subtext,
        );
    }
    if let Some(pick) = hovered {
        let text = match pick {
            MapPick::Node(i) => {
                let n = &view.map.nodes[i];
                format!(
                    "{}\n{} on {}: {} messages",
                    n.name,
                    n.kind.label(),
                    n.brokers_label(),
                    n.messages
                )
            }
            MapPick::Edge(i) => {
                let e = &view.map.edges[i];
                format!(
                    "{} -> {}\n{}",
                    view.map.nodes[e.from].name,
                    view.map.nodes[e.to].name,
                    crate::map::edge_label(e)
                )
            }
        };
        response.clone().on_hover_text(text);
    }
    clicked.or(if response.clicked() { hovered } else { None })
}

/// Whether `pointer` is within `reach` of the cubic Bézier through `points`.
fn near_curve(points: &[Pos2; 4], pointer: Pos2, reach: f32) -> bool {
    let bounds = Rect::from_points(points).expand(reach);
    if !bounds.contains(pointer) {
        return false;
    }
    let curve = egui::epaint::CubicBezierShape::from_points_stroke(
        *points,
        false,
        Color32::TRANSPARENT,
        Stroke::NONE,
    );
    let samples: Vec<Pos2> = (0..=24).map(|i| curve.sample(i as f32 / 24.0)).collect();
    samples.windows(2).any(|w| {
        let segment = w[1] - w[0];
        let t = ((pointer - w[0]).dot(segment) / segment.length_sq().max(1e-6)).clamp(0.0, 1.0);
        (w[0] + segment * t).distance(pointer) <= reach
    })
}

fn picked_ui(ui: &mut egui::Ui, view: &MapView, pick: MapPick, actions: &mut Vec<MapAction>) {
    let map = &view.map;
    match pick {
        MapPick::Node(i) => {
            let Some(node) = map.nodes.get(i) else { return };
            ui.label(RichText::new(&node.name).strong());
            ui.label(format!("{} on {}", node.kind.label(), node.brokers_label()));
            ui.label(format!("{} messages", format::count(node.messages)));
            ui.separator();
            for (dir, edges) in [
                (
                    "in",
                    map.edges.iter().filter(|e| e.to == i).collect::<Vec<_>>(),
                ),
                ("out", map.edges.iter().filter(|e| e.from == i).collect()),
            ] {
                for e in edges {
                    let other = if dir == "in" { e.from } else { e.to };
                    ui.colored_label(
                        health_colour(palette::of(ui), e.health()),
                        format!(
                            "{} {}: {}",
                            if dir == "in" { "from" } else { "to" },
                            crate::map::short(&map.nodes[other].name, 40),
                            crate::map::edge_label(e)
                        ),
                    );
                }
            }
        }
        MapPick::Edge(i) => {
            let Some(e) = map.edges.get(i) else { return };
            ui.label(
                RichText::new(format!(
                    "{} -> {}",
                    crate::map::short(&map.nodes[e.from].name, 40),
                    crate::map::short(&map.nodes[e.to].name, 40)
                ))
                .strong(),
            );
            ui.colored_label(
                health_colour(palette::of(ui), e.health()),
                crate::map::edge_label(e),
            );
        }
    }
    ui.separator();
    ui.label(RichText::new("The traffic and the flows are filtered to this.").weak());
    ui.horizontal(|ui| {
        if ui.button("Show traffic").clicked() {
            actions.push(MapAction::ShowTraffic);
        }
        if ui.button("Show flows").clicked() {
            actions.push(MapAction::ShowFlows);
        }
    });
}
