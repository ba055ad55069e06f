//! The message table with its filter bar: virtualised (only visible rows
//! are laid out), following the newest rows until the user scrolls up.

mod decoded;
mod facts;
pub(super) mod group_lag;
pub(super) mod inspector;
pub(crate) mod previews;
pub(super) mod rates;
pub(super) mod subject_tree;

use egui::{Align, RichText, Sense};
use egui_extras::{Column, TableBuilder};

use super::format;
use crate::capture::Seq;
use crate::capture::{Filter, FilteredIndex, Store};

/// New records matched against the filter per frame at most: a new filter
/// over a million records is applied over a few frames, never in one.
pub const SCAN_PER_FRAME: usize = 250_000;
const ROW_HEIGHT: f32 = 18.0;

#[derive(Default)]
pub struct TrafficView {
    pub subject_filter: String,
    pub text_filter: String,
    pub filter_error: Option<String>,
    pub index: FilteredIndex,
    pub selected: Option<Seq>,
    /// Rows marked with Ctrl+click (toggle) or Shift+click (range), for
    /// replaying several messages; the inspector shows `selected`.
    pub marked: std::collections::BTreeSet<Seq>,
    /// While paused, the table shows records up to this sequence number
    /// only; capture goes on underneath.
    pub paused_at: Option<Seq>,
    /// Bring the selected row into view on the next frame.
    pub scroll_to_selected: bool,
    /// Scroll to the newest row on the next frame (End): sticking to the
    /// bottom only holds once the table is at the bottom.
    pub scroll_to_end: bool,
    /// The payload column's previews, decoded where a decoder reads them.
    pub previews: previews::Previews,
}

impl TrafficView {
    /// Parse the filter inputs; keep the old filter if they are invalid.
    pub fn apply_filter(&mut self) {
        match Filter::from_inputs(&self.subject_filter, &self.text_filter) {
            Ok(filter) => {
                self.filter_error = None;
                self.index.set_filter(filter);
            }
            Err(e) => self.filter_error = Some(e.to_string()),
        }
    }

    /// Show only what matches `pattern` (from the subject tree).
    pub fn filter_subject(&mut self, pattern: String) {
        self.subject_filter = pattern;
        self.apply_filter();
    }

    /// Keep the index current: evictions and a bounded number of new records.
    pub fn update(&mut self, store: &Store) {
        self.index.update(store, SCAN_PER_FRAME);
        if let Some(seq) = self.selected
            && seq < store.first_seq()
        {
            self.selected = None; // evicted
        }
    }

    /// Show the newest rows again and keep following them (End).
    pub fn follow(&mut self) {
        self.selected = None;
        self.paused_at = None;
        self.scroll_to_end = true;
    }

    pub fn is_paused(&self) -> bool {
        self.paused_at.is_some()
    }

    pub fn toggle_pause(&mut self, store: &Store) {
        self.paused_at = match self.paused_at {
            Some(_) => None,
            None => Some(store.end_seq()),
        };
    }

    /// Rows the table shows (all matches, or those before the pause).
    pub fn visible_rows(&self) -> usize {
        match self.paused_at {
            Some(end) => self.index.count_below(end),
            None => self.index.len(),
        }
    }

    /// Move the selection by `delta` rows (keyboard).
    pub fn move_selection(&mut self, delta: isize) {
        let rows = self.visible_rows();
        if rows == 0 {
            return;
        }
        let current = self.selected.and_then(|s| self.index.row_of(s));
        let next = match current {
            Some(row) => row.saturating_add_signed(delta).min(rows - 1),
            None if delta < 0 => rows - 1,
            None => 0,
        };
        self.selected = self.index.seq_at(next);
        self.scroll_to_selected = true;
    }

    /// A click on a row: select it; with Ctrl also mark or unmark it; with
    /// Shift mark every shown row from the selection to it.
    pub fn click(&mut self, seq: Seq, toggle: bool, range: bool) {
        if range && let Some(anchor) = self.selected {
            let (from, to) = (anchor.min(seq), anchor.max(seq));
            let rows = self.index.seqs().filter(|s| (from..=to).contains(s));
            self.marked.extend(rows);
        } else if toggle {
            if !self.marked.remove(&seq) {
                self.marked.insert(seq);
            }
        } else {
            self.marked.clear();
        }
        self.selected = Some(seq);
    }

    /// The rows to act on: the marked ones, else the selected one.
    pub fn chosen(&self) -> Vec<Seq> {
        if self.marked.is_empty() {
            self.selected.into_iter().collect()
        } else {
            self.marked.iter().copied().collect()
        }
    }

    pub fn clear(&mut self) {
        self.marked.clear();
        self.previews.clear();
        self.index = FilteredIndex::default();
        self.apply_filter();
        self.selected = None;
        if self.paused_at.is_some() {
            self.paused_at = Some(0);
        }
    }
}

