//! The message browser: a page of a stream's messages, read without a
//! consumer, with the way it was read shown as a badge; paging, jumps to a
//! sequence, a subject's last message or a time; the same inspector as
//! live traffic; delete, edit and resend, replay.

use egui::{RichText, Sense};
use egui_extras::{Column, TableBuilder};

use crate::capture::{Seq, Store, Timestamp};
use crate::ui::format;
use crate::ui::jetstream::actions::JetStreamAction;
use crate::ui::traffic::inspector::{InspectorAction, InspectorView, inspector_ui};
use std::sync::Arc;

use crate::jetstream::{
    Access, SearchProgress, SearchRequest, Start, StoredMessage, StreamSummary,
};

/// Bytes of records the browser keeps: the page on screen.
const BROWSER_BUDGET: usize = 64 << 20;
pub const PAGE_SIZES: [usize; 3] = [100, 500, 1000];

/// One row of the page.
pub struct BrowsedRow {
    pub seq: Seq,
    pub stream_seq: u64,
    /// Deliveries observed for it (the in-flight window), from the flows.
    pub deliveries: Option<u64>,
}

/// The in-flight window being shown: whose, and its limit.
pub struct InFlight {
    pub consumer: String,
    pub max_deliver: i64,
    pub ack_floor: u64,
    pub delivered: u64,
}

pub struct BrowserView {
    /// The page's messages as records (connection "stream NAME").
    pub store: Store,
    pub rows: Vec<BrowsedRow>,
    pub stream: Option<String>,
    pub access: Option<Access>,
    pub more: bool,
    pub loading: bool,
    pub error: Option<String>,
    pub page_size: usize,
    pub subject_filter: String,
    pub seq_input: String,
    pub time_input: String,
    pub last_subject_input: String,
    pub selected: Option<Seq>,
    pub inspector: InspectorView,
    /// The payload column's previews (decoded where a decoder reads them).
    pub previews: crate::ui::traffic::previews::Previews,
    pub in_flight: Option<InFlight>,
    pub confirm_delete: Option<u64>,
    pub search: SearchForm,
    /// Rows marked with Ctrl+click, for replaying (redriving) a selection.
    pub marked: std::collections::BTreeSet<Seq>,
}

/// The search form and the search running or done.
pub struct SearchForm {
    pub needle: String,
    /// Empty: from the stream's first message; else RFC 3339 or `1h`.
    pub since: String,
    pub max_messages: String,
    pub max_mib: String,
    pub max_seconds: String,
    pub error: Option<String>,
    /// Set by the app when a search starts.
    pub running: Option<Arc<SearchProgress>>,
}

impl Default for SearchForm {
    fn default() -> Self {
        Self {
            needle: String::new(),
            since: String::new(),
            max_messages: "1000000".into(),
            max_mib: "1024".into(),
            max_seconds: "60".into(),
            error: None,
            running: None,
        }
    }
}

impl SearchForm {
    fn request(
        &self,
        stream: &StreamSummary,
        subject: Option<String>,
        now: Timestamp,
    ) -> Result<SearchRequest, String> {
        if self.needle.is_empty() {
            return Err("type what to search for".into());
        }
        let number = |text: &str, what: &str| -> Result<u64, String> {
            text.trim()
                .parse()
                .map_err(|_| format!("{what} must be a whole number"))
        };
        let start = if self.since.trim().is_empty() {
            Start::Seq(stream.first_seq.max(1))
        } else {
            Start::Time(parse_time_input(&self.since, now)?)
        };
        Ok(SearchRequest {
            start,
            up_to_seq: Some(stream.last_seq),
            subject,
            needle: self.needle.clone(),
            max_messages: number(&self.max_messages, "messages")?,
            max_bytes: number(&self.max_mib, "MiB")?.saturating_mul(1 << 20),
            max_time: std::time::Duration::from_secs(number(&self.max_seconds, "seconds")?),
            max_hits: 1000,
        })
    }
}

