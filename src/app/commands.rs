//! Commands by key, menu or palette (the list and its keys are
//! `crate::ui::Command`'s): keys are not taken while typing, except those
//! with Ctrl.

use super::EventscopeApp;
use crate::ui::Command;

impl EventscopeApp {
    /// The keys pressed this frame, and the palette's choice, run.
    pub(super) fn commands(&mut self, ctx: &egui::Context) {
        // The palette first: its arrows, Enter and Esc are its own.
        if let Some(command) = crate::ui::command_palette_ui(ctx, &mut self.palette) {
            self.run_command(command);
        }
        // Most frames press no key: the list is not walked for them.
        let any_key = ctx.input(|i| {
            i.events
                .iter()
                .any(|e| matches!(e, egui::Event::Key { pressed: true, .. }))
        });
        if !any_key {
            return;
        }
        let typing = ctx.memory(|m| m.focused().is_some());
        let pressed: Vec<Command> = ctx.input_mut(|input| {
            Command::all()
                .into_iter()
                .filter(|command| {
                    command.bindings().iter().any(|b| {
                        (b.while_typing || !typing) && input.consume_key(b.modifiers, b.key)
                    })
                })
                .collect()
        });
        for command in pressed {
            self.run_command(command);
        }
    }

    /// Screenshot mode with `--palette`: the palette open, the text typed.
    pub(super) fn drive_palette_screenshot(&mut self) {
        let Some(text) = self.screenshot.as_mut().and_then(|p| p.palette.take()) else {
            return;
        };
        self.palette.toggle();
        self.palette.query = text;
    }

    pub fn run_command(&mut self, command: Command) {
        let selected = self.traffic.selected;
        match command {
            Command::Show(view) => self.view = view,
            Command::PauseResume => self.traffic.toggle_pause(&self.session.store),
            Command::ClearCaptured => self.forget_captured(),
            Command::SelectNext => self.traffic.move_selection(1),
            Command::SelectPrevious => self.traffic.move_selection(-1),
            Command::FollowNewest => self.traffic.follow(),
            Command::ClearSelection => self.traffic.selected = None,
            Command::ToggleRates => self.look.rates_under_traffic = !self.look.rates_under_traffic,
            Command::ToggleFlowsBesideMap => {
                self.look.flows_beside_map = !self.look.flows_beside_map
            }
            Command::ShowShortcuts => self.shortcuts_open = !self.shortcuts_open,
            Command::OpenPalette => self.palette.toggle(),
            Command::SaveCapture => self.save_capture(),
            Command::LoadCapture => self.before_replacing(super::capture_files::Replace::File),
            Command::OpenDumpDirectory => {
                self.before_replacing(super::capture_files::Replace::DumpDir)
            }
            Command::ExportFilterResult => self.export_view.open = true,
            Command::CompareWithCaptureFile => self.compare_with_capture(),
            Command::PayloadSchemas => self.schemas_view.open = true,
            Command::OpenCaptureFromStream => self.open_capture_picker(),
            Command::CompareSelectedWithPrevious => match selected {
                Some(seq) => self.compare_with_previous(seq),
                None => self.say_nothing_selected(),
            },
            Command::TraceSelected => match selected {
                Some(seq) => self.start_trace(seq),
                None => self.say_nothing_selected(),
            },
            Command::EditAndResendSelected => match selected {
                Some(seq) => self.edit_and_resend(seq),
                None => self.say_nothing_selected(),
            },
            Command::CopyMapAsMermaid => self.copy_map_as_mermaid(),
            Command::SaveMapAsSvg => self.save_map_as_svg(),
            Command::SaveAsyncApi => self.save_asyncapi(),
            // The look is applied at the start of the next frame.
            Command::Theme(theme) => self.look.theme = theme,
            Command::ToggleUtc => self.look.utc = !self.look.utc,
            Command::LargerText => self.look.step_scale(1),
            Command::SmallerText => self.look.step_scale(-1),
        }
    }

    fn say_nothing_selected(&mut self) {
        self.say(crate::ui::Notice::problem(
            "Select a message in the Traffic view first.",
        ));
    }
}
