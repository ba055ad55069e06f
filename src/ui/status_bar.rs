//! The status bar: real counters of what was captured, evicted by the
//! memory budget and dropped by the client, and memory against the budget.

use egui::{Color32, RichText};

use super::format;
use crate::capture::Store;

pub struct StatusFigures {
    pub dropped_by_client: u64,
    pub rate: f64,
    pub paused: bool,
    pub connections_up: usize,
    pub connections: usize,
    pub wildcard_warning: bool,
    /// The whole process's resident memory, where the system says.
    pub resident_bytes: Option<u64>,
}

/// Returns a new budget in bytes if the user changed it.
pub fn status_bar_ui(
    ui: &mut egui::Ui,
    store: &Store,
    figures: &StatusFigures,
    budget_mib: &mut usize,
) -> Option<usize> {
    let counters = store.counters();
    let mut new_budget = None;
    ui.horizontal(|ui| {
        let conn_color = if figures.connections > 0 && figures.connections_up == figures.connections {
            Color32::from_rgb(110, 190, 110)
        } else if figures.connections == 0 {
            ui.visuals().weak_text_color()
        } else {
            Color32::from_rgb(230, 150, 60)
        };
        ui.colored_label(conn_color, format!("• {}/{} connected", figures.connections_up, figures.connections));
        ui.separator();
        ui.label(format!("captured {}", format::count(counters.captured)))
            .on_hover_text("Messages received since the last clear");
        ui.label(format!("retained {}", format::count(store.len() as u64)));
        let evicted = RichText::new(format!("evicted {}", format::count(counters.evicted)));
        ui.label(if counters.evicted > 0 { evicted.color(Color32::from_rgb(220, 170, 60)) } else { evicted })
            .on_hover_text("Oldest messages removed to stay within the memory budget");
        let dropped = RichText::new(format!("dropped by client {}", format::count(figures.dropped_by_client)));
        ui.label(if figures.dropped_by_client > 0 { dropped.color(Color32::from_rgb(230, 90, 80)) } else { dropped })
            .on_hover_text("Messages the NATS client read but had to discard because eventscope fell behind (slow consumer)");
        ui.separator();
        ui.label(format!("{} of", format::bytes(store.bytes_used() as u64)));
        let drag = ui
            .add(egui::DragValue::new(budget_mib).range(16..=65_536).suffix(" MiB").speed(8.0))
            .on_hover_text("Memory budget for retained messages");
        if drag.changed() {
            new_budget = Some(*budget_mib * 1024 * 1024);
        }
        if let Some(resident) = figures.resident_bytes {
            ui.label(format!("process {}", format::bytes(resident))).on_hover_text(
                "Resident memory of eventscope as a whole: the retained messages, the index of \
                 recent flows, buffers between the network and the UI, and memory the \
                 allocator keeps for reuse. The budget bounds the retained messages.",
            );
        }
        ui.separator();
        ui.label(format::rate(figures.rate));
        if figures.paused {
            ui.colored_label(Color32::from_rgb(220, 170, 60), "view paused (capture continues)");
        }
        if figures.wildcard_warning {
            ui.colored_label(Color32::from_rgb(220, 170, 60), "⚠ wildcard monitor active")
                .on_hover_text(super::connections::WILDCARD_WARNING);
        }
    });
    new_budget
}