impl Default for BrowserView {
    fn default() -> Self {
        Self {
            store: Store::new(BROWSER_BUDGET),
            rows: Vec::new(),
            stream: None,
            access: None,
            more: false,
            loading: false,
            error: None,
            page_size: PAGE_SIZES[0],
            subject_filter: String::new(),
            seq_input: String::new(),
            time_input: String::new(),
            last_subject_input: String::new(),
            selected: None,
            inspector: InspectorView::default(),
            previews: Default::default(),
            in_flight: None,
            confirm_delete: None,
            search: SearchForm::default(),
            marked: Default::default(),
        }
    }
}

impl BrowserView {
    /// Show a page (the old one is forgotten).
    pub fn set_page(
        &mut self,
        stream: &str,
        messages: &[StoredMessage],
        access: Access,
        more: bool,
        deliveries: impl Fn(u64) -> Option<u64>,
    ) {
        self.store.clear();
        self.marked.clear();
        let key = self.store.intern_connection(&format!("stream {stream}"));
        self.rows.clear();
        for m in messages {
            let seq = self.store.end_seq();
            self.store.push(m.to_record(key));
            self.rows.push(BrowsedRow {
                seq,
                stream_seq: m.seq,
                deliveries: deliveries(m.seq),
            });
        }
        self.stream = Some(stream.to_owned());
        self.access = Some(access);
        self.more = more;
        self.loading = false;
        self.error = None;
        self.selected = self.rows.first().map(|r| r.seq);
    }

    fn first_stream_seq(&self) -> Option<u64> {
        self.rows.first().map(|r| r.stream_seq)
    }

    fn last_stream_seq(&self) -> Option<u64> {
        self.rows.last().map(|r| r.stream_seq)
    }

    fn subject(&self) -> Option<String> {
        Some(self.subject_filter.trim().to_owned()).filter(|s| !s.is_empty())
    }

    fn browse(&mut self, start: Start, actions: &mut Vec<JetStreamAction>) {
        self.in_flight = None;
        self.loading = true;
        actions.push(JetStreamAction::Browse {
            start,
            subject: self.subject(),
        });
    }
}

/// A time typed by the user: RFC 3339, or a duration ago (`15m`).
pub fn parse_time_input(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(t) = crate::capture::file::parse_timestamp(text) {
        return Ok(t);
    }
    match crate::jetstream::parse_duration(text.trim_end_matches(" ago")) {
        Ok(ago) => Ok(now - i64::try_from(ago.as_nanos()).unwrap_or(i64::MAX)),
        Err(_) => Err(format!(
            "{text:?}: give an RFC 3339 time (2026-11-30T08:00:00Z) or how long ago (15m, 1h)"
        )),
    }
}

