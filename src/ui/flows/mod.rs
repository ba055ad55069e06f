//! The flows view: a filterable list of reconstructed flows (counts of each
//! kind at a glance) and the sequence diagram of the selected one, or of
//! every flow of its subject in a time window.

pub(super) mod sequence_diagram;
mod toolbar;

use std::time::Duration;

use egui::{Color32, RichText, Sense};
use egui_extras::{Column, TableBuilder};

use super::format;
use crate::capture::{Seq, Store};
use crate::capture::{SubjectPattern, Timestamp};
use crate::flow::{ConsumerScope, FlowCounts};
use crate::flow::{Correlator, Final, Flow, FlowFilter, FlowId, FlowKind, format_duration};
use crate::flow::{annotate, audience};
use crate::server_answers::Directory;
use crate::ui::flows::sequence_diagram::Diagram;

/// How often the list and its counts are recomputed (they walk all flows).
const REFRESH_EVERY: f64 = 0.25;
/// Most flows drawn together in one diagram.
const MAX_DIAGRAM_FLOWS: usize = 20;
const MIN_ZOOM: f32 = 0.3;
const MAX_ZOOM: f32 = 3.0;

pub struct FlowsView {
    pub filter: FlowFilter,
    pub subject_filter: String,
    pub subject_error: Option<String>,
    pattern: Option<SubjectPattern>,
    pub selected: Option<FlowId>,
    /// Show every flow of the selected flow's subject within this window.
    pub window: Option<Duration>,
    list: Vec<FlowId>,
    counts: FlowCounts,
    refreshed_at: f64,
    dirty: bool,
    /// Diagram zoom (1 = natural size).
    pub zoom: f32,
    /// Zoom so that the diagram's width fits, until zoomed by hand.
    pub fit_width: bool,
    /// Draw a bridged event's hops on other brokers with it.
    pub show_hops: bool,
    /// The server's answer to "who receives this", shown instead of the
    /// selected flow until closed.
    pub trace: Option<Flow>,
    /// A trace was asked for and its answer is awaited.
    pub trace_waiting: bool,
    /// Only one consumer's flows (from its counters in the JetStream view).
    scope: Option<ConsumerScope>,
    /// One event followed across services: these flows, in time order,
    /// drawn as one diagram (from a search), and what was followed.
    pub followed: Option<(String, Vec<FlowId>)>,
}

impl Default for FlowsView {
    fn default() -> Self {
        Self {
            filter: FlowFilter::All,
            subject_filter: String::new(),
            subject_error: None,
            pattern: None,
            selected: None,
            window: None,
            list: Vec::new(),
            counts: FlowCounts::default(),
            refreshed_at: f64::NEG_INFINITY,
            dirty: true,
            zoom: 1.0,
            fit_width: false,
            show_hops: true,
            trace: None,
            trace_waiting: false,
            scope: None,
            followed: None,
        }
    }
}

/// What the user asked for.
pub enum FlowsAction {
    SelectRecord(Seq),
    CopyMermaid(String),
    SaveMermaid(String),
    /// Save the diagram's area of the screen (in points) as a PNG.
    SavePng(egui::Rect),
    /// Ask the server who receives a copy of this record.
    Trace(Seq),
}

impl FlowsView {
    pub fn list(&self) -> &[FlowId] {
        &self.list
    }

    pub fn counts(&self) -> FlowCounts {
        self.counts
    }

    /// Show one consumer's flows with a filter: where its counters lead.
    pub fn show_consumer(&mut self, scope: ConsumerScope, filter: FlowFilter) {
        self.scope = Some(scope);
        self.filter = filter;
        self.selected = None;
        self.dirty = true;
    }

    pub fn scope(&self) -> Option<&ConsumerScope> {
        self.scope.as_ref()
    }

    /// Show only flows whose subject matches `pattern` (empty: all).
    pub fn filter_subject(&mut self, pattern: String) {
        self.subject_filter = pattern;
        self.set_subject_filter();
    }

