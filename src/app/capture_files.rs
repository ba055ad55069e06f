//! Saving the store as a capture file and loading one back, both off the
//! UI thread; loading feeds the store and the flows in per-frame batches.

use std::path::PathBuf;
use std::time::Instant;

use super::{EventscopeApp, LOAD_BUDGET};
use crate::capture::file::{CaptureHeader, CaptureWriter};
use crate::capture::{CaptureLoad, LoadEvent};

/// What a load would replace the shown capture with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replace {
    /// A capture file, to be picked.
    File,
    /// A `nats sub --dump` directory, to be picked.
    DumpDir,
    /// A capture stream, by name.
    Stream(String),
}

impl EventscopeApp {
    /// Messages captured live and not saved since the last save or load.
    pub fn unsaved(&self) -> u64 {
        self.session
            .store
            .counters()
            .captured
            .saturating_sub(self.saved_mark.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// What is shown now counts as kept (saved, loaded, or cleared on
    /// purpose).
    pub(super) fn mark_saved(&self) {
        let captured = self.session.store.counters().captured;
        self.saved_mark
            .store(captured, std::sync::atomic::Ordering::Relaxed);
    }

    /// Load only once the user agreed to lose unsaved work and stop live
    /// capture (a loaded capture is shown alone, never mixed with live
    /// traffic); with neither, at once.
    pub(super) fn before_replacing(&mut self, with: Replace) {
        if self.unsaved() == 0 && self.live_subscriptions().is_empty() {
            self.replace_now(with);
        } else {
            self.replace_confirm = Some(with);
        }
    }

    /// Every subscription feeding the store, by connection.
    fn live_subscriptions(&self) -> Vec<(crate::capture::ConnectionKey, String)> {
        self.session
            .profiles()
            .iter()
            .flat_map(|(key, p)| p.subscriptions.iter().map(|s| (*key, s.pattern.clone())))
            .collect()
    }

    fn replace_now(&mut self, with: Replace) {
        match with {
            Replace::File => {
                let picked = self.pick_open_path();
                self.pending
                    .wait(super::pending::Waiting::CaptureFile(picked));
            }
            Replace::DumpDir => {
                let picked = self.file_dialogs.ask_folder(&self.session);
                self.pending
                    .wait(super::pending::Waiting::CaptureFile(picked));
            }
            Replace::Stream(name) => self.open_capture_stream(name),
        }
    }

    /// "Replace what is shown?" with its way out.
    pub(super) fn replace_confirm_ui(&mut self, ctx: &egui::Context) {
        let Some(with) = self.replace_confirm.clone() else {
            return;
        };
        let unsaved = self.unsaved();
        let live = self.live_subscriptions().len();
        let mut answer = None;
        egui::Window::new("Replace the capture shown?")
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                if unsaved > 0 {
                    ui.label(format!(
                        "{unsaved} messages captured here are not saved: loading replaces them."
                    ));
                }
                if live > 0 {
                    ui.label(format!(
                        "Live capture stops: its {live} subscription(s) are removed (the connections stay; subscribe again in Connections), so the loaded capture is shown alone."
                    ));
                }
                ui.horizontal(|ui| {
                    if unsaved > 0 && ui.button("Save them first…").clicked() {
                        answer = Some(false);
                        self.save_capture();
                    }
                    if ui.button("Replace").clicked() {
                        answer = Some(true);
                    }
                    if ui.button("Cancel").clicked() {
                        answer = Some(false);
                    }
                });
            });
        match answer {
            Some(true) => {
                self.replace_confirm = None;
                for (key, pattern) in self.live_subscriptions() {
                    let _ = self.session.unsubscribe(key, &pattern);
                }
                self.replace_now(with);
            }
            Some(false) => self.replace_confirm = None,
            None => {}
        }
    }