pub fn browser_ui(
    ui: &mut egui::Ui,
    view: &mut BrowserView,
    stream: &StreamSummary,
    actions: &mut Vec<JetStreamAction>,
) {
    let now = crate::capture::now_timestamp();
    toolbar_ui(ui, view, stream, now, actions);
    search_ui(ui, view, stream, now, actions);
    if let Some(e) = &view.error {
        ui.colored_label(crate::ui::palette::of(ui).bad, e);
    }
    if let Some(f) = &view.in_flight {
        ui.label(
            RichText::new(format!(
                "In flight for {}: stream sequences {}–{} (ack floor to last delivered) that its filter takes; \
                 deliveries are those seen in the flows. With explicit acks some may already be acked out of order.",
                f.consumer,
                f.ack_floor + 1,
                f.delivered
            ))
            .italics(),
        );
    }
    if view.stream.as_deref() != Some(stream.name.as_str()) {
        return;
    }
    let action = egui::Panel::right("browser-inspector")
        .resizable(true)
        .default_size(crate::ui::side_default(ui, 380.0))
        .size_range(crate::ui::side_range(ui))
        .show(ui, |ui| {
            if let Some(seq) = view.selected {
                selected_actions_ui(ui, view, seq, actions);
            }
            inspector_ui(ui, &mut view.inspector, &view.store, view.selected)
        })
        .inner;
    match action {
        InspectorAction::EditAndResend(seq) => actions.push(JetStreamAction::EditAndResend(seq)),
        InspectorAction::FilterSubject(subject) => {
            view.subject_filter = subject;
            view.browse(Start::Seq(1), actions);
        }
        InspectorAction::Trace(seq) => actions.push(JetStreamAction::Trace(seq)),
        InspectorAction::Follow(what, value) => actions.push(JetStreamAction::Follow(what, value)),
        InspectorAction::CompareWithPrevious(seq) => {
            let store = &view.store;
            let pair = store.get(seq).and_then(|after| {
                (store.first_seq()..seq)
                    .rev()
                    .filter_map(|s| store.get(s))
                    .find(|r| r.subject() == after.subject())
                    .map(|before| (before.clone(), after.clone()))
            });
            actions.push(JetStreamAction::Compare(pair.ok_or_else(|| {
                "no earlier browsed message on this subject to compare with".to_owned()
            })));
        }
        InspectorAction::CompareWithMarked(seq) => {
            let others: Vec<Seq> = view.marked.iter().copied().filter(|s| *s != seq).collect();
            let pair = match others.as_slice() {
                [other] => {
                    let (a, b) = ((*other).min(seq), (*other).max(seq));
                    view.store
                        .get(a)
                        .zip(view.store.get(b))
                        .map(|(a, b)| (a.clone(), b.clone()))
                }
                _ => None,
            };
            actions.push(JetStreamAction::Compare(pair.ok_or_else(|| {
                "mark exactly one other browsed message (Ctrl+click) to compare with".to_owned()
            })));
        }
        InspectorAction::None => {}
    }
    page_table_ui(ui, view);
}

fn toolbar_ui(
    ui: &mut egui::Ui,
    view: &mut BrowserView,
    stream: &StreamSummary,
    now: Timestamp,
    actions: &mut Vec<JetStreamAction>,
) {
    ui.horizontal_wrapped(|ui| {
        let badge = Access::of(stream.allow_direct);
        ui.label(
            RichText::new(format!("read by {}", view.access.unwrap_or(badge).label()))
                .background_color(ui.visuals().faint_bg_color)
                .monospace(),
        )
        .on_hover_text(
            "Never through a consumer: reading an interest or work-queue stream through one can remove its messages",
        );
        crate::ui::labelled_text_edit(ui, "Subject", &mut view.subject_filter, 140.0);
        egui::ComboBox::from_id_salt("page-size")
            .selected_text(format!("{} per page", view.page_size))
            .show_ui(ui, |ui| {
                for size in PAGE_SIZES {
                    ui.selectable_value(&mut view.page_size, size, size.to_string());
                }
            });
        if ui.button("⏮ First").clicked() {
            view.browse(Start::Seq(stream.first_seq.max(1)), actions);
        }
        let first = view.first_stream_seq();
        if ui
            .add_enabled(first.is_some_and(|f| f > stream.first_seq), egui::Button::new("◀ Previous"))
            .clicked()
            && let Some(first) = first
        {
            let back = first.saturating_sub(view.page_size as u64).max(1);
            view.browse(Start::Seq(back), actions);
        }
        let later = view.more || view.last_stream_seq().is_some_and(|l| l < stream.last_seq);
        if ui
            .add_enabled(later, egui::Button::new("Next ▶"))
            .clicked()
            && let Some(last) = view.last_stream_seq()
        {
            view.browse(Start::Seq(last + 1), actions);
        }
        if ui.button("Last page ⏭").clicked() {
            let start = stream.last_seq.saturating_sub(view.page_size as u64 - 1).max(1);
            view.browse(Start::Seq(start), actions);
        }
        if view.loading {
            ui.spinner();
        }
    });
    ui.horizontal_wrapped(|ui| {
        crate::ui::labelled_text_edit(ui, "Sequence", &mut view.seq_input, 80.0);
        if ui.button("Go").clicked() {
            match view.seq_input.trim().parse::<u64>() {
                Ok(seq) => view.browse(Start::Seq(seq), actions),
                Err(_) => view.error = Some("a sequence is a whole number".into()),
            }
        }
        ui.separator();
        ui.label("Jump to");
        for (label, minutes) in [("15 min ago", 15), ("1 h ago", 60), ("24 h ago", 24 * 60)] {
            if ui.button(label).clicked() {
                view.browse(Start::Time(now - minutes * 60 * 1_000_000_000), actions);
            }
        }
        crate::ui::labelled_text_edit(ui, "Time", &mut view.time_input, 170.0);
        if ui.button("Go to time").clicked() {
            match parse_time_input(&view.time_input, now) {
                Ok(t) => view.browse(Start::Time(t), actions),
                Err(e) => view.error = Some(e),
            }
        }
        ui.separator();
        crate::ui::labelled_text_edit(ui, "Last of subject", &mut view.last_subject_input, 120.0);
        if ui.button("Go to last").clicked() {
            let pattern = view.last_subject_input.trim();
            match crate::capture::validate_pattern(pattern) {
                Ok(()) => {
                    let start = Start::LastPerSubject(pattern.to_owned());
                    view.browse(start, actions);
                }
                Err(e) => view.error = Some(e.to_string()),
            }
        }
        if !view.rows.is_empty() && ui.button("Replay this page…").clicked() {
            actions.push(JetStreamAction::Replay(
                view.rows.iter().map(|r| r.seq).collect(),
            ));
        }
    });
}

