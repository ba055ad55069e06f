//! Background work the app waits for (file dialogs, sends, files read,
//! traces, the keyring, notices from spawned tasks): one list, polled in
//! one place each frame (`EventscopeApp::poll_pending`), never waited on.

use std::path::PathBuf;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::broker::SendOutcome;
use crate::broker::TraceAnswer;
use crate::ui::FileField;

/// A capture file read for replay: (path, records or why not).
pub(super) type ReplayFile = (PathBuf, Result<crate::capture::file::ReadAll, String>);

/// One answer being waited for. A new wait replaces an older one of the
/// same kind (a second file dialog's answer wins).
pub(super) enum Waiting {
    Send(oneshot::Receiver<SendOutcome>),
    PayloadFile(oneshot::Receiver<Option<PathBuf>>),
    ReplayFile(oneshot::Receiver<ReplayFile>),
    CaptureFile(oneshot::Receiver<Option<PathBuf>>),
    ConnectionFile(FileField, oneshot::Receiver<Option<PathBuf>>),
    /// A diagram PNG waiting for its file name: (screen rect, chosen path).
    PngExport(egui::Rect, oneshot::Receiver<Option<PathBuf>>),
    /// A trace asked of the server: (subject, answer).
    Trace(String, oneshot::Receiver<TraceAnswer>),
    /// Secrets of saved profiles on their way from the keyring.
    KeyringSecrets(oneshot::Receiver<Vec<(String, String)>>),
    /// A Protobuf source picked for the payload schemas.
    SchemaFile(
        super::schemas::SchemaSource,
        oneshot::Receiver<Option<PathBuf>>,
    ),
}

/// An answer that came. `None` where the task ended without one (a
/// dialog cancelled, a connection gone).
pub(super) enum Finished {
    Sent(Option<SendOutcome>),
    PayloadFile(Option<PathBuf>),
    ReplayFile(Option<ReplayFile>),
    CaptureFile(Option<PathBuf>),
    ConnectionFile(FileField, Option<PathBuf>),
    PngExport(egui::Rect, Option<PathBuf>),
    Trace(String, Option<TraceAnswer>),
    KeyringSecrets(Option<Vec<(String, String)>>),
    SchemaFile(super::schemas::SchemaSource, Option<PathBuf>),
    /// A line for the top bar from a task (a file saved, an error).
    Notice(crate::ui::Notice),
}

/// An answer, if it came: `Some(Some(answer))`, or `Some(None)` when the
/// task ended without one; `None` while waiting.
fn ready<T>(rx: &mut oneshot::Receiver<T>) -> Option<Option<T>> {
    match rx.try_recv() {
        Ok(answer) => Some(Some(answer)),
        Err(oneshot::error::TryRecvError::Closed) => Some(None),
        Err(oneshot::error::TryRecvError::Empty) => None,
    }
}

impl Waiting {
    fn poll(&mut self) -> Option<Finished> {
        Some(match self {
            Waiting::Send(rx) => Finished::Sent(ready(rx)?),
            Waiting::PayloadFile(rx) => Finished::PayloadFile(ready(rx)?.flatten()),
            Waiting::ReplayFile(rx) => Finished::ReplayFile(ready(rx)?),
            Waiting::CaptureFile(rx) => Finished::CaptureFile(ready(rx)?.flatten()),
            Waiting::ConnectionFile(field, rx) => {
                Finished::ConnectionFile(*field, ready(rx)?.flatten())
            }
            Waiting::PngExport(rect, rx) => Finished::PngExport(*rect, ready(rx)?.flatten()),
            Waiting::Trace(subject, rx) => Finished::Trace(std::mem::take(subject), ready(rx)?),
            Waiting::KeyringSecrets(rx) => Finished::KeyringSecrets(ready(rx)?),
            Waiting::SchemaFile(source, rx) => Finished::SchemaFile(*source, ready(rx)?.flatten()),
        })
    }
}

pub(super) struct Pending {
    waiting: Vec<Waiting>,
    notices: (
        mpsc::Sender<crate::ui::Notice>,
        mpsc::Receiver<crate::ui::Notice>,
    ),
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            waiting: Vec::new(),
            notices: mpsc::channel(),
        }
    }
}

impl Pending {
    pub(super) fn wait(&mut self, waiting: Waiting) {
        let kind = std::mem::discriminant(&waiting);
        self.waiting.retain(|w| std::mem::discriminant(w) != kind);
        self.waiting.push(waiting);
    }

    /// Where a spawned task sends a line for the top bar.
    pub(super) fn notices(&self) -> mpsc::Sender<crate::ui::Notice> {
        self.notices.0.clone()
    }

    /// The answers that came since the last call, in the order waited for.
    pub(super) fn finished(&mut self) -> Vec<Finished> {
        let mut done = Vec::new();
        self.waiting.retain_mut(|w| match w.poll() {
            Some(finished) => {
                done.push(finished);
                false
            }
            None => true,
        });
        done.extend(self.notices.1.try_iter().map(Finished::Notice));
        done
    }
}
