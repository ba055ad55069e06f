//! The payload schemas window: the Protobuf and Avro sources loaded, the
//! types they hold, and which subjects carry which type.

use egui::RichText;

use crate::decode::{SchemaKind, SchemaSettings, Schemas};

/// What the window keeps between frames: whether it is open, and the
/// binding being typed.
#[derive(Default)]
pub struct SchemasView {
    pub open: bool,
    pub pattern: String,
    pub type_name: String,
}

/// What the user asked of the window.
pub enum SchemasAction {
    LoadProto,
    LoadDescriptorSet,
    LoadAvro,
    Bind(String, String),
    Unbind(usize),
    RemoveProtoDir(usize),
    RemoveDescriptorSet(usize),
    RemoveAvro(usize),
}

pub fn schemas_window_ui(
    ctx: &egui::Context,
    view: &mut SchemasView,
    settings: &SchemaSettings,
    schemas: &Schemas,
) -> Option<SchemasAction> {
    let mut action = None;
    let mut open = view.open;
    egui::Window::new("Payload schemas")
        .open(&mut open)
        .default_width(520.0)
        .show(ctx, |ui| {
            ui.label(
                RichText::new(
                    "Protobuf types and Avro schemas read payloads that are not JSON (MessagePack and CBOR need none).",
                )
                .weak(),
            );
            ui.horizontal(|ui| {
                if ui.button("Load .proto directory…").clicked() {
                    action = Some(SchemasAction::LoadProto);
                }
                if ui.button("Load descriptor set…").clicked() {
                    action = Some(SchemasAction::LoadDescriptorSet);
                }
                if ui.button("Load Avro schema…").clicked() {
                    action = Some(SchemasAction::LoadAvro);
                }
            });
            for (i, dir) in settings.proto_dirs.iter().enumerate() {
                ui.horizontal(|ui| {
                    ui.monospace(dir.display().to_string());
                    if ui.small_button("Remove").clicked() {
                        action = Some(SchemasAction::RemoveProtoDir(i));
                    }
                });
            }
            for (i, set) in settings.descriptor_sets.iter().enumerate() {
                ui.horizontal(|ui| {
                    ui.monospace(set.display().to_string());
                    if ui.small_button("Remove").clicked() {
                        action = Some(SchemasAction::RemoveDescriptorSet(i));
                    }
                });
            }
            for (i, file) in settings.avro_schemas.iter().enumerate() {
                ui.horizontal(|ui| {
                    ui.monospace(file.display().to_string());
                    if ui.small_button("Remove").clicked() {
                        action = Some(SchemasAction::RemoveAvro(i));
                    }
                });
            }
            let protobuf = schemas.types(SchemaKind::Protobuf);
            let avro = schemas.types(SchemaKind::Avro);
            ui.label(format!(
                "{} Protobuf message types and {} Avro named types loaded",
                protobuf.len(),
                avro.len()
            ));
            let types: Vec<String> = protobuf.into_iter().chain(avro).collect();
            ui.separator();
            ui.strong("Subjects and their types (the first match reads)");
            for (i, (pattern, type_name)) in settings.bindings.iter().enumerate() {
                ui.horizontal(|ui| {
                    ui.monospace(format!("{pattern} → {type_name}"));
                    if ui.small_button("Unbind").clicked() {
                        action = Some(SchemasAction::Unbind(i));
                    }
                });
            }
            ui.horizontal(|ui| {
                super::labelled_text_edit(ui, "Subject pattern", &mut view.pattern, 160.0);
                let label = ui.label("Type");
                egui::ComboBox::from_id_salt("bind-type")
                    .selected_text(view.type_name.as_str())
                    .show_ui(ui, |ui| {
                        for name in &types {
                            ui.selectable_value(&mut view.type_name, name.clone(), name);
                        }
                    })
                    .response
                    .labelled_by(label.id);
                let ready = !view.pattern.trim().is_empty() && !view.type_name.is_empty();
                if ui.add_enabled(ready, egui::Button::new("Bind")).clicked() {
                    action = Some(SchemasAction::Bind(
                        view.pattern.trim().to_owned(),
                        view.type_name.clone(),
                    ));
                }
            });
        });
    view.open = open;
    action
}