/// Search the whole stream (or from a time), with budgets, progress and
/// cancel; the hits become the page.
fn search_ui(
    ui: &mut egui::Ui,
    view: &mut BrowserView,
    stream: &StreamSummary,
    now: Timestamp,
    actions: &mut Vec<JetStreamAction>,
) {
    let subject = view.subject();
    let form = &mut view.search;
    let mut show_hits = None;
    ui.horizontal_wrapped(|ui| {
        crate::ui::labelled_text_edit(ui, "Search payloads and headers", &mut form.needle, 160.0);
        crate::ui::labelled_text_edit(ui, "from (time, empty: first)", &mut form.since, 110.0);
        crate::ui::labelled_text_edit(ui, "at most messages", &mut form.max_messages, 70.0);
        crate::ui::labelled_text_edit(ui, "MiB", &mut form.max_mib, 44.0);
        crate::ui::labelled_text_edit(ui, "seconds", &mut form.max_seconds, 32.0);
        let running = form.running.as_ref().is_some_and(|p| !p.is_finished());
        if running {
            if ui.button("Cancel search").clicked()
                && let Some(p) = &form.running
            {
                p.cancel();
            }
        } else if ui.button("Search").clicked() {
            match form.request(stream, subject.clone(), now) {
                Ok(request) => {
                    form.error = None;
                    actions.push(JetStreamAction::Search(Box::new(request)));
                }
                Err(e) => form.error = Some(e),
            }
        }
        if let Some(p) = &form.running {
            let span = stream.last_seq.saturating_sub(stream.first_seq) + 1;
            let done = if p.is_finished() {
                1.0
            } else {
                (p.scanned() as f32 / span.max(1) as f32).min(1.0)
            };
            ui.add(
                egui::ProgressBar::new(done)
                    .desired_width(140.0)
                    .text(format!(
                        "{} read, {} hits",
                        format::count(p.scanned()),
                        format::count(p.hit_count())
                    )),
            );
            if let Some(why) = p.ended() {
                ui.label(format!("stopped: {why}"));
                if ui.button("Show hits").clicked() {
                    show_hits = Some(p.hits());
                }
            }
        }
    });
    if let Some(e) = &form.error {
        ui.colored_label(crate::ui::palette::of(ui).bad, e);
    }
    if let Some(hits) = show_hits {
        let access = view.access.unwrap_or(Access::of(stream.allow_direct));
        view.set_page(&stream.name, &hits, access, false, |_| None);
    }
}

