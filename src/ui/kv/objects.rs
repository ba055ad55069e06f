//! Object stores: buckets, their objects, one object's info, download to
//! a file and upload a file (the app asks for the path), and a watch.

use egui_extras::{Column, TableBuilder};

use crate::kv::{ObjectBucket, ObjectRow};
use crate::ui::bounded::Bounded;
use crate::ui::format;
pub use crate::ui::kv::actions::ObjectAction;
use crate::ui::kv::actions::{KvAction, WATCH_KEEP};
use crate::ui::loaded::Loaded;

pub struct ObjectsView {
    pub buckets: Loaded<Vec<ObjectBucket>>,
    pub bucket: Option<String>,
    pub objects: Loaded<Vec<ObjectRow>>,
    pub selected: Option<String>,
    pub watch_initial: bool,
    pub watch_running: bool,
    pub events: Bounded<ObjectRow>,
    pub watch_error: Option<String>,
}

impl Default for ObjectsView {
    fn default() -> Self {
        Self {
            buckets: Loaded::default(),
            bucket: None,
            objects: Loaded::default(),
            selected: None,
            watch_initial: false,
            watch_running: false,
            events: Bounded::new(WATCH_KEEP),
            watch_error: None,
        }
    }
}

pub fn objects_ui(
    ui: &mut egui::Ui,
    view: &mut ObjectsView,
    now: i64,
    actions: &mut Vec<KvAction>,
) {
    let mut act = |a| actions.push(KvAction::Objects(a));
    egui::Panel::left("object-buckets")
        .resizable(true)
        .default_size(crate::ui::side_default(ui, 220.0))
        .size_range(crate::ui::side_range(ui))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("Object stores");
                if ui.button("Refresh").clicked() {
                    act(ObjectAction::RefreshBuckets);
                }
                // In the heading row: a refresh must not move the list.
                if view.buckets.loading {
                    ui.spinner();
                }
            });
            if let Some(e) = &view.buckets.error {
                ui.colored_label(crate::ui::palette::of(ui).bad, e);
            }
            for b in view.buckets.value.as_deref().unwrap_or_default() {
                let label = format!(
                    "{}  ({}{})",
                    b.name,
                    format::bytes(b.bytes),
                    if b.sealed { ", sealed" } else { "" }
                );
                if ui
                    .selectable_label(view.bucket.as_deref() == Some(&b.name), label)
                    .clicked()
                {
                    act(ObjectAction::OpenBucket(b.name.clone()));
                }
            }
            if view.buckets.value.as_ref().is_some_and(Vec::is_empty) {
                ui.label("No object stores on this account.");
            }
        });
    egui::Panel::bottom("object-watch")
        .resizable(true)
        .default_size(crate::ui::bottom_default(ui, 160.0))
        .size_range(crate::ui::bottom_range(ui))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("Watch");
                ui.checkbox(&mut view.watch_initial, "Current objects first");
                if view.watch_running {
                    if ui.button("Stop watch").clicked() {
                        act(ObjectAction::StopWatch);
                    }
                    ui.spinner();
                } else if ui
                    .add_enabled(view.bucket.is_some(), egui::Button::new("Start watch"))
                    .clicked()
                {
                    view.events.clear();
                    view.watch_error = None;
                    act(ObjectAction::StartWatch {
                        initial: view.watch_initial,
                    });
                }
                ui.label(view.events.summary("changes"));
            });
            if let Some(e) = &view.watch_error {
                ui.colored_label(crate::ui::palette::of(ui).bad, e);
            }
            egui::ScrollArea::vertical()
                .stick_to_bottom(true)
                .show(ui, |ui| {
                    for e in view.events.items() {
                        ui.label(format!(
                            "{} '{}' {} ({} chunks)",
                            if e.deleted { "deleted" } else { "put" },
                            e.name,
                            format::bytes(e.size),
                            e.chunks
                        ));
                    }
                });
        });
    egui::Panel::right("object-info")
        .resizable(true)
        .default_size(crate::ui::side_default(ui, 420.0))
        .size_range(crate::ui::side_range(ui))
        .show(ui, |ui| {
            let row = view.selected.as_deref().and_then(|name| {
                view.objects
                    .value
                    .as_deref()?
                    .iter()
                    .find(|o| o.name == name)
            });
            let Some(row) = row else {
                ui.label("Choose an object.");
                return;
            };
            ui.heading(&row.name);
            if ui.button("Download…").clicked() {
                act(ObjectAction::Download(row.name.clone()));
            }
            egui::ScrollArea::vertical().show(ui, |ui| ui.monospace(&row.info_json));
        });
    egui::CentralPanel::default().show(ui, |ui| {
        let Some(bucket) = view.bucket.clone() else {
            ui.label("Choose an object store on the left.");
            return;
        };
        ui.horizontal(|ui| {
            ui.heading(&bucket);
            if ui.button("Refresh objects").clicked() {
                act(ObjectAction::OpenBucket(bucket.clone()));
            }
            if ui.button("Upload a file…").clicked() {
                act(ObjectAction::Upload);
            }
            view.objects.status_ui(ui);
        });
        let rows = view.objects.value.as_deref().unwrap_or_default();
        TableBuilder::new(ui)
            .id_salt("objects")
            .striped(true)
            .sense(egui::Sense::click())
            .column(Column::remainder().at_least(160.0).clip(true))
            .columns(Column::exact(80.0), 3)
            .header(20.0, |mut h| {
                for t in ["Object", "Size", "Chunks", "Modified"] {
                    h.col(|ui| {
                        ui.strong(t);
                    });
                }
            })
            .body(|body| {
                body.rows(20.0, rows.len(), |mut row| {
                    let o = &rows[row.index()];
                    row.set_selected(view.selected.as_deref() == Some(&o.name));
                    let chosen = view.selected.as_deref() == Some(&o.name);
                    let mut clicked = false;
                    row.col(|ui| clicked = ui.selectable_label(chosen, &o.name).clicked());
                    row.col(|ui| {
                        ui.label(format::bytes(o.size));
                    });
                    row.col(|ui| {
                        ui.label(o.chunks.to_string());
                    });
                    row.col(|ui| {
                        ui.label(format::age(o.modified, now));
                    });
                    if clicked || row.response().clicked() {
                        view.selected = Some(o.name.clone());
                    }
                });
            });
    });
}
