//! Keyboard shortcuts: which keys do what, and not while typing (except
//! Ctrl+L).

use egui::{Key, Modifiers};

use super::EventscopeApp;
use crate::ui::View;

impl EventscopeApp {
    pub(super) fn shortcuts(&mut self, ctx: &egui::Context) {
        #[derive(PartialEq)]
        enum Shortcut {
            Clear,
            Pause,
            Down,
            Up,
            Follow,
            Deselect,
            Show(View),
        }
        let typing = ctx.memory(|m| m.focused().is_some());
        let bindings = [
            (Modifiers::COMMAND, Key::L, Shortcut::Clear, true),
            (Modifiers::NONE, Key::Space, Shortcut::Pause, false),
            (Modifiers::NONE, Key::ArrowDown, Shortcut::Down, false),
            (Modifiers::NONE, Key::J, Shortcut::Down, false),
            (Modifiers::NONE, Key::ArrowUp, Shortcut::Up, false),
            (Modifiers::NONE, Key::K, Shortcut::Up, false),
            (Modifiers::NONE, Key::End, Shortcut::Follow, false),
            (Modifiers::NONE, Key::Escape, Shortcut::Deselect, false),
            (
                Modifiers::NONE,
                Key::Num1,
                Shortcut::Show(View::Traffic),
                false,
            ),
            (
                Modifiers::NONE,
                Key::Num2,
                Shortcut::Show(View::Flows),
                false,
            ),
            (
                Modifiers::NONE,
                Key::Num3,
                Shortcut::Show(View::Publish),
                false,
            ),
            (
                Modifiers::NONE,
                Key::Num4,
                Shortcut::Show(View::Connections),
                false,
            ),
        ];
        let pressed: Vec<Shortcut> = ctx.input_mut(|input| {
            bindings
                .into_iter()
                .filter(|(mods, key, _, while_typing)| {
                    (*while_typing || !typing) && input.consume_key(*mods, *key)
                })
                .map(|(_, _, shortcut, _)| shortcut)
                .collect()
        });
        for shortcut in pressed {
            match shortcut {
                Shortcut::Clear => self.forget_captured(),
                Shortcut::Pause => self.traffic.toggle_pause(&self.session.store),
                Shortcut::Down => self.traffic.move_selection(1),
                Shortcut::Up => self.traffic.move_selection(-1),
                Shortcut::Follow => self.traffic.follow(),
                Shortcut::Deselect => self.traffic.selected = None,
                Shortcut::Show(view) => self.view = view,
            }
        }
    }
}
