//! The eframe app: owns the monitoring session and the view states.
//! `logic` drains the broker within a time budget; `ui` only draws.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use egui::RichText;
use tokio::sync::oneshot;

use crate::app::screenshot::{PlanStep, ScreenshotPlan};
use crate::broker::contexts::{load_contexts, nats_config_dir};
use crate::broker::{BrokerError, ConnectionProfile};
use crate::capture::Timestamp;
use crate::capture::record::now_timestamp;
use crate::capture::subject_tree::ROOT;
use crate::session::Session;
use crate::ui::View;
use crate::ui::connections::{
    ConnectionRow, ConnectionsAction, ConnectionsView, FileField, connections_ui,
};
use crate::ui::flows::{FlowsAction, FlowsView, diagram_ui, flow_list_ui};
use crate::ui::inspector::{InspectorAction, InspectorView, inspector_ui};
use crate::ui::rates::{RatesView, rates_ui};
use crate::ui::status_bar::{StatusFigures, status_bar_ui};
use crate::ui::subject_tree::subject_tree_ui;
use crate::ui::traffic::{TrafficView, filter_bar_ui, table_ui};

mod capture_files;
mod file_dialog;
pub mod keyring;
mod publish;
pub mod screenshot;
mod shortcuts;
pub mod start;

/// A background task's answer, if it came: `Some(Some(answer))`, or
/// `Some(None)` when the task ended without one; `None` while waiting.
fn ready<T>(rx: &mut oneshot::Receiver<T>) -> Option<Option<T>> {
    match rx.try_recv() {
        Ok(answer) => Some(Some(answer)),
        Err(oneshot::error::TryRecvError::Closed) => Some(None),
        Err(oneshot::error::TryRecvError::Empty) => None,
    }
}

/// Like `ready`, emptying the slot once the wait is over.
fn take_ready<T>(slot: &mut Option<oneshot::Receiver<T>>) -> Option<Option<T>> {
    let answer = ready(slot.as_mut()?)?;
    *slot = None;
    Some(answer)
}

/// `take_ready` for a slot that also holds what the answer is for.
fn take_ready_for<K, T>(slot: &mut Option<(K, oneshot::Receiver<T>)>) -> Option<(K, Option<T>)> {
    let answer = ready(&mut slot.as_mut()?.1)?;
    let (key, _) = slot.take()?;
    Some((key, answer))
}

/// Time per frame at most spent moving live records from the broker into
/// the store. Normal traffic takes far less; a flood takes it all, which
/// still leaves a 60 Hz frame room to draw (benches/flood.rs: with 4 ms the
/// app fell behind a 350,000 msg/s flood and the backlog grew in memory).
pub const LIVE_DRAIN_BUDGET: Duration = Duration::from_millis(10);
/// Time per frame spent taking in a capture file being loaded.
pub const LOAD_BUDGET: Duration = Duration::from_millis(4);

const PROFILES_KEY: &str = "eventscope.profiles";
/// Traffic this recent keeps the rates and the plot moving (the plot shows
/// the last 60 s).
const RATES_WINDOW_NS: i64 = 65_000_000_000;
const BUDGET_KEY: &str = "eventscope.budget_mib";
const TEMPLATES_KEY: &str = "eventscope.templates";

/// How the app starts.
pub struct AppConfig {
    pub budget_mib: usize,
    pub connect: Vec<ConnectionProfile>,
    pub view: View,
    pub screenshot: Option<ScreenshotPlan>,
    /// Read NATS CLI contexts and saved profiles (off in tests).
    pub load_profiles: bool,
    /// A capture file to open at start (`eventscope FILE.jsonl`).
    pub open_capture: Option<PathBuf>,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            budget_mib: 512,
            connect: Vec::new(),
            view: View::Traffic,
            screenshot: None,
            load_profiles: false,
            open_capture: None,
        }
    }
}

