//! Starting the desktop app: the demo, the connections asked for,
//! screenshot mode, the window, signals. What went wrong is returned as
//! `StartError` for the command line to say.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::app::screenshot::{FlowPick, ScreenshotPlan};
use crate::app::{AppConfig, EventscopeApp};
use crate::broker::{ConnectionProfile, SubscriptionSpec};
use crate::capture::SubjectPattern;
use crate::demo::LocalServerError;
use crate::demo::{Demo, DemoStopped};
use crate::ui::View;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("--demo: {0}")]
    Demo(#[from] LocalServerError),
    #[error("cannot make a temp dir for screenshot mode: {0}")]
    ScreenshotState(std::io::Error),
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
    pub budget_mib: usize,
    pub spool_mib: u64,
    /// A capture file to open.
    pub capture: Option<PathBuf>,
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
}

pub fn run(start: Start) -> Result<StartReport, StartError> {
    let started = std::env::var_os("EVENTSCOPE_STARTUP_TIMING").map(|_| std::time::Instant::now());
    let demo = if start.demo_cluster {
        Some(Demo::start_cluster()?)
    } else if start.demo {
        Some(Demo::start()?)
    } else {
        None
    };
    let mut connect = Vec::new();
    if let Some(demo) = &demo {
        let mut profile = ConnectionProfile::new("demo", demo.url());
        profile.monitoring_url = demo.monitoring_url();
        if !start.demo_subjects.is_empty() {
            profile.subscriptions = start
                .demo_subjects
                .iter()
                .map(SubscriptionSpec::new)
                .collect();
        }
        connect.push(profile);
        if let Some((user, password)) = demo.system_user() {
            let mut system = ConnectionProfile::new("demo-system", demo.url());
            system.subscriptions.clear();
            system.auth = crate::broker::Auth::UserPassword { user, password };
            connect.push(system);
        }
    }
    connect.extend(start.connect);
    let view = if connect.is_empty() && start.capture.is_none() {
        View::Connections
    } else {
        start.view
    };
    let screenshot_mode = start.screenshot.is_some();
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
    let _screenshot_state = if screenshot_mode {
        match tempfile::Builder::new()
            .prefix("eventscope-shot-")
            .tempdir()
        {
            Ok(dir) => {
                options.persistence_path = Some(dir.path().join("state.ron"));
                Some(dir)
            }
            Err(e) => return Err(StartError::ScreenshotState(e)),
        }
    } else {
        keep_state_private();
        None
    };
    let config = AppConfig {
        budget_mib: start.budget_mib,
        spool_mib: start.spool_mib,
        connect,
        view,
        screenshot,
        load_profiles: !screenshot_mode,
        open_capture: start.capture,
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
            if let Some(demo) = demo {
                let notices = app.pending.notices();
                demo.spawn_services(
                    &app.session.runtime_handle(),
                    move |stopped: DemoStopped| {
                        let _ = notices.send(format!(
                            "demo: {} stopped: {}",
                            stopped.service, stopped.error
                        ));
                    },
                );
                app.keep(Box::new(demo));
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
/// them) lives in a directory only the user can read: eframe writes its
/// file with the default mode.
fn keep_state_private() {
    use std::os::unix::fs::PermissionsExt;
    let Some(dir) = eframe::storage_dir("eventscope") else {
        return;
    };
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
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