    fn set_subject_filter(&mut self) {
        let text = self.subject_filter.trim();
        if text.is_empty() {
            self.pattern = None;
            self.subject_error = None;
        } else {
            match SubjectPattern::parse(text) {
                Ok(p) => {
                    self.pattern = Some(p);
                    self.subject_error = None;
                }
                Err(e) => self.subject_error = Some(e.to_string()),
            }
        }
        self.dirty = true;
    }

    /// Recompute the list and counts if due (a few times a second).
    pub fn refresh(&mut self, correlator: &Correlator, now: Timestamp, time: f64) {
        if !self.dirty && time - self.refreshed_at < REFRESH_EVERY {
            return;
        }
        // One pass for both the list and the counts: this walks every flow.
        let (list, counts) = correlator.select_and_count(
            self.filter,
            self.pattern.as_ref(),
            self.scope.as_ref(),
            now,
        );
        self.list = list;
        self.counts = counts;
        self.refreshed_at = time;
        self.dirty = false;
        if self.selected.is_some_and(|id| correlator.get(id).is_none()) {
            self.selected = None;
        }
    }

    /// The flows the diagram shows.
    fn shown<'a>(&self, correlator: &'a Correlator) -> Vec<&'a Flow> {
        if let Some((_, ids)) = &self.followed {
            return ids.iter().filter_map(|id| correlator.get(*id)).collect();
        }
        let Some(selected) = self.selected.and_then(|id| correlator.get(id)) else {
            return Vec::new();
        };
        // One event across brokers: every hop, one lifeline each.
        let hops = correlator.hops_of(selected.id);
        if self.show_hops && hops.len() > 1 {
            return hops.iter().filter_map(|id| correlator.get(*id)).collect();
        }
        let Some(window) = self.window else {
            return vec![selected];
        };
        let window = window.as_nanos() as i64;
        let from = selected.started_at - window / 2;
        let to = selected.started_at + window / 2;
        let mut flows: Vec<&Flow> = correlator
            .started_within(from, to)
            .filter(|f| f.subject == selected.subject && f.kind == selected.kind)
            .collect();
        if flows.len() > MAX_DIAGRAM_FLOWS {
            // Keep those nearest the selected flow.
            flows.sort_by_key(|f| (f.started_at - selected.started_at).abs());
            flows.truncate(MAX_DIAGRAM_FLOWS);
            flows.sort_by_key(|f| f.started_at);
        }
        flows
    }
}

fn final_color(ui: &egui::Ui, f: Option<Final>) -> Color32 {
    let p = crate::ui::palette::of(ui);
    match f {
        Some(
            Final::Acked | Final::Replied | Final::Stored | Final::Delivered | Final::Processed,
        ) => p.good,
        Some(
            Final::Terminated
            | Final::MaxDeliveries
            | Final::NoReply
            | Final::PublishFailed
            | Final::ServiceError
            | Final::Removed
            | Final::DeadLettered
            | Final::Expired
            | Final::Unroutable,
        ) => p.bad,
        Some(Final::Pending | Final::Unmatched) => p.retry,
        Some(Final::NotRetained) => p.bad,
        None => p.muted,
    }
}

pub fn flow_list_ui(
    ui: &mut egui::Ui,
    view: &mut FlowsView,
    correlator: &Correlator,
    now: Timestamp,
) {
    let time = ui.input(|i| i.time);
    view.refresh(correlator, now, time);
    filters_ui(ui, view, correlator);
    let clicked = flow_table_ui(ui, view, correlator, now);
    if let Some(id) = clicked {
        view.selected = Some(id);
        view.followed = None;
    }
}

