//! One key: its value (edit and put, delete, purge), its history with a
//! diff between any two revisions, and revert. Changes that lose data
//! (delete, purge, revert) ask first, naming the key and revision.

use egui::RichText;
use egui_extras::{Column, TableBuilder};

use crate::flow::KvOperation;
use crate::kv::{DiffLine, DiffTag, KeyRevision, diff_texts, display_value};
use crate::ui::format;
use crate::ui::kv::actions::KvAction;
use crate::ui::loaded::Loaded;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyTab {
    #[default]
    Value,
    History,
}

/// A change waiting for the user's yes.
#[derive(Clone, Debug, PartialEq)]
pub enum Confirm {
    Delete(String),
    Purge(String),
    Revert(String, u64),
}

#[derive(Default)]
pub struct KeyPanel {
    pub key: Option<String>,
    pub tab: KeyTab,
    pub value: Loaded<KeyRevision>,
    pub history: Loaded<Vec<KeyRevision>>,
    /// The value being edited, and the revision it was taken from.
    pub edit: String,
    edit_from: Option<u64>,
    /// A new key and its value.
    pub new_key: String,
    pub new_value: String,
    /// The revisions compared: older (`from`) against newer (`to`).
    pub diff_from: Option<u64>,
    pub diff_to: Option<u64>,
    diff: Option<((u64, u64), Vec<DiffLine>)>,
    pub confirm: Option<Confirm>,
    /// The types a value is read with, by its subject (`$KV.BUCKET.KEY`).
    pub schemas: std::sync::Arc<crate::decode::Schemas>,
    subject: String,
}

/// A value as shown: what a decoder other than JSON read it as (the type
/// bound to the key's subject, MessagePack, CBOR), else as it is.
fn shown(value: &[u8], subject: &str, schemas: &crate::decode::Schemas) -> String {
    crate::decode::read_as_text(schemas, subject, value).unwrap_or_else(|| display_value(value))
}

impl KeyPanel {
    /// No key: forget the last one's state, keep the types.
    pub fn close(&mut self) {
        *self = KeyPanel {
            schemas: self.schemas.clone(),
            ..Default::default()
        };
    }

    /// Another key was chosen: forget the last one's state.
    pub fn open(&mut self, bucket: &str, key: String) {
        *self = KeyPanel {
            subject: format!("$KV.{bucket}.{key}"),
            key: Some(key),
            schemas: self.schemas.clone(),
            tab: self.tab,
            new_key: std::mem::take(&mut self.new_key),
            new_value: std::mem::take(&mut self.new_value),
            ..Default::default()
        };
        self.value.loading = true;
        self.history.loading = true;
    }

    /// The key's history arrived: compare the last two revisions.
    pub fn set_history(&mut self, result: Result<Vec<KeyRevision>, String>) {
        self.history.answer(result);
        let revisions = self.history.value.as_deref().unwrap_or_default();
        self.diff_to = revisions.last().map(|r| r.revision);
        self.diff_from = revisions.iter().rev().nth(1).map(|r| r.revision);
        self.diff = None;
    }

    fn revision(&self, revision: Option<u64>) -> Option<&KeyRevision> {
        let revision = revision?;
        self.history
            .value
            .as_deref()?
            .iter()
            .find(|r| r.revision == revision)
    }

    /// The diff between the chosen revisions, made once per pair.
    fn diff(&mut self) -> Option<&[DiffLine]> {
        let pair = (self.diff_from?, self.diff_to?);
        if self.diff.as_ref().map(|(p, _)| *p) != Some(pair) {
            let from = shown(
                &self.revision(Some(pair.0))?.value,
                &self.subject,
                &self.schemas,
            );
            let to = shown(
                &self.revision(Some(pair.1))?.value,
                &self.subject,
                &self.schemas,
            );
            self.diff = Some((pair, diff_texts(&from, &to)));
        }
        self.diff.as_ref().map(|(_, lines)| &lines[..])
    }
}

pub fn key_panel_ui(
    ui: &mut egui::Ui,
    panel: &mut KeyPanel,
    now: i64,
    actions: &mut Vec<KvAction>,
) {
    confirm_ui(ui.ctx(), panel, actions);
    new_key_ui(ui, panel, actions);
    ui.separator();
    let Some(key) = panel.key.clone() else {
        ui.label("Choose a key in the list.");
        return;
    };
    ui.horizontal(|ui| {
        ui.heading(&key);
        ui.separator();
        ui.selectable_value(&mut panel.tab, KeyTab::Value, "Current value");
        ui.selectable_value(&mut panel.tab, KeyTab::History, "History");
    });
    match panel.tab {
        KeyTab::Value => value_ui(ui, panel, &key, now, actions),
        KeyTab::History => history_ui(ui, panel, &key, now),
    }
}

