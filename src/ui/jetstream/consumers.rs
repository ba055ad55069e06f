//! A stream's consumer report (what natscli's consumer report gives), its
//! filters for unhealthy consumers, the links from counters to flows, and
//! the chosen consumer's lag over time.

use egui::RichText;
use egui_extras::{Column, TableBuilder};
use egui_plot::{Corner, Legend, Line, Plot};

use crate::flow::FlowFilter;
use crate::jetstream::{ConsumerSummary, LagHistory, ResetPreview, StreamSummary};
use crate::ui::format;
use crate::ui::jetstream::actions::JetStreamAction;
use crate::ui::loaded::Loaded;

/// Polls kept for the lag plot (30 minutes at one every 2 s).
pub const LAG_SAMPLES: usize = 900;
/// A consumer with nothing delivered or acked for this long is idle.
const IDLE_NS: i64 = 5 * 60 * 1_000_000_000;

pub struct ConsumersView {
    pub list: Loaded<Vec<ConsumerSummary>>,
    pub selected: Option<String>,
    pub only_no_waiting: bool,
    pub only_near_max: bool,
    pub only_idle: bool,
    pub pending_above: String,
    /// The chosen consumer's polls.
    pub lag: LagHistory,
    pub lag_error: Option<String>,
    pub confirm_delete: Option<String>,
    pub reset_seq: String,
    pub reset_preview: Loaded<ResetPreview>,
    pub editor: Option<ConsumerEditor>,
}

/// A consumer's config as JSON, being written (new) or changed.
pub struct ConsumerEditor {
    pub text: String,
    pub update: bool,
    pub error: Option<String>,
}

impl ConsumerEditor {
    /// A pull consumer with explicit acks, to start from.
    pub fn new_consumer() -> Self {
        Self {
            text: serde_json::to_string_pretty(&serde_json::json!({
                "durable_name": "new-consumer",
                "ack_policy": "explicit",
                "deliver_policy": "all",
                "max_deliver": 5,
                "ack_wait": 30_000_000_000u64,
                "filter_subject": "",
            }))
            .unwrap_or_default(),
            update: false,
            error: None,
        }
    }

    /// The consumer's config as the server reported it.
    pub fn edit(consumer: &ConsumerSummary) -> Self {
        let config = consumer.raw.get("config").cloned().unwrap_or_default();
        Self {
            text: serde_json::to_string_pretty(&config).unwrap_or_default(),
            update: true,
            error: None,
        }
    }
}

impl Default for ConsumersView {
    fn default() -> Self {
        Self {
            list: Loaded::default(),
            selected: None,
            only_no_waiting: false,
            only_near_max: false,
            only_idle: false,
            pending_above: String::new(),
            lag: LagHistory::new(LAG_SAMPLES),
            lag_error: None,
            confirm_delete: None,
            reset_seq: String::new(),
            reset_preview: Loaded::default(),
            editor: None,
        }
    }
}

impl ConsumersView {
    /// A consumer of the list, by name.
    pub fn find(&self, name: &str) -> Option<&ConsumerSummary> {
        self.list.value.as_ref()?.iter().find(|c| c.name == name)
    }

    /// Choose a consumer (its lag history starts again).
    pub fn select(&mut self, name: Option<String>) {
        if self.selected != name {
            self.lag = LagHistory::new(LAG_SAMPLES);
            self.lag_error = None;
            self.reset_preview = Loaded::default();
            self.reset_seq.clear();
        }
        self.selected = name;
    }

    fn shown<'a>(&self, list: &'a [ConsumerSummary], now: i64) -> Vec<&'a ConsumerSummary> {
        let above: Option<u64> = self.pending_above.trim().parse().ok();
        list.iter()
            .filter(|c| {
                let h = c.health(now, IDLE_NS, above.unwrap_or(u64::MAX));
                (!self.only_no_waiting || h.no_waiting_pulls)
                    && (!self.only_near_max || h.near_max_ack_pending)
                    && (!self.only_idle || h.idle)
                    && (above.is_none() || h.pending_above)
            })
            .collect()
    }
}

