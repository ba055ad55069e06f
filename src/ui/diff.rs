//! The compare windows: two messages (headers that differ; the payloads'
//! differences by path, before and after) and two captures (per subject:
//! appeared, vanished, changed counts and fields).

use egui::{Color32, RichText};

use super::format;
use crate::compare::{Change, MessageDiff, PayloadDiff, SubjectDiff, SubjectStatus};

/// Two messages being compared.
pub struct MessageDiffView {
    /// What is compared with what, in words ("orders.created 12:00:01.2 →
    /// 12:00:03.9").
    pub title: String,
    pub diff: MessageDiff,
}

/// Two captures being compared.
pub struct CaptureDiffView {
    pub title: String,
    pub diffs: Vec<SubjectDiff>,
    pub show_same: bool,
}

/// The message diff window; `false` once closed.
pub fn message_diff_ui(ctx: &egui::Context, view: &MessageDiffView) -> bool {
    let mut open = true;
    egui::Window::new("Message diff")
        .open(&mut open)
        .default_width(640.0)
        .show(ctx, |ui| {
            ui.label(RichText::new(&view.title).monospace());
            if view.diff.is_same() {
                ui.label("The two messages are the same (headers and payload).");
                return;
            }
            ui.separator();
            if view.diff.headers.is_empty() {
                ui.label("Headers: the same.");
            } else {
                ui.strong("Headers that differ");
                egui::Grid::new("diff-headers").striped(true).show(ui, |ui| {
                    ui.strong("Header");
                    ui.strong("Before");
                    ui.strong("After");
                    ui.end_row();
                    for (name, before, after) in &view.diff.headers {
                        ui.monospace(name);
                        side(ui, &before.join(", "), crate::ui::palette::of(ui).bad);
                        side(ui, &after.join(", "), crate::ui::palette::of(ui).added);
                        ui.end_row();
                    }
                });
            }
            ui.separator();
            match &view.diff.payload {
                PayloadDiff::Structural { changes } if changes.is_empty() => {
                    ui.label("Payloads: the same data.");
                }
                PayloadDiff::Structural { changes } => {
                    ui.strong(format!("Payload: {} differences", changes.len()));
                    egui::ScrollArea::vertical().max_height(420.0).show(ui, |ui| {
                        egui::Grid::new("diff-payload").striped(true).show(ui, |ui| {
                            ui.strong("Path");
                            ui.strong("Before");
                            ui.strong("After");
                            ui.end_row();
                            for change in changes {
                                change_row_ui(ui, change);
                            }
                        });
                    });
                }
                PayloadDiff::Bytes {
                    same,
                    before_len,
                    after_len,
                } => {
                    ui.label(if *same {
                        "Payloads: the same bytes (not data a decoder reads).".to_owned()
                    } else {
                        format!(
                            "Payloads: different bytes ({} and {}); one is not data a decoder reads, so they are not compared field by field.",
                            format::bytes(*before_len as u64),
                            format::bytes(*after_len as u64)
                        )
                    });
                }
            }
        });
    open
}

fn change_row_ui(ui: &mut egui::Ui, change: &Change) {
    let text = |v: &serde_json::Value| format::elide(&v.to_string(), 80).into_owned();
    match change {
        Change::Added { path, after } => {
            ui.monospace(path);
            ui.label("-");
            side(ui, &text(after), crate::ui::palette::of(ui).added);
        }
        Change::Removed { path, before } => {
            ui.monospace(path);
            side(ui, &text(before), crate::ui::palette::of(ui).bad);
            ui.label("-");
        }
        Change::Changed {
            path,
            before,
            after,
        } => {
            ui.monospace(path);
            side(ui, &text(before), crate::ui::palette::of(ui).bad);
            side(ui, &text(after), crate::ui::palette::of(ui).added);
        }
    }
    ui.end_row();
}

fn side(ui: &mut egui::Ui, text: &str, color: Color32) {
    ui.label(RichText::new(text).monospace().color(color));
}

/// The capture diff window; `false` once closed.
pub fn capture_diff_ui(ctx: &egui::Context, view: &mut CaptureDiffView) -> bool {
    let mut open = true;
    egui::Window::new("Capture diff")
        .open(&mut open)
        .default_width(640.0)
        .show(ctx, |ui| {
            ui.label(&view.title);
            let count = |s: SubjectStatus| view.diffs.iter().filter(|d| d.status == s).count();
            ui.label(format!(
                "{} subjects appeared, {} vanished, {} changed, {} the same",
                count(SubjectStatus::Appeared),
                count(SubjectStatus::Vanished),
                count(SubjectStatus::Changed),
                count(SubjectStatus::Same)
            ));
            ui.checkbox(&mut view.show_same, "show the subjects that are the same");
            egui::ScrollArea::vertical()
                .max_height(480.0)
                .show(ui, |ui| {
                    egui::Grid::new("capture-diff")
                        .striped(true)
                        .show(ui, |ui| {
                            for title in ["", "Subject", "Before", "After", "Fields"] {
                                ui.strong(title);
                            }
                            ui.end_row();
                            for d in &view.diffs {
                                if d.status == SubjectStatus::Same && !view.show_same {
                                    continue;
                                }
                                let (word, color) = match d.status {
                                    SubjectStatus::Appeared => {
                                        ("appeared", crate::ui::palette::of(ui).added)
                                    }
                                    SubjectStatus::Vanished => {
                                        ("vanished", crate::ui::palette::of(ui).bad)
                                    }
                                    SubjectStatus::Changed => {
                                        ("changed", crate::ui::palette::of(ui).changed)
                                    }
                                    SubjectStatus::Same => ("same", ui.visuals().weak_text_color()),
                                };
                                ui.colored_label(color, word);
                                ui.monospace(&d.subject);
                                ui.label(format::count(d.before));
                                ui.label(format::count(d.after));
                                let fields: Vec<String> = d
                                    .fields_appeared
                                    .iter()
                                    .map(|f| format!("+{f}"))
                                    .chain(d.fields_vanished.iter().map(|f| format!("-{f}")))
                                    .collect();
                                ui.label(format::elide(&fields.join(" "), 90));
                                ui.end_row();
                            }
                        });
                });
        });
    open
}