pub struct EventscopeApp {
    pub session: Session,
    pub view: View,
    pub traffic: TrafficView,
    pub inspector: InspectorView,
    rates: RatesView,
    pub connections: ConnectionsView,
    pub flows: FlowsView,
    pub publish: crate::ui::publish::PublishView,
    pub replay: crate::ui::replay::ReplayView,
    pending_send: Option<oneshot::Receiver<crate::broker::send::SendOutcome>>,
    payload_pick: Option<oneshot::Receiver<Option<PathBuf>>>,
    replay_file: Option<oneshot::Receiver<publish::ReplayFile>>,
    capture_pick: Option<oneshot::Receiver<Option<PathBuf>>>,
    capture_load: Option<crate::capture::load::CaptureLoad>,
    pub saved_profiles: Vec<ConnectionProfile>,
    contexts: Vec<ConnectionProfile>,
    budget_mib: usize,
    show_rates: bool,
    file_pick: Option<(FileField, oneshot::Receiver<Option<PathBuf>>)>,
    /// A diagram PNG waiting for its file name: (screen rect, chosen path).
    png_export: Option<(egui::Rect, oneshot::Receiver<Option<PathBuf>>)>,
    /// A trace asked of the server: (subject, answer).
    trace_pending: Option<(
        String,
        oneshot::Receiver<crate::server_answers::TraceAnswer>,
    )>,
    /// Messages from background work (saved files, errors) for the top bar.
    notices: (
        std::sync::mpsc::Sender<String>,
        std::sync::mpsc::Receiver<String>,
    ),
    screenshot: Option<ScreenshotPlan>,
    /// Errors to show once in the top bar (e.g. a command that could not be sent).
    pub notice: Option<String>,
    /// Where the process exit code goes when screenshot mode ends the app
    /// (the GUI runner reads it).
    pub exit_code_sink: Option<Arc<std::sync::atomic::AtomicI32>>,
    /// Set by `EVENTSCOPE_STARTUP_TIMING`: the first frame reports how long
    /// after this instant it was drawn.
    pub report_first_frame: Option<std::time::Instant>,
    /// Things that must live as long as the app (the demo's server).
    keep_alive: Vec<Box<dyn std::any::Any>>,
    resident: crate::process::memory::ResidentSampler,
    file_dialogs: file_dialog::FileDialogs,
    /// Secrets of saved profiles on their way from the keyring.
    keyring_secrets: Option<oneshot::Receiver<Vec<(String, String)>>>,
}

impl EventscopeApp {
    pub fn new(
        ctx: &egui::Context,
        storage: Option<&dyn eframe::Storage>,
        config: AppConfig,
    ) -> Result<Self, BrokerError> {
        let repaint_ctx = ctx.clone();
        let waker = Arc::new(move || repaint_ctx.request_repaint_after(Duration::from_millis(16)));
        let mut budget_mib = config.budget_mib;
        let mut saved_profiles = Vec::new();
        if let Some(storage) = storage {
            saved_profiles = eframe::get_value(storage, PROFILES_KEY).unwrap_or_default();
            if config.budget_mib == 512 {
                budget_mib = eframe::get_value(storage, BUDGET_KEY).unwrap_or(budget_mib);
            }
        }
        let session = Session::new(waker, budget_mib * 1024 * 1024)?;
        let mut connections = ConnectionsView::default();
        let mut contexts = Vec::new();
        if config.load_profiles
            && let Some(dir) = nats_config_dir()
        {
            let (found, problems) = load_contexts(&dir);
            contexts = found;
            connections.contexts_problems = problems;
        }
        let mut app = Self {
            session,
            view: config.view,
            traffic: TrafficView::default(),
            inspector: InspectorView::default(),
            rates: RatesView::default(),
            connections,
            flows: FlowsView::default(),
            publish: crate::ui::publish::PublishView {
                templates: storage
                    .and_then(|s| eframe::get_value(s, TEMPLATES_KEY))
                    .unwrap_or_default(),
                ..Default::default()
            },
            replay: crate::ui::replay::ReplayView::default(),
            pending_send: None,
            payload_pick: None,
            replay_file: None,
            capture_pick: None,
            capture_load: None,
            saved_profiles,
            contexts,
            budget_mib,
            show_rates: true,
            file_pick: None,
            png_export: None,
            trace_pending: None,
            notices: std::sync::mpsc::channel(),
            screenshot: config.screenshot,
            notice: None,
            exit_code_sink: None,
            report_first_frame: None,
            keep_alive: Vec::new(),
            resident: Default::default(),
            file_dialogs: Default::default(),
            keyring_secrets: None,
        };
        if storage.is_some() {
            app.fetch_keyring_secrets();
        }
        for profile in config.connect {
            app.connect(profile);
        }
        if let Some(path) = config.open_capture {
            app.load_capture(path);
        }
        Ok(app)
    }

    /// Keep something alive as long as the app (e.g. the demo).
    pub fn keep(&mut self, thing: Box<dyn std::any::Any>) {
        self.keep_alive.push(thing);
    }

    pub fn connect(&mut self, profile: ConnectionProfile) {
        self.saved_profiles.retain(|p| p.name != profile.name);
        self.saved_profiles.push(profile.clone());
        self.remember_secret(&profile);
        self.session.connect(profile);
    }