fn new_key_ui(ui: &mut egui::Ui, panel: &mut KeyPanel, actions: &mut Vec<KvAction>) {
    ui.horizontal(|ui| {
        ui.label("New key");
        ui.add(
            egui::TextEdit::singleline(&mut panel.new_key)
                .id_salt("kv-new-key")
                .hint_text("key")
                .desired_width(140.0),
        );
        ui.add(
            egui::TextEdit::singleline(&mut panel.new_value)
                .id_salt("kv-new-value")
                .hint_text("value")
                .desired_width(180.0),
        );
        let key = panel.new_key.trim().to_owned();
        if ui
            .add_enabled(!key.is_empty(), egui::Button::new("Put new key"))
            .clicked()
        {
            actions.push(KvAction::Put {
                key,
                value: panel.new_value.clone().into_bytes(),
            });
        }
    });
}

fn value_ui(
    ui: &mut egui::Ui,
    panel: &mut KeyPanel,
    key: &str,
    now: i64,
    actions: &mut Vec<KvAction>,
) {
    panel.value.status_ui(ui);
    let Some(entry) = panel.value.value.clone() else {
        return;
    };
    if panel.edit_from != Some(entry.revision) {
        panel.edit_from = Some(entry.revision);
        panel.edit = match std::str::from_utf8(&entry.value) {
            Ok(text) => text.to_owned(),
            Err(_) => String::new(),
        };
    }
    ui.label(format!(
        "revision {} · {} · {} · {}",
        entry.revision,
        entry.operation.label(),
        format::bytes(entry.value.len() as u64),
        format::age(entry.created, now)
    ));
    if entry.operation != KvOperation::Put {
        ui.colored_label(
            crate::ui::palette::of(ui).removed,
            format!("This key was {}d.", entry.operation.label()),
        );
    }
    let binary = std::str::from_utf8(&entry.value).is_err();
    if binary {
        ui.label("Binary value (shown as hex; put replaces it with the text below):");
        egui::ScrollArea::vertical()
            .id_salt("kv-binary")
            .max_height(160.0)
            .show(ui, |ui| {
                ui.monospace(shown(&entry.value, &panel.subject, &panel.schemas))
            });
    }
    egui::ScrollArea::vertical()
        .id_salt("kv-edit")
        .max_height(ui.available_height() - 40.0)
        .show(ui, |ui| {
            ui.add(
                egui::TextEdit::multiline(&mut panel.edit)
                    .id_salt("kv-value")
                    .code_editor()
                    .desired_width(f32::INFINITY)
                    .desired_rows(8),
            );
        });
    ui.horizontal(|ui| {
        if ui.button("Put value").clicked() {
            actions.push(KvAction::Put {
                key: key.to_owned(),
                value: panel.edit.clone().into_bytes(),
            });
        }
        if ui.button("Delete key…").clicked() {
            panel.confirm = Some(Confirm::Delete(key.to_owned()));
        }
        if ui.button("Purge key…").clicked() {
            panel.confirm = Some(Confirm::Purge(key.to_owned()));
        }
    });
}

