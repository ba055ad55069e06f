//! The KV view: buckets on the left, the chosen bucket's keys (filtered,
//! virtualised: 100,000 keys draw only the visible rows), the chosen key's
//! value, history and diff, and a live watch. Object stores share the
//! view behind a switch. It draws what the app fetched and returns what
//! the user asked for; every change is confirmed or named on its button.

pub(super) mod actions;
pub(super) mod key;
pub(super) mod objects;

use egui_extras::{Column, TableBuilder};

use super::bounded::Bounded;
use super::format;
use super::loaded::Loaded;
use crate::capture::SubjectPattern;
use crate::flow::KvOperation;
use crate::kv::{BucketSummary, KeyEvent, KeyList, KeyRow, WatchMode};
pub use crate::ui::kv::actions::{KvAction, WATCH_KEEP};
use crate::ui::kv::key::{KeyPanel, key_panel_ui};
use crate::ui::kv::objects::{ObjectsView, objects_ui};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KvMode {
    #[default]
    KeyValue,
    Objects,
}

/// A live watch's panel: what to watch and what it saw.
pub struct WatchPanel {
    pub pattern: String,
    pub mode: WatchMode,
    pub running: bool,
    /// The newest entries, oldest first.
    pub events: Bounded<KeyEvent>,
    pub error: Option<String>,
}

impl Default for WatchPanel {
    fn default() -> Self {
        Self {
            pattern: String::new(),
            mode: WatchMode::default(),
            running: false,
            events: Bounded::new(WATCH_KEEP),
            error: None,
        }
    }
}

#[derive(Default)]
pub struct KvView {
    pub mode: KvMode,
    pub buckets: Loaded<Vec<BucketSummary>>,
    pub bucket: Option<String>,
    pub keys: Loaded<KeyList>,
    /// Text, or a subject pattern (`orders.*`), over the keys.
    pub filter: String,
    pub show_deleted: bool,
    /// Rows of `keys` shown under the filter, and what they were made for.
    shown: Vec<usize>,
    shown_for: Option<(String, bool, usize)>,
    pub key: KeyPanel,
    pub watch: WatchPanel,
    pub objects: ObjectsView,
    /// The last change's outcome, or why the view has nothing.
    pub notice: Option<String>,
}

impl KvView {
    /// A bucket's keys arrived: keep the filter, drop the old rows' order.
    pub fn set_keys(&mut self, result: Result<KeyList, String>) {
        self.keys.answer(result);
        self.shown_for = None;
    }

    /// The rows under the filter; recomputed only when the filter or the
    /// keys change (a 100,000-key filter is not run every frame).
    fn refresh_shown(&mut self) {
        let len = self.keys.value.as_ref().map_or(0, |k| k.rows.len());
        let wanted = (self.filter.clone(), self.show_deleted, len);
        if self.shown_for.as_ref() != Some(&wanted) {
            let rows = self.keys.value.as_ref().map_or(&[][..], |k| &k.rows[..]);
            let matcher = KeyMatcher::new(&self.filter);
            self.shown = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| self.show_deleted || r.operation == KvOperation::Put)
                .filter(|(_, r)| matcher.matches(&r.key))
                .map(|(i, _)| i)
                .collect();
            self.shown_for = Some(wanted);
        }
    }
}

/// A key filter: a subject pattern when it has wildcards, else a
/// case-insensitive substring.
enum KeyMatcher {
    All,
    Pattern(SubjectPattern),
    Text(String),
}

impl KeyMatcher {
    fn new(filter: &str) -> Self {
        let filter = filter.trim();
        if filter.is_empty() {
            return KeyMatcher::All;
        }
        if crate::capture::has_wildcards(filter)
            && let Ok(p) = SubjectPattern::parse(filter)
        {
            return KeyMatcher::Pattern(p);
        }
        KeyMatcher::Text(filter.to_lowercase())
    }

    fn matches(&self, key: &str) -> bool {
        match self {
            KeyMatcher::All => true,
            KeyMatcher::Pattern(p) => p.matches(key),
            KeyMatcher::Text(t) => key.to_lowercase().contains(t.as_str()),
        }
    }
}

