//! What the inspector says of a message besides its payload: when it came,
//! on which connection, its reply subject and size, and its headers, each
//! cut or wrapped to the panel's width.

use egui::RichText;

use crate::capture::{Record, Store};
use crate::ui::format;

/// Header rows shown; the rest are counted.
const MAX_HEADER_ROWS: usize = 200;
/// Characters of one header value shown (the rest on hover).
pub(super) const MAX_HEADER_VALUE_CHARS: usize = 300;

/// When, from where, how big.
pub(super) fn meta_ui(ui: &mut egui::Ui, store: &Store, record: &Record) {
    egui::Grid::new("inspector-meta")
        .num_columns(2)
        .spacing([12.0, 2.0])
        .show(ui, |ui| {
            ui.label("Received");
            ui.add(egui::Label::new(format::full_time(record.received_at)).wrap());
            ui.end_row();
            ui.label("Connection");
            ui.add(egui::Label::new(store.connection_name(record.connection)).wrap());
            ui.end_row();
            ui.label("Reply to");
            match record.reply() {
                // Cut to the panel (a 164-character inbox pushed the
                // inspector off screen); the whole on hover.
                Some(reply) => ui
                    .add(egui::Label::new(RichText::new(reply).monospace()).truncate())
                    .on_hover_text(reply),
                None => ui.label(RichText::new("none").weak()),
            };
            ui.end_row();
            ui.label("Size");
            // Values wrap in what the label column leaves: a grid grows
            // to its widest row, and the panel with it.
            ui.add(
                egui::Label::new(format!(
                    "{} payload ({} bytes), {} on the wire",
                    format::bytes(record.payload().len() as u64),
                    format::count(record.payload().len() as u64),
                    format::bytes(record.wire_size() as u64)
                ))
                .wrap(),
            );
            ui.end_row();
            if let Some(headers) = record.headers()
                && let Some(code) = headers.status()
            {
                ui.label("Status");
                ui.add(
                    egui::Label::new(format!(
                        "{code} {}",
                        headers.status_description().unwrap_or("")
                    ))
                    .wrap(),
                );
                ui.end_row();
            }
        });
}

/// Every header, multi-valued ones once per value.
pub(super) fn headers_ui(ui: &mut egui::Ui, record: &Record) {
    let Some(headers) = record.headers().filter(|h| !h.is_empty()) else {
        ui.label(RichText::new("No headers").weak());
        return;
    };
    ui.strong(format!("Headers ({})", headers.len()));
    if headers.is_malformed() {
        ui.colored_label(
            crate::ui::palette::of(ui).retry,
            "Malformed header block (kept exactly as received):",
        );
        let raw = String::from_utf8_lossy(headers.as_bytes());
        let shown: String = raw.chars().take(MAX_HEADER_VALUE_CHARS * 4).collect();
        ui.add(egui::Label::new(RichText::new(format!("{shown:?}")).monospace()).wrap());
    }
    // Values wrap in what the name leaves of the panel's width (a
    // 300-character JWT pushed the inspector off-screen; a grid's value
    // column, as wide as the panel, started after the name and ran past
    // it) and are cut; long names are cut too; thousands of headers are
    // counted.
    for (name, value) in headers.iter().take(MAX_HEADER_ROWS) {
        ui.horizontal_top(|ui| {
            let name_label = ui.label(RichText::new(format::elide(name, 28)).monospace().strong());
            if name.chars().count() > 28 {
                name_label.on_hover_text(name);
            }
            let shown: String = value.chars().take(MAX_HEADER_VALUE_CHARS).collect();
            let label = ui.add(egui::Label::new(RichText::new(&shown).monospace()).wrap());
            if shown.len() < value.len() {
                label.on_hover_text(value);
            }
        });
    }
    if headers.len() > MAX_HEADER_ROWS {
        ui.label(
            RichText::new(format!(
                "… {} more headers",
                format::count((headers.len() - MAX_HEADER_ROWS) as u64)
            ))
            .weak(),
        );
    }
}
