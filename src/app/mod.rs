//! The desktop app: owns the session and the view states, asks the
//! session for everything beyond drawing, and holds no broker client.
//!
//! The shell: `start` (the window, signals), `demo` (the demo started
//! behind the window), `frame` (each frame's work that is not drawing),
//! `draw` (the window's panels), `commands`, `pending` (background work
//! waited for: dialogs, sends, files, traces), `answers` (the session's
//! answers handed to the view that asked), `file_dialog`, `keyring`,
//! `screenshot`. One room per area of work: `capture_files` (traffic
//! saved and loaded), `publish` (publish, request, replay), `jetstream`
//! (with `jetstream/actions`), `kv` (KV and object stores), `cluster`, `services`, `search`, `export`, `map`;
//! `commands` runs what a key, a menu or the palette asks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::broker::{BrokerError, ConnectionProfile};
use crate::broker::{load_contexts, nats_config_dir};
use crate::session::Session;
use crate::ui::FlowsView;
use crate::ui::InspectorView;
use crate::ui::RatesView;
use crate::ui::TrafficView;
use crate::ui::View;
use crate::ui::{ConnectionsView, FileField};
use pending::{Pending, Waiting};
use screenshot::ScreenshotPlan;

mod answers;
mod capture_files;
mod cluster;
mod commands;
mod compare;
mod demo;
mod draw;
mod export;
mod file_dialog;
mod frame;
mod jetstream;
mod keyring;
mod kv;
mod map;
mod pending;
mod publish;
mod schemas;
mod screenshot;
mod search;
mod services;
mod start;

pub use keyring::{KeyringError, keyring_forget, keyring_load};
pub use screenshot::{FlowPick, JetStreamShot, KvShot};
pub use start::{ScreenshotRequest, Start, StartError, StartReport, run};

/// Time per frame at most spent moving live records from the broker into
/// the store. Normal traffic takes far less; a flood takes it all, which
/// still leaves a 60 Hz frame room to draw (benches/flood.rs: with 4 ms the
/// app fell behind a 350,000 msg/s flood and the backlog grew in memory).
pub const LIVE_DRAIN_BUDGET: Duration = Duration::from_millis(10);
/// While the window is minimized or covered, frames are rare (nothing is
/// painted): each takes in more.
pub const HIDDEN_DRAIN_BUDGET: Duration = Duration::from_millis(100);
/// New traffic repaints at most this often: a table of 10 msg/s does not
/// need 60 frames a second (software rendering spent 75% of a core on it).
/// A burst the view is behind on still runs frame after frame.
pub const TRAFFIC_REPAINT: Duration = Duration::from_millis(200);
/// How often a hidden window runs at all, to take in what arrived.
pub const HIDDEN_REPAINT: Duration = Duration::from_secs(1);
/// Time per frame spent taking in a capture file being loaded.
pub const LOAD_BUDGET: Duration = Duration::from_millis(4);

const PROFILES_KEY: &str = "eventscope.profiles";
/// Traffic this recent keeps the rates and the plot moving (the plot shows
/// the last 60 s).
const RATES_WINDOW_NS: i64 = 65_000_000_000;
const BUDGET_KEY: &str = "eventscope.budget_mib";
const TEMPLATES_KEY: &str = "eventscope.templates";
const LOOK_KEY: &str = "eventscope.look";

/// Where screenshot mode leaves its result: `Err` says why it failed.
pub type ResultSink = Arc<Mutex<Option<Result<(), String>>>>;

/// How the app starts.
pub struct AppConfig {
    pub budget_mib: usize,
    /// Disk for messages waiting in a burst (see `Session::set_spool_budget`).
    pub spool_mib: u64,
    pub connect: Vec<ConnectionProfile>,
    pub view: View,
    pub screenshot: Option<ScreenshotPlan>,
    /// Read NATS CLI contexts and saved profiles (off in tests).
    pub load_profiles: bool,
    /// A capture file to open at start (`eventscope FILE.jsonl`).
    pub open_capture: Option<PathBuf>,
    /// Protobuf types payloads are read with (none: those saved).
    pub schemas: crate::decode::SchemaSettings,
    /// The theme, text size and clock (none: the last run's).
    pub look: Option<crate::ui::Look>,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            budget_mib: 512,
            spool_mib: crate::session::DEFAULT_SPOOL_BYTES >> 20,
            connect: Vec::new(),
            view: View::Traffic,
            screenshot: None,
            load_profiles: false,
            open_capture: None,
            schemas: Default::default(),
            look: None,
        }
    }
}

