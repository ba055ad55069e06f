//! Starting the desktop app: the demo, the connections asked for,
//! screenshot mode, the window, signals. What went wrong is returned as
//! `StartError` for the command line to say.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::app::screenshot::{FlowPick, ScreenshotPlan};
use crate::app::{AppConfig, EventscopeApp};
use crate::broker::ConnectionProfile;
use crate::capture::SubjectPattern;
use crate::demo::Demo;
use crate::demo::LocalServerError;
use crate::ui::View;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("--demo: {0}")]
    Demo(#[from] LocalServerError),
    #[error("cannot make a temp dir for this run's window state: {0}")]
    TemporaryState(std::io::Error),
    #[error("cannot open the window: {0}")]
    Window(#[from] eframe::Error),
    #[error("screenshot failed: {0}")]
    Screenshot(String),
}

/// How a run went, for the command line.
#[derive(Debug, Default)]
pub struct StartReport {
    /// With `EVENTSCOPE_STARTUP_TIMING` set: how long the first frame took
    /// to be drawn after start.
    pub first_frame: Option<Duration>,
}

/// What the app is asked to do at start (the command line makes it).
pub struct Start {
    /// Run the demo system and connect to it.
    pub demo: bool,
    /// Run it on a three-node cluster with a system account (and connect
    /// a second time, as the system account, for the Cluster view).
    pub demo_cluster: bool,
    /// Subjects the demo connection subscribes to (its defaults if empty).
    pub demo_subjects: Vec<String>,
    pub connect: Option<ConnectionProfile>,
    /// Select the newest message whose subject matches (screenshots).
    pub select: Option<SubjectPattern>,
    pub view: View,
    pub screenshot: Option<ScreenshotRequest>,
    pub window_size: (f32, f32),
    /// `--theme`: instead of the last run's.
    pub theme: Option<crate::ui::ThemeChoice>,
    pub budget_mib: usize,
    pub spool_mib: u64,
    /// A capture file to open.
    pub capture: Option<PathBuf>,
    /// Protobuf types payloads are read with (`--proto`, `--bind`; none:
    /// the ones saved last time).
    pub schemas: crate::decode::SchemaSettings,
}

/// `--screenshot PNG` and what the picture should show.
pub struct ScreenshotRequest {
    pub path: PathBuf,
    pub flow: Option<FlowPick>,
    pub start_replay: bool,
    /// The JetStream view's stream, consumer and tab to show.
    pub jetstream: Option<super::screenshot::JetStreamShot>,
    /// The KV view's bucket and key to show.
    pub kv: Option<super::screenshot::KvShot>,
    /// The Cluster view's tab to show.
    pub cluster_tab: Option<crate::ui::ClusterTab>,
    /// The Search view's JSON test, run once traffic has come.
    pub search_json: Option<String>,
    /// The command palette open with this typed.
    pub palette: Option<String>,
    /// Compare the selected message with the previous on its subject.
    pub diff_previous: bool,
}

pub fn run(start: Start) -> Result<StartReport, StartError> {
    let started = std::env::var_os("EVENTSCOPE_STARTUP_TIMING").map(|_| std::time::Instant::now());
    let screenshot_mode = start.screenshot.is_some();
    let wants_demo = start.demo || start.demo_cluster;
    // A screenshot is of a running demo: its servers start first. The
    // window does not wait for them: it shows at once and says what is
    // starting (a cluster takes ~10 s).
    let demo = if wants_demo && screenshot_mode {
        Some(if start.demo_cluster {
            Demo::start_cluster()?
        } else {
            Demo::start()?
        })
    } else {
        None
    };
    let repaint: Arc<Mutex<Option<egui::Context>>> = Arc::default();
    let demo_starting = (wants_demo && !screenshot_mode).then(|| {
        let repaint = repaint.clone();
        let starting = Demo::start_in_background(start.demo_cluster, move || {
            if let Some(ctx) = repaint.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                ctx.request_repaint();
            }
        });
        let what = if start.demo_cluster {
            "a cluster of three private nats-servers (about 10 s)"
        } else {
            "a private nats-server"
        };
        (starting, start.demo_subjects.clone(), what)
    });
    let demo_ready = demo.as_ref().map(Demo::ready);
    let mut connect = Vec::new();
    if let Some(ready) = &demo_ready {
        connect.extend(super::demo::demo_profiles(ready, &start.demo_subjects));
    }
    connect.extend(start.connect);
    let view = if connect.is_empty() && start.capture.is_none() && !wants_demo {
        View::Connections
    } else {
        start.view
    };
    let screenshot = start.screenshot.map(|request| {
        let wait = if demo.is_some() {
            Duration::from_secs(10)
        } else {
            Duration::from_secs(2)
        };
        // With no server to connect to, no traffic will come to wait for.
        let expect_traffic = !connect.is_empty();
        let mut plan = ScreenshotPlan::new(
            request.path,
            start.select,
            request.flow,
            request.start_replay,
            wait,
            expect_traffic,
        );
        plan.jetstream = request.jetstream;
        plan.kv = request.kv;
        plan.cluster_tab = request.cluster_tab;
        plan.search_json = request.search_json;
        plan.palette = request.palette;
        plan.diff_previous = request.diff_previous;
        plan
    });
    let (width, height) = start.window_size;
    let mut options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([width, height])
            .with_title("eventscope")
            .with_app_id(APP_ID),
        ..Default::default()
    };
    if let Some(icon) = window_icon() {
        options.viewport = options.viewport.with_icon(Arc::new(icon));
    }
    // Screenshots must not read or change the user's saved state; their
    // own goes in a temp dir removed at exit.
    let _temporary_state = if screenshot_mode {
        match tempfile::Builder::new()
            .prefix("eventscope-shot-")
            .tempdir()
        {
            Ok(dir) => {
                options.persistence_path = Some(dir.path().join("state.ron"));
                Some(dir)
            }
            Err(e) => return Err(StartError::TemporaryState(e)),
        }
    } else {
        match eframe::storage_dir(APP_ID).map(|dir| private_state_file(&dir)) {
            Some(Ok(file)) => {
                options.persistence_path = Some(file);
                None
            }
            // Where it cannot be kept private, it is not kept: a temp
            // folder of this run's own.
            failed => {
                if let Some(Err(e)) = failed {
                    eprintln!(
                        "eventscope: the saved state cannot be kept private ({e}); nothing is saved this run"
                    );
                }
                let dir = tempfile::Builder::new()
                    .prefix("eventscope-state-")
                    .tempdir()
                    .map_err(StartError::TemporaryState)?;
                options.persistence_path = Some(dir.path().join("app.ron"));
                Some(dir)
            }
        }
    };
    let config = AppConfig {
        budget_mib: start.budget_mib,
        spool_mib: start.spool_mib,
        connect,
        view,
        screenshot,
        load_profiles: !screenshot_mode,
        open_capture: start.capture,
        schemas: start.schemas,
        look: start.theme.map(|theme| crate::ui::Look {
            theme,
            ..Default::default()
        }),
    };
    let screenshot_result = Arc::new(Mutex::new(None));
    let first_frame = Arc::new(Mutex::new(None));
    let (result_sink, first_frame_sink) = (screenshot_result.clone(), first_frame.clone());
    eframe::run_native(
        "eventscope",
        options,
        Box::new(move |cc| {
            let mut app = EventscopeApp::new(&cc.egui_ctx, cc.storage, config)?;
            app.screenshot_result = Some(result_sink);
            app.first_frame = started.map(|at| (at, first_frame_sink));
            close_on_signals(&app, cc.egui_ctx.clone());
            *repaint.lock().unwrap_or_else(|e| e.into_inner()) = Some(cc.egui_ctx.clone());
            if let (Some(demo), Some(ready)) = (demo, demo_ready) {
                app.run_demo_services(&ready);
                app.keep(Box::new(demo));
            }
            if let Some((starting, subjects, what)) = demo_starting {
                app.watch_demo_start(starting, subjects, what);
            }
            Ok(Box::new(app))
        }),
    )?;
    let taken = screenshot_result
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(Err(e)) = taken {
        return Err(StartError::Screenshot(e));
    }
    let first_frame = *first_frame.lock().unwrap_or_else(|e| e.into_inner());
    Ok(StartReport { first_frame })
}

