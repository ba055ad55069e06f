//! Saving the store as a capture file and loading one back, both off the
//! UI thread; loading feeds the store and the flows in per-frame batches.

use std::path::PathBuf;
use std::time::Instant;

use super::{EventscopeApp, LOAD_BUDGET};
use crate::capture::file::{CaptureHeader, CaptureWriter};
use crate::capture::{CaptureLoad, LoadEvent};

impl EventscopeApp {
    /// Save every retained record (a snapshot: records share their bytes).
    pub(super) fn save_capture(&mut self) {
        let rx = self.pick_save_path("capture.jsonl");
        let store = &self.session.store;
        let names = store.connection_names().to_vec();
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
                    for r in &records {
                        w.write(r, names.get(usize::from(r.connection)).map_or("?", |n| n))?;
                    }
                    w.flush()?;
                    Ok(w.written())
                };
                match write() {
                    Ok(n) => format!("saved {n} messages to {}", path.display()),
                    Err(e) => format!("cannot save {}: {e}", path.display()),
                }
            })
            .await
            .unwrap_or_else(|e| e.to_string());
            let _ = notices.send(message);
        });
    }

    /// Replace what is shown with a capture file, read in the background.
    pub fn load_capture(&mut self, path: PathBuf) {
        match CaptureLoad::start(&path) {
            Ok(load) => {
                self.traffic.clear();
                self.session.clear();
                self.capture_load = Some(load);
            }
            Err(e) => self.notice = Some(format!("cannot open {}: {e}", path.display())),
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
                            item.record.connection =
                                self.session.store.intern_connection(&item.connection);
                            item.record
                        })
                        .collect();
                    self.session.add_records(records);
                }
                Ok(LoadEvent::Done(error)) => {
                    let path = load.path.display().to_string();
                    self.notice = Some(match error {
                        None => format!("loaded {} messages from {path}", load.loaded),
                        Some(e) => {
                            format!("{path}: {e}; loaded the other {} messages", load.loaded)
                        }
                    });
                    self.capture_load = None;
                    return;
                }
                Err(_) => break,
            }
        }
    }
}