pub fn consumers_ui(
    ui: &mut egui::Ui,
    view: &mut ConsumersView,
    stream: &StreamSummary,
    now: i64,
    actions: &mut Vec<JetStreamAction>,
) {
    editor_ui(ui, view, actions);
    ui.horizontal_wrapped(|ui| {
        if ui.button("Refresh").clicked() {
            actions.push(JetStreamAction::RefreshConsumers);
        }
        if ui.button("New consumer…").clicked() {
            view.editor = Some(ConsumerEditor::new_consumer());
        }
        ui.label("Only:");
        ui.checkbox(&mut view.only_no_waiting, "no waiting pulls");
        ui.checkbox(&mut view.only_near_max, "ack pending near max");
        ui.checkbox(&mut view.only_idle, "idle 5 min");
        crate::ui::labelled_text_edit(ui, "pending above", &mut view.pending_above, 60.0);
        view.list.status_ui(ui);
    });
    // Taken out while drawn (the rows borrow it, the clicks change the
    // view), put back at the end.
    let Some(list) = view.list.value.take() else {
        return;
    };
    consumer_table_ui(ui, view, &list, stream, now, actions);
    view.list.value = Some(list);
}

fn consumer_table_ui(
    ui: &mut egui::Ui,
    view: &mut ConsumersView,
    list: &[ConsumerSummary],
    stream: &StreamSummary,
    now: i64,
    actions: &mut Vec<JetStreamAction>,
) {
    let shown = view.shown(list, now);
    ui.label(format!(
        "{} of {} consumers · click Redelivered or Ack pending for the messages behind it",
        shown.len(),
        list.len()
    ));
    let mut select = None;
    let table_height = (ui.available_height() * 0.45).max(120.0);
    // No row sense: the counters are links, and a clickable row would take
    // their clicks. The name selects.
    TableBuilder::new(ui)
        .striped(true)
        .max_scroll_height(table_height)
        .column(Column::initial(140.0).clip(true))
        .columns(Column::auto().at_least(52.0), 10)
        .header(20.0, |mut h| {
            for title in [
                "Consumer",
                "Pending",
                "Unprocessed",
                "Ack pending",
                "Redelivered",
                "Ack floor",
                "Delivered",
                "Waiting",
                "Last delivery",
                "Last ack",
                "State",
            ] {
                h.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(20.0, shown.len(), |mut row| {
                let c = shown[row.index()];
                row.set_selected(view.selected.as_deref() == Some(c.name.as_str()));
                let health = c.health(now, IDLE_NS, u64::MAX);
                let selected = view.selected.as_deref() == Some(c.name.as_str());
                row.col(|ui| {
                    if ui.selectable_label(selected, &c.name).clicked() {
                        select = Some(c.name.clone());
                    }
                });
                row.col(|ui| {
                    ui.label(format::count(c.num_pending));
                });
                row.col(|ui| {
                    ui.label(format!(
                        "{:.0}%",
                        100.0 * c.unprocessed_share(stream.messages)
                    ));
                });
                row.col(|ui| {
                    let text = RichText::new(format::count(c.num_ack_pending));
                    let text = if health.near_max_ack_pending {
                        text.color(crate::ui::palette::of(ui).bad)
                    } else {
                        text
                    };
                    let link = ui.link(text);
                    let name = format!("Ack pending of {}", c.name);
                    link.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Link, true, &name));
                    if link.on_hover_text("Open these messages' flows").clicked() {
                        actions.push(JetStreamAction::OpenFlows {
                            consumer: c.name.clone(),
                            filter: FlowFilter::All,
                        });
                    }
                });
                row.col(|ui| {
                    let text = RichText::new(format::count(c.num_redelivered));
                    let text = if c.num_redelivered > 0 {
                        text.color(crate::ui::palette::of(ui).retry)
                    } else {
                        text
                    };
                    let link = ui.link(text);
                    let name = format!("Redelivered of {}", c.name);
                    link.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Link, true, &name));
                    if link
                        .on_hover_text("Open the retried messages' timelines")
                        .clicked()
                    {
                        actions.push(JetStreamAction::OpenFlows {
                            consumer: c.name.clone(),
                            filter: FlowFilter::Retries,
                        });
                    }
                });
                row.col(|ui| {
                    ui.label(c.ack_floor_stream_seq.to_string());
                });
                row.col(|ui| {
                    ui.label(c.delivered_stream_seq.to_string());
                });
                row.col(|ui| {
                    let text = if c.push {
                        "push".to_owned()
                    } else {
                        c.num_waiting.to_string()
                    };
                    if health.no_waiting_pulls {
                        ui.colored_label(crate::ui::palette::of(ui).retry, text);
                    } else {
                        ui.label(text);
                    }
                });
                row.col(|ui| {
                    ui.label(
                        c.last_delivery_ns
                            .map_or("never".into(), |t| format::age(t, now)),
                    );
                });
                row.col(|ui| {
                    ui.label(
                        c.last_ack_ns
                            .map_or("never".into(), |t| format::age(t, now)),
                    );
                });
                row.col(|ui| {
                    ui.label(if c.paused { "paused" } else { "active" });
                });
            });
        });
    if let Some(name) = select {
        view.select(Some(name));
    }
    let Some(chosen) = view
        .selected
        .as_deref()
        .and_then(|n| list.iter().find(|c| c.name == n))
        .cloned()
    else {
        return;
    };
    ui.separator();
    consumer_actions_ui(ui, view, &chosen, actions);
    lag_ui(ui, view);
}

