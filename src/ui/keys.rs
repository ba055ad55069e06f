//! Every keyboard shortcut, as one list: the app binds from it, the `?`
//! window shows it, and the README's keyboard table is made from it (a
//! test holds them equal).

use super::View;

/// The number keys show the views in the tab bar's order.
pub const VIEW_KEYS: [egui::Key; 9] = [
    egui::Key::Num1,
    egui::Key::Num2,
    egui::Key::Num3,
    egui::Key::Num4,
    egui::Key::Num5,
    egui::Key::Num6,
    egui::Key::Num7,
    egui::Key::Num8,
    egui::Key::Num9,
];

/// (keys, what they do), in the order shown.
pub fn key_help() -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = [
        ("`Space`", "pause / resume the view (capture continues)"),
        ("`↓` / `j`, `↑` / `k`", "select the next / previous message"),
        (
            "`End`",
            "follow the newest messages again (clears selection and pause, scrolls to the newest row)",
        ),
        ("`Esc`", "clear the selection"),
        ("`Ctrl+click`, `Shift+click`", "mark several rows (for replay, to compare)"),
        ("`Ctrl+L`", "clear everything captured"),
    ]
    .iter()
    .map(|(k, a)| ((*k).to_owned(), (*a).to_owned()))
    .collect();
    for (n, view) in View::ALL.iter().enumerate() {
        rows.push((format!("`{}`", n + 1), format!("the {} view", view.label())));
    }
    rows.push(("`?`".into(), "this list of shortcuts".into()));
    rows.push(("`Ctrl+wheel`".into(), "zoom the sequence diagram".into()));
    rows
}

/// The list as the README's Markdown table.
pub fn markdown_table() -> String {
    let mut table = String::from("| key | action |\n|---|---|\n");
    for (keys, action) in key_help() {
        table.push_str(&format!("| {keys} | {action} |\n"));
    }
    table
}

/// The `?` window.
pub fn shortcuts_window_ui(ctx: &egui::Context, open: &mut bool) {
    egui::Window::new("Keyboard shortcuts")
        .open(open)
        .collapsible(false)
        .show(ctx, |ui| {
            egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                for (keys, action) in key_help() {
                    ui.monospace(keys.replace('`', ""));
                    ui.label(action);
                    ui.end_row();
                }
            });
        });
}

#[cfg(test)]
mod tests {
    /// The README's keyboard table is this list: regenerate it from the
    /// message when a shortcut changes.
    #[test]
    fn the_readme_lists_every_shortcut() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README");
        let expected = super::markdown_table();
        assert!(
            readme.contains(&expected),
            "README.md's keyboard table must read:\n{expected}"
        );
    }
}
