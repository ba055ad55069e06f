//! Panel sizes that fit the window: a side panel starts at the width it
//! asks for but at most a third of the room, and is never dragged below
//! a usable width or past most of the window; a bottom panel likewise in
//! height. At 1000x700 the middle keeps room; at 2560x1440 panels keep
//! the sizes they ask for.

use std::ops::RangeInclusive;

const SIDE_MIN: f32 = 140.0;
const BOTTOM_MIN: f32 = 80.0;

/// A side panel's first width.
pub fn side_default(ui: &egui::Ui, wanted: f32) -> f32 {
    wanted.min(ui.available_width() * 0.34).max(SIDE_MIN)
}

/// How far a side panel may be dragged.
pub fn side_range(ui: &egui::Ui) -> RangeInclusive<f32> {
    SIDE_MIN..=(ui.available_width() * 0.6).max(SIDE_MIN)
}

/// A bottom panel's first height.
pub fn bottom_default(ui: &egui::Ui, wanted: f32) -> f32 {
    wanted.min(ui.available_height() * 0.3).max(BOTTOM_MIN)
}

pub fn bottom_range(ui: &egui::Ui) -> RangeInclusive<f32> {
    BOTTOM_MIN..=(ui.available_height() * 0.6).max(BOTTOM_MIN)
}