fn consumer_actions_ui(
    ui: &mut egui::Ui,
    view: &mut ConsumersView,
    c: &ConsumerSummary,
    actions: &mut Vec<JetStreamAction>,
) {
    ui.horizontal_wrapped(|ui| {
        ui.strong(&c.name);
        ui.label(format!(
            "{} · ack {} · max deliver {} · max ack pending {} · filter {}",
            if c.push { "push" } else { "pull" },
            c.ack_policy,
            if c.max_deliver > 0 {
                c.max_deliver.to_string()
            } else {
                "∞".into()
            },
            if c.max_ack_pending > 0 {
                c.max_ack_pending.to_string()
            } else {
                "∞".into()
            },
            if c.filter_subjects.is_empty() {
                ">".to_owned()
            } else {
                c.filter_subjects.join(", ")
            },
        ));
        if ui
            .button("In-flight messages")
            .on_hover_text("The stream's messages between its ack floor and its last delivery")
            .clicked()
        {
            actions.push(JetStreamAction::InFlight(c.name.clone()));
        }
        if ui
            .button("Redrive dead letters…")
            .on_hover_text(
                "The messages this consumer gave up on (max deliveries, terminated), as the flows \
                 know them, read from the stream and handed to replay",
            )
            .clicked()
        {
            actions.push(JetStreamAction::Redrive(c.name.clone()));
        }
        let pause = if c.paused { "Resume" } else { "Pause 1 h" };
        if ui.button(pause).clicked() {
            actions.push(JetStreamAction::PauseConsumer {
                consumer: c.name.clone(),
                pause: !c.paused,
            });
        }
        if ui.button("Edit…").clicked() {
            view.editor = Some(ConsumerEditor::edit(c));
        }
        if ui.button("Delete…").clicked() {
            view.confirm_delete = Some(c.name.clone());
        }
    });
    reset_ui(ui, view, c, actions);
    if view.confirm_delete.as_deref() == Some(c.name.as_str()) {
        ui.horizontal(|ui| {
            ui.colored_label(
                crate::ui::palette::of(ui).bad,
                format!("Delete consumer {} and its state?", c.name),
            );
            if ui.button(format!("Delete {}", c.name)).clicked() {
                actions.push(JetStreamAction::DeleteConsumer(c.name.clone()));
                view.confirm_delete = None;
            }
            if ui.button("Cancel").clicked() {
                view.confirm_delete = None;
            }
        });
    }
}

/// Reset to a sequence: preview what is delivered again, then confirm.
fn reset_ui(
    ui: &mut egui::Ui,
    view: &mut ConsumersView,
    c: &ConsumerSummary,
    actions: &mut Vec<JetStreamAction>,
) {
    ui.horizontal_wrapped(|ui| {
        crate::ui::labelled_text_edit(ui, "Reset to sequence", &mut view.reset_seq, 70.0);
        let seq: Option<u64> = view.reset_seq.trim().parse().ok();
        if ui
            .add_enabled(seq.is_some(), egui::Button::new("Preview reset"))
            .clicked()
            && let Some(seq) = seq
        {
            view.reset_preview.loading = true;
            actions.push(JetStreamAction::PreviewReset {
                consumer: c.name.clone(),
                seq,
            });
        }
        view.reset_preview.status_ui(ui);
        if let Some(p) = &view.reset_preview.value
            && Some(p.seq) == seq
        {
            let span = match (p.from, p.to) {
                (Some(from), Some(to)) => format!(
                    ", stored {} to {} ({})",
                    format::clock(from),
                    format::clock(to),
                    crate::flow::format_duration(to - from)
                ),
                _ => String::new(),
            };
            ui.label(format!(
                "{} messages would be delivered again{span}",
                format::count(p.again)
            ));
            let label = format!("Reset {} to {}", c.name, p.seq);
            if ui
                .button(RichText::new(label).color(crate::ui::palette::of(ui).bad))
                .clicked()
            {
                actions.push(JetStreamAction::ResetConsumer {
                    consumer: c.name.clone(),
                    seq: p.seq,
                });
                view.reset_preview = Loaded::default();
            }
        }
    });
}

