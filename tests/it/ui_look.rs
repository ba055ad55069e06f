//! Keyboard first and the look (egui_kittest): the command palette found
//! and run by typing, shortcuts, themes switched (and what they paint),
//! the text size, UTC times, notices by kind, and panels that stay on
//! screen with hostile strings at a small and a large window.

use std::time::Duration;

use crate::common;

use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable, by};
use eventscope::app::{AppConfig, EventscopeApp};
use eventscope::capture::{HeaderBlock, Record};
use eventscope::ui::{Command, Notice, NoticeKind, ThemeChoice, View};

fn app(view: View) -> EventscopeApp {
    let config = AppConfig {
        view,
        ..AppConfig::default()
    };
    EventscopeApp::new(&egui::Context::default(), None, config).expect("app starts")
}

/// The palette's text field: the text input that has the focus.
fn palette_field<'h>(h: &'h Harness<'static, EventscopeApp>) -> egui_kittest::Node<'h> {
    h.query_all(by().role(egui::accesskit::Role::TextInput))
        .find(|n| n.is_focused())
        .expect("the palette's field has the focus")
}

fn harness_sized(app: EventscopeApp, size: [f32; 2]) -> Harness<'static, EventscopeApp> {
    Harness::builder().with_size(size).build_ui_state(
        |ui, app: &mut EventscopeApp| {
            app.logic_step(ui.ctx());
            app.ui_root(ui);
        },
        app,
    )
}

#[test]
fn the_palette_finds_and_runs_any_command_by_typing() {
    let _timed = common::timed();
    let mut h = common::ui::harness(app(View::Traffic));
    h.run_steps(2);
    h.key_press_modifiers(Modifiers::COMMAND, Key::K);
    h.run_steps(2);
    assert!(h.state().palette.open);
    // Every command listed with its keys.
    assert!(h.query_by_label("Ctrl+K / Ctrl+Shift+P").is_some());
    h.get_by_label("Show the JetStream view").rect();
    // The field has the focus: typing narrows, Enter runs the first.
    palette_field(&h).type_text("jetstr");
    h.run_steps(2);
    assert!(h.query_by_label("Show the Traffic view").is_none());
    h.key_press(Key::Enter);
    h.run_steps(2);
    assert_eq!(h.state().view, View::JetStream);
    assert!(!h.state().palette.open);

    // Ctrl+Shift+P too; arrows choose; Esc closes without running.
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::P);
    h.run_steps(2);
    assert!(h.state().palette.open);
    palette_field(&h).type_text("theme");
    h.run_steps(2);
    h.key_press(Key::ArrowDown);
    h.run_steps(1);
    h.key_press(Key::Enter);
    h.run_steps(3);
    assert_eq!(h.state().look.theme, ThemeChoice::Light, "the second theme");
    assert!(!h.ctx.global_style().visuals.dark_mode, "egui paints light");
    h.key_press_modifiers(Modifiers::COMMAND, Key::K);
    h.run_steps(2);
    h.key_press(Key::Escape);
    h.run_steps(2);
    assert!(!h.state().palette.open);
    assert_eq!(h.state().view, View::JetStream);
}

#[test]
fn shortcuts_do_what_the_list_says() {
    let _timed = common::timed();
    let mut app = app(View::Traffic);
    let connection = app.session.store.intern_connection("test");
    for n in 0..3 {
        app.session.store.push(Record::new(
            1_793_880_001_500_000_000 + n,
            connection,
            &format!("orders.{n}"),
            None,
            None,
            b"{}",
        ));
    }
    let mut h = common::ui::harness(app);
    h.run_steps(3);
    // j and k (and the arrows) move the selection; Esc clears it; End
    // follows the newest again.
    h.key_press(Key::J);
    h.run_steps(1);
    let first = h.state().traffic.selected.expect("j selects");
    h.key_press(Key::ArrowDown);
    h.run_steps(1);
    let second = h.state().traffic.selected.expect("down moves");
    assert_ne!(first, second);
    h.key_press(Key::K);
    h.run_steps(1);
    assert_eq!(h.state().traffic.selected, Some(first), "k goes back");
    h.key_press(Key::Escape);
    h.run_steps(1);
    assert_eq!(h.state().traffic.selected, None, "Esc clears");
    h.key_press(Key::Space);
    h.run_steps(1);
    h.key_press(Key::End);
    h.run_steps(1);
    assert!(!h.state().traffic.is_paused(), "End follows again");
    h.key_press(Key::Space);
    h.run_steps(1);
    assert!(h.state().traffic.is_paused(), "Space pauses");
    h.key_press(Key::Space);
    h.run_steps(1);
    assert!(!h.state().traffic.is_paused());
    h.key_press_modifiers(Modifiers::COMMAND, Key::Equals);
    h.run_steps(2);
    assert_eq!(h.state().look.scale, 1.1, "Ctrl+= makes text larger");
    assert!((h.ctx.zoom_factor() - 1.1).abs() < 1e-3);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Minus);
    h.run_steps(2);
    assert_eq!(h.state().look.scale, 1.0);
    h.key_press(Key::Questionmark);
    h.run_steps(2);
    assert!(h.query_by_label("Keyboard shortcuts").is_some());
    h.key_press_modifiers(Modifiers::COMMAND, Key::L);
    h.run_steps(2);
    assert_eq!(h.state().session.store.len(), 0, "Ctrl+L clears");
    // Each listed command has its keys in the palette and in `?`.
    for command in Command::all() {
        let keys = command.keys_text();
        if !keys.is_empty() {
            assert!(!command.bindings().is_empty(), "{command:?}");
        }
    }
}