pub fn filter_bar_ui(ui: &mut egui::Ui, view: &mut TrafficView, store: &Store) {
    // Wrapped: a narrow middle (a small window, wide side panels) takes
    // the filters on two lines instead of running them under the panels.
    ui.horizontal_wrapped(|ui| {
        let subject =
            super::labelled_text_edit(ui, "Subject filter", &mut view.subject_filter, 200.0);
        let text = super::labelled_text_edit(ui, "Text filter", &mut view.text_filter, 160.0);
        if subject.changed() || text.changed() {
            view.apply_filter();
        }
        if (!view.subject_filter.is_empty() || !view.text_filter.is_empty())
            && ui.button("Clear filter").clicked()
        {
            view.subject_filter.clear();
            view.text_filter.clear();
            view.apply_filter();
        }
        let shown = view.visible_rows();
        let (scanned, total) = view.index.progress(store);
        if scanned < total {
            ui.label(format!("filtering… {}%", scanned * 100 / total.max(1)));
        }
        ui.label(
            RichText::new(format!(
                "{} of {} retained",
                format::count(shown as u64),
                format::count(store.len() as u64)
            ))
            .weak(),
        );
    });
    if let Some(error) = &view.filter_error {
        ui.colored_label(
            crate::ui::palette::of(ui).bad,
            format!("Filter not applied: {error}"),
        );
    }
}

pub fn table_ui(ui: &mut egui::Ui, view: &mut TrafficView, store: &Store) {
    let rows = view.visible_rows();
    let mut clicked: Option<Seq> = None;
    let scroll_row = view
        .scroll_to_selected
        .then(|| view.selected.and_then(|s| view.index.row_of(s)))
        .flatten();
    view.scroll_to_selected = false;
    let scroll_row = scroll_row.or_else(|| (view.scroll_to_end && rows > 0).then(|| rows - 1));
    view.scroll_to_end = false;
    // A click anywhere on a row selects it; selectable cell text would
    // swallow the click.
    ui.style_mut().interaction.selectable_labels = false;
    let mut table = TableBuilder::new(ui)
        .id_salt("traffic-table")
        .striped(true)
        .resizable(true)
        .sense(Sense::click())
        .stick_to_bottom(view.paused_at.is_none() && scroll_row.is_none())
        .cell_layout(egui::Layout::left_to_right(Align::Center))
        .column(Column::exact(102.0))
        .column(Column::initial(56.0).clip(true))
        .column(Column::initial(200.0).at_least(80.0).clip(true))
        .column(Column::initial(90.0).clip(true))
        .column(Column::exact(58.0))
        .column(Column::exact(32.0))
        .column(Column::remainder().at_least(60.0).clip(true))
        .min_scrolled_height(0.0);
    if let Some(row) = scroll_row {
        table = table.scroll_to_row(row, Some(Align::Center));
    }
    table
        .header(20.0, |mut header| {
            for title in [
                "Time",
                "Connection",
                "Subject",
                "Reply",
                "Size",
                "Hdrs",
                "Payload",
            ] {
                header.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(ROW_HEIGHT, rows, |mut row| {
                let Some(seq) = view.index.seq_at(row.index()) else {
                    return;
                };
                let Some(record) = store.get(seq) else {
                    return;
                };
                row.set_selected(view.selected == Some(seq) || view.marked.contains(&seq));
                row.col(|ui| {
                    ui.label(RichText::new(format::clock(record.received_at)).monospace());
                });
                row.col(|ui| {
                    ui.label(store.connection_name(record.connection));
                });
                row.col(|ui| {
                    ui.label(RichText::new(record.subject()).monospace());
                });
                row.col(|ui| {
                    if let Some(reply) = record.reply() {
                        ui.label(RichText::new(reply).monospace().weak());
                    }
                });
                row.col(|ui| {
                    ui.label(format::bytes(record.payload().len() as u64));
                });
                row.col(|ui| {
                    let n = record.header_count();
                    if n > 0 {
                        ui.label(n.to_string());
                    }
                });
                row.col(|ui| {
                    let text = view.previews.get(seq, record, 160);
                    ui.label(RichText::new(text.as_ref()).monospace().weak());
                });
                if row.response().clicked() {
                    clicked = Some(seq);
                }
            });
        });
    if let Some(seq) = clicked {
        let modifiers = ui.input(|i| i.modifiers);
        view.click(seq, modifiers.command, modifiers.shift);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Record;

    #[test]
    fn ctrl_and_shift_clicks_choose_rows() {
        let mut store = Store::default();
        for i in 0..10 {
            let subject = if i % 2 == 0 { "a" } else { "b" };
            store.push(Record::new(i, 0, subject, None, None, b""));
        }
        let mut view = TrafficView::default();
        view.filter_subject("a".into());
        view.update(&store);
        view.click(2, false, false);
        assert_eq!(view.chosen(), [2]);
        view.click(8, false, true);
        assert_eq!(
            view.chosen(),
            [2, 4, 6, 8],
            "shift: the shown rows in between"
        );
        view.click(4, true, false);
        assert_eq!(view.chosen(), [2, 6, 8], "ctrl: toggled off");
        view.click(0, false, false);
        assert_eq!(view.chosen(), [0], "a plain click starts over");
    }
}