/// The JSON editor for a new or changed consumer.
fn editor_ui(ui: &mut egui::Ui, view: &mut ConsumersView, actions: &mut Vec<JetStreamAction>) {
    let Some(editor) = &mut view.editor else {
        return;
    };
    let mut open = true;
    let mut done = false;
    let title = if editor.update {
        "Change consumer"
    } else {
        "New consumer"
    };
    egui::Window::new(title)
        .open(&mut open)
        .collapsible(false)
        .show(ui.ctx(), |ui| {
            ui.label("The consumer's config, as JSON (the server checks it).");
            egui::ScrollArea::vertical()
                .max_height(360.0)
                .show(ui, |ui| {
                    ui.add(
                        egui::TextEdit::multiline(&mut editor.text)
                            .code_editor()
                            .desired_rows(14)
                            .desired_width(420.0),
                    );
                });
            if let Some(e) = &editor.error {
                ui.colored_label(crate::ui::palette::of(ui).bad, e);
            }
            let label = if editor.update {
                "Save changes"
            } else {
                "Create consumer"
            };
            if ui.button(label).clicked() {
                match serde_json::from_str::<serde_json::Value>(&editor.text) {
                    Ok(config) if config.is_object() => {
                        actions.push(JetStreamAction::PutConsumer {
                            config,
                            update: editor.update,
                        });
                        done = true;
                    }
                    Ok(_) => editor.error = Some("the config is a JSON object".into()),
                    Err(e) => editor.error = Some(format!("not JSON: {e}")),
                }
            }
        });
    if !open || done {
        view.editor = None;
    }
}

/// The lag plot and the latest figures.
fn lag_ui(ui: &mut egui::Ui, view: &ConsumersView) {
    if let Some(e) = &view.lag_error {
        ui.colored_label(crate::ui::palette::of(ui).bad, e);
    }
    let Some(latest) = view.lag.latest() else {
        ui.label("Polling…");
        return;
    };
    let show = |v: Option<f64>, unit: &str| v.map_or("-".to_owned(), |v| format!("{v:.1}{unit}"));
    ui.label(format!(
        "delivered {} · acked {} · oldest unprocessed {} · drains in {}",
        show(latest.delivered_per_s, "/s"),
        show(latest.acked_per_s, "/s"),
        show(latest.oldest_unprocessed_age_s, " s"),
        show(latest.time_to_drain_s, " s"),
    ));
    let last = latest.at_ns;
    let series = |f: &dyn Fn(&crate::jetstream::LagSample) -> f64| -> Vec<[f64; 2]> {
        view.lag
            .samples()
            .iter()
            .map(|s| [(s.at_ns - last) as f64 / 1e9, f(s)])
            .collect()
    };
    // Counts and rates on plots of their own: their scales differ.
    let height = ((ui.available_height() - 8.0) / 2.0).max(80.0);
    let plot = |id: &str, y: &str| {
        Plot::new(id.to_owned())
            .legend(
                Legend::default()
                    .position(Corner::LeftTop)
                    .background_alpha(0.6),
            )
            .height(height)
            .include_y(0.0)
            .allow_scroll(false)
            .y_axis_label(y.to_owned())
    };
    plot("lag-counts", "messages").show(ui, |plot| {
        plot.line(Line::new("pending", series(&|s| s.num_pending as f64)).width(2.0));
        plot.line(Line::new(
            "ack pending",
            series(&|s| s.num_ack_pending as f64),
        ));
        plot.line(Line::new(
            "redelivered",
            series(&|s| s.num_redelivered as f64),
        ));
    });
    plot("lag-rates", "msg/s")
        .x_axis_label("seconds ago")
        .show(ui, |plot| {
            plot.line(Line::new(
                "delivered/s",
                series(&|s| s.delivered_per_s.unwrap_or(0.0)),
            ));
            plot.line(Line::new(
                "acked/s",
                series(&|s| s.acked_per_s.unwrap_or(0.0)),
            ));
        });
}
