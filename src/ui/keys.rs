//! Everything the window can be asked to do by name, and its keys: one
//! list that the app binds from, the command palette searches, the `?`
//! window shows, and the README's keyboard table is made from (a test
//! holds them equal).

use egui::{Key, Modifiers};

use super::View;
use super::look::ThemeChoice;

/// The number keys show the views in the tab bar's order (0 is the tenth).
pub const VIEW_KEYS: [Key; 10] = [
    Key::Num1,
    Key::Num2,
    Key::Num3,
    Key::Num4,
    Key::Num5,
    Key::Num6,
    Key::Num7,
    Key::Num8,
    Key::Num9,
    Key::Num0,
];

/// One thing to do, reached by a key, a menu or the palette.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Command {
    Show(View),
    PauseResume,
    ClearCaptured,
    SelectNext,
    SelectPrevious,
    FollowNewest,
    ClearSelection,
    ToggleRates,
    ToggleFlowsBesideMap,
    ShowShortcuts,
    OpenPalette,
    SaveCapture,
    LoadCapture,
    OpenDumpDirectory,
    ExportFilterResult,
    CompareWithCaptureFile,
    PayloadSchemas,
    OpenCaptureFromStream,
    CompareSelectedWithPrevious,
    TraceSelected,
    EditAndResendSelected,
    CopyMapAsMermaid,
    SaveMapAsSvg,
    SaveAsyncApi,
    Theme(ThemeChoice),
    ToggleUtc,
    LargerText,
    SmallerText,
}

/// A key that runs a command; `while_typing` when it works in a text field.
#[derive(Clone, Copy)]
pub struct Binding {
    pub modifiers: Modifiers,
    pub key: Key,
    pub while_typing: bool,
}

const fn bare(key: Key) -> Binding {
    Binding {
        modifiers: Modifiers::NONE,
        key,
        while_typing: false,
    }
}

const fn command(key: Key) -> Binding {
    Binding {
        modifiers: Modifiers::COMMAND,
        key,
        while_typing: true,
    }
}

impl Command {
    /// Every command, in the palette's order when nothing is typed.
    pub fn all() -> Vec<Command> {
        let mut all: Vec<Command> = View::ALL.into_iter().map(Command::Show).collect();
        all.extend([
            Command::PauseResume,
            Command::ClearCaptured,
            Command::SelectNext,
            Command::SelectPrevious,
            Command::FollowNewest,
            Command::ClearSelection,
            Command::ToggleRates,
            Command::ToggleFlowsBesideMap,
            Command::SaveCapture,
            Command::LoadCapture,
            Command::OpenDumpDirectory,
            Command::ExportFilterResult,
            Command::CompareWithCaptureFile,
            Command::PayloadSchemas,
            Command::OpenCaptureFromStream,
            Command::CompareSelectedWithPrevious,
            Command::TraceSelected,
            Command::EditAndResendSelected,
            Command::CopyMapAsMermaid,
            Command::SaveMapAsSvg,
            Command::SaveAsyncApi,
            Command::Theme(ThemeChoice::Dark),
            Command::Theme(ThemeChoice::Light),
            Command::Theme(ThemeChoice::System),
            Command::ToggleUtc,
            Command::LargerText,
            Command::SmallerText,
            Command::ShowShortcuts,
            Command::OpenPalette,
        ]);
        all
    }

    /// What the palette lists and searches.
    pub fn title(self) -> String {
        let fixed = match self {
            Command::Show(view) => return format!("Show the {} view", view.label()),
            Command::Theme(theme) => return format!("Theme: {}", theme.label()),
            Command::PauseResume => "Pause / resume the view (capture continues)",
            Command::ClearCaptured => "Clear everything captured",
            Command::SelectNext => "Select the next message",
            Command::SelectPrevious => "Select the previous message",
            Command::FollowNewest => {
                "Follow the newest messages again (clears selection and pause, scrolls to the newest row)"
            }
            Command::ClearSelection => "Clear the selection",
            Command::ToggleRates => "Layout: show / hide the rate plot under the traffic",
            Command::ToggleFlowsBesideMap => "Layout: show / hide the flows under the map",
            Command::ShowShortcuts => "List the keyboard shortcuts",
            Command::OpenPalette => "Command palette: find any view or action",
            Command::SaveCapture => "File: save capture…",
            Command::LoadCapture => "File: load capture…",
            Command::OpenDumpDirectory => "File: open nats sub --dump directory…",
            Command::ExportFilterResult => "File: export filter result…",
            Command::CompareWithCaptureFile => "File: compare with a capture file…",
            Command::PayloadSchemas => "File: payload schemas…",
            Command::OpenCaptureFromStream => "File: open capture from stream…",
            Command::CompareSelectedWithPrevious => {
                "Compare the selected message with the previous on its subject"
            }
            Command::TraceSelected => "Trace the selected message",
            Command::EditAndResendSelected => "Edit and resend the selected message",
            Command::CopyMapAsMermaid => "Map: copy as a Mermaid flowchart",
            Command::SaveMapAsSvg => "Map: save as SVG…",
            Command::SaveAsyncApi => "Map: save as an AsyncAPI 3 document…",
            Command::ToggleUtc => "Times in UTC / local time",
            Command::LargerText => "Larger text (UI scale)",
            Command::SmallerText => "Smaller text (UI scale)",
        };
        fixed.to_owned()
    }