/// The list's filters with their counts, the subject filter, evictions.
fn filters_ui(ui: &mut egui::Ui, view: &mut FlowsView, correlator: &Correlator) {
    ui.horizontal_wrapped(|ui| {
        for filter in FlowFilter::ALL {
            let count = match filter {
                FlowFilter::All => view.counts.all,
                FlowFilter::Retries => view.counts.retries,
                FlowFilter::Failed => view.counts.failed,
                FlowFilter::Slow => view.counts.slow,
            };
            let text = format!("{} ({})", filter.label(), format::count(count as u64));
            if ui.selectable_label(view.filter == filter, text).clicked() {
                view.filter = filter;
                view.dirty = true;
            }
        }
    });
    ui.horizontal(|ui| {
        if super::labelled_text_edit(ui, "Flow subject", &mut view.subject_filter, 180.0).changed()
        {
            view.set_subject_filter();
        }
    });
    if let Some(e) = &view.subject_error {
        ui.colored_label(crate::ui::palette::of(ui).bad, e);
    }
    if let Some(scope) = &view.scope {
        let text = format!("stream {} · consumer {}", scope.stream, scope.consumer);
        ui.horizontal(|ui| {
            ui.label(RichText::new(text).strong());
            if ui
                .small_button("×")
                .on_hover_text("Show every consumer's flows")
                .clicked()
            {
                view.scope = None;
                view.dirty = true;
            }
        });
        if view.list.is_empty() {
            ui.label(
                RichText::new(
                    "No flows of this consumer seen yet: nothing live so far, and no flight \
                     recorder history loaded (JetStream view, top line).",
                )
                .weak(),
            );
        }
    }
    if correlator.evicted() > 0 {
        ui.label(
            RichText::new(format!(
                "{} older flows evicted",
                format::count(correlator.evicted())
            ))
            .weak(),
        );
    }
}

/// One row per listed flow (virtualised); returns the flow clicked.
fn flow_table_ui(
    ui: &mut egui::Ui,
    view: &FlowsView,
    correlator: &Correlator,
    now: Timestamp,
) -> Option<FlowId> {
    let start = view
        .list
        .first()
        .and_then(|id| correlator.get(*id))
        .map_or(0, |f| f.started_at);
    let mut clicked = None;
    ui.push_id("flow-list", |ui| {
        ui.style_mut().interaction.selectable_labels = false;
        TableBuilder::new(ui)
            .striped(true)
            .sense(Sense::click())
            .stick_to_bottom(true)
            .column(Column::exact(84.0))
            .column(Column::exact(64.0))
            .column(Column::remainder().clip(true))
            .column(Column::exact(92.0))
            .header(18.0, |mut h| {
                for title in ["Time", "Kind", "Flow", "Outcome"] {
                    h.col(|ui| {
                        ui.strong(title);
                    });
                }
            })
            .body(|body| {
                body.rows(20.0, view.list.len(), |mut row| {
                    let Some(flow) = view
                        .list
                        .get(row.index())
                        .and_then(|id| correlator.get(*id))
                    else {
                        return;
                    };
                    row.set_selected(view.selected == Some(flow.id));
                    let final_outcome = correlator.final_of(flow, now);
                    row.col(|ui| {
                        ui.label(
                            RichText::new(format!("+{}", format_duration(flow.started_at - start)))
                                .monospace()
                                .size(11.0),
                        );
                    });
                    row.col(|ui| {
                        ui.label(match flow.kind {
                            FlowKind::Jetstream => "JetStream",
                            FlowKind::Kv => "KV",
                            FlowKind::Object => "object",
                            FlowKind::Request => "request",
                            FlowKind::Publish => "publish",
                            FlowKind::Queued => "queued",
                            FlowKind::Logged => "log",
                        });
                    });
                    row.col(|ui| {
                        let mut title = crate::flow::title(flow);
                        let retries = flow
                            .detail()
                            .deliveries
                            .iter()
                            .map(|d| d.count)
                            .max()
                            .unwrap_or(0);
                        if retries > 1 {
                            title.push_str(&format!(" · {retries} deliveries"));
                        }
                        if flow.duplicates > 0 || flow.duplicate_of.is_some() {
                            title.push_str(" · duplicate id");
                        }
                        ui.label(title);
                    });
                    row.col(|ui| {
                        let text = match (final_outcome, flow.latency()) {
                            (Some(Final::Replied), Some(l)) => {
                                format!("replied {}", format_duration(l))
                            }
                            (f, _) => f.map_or("-", Final::label).to_owned(),
                        };
                        ui.colored_label(final_color(ui, final_outcome), text);
                    });
                    if row.response().clicked() {
                        clicked = Some(flow.id);
                    }
                });
            });
    });
    clicked
}