fn history_ui(ui: &mut egui::Ui, panel: &mut KeyPanel, key: &str, now: i64) {
    panel.history.status_ui(ui);
    let Some(revisions) = panel.history.value.clone() else {
        return;
    };
    ui.label(format!(
        "{} revisions kept. Click a row to compare it with the one before; pick 'from' to compare any two.",
        revisions.len()
    ));
    TableBuilder::new(ui)
        .id_salt("kv-history")
        .striped(true)
        .sense(egui::Sense::click())
        .max_scroll_height(180.0)
        .column(Column::exact(44.0))
        .column(Column::exact(70.0))
        .column(Column::exact(60.0))
        .column(Column::exact(80.0))
        .column(Column::remainder().clip(true))
        .header(18.0, |mut h| {
            for t in ["From", "Revision", "Op", "When", "Value"] {
                h.col(|ui| {
                    ui.strong(t);
                });
            }
        })
        .body(|body| {
            body.rows(18.0, revisions.len(), |mut row| {
                let r = &revisions[row.index()];
                row.set_selected(panel.diff_to == Some(r.revision));
                row.col(|ui| {
                    if ui
                        .radio(panel.diff_from == Some(r.revision), "")
                        .on_hover_text(format!("compare from revision {}", r.revision))
                        .clicked()
                    {
                        panel.diff_from = Some(r.revision);
                    }
                });
                let mut clicked = false;
                row.col(|ui| {
                    clicked = ui
                        .selectable_label(
                            panel.diff_to == Some(r.revision),
                            format!("rev {}", r.revision),
                        )
                        .clicked();
                });
                row.col(|ui| {
                    ui.label(r.operation.label());
                });
                row.col(|ui| {
                    ui.label(format::age(r.created, now));
                });
                row.col(|ui| {
                    ui.label(format::payload_preview(&r.value, 80));
                });
                if clicked || row.response().clicked() {
                    panel.diff_to = Some(r.revision);
                    panel.diff_from = revisions
                        .iter()
                        .take_while(|o| o.revision < r.revision)
                        .last()
                        .map(|o| o.revision);
                }
            });
        });
    ui.separator();
    let Some(to) = panel.diff_to else {
        return;
    };
    ui.horizontal(|ui| {
        match panel.diff_from {
            Some(from) => ui.strong(format!("Diff: revision {from} to revision {to}")),
            None => ui.strong(format!("Revision {to}: nothing before it to compare")),
        };
        if ui
            .button(format!("Revert to revision {to}…"))
            .on_hover_text("Put this revision's value back as a new revision")
            .clicked()
        {
            panel.confirm = Some(Confirm::Revert(key.to_owned(), to));
        }
    });
    let Some(lines) = panel.diff() else {
        return;
    };
    let changed = lines.iter().filter(|l| l.tag != DiffTag::Same).count();
    if changed == 0 {
        ui.label("The two values are the same.");
    }
    egui::ScrollArea::both().id_salt("kv-diff").show(ui, |ui| {
        for line in lines {
            let (mark, color) = match line.tag {
                DiffTag::Same => (' ', ui.visuals().text_color()),
                DiffTag::Removed => ('-', crate::ui::palette::of(ui).removed),
                DiffTag::Added => ('+', crate::ui::palette::of(ui).added),
            };
            ui.label(
                RichText::new(format!("{mark} {}", line.text))
                    .monospace()
                    .color(color),
            );
        }
    });
}

fn confirm_ui(ctx: &egui::Context, panel: &mut KeyPanel, actions: &mut Vec<KvAction>) {
    let Some(confirm) = panel.confirm.clone() else {
        return;
    };
    let (question, button, action) = match &confirm {
        Confirm::Delete(key) => (
            format!("Put a delete marker on '{key}'? Its history stays."),
            format!("Delete '{key}'"),
            KvAction::Delete(key.clone()),
        ),
        Confirm::Purge(key) => (
            format!("Purge '{key}'? Every revision of it goes."),
            format!("Purge '{key}'"),
            KvAction::Purge(key.clone()),
        ),
        Confirm::Revert(key, revision) => (
            format!("Make revision {revision} of '{key}' current again, as a new revision?"),
            format!("Revert '{key}' to revision {revision}"),
            KvAction::Revert {
                key: key.clone(),
                revision: *revision,
                seen: panel
                    .history
                    .value
                    .as_ref()
                    .and_then(|h| h.last())
                    .map(|r| r.revision),
            },
        ),
    };
    egui::Window::new("Confirm")
        .collapsible(false)
        .resizable(false)
        .show(ctx, |ui| {
            ui.label(question);
            ui.horizontal(|ui| {
                if ui.button(button).clicked() {
                    actions.push(action);
                    panel.confirm = None;
                }
                if ui.button("Cancel").clicked() {
                    panel.confirm = None;
                }
            });
        });
}

#[cfg(test)]
mod decoded_values {
    use super::*;

    /// A value no JSON reader reads is shown, and diffed, as its decoder
    /// read it: here MessagePack maps whose "n" changed.
    #[test]
    fn binary_values_are_shown_and_diffed_as_decoded() {
        let schemas = crate::decode::Schemas::default();
        let old = [0x81, 0xa1, b'n', 0x01];
        let new = [0x81, 0xa1, b'n', 0x02];
        let text = shown(&old, "$KV.cfg.k", &schemas);
        assert!(text.starts_with("read as MessagePack"), "{text}");
        let lines = diff_texts(&text, &shown(&new, "$KV.cfg.k", &schemas));
        let changed: Vec<&str> = lines
            .iter()
            .filter(|l| l.tag != DiffTag::Same)
            .map(|l| l.text.trim())
            .collect();
        assert_eq!(changed, ["\"n\": 1", "\"n\": 2"]);
        assert_eq!(shown(b"plain", "$KV.cfg.k", &schemas), "plain");
    }
}