    /// The keys that run it.
    pub fn bindings(self) -> Vec<Binding> {
        match self {
            Command::Show(view) => View::ALL
                .iter()
                .position(|v| *v == view)
                .map(|n| vec![bare(VIEW_KEYS[n])])
                .unwrap_or_default(),
            Command::PauseResume => vec![bare(Key::Space)],
            Command::ClearCaptured => vec![command(Key::L)],
            Command::SelectNext => vec![bare(Key::ArrowDown), bare(Key::J)],
            Command::SelectPrevious => vec![bare(Key::ArrowUp), bare(Key::K)],
            Command::FollowNewest => vec![bare(Key::End)],
            Command::ClearSelection => vec![bare(Key::Escape)],
            Command::ShowShortcuts => vec![bare(Key::Questionmark)],
            Command::OpenPalette => vec![
                command(Key::K),
                Binding {
                    modifiers: Modifiers::COMMAND | Modifiers::SHIFT,
                    key: Key::P,
                    while_typing: true,
                },
            ],
            Command::LargerText => vec![command(Key::Plus), command(Key::Equals)],
            Command::SmallerText => vec![command(Key::Minus)],
            _ => Vec::new(),
        }
    }

    /// Its keys as text ("Ctrl+K / Ctrl+Shift+P"); empty without any.
    pub fn keys_text(self) -> String {
        self.bindings()
            .iter()
            .map(|b| binding_text(*b))
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

fn binding_text(binding: Binding) -> String {
    let mut text = String::new();
    if binding.modifiers.command {
        text.push_str("Ctrl+");
    }
    if binding.modifiers.shift {
        text.push_str("Shift+");
    }
    text.push_str(match binding.key {
        Key::ArrowDown => "↓",
        Key::ArrowUp => "↑",
        Key::Questionmark => "?",
        Key::Plus => "+",
        Key::Equals => "=",
        Key::Minus => "-",
        Key::Escape => "Esc",
        // A bare letter as it is typed.
        key if !binding.modifiers.command && key.name().len() == 1 => {
            text.push_str(&key.name().to_lowercase());
            return text;
        }
        key => key.name(),
    });
    text
}

/// (keys, what they do), in the order shown: every command with keys,
/// and the mouse's own.
pub fn key_help() -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Command::all()
        .into_iter()
        .filter(|c| !c.bindings().is_empty())
        .map(|c| {
            let keys = c
                .bindings()
                .iter()
                .map(|b| format!("`{}`", binding_text(*b)))
                .collect::<Vec<_>>()
                .join(", ");
            (keys, c.title())
        })
        .collect();
    rows.push((
        "`Ctrl+click`, `Shift+click`".into(),
        "Mark several rows (for replay, to compare)".into(),
    ));
    rows.push((
        "`Ctrl+wheel`".into(),
        "Zoom the sequence diagram and the map".into(),
    ));
    rows
}

/// The list as the README's Markdown table.
pub fn markdown_table() -> String {
    let mut table = String::from("| key | action |\n|---|---|\n");
    for (keys, action) in key_help() {
        table.push_str(&format!("| {keys} | {action} |\n"));
    }
    table
}

/// The `?` window.
pub fn shortcuts_window_ui(ctx: &egui::Context, open: &mut bool) {
    egui::Window::new("Keyboard shortcuts")
        .open(open)
        .collapsible(false)
        .show(ctx, |ui| {
            egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                for (keys, action) in key_help() {
                    ui.monospace(keys.replace('`', ""));
                    ui.label(action);
                    ui.end_row();
                }
            });
        });
}

#[cfg(test)]
mod tests {
    use super::Command;

    /// The README's keyboard table is this list: regenerate it from the
    /// message when a shortcut changes.
    #[test]
    fn the_readme_lists_every_shortcut() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README");
        let expected = super::markdown_table();
        assert!(
            readme.contains(&expected),
            "README.md's keyboard table must read:\n{expected}"
        );
    }

    /// No key runs two commands.
    #[test]
    fn no_key_is_bound_twice() {
        let mut seen = Vec::new();
        for command in Command::all() {
            for b in command.bindings() {
                let key = (b.modifiers.command, b.modifiers.shift, b.key);
                assert!(!seen.contains(&key), "{key:?} bound twice");
                seen.push(key);
            }
        }
    }
}