/// The app id, matching `assets/APP_ID.desktop` (Wayland shows a window's
/// icon from the desktop entry of its app id, and nothing otherwise).
pub const APP_ID: &str = "dev.eventscope.Eventscope";

/// The window icon (X11 and others that take one from the program).
fn window_icon() -> Option<egui::IconData> {
    let png = include_bytes!("../../assets/icons/256x256/dev.eventscope.Eventscope.png");
    let image = image::load_from_memory(png).ok()?.into_rgba8();
    Some(egui::IconData {
        width: image.width(),
        height: image.height(),
        rgba: image.into_raw(),
    })
}

/// The saved state (profiles, and secrets where the user asked to keep
/// them) in `dir`, the folder eframe would pick for the app id: the folder
/// made 0700 and the file 0600 before eframe writes it (eframe creates its
/// file with the default mode; truncating an existing file keeps its mode).
fn private_state_file(dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let file = dir.join("app.ron");
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&file)?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Ctrl-C or SIGTERM close the window normally, so the demo's server and
/// every connection are shut down on the way out.
fn close_on_signals(app: &EventscopeApp, ctx: egui::Context) {
    app.session.spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        ctx.request_repaint();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(path: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets")
            .join(path);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn the_saved_state_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().expect("tempdir");
        let dir = home.path().join("dev.eventscope.eventscope");
        // As an earlier build left it: a 0755 folder, a 0644 file.
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(dir.join("app.ron"), "(\"kept\": \"1\")").expect("write");
        std::fs::set_permissions(dir.join("app.ron"), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let file = private_state_file(&dir).expect("private");
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            "(\"kept\": \"1\")"
        );
        // And as eframe writes it: truncated, the mode stays.
        std::fs::File::create(&file).expect("create");
        assert_eq!(mode(&file), 0o600);
        // A fresh home gets both.
        let fresh = home.path().join("fresh");
        let file = private_state_file(&fresh).expect("private");
        assert_eq!((mode(&fresh), mode(&file)), (0o700, 0o600));
    }

    #[test]
    fn icon_desktop_entry_and_metainfo_agree_with_the_app_id() {
        let icon = window_icon().expect("the window icon decodes");
        assert_eq!((icon.width, icon.height), (256, 256));
        for size in [32, 64, 128, 256] {
            let path = format!(
                "{}/assets/icons/{size}x{size}/{APP_ID}.png",
                env!("CARGO_MANIFEST_DIR")
            );
            let image = image::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!((image.width(), image.height()), (size, size), "{path}");
        }
        assert!(asset(&format!("icons/{APP_ID}.svg")).contains("<svg"));
        let desktop = asset(&format!("{APP_ID}.desktop"));
        assert!(desktop.starts_with("[Desktop Entry]\n"), "{desktop}");
        for line in [
            format!("Icon={APP_ID}"),
            format!("StartupWMClass={APP_ID}"),
            "Exec=eventscope %f".to_owned(),
        ] {
            assert!(
                desktop.lines().any(|l| l == line),
                "{line} in the desktop entry"
            );
        }
        let metainfo = asset(&format!("{APP_ID}.metainfo.xml"));
        assert!(metainfo.contains(&format!("<id>{APP_ID}</id>")));
        assert!(metainfo.contains(&format!(
            "<launchable type=\"desktop-id\">{APP_ID}.desktop</launchable>"
        )));
    }
}
