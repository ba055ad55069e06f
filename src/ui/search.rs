//! The Search view: a query (subject pattern, text or regular expression
//! in payload and headers, a JSON test on the decoded payload, a time
//! range) run over everything retained; progress while it runs, matches
//! counted by subject, the matching messages as a table (only the rows on
//! screen drawn), saved searches. The app runs the search; this draws it.

use egui::{Align, RichText, Sense};
use egui_extras::{Column, TableBuilder};

use super::format;
use super::traffic::previews::Previews;
use crate::capture::{Seq, Store};
use crate::search::{QueryInput, SavedSearch, SearchProgress};

#[derive(Default)]
pub struct SearchView {
    pub input: QueryInput,
    pub saved: Vec<SavedSearch>,
    pub save_name: String,
    pub error: Option<String>,
    pub selected: Option<Seq>,
    pub previews: Previews,
}

pub enum SearchAction {
    Run,
    Cancel,
    Save(String),
    Forget(usize),
    /// Load a saved search and run it.
    RunSaved(usize),
    /// Show only this subject's matches (a subject count clicked).
    NarrowTo(String),
    /// Draw the matches' flows as one sequence diagram.
    Diagram,
}

/// What a running or finished search has to show.
pub struct SearchShown<'a> {
    pub progress: &'a SearchProgress,
    pub total: u64,
    pub running: bool,
}

pub fn search_ui(
    ui: &mut egui::Ui,
    view: &mut SearchView,
    store: &Store,
    shown: Option<SearchShown<'_>>,
) -> Option<SearchAction> {
    let mut action = None;
    ui.heading("Search");
    ui.horizontal(|ui| {
        super::labelled_text_edit(ui, "Subject", &mut view.input.subject, 200.0);
        super::labelled_text_edit(ui, "Text", &mut view.input.text, 220.0);
        ui.checkbox(&mut view.input.regex, "regular expression");
    });
    ui.horizontal(|ui| {
        super::labelled_text_edit(ui, "JSON test", &mut view.input.json, 260.0)
            .on_hover_text(".data.order_id == \"ord-42\", .lines[].count >= 2, .total");
        super::labelled_text_edit(ui, "From", &mut view.input.from, 170.0)
            .on_hover_text("RFC 3339, or an age: 15m, 2h");
        super::labelled_text_edit(ui, "To", &mut view.input.to, 170.0);
    });
    ui.horizontal(|ui| {
        let running = shown.as_ref().is_some_and(|s| s.running);
        if running {
            if ui.button("Cancel").clicked() {
                action = Some(SearchAction::Cancel);
            }
        } else if ui.button("Run search").clicked() {
            action = Some(SearchAction::Run);
        }
        ui.separator();
        super::labelled_text_edit(ui, "Save as", &mut view.save_name, 140.0);
        let named = !view.save_name.trim().is_empty();
        if ui.add_enabled(named, egui::Button::new("Save")).clicked() {
            action = Some(SearchAction::Save(view.save_name.trim().to_owned()));
        }
    });
    if !view.saved.is_empty() {
        ui.horizontal_wrapped(|ui| {
            ui.label("Saved:");
            for (i, saved) in view.saved.iter().enumerate() {
                if ui.button(&saved.name).on_hover_text("Run it").clicked() {
                    action = Some(SearchAction::RunSaved(i));
                }
                if ui.small_button("×").on_hover_text("Forget it").clicked() {
                    action = Some(SearchAction::Forget(i));
                }
            }
        });
    }
    if let Some(e) = &view.error {
        ui.colored_label(crate::ui::palette::of(ui).bad, e);
    }
    let Some(shown) = shown else {
        return action;
    };
    let p = shown.progress;
    ui.horizontal(|ui| {
        if shown.running {
            ui.spinner();
            let part = p.scanned as f32 / shown.total.max(1) as f32;
            ui.add(egui::ProgressBar::new(part).desired_width(160.0));
        }
        let state = if p.cancelled {
            " (cancelled)"
        } else if shown.running {
            ""
        } else {
            " (done)"
        };
        ui.label(format!(
            "{} matches in {} of {} messages searched{state}",
            format::count(p.found),
            format::count(p.scanned),
            format::count(shown.total)
        ));
        if !shown.running && p.found > 0 {
            let button = ui.button("As one sequence diagram").on_hover_text(
                "The flows these messages belong to, in time order, in the Flows view",
            );
            if button.clicked() {
                action = Some(SearchAction::Diagram);
            }
        }
        if p.found > p.matches.len() as u64 {
            ui.label(RichText::new(format!("(the first {} listed)", p.matches.len())).weak());
        }
    });
    ui.separator();
    egui::Panel::left("search-subjects")
        .resizable(true)
        .default_size(crate::ui::side_default(ui, 240.0))
        .size_range(crate::ui::side_range(ui))
        .show(ui, |ui| {
            ui.strong("Matches by subject");
            egui::ScrollArea::vertical().show(ui, |ui| {
                egui::Grid::new("search-counts")
                    .striped(true)
                    .show(ui, |ui| {
                        for (subject, n) in p.subjects().into_iter().take(200) {
                            if ui
                                .link(format::elide(subject, 40))
                                .on_hover_text("Search this subject only")
                                .clicked()
                            {
                                action = Some(SearchAction::NarrowTo(subject.to_owned()));
                            }
                            ui.label(format::count(n));
                            ui.end_row();
                        }
                    });
            });
        });
    results_table_ui(ui, view, store, &p.matches);
    action
}

fn results_table_ui(ui: &mut egui::Ui, view: &mut SearchView, store: &Store, matches: &[Seq]) {
    ui.style_mut().interaction.selectable_labels = false;
    let mut clicked = None;
    TableBuilder::new(ui)
        .id_salt("search-results")
        .striped(true)
        .sense(Sense::click())
        .cell_layout(egui::Layout::left_to_right(Align::Center))
        .column(Column::exact(102.0))
        .column(Column::initial(220.0).clip(true))
        .column(Column::remainder().clip(true))
        .min_scrolled_height(0.0)
        .header(20.0, |mut header| {
            for title in ["Time", "Subject", "Payload"] {
                header.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(18.0, matches.len(), |mut row| {
                let seq = matches[row.index()];
                let Some(record) = store.get(seq) else {
                    row.col(|ui| {
                        ui.label(RichText::new("evicted").weak());
                    });
                    return;
                };
                row.set_selected(view.selected == Some(seq));
                row.col(|ui| {
                    ui.label(RichText::new(format::clock(record.received_at)).monospace());
                });
                row.col(|ui| {
                    ui.label(record.subject());
                });
                row.col(|ui| {
                    let preview = view.previews.get(seq, record, 160);
                    ui.label(RichText::new(preview).monospace());
                });
                if row.response().clicked() {
                    clicked = Some(seq);
                }
            });
        });
    if clicked.is_some() {
        view.selected = clicked;
    }
}