/// The selected flow: its title, producer, ids, duplicates.
/// Where the flow's steps were seen: live connections, or the flight
/// recorder (answers recorded while no eventscope ran).
fn sources_ui(ui: &mut egui::Ui, flow: &Flow, store: &Store) {
    let mut sources: Vec<(&str, usize)> = Vec::new();
    for seq in flow.detail().steps.iter().filter_map(|s| s.record) {
        let Some(record) = store.get(seq) else {
            continue;
        };
        let name = store.connection_name(record.connection);
        match sources.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => sources.push((name, 1)),
        }
    }
    if sources.len() > 1 || sources.iter().any(|(n, _)| n.starts_with("recorder ")) {
        let text: Vec<String> = sources
            .iter()
            .map(|(name, count)| {
                if name.starts_with("recorder ") {
                    format!("{count} from the {name} (before this window opened)")
                } else {
                    format!("{count} seen live on {name}")
                }
            })
            .collect();
        ui.label(RichText::new(format!("Steps: {}", text.join(", "))).weak());
    }
}

fn flow_header_ui(ui: &mut egui::Ui, selected: &Flow) {
    ui.horizontal_wrapped(|ui| {
        ui.strong(format!(
            "Flow {}: {}",
            selected.id,
            crate::flow::title(selected)
        ));
        if let Some(p) = &selected.producer {
            ui.label(format!("producer {p}"));
        } else {
            ui.label(RichText::new("no producer header").weak());
        }
        if let Some(id) = &selected.msg_id {
            ui.label(RichText::new(format!("id {id}")).monospace());
        }
        if let Some(trace) = &selected.trace_id {
            ui.label(RichText::new(format!("trace {trace}")).monospace().weak());
        }
        if selected.duplicates > 0 || selected.duplicate_of.is_some() {
            ui.colored_label(
                crate::ui::palette::of(ui).retry,
                "⚠ the same message id was published more than once",
            );
        }
    });
}

/// How the server settled the selected flow, in words, where its final
/// alone does not say (a removal's reason, a service error, linked copies).
fn verdict_ui(ui: &mut egui::Ui, selected: &Flow, correlator: &Correlator, now: Timestamp) {
    let verdict = correlator.verdict(selected, now);
    let lines = verdict.explain(selected);
    if lines.is_empty() {
        return;
    }
    let colour = final_color(ui, verdict.final_outcome);
    ui.horizontal_wrapped(|ui| {
        for line in lines {
            ui.colored_label(colour, line);
        }
    });
}

/// The diagram itself, lanes named from the server's connection list
/// where it knows them; zoom with Ctrl+wheel, a click selects a record.
fn canvas_ui(
    ui: &mut egui::Ui,
    view: &mut FlowsView,
    flows: Vec<&Flow>,
    correlator: &Correlator,
    directory: Option<&Directory>,
    now: Timestamp,
    actions: &mut Vec<FlowsAction>,
) {
    // Lanes named from the server's connection list, where it knows them.
    let annotated: Vec<Flow> = match directory {
        Some(d) => flows
            .iter()
            .map(|f| {
                annotate(f, d, |s, c| {
                    correlator
                        .pull_inboxes(s, c)
                        .into_iter()
                        .map(str::to_owned)
                        .collect()
                })
            })
            .collect(),
        None => Vec::new(),
    };
    let flows: Vec<&Flow> = if annotated.is_empty() {
        flows
    } else {
        annotated.iter().collect()
    };
    let no_reply: Vec<bool> = flows
        .iter()
        .map(|f| correlator.final_of(f, now) == Some(Final::NoReply) && f.kind == FlowKind::Request)
        .collect();
    let diagram = Diagram::new(&flows, &no_reply);
    let diagram_rect = ui.available_rect_before_wrap();
    if let Some(FlowsAction::SavePng(rect)) = actions.last_mut() {
        *rect = diagram_rect;
    }
    let mut clicked = None;
    if view.fit_width {
        // Room for the vertical scroll bar.
        let natural = diagram.size().x.max(1.0);
        view.zoom = ((diagram_rect.width() - 16.0) / natural).clamp(MIN_ZOOM, 1.0);
    }
    let zoom = view.zoom;
    let scroll = egui::ScrollArea::both()
        .id_salt("diagram-scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let (rect, _) = ui.allocate_exact_size(diagram.size() * zoom, Sense::hover());
            clicked = diagram.paint(ui, rect.min, zoom);
        });
    if ui.rect_contains_pointer(scroll.inner_rect) {
        let delta = ui.input(|i| i.zoom_delta());
        if delta != 1.0 {
            view.fit_width = false;
            view.zoom = (view.zoom * delta).clamp(MIN_ZOOM, MAX_ZOOM);
        }
    }
    if let Some(seq) = clicked {
        actions.push(FlowsAction::SelectRecord(seq));
    }
}

