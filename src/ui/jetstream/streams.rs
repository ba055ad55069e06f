//! The stream report (sortable), a stream's subjects with counts, its
//! detail (config, state, cluster, mirror and sources) and the purge
//! dialog with its preview and confirmation.

use egui::{RichText, Sense};
use egui_extras::{Column, TableBuilder};

use crate::jetstream::{Purge, PurgePreview, StreamSummary};
use crate::ui::format;
use crate::ui::jetstream::actions::JetStreamAction;
use crate::ui::loaded::Loaded;

/// Columns the report sorts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamColumn {
    #[default]
    Name,
    Messages,
    Bytes,
    FirstSeq,
    LastSeq,
    LastAge,
    Consumers,
    Retention,
    Storage,
    Replicas,
    Deleted,
}

const COLUMNS: [(StreamColumn, &str); 11] = [
    (StreamColumn::Name, "Stream"),
    (StreamColumn::Messages, "Messages"),
    (StreamColumn::Bytes, "Bytes"),
    (StreamColumn::FirstSeq, "First"),
    (StreamColumn::LastSeq, "Last"),
    (StreamColumn::LastAge, "Last msg"),
    (StreamColumn::Consumers, "Cons."),
    (StreamColumn::Retention, "Retention"),
    (StreamColumn::Storage, "Store"),
    (StreamColumn::Replicas, "R"),
    (StreamColumn::Deleted, "Deleted"),
];

#[derive(Default)]
pub struct StreamsView {
    pub list: Loaded<Vec<StreamSummary>>,
    pub sort: StreamColumn,
    pub descending: bool,
    pub selected: Option<String>,
    pub subjects: Loaded<Vec<(String, u64)>>,
    pub subject_filter: String,
    pub purge: Option<PurgeDialog>,
    /// The order of `list` as shown (indices), kept until the list or the
    /// sort changes.
    order: Vec<usize>,
    sorted_for: Option<(StreamColumn, bool, usize)>,
}

/// The purge dialog: what to purge, its preview, the confirmation.
#[derive(Default)]
pub struct PurgeDialog {
    pub subject: String,
    pub keep: String,
    pub up_to_seq: String,
    pub preview: Loaded<(Purge, PurgePreview)>,
    pub error: Option<String>,
}

impl PurgeDialog {
    fn purge(&self) -> Result<Purge, String> {
        let number = |text: &str, what: &str| -> Result<Option<u64>, String> {
            let text = text.trim();
            if text.is_empty() {
                Ok(None)
            } else {
                text.parse()
                    .map(Some)
                    .map_err(|_| format!("{what} must be a whole number"))
            }
        };
        let subject = Some(self.subject.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(s) = &subject {
            crate::capture::validate_pattern(s).map_err(|e| e.to_string())?;
        }
        Ok(Purge {
            subject,
            keep: number(&self.keep, "keep")?,
            up_to_seq: number(&self.up_to_seq, "up to sequence")?,
        })
    }
}

impl StreamsView {
    pub fn selected_summary(&self) -> Option<&StreamSummary> {
        let name = self.selected.as_deref()?;
        self.list.value.as_ref()?.iter().find(|s| s.name == name)
    }

    /// Click on a column header: sort by it, or flip the direction.
    pub fn sort_by(&mut self, column: StreamColumn) {
        if self.sort == column {
            self.descending = !self.descending;
        } else {
            self.sort = column;
            self.descending = !matches!(
                column,
                StreamColumn::Name | StreamColumn::Retention | StreamColumn::Storage
            );
        }
    }

    /// The names in the order shown.
    pub fn shown_names(&mut self) -> Vec<String> {
        self.resort();
        let list = self.list.value.as_deref().unwrap_or_default();
        self.order.iter().map(|&i| list[i].name.clone()).collect()
    }

    fn resort(&mut self) {
        let Some(list) = self.list.value.as_deref() else {
            self.order.clear();
            return;
        };
        let key = (self.sort, self.descending, list.len());
        if self.sorted_for == Some(key) && self.order.len() == list.len() {
            return;
        }
        let mut order: Vec<usize> = (0..list.len()).collect();
        let column = self.sort;
        order.sort_by(|&a, &b| {
            let (a, b) = (&list[a], &list[b]);
            let by = match column {
                StreamColumn::Name => a.name.cmp(&b.name),
                StreamColumn::Messages => a.messages.cmp(&b.messages),
                StreamColumn::Bytes => a.bytes.cmp(&b.bytes),
                StreamColumn::FirstSeq => a.first_seq.cmp(&b.first_seq),
                StreamColumn::LastSeq => a.last_seq.cmp(&b.last_seq),
                // Newest last message first when descending.
                StreamColumn::LastAge => a.last_ns.cmp(&b.last_ns),
                StreamColumn::Consumers => a.consumers.cmp(&b.consumers),
                StreamColumn::Retention => a.retention.cmp(&b.retention),
                StreamColumn::Storage => a.storage.cmp(&b.storage),
                StreamColumn::Replicas => a.replicas.cmp(&b.replicas),
                StreamColumn::Deleted => a.deleted.cmp(&b.deleted),
            };
            by.then_with(|| a.name.cmp(&b.name))
        });
        if self.descending {
            order.reverse();
        }
        self.order = order;
        self.sorted_for = Some(key);
    }

