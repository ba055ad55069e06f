//! The subject tree panel: tokens as nested nodes with message counts, rate
//! and last-seen time, aggregated up. Clicking a node filters the table.
//! Only expanded nodes are visited, so the cost follows what is on screen.

use egui::RichText;

use crate::capture::Timestamp;
use crate::capture::{NodeId, ROOT, SubjectTree};
use crate::ui::format;

pub struct TreeAction {
    /// A node was clicked: filter the table to this pattern.
    pub filter: Option<String>,
}

pub fn subject_tree_ui(
    ui: &mut egui::Ui,
    tree: &SubjectTree,
    now: Timestamp,
    selected_filter: &str,
) -> TreeAction {
    let mut action = TreeAction { filter: None };
    let root = tree.node(ROOT);
    ui.horizontal(|ui| {
        ui.strong("Subjects");
        ui.label(
            RichText::new(format!(
                "{} msgs · {}",
                format::count(root.messages),
                format::rate(tree.rate(ROOT, now))
            ))
            .weak(),
        );
    });
    if tree.is_empty() {
        ui.label(RichText::new("No messages yet.").weak());
        return action;
    }
    egui::ScrollArea::vertical()
        .id_salt("subject-tree")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let all = ui.selectable_label(selected_filter.is_empty(), "(all subjects)");
            if all.clicked() {
                action.filter = Some(String::new());
            }
            children_ui(ui, tree, ROOT, now, selected_filter, &mut action);
        });
    action
}

/// Children shown under one node; the rest are counted, never laid out.
const MAX_SHOWN_CHILDREN: usize = 200;
/// Characters of a subject token shown in the tree.
const MAX_TOKEN_CHARS: usize = 40;

fn children_ui(
    ui: &mut egui::Ui,
    tree: &SubjectTree,
    id: NodeId,
    now: Timestamp,
    selected_filter: &str,
    action: &mut TreeAction,
) {
    let (children, hidden) = tree.children_for_display(id, MAX_SHOWN_CHILDREN);
    for child in children {
        node_ui(ui, tree, child, now, selected_filter, action);
    }
    if hidden > 0 {
        ui.label(
            RichText::new(format!(
                "… {} quieter subjects not shown: use the subject filter",
                format::count(hidden as u64)
            ))
            .small()
            .weak(),
        );
    }
}

fn node_ui(
    ui: &mut egui::Ui,
    tree: &SubjectTree,
    id: NodeId,
    now: Timestamp,
    selected_filter: &str,
    action: &mut TreeAction,
) {
    let node = tree.node(id);
    let pattern = tree.filter_pattern(id);
    let mut clicked = false;
    if node.is_leaf() {
        ui.horizontal(|ui| {
            ui.add_space(ui.spacing().indent);
            clicked = node_label_ui(ui, tree, id, &pattern, now, selected_filter);
        });
    } else {
        let state_id = ui.make_persistent_id(("subject-node", id));
        let header = egui::collapsing_header::CollapsingState::load_with_default_open(
            ui.ctx(),
            state_id,
            // Small branches start open; big ones wait for a click.
            node.depth <= 1 && node.child_count() <= 12,
        )
        .show_header(ui, |ui| {
            clicked = node_label_ui(ui, tree, id, &pattern, now, selected_filter)
        });
        header.body(|ui| children_ui(ui, tree, id, now, selected_filter, action));
    }
    if clicked {
        action.filter = Some(pattern);
    }
}

/// Name, counts, rate and age of a node; true when the name was clicked.
fn node_label_ui(
    ui: &mut egui::Ui,
    tree: &SubjectTree,
    id: NodeId,
    pattern: &str,
    now: Timestamp,
    selected_filter: &str,
) -> bool {
    let node = tree.node(id);
    let rate = tree.rate(id, now);
    // A token of any length keeps the tree its width (the whole pattern is
    // on hover).
    let name_text = RichText::new(format::elide(&node.name, MAX_TOKEN_CHARS)).monospace();
    let name_text = if rate > 0.0 {
        name_text.color(ui.visuals().strong_text_color())
    } else {
        name_text
    };
    let response = ui
        .selectable_label(pattern == selected_filter, name_text)
        .on_hover_ui(|ui| {
            ui.label(format!(
                "{}\n{} messages, {}\nlast seen {}\nclick to filter the table",
                pattern,
                format::count(node.messages),
                format::bytes(node.bytes),
                format::age(node.last_seen, now)
            ));
        });
    ui.label(
        RichText::new(format!(
            "{} · {}",
            format::count(node.messages),
            format::rate(rate)
        ))
        .small()
        .color(if rate > 0.0 {
            crate::ui::palette::of(ui).good
        } else {
            ui.visuals().weak_text_color()
        }),
    );
    ui.label(
        RichText::new(format::age(node.last_seen, now))
            .small()
            .weak(),
    );
    response.clicked()
}
