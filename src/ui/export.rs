//! The export window: the traffic filter's result written as NDJSON,
//! CSV (with the columns chosen), JSON, or a `nats sub --dump` directory.

use crate::formats::{Column, ExportFormat};

/// Where the rows go: one of the row formats, or natscli's directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportTarget {
    Rows(ExportFormat),
    Dump,
}

pub struct ExportView {
    pub open: bool,
    pub target: ExportTarget,
    /// CSV columns, each on or off, in their order.
    pub columns: Vec<(Column, bool)>,
}

impl Default for ExportView {
    fn default() -> Self {
        Self {
            open: false,
            target: ExportTarget::Rows(ExportFormat::Ndjson),
            columns: Column::ALL.iter().map(|c| (*c, true)).collect(),
        }
    }
}

impl ExportView {
    pub fn chosen_columns(&self) -> Vec<Column> {
        self.columns
            .iter()
            .filter(|(_, on)| *on)
            .map(|(c, _)| *c)
            .collect()
    }
}

/// The window; `true` when Export was pressed.
pub fn export_window_ui(ctx: &egui::Context, view: &mut ExportView, rows: usize) -> bool {
    let mut go = false;
    let mut open = view.open;
    egui::Window::new("Export the filter result")
        .open(&mut open)
        .default_width(420.0)
        .show(ctx, |ui| {
            ui.label(format!(
                "{rows} messages match the traffic filter. Payloads a decoder reads \
                 (JSON, a bound Protobuf or Avro type, MessagePack, CBOR) are written as \
                 payload_json, with decoded_by naming the decoder."
            ));
            ui.horizontal(|ui| {
                for format in ExportFormat::ALL {
                    ui.radio_value(&mut view.target, ExportTarget::Rows(format), format.label());
                }
            });
            ui.radio_value(
                &mut view.target,
                ExportTarget::Dump,
                "nats sub --dump directory (one JSON file per message)",
            );
            if view.target == ExportTarget::Rows(ExportFormat::Csv) {
                ui.label("Columns");
                ui.horizontal_wrapped(|ui| {
                    for (column, on) in &mut view.columns {
                        ui.checkbox(on, column.name());
                    }
                });
            }
            let ready = rows > 0
                && (view.target != ExportTarget::Rows(ExportFormat::Csv)
                    || view.columns.iter().any(|(_, on)| *on));
            if ui
                .add_enabled(ready, egui::Button::new(format!("Export {rows} messages…")))
                .clicked()
            {
                go = true;
            }
        });
    view.open = open && !go;
    go
}