    /// A new list came: sort it again.
    pub fn list_changed(&mut self) {
        self.sorted_for = None;
    }
}

pub fn stream_list_ui(
    ui: &mut egui::Ui,
    view: &mut StreamsView,
    now: i64,
    actions: &mut Vec<JetStreamAction>,
) {
    ui.horizontal(|ui| {
        ui.strong("Streams");
        if let Some(list) = &view.list.value {
            ui.label(format!("({})", list.len()));
        }
        if ui.button("Refresh").clicked() {
            actions.push(JetStreamAction::RefreshStreams);
        }
        view.list.status_ui(ui);
    });
    view.resort();
    let Some(list) = view.list.value.as_deref() else {
        if !view.list.loading && view.list.error.is_none() {
            ui.label("Not fetched yet.");
        }
        return;
    };
    let mut clicked_header = None;
    let mut clicked_row = None;
    // Scrolled sideways inside the panel: a wider report would otherwise
    // widen the panel itself.
    egui::ScrollArea::horizontal()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let mut table = TableBuilder::new(ui)
                .striped(true)
                .sense(Sense::click())
                .column(Column::initial(150.0).at_least(80.0).clip(true));
            for _ in 1..COLUMNS.len() {
                table = table.column(Column::auto().at_least(36.0));
            }
            table
                .column(Column::remainder().at_least(60.0).clip(true))
                .header(20.0, |mut header| {
                    for (column, title) in COLUMNS {
                        header.col(|ui| {
                            let arrow = match (view.sort == column, view.descending) {
                                (true, true) => " ⏷",
                                (true, false) => " ⏶",
                                _ => "",
                            };
                            if ui
                                .add(
                                    egui::Button::new(
                                        RichText::new(format!("{title}{arrow}")).strong(),
                                    )
                                    .frame(false),
                                )
                                .on_hover_text("Sort by this column")
                                .clicked()
                            {
                                clicked_header = Some(column);
                            }
                        });
                    }
                    header.col(|ui| {
                        ui.strong("Subjects");
                    });
                })
                .body(|body| {
                    body.rows(20.0, view.order.len(), |mut row| {
                        let s = &list[view.order[row.index()]];
                        row.set_selected(view.selected.as_deref() == Some(s.name.as_str()));
                        let selected = view.selected.as_deref() == Some(s.name.as_str());
                        row.col(|ui| {
                            if ui.selectable_label(selected, &s.name).clicked() {
                                clicked_row = Some(s.name.clone());
                            }
                            if s.unhealthy_replicas() > 0 {
                                ui.colored_label(crate::ui::palette::of(ui).bad, "⚠")
                                    .on_hover_text("replicas behind or offline");
                            }
                        });
                        row.col(|ui| {
                            ui.label(format::count(s.messages));
                        });
                        row.col(|ui| {
                            ui.label(format::bytes(s.bytes));
                        });
                        row.col(|ui| {
                            ui.label(s.first_seq.to_string());
                        });
                        row.col(|ui| {
                            ui.label(s.last_seq.to_string());
                        });
                        row.col(|ui| {
                            ui.label(s.last_ns.map_or("never".into(), |t| format::age(t, now)));
                        });
                        row.col(|ui| {
                            ui.label(s.consumers.to_string());
                        });
                        row.col(|ui| {
                            ui.label(&s.retention);
                        });
                        row.col(|ui| {
                            ui.label(&s.storage);
                        });
                        row.col(|ui| {
                            ui.label(s.replicas.to_string());
                        });
                        row.col(|ui| {
                            ui.label(format::count(s.deleted));
                        });
                        row.col(|ui| {
                            ui.label(s.subjects.join(", "));
                        });
                        if row.response().clicked() {
                            clicked_row = Some(s.name.clone());
                        }
                    });
                });
        });
    if let Some(column) = clicked_header {
        view.sort_by(column);
    }
    if let Some(name) = clicked_row {
        view.selected = Some(name.clone());
        actions.push(JetStreamAction::OpenStream(name));
    }
}