/// The whole view.
pub fn kv_ui(ui: &mut egui::Ui, view: &mut KvView, now: i64) -> Vec<KvAction> {
    let mut actions = Vec::new();
    egui::Panel::top("kv-mode").show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.selectable_value(&mut view.mode, KvMode::KeyValue, "Key-value buckets");
            ui.selectable_value(&mut view.mode, KvMode::Objects, "Object stores");
            if let Some(n) = &view.notice {
                ui.separator();
                ui.label(n);
            }
        });
    });
    if view.mode == KvMode::Objects {
        objects_ui(ui, &mut view.objects, now, &mut actions);
        return actions;
    }
    egui::Panel::left("kv-buckets")
        .resizable(true)
        .default_size(crate::ui::side_default(ui, 220.0))
        .size_range(crate::ui::side_range(ui))
        .show(ui, |ui| buckets_ui(ui, view, &mut actions));
    egui::Panel::bottom("kv-watch")
        .resizable(true)
        .default_size(crate::ui::bottom_default(ui, 200.0))
        .size_range(crate::ui::bottom_range(ui))
        .show(ui, |ui| watch_ui(ui, view, &mut actions));
    egui::Panel::right("kv-key")
        .resizable(true)
        .default_size(crate::ui::side_default(ui, 520.0))
        .size_range(crate::ui::side_range(ui))
        .show(ui, |ui| key_panel_ui(ui, &mut view.key, now, &mut actions));
    egui::CentralPanel::default().show(ui, |ui| keys_ui(ui, view, now, &mut actions));
    actions
}

fn buckets_ui(ui: &mut egui::Ui, view: &mut KvView, actions: &mut Vec<KvAction>) {
    ui.horizontal(|ui| {
        ui.heading("Buckets");
        if ui.button("Refresh").clicked() {
            actions.push(KvAction::RefreshBuckets);
        }
        // In the heading row: a refresh every few seconds must not move
        // the list under the pointer.
        if view.buckets.loading {
            ui.spinner();
        }
    });
    if let Some(e) = &view.buckets.error {
        ui.colored_label(crate::ui::palette::of(ui).bad, e);
    }
    let Some(buckets) = &view.buckets.value else {
        return;
    };
    if buckets.is_empty() {
        ui.label("No KV buckets on this account.");
    }
    egui::ScrollArea::vertical().show(ui, |ui| {
        for b in buckets {
            let chosen = view.bucket.as_deref() == Some(&b.name);
            let label = format!("{}  ({} keys, {})", b.name, b.keys, format::bytes(b.bytes));
            if ui
                .selectable_label(chosen, label)
                .on_hover_text(format!(
                    "history {} · {} · R{}{}",
                    b.history,
                    if b.ttl_secs == 0 {
                        "no TTL".to_owned()
                    } else {
                        format!("TTL {} s", b.ttl_secs)
                    },
                    b.replicas,
                    b.description
                        .as_deref()
                        .map(|d| format!(" · {d}"))
                        .unwrap_or_default()
                ))
                .clicked()
            {
                actions.push(KvAction::OpenBucket(b.name.clone()));
            }
        }
    });
}