    /// Per-frame work that is not drawing: ingest, indexes, dialogs, plans.
    pub fn logic_step(&mut self, ctx: &egui::Context) {
        self.session.drain(LIVE_DRAIN_BUDGET);
        self.traffic.update(&self.session.store);
        self.poll_file_pick();
        self.poll_png_export(ctx);
        self.poll_trace();
        self.poll_publish();
        self.poll_capture_files();
        self.apply_keyring_secrets();
        if let Ok(notice) = self.notices.1.try_recv() {
            self.notice = Some(notice);
        }
        if let Some(plan) = &mut self.screenshot {
            match plan.step(ctx, &self.session.store, &self.session.flows) {
                PlanStep::Nothing => {}
                PlanStep::StartReplay => self.start_demo_replay(),
                PlanStep::SelectFlow(flow, record) => {
                    self.flows.selected = Some(flow);
                    self.traffic.selected = record;
                }
                PlanStep::Select(seq) => {
                    self.traffic.selected = Some(seq);
                    self.traffic.scroll_to_selected = true;
                }
                PlanStep::Exit(result) => {
                    let code = match result {
                        Ok(()) => 0,
                        Err(e) => {
                            eprintln!("eventscope: screenshot failed: {e}");
                            1
                        }
                    };
                    if let Some(sink) = &self.exit_code_sink {
                        sink.store(code, std::sync::atomic::Ordering::Relaxed);
                    }
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
        }
        // Rates move on by whole seconds while the last minute had traffic
        // (the plot and the rates show it); after that only ages ("3 min
        // ago") change, and a repaint every 10 s keeps an idle app near
        // 0% CPU. New data and input wake the UI by themselves.
        let recent = self
            .session
            .newest_applied()
            .is_some_and(|at| crate::capture::record::now_timestamp() - at < RATES_WINDOW_NS);
        // A link on its way up changes its status without an event.
        let settling = self.session.profiles().iter().any(|(k, _)| {
            self.session.shared(*k).is_some_and(|s| {
                matches!(
                    s.state(),
                    crate::broker::LinkState::Connecting { .. }
                        | crate::broker::LinkState::Reconnecting { .. }
                )
            })
        });
        let job_running = [&self.publish.job, &self.replay.job]
            .into_iter()
            .flatten()
            .any(|job| !job.is_finished());
        ctx.request_repaint_after(if self.session.is_behind() || self.capture_load.is_some() {
            // Batches wait whose wake-ups were spent, or a file is loading:
            // carry on next frame.
            Duration::ZERO
        } else if job_running {
            // Progress of a publishing job.
            Duration::from_millis(100)
        } else if recent || settling {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(10)
        });
    }

    fn poll_file_pick(&mut self) {
        if let Some((field, Some(Some(path)))) = take_ready_for(&mut self.file_pick) {
            self.connections.form.set_file(field, path);
        }
    }

    fn poll_png_export(&mut self, ctx: &egui::Context) {
        let Some((rect, Some(Some(path)))) = take_ready_for(&mut self.png_export) else {
            return;
        };
        let notices = self.notices.0.clone();
        let ppp = ctx.pixels_per_point();
        ctx.request_screenshot(move |image| {
            let region = image.region(&rect, Some(ppp));
            let message = match crate::app::screenshot::save_png(&path, &region) {
                Ok(()) => format!("diagram saved to {}", path.display()),
                Err(e) => e,
            };
            let _ = notices.send(message);
        });
    }

    fn poll_trace(&mut self) {
        let Some((subject, answer)) = take_ready_for(&mut self.trace_pending) else {
            return;
        };
        self.flows.trace_waiting = false;
        match answer
            .unwrap_or_else(|| Err("the connection ended before the trace came back".into()))
        {
            Ok(events) => {
                self.flows.trace =
                    Some(crate::flow::trace_flow(&subject, &events, now_timestamp()));
                self.view = View::Flows;
            }
            Err(e) => self.notice = Some(format!("trace: {e}")),
        }
    }

    fn start_trace(&mut self, seq: crate::capture::store::Seq) {
        let Some(subject) = self.session.store.get(seq).map(|r| r.subject().to_string()) else {
            return;
        };
        match self.session.trace(seq) {
            Ok(rx) => {
                self.trace_pending = Some((subject, rx));
                self.flows.trace_waiting = true;
            }
            Err(e) => {
                self.notice = Some(format!(
                    "trace: the record's connection is not available ({e})"
                ))
            }
        }
    }

    /// Ask for a file name to save to, on the background runtime.
    fn pick_save_path(&self, name: &str) -> oneshot::Receiver<Option<PathBuf>> {
        self.file_dialog(Some(name.to_owned()))
    }

    /// Ask for a file to open, on the background runtime.
    pub(super) fn pick_open_path(&self) -> oneshot::Receiver<Option<PathBuf>> {
        self.file_dialog(None)
    }

    fn file_dialog(&self, save_as: Option<String>) -> oneshot::Receiver<Option<PathBuf>> {
        self.file_dialogs.ask(&self.session, save_as)
    }

    fn save_text_as(&self, name: &str, text: String) {
        let rx = self.pick_save_path(name);
        let notices = self.notices.0.clone();
        self.session.spawn(async move {
            if let Ok(Some(path)) = rx.await {
                let message = match tokio::fs::write(&path, text).await {
                    Ok(()) => format!("saved {}", path.display()),
                    Err(e) => format!("cannot save {}: {e}", path.display()),
                };
                let _ = notices.send(message);
            }
        });
    }

    /// Open a file dialog on the background runtime; the UI never waits.
    fn pick_file(&mut self, field: FileField) {
        self.file_pick = Some((field, self.pick_open_path()));
    }

    fn report(&mut self, result: Result<(), BrokerError>) {
        if let Err(e) = result {
            self.notice = Some(e.to_string());
        }
    }

    /// The whole window.
    pub fn ui_root(&mut self, ui: &mut egui::Ui) {
        let now = now_timestamp();
        self.shortcuts(ui.ctx());
        egui::Panel::top("top-bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status-bar").show(ui, |ui| self.status_bar_ui(ui, now));
        self.file_dialogs.ui(ui.ctx());
        match self.view {
            View::Traffic => self.traffic_view_ui(ui, now),
            View::Flows => self.flows_view_ui(ui, now),
            View::Publish => self.publish_view_ui(ui),
            View::Connections => self.connections_view_ui(ui),
        }
    }

    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label(RichText::new("eventscope").strong().size(16.0));
            ui.separator();
            ui.menu_button("File", |ui| {
                if ui.button("Save capture…").clicked() {
                    self.save_capture();
                }
                if ui.button("Load capture…").clicked() {
                    self.capture_pick = Some(self.pick_open_path());
                }
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
                self.traffic.clear();
                self.session.clear();
            }
            ui.toggle_value(&mut self.show_rates, "Rates");
            if !self.session.pending_confirms.is_empty() {
                ui.separator();
                if ui
                    .button(
                        RichText::new("⚠ a subscription needs your confirmation")
                            .color(egui::Color32::from_rgb(230, 150, 60)),
                    )
                    .clicked()
                {
                    self.view = View::Connections;
                }
            }
            if let Some(notice) = self.notice.clone() {
                ui.separator();
                ui.colored_label(egui::Color32::from_rgb(230, 90, 80), notice);
                if ui.small_button("×").clicked() {
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
                .any(|s| crate::capture::subject::has_wildcards(&s.pattern))
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
        let tree_action = egui::Panel::left("subjects")
            .resizable(true)
            .default_size(260.0)
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
        if self.show_rates {
            egui::Panel::bottom("rates")
                .resizable(true)
                .default_size(170.0)
                .show(ui, |ui| {
                    rates_ui(ui, &mut self.rates, &self.session.store, now)
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
            .default_size(420.0)
            .show(ui, |ui| {
                inspector_ui(
                    ui,
                    &mut self.inspector,
                    &self.session.store,
                    self.traffic.selected,
                )
            })
            .inner;
        match action {
            InspectorAction::None => {}
            InspectorAction::FilterSubject(subject) => {
                self.traffic.filter_subject(subject);
                self.view = View::Traffic;
            }
            InspectorAction::Trace(seq) => self.start_trace(seq),
            InspectorAction::EditAndResend(seq) => self.edit_and_resend(seq),
        }
    }

    fn flows_view_ui(&mut self, ui: &mut egui::Ui, now: Timestamp) {
        self.inspector_panel_ui(ui);
        egui::Panel::left("flow-list")
            .resizable(true)
            .default_size(400.0)
            .show(ui, |ui| {
                flow_list_ui(ui, &mut self.flows, &self.session.flows, now)
            });
        let directory = self
            .session
            .profiles()
            .iter()
            .find_map(|(key, _)| self.session.shared(*key)?.directory())
            .map(|(d, _)| d);
        let actions = egui::CentralPanel::default()
            .show(ui, |ui| {
                diagram_ui(
                    ui,
                    &mut self.flows,
                    &self.session.flows,
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
                    self.notice = Some("Mermaid diagram copied to the clipboard".into());
                }
                FlowsAction::SaveMermaid(text) => self.save_text_as("flow.mmd", text),
                FlowsAction::SavePng(rect) => {
                    self.png_export = Some((rect, self.pick_save_path("flow.png")))
                }
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

impl eframe::App for EventscopeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.logic_step(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.ui_root(ui);
        if let Some(started) = self.report_first_frame.take() {
            eprintln!(
                "eventscope: first frame drawn {} ms after start",
                started.elapsed().as_millis()
            );
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        let profiles: Vec<ConnectionProfile> = self
            .saved_profiles
            .iter()
            .map(ConnectionProfile::for_storage)
            .collect();
        eframe::set_value(storage, PROFILES_KEY, &profiles);
        eframe::set_value(storage, BUDGET_KEY, &self.budget_mib);
        eframe::set_value(storage, TEMPLATES_KEY, &self.publish.templates);
    }
}
