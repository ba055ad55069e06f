//! The publish panel: subject, reply-to, headers (multi-valued), payload
//! with JSON validation and formatting, encodings, placeholders; send once,
//! N times or at a rate; request and JetStream modes with their outcomes;
//! named templates.

pub(super) mod replay;

use std::sync::Arc;

use egui::RichText;

use super::format;
use super::labelled_text_edit;
use crate::broker::{JobProgress, SendOutcome};
use crate::capture::ConnectionKey;
use crate::outgoing::{Encoding, PublishTemplate};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishMode {
    Publish,
    Request,
    JetStream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepeatMode {
    Once,
    Times,
    Rate,
}

pub struct PublishView {
    pub template: PublishTemplate,
    pub connection: Option<ConnectionKey>,
    pub mode: PublishMode,
    pub timeout_ms: u64,
    pub repeat: RepeatMode,
    pub count: u64,
    pub rate: f64,
    pub duration_s: f64,
    pub error: Option<String>,
    pub outcome: Option<SendOutcome>,
    pub waiting: bool,
    pub job: Option<Arc<JobProgress>>,
    pub templates: Vec<PublishTemplate>,
}

impl Default for PublishView {
    fn default() -> Self {
        Self {
            template: PublishTemplate {
                subject: "orders.created".into(),
                headers: vec![("ce-id".into(), "{{uuid}}".into())],
                payload: "{\n  \"order_id\": \"ord-{{seq}}\",\n  \"created_at\": \"{{now}}\"\n}"
                    .into(),
                encoding: Encoding::Json,
                ..PublishTemplate::default()
            },
            connection: None,
            mode: PublishMode::Publish,
            timeout_ms: 2000,
            repeat: RepeatMode::Once,
            count: 10,
            rate: 10.0,
            duration_s: 10.0,
            error: None,
            outcome: None,
            waiting: false,
            job: None,
            templates: Vec::new(),
        }
    }
}

pub enum PublishAction {
    Send,
    LoadPayloadFile,
    StopJob,
}

/// Connections the user can publish on: (key, name, connected?).
pub type Targets<'a> = &'a [(ConnectionKey, String, bool)];

pub fn connection_picker_ui(
    ui: &mut egui::Ui,
    id: &str,
    label: &str,
    selected: &mut Option<ConnectionKey>,
    targets: Targets<'_>,
) {
    if selected.is_none_or(|k| !targets.iter().any(|(t, _, _)| *t == k)) {
        *selected = targets.first().map(|(k, _, _)| *k);
    }
    let current = targets
        .iter()
        .find(|(k, _, _)| Some(*k) == *selected)
        .map_or("no connection".to_owned(), |(_, n, _)| n.clone());
    ui.horizontal(|ui| {
        egui::ComboBox::new(id, label)
            .selected_text(current)
            .show_ui(ui, |ui| {
                for (key, name, up) in targets {
                    let text = if *up {
                        name.clone()
                    } else {
                        format!("{name} (not connected)")
                    };
                    ui.selectable_value(selected, Some(*key), text);
                }
            });
    });
}

pub fn publish_ui(
    ui: &mut egui::Ui,
    view: &mut PublishView,
    targets: Targets<'_>,
) -> Vec<PublishAction> {
    let mut actions = Vec::new();
    ui.heading("Publish");
    connection_picker_ui(
        ui,
        "publish-connection",
        "Connection",
        &mut view.connection,
        targets,
    );
    labelled_text_edit(ui, "Subject", &mut view.template.subject, 280.0);
    labelled_text_edit(ui, "Reply-to (optional)", &mut view.template.reply, 220.0);
    ui.horizontal(|ui| {
        ui.radio_value(&mut view.mode, PublishMode::Publish, "Publish");
        ui.radio_value(&mut view.mode, PublishMode::Request, "Request");
        ui.radio_value(&mut view.mode, PublishMode::JetStream, "JetStream publish");
        if view.mode != PublishMode::Publish {
            super::labelled(
                ui,
                "timeout",
                egui::DragValue::new(&mut view.timeout_ms)
                    .range(10..=120_000)
                    .suffix(" ms"),
            );
        }
    });
    ui.separator();
    headers_ui(ui, view);
    fields_ui(ui, view);
    ui.separator();
    payload_ui(ui, view, &mut actions);
    ui.separator();
    repeat_ui(ui, view);
    send_ui(ui, view, &mut actions);
    ui.separator();
    templates_ui(ui, view);
    actions
}

/// The broker's own fields, for MQTT, RabbitMQ and Kafka (NATS has none).
fn fields_ui(ui: &mut egui::Ui, view: &mut PublishView) {
    egui::CollapsingHeader::new("Broker fields (MQTT, RabbitMQ, Kafka)")
        .default_open(!view.template.fields.trim().is_empty())
        .show(ui, |ui| {
            let label = ui.label("Fields (JSON object)");
            ui.add(
                egui::TextEdit::multiline(&mut view.template.fields)
                    .code_editor()
                    .desired_rows(2)
                    .desired_width(f32::INFINITY)
                    .hint_text(
                        r#"MQTT: {"qos":1,"retain":true}   RabbitMQ: {"properties":{"message_id":"{{uuid}}","delivery_mode":2,"expiration":"60000"}}   Kafka: {"key":"order-42","partition":0} (binary: "key_b64", "headers_b64":[["name","base64"]])"#,
                    ),
            )
            .labelled_by(label.id);
        });
}

/// The header rows, each removable.
fn headers_ui(ui: &mut egui::Ui, view: &mut PublishView) {
    ui.horizontal(|ui| {
        ui.strong(format!("Headers ({})", view.template.headers.len()));
        if ui.small_button("Add header").clicked() {
            view.template.headers.push((String::new(), String::new()));
        }
    });
    let mut remove = None;
    for (i, (name, value)) in view.template.headers.iter_mut().enumerate() {
        ui.horizontal(|ui| {
            labelled_text_edit(ui, &format!("Header {} name", i + 1), name, 130.0);
            labelled_text_edit(ui, "value", value, 220.0);
            if ui
                .small_button("Remove")
                .on_hover_text("Remove this header")
                .clicked()
            {
                remove = Some(i);
            }
        });
    }
    if let Some(i) = remove {
        view.template.headers.remove(i);
    }
    ui.label(RichText::new("A name given twice sends both values. {{seq}}, {{uuid}} and {{now}} are filled in per message.").small().weak());
}

/// The payload, its encoding and where it comes from.
fn payload_ui(ui: &mut egui::Ui, view: &mut PublishView, actions: &mut Vec<PublishAction>) {
    ui.horizontal(|ui| {
        ui.strong("Payload");
        egui::ComboBox::new("payload-encoding", "encoding")
            .selected_text(view.template.encoding.label())
            .show_ui(ui, |ui| {
                for e in Encoding::ALL {
                    ui.selectable_value(&mut view.template.encoding, e, e.label());
                }
            });
        if view.template.encoding == Encoding::Json && ui.button("Format").clicked() {
            view.error = view
                .template
                .format_json()
                .err()
                .map(|e| format!("cannot format: {e}"));
        }
        if ui.button("Load file…").clicked() {
            actions.push(PublishAction::LoadPayloadFile);
        }
    });
    let label = ui.label(
        RichText::new(format!("{} bytes typed", view.template.payload.len()))
            .small()
            .weak(),
    );
    ui.add(
        egui::TextEdit::multiline(&mut view.template.payload)
            .code_editor()
            .desired_rows(8)
            .desired_width(f32::INFINITY),
    )
    .labelled_by(label.id);
    if let Some(warning) = view.template.json_warning() {
        ui.colored_label(crate::ui::palette::of(ui).warn, format!("⚠ {warning}"));
    }
}

/// Once, N times, or at a rate for a while.
fn repeat_ui(ui: &mut egui::Ui, view: &mut PublishView) {
    ui.horizontal(|ui| {
        ui.radio_value(&mut view.repeat, RepeatMode::Once, "once");
        ui.radio_value(&mut view.repeat, RepeatMode::Times, "N times");
        ui.radio_value(&mut view.repeat, RepeatMode::Rate, "at a rate");
    });
    match view.repeat {
        RepeatMode::Once => {}
        RepeatMode::Times => {
            ui.horizontal(|ui| {
                super::labelled(
                    ui,
                    "count",
                    egui::DragValue::new(&mut view.count).range(1..=10_000_000),
                );
            });
        }
        RepeatMode::Rate => {
            ui.horizontal(|ui| {
                super::labelled(
                    ui,
                    "rate",
                    egui::DragValue::new(&mut view.rate)
                        .range(0.1..=1_000_000.0)
                        .suffix(" msg/s"),
                );
                super::labelled(
                    ui,
                    "for",
                    egui::DragValue::new(&mut view.duration_s)
                        .range(0.1..=86_400.0)
                        .suffix(" s"),
                );
            });
        }
    }
}

/// Send or stop, and what became of it.
fn send_ui(ui: &mut egui::Ui, view: &PublishView, actions: &mut Vec<PublishAction>) {
    let busy = view.waiting || view.job.as_ref().is_some_and(|j| !j.is_finished());
    ui.horizontal(|ui| {
        let send = ui.add_enabled(!busy, egui::Button::new(RichText::new("Send").strong()));
        if send.clicked() {
            actions.push(PublishAction::Send);
        }
        if busy && view.job.is_some() && ui.button("Stop").clicked() {
            actions.push(PublishAction::StopJob);
        }
        if view.waiting {
            ui.spinner();
        }
    });
    if let Some(job) = &view.job {
        ui.label(format!(
            "sent {} of {}, failed {}{}",
            format::count(job.sent()),
            format::count(job.total()),
            job.failed(),
            if job.is_finished() {
                format!(" in {:.2} s", job.elapsed().as_secs_f64())
            } else {
                String::new()
            }
        ));
        if let Some(e) = job.last_error() {
            ui.colored_label(crate::ui::palette::of(ui).bad, e);
        }
    }
    if let Some(error) = &view.error {
        ui.colored_label(crate::ui::palette::of(ui).bad, error);
    }
    if let Some(outcome) = &view.outcome {
        outcome_ui(ui, outcome);
    }
}

fn outcome_ui(ui: &mut egui::Ui, outcome: &SendOutcome) {
    let good = crate::ui::palette::of(ui).good;
    match outcome {
        SendOutcome::Published => {
            ui.colored_label(good, "Published.");
        }
        SendOutcome::PubAck {
            stream,
            seq,
            duplicate,
        } => {
            let text = format!(
                "PubAck: stream {stream}, seq {seq}{}",
                if *duplicate { ", duplicate" } else { "" }
            );
            ui.colored_label(
                if *duplicate {
                    crate::ui::palette::of(ui).warn
                } else {
                    good
                },
                text,
            );
        }
        SendOutcome::Reply {
            headers,
            status,
            payload,
            latency,
        } => {
            ui.colored_label(
                good,
                format!("Reply in {:.1} ms", latency.as_secs_f64() * 1000.0),
            );
            if let Some(code) = status {
                ui.label(format!("status {code}"));
            }
            for (name, value) in headers {
                ui.label(RichText::new(format!("{name}: {value}")).monospace());
            }
            let text = match std::str::from_utf8(payload) {
                Ok(t) => t.to_owned(),
                Err(_) => {
                    crate::ui::traffic::inspector::hex_dump(&payload[..payload.len().min(1024)])
                }
            };
            ui.label(RichText::new(text).monospace());
        }
        SendOutcome::Failed(e) => {
            ui.colored_label(crate::ui::palette::of(ui).bad, e);
        }
    }
}

fn templates_ui(ui: &mut egui::Ui, view: &mut PublishView) {
    ui.strong("Templates");
    ui.horizontal(|ui| {
        labelled_text_edit(ui, "Template name", &mut view.template.name, 160.0);
        if ui.button("Save template").clicked() {
            let name = view.template.name.trim().to_owned();
            if name.is_empty() {
                view.error = Some("give the template a name".into());
            } else {
                view.templates.retain(|t| t.name != name);
                view.templates.push(view.template.clone());
                view.templates.sort_by(|a, b| a.name.cmp(&b.name));
                view.error = None;
            }
        }
    });
    let mut load = None;
    let mut delete = None;
    for (i, t) in view.templates.iter().enumerate() {
        ui.horizontal(|ui| {
            ui.label(&t.name);
            ui.label(RichText::new(&t.subject).monospace().weak());
            if ui
                .small_button("Load")
                .on_hover_text(format!("Load template {}", t.name))
                .clicked()
            {
                load = Some(i);
            }
            if ui
                .small_button("Delete")
                .on_hover_text(format!("Delete template {}", t.name))
                .clicked()
            {
                delete = Some(i);
            }
        });
    }
    if let Some(i) = load {
        view.template = view.templates[i].clone();
    }
    if let Some(i) = delete {
        view.templates.remove(i);
    }
}