fn selected_actions_ui(
    ui: &mut egui::Ui,
    view: &mut BrowserView,
    seq: Seq,
    actions: &mut Vec<JetStreamAction>,
) {
    let Some(row) = view.rows.iter().find(|r| r.seq == seq) else {
        return;
    };
    let stream_seq = row.stream_seq;
    let stream = view.stream.clone().unwrap_or_default();
    ui.horizontal(|ui| {
        ui.strong(format!("{stream} #{stream_seq}"));
        if ui.button("Delete…").clicked() {
            view.confirm_delete = Some(stream_seq);
        }
    });
    if view.confirm_delete == Some(stream_seq) {
        ui.horizontal(|ui| {
            ui.colored_label(
                crate::ui::palette::of(ui).bad,
                format!("Erase message {stream_seq} from {stream}?"),
            );
            if ui
                .button(format!("Delete #{stream_seq} from {stream}"))
                .clicked()
            {
                actions.push(JetStreamAction::DeleteMessage(stream_seq));
                view.confirm_delete = None;
            }
            if ui.button("Cancel").clicked() {
                view.confirm_delete = None;
            }
        });
    }
    ui.separator();
}

fn page_table_ui(ui: &mut egui::Ui, view: &mut BrowserView) {
    let max_deliver = view.in_flight.as_ref().map(|f| f.max_deliver);
    let mut clicked = None;
    let toggle = ui.input(|i| i.modifiers.command);
    egui::CentralPanel::default().show(ui, |ui| {
        if view.rows.is_empty() && !view.loading {
            ui.label("No messages here.");
            return;
        }
        let mut table = TableBuilder::new(ui)
            .striped(true)
            .sense(Sense::click())
            .column(Column::auto().at_least(60.0))
            .column(Column::auto().at_least(90.0))
            .column(Column::initial(220.0).clip(true))
            .column(Column::auto().at_least(60.0));
        if max_deliver.is_some() {
            table = table.column(Column::auto().at_least(80.0));
        }
        table
            .column(Column::remainder().clip(true))
            .header(18.0, |mut h| {
                let mut titles = vec!["Seq", "Stored", "Subject", "Size"];
                if max_deliver.is_some() {
                    titles.push("Deliveries");
                }
                titles.push("Payload");
                for title in titles {
                    h.col(|ui| {
                        ui.strong(title);
                    });
                }
            })
            .body(|body| {
                body.rows(20.0, view.rows.len(), |mut row| {
                    let r = &view.rows[row.index()];
                    let Some(record) = view.store.get(r.seq) else {
                        return;
                    };
                    row.set_selected(view.selected == Some(r.seq) || view.marked.contains(&r.seq));
                    row.col(|ui| {
                        ui.label(r.stream_seq.to_string());
                    });
                    row.col(|ui| {
                        ui.label(format::clock(record.received_at));
                    });
                    row.col(|ui| {
                        ui.label(record.subject());
                    });
                    row.col(|ui| {
                        ui.label(format::bytes(record.payload().len() as u64));
                    });
                    if let Some(max) = max_deliver {
                        row.col(|ui| match r.deliveries {
                            Some(n) if max > 0 && n as i64 >= max - 1 => {
                                ui.colored_label(
                                    crate::ui::palette::of(ui).bad,
                                    format!("{n} of {max} · likely poison"),
                                );
                            }
                            Some(n) if n > 1 => {
                                ui.colored_label(crate::ui::palette::of(ui).retry, n.to_string());
                            }
                            Some(n) => {
                                ui.label(n.to_string());
                            }
                            None => {
                                ui.weak("not seen");
                            }
                        });
                    }
                    row.col(|ui| {
                        ui.label(view.previews.get(r.seq, record, 120).as_ref());
                    });
                    if row.response().clicked() {
                        clicked = Some(r.seq);
                    }
                });
            });
    });
    if let Some(seq) = clicked {
        if toggle && !view.marked.remove(&seq) {
            view.marked.insert(seq);
        }
        view.selected = Some(seq);
    }
}
