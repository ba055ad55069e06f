//! Keyboard shortcuts: which keys do what (the list is
//! `crate::ui::key_help`'s), and not while typing (except Ctrl+L).

use egui::{Key, Modifiers};

use super::EventscopeApp;
use crate::ui::{VIEW_KEYS, View};

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
            Help,
            Show(View),
        }
        let typing = ctx.memory(|m| m.focused().is_some());
        let mut bindings = vec![
            (Modifiers::COMMAND, Key::L, Shortcut::Clear, true),
            (Modifiers::NONE, Key::Space, Shortcut::Pause, false),
            (Modifiers::NONE, Key::ArrowDown, Shortcut::Down, false),
            (Modifiers::NONE, Key::J, Shortcut::Down, false),
            (Modifiers::NONE, Key::ArrowUp, Shortcut::Up, false),
            (Modifiers::NONE, Key::K, Shortcut::Up, false),
            (Modifiers::NONE, Key::End, Shortcut::Follow, false),
            (Modifiers::NONE, Key::Escape, Shortcut::Deselect, false),
            (Modifiers::NONE, Key::Questionmark, Shortcut::Help, false),
        ];
        // 1..9: the views in the tab bar's order (crate::ui::key_help
        // lists the same).
        for (key, view) in VIEW_KEYS.into_iter().zip(View::ALL) {
            bindings.push((Modifiers::NONE, key, Shortcut::Show(view), false));
        }
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
                Shortcut::Help => self.shortcuts_open = !self.shortcuts_open,
                Shortcut::Show(view) => self.view = view,
            }
        }
    }
}