/// The subjects the stream holds, with counts; a click browses one.
pub fn subjects_ui(ui: &mut egui::Ui, view: &mut StreamsView, actions: &mut Vec<JetStreamAction>) {
    ui.horizontal(|ui| {
        crate::ui::labelled_text_edit(ui, "Filter", &mut view.subject_filter, 200.0);
        view.subjects.status_ui(ui);
    });
    let Some(subjects) = view.subjects.value.as_deref() else {
        return;
    };
    let filter = view.subject_filter.trim();
    let shown: Vec<&(String, u64)> = subjects
        .iter()
        .filter(|(s, _)| filter.is_empty() || s.contains(filter))
        .collect();
    ui.label(format!("{} subjects", format::count(shown.len() as u64)));
    TableBuilder::new(ui)
        .striped(true)
        .column(Column::remainder().clip(true))
        .column(Column::auto().at_least(80.0))
        .header(18.0, |mut h| {
            h.col(|ui| {
                ui.strong("Subject");
            });
            h.col(|ui| {
                ui.strong("Messages");
            });
        })
        .body(|body| {
            body.rows(20.0, shown.len(), |mut row| {
                let (subject, count) = shown[row.index()];
                row.col(|ui| {
                    if ui
                        .link(subject)
                        .on_hover_text("Browse this subject's messages")
                        .clicked()
                    {
                        actions.push(JetStreamAction::Browse {
                            start: crate::jetstream::Start::Seq(1),
                            subject: Some(subject.clone()),
                        });
                    }
                });
                row.col(|ui| {
                    ui.label(format::count(*count));
                });
            });
        });
}

/// Config, state, cluster, mirror and sources; purge.
pub fn stream_detail_ui(
    ui: &mut egui::Ui,
    view: &mut StreamsView,
    stream: &StreamSummary,
    actions: &mut Vec<JetStreamAction>,
) {
    egui::ScrollArea::vertical().show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.label(format!(
                "{} messages, {}, sequences {}–{}, {} deleted",
                format::count(stream.messages),
                format::bytes(stream.bytes),
                stream.first_seq,
                stream.last_seq,
                format::count(stream.deleted)
            ));
            if ui.button("Purge…").clicked() {
                view.purge = Some(PurgeDialog::default());
            }
        });
        if let Some(cluster) = &stream.cluster {
            ui.separator();
            ui.strong(format!(
                "Cluster {} · leader {}",
                cluster.name.as_deref().unwrap_or("-"),
                cluster.leader.as_deref().unwrap_or("none")
            ));
            for r in &cluster.replicas {
                let (text, color) = if r.offline {
                    ("offline".to_owned(), crate::ui::palette::of(ui).bad)
                } else if !r.current {
                    (
                        format!("lagging by {} operations", r.lag),
                        crate::ui::palette::of(ui).retry,
                    )
                } else {
                    ("current".to_owned(), crate::ui::palette::of(ui).muted)
                };
                ui.horizontal(|ui| {
                    ui.label(&r.name);
                    ui.colored_label(color, text);
                    ui.label(format!("seen {:.1} s ago", r.active_ns as f64 / 1e9));
                });
            }
        }
        for up in &stream.upstreams {
            ui.horizontal(|ui| {
                ui.strong(format!("{} {}", up.role, up.name));
                ui.label(format!("lag {}", up.lag));
                if let Some(e) = &up.error {
                    ui.colored_label(crate::ui::palette::of(ui).bad, e);
                }
            });
        }
        ui.separator();
        ui.collapsing("Config and state (the server's answer)", |ui| {
            let text = serde_json::to_string_pretty(&stream.raw).unwrap_or_default();
            ui.add(
                egui::TextEdit::multiline(&mut text.as_str())
                    .code_editor()
                    .desired_width(f32::INFINITY),
            );
        });
    });
    purge_dialog_ui(ui, view, &stream.name, actions);
}

fn purge_dialog_ui(
    ui: &mut egui::Ui,
    view: &mut StreamsView,
    stream: &str,
    actions: &mut Vec<JetStreamAction>,
) {
    let Some(dialog) = &mut view.purge else {
        return;
    };
    let mut open = true;
    let mut close = false;
    egui::Window::new(format!("Purge {stream}"))
        .open(&mut open)
        .collapsible(false)
        .show(ui.ctx(), |ui| {
            ui.label("Leave a field empty to not use it.");
            crate::ui::labelled_text_edit(ui, "Only subject", &mut dialog.subject, 200.0);
            crate::ui::labelled_text_edit(ui, "Keep newest", &mut dialog.keep, 80.0);
            crate::ui::labelled_text_edit(ui, "Up to sequence", &mut dialog.up_to_seq, 80.0);
            let purge = dialog.purge();
            if let Err(e) = &purge {
                ui.colored_label(crate::ui::palette::of(ui).bad, e);
            }
            if ui.button("Preview").clicked()
                && let Ok(p) = &purge
            {
                dialog.preview.loading = true;
                actions.push(JetStreamAction::PreviewPurge(p.clone()));
            }
            dialog.preview.status_ui(ui);
            // The confirmation needs a preview of exactly what is asked.
            if let (Some((previewed, preview)), Ok(asked)) = (&dialog.preview.value, &purge)
                && previewed == asked
            {
                let how = if preview.exact { "" } else { "at most " };
                ui.label(format!(
                    "This removes {how}{} messages from {stream}. It cannot be undone.",
                    format::count(preview.count)
                ));
                let label = format!(
                    "Purge {} messages from {stream}",
                    format::count(preview.count)
                );
                if ui
                    .button(RichText::new(label).color(crate::ui::palette::of(ui).bad))
                    .clicked()
                {
                    actions.push(JetStreamAction::Purge(asked.clone()));
                    close = true;
                }
            }
        });
    if !open || close {
        view.purge = None;
    }
}
