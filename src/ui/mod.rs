//! The views. Each file draws one panel from the model it is given and
//! returns what the user asked for; none touches the network or the store's
//! internals.

pub mod connection_form;
pub mod connections;
pub mod flows;
pub mod format;
pub mod inspector;
pub mod json_tree;
pub mod publish;
pub mod rates;
pub mod replay;
pub mod sequence_diagram;
pub mod status_bar;
pub mod subject_tree;
pub mod traffic;

/// The main areas of the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum View {
    Traffic,
    Flows,
    #[serde(alias = "Act")]
    Publish,
    Connections,
}

impl View {
    pub const ALL: [View; 4] = [View::Traffic, View::Flows, View::Publish, View::Connections];

    pub fn label(self) -> &'static str {
        match self {
            View::Traffic => "Traffic",
            View::Flows => "Flows",
            View::Publish => "Publish & replay",
            View::Connections => "Connections",
        }
    }
}

/// A widget after a label that names it for accessibility (egui_kittest
/// finds it by that label).
pub fn labelled(ui: &mut egui::Ui, label: &str, widget: impl egui::Widget) -> egui::Response {
    let label = ui.label(label);
    ui.add(widget).labelled_by(label.id)
}

/// A named one-line text field.
pub fn labelled_text_edit(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    width: f32,
) -> egui::Response {
    labelled(
        ui,
        label,
        egui::TextEdit::singleline(value).desired_width(width),
    )
}
