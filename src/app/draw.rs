//! Drawing the window: the top bar, the status bar and each view's panels,
//! handing the views' actions to the app.

use egui::RichText;

use super::EventscopeApp;
use super::pending::Waiting;
use crate::capture::ROOT;
use crate::capture::Timestamp;
use crate::capture::now_timestamp;
use crate::ui::View;
use crate::ui::subject_tree_ui;
use crate::ui::{ConnectionRow, ConnectionsAction, connections_ui};
use crate::ui::{FlowsAction, diagram_ui, flow_list_ui};
use crate::ui::{InspectorAction, inspector_ui};
use crate::ui::{StatusFigures, status_bar_ui};
use crate::ui::{filter_bar_ui, table_ui};
use crate::ui::{group_lag_ui, rates_ui};

impl EventscopeApp {
    /// The whole window.
    pub fn ui_root(&mut self, ui: &mut egui::Ui) {
        let now = now_timestamp();
        if self.look_applied != Some(self.look) {
            self.look.apply(ui.ctx());
            self.look_applied = Some(self.look);
        }
        self.commands(ui.ctx());
        if let Some(text) = self.to_clipboard.take() {
            ui.ctx().copy_text(text);
        }
        egui::Panel::top("top-bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status-bar").show(ui, |ui| self.status_bar_ui(ui, now));
        self.file_dialogs.ui(ui.ctx());
        self.schemas_window(ui.ctx());
        self.export_window(ui.ctx());
        self.compare_windows(ui.ctx());
        crate::ui::shortcuts_window_ui(ui.ctx(), &mut self.shortcuts_open);
        self.replace_confirm_ui(ui.ctx());
        let picked = crate::ui::capture_picker_ui(ui.ctx(), self.jetstream_view_mut());
        self.on_jetstream_actions(picked);
        match self.view {
            View::Traffic => self.traffic_view_ui(ui, now),
            View::Flows => self.flows_view_ui(ui, now),
            View::Publish => self.publish_view_ui(ui),
            View::Connections => self.connections_view_ui(ui),
            View::Servers => {
                egui::CentralPanel::default()
                    .show(ui, |ui| crate::ui::cluster_ui(ui, &mut self.cluster.view));
            }
            View::Search => self.search_view_ui(ui),
            View::Map => self.map_view_ui(ui),
            View::Services => {
                egui::CentralPanel::default().show(ui, |ui| self.services_view_ui(ui));
            }
            View::Kv => {
                let actions = crate::ui::kv_ui(ui, &mut self.kv.view, now);
                self.on_kv_actions(actions);
            }
            View::JetStream => {
                let actions = crate::ui::jetstream_ui(ui, &mut self.jetstream.view, now);
                self.on_jetstream_actions(actions);
            }
        }
    }

    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        // Wrapped: at 1000 px the tabs and buttons take two lines rather
        // than run off the window.
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("eventscope").strong().size(16.0));
            ui.separator();
            ui.menu_button("File", |ui| {
                if ui.button("Save capture…").clicked() {
                    self.save_capture();
                }
                if ui.button("Load capture…").clicked() {
                    self.before_replacing(super::capture_files::Replace::File);
                }
                if ui.button("Open nats sub --dump directory…").clicked() {
                    self.before_replacing(super::capture_files::Replace::DumpDir);
                }
                if ui.button("Export filter result…").clicked() {
                    self.export_view.open = true;
                    ui.close();
                }
                if ui.button("Compare with a capture file…").clicked() {
                    self.compare_with_capture();
                    ui.close();
                }
                if ui.button("Payload schemas…").clicked() {
                    self.schemas_view.open = true;
                    ui.close();
                }
                if ui.button("Open capture from stream…").clicked() {
                    self.open_capture_picker();
                }
            });
            ui.menu_button("View", |ui| {
                if ui
                    .add(egui::Button::new("Command palette…").shortcut_text("Ctrl+K"))
                    .clicked()
                {
                    self.palette.toggle();
                    ui.close();
                }
                if ui
                    .add(egui::Button::new("Keyboard shortcuts").shortcut_text("?"))
                    .clicked()
                {
                    self.shortcuts_open = true;
                    ui.close();
                }
                ui.separator();
                crate::ui::look_menu_ui(ui, &mut self.look);
            });
            if let Some(load) = &self.capture_load {
                ui.add(
                    egui::ProgressBar::new(load.progress())
                        .desired_width(160.0)
                        .text(format!("loading: {} messages", load.loaded)),
                );
            }
            ui.separator();
            for view in View::ALL {
                ui.selectable_value(&mut self.view, view, view.label());
            }
            ui.separator();
            let pause_label = if self.traffic.is_paused() {
                "Resume"
            } else {
                "Pause"
            };
            if ui
                .button(pause_label)
                .on_hover_text("Freeze the view; capture goes on (Space)")
                .clicked()
            {
                self.traffic.toggle_pause(&self.session.store);
            }
            if ui
                .button("Clear")
                .on_hover_text("Forget everything captured (Ctrl+L)")
                .clicked()
            {
                self.forget_captured();
            }
            ui.toggle_value(&mut self.look.rates_under_traffic, "Rates");
            if !self.session.pending_confirms.is_empty() {
                ui.separator();
                if ui
                    .button(
                        RichText::new("⚠ a subscription needs your confirmation")
                            .color(crate::ui::palette::of(ui).retry),
                    )
                    .clicked()
                {
                    self.view = View::Connections;
                }
            }
            if let Some(notice) = &self.notice {
                ui.separator();
                if crate::ui::notice_ui(ui, notice) {
                    self.notice = None;
                }
            }
        });
    }

    fn status_bar_ui(&mut self, ui: &mut egui::Ui, now: Timestamp) {
        let network_rate = self.session.network_rate();
        let profiles = self.session.profiles();
        let connections_up = profiles
            .iter()
            .filter(|(k, _)| {
                self.session
                    .shared(*k)
                    .is_some_and(|s| s.state().is_connected())
            })
            .count();
        let wildcard_warning = profiles.iter().any(|(_, p)| {
            p.subscriptions
                .iter()
                .any(|s| crate::capture::has_wildcards(&s.pattern))
        });
        let figures = StatusFigures {
            dropped_by_client: self.session.dropped_by_clients(),
            rate: self.session.store.subjects().rate(ROOT, now),
            network_rate,
            backlog: self.session.backlog(now),
            losses: self.session.losses(),
            paused: self.traffic.is_paused(),
            connections_up,
            connections: profiles.len(),
            wildcard_warning,
            resident_bytes: self.resident.current(),
        };
        if let Some(budget) = status_bar_ui(ui, &self.session.store, &figures, &mut self.budget_mib)
        {
            self.session.store.set_budget(budget);
        }
    }

    fn traffic_view_ui(&mut self, ui: &mut egui::Ui, now: Timestamp) {
        // A group's commit selected: its lag over time is what to see.
        if self.traffic.selected != self.lag_shown_for {
            self.lag_shown_for = self.traffic.selected;
            let commit = self
                .traffic
                .selected
                .and_then(|seq| self.session.store.get(seq))
                .is_some_and(|r| r.subject() == crate::capture::KAFKA_COMMITS_TOPIC);
            if commit {
                self.rates.show_group_lag = true;
            }
        }
        let tree_action = egui::Panel::left("subjects")
            .resizable(true)
            .default_size(crate::ui::side_default(ui, 260.0))
            .size_range(crate::ui::side_range(ui))
            .show(ui, |ui| {
                subject_tree_ui(
                    ui,
                    self.session.store.subjects(),
                    now,
                    self.traffic.subject_filter.trim(),
                )
            })
            .inner;
        if let Some(pattern) = tree_action.filter {
            self.traffic.filter_subject(pattern);
        }
        self.inspector_panel_ui(ui);
        if self.look.rates_under_traffic {
            egui::Panel::bottom("rates")
                .resizable(true)
                .default_size(crate::ui::bottom_default(ui, 170.0))
                .size_range(crate::ui::bottom_range(ui))
                .show(ui, |ui| {
                    let lag = &self.group_lag;
                    if !lag.is_empty() {
                        ui.horizontal(|ui| {
                            ui.selectable_value(
                                &mut self.rates.show_group_lag,
                                false,
                                "Message rates",
                            );
                            ui.selectable_value(
                                &mut self.rates.show_group_lag,
                                true,
                                "Kafka group lag",
                            );
                        });
                    }
                    if self.rates.show_group_lag && !lag.is_empty() {
                        group_lag_ui(ui, lag, now);
                    } else {
                        rates_ui(ui, &mut self.rates, &self.session.store, now);
                    }
                });
        }
        egui::CentralPanel::default().show(ui, |ui| {
            filter_bar_ui(ui, &mut self.traffic, &self.session.store);
            table_ui(ui, &mut self.traffic, &self.session.store);
        });
    }

    fn inspector_panel_ui(&mut self, ui: &mut egui::Ui) {
        let action = egui::Panel::right("inspector")
            .resizable(true)
            .default_size(crate::ui::side_default(ui, 420.0))
            .size_range(crate::ui::side_range(ui))
            .show(ui, |ui| {
                // Scrolled: a long subject and headers in a short window
                // push the payload below the bottom.
                egui::ScrollArea::vertical()
                    .id_salt("inspector-scroll")
                    .auto_shrink([false, false])
                    .show(ui, |ui| {
                        inspector_ui(
                            ui,
                            &mut self.inspector,
                            &self.session.store,
                            self.traffic.selected,
                        )
                    })
                    .inner
            })
            .inner;
        self.on_inspector_action(action);
    }

    /// What the inspector asked, wherever it is shown (Traffic, Search).
    pub(super) fn on_inspector_action(&mut self, action: InspectorAction) {
        match action {
            InspectorAction::None => {}
            InspectorAction::FilterSubject(subject) => {
                self.traffic.filter_subject(subject);
                self.view = View::Traffic;
            }
            InspectorAction::Trace(seq) => self.start_trace(seq),
            InspectorAction::EditAndResend(seq) => self.edit_and_resend(seq),
            InspectorAction::CompareWithPrevious(seq) => self.compare_with_previous(seq),
            InspectorAction::CompareWithMarked(seq) => self.compare_with_marked(seq),
            InspectorAction::Follow(what, value) => self.follow(what, value),
        }
    }

    fn flows_view_ui(&mut self, ui: &mut egui::Ui, now: Timestamp) {
        self.inspector_panel_ui(ui);
        self.flow_panels_ui(ui, now, "flow-list");
    }

    /// The flow list and the diagram of the chosen flow: the Flows view,
    /// and under the map when asked (`list_id` tells the two apart).
    pub(super) fn flow_panels_ui(&mut self, ui: &mut egui::Ui, now: Timestamp, list_id: &str) {
        egui::Panel::left(list_id.to_owned())
            .resizable(true)
            .default_size(crate::ui::side_default(ui, 400.0))
            .size_range(crate::ui::side_range(ui))
            .show(ui, |ui| {
                flow_list_ui(ui, &mut self.flows, &self.session.flows, now)
            });
        let directory = self.directory();
        let actions = egui::CentralPanel::default()
            .show(ui, |ui| {
                diagram_ui(
                    ui,
                    &mut self.flows,
                    &self.session.flows,
                    &self.session.store,
                    directory.as_deref(),
                    now,
                )
            })
            .inner;
        for action in actions {
            match action {
                FlowsAction::SelectRecord(seq) => {
                    self.traffic.selected = Some(seq);
                    self.traffic.scroll_to_selected = true;
                }
                FlowsAction::CopyMermaid(text) => {
                    ui.ctx().copy_text(text);
                    self.say(crate::ui::Notice::done(
                        "Mermaid diagram copied to the clipboard",
                    ));
                }
                FlowsAction::SaveMermaid(text) => self.save_text_as("flow.mmd", text),
                FlowsAction::SavePng(rect) => self
                    .pending
                    .wait(Waiting::PngExport(rect, self.pick_save_path("flow.png"))),
                FlowsAction::Trace(seq) => self.start_trace(seq),
            }
        }
    }

    fn connections_view_ui(&mut self, ui: &mut egui::Ui) {
        let profiles: Vec<_> = self.session.profiles().to_vec();
        let rows: Vec<ConnectionRow<'_>> = profiles
            .iter()
            .filter_map(|(key, profile)| {
                let shared = self.session.shared(*key)?;
                Some(ConnectionRow {
                    key: *key,
                    profile,
                    status: shared.status(),
                    delivered: shared.delivered(),
                    dropped: shared.dropped(),
                    losses: shared.losses(),
                    directory: shared.directory().map(|(d, _)| d.connections.len()),
                    directory_error: shared.directory_error(),
                })
            })
            .collect();
        let pending = self.session.pending_confirms.clone();
        let actions = egui::CentralPanel::default()
            .show(ui, |ui| {
                connections_ui(
                    ui,
                    &mut self.connections,
                    &rows,
                    &self.saved_profiles,
                    &self.contexts,
                    &pending,
                    &self.session.store,
                )
            })
            .inner;
        drop(rows);
        for action in actions {
            match action {
                ConnectionsAction::Connect(profile) => self.connect(profile),
                ConnectionsAction::Disconnect(key) => self.session.disconnect(key),
                ConnectionsAction::Subscribe(key, spec) => {
                    let result = self.session.subscribe(key, spec, false);
                    self.report(result);
                }
                ConnectionsAction::Unsubscribe(key, pattern) => {
                    let result = self.session.unsubscribe(key, &pattern);
                    self.report(result);
                }
                ConnectionsAction::PickFile(field) => self.pick_file(field),
                ConnectionsAction::Confirm(index, yes) => {
                    if index < self.session.pending_confirms.len() {
                        let pending = self.session.pending_confirms.remove(index);
                        if yes {
                            let result =
                                self.session
                                    .subscribe(pending.connection, pending.spec, true);
                            self.report(result);
                        }
                    }
                }
                ConnectionsAction::ForgetProfile(name) => {
                    self.saved_profiles.retain(|p| p.name != name);
                    self.forget_secret(name);
                }
            }
        }
    }
}
