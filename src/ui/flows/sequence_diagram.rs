//! Draws flows as a sequence diagram: lifelines for producers, subjects,
//! streams and consumers; an arrow per step with relative time; retries
//! coloured and numbered, ack-wait expiries and max deliveries as markers.
//! Drawn at any zoom inside a scroll area (pan with the scroll bars or by
//! dragging, zoom with Ctrl+wheel); clicking an arrow selects its record.

use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, Vec2};

use crate::capture::Seq;
use crate::flow::{
    AckBody, AdvisoryKind, Flow, Layout, Role, Row, RowKind, StepKind, format_duration, title,
};
use crate::ui::palette::{self, Palette};

const LANE_WIDTH: f32 = 180.0;
const HEADER_HEIGHT: f32 = 54.0;
const ROW_HEIGHT: f32 = 34.0;
const TIME_MARGIN: f32 = 78.0;

fn color(p: &Palette, kind: &StepKind) -> Color32 {
    match kind {
        StepKind::Publish | StepKind::Request => p.publish,
        StepKind::DuplicatePublish => p.retry,
        StepKind::PubAck { duplicate: true } => p.retry,
        StepKind::PubAck { .. } => p.muted,
        StepKind::PublishError | StepKind::NoReply => p.bad,
        StepKind::Reply => p.reply,
        StepKind::Deliver { count: 1 } => p.deliver,
        StepKind::Deliver { .. } => p.retry,
        StepKind::Answer(AckBody::Ack | AckBody::Next) => p.good,
        StepKind::Answer(AckBody::Nak { .. }) => p.retry,
        StepKind::Answer(AckBody::Term { .. }) => p.bad,
        StepKind::Answer(AckBody::Progress) => p.progress,
        StepKind::AckWaitExpired | StepKind::DeadLetter => p.bad,
        StepKind::Route => p.muted,
        StepKind::Advisory(AdvisoryKind::MaxDeliveries) => p.bad,
        StepKind::Advisory(_) | StepKind::Trace => p.muted,
    }
}

/// The diagram of the given flows, laid out by `flow::Layout` (the same
/// layout as the Mermaid export).
pub struct Diagram<'a> {
    layout: Layout<'a>,
}

/// What a row says.
fn label<'a>(row: &Row<'a>) -> std::borrow::Cow<'a, str> {
    match row.kind {
        RowKind::Step(step) => step.label.as_str().into(),
        RowKind::FlowTitle(flow) => format!("flow {}: {}", flow.id, title(flow)).into(),
        RowKind::NoReply => "no reply (timed out, or no responders)".into(),
    }
}

