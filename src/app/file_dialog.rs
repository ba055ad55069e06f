//! File dialogs that never silently do nothing. The desktop portal answers
//! `None` both when the user cancels and when there is no portal at all
//! (minimal window managers, SSH with X forwarding); a `None` sooner than
//! any person could cancel means no dialog was shown, and a path field in
//! the window takes its place, saying why.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::session::Session;

/// Faster than this, a `None` was not a person pressing Cancel.
const NO_DIALOG_WITHIN: Duration = Duration::from_millis(400);

/// A dialog that could not be shown, waiting for a typed path.
pub(super) struct PathPrompt {
    save_as: Option<String>,
    reply: oneshot::Sender<Option<PathBuf>>,
    typed: String,
}

pub(super) struct FileDialogs {
    prompts_tx: SyncSender<PathPrompt>,
    prompts_rx: Receiver<PathPrompt>,
    open: Option<PathPrompt>,
}

impl Default for FileDialogs {
    fn default() -> Self {
        let (prompts_tx, prompts_rx) = sync_channel(4);
        Self {
            prompts_tx,
            prompts_rx,
            open: None,
        }
    }
}

impl FileDialogs {
    /// A file dialog (save when a file name is suggested, else open), run on
    /// the background runtime so the UI never waits for it.
    pub(super) fn ask(
        &self,
        session: &Session,
        save_as: Option<String>,
    ) -> oneshot::Receiver<Option<PathBuf>> {
        self.ask_for(session, save_as, false)
    }

    /// A folder dialog (a `nats sub --dump` directory, say).
    pub(super) fn ask_folder(&self, session: &Session) -> oneshot::Receiver<Option<PathBuf>> {
        self.ask_for(session, None, true)
    }

    fn ask_for(
        &self,
        session: &Session,
        save_as: Option<String>,
        folder: bool,
    ) -> oneshot::Receiver<Option<PathBuf>> {
        let (tx, rx) = oneshot::channel();
        let prompts = self.prompts_tx.clone();
        session.spawn(async move {
            let started = Instant::now();
            let dialog = rfd::AsyncFileDialog::new();
            let picked = match &save_as {
                Some(name) => dialog.set_file_name(name).save_file().await,
                None if folder => dialog.pick_folder().await,
                None => dialog.pick_file().await,
            };
            match picked {
                Some(file) => {
                    let _ = tx.send(Some(file.path().to_path_buf()));
                }
                None if started.elapsed() < NO_DIALOG_WITHIN => {
                    let prompt = PathPrompt {
                        typed: save_as.clone().unwrap_or_default(),
                        save_as,
                        reply: tx,
                    };
                    // Full only if four prompts wait already; the dropped
                    // reply then reads as a cancel.
                    let _ = prompts.try_send(prompt);
                }
                None => {
                    let _ = tx.send(None);
                }
            }
        });
        rx
    }

    /// The path field standing in for a dialog that could not be shown.
    pub(super) fn ui(&mut self, ctx: &egui::Context) {
        if self.open.is_none() {
            self.open = self.prompts_rx.try_recv().ok();
        }
        let Some(prompt) = &mut self.open else {
            return;
        };
        let mut answer: Option<Option<PathBuf>> = None;
        let title = if prompt.save_as.is_some() {
            "Save to a file"
        } else {
            "Open a file"
        };
        egui::Window::new(title)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                ui.label(
                    "No file dialog could be shown (no desktop portal answered: a minimal \
                     window manager or an SSH session?). Type the file's path instead.",
                );
                let label = ui.label("File path");
                let field = ui.add(
                    egui::TextEdit::singleline(&mut prompt.typed)
                        .desired_width(420.0)
                        .hint_text("/path/to/file")
                        .id_salt("file-path-prompt"),
                );
                field.clone().labelled_by(label.id);
                let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.horizontal(|ui| {
                    let verb = if prompt.save_as.is_some() {
                        "Save"
                    } else {
                        "Open"
                    };
                    let ok =
                        ui.add_enabled(!prompt.typed.trim().is_empty(), egui::Button::new(verb));
                    if ok.clicked() || (entered && !prompt.typed.trim().is_empty()) {
                        answer = Some(Some(expand_home(prompt.typed.trim())));
                    }
                    if ui.button("Cancel").clicked() {
                        answer = Some(None);
                    }
                });
            });
        if let Some(answer) = answer
            && let Some(prompt) = self.open.take()
        {
            let _ = prompt.reply.send(answer);
        }
    }
}

/// `~/x` as a shell would read it.
fn expand_home(text: &str) -> PathBuf {
    match (text.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(text),
    }
}
