//! Exporting the traffic filter's result: the records are gathered on
//! the UI thread (clones that share the store's blocks), a path is asked
//! for, and the rows are written on a thread of their own; the result is
//! said as a notice.

use std::io::BufWriter;
use std::sync::Arc;

use super::EventscopeApp;
use crate::capture::{BrokerKind, Record};
use crate::formats::{ExportItem, ExportWriter};
use crate::ui::{ExportTarget, export_window_ui};

impl EventscopeApp {
    pub(super) fn export_window(&mut self, ctx: &egui::Context) {
        if !self.export_view.open {
            return;
        }
        let store = &self.session.store;
        self.traffic.index.update(store, usize::MAX);
        let rows = self.traffic.index.len();
        if export_window_ui(ctx, &mut self.export_view, rows) {
            self.start_export();
        }
    }

    fn start_export(&mut self) {
        let store = &self.session.store;
        let records: Vec<(Record, Arc<str>, BrokerKind)> = self
            .traffic
            .index
            .seqs()
            .filter_map(|seq| store.get(seq))
            .map(|r| {
                (
                    r.clone(),
                    Arc::from(store.connection_name(r.connection)),
                    store.broker_of(r.connection),
                )
            })
            .collect();
        let target = self.export_view.target;
        let columns = self.export_view.chosen_columns();
        let schemas = self.inspector.schemas.clone();
        let rx = match target {
            ExportTarget::Rows(format) => self.file_dialogs.ask(
                &self.session,
                Some(format!("eventscope-export.{}", format.extension())),
            ),
            ExportTarget::Dump => self.file_dialogs.ask_folder(&self.session),
        };
        let notices = self.pending.notices();
        self.session.spawn(async move {
            let Ok(Some(path)) = rx.await else {
                return;
            };
            let said = tokio::task::spawn_blocking(move || {
                let written = match target {
                    ExportTarget::Dump => crate::capture::file::write_dump_dir(
                        &path,
                        records.iter().map(|(r, _, _)| r),
                    ),
                    ExportTarget::Rows(format) => (|| {
                        let file = crate::capture::file::create_private(&path)?;
                        let mut writer = ExportWriter::new(BufWriter::new(file), format, &columns)?;
                        for (record, connection, broker) in &records {
                            let item = ExportItem {
                                record,
                                connection,
                                broker: *broker,
                            };
                            writer.write(&item, &schemas)?;
                        }
                        Ok(writer.finish()?.0)
                    })(),
                };
                match written {
                    Ok(n) => crate::ui::Notice::done(format!(
                        "exported {n} messages to {}",
                        path.display()
                    )),
                    Err(e) => crate::ui::Notice::problem(format!(
                        "cannot export to {}: {e}",
                        path.display()
                    )),
                }
            })
            .await
            .unwrap_or_else(|e| crate::ui::Notice::problem(format!("the export failed: {e}")));
            let _ = notices.send(said);
        });
    }
}