#[test]
fn themes_switch_and_times_read_in_utc_when_asked() {
    let _timed = common::timed();
    let mut app = app(View::Traffic);
    let connection = app.session.store.intern_connection("test");
    // 2026-11-05T12:00:01.5Z
    app.session.store.push(Record::new(
        1_793_880_001_500_000_000,
        connection,
        "orders.created",
        None,
        None,
        b"{}",
    ));
    let mut h = common::ui::harness(app);
    h.run_steps(3);
    assert!(h.ctx.global_style().visuals.dark_mode, "dark by default");
    h.state_mut()
        .run_command(Command::Theme(ThemeChoice::Light));
    h.run_steps(2);
    assert!(!h.ctx.global_style().visuals.dark_mode);
    h.state_mut().run_command(Command::Theme(ThemeChoice::Dark));
    h.run_steps(2);
    assert!(h.ctx.global_style().visuals.dark_mode);
    h.state_mut().run_command(Command::ToggleUtc);
    h.run_steps(3);
    assert!(
        h.query_all_by_label("12:00:01.500").next().is_some(),
        "the table's time in UTC"
    );
}

#[test]
fn notices_say_their_kind_and_go_after_a_while() {
    let _timed = common::timed();
    let mut h = common::ui::harness(app(View::Traffic));
    h.run_steps(1);
    h.state_mut().say(Notice::done("saved 3 messages"));
    h.run_steps(1);
    assert!(h.query_by_label("✔ saved 3 messages").is_some());
    // A notice older than its time goes by itself.
    let mut old = Notice::new(NoticeKind::Problem, "cannot save");
    old.since -= Duration::from_secs(31);
    h.state_mut().say(old);
    h.run_steps(2);
    assert!(h.state().notice.is_none(), "a problem goes after 30 s");
    h.state_mut().say(Notice::problem("cannot open x"));
    h.run_steps(1);
    assert!(h.query_by_label("⚠ cannot open x").is_some());
    h.get_by_label("×").click();
    h.run_steps(1);
    assert!(h.state().notice.is_none(), "dismissed");
}

/// A subject, a reply and a header far longer than any panel: at
/// 1000x700 and at 2560x1440 no control reaches past the window, and the
/// inspector, the table and the subject tree keep their own places.
#[test]
fn hostile_strings_stay_inside_their_panels_at_both_window_sizes() {
    let _timed = common::timed();
    for size in [[1000.0, 700.0], [2560.0, 1440.0]] {
        let mut app = app(View::Traffic);
        let token = "t".repeat(300);
        let reply = format!("_INBOX.{}", "r".repeat(300));
        let header_value = "h".repeat(2000);
        let connection = app.session.store.intern_connection("test");
        let headers = HeaderBlock::build(None, [("x-long", header_value.as_str())]);
        app.session.store.push(Record::new(
            1_795_352_350_000_000_000,
            connection,
            &format!("orders.{token}"),
            Some(&reply),
            Some(&headers),
            "p".repeat(5000).as_bytes(),
        ));
        app.traffic.selected = Some(app.session.store.first_seq());
        let mut h = harness_sized(app, size);
        h.run_steps(4);
        let [width, _] = size;
        // Every control stays reachable (text may run on inside a
        // scrolled or clipped cell; a button may not leave the window).
        let controls = by().predicate(|n| {
            use egui::accesskit::Role;
            matches!(
                n.role(),
                Role::Button
                    | Role::TextInput
                    | Role::CheckBox
                    | Role::RadioButton
                    | Role::ComboBox
            )
        });
        for node in h.query_all(controls) {
            if node.accesskit_node().bounding_box().is_none() {
                continue;
            }
            let rect = node.rect();
            if rect.width() <= 0.0 {
                continue;
            }
            assert!(
                rect.left() >= -1.0 && rect.right() <= width + 1.0,
                "at {size:?}: {node:?} at {rect:?}"
            );
            // (Below the bottom is fine inside a scrolled panel.)
            assert!(rect.top() >= -1.0, "at {size:?}: {rect:?}");
        }
        let inspector = h.get_by_label("Reply to").rect();
        let filter = h.get_by_label("Text filter").rect();
        assert!(
            filter.right() <= inspector.left(),
            "at {size:?}: the filter bar {filter:?} runs under the inspector {inspector:?}"
        );
    }
}

/// eframe's storage, in memory: what the app saves at exit.
#[derive(Default)]
struct Memory(std::collections::HashMap<String, String>);

impl eframe::Storage for Memory {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

/// The theme, text size, clock and which panels show beside which views
/// are saved at exit and come back at the next start.
#[test]
fn the_look_and_layout_are_saved_and_restored() {
    let _timed = common::timed();
    let mut app = app(View::Map);
    for command in [
        Command::Theme(ThemeChoice::Light),
        Command::LargerText,
        Command::ToggleUtc,
        Command::ToggleFlowsBesideMap,
        Command::ToggleRates,
    ] {
        app.run_command(command);
    }
    let chosen = app.look;
    assert!(chosen.flows_beside_map && !chosen.rates_under_traffic);
    let mut storage = Memory::default();
    eframe::App::save(&mut app, &mut storage);
    drop(app);
    let again = EventscopeApp::new(
        &egui::Context::default(),
        Some(&storage),
        AppConfig {
            view: View::Map,
            ..AppConfig::default()
        },
    )
    .expect("app starts");
    assert_eq!(again.look, chosen);
    // And the map shows the flows under it, as saved.
    let mut h = common::ui::harness(again);
    h.run_steps(3);
    assert!(
        h.query_by_label("Flow subject").is_some(),
        "the flow list under the map"
    );
    assert!(!h.ctx.global_style().visuals.dark_mode, "light, as saved");
}
