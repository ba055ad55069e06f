//! The status bar: real counters of what was captured, evicted by the
//! memory budget and dropped by the client, and memory against the budget.

use egui::RichText;

use super::format;
use crate::capture::Store;

pub struct StatusFigures {
    pub dropped_by_client: u64,
    /// Messages per second in the store's newest complete seconds.
    pub rate: f64,
    /// Messages per second arriving from the network.
    pub network_rate: f64,
    pub backlog: crate::broker::Backlog,
    pub losses: crate::broker::Losses,
    pub paused: bool,
    pub connections_up: usize,
    pub connections: usize,
    pub wildcard_warning: bool,
    /// The whole process's resident memory, where the system says.
    pub resident_bytes: Option<u64>,
}

/// Returns a new budget in bytes if the user changed it.
/// Every loss that is not zero.
fn losses_ui(ui: &mut egui::Ui, losses: &crate::broker::Losses) {
    if losses.server_cuts + losses.disconnects + losses.unparseable > 0 {
        let mut parts = Vec::new();
        if losses.disconnects > 0 {
            parts.push(format!(
                "disconnected {:.1} s ({}x)",
                losses.disconnected.as_secs_f64(),
                losses.disconnects
            ));
        }
        if losses.server_cuts > 0 {
            parts.push(format!(
                "cut off by the server {}x ({} lost)",
                losses.server_cuts,
                format::count(losses.lost_in_cuts)
            ));
        }
        if losses.unparseable > 0 {
            parts.push(format!("stream breaks {}", losses.unparseable));
        }
        ui.colored_label(crate::ui::palette::of(ui).bad, parts.join(" · "))
            .on_hover_text(format!(
                "Messages published while a link was down are not seen. {}",
                losses.summary()
            ));
    }
    if losses.malformed > 0 {
        ui.colored_label(
            crate::ui::palette::of(ui).warn,
            format!("malformed kept {}", format::count(losses.malformed)),
        )
        .on_hover_text("Messages that broke the protocol's rules, kept as sent and flagged");
    }
    if losses.own_skipped > 0 {
        ui.weak(format!(
            "own reads not kept {}",
            format::count(losses.own_skipped)
        ))
        .on_hover_text(
            "Stored messages eventscope read back (browse, search, the recorder's history) \
                 that a `>` subscription also received: not the watched system's traffic",
        );
    }
}

/// What arrives, how far the view is behind, and why it may show less.
fn flow_ui(ui: &mut egui::Ui, figures: &StatusFigures) {
    ui.separator();
    ui.label(format!("{} received", format::rate(figures.network_rate)))
        .on_hover_text("Messages per second arriving from the network (last whole second)");
    if figures.backlog.messages > 0 && figures.backlog.seconds >= 1.0 {
        ui.colored_label(
            crate::ui::palette::of(ui).retry,
            format!(
                "view {:.0} s behind ({} queued)",
                figures.backlog.seconds,
                format::count(figures.backlog.messages)
            ),
        )
        .on_hover_text(
            "The view is catching up with messages already received; the rates and \
                 tables show the past until it has",
        );
    }
    ui.label(format::rate(figures.rate))
        .on_hover_text("Messages per second in the view's newest complete seconds");
    if figures.paused {
        ui.colored_label(
            crate::ui::palette::of(ui).warn,
            "view paused (capture continues)",
        );
    }
    if figures.wildcard_warning {
        ui.colored_label(crate::ui::palette::of(ui).warn, "⚠ wildcard monitor active")
            .on_hover_text(super::connections::WILDCARD_WARNING);
    }
}

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
            crate::ui::palette::of(ui).good
        } else if figures.connections == 0 {
            ui.visuals().weak_text_color()
        } else {
            crate::ui::palette::of(ui).retry
        };
        ui.colored_label(conn_color, format!("• {}/{} connected", figures.connections_up, figures.connections));
        ui.separator();
        ui.label(format!("captured {}", format::count(counters.captured)))
            .on_hover_text("Messages received since the last clear");
        ui.label(format!("retained {}", format::count(store.len() as u64)));
        let evicted = RichText::new(format!("evicted {}", format::count(counters.evicted)));
        ui.label(if counters.evicted > 0 { evicted.color(crate::ui::palette::of(ui).warn) } else { evicted })
            .on_hover_text("Oldest messages removed to stay within the memory budget");
        let dropped = RichText::new(format!("dropped by client {}", format::count(figures.dropped_by_client)));
        ui.label(if figures.dropped_by_client > 0 { dropped.color(crate::ui::palette::of(ui).bad) } else { dropped })
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
        losses_ui(ui, &figures.losses);
        flow_ui(ui, figures);
    });
    new_budget
}
