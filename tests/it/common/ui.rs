//! egui_kittest helpers shared by the UI tests: the app in a harness,
//! stepping it until something holds, typing into a labelled field.

use std::time::{Duration, Instant};

use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventscope::app::{AppConfig, EventscopeApp};
use eventscope::ui::View;

/// The app, stepped as eframe would: logic, then the panels.
pub fn harness(app: EventscopeApp) -> Harness<'static, EventscopeApp> {
    Harness::builder()
        .with_size([1500.0, 950.0])
        .build_ui_state(
            |ui, app: &mut EventscopeApp| {
                app.logic_step(ui.ctx());
                app.ui_root(ui);
            },
            app,
        )
}

/// Step the live app until `done` holds (20 s at most).
pub fn step_until(
    h: &mut Harness<'static, EventscopeApp>,
    what: &str,
    mut done: impl FnMut(&Harness<'static, EventscopeApp>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        h.run_steps(1);
        if done(h) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Select all in the field named `label` and type `text` over it.
pub fn replace_text(h: &mut Harness<'static, EventscopeApp>, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.run_steps(1);
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.run_steps(1);
    h.get_by_label(label).type_text(text);
    h.run_steps(2);
}

/// The app on `view`, connected to `server` (subscribed to `>` only when
/// `subscribe_all`), stepped until the connection is up.
pub fn connected(
    server: &super::LocalServer,
    view: View,
    subscribe_all: bool,
) -> Harness<'static, EventscopeApp> {
    let config = AppConfig {
        view,
        ..AppConfig::default()
    };
    let mut profile = eventscope::broker::ConnectionProfile::new("local", server.url());
    if !subscribe_all {
        profile.subscriptions.clear();
    }
    connected_with(config, profile)
}

/// The app made with `config`, connected by `profile`, stepped until the
/// connection is up.
pub fn connected_with(
    config: AppConfig,
    profile: eventscope::broker::ConnectionProfile,
) -> Harness<'static, EventscopeApp> {
    let mut app = EventscopeApp::new(&egui::Context::default(), None, config).expect("app starts");
    app.connect(profile);
    let mut h = harness(app);
    step_until(&mut h, "connected", |h| {
        let key = h.state().session.profiles()[0].0;
        h.state()
            .session
            .shared(key)
            .is_some_and(|s| s.state().is_connected())
    });
    h
}

/// The app on `view`, connected to `url` as `user` (password: the same),
/// subscribed to nothing: the system-account views' harness.
pub fn as_user(url: &str, user: &str, view: View) -> Harness<'static, EventscopeApp> {
    let config = AppConfig {
        view,
        ..AppConfig::default()
    };
    let mut app = EventscopeApp::new(&egui::Context::default(), None, config).expect("app starts");
    let mut profile = eventscope::broker::ConnectionProfile::new(user, url);
    profile.subscriptions.clear();
    profile.auth = eventscope::broker::Auth::UserPassword {
        user: user.into(),
        password: user.into(),
    };
    app.connect(profile);
    harness(app)
}

/// Type `path` into the path field that stands in for a file dialog, open
/// it, and step until a record on `subject` from it is in the store.
pub fn open_typed_path(
    h: &mut Harness<'static, EventscopeApp>,
    path: &std::path::Path,
    subject: &str,
) {
    h.get_by_label("File path").focus();
    h.run_steps(1);
    h.get_by_label("File path")
        .type_text(path.to_str().expect("utf8"));
    h.run_steps(1);
    h.get_by_label("Open").click();
    step_until(h, "the typed capture to load", |h| {
        h.state()
            .session
            .store
            .iter()
            .any(|(_, r)| r.subject() == subject)
    });
}
