//! Kafka consumer groups' lag over time, one line per group and
//! partition, beside the rate plot: how far each group is behind the end
//! of each partition it reads, as the Kafka link polls it.

use egui::RichText;
use egui_plot::{Corner, Legend, Line, Plot};

use crate::capture::{GroupLagHistory, GroupPartition, MAX_SERIES, Timestamp};

/// Lines drawn at most: the partitions furthest behind (a legend of
/// hundreds is unreadable); the rest are counted.
const LINES: usize = 12;
/// The plot's widest window; older points are drawn at its edge.
const WINDOW_SECS: f64 = 600.0;

pub fn group_lag_ui(ui: &mut egui::Ui, history: &GroupLagHistory, now: Timestamp) {
    let mut latest: Vec<(&GroupPartition, i64)> = history.latest().collect();
    latest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let shown: Vec<&GroupPartition> = latest.iter().take(LINES).map(|(k, _)| *k).collect();
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Records behind each partition's end:").weak());
        for (key, lag) in latest.iter().take(LINES) {
            ui.label(RichText::new(format!("{key}: {lag} behind")).monospace());
        }
        if latest.len() > LINES {
            ui.label(
                RichText::new(format!(
                    "and {} partitions less behind, not drawn",
                    latest.len() - LINES
                ))
                .weak(),
            );
        }
        if history.untracked > 0 {
            ui.colored_label(
                crate::ui::palette::of(ui).bad,
                format!(
                    "{} commits of partitions past the first {MAX_SERIES} not followed",
                    history.untracked
                ),
            );
        }
    });
    let secs_ago = |at: Timestamp| (at - now) as f64 / 1e9;
    Plot::new("group-lag")
        .legend(
            Legend::default()
                .position(Corner::LeftTop)
                .background_alpha(0.6),
        )
        .height(ui.available_height().max(80.0))
        .include_y(0.0)
        // The last minute at least, up to the window as history grows.
        .include_x(-60.0)
        .include_x(0.0)
        .allow_scroll(false)
        .x_axis_label("seconds ago")
        .y_axis_label("records behind")
        .show(ui, |plot| {
            for (key, points) in history.series().filter(|(k, _)| shown.contains(k)) {
                // A commit record is written when the lag changes: the lag
                // holds until the next one, and until now after the last.
                let mut line = Vec::with_capacity(points.len() * 2 + 1);
                let mut last: Option<f64> = None;
                for (at, lag) in points {
                    let x = secs_ago(*at).max(-WINDOW_SECS);
                    if let Some(before) = last {
                        line.push([x, before]);
                    }
                    line.push([x, *lag as f64]);
                    last = Some(*lag as f64);
                }
                if let Some(lag) = last {
                    line.push([0.0, lag]);
                }
                // A step's two points share an x: egui_plot would draw
                // them as one band, a filled shape, not a step.
                plot.line(Line::new(key.to_string(), line).allow_band(false));
            }
        });
}