fn keys_ui(ui: &mut egui::Ui, view: &mut KvView, now: i64, actions: &mut Vec<KvAction>) {
    let Some(bucket) = view.bucket.clone() else {
        ui.label("Choose a bucket on the left.");
        return;
    };
    ui.horizontal(|ui| {
        ui.heading(&bucket);
        if ui.button("Refresh keys").clicked() {
            actions.push(KvAction::OpenBucket(bucket.clone()));
        }
        view.keys.status_ui(ui);
    });
    ui.horizontal(|ui| {
        let label = ui.label("Filter");
        ui.add(
            egui::TextEdit::singleline(&mut view.filter)
                .id_salt("kv-filter")
                .hint_text("text, or a pattern like orders.*")
                .desired_width(260.0),
        )
        .labelled_by(label.id);
        ui.checkbox(&mut view.show_deleted, "Show deleted");
    });
    let (total, not_kept, complete) = view
        .keys
        .value
        .as_ref()
        .map_or((0, 0, true), |k| (k.rows.len(), k.not_kept, k.complete));
    view.refresh_shown();
    let shown = &view.shown;
    ui.horizontal(|ui| {
        ui.label(format!(
            "{} of {} keys",
            format::count(shown.len() as u64),
            format::count(total as u64)
        ));
        if not_kept > 0 {
            ui.colored_label(
                crate::ui::palette::of(ui).bad,
                format!("{not_kept} more not listed (limit)"),
            );
        }
        if !complete {
            ui.colored_label(
                crate::ui::palette::of(ui).bad,
                "listing stalled: some keys may be missing",
            );
        }
    });
    let Some(list) = &view.keys.value else {
        return;
    };
    let selected = view.key.key.clone();
    TableBuilder::new(ui)
        .id_salt("kv-keys")
        .striped(true)
        .sense(egui::Sense::click())
        .column(Column::remainder().at_least(160.0).clip(true))
        .columns(Column::exact(80.0), 4)
        .header(20.0, |mut h| {
            for t in ["Key", "Revision", "Operation", "Size", "Updated"] {
                h.col(|ui| {
                    ui.strong(t);
                });
            }
        })
        .body(|body| {
            body.rows(20.0, shown.len(), |mut row| {
                let r: &KeyRow = &list.rows[shown[row.index()]];
                row.set_selected(selected.as_deref() == Some(&r.key));
                let deleted = r.operation != KvOperation::Put;
                let chosen = selected.as_deref() == Some(&r.key);
                let text = if deleted {
                    egui::RichText::new(&r.key).weak()
                } else {
                    egui::RichText::new(&r.key)
                };
                let mut clicked = false;
                row.col(|ui| clicked = ui.selectable_label(chosen, text).clicked());
                row.col(|ui| {
                    ui.label(r.revision.to_string());
                });
                row.col(|ui| {
                    ui.label(r.operation.label());
                });
                row.col(|ui| {
                    ui.label(format::bytes(r.size));
                });
                row.col(|ui| {
                    ui.label(format::age(r.updated, now));
                });
                if clicked || row.response().clicked() {
                    actions.push(KvAction::OpenKey(r.key.clone()));
                }
            });
        });
}

fn watch_ui(ui: &mut egui::Ui, view: &mut KvView, actions: &mut Vec<KvAction>) {
    let w = &mut view.watch;
    ui.horizontal(|ui| {
        ui.strong("Watch");
        ui.add(
            egui::TextEdit::singleline(&mut w.pattern)
                .id_salt("kv-watch-pattern")
                .hint_text("> (the whole bucket) or a key pattern")
                .desired_width(200.0),
        );
        ui.radio_value(
            &mut w.mode,
            WatchMode::InitialThenUpdates,
            "Current values, then updates",
        );
        ui.radio_value(&mut w.mode, WatchMode::UpdatesOnly, "Updates only");
        if w.running {
            if ui.button("Stop watch").clicked() {
                actions.push(KvAction::StopWatch);
            }
            ui.spinner();
        } else if ui
            .add_enabled(view.bucket.is_some(), egui::Button::new("Start watch"))
            .clicked()
        {
            w.events.clear();
            w.error = None;
            actions.push(KvAction::StartWatch {
                pattern: w.pattern.clone(),
                mode: w.mode,
            });
        }
        ui.label(w.events.summary("entries"));
    });
    if let Some(e) = &w.error {
        ui.colored_label(crate::ui::palette::of(ui).bad, e);
    }
    TableBuilder::new(ui)
        .id_salt("kv-watch-table")
        .striped(true)
        // The panel keeps its height as entries come: its buttons stay put.
        .auto_shrink([false, false])
        .stick_to_bottom(true)
        .column(Column::exact(90.0))
        .column(Column::exact(70.0))
        .column(Column::exact(60.0))
        .column(Column::initial(200.0).clip(true))
        .column(Column::remainder().clip(true))
        .header(18.0, |mut h| {
            for t in ["Revision", "Operation", "When", "Key", "Value"] {
                h.col(|ui| {
                    ui.strong(t);
                });
            }
        })
        .body(|body| {
            let events = w.events.items();
            body.rows(18.0, events.len(), |mut row| {
                let e = &events[row.index()];
                row.col(|ui| {
                    ui.label(e.entry.revision.to_string());
                });
                row.col(|ui| {
                    ui.label(e.entry.operation.label());
                });
                row.col(|ui| {
                    ui.label(if e.initial { "initial" } else { "live" });
                });
                row.col(|ui| {
                    ui.label(&e.entry.key);
                });
                row.col(|ui| {
                    ui.label(format::payload_preview(&e.entry.value, 120));
                });
            });
        });
}
