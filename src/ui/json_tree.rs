//! A collapsible tree of a JSON value. Large arrays and objects show their
//! first entries only, so a huge document never stalls a frame.

use egui::RichText;
use serde_json::Value;

/// Children shown per array/object before "… N more".
const MAX_CHILDREN: usize = 500;
/// Characters of a string leaf shown; a megabyte-long string laid out whole
/// cost hundreds of MiB of meshes.
const MAX_LEAF_CHARS: usize = 400;

pub fn json_tree_ui(ui: &mut egui::Ui, value: &Value, id: egui::Id) {
    node_ui(ui, None, value, id, 0);
}

fn node_ui(ui: &mut egui::Ui, key: Option<&str>, value: &Value, id: egui::Id, depth: usize) {
    let prefix = key.map(|k| format!("{k}: ")).unwrap_or_default();
    match value {
        Value::Object(map) => {
            let title = format!("{prefix}{{…}} {} keys", map.len());
            egui::CollapsingHeader::new(RichText::new(title).monospace())
                .id_salt(id)
                .default_open(depth < 2)
                .show(ui, |ui| {
                    for (k, v) in map.iter().take(MAX_CHILDREN) {
                        node_ui(ui, Some(k), v, id.with(k), depth + 1);
                    }
                    more_ui(ui, map.len());
                });
        }
        Value::Array(items) => {
            let title = format!("{prefix}[…] {} items", items.len());
            egui::CollapsingHeader::new(RichText::new(title).monospace())
                .id_salt(id)
                .default_open(depth < 2)
                .show(ui, |ui| {
                    for (i, v) in items.iter().take(MAX_CHILDREN).enumerate() {
                        node_ui(ui, Some(&i.to_string()), v, id.with(i), depth + 1);
                    }
                    more_ui(ui, items.len());
                });
        }
        leaf => {
            let (text, color) = match leaf {
                Value::String(s) if s.len() > MAX_LEAF_CHARS => {
                    let head: String = s.chars().take(MAX_LEAF_CHARS).collect();
                    (
                        format!("{head:?}… ({} bytes)", s.len()),
                        crate::ui::palette::of(ui).json_string,
                    )
                }
                Value::String(s) => (format!("{s:?}"), crate::ui::palette::of(ui).json_string),
                Value::Number(n) => (n.to_string(), crate::ui::palette::of(ui).json_number),
                Value::Bool(b) => (b.to_string(), crate::ui::palette::of(ui).json_bool),
                _ => ("null".to_owned(), crate::ui::palette::of(ui).muted),
            };
            ui.horizontal(|ui| {
                ui.label(RichText::new(prefix).monospace());
                ui.label(RichText::new(text).monospace().color(color));
            });
        }
    }
}

fn more_ui(ui: &mut egui::Ui, total: usize) {
    if total > MAX_CHILDREN {
        ui.label(RichText::new(format!("… {} more", total - MAX_CHILDREN)).weak());
    }
}