pub struct EventscopeApp {
    pub session: Session,
    pub view: View,
    pub traffic: TrafficView,
    pub inspector: InspectorView,
    /// Where the payloads' Protobuf types come from, and their bindings.
    pub schema_settings: crate::decode::SchemaSettings,
    pub schemas_view: crate::ui::SchemasView,
    pub export_view: crate::ui::ExportView,
    /// The `?` window.
    pub shortcuts_open: bool,
    /// Ctrl+K.
    pub palette: crate::ui::CommandPaletteView,
    /// The theme, text size and clock chosen, and the last applied.
    pub look: crate::ui::Look,
    look_applied: Option<crate::ui::Look>,
    pub message_diff: Option<crate::ui::MessageDiffView>,
    pub capture_diff: Option<crate::ui::CaptureDiffView>,
    capture_diffs: Option<std::sync::mpsc::Receiver<Result<crate::ui::CaptureDiffView, String>>>,
    rates: RatesView,
    /// The Kafka groups' lag over time, read from the commit records.
    pub group_lag: crate::capture::GroupLagHistory,
    /// The selection the bottom panel last followed (a commit selected
    /// shows the lag).
    lag_shown_for: Option<crate::capture::Seq>,
    pub connections: ConnectionsView,
    pub flows: FlowsView,
    pub publish: crate::ui::PublishView,
    pub replay: crate::ui::ReplayView,
    capture_load: Option<crate::capture::CaptureLoad>,
    /// Records captured when the store was last saved or loaded: more than
    /// that are work a load would lose.
    saved_mark: Arc<std::sync::atomic::AtomicU64>,
    /// A load waiting for the user's yes (it would replace unsaved work).
    replace_confirm: Option<capture_files::Replace>,
    /// Answers from background work, polled each frame.
    pending: Pending,
    pub saved_profiles: Vec<ConnectionProfile>,
    /// Profiles connected from the window, saved once they come up.
    save_when_connected: Vec<ConnectionProfile>,
    /// The demo's servers while they start (`--demo`, `--demo-cluster`).
    demo: Option<demo::PendingDemo>,
    contexts: Vec<ConnectionProfile>,
    budget_mib: usize,
    screenshot: Option<ScreenshotPlan>,
    /// Errors to show once in the top bar (e.g. a command that could not be sent).
    pub notice: Option<crate::ui::Notice>,
    /// Where screenshot mode puts its result when it ends the app (the
    /// runner reads it).
    pub screenshot_result: Option<ResultSink>,
    /// With `EVENTSCOPE_STARTUP_TIMING`: the start, and where the first
    /// frame puts how long after it it was drawn.
    pub first_frame: Option<(std::time::Instant, Arc<Mutex<Option<Duration>>>)>,
    /// Things that must live as long as the app (the demo's server).
    keep_alive: Vec<Box<dyn std::any::Any>>,
    resident: crate::process::ResidentSampler,
    file_dialogs: file_dialog::FileDialogs,
    /// The JetStream view and its requests.
    jetstream: jetstream::JetStreamWork,
    /// The KV and object-store view and its requests.
    kv: kv::KvWork,
    /// The Cluster view and its polls.
    cluster: cluster::ClusterWork,
    services: services::ServicesWork,
    search: search::SearchWork,
    /// The Map view and when its map was made.
    map: map::MapWork,
    /// Text for the clipboard, handed to egui on the next frame.
    to_clipboard: Option<String>,
}