impl<'a> Diagram<'a> {
    /// `no_reply`: flows (by index) whose request went unanswered.
    pub fn new(flows: &[&'a Flow], no_reply: &[bool]) -> Self {
        Self {
            layout: Layout::new(flows, no_reply),
        }
    }

    /// Size at zoom 1.
    pub fn size(&self) -> Vec2 {
        Vec2::new(
            // Room on the right for the labels of markers on the last lane.
            TIME_MARGIN + self.layout.lanes.len().max(1) as f32 * LANE_WIDTH + LANE_WIDTH,
            HEADER_HEIGHT + self.layout.rows.len() as f32 * ROW_HEIGHT + 30.0,
        )
    }

    fn lane_x(&self, origin: Pos2, lane: usize, z: f32) -> f32 {
        origin.x + (TIME_MARGIN + (lane as f32 + 0.5) * LANE_WIDTH) * z
    }

    /// Draw at `origin`, scaled by `z`. Returns the record of a clicked arrow.
    pub fn paint(&self, ui: &mut egui::Ui, origin: Pos2, z: f32) -> Option<Seq> {
        let size = self.size() * z;
        let area = Rect::from_min_size(origin, size);
        let painter = ui.painter_at(area.expand(4.0));
        let visuals = ui.visuals().clone();
        let p = palette::for_visuals(&visuals);
        painter.rect_filled(area, 6.0, visuals.extreme_bg_color);
        let bottom = area.bottom() - 10.0 * z;
        self.paint_lanes(&painter, p, origin, bottom, z);
        let mut clicked = None;
        for (i, row) in self.layout.rows.iter().enumerate() {
            let y = origin.y + (HEADER_HEIGHT + (i as f32 + 0.7) * ROW_HEIGHT) * z;
            painter.text(
                Pos2::new(origin.x + (TIME_MARGIN - 10.0) * z, y),
                Align2::RIGHT_CENTER,
                format!("+{}", format_duration(row.at - self.layout.start)),
                FontId::monospace(10.5 * z),
                visuals.weak_text_color(),
            );
            let (x1, x2) = (
                self.lane_x(origin, row.from, z),
                self.lane_x(origin, row.to, z),
            );
            let (label_rect, color, is_marker) = match row.kind {
                RowKind::FlowTitle(_) => {
                    painter.line_segment(
                        [
                            Pos2::new(origin.x + TIME_MARGIN * z, y + 10.0 * z),
                            Pos2::new(area.right() - 10.0 * z, y + 10.0 * z),
                        ],
                        Stroke::new(1.0, p.rule),
                    );
                    let rect = Rect::from_min_size(
                        Pos2::new(origin.x + TIME_MARGIN * z, y - 10.0 * z),
                        Vec2::new(size.x - (TIME_MARGIN + 20.0) * z, 18.0 * z),
                    );
                    (rect, visuals.strong_text_color(), true)
                }
                RowKind::NoReply => (marker(&painter, x1, y, z, p.bad, "✖"), p.bad, true),
                RowKind::Step(step)
                    if row.from == row.to
                        || matches!(step.kind, StepKind::Advisory(AdvisoryKind::MaxDeliveries)) =>
                {
                    let kind = &step.kind;
                    let c = color(p, kind);
                    let x = if row.from == row.to { x1 } else { x2 };
                    let symbol = match kind {
                        StepKind::AckWaitExpired => "⏱",
                        StepKind::Advisory(AdvisoryKind::MaxDeliveries) => "✖",
                        _ => "•",
                    };
                    (marker(&painter, x, y, z, c, symbol), c, true)
                }
                RowKind::Step(step) => {
                    let kind = &step.kind;
                    let c = color(p, kind);
                    let dashed = matches!(
                        kind,
                        StepKind::PubAck { .. }
                            | StepKind::Reply
                            | StepKind::Answer(_)
                            | StepKind::Advisory(_)
                    );
                    arrow(&painter, Pos2::new(x1, y), Pos2::new(x2, y), z, c, dashed);
                    let (left, right) = (x1.min(x2), x1.max(x2));
                    let rect = Rect::from_min_max(
                        Pos2::new(left + 6.0 * z, y - 17.0 * z),
                        Pos2::new(right - 6.0 * z, y - 2.0 * z),
                    );
                    (rect, c, false)
                }
            };
            let text = egui::RichText::new(label(row)).size(11.5 * z).color(color);
            let button = egui::Button::new(text)
                .frame(false)
                .wrap_mode(egui::TextWrapMode::Extend)
                .sense(if row.record.is_some() {
                    Sense::click()
                } else {
                    Sense::hover()
                });
            let response = if is_marker {
                // Markers: the label starts right of the marker.
                let layout = egui::Layout::left_to_right(egui::Align::Center);
                ui.scope_builder(
                    egui::UiBuilder::new().max_rect(label_rect).layout(layout),
                    |ui| ui.add(button),
                )
                .inner
            } else {
                ui.put(label_rect, button)
            };
            if response.clicked() {
                clicked = row.record;
            }
            if let Some(seq) = row.record {
                response.on_hover_text(format!("record #{seq}: click to inspect"));
            }
        }
        clicked
    }

    /// Each lane's head (name and role) and its lifeline down to `bottom`.
    fn paint_lanes(&self, painter: &egui::Painter, p: &Palette, origin: Pos2, bottom: f32, z: f32) {
        for (i, lane) in self.layout.lanes.iter().enumerate() {
            let x = self.lane_x(origin, i, z);
            let head = Rect::from_center_size(
                Pos2::new(x, origin.y + 24.0 * z),
                Vec2::new(LANE_WIDTH - 24.0, 36.0) * z,
            );
            let fill = match lane.role {
                Role::Producer => p.producer_fill,
                Role::Subject => p.subject_fill,
                Role::Stream => p.stream_fill,
                Role::Consumer => p.consumer_fill,
            };
            painter.rect_filled(head, 5.0, fill);
            painter.text(
                head.center() - Vec2::new(0.0, 6.0) * z,
                Align2::CENTER_CENTER,
                truncate(&lane.name, 24),
                FontId::proportional(13.0 * z),
                p.box_text,
            );
            let role = match lane.role {
                Role::Producer => "producer",
                Role::Subject => "subject",
                Role::Stream => "stream",
                Role::Consumer => "consumer",
            };
            painter.text(
                head.center() + Vec2::new(0.0, 10.0) * z,
                Align2::CENTER_CENTER,
                role,
                FontId::proportional(10.0 * z),
                p.box_subtext,
            );
            painter.extend(egui::Shape::dashed_line(
                &[Pos2::new(x, head.bottom()), Pos2::new(x, bottom)],
                Stroke::new(1.0, p.rule),
                6.0,
                4.0,
            ));
        }
    }
}

/// A marker on a lane; returns where its label goes.
fn marker(painter: &egui::Painter, x: f32, y: f32, z: f32, color: Color32, symbol: &str) -> Rect {
    let r = Rect::from_center_size(Pos2::new(x, y - 2.0 * z), Vec2::splat(16.0 * z));
    painter.rect_filled(r, 3.0, color.gamma_multiply(0.35));
    painter.rect_stroke(r, 3.0, Stroke::new(1.0, color), egui::StrokeKind::Inside);
    painter.text(
        r.center(),
        Align2::CENTER_CENTER,
        symbol,
        FontId::proportional(11.0 * z),
        color,
    );
    Rect::from_min_size(
        Pos2::new(x + 12.0 * z, y - 11.0 * z),
        Vec2::new(LANE_WIDTH * 1.6, 18.0) * z,
    )
}

fn arrow(painter: &egui::Painter, from: Pos2, to: Pos2, z: f32, color: Color32, dashed: bool) {
    let stroke = Stroke::new(1.6, color);
    let dir = if to.x >= from.x { 1.0 } else { -1.0 };
    let tip = Pos2::new(to.x - dir * 2.0, to.y);
    if dashed {
        painter.extend(egui::Shape::dashed_line(
            &[from, tip],
            stroke,
            5.0 * z,
            3.0 * z,
        ));
    } else {
        painter.line_segment([from, tip], stroke);
    }
    let back = Vec2::new(-dir * 9.0 * z, 0.0);
    painter.add(egui::Shape::convex_polygon(
        vec![
            tip,
            tip + back + Vec2::new(0.0, 4.5 * z),
            tip + back - Vec2::new(0.0, 4.5 * z),
        ],
        color,
        Stroke::NONE,
    ));
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}
