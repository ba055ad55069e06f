//! The flight recorder's line: its status, the consent dialog that
//! creates it (it is server state, so never made without asking), loading
//! its history into the flow view, and removing it.

use std::time::Duration;

use egui::RichText;

use crate::jetstream::{RecorderSettings, RecorderStatus, parse_bytes, parse_duration};
use crate::ui::format;
use crate::ui::jetstream::actions::JetStreamAction;
use crate::ui::loaded::Loaded;

/// How far back the flow view can be filled from the recorder.
pub const HISTORY_RANGES: [(&str, u64); 4] = [
    ("15 min", 15 * 60),
    ("1 h", 3600),
    ("24 h", 24 * 3600),
    ("all", 0),
];

#[derive(Default)]
pub struct RecorderView {
    /// `Some(None)`: asked, and there is no recorder.
    pub status: Loaded<Option<RecorderStatus>>,
    pub consent: Option<ConsentDialog>,
    pub confirm_stop: bool,
    /// Answers read into the flow view by the last load.
    pub history: Loaded<usize>,
}

/// The recorder's bounds as typed, before the user agrees.
pub struct ConsentDialog {
    pub name: String,
    pub max_age: String,
    pub max_bytes: String,
    pub replicas: String,
}

impl Default for ConsentDialog {
    fn default() -> Self {
        let d = RecorderSettings::default();
        Self {
            name: d.name,
            max_age: "24h".into(),
            max_bytes: "1GiB".into(),
            replicas: d.replicas.to_string(),
        }
    }
}

impl ConsentDialog {
    pub fn settings(&self) -> Result<RecorderSettings, String> {
        Ok(RecorderSettings {
            name: self.name.trim().to_owned(),
            max_age: parse_duration(&self.max_age).map_err(|e| e.to_string())?,
            max_bytes: parse_bytes(&self.max_bytes).map_err(|e| e.to_string())?,
            replicas: self
                .replicas
                .trim()
                .parse()
                .map_err(|_| "replicas must be a whole number (1, 3 or 5)".to_owned())?,
        })
    }
}

pub fn recorder_ui(ui: &mut egui::Ui, view: &mut RecorderView, actions: &mut Vec<JetStreamAction>) {
    ui.horizontal_wrapped(|ui| {
        ui.strong("Flight recorder");
        match &view.status.value {
            None => {
                ui.label("not checked yet");
            }
            Some(None) => {
                ui.label("off: retries that happen while eventscope is closed are lost");
                if ui.button("Set up…").clicked() {
                    view.consent = Some(ConsentDialog::default());
                }
            }
            Some(Some(status)) => {
                ui.label(format!(
                    "{}: {} answers, {}, covering {}",
                    status.name,
                    format::count(status.messages),
                    format::bytes(status.bytes),
                    covered(status.covers_secs),
                ));
                ui.separator();
                ui.label("Load into flows:");
                for (label, seconds) in HISTORY_RANGES {
                    if ui.button(label).clicked() {
                        view.history.loading = true;
                        actions.push(JetStreamAction::LoadHistory(Duration::from_secs(seconds)));
                    }
                }
                view.history.status_ui(ui);
                if let Some(n) = view.history.value {
                    ui.label(format!("{} answers loaded", format::count(n as u64)));
                }
                ui.separator();
                if view.confirm_stop {
                    ui.colored_label(
                        crate::ui::palette::of(ui).bad,
                        format!("Delete {} and all it recorded?", status.name),
                    );
                    if ui.button(format!("Delete {}", status.name)).clicked() {
                        actions.push(JetStreamAction::StopRecorder);
                        view.confirm_stop = false;
                    }
                    if ui.button("Cancel").clicked() {
                        view.confirm_stop = false;
                    }
                } else if ui.button("Remove…").clicked() {
                    view.confirm_stop = true;
                }
            }
        }
        view.status.status_ui(ui);
    });
    consent_ui(ui, view, actions);
}

fn covered(seconds: f64) -> String {
    if seconds >= 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else if seconds >= 60.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}

fn consent_ui(ui: &mut egui::Ui, view: &mut RecorderView, actions: &mut Vec<JetStreamAction>) {
    let Some(dialog) = &mut view.consent else {
        return;
    };
    let mut open = true;
    let mut done = false;
    egui::Window::new("Set up the flight recorder")
        .open(&mut open)
        .collapsible(false)
        .show(ui.ctx(), |ui| {
            ui.label(
                "eventscope will create a JetStream stream on this server that records every \
                 consumer answer ($JS.ACK.>) and the consumer advisories ($JS.EVENT.ADVISORY.CONSUMER.>), \
                 so that retries which happen while no eventscope runs can be shown later.",
            );
            ui.label(
                RichText::new(
                    "This creates server state and uses its storage, within the bounds below. \
                     It stores the answers only (a few dozen bytes each), never message payloads. \
                     Nothing is created until you agree.",
                )
                .strong(),
            );
            crate::ui::labelled_text_edit(ui, "Stream name", &mut dialog.name, 200.0);
            crate::ui::labelled_text_edit(ui, "Keep at most (age)", &mut dialog.max_age, 80.0);
            crate::ui::labelled_text_edit(ui, "Keep at most (bytes)", &mut dialog.max_bytes, 80.0);
            crate::ui::labelled_text_edit(ui, "Replicas", &mut dialog.replicas, 40.0);
            match dialog.settings() {
                Ok(settings) => {
                    if ui
                        .button(format!("Agree and create {}", settings.name))
                        .clicked()
                    {
                        actions.push(JetStreamAction::StartRecorder(settings));
                        done = true;
                    }
                }
                Err(e) => {
                    ui.colored_label(crate::ui::palette::of(ui).bad, e);
                }
            }
        });
    if !open || done {
        view.consent = None;
    }
}