impl EventscopeApp {
    pub fn new(
        ctx: &egui::Context,
        storage: Option<&dyn eframe::Storage>,
        config: AppConfig,
    ) -> Result<Self, BrokerError> {
        let repaint_ctx = ctx.clone();
        let waker = Arc::new(move || {
            let hidden = repaint_ctx.input(|i| {
                let viewport = i.viewport();
                viewport.minimized == Some(true) || viewport.occluded == Some(true)
            });
            repaint_ctx.request_repaint_after(if hidden {
                HIDDEN_REPAINT
            } else {
                TRAFFIC_REPAINT
            });
        });
        let mut budget_mib = config.budget_mib;
        let mut saved_profiles = Vec::new();
        if let Some(storage) = storage {
            saved_profiles = eframe::get_value(storage, PROFILES_KEY).unwrap_or_default();
            if config.budget_mib == 512 {
                budget_mib = eframe::get_value(storage, BUDGET_KEY).unwrap_or(budget_mib);
            }
        }
        // The command line's schemas, else the last run's.
        let schema_settings = match storage {
            Some(storage) if config.schemas.is_empty() => {
                eframe::get_value(storage, schemas::SCHEMAS_KEY).unwrap_or_default()
            }
            _ => config.schemas.clone(),
        };
        let (schemas, schemas_problem) = schemas::load(&schema_settings);
        let session = Session::new(waker, budget_mib * 1024 * 1024)?;
        session.set_spool_budget(config.spool_mib << 20);
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
            schema_settings,
            schemas_view: Default::default(),
            export_view: Default::default(),
            shortcuts_open: false,
            palette: Default::default(),
            look: config
                .look
                .or_else(|| storage.and_then(|s| eframe::get_value(s, LOOK_KEY)))
                .unwrap_or_default(),
            look_applied: None,
            message_diff: None,
            capture_diff: None,
            capture_diffs: None,
            rates: RatesView::default(),
            group_lag: Default::default(),
            lag_shown_for: None,
            connections,
            flows: FlowsView::default(),
            publish: crate::ui::PublishView {
                templates: storage
                    .and_then(|s| eframe::get_value(s, TEMPLATES_KEY))
                    .unwrap_or_default(),
                ..Default::default()
            },
            replay: crate::ui::ReplayView::default(),
            capture_load: None,
            saved_mark: Arc::default(),
            replace_confirm: None,
            pending: Pending::default(),
            saved_profiles,
            save_when_connected: Vec::new(),
            demo: None,
            contexts,
            budget_mib,
            screenshot: config.screenshot,
            notice: schemas_problem.map(crate::ui::Notice::problem),
            screenshot_result: None,
            first_frame: None,
            keep_alive: Vec::new(),
            resident: Default::default(),
            file_dialogs: Default::default(),
            jetstream: Default::default(),
            kv: Default::default(),
            cluster: Default::default(),
            services: Default::default(),
            search: Default::default(),
            map: Default::default(),
            to_clipboard: None,
        };
        app.hand_out(schemas);
        if storage.is_some() {
            app.fetch_keyring_secrets();
        }
        for profile in config.connect {
            app.connect(profile);
        }
        if let Some(path) = config.open_capture {
            app.load_capture(path);
        }
        if let Some(storage) = storage {
            app.search.view.saved =
                eframe::get_value(storage, search::SAVED_SEARCHES_KEY).unwrap_or_default();
        }
        Ok(app)
    }

    /// Keep something alive as long as the app (e.g. the demo).
    pub fn keep(&mut self, thing: Box<dyn std::any::Any>) {
        self.keep_alive.push(thing);
    }

    /// Connect; the profile is saved once the connection comes up (an
    /// attempt that never connects is not kept).
    pub fn connect(&mut self, profile: ConnectionProfile) {
        self.save_when_connected.retain(|p| p.name != profile.name);
        self.save_when_connected.push(profile.clone());
        self.session.connect(profile);
    }

    /// Connect without ever saving the profile (the demo's: its ports are
    /// this run's).
    pub fn connect_unsaved(&mut self, profile: ConnectionProfile) {
        self.save_when_connected.retain(|p| p.name != profile.name);
        self.session.connect(profile);
    }

    /// Save the profiles whose connection came up.
    fn save_connected_profiles(&mut self) {
        if self.save_when_connected.is_empty() {
            return;
        }
        let (up, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.save_when_connected)
            .into_iter()
            .partition(|p| {
                self.session.profiles().iter().any(|(key, live)| {
                    live.name == p.name
                        && self
                            .session
                            .shared(*key)
                            .is_some_and(|s| s.state().is_connected())
                })
            });
        self.save_when_connected = waiting
            .into_iter()
            .filter(|p| {
                self.session
                    .profiles()
                    .iter()
                    .any(|(_, live)| live.name == p.name)
            })
            .collect();
        for profile in up {
            self.saved_profiles.retain(|p| p.name != profile.name);
            self.saved_profiles.push(profile.clone());
            self.remember_secret(&profile);
        }
    }

    /// The JetStream view's state (tests read it).
    pub fn jetstream_view(&self) -> &crate::ui::JetStreamView {
        &self.jetstream.view
    }

    /// The Cluster view's state, as drawn.
    pub fn cluster_view(&self) -> &crate::ui::ClusterView {
        &self.cluster.view
    }

    /// The KV view's state, as drawn.
    pub fn search_view_mut(&mut self) -> &mut crate::ui::SearchView {
        &mut self.search.view
    }

    pub fn services_view(&self) -> &crate::ui::ServicesView {
        &self.services.view
    }

    pub fn kv_view(&self) -> &crate::ui::KvView {
        &self.kv.view
    }

    /// The KV view's state, to fill (benchmarks).
    pub fn kv_view_mut(&mut self) -> &mut crate::ui::KvView {
        &mut self.kv.view
    }

    /// The JetStream view's state, to fill (benchmarks).
    pub fn jetstream_view_mut(&mut self) -> &mut crate::ui::JetStreamView {
        &mut self.jetstream.view
    }

    /// The stream report's names in the order shown.
    pub fn jetstream_names(&mut self) -> Vec<String> {
        self.jetstream.view.streams.shown_names()
    }

    fn start_trace(&mut self, seq: crate::capture::Seq) {
        let Some(subject) = self.session.store.get(seq).map(|r| r.subject().to_string()) else {
            return;
        };
        let asked = self.session.trace(seq);
        self.wait_for_trace(subject, asked);
    }

    /// Trace a stream's message on the connection it was read from.
    fn start_trace_record(
        &mut self,
        record: &crate::capture::Record,
        key: Option<crate::capture::ConnectionKey>,
    ) {
        let Some(key) = key else {
            self.say(crate::ui::Notice::problem("trace: no connection is up"));
            return;
        };
        let asked = self.session.trace_record(record, key);
        self.wait_for_trace(record.subject().to_owned(), asked);
    }

    fn wait_for_trace(
        &mut self,
        subject: String,
        asked: Result<tokio::sync::oneshot::Receiver<crate::broker::TraceAnswer>, BrokerError>,
    ) {
        match asked {
            Ok(rx) => {
                self.pending.wait(Waiting::Trace(subject, rx));
                self.flows.trace_waiting = true;
            }
            Err(e) => self.say(crate::ui::Notice::problem(format!(
                "trace: the record's connection is not available ({e})"
            ))),
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
        let notices = self.pending.notices();
        self.session.spawn(async move {
            if let Ok(Some(path)) = rx.await {
                let message = match tokio::fs::write(&path, text).await {
                    Ok(()) => crate::ui::Notice::done(format!("saved {}", path.display())),
                    Err(e) => {
                        crate::ui::Notice::problem(format!("cannot save {}: {e}", path.display()))
                    }
                };
                let _ = notices.send(message);
            }
        });
    }

    /// Open a file dialog on the background runtime; the UI never waits.
    fn pick_file(&mut self, field: FileField) {
        self.pending
            .wait(Waiting::ConnectionFile(field, self.pick_open_path()));
    }

    /// Show a notice in the top bar (the newest replaces the last).
    pub fn say(&mut self, notice: crate::ui::Notice) {
        self.notice = Some(notice);
    }

    fn report(&mut self, result: Result<(), BrokerError>) {
        if let Err(e) = result {
            self.say(crate::ui::Notice::problem(e.to_string()));
        }
    }
}

impl eframe::App for EventscopeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.logic_step(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.ui_root(ui);
        if let Some((started, sink)) = self.first_frame.take() {
            *sink.lock().unwrap_or_else(|e| e.into_inner()) = Some(started.elapsed());
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
        eframe::set_value(storage, LOOK_KEY, &self.look);
        eframe::set_value(storage, schemas::SCHEMAS_KEY, &self.schema_settings);
        eframe::set_value(storage, search::SAVED_SEARCHES_KEY, &self.search.view.saved);
    }
}
