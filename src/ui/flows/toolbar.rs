//! The diagram's toolbar: which flows to draw (its hops on other brokers,
//! every flow of the subject within a window), exports, tracing, zoom.

use std::time::Duration;

use super::{FlowsAction, FlowsView, MAX_ZOOM, MIN_ZOOM};
use crate::flow::Flow;

/// Which flows to draw, exports, tracing, zoom.
pub(super) fn toolbar_ui(
    ui: &mut egui::Ui,
    view: &mut FlowsView,
    selected: &Flow,
    flows: &[&Flow],
    actions: &mut Vec<FlowsAction>,
) {
    ui.horizontal_wrapped(|ui| {
        if flows.iter().any(|f| f.broker != selected.broker) || !view.show_hops {
            ui.checkbox(&mut view.show_hops, "Its hops on other brokers");
        }
        let mut several = view.window.is_some();
        if ui.checkbox(&mut several, format!("All {} flows of this subject within", selected.subject)).changed() {
            view.window = several.then_some(Duration::from_secs(60));
        }
        if let Some(window) = &mut view.window {
            egui::ComboBox::from_id_salt("flow-window")
                .selected_text(format!("{} s", window.as_secs()))
                .show_ui(ui, |ui| {
                    for secs in [10, 60, 300] {
                        ui.selectable_value(window, Duration::from_secs(secs), format!("{secs} s"));
                    }
                });
        }
        ui.separator();
        // The text is made on a click, not every frame.
        if ui.button("Copy Mermaid").clicked() {
            actions.push(FlowsAction::CopyMermaid(crate::flow::mermaid(flows)));
        }
        if ui.button("Save Mermaid…").clicked() {
            actions.push(FlowsAction::SaveMermaid(crate::flow::mermaid(flows)));
        }
        if ui.button("Save PNG…").clicked() {
            actions.push(FlowsAction::SavePng(ui.max_rect()));
        }
        if view.trace_waiting {
            ui.spinner();
        } else if let Some(seq) = selected.first_record
            && ui
                .button("Trace who receives this")
                .on_hover_text("Publish a traced copy (Nats-Trace-Dest, Nats-Trace-Only: nothing is delivered) and show the server's answer")
                .clicked()
        {
            actions.push(FlowsAction::Trace(seq));
        }
        ui.separator();
        if ui.small_button("-").on_hover_text("Zoom out (Ctrl+wheel)").clicked() {
            view.zoom = (view.zoom / 1.25).max(MIN_ZOOM);
            view.fit_width = false;
        }
        ui.label(format!("{:.0}%", view.zoom * 100.0));
        if ui.small_button("+").on_hover_text("Zoom in (Ctrl+wheel)").clicked() {
            view.zoom = (view.zoom * 1.25).min(MAX_ZOOM);
            view.fit_width = false;
        }
        if ui.small_button("1:1").clicked() {
            view.zoom = 1.0;
            view.fit_width = false;
        }
        if ui
            .small_button("Fit")
            .on_hover_text("Zoom so that every lane shows")
            .clicked()
        {
            view.fit_width = true;
        }
    });
}