/// The diagram of a trace result, with the way back.
fn trace_ui(ui: &mut egui::Ui, view: &mut FlowsView) {
    let Some(trace) = &view.trace else {
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.strong(format!("Who receives {}", trace.subject));
        ui.label(
            RichText::new("the server's trace of a copy published with Nats-Trace-Only: nothing was delivered or stored")
                .weak(),
        );
    });
    let diagram = Diagram::new(&[trace], &[]);
    let zoom = view.zoom;
    let close = ui.button("Back to the flow").clicked();
    egui::ScrollArea::both()
        .id_salt("trace-scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let (rect, _) = ui.allocate_exact_size(diagram.size() * zoom, Sense::hover());
            diagram.paint(ui, rect.min, zoom);
        });
    if close {
        view.trace = None;
    }
}

pub fn diagram_ui(
    ui: &mut egui::Ui,
    view: &mut FlowsView,
    correlator: &Correlator,
    store: &Store,
    directory: Option<&Directory>,
    now: Timestamp,
) -> Vec<FlowsAction> {
    let mut actions = Vec::new();
    if view.trace.is_some() {
        trace_ui(ui, view);
        return actions;
    }
    let materialized: Vec<std::borrow::Cow<'_, Flow>> = view
        .shown(correlator)
        .into_iter()
        .map(|f| f.materialized())
        .collect();
    let flows: Vec<&Flow> = materialized.iter().map(|f| f.as_ref()).collect();
    if let Some((what, ids)) = &view.followed {
        let mut stop = false;
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(format!(
                    "Following {what}: {} flows in time order",
                    ids.len()
                ))
                .strong(),
            );
            stop = ui.button("Stop following").clicked();
        });
        if stop {
            view.followed = None;
        }
    }
    let Some(first) = flows.first() else {
        ui.centered_and_justified(|ui| {
            ui.label(
                RichText::new("Select a flow on the left to see its sequence diagram.").weak(),
            );
        });
        return actions;
    };
    let selected = view
        .selected
        .and_then(|id| correlator.get(id))
        .unwrap_or(first);
    flow_header_ui(ui, selected);
    verdict_ui(ui, selected, correlator, now);
    sources_ui(ui, selected, store);
    toolbar::toolbar_ui(ui, view, selected, &flows, &mut actions);
    // The server's connection list is NATS's: it says nothing of an MQTT
    // topic or a RabbitMQ exchange.
    if let Some(directory) = directory
        && selected.kind == FlowKind::Publish
        && selected.broker == crate::capture::BrokerKind::Nats
    {
        let audience = audience(directory, &selected.subject);
        let text = if audience.is_empty() {
            "no subscriber (per the server's connection list)".to_owned()
        } else {
            format!(
                "subscribed, per the server's connection list: {}",
                audience.join("; ")
            )
        };
        ui.label(RichText::new(text).weak());
    }
    canvas_ui(ui, view, flows, correlator, directory, now, &mut actions);
    actions
}
