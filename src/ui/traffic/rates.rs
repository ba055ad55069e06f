//! Live rate plot: total msg/s over the last minute and the busiest
//! subjects, with connection gaps marked.

use egui_plot::{Corner, Legend, Line, Plot, VLine};

use crate::capture::Store;
use crate::capture::Timestamp;
use crate::capture::{NodeId, ROOT};

/// Top subjects plotted besides the total.
const TOP_SUBJECTS: usize = 5;

/// Which subjects are busiest, re-chosen once a second (it walks the tree).
#[derive(Default)]
pub struct RatesView {
    top: Vec<NodeId>,
    chosen_at_second: i64,
    /// The tree's generation the ids belong to (a clear or a load makes
    /// them stale).
    generation: u64,
    /// The panel shows the Kafka groups' lag instead of the rates.
    pub show_group_lag: bool,
}

pub fn rates_ui(ui: &mut egui::Ui, view: &mut RatesView, store: &Store, now: Timestamp) {
    let tree = store.subjects();
    let second = now.div_euclid(1_000_000_000);
    if second != view.chosen_at_second || view.generation != tree.generation() {
        view.top = tree
            .top_leaves(now, TOP_SUBJECTS)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        view.chosen_at_second = second;
        view.generation = tree.generation();
    }
    let to_points = |id: NodeId| -> Vec<[f64; 2]> {
        tree.history(id, now)
            .into_iter()
            .map(|(sec, count)| [(sec - second) as f64, f64::from(count)])
            .collect()
    };
    let gaps: Vec<f64> = store
        .gaps()
        .iter()
        .map(|g| ((g.from.div_euclid(1_000_000_000)) - second) as f64)
        .filter(|x| *x >= -60.0)
        .collect();
    let disconnected = crate::ui::palette::of(ui).bad;
    Plot::new("rates")
        .legend(
            Legend::default()
                .position(Corner::LeftTop)
                .background_alpha(0.6),
        )
        .height(ui.available_height().max(80.0))
        .include_y(0.0)
        .include_x(-60.0)
        .include_x(0.0)
        .allow_scroll(false)
        .allow_zoom(false)
        .allow_drag(false)
        .x_axis_label("seconds ago")
        .y_axis_label("msg/s")
        .show(ui, |plot| {
            plot.line(Line::new("total", to_points(ROOT)).width(2.0));
            for &id in &view.top {
                plot.line(Line::new(tree.path(id), to_points(id)));
            }
            for x in gaps {
                plot.vline(VLine::new("disconnected", x).color(disconnected));
            }
        });
}
