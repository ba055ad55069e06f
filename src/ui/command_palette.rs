//! The command palette (Ctrl+K, Ctrl+Shift+P): every view and action by
//! name, found by fuzzy search (nucleo's matcher, the one Helix uses),
//! each with its keys. Up/Down choose, Enter runs, Esc closes.

use egui::{Key, RichText};
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher};

use super::keys::Command;

#[derive(Default)]
pub struct CommandPaletteView {
    pub open: bool,
    pub query: String,
    /// Index into the current matches.
    pub chosen: usize,
    /// Set when opened: the text field takes the focus once.
    focus_pending: bool,
}

impl CommandPaletteView {
    pub fn toggle(&mut self) {
        self.open = !self.open;
        self.query.clear();
        self.chosen = 0;
        self.focus_pending = self.open;
    }
}

/// The commands matching `query`, best first (all of them, in their own
/// order, for an empty query).
pub fn matching(query: &str) -> Vec<Command> {
    let all = Command::all();
    if query.trim().is_empty() {
        return all;
    }
    let titles: Vec<(Command, String)> = all.into_iter().map(|c| (c, c.title())).collect();
    let mut matcher = Matcher::new(Config::DEFAULT);
    let pattern = Pattern::parse(query, CaseMatching::Ignore, Normalization::Smart);
    let scored = pattern.match_list(titles.iter().map(|(_, t)| t.as_str()), &mut matcher);
    scored
        .into_iter()
        .filter_map(|(title, _)| titles.iter().find(|(_, t)| t == title).map(|(c, _)| *c))
        .collect()
}

/// The palette, when open; returns the command chosen.
pub fn command_palette_ui(ctx: &egui::Context, view: &mut CommandPaletteView) -> Option<Command> {
    if !view.open {
        return None;
    }
    let matches = matching(&view.query);
    let (up, down, enter, escape) = ctx.input_mut(|i| {
        (
            i.consume_key(egui::Modifiers::NONE, Key::ArrowUp),
            i.consume_key(egui::Modifiers::NONE, Key::ArrowDown),
            i.consume_key(egui::Modifiers::NONE, Key::Enter),
            i.consume_key(egui::Modifiers::NONE, Key::Escape),
        )
    });
    if escape {
        view.open = false;
        return None;
    }
    if down {
        view.chosen = (view.chosen + 1).min(matches.len().saturating_sub(1));
    }
    if up {
        view.chosen = view.chosen.saturating_sub(1);
    }
    view.chosen = view.chosen.min(matches.len().saturating_sub(1));
    let mut run = enter.then(|| matches.get(view.chosen).copied()).flatten();
    let screen = ctx.content_rect();
    egui::Window::new("Command palette")
        .title_bar(false)
        .collapsible(false)
        .resizable(false)
        .fixed_pos(egui::pos2(screen.center().x - 280.0, screen.top() + 60.0))
        .fixed_size(egui::vec2(560.0, 0.0))
        .show(ctx, |ui| {
            let field = ui.add(
                egui::TextEdit::singleline(&mut view.query)
                    .hint_text("Type a view or an action…")
                    .desired_width(f32::INFINITY),
            );
            if view.focus_pending {
                field.request_focus();
                view.focus_pending = false;
            }
            if field.changed() {
                view.chosen = 0;
            }
            ui.separator();
            if matches.is_empty() {
                ui.label(RichText::new("No command matches.").weak());
            }
            egui::ScrollArea::vertical()
                .max_height(360.0)
                .show(ui, |ui| {
                    for (i, command) in matches.iter().enumerate() {
                        let chosen = i == view.chosen;
                        ui.horizontal(|ui| {
                            let row = ui.selectable_label(chosen, command.title());
                            if chosen && (up || down) {
                                row.scroll_to_me(None);
                            }
                            if row.clicked() {
                                run = Some(*command);
                            }
                            let keys = command.keys_text();
                            if !keys.is_empty() {
                                ui.with_layout(
                                    egui::Layout::right_to_left(egui::Align::Center),
                                    |ui| {
                                        ui.label(RichText::new(keys).monospace().weak());
                                    },
                                );
                            }
                        });
                    }
                });
        });
    if run.is_some() {
        view.open = false;
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::View;

    #[test]
    fn a_few_letters_find_the_command() {
        assert_eq!(matching("jetstr")[0], Command::Show(View::JetStream));
        assert_eq!(matching("save capt")[0], Command::SaveCapture);
        assert_eq!(
            matching("light")[0],
            Command::Theme(crate::ui::ThemeChoice::Light)
        );
        assert!(matching("zzzzqqq").is_empty());
        assert_eq!(matching("").len(), Command::all().len());
    }
}