    /// Save every retained record (a snapshot: records share their bytes).
    pub(super) fn save_capture(&mut self) {
        let rx = self.pick_save_path("capture.jsonl");
        let store = &self.session.store;
        // Marked saved only once written, as of this snapshot.
        let (saved_mark, snapshot) = (self.saved_mark.clone(), store.counters().captured);
        let names = store.connection_names().to_vec();
        let brokers = store.brokers().to_vec();
        let records: Vec<_> = store.iter().map(|(_, r)| r.clone()).collect();
        let servers: Vec<String> = self
            .session
            .profiles()
            .iter()
            .flat_map(|(_, p)| p.server_list())
            .collect();
        let notices = self.pending.notices();
        self.session.spawn(async move {
            let Ok(Some(path)) = rx.await else {
                return;
            };
            let message = tokio::task::spawn_blocking(move || {
                let write = || -> std::io::Result<u64> {
                    let file = crate::capture::file::create_private(&path)?;
                    let mut w = CaptureWriter::new(
                        std::io::BufWriter::with_capacity(1 << 20, file),
                        &CaptureHeader::new(servers),
                    )?;
                    // Each line says its connection's broker.
                    for (name, broker) in names.iter().zip(&brokers) {
                        w.note_broker(name, *broker);
                    }
                    for r in &records {
                        w.write(r, names.get(usize::from(r.connection)).map_or("?", |n| n))?;
                    }
                    w.flush()?;
                    Ok(w.written())
                };
                match write() {
                    Ok(n) => {
                        saved_mark.fetch_max(snapshot, std::sync::atomic::Ordering::Relaxed);
                        crate::ui::Notice::done(format!("saved {n} messages to {}", path.display()))
                    }
                    Err(e) => {
                        crate::ui::Notice::problem(format!("cannot save {}: {e}", path.display()))
                    }
                }
            })
            .await
            .unwrap_or_else(|e| crate::ui::Notice::problem(e.to_string()));
            let _ = notices.send(message);
        });
    }

    /// Forget everything captured (Clear, or a capture file replacing it).
    pub fn forget_captured(&mut self) {
        self.traffic.clear();
        self.session.clear();
        self.group_lag.clear(&self.session.store);
        self.mark_saved();
    }

    /// Replace what is shown with a capture file, read in the background.
    pub fn load_capture(&mut self, path: PathBuf) {
        match CaptureLoad::start(&path) {
            Ok(load) => {
                self.forget_captured();
                self.capture_load = Some(load);
            }
            Err(e) => self.say(crate::ui::Notice::problem(format!(
                "cannot open {}: {e}",
                path.display()
            ))),
        }
    }

    /// Take in loaded batches within the frame budget.
    pub(super) fn take_in_capture_file(&mut self) {
        let Some(load) = &mut self.capture_load else {
            return;
        };
        let start = Instant::now();
        while start.elapsed() < LOAD_BUDGET {
            match load.events.try_recv() {
                Ok(LoadEvent::Records(batch)) => {
                    load.loaded += batch.len() as u64;
                    let records: Vec<_> = batch
                        .into_iter()
                        .map(|mut item| {
                            item.record.connection = self
                                .session
                                .store
                                .intern_connection_of(&item.connection, item.broker);
                            item.record
                        })
                        .collect();
                    self.session.add_records(records);
                }
                Ok(LoadEvent::Done(error)) => {
                    let captured = self.session.store.counters().captured;
                    self.saved_mark
                        .store(captured, std::sync::atomic::Ordering::Relaxed);
                    let path = load.path.display().to_string();
                    let said = match error {
                        None => crate::ui::Notice::done(format!(
                            "loaded {} messages from {path}",
                            load.loaded
                        )),
                        Some(e) => crate::ui::Notice::problem(format!(
                            "{path}: {e}; loaded the other {} messages",
                            load.loaded
                        )),
                    };
                    self.notice = Some(said);
                    self.capture_load = None;
                    return;
                }
                Err(_) => break,
            }
        }
    }
}
