//! How the window looks and is laid out: the theme, the text size,
//! whether times are read in local time or UTC, and which panels show
//! beside which views. Saved between runs (egui keeps the panels' sizes);
//! applied to egui each time they change.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub enum ThemeChoice {
    #[default]
    Dark,
    Light,
    /// The desktop's own light or dark setting, followed as it changes.
    System,
}

impl ThemeChoice {
    pub const ALL: [ThemeChoice; 3] = [ThemeChoice::Dark, ThemeChoice::Light, ThemeChoice::System];

    pub fn label(self) -> &'static str {
        match self {
            ThemeChoice::Dark => "dark",
            ThemeChoice::Light => "light",
            ThemeChoice::System => "follow the system",
        }
    }
}

/// The look the user chose.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Look {
    pub theme: ThemeChoice,
    /// egui's zoom factor: 1.0 is egui's own size.
    pub scale: f32,
    /// Times shown in UTC rather than local time (captures are UTC either way).
    pub utc: bool,
    /// The rate plot under the traffic.
    pub rates_under_traffic: bool,
    /// The flows (list and diagram) under the map, filtered by its clicks.
    pub flows_beside_map: bool,
}

impl Default for Look {
    fn default() -> Self {
        Self {
            theme: ThemeChoice::Dark,
            scale: 1.0,
            utc: false,
            rates_under_traffic: true,
            flows_beside_map: false,
        }
    }
}

/// The text sizes offered, as egui zoom factors.
pub const SCALES: [f32; 7] = [0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0];

impl Look {
    /// The next size up (`step` 1) or down (-1), kept within `SCALES`.
    pub fn step_scale(&mut self, step: i32) {
        let at = SCALES
            .iter()
            .position(|s| *s >= self.scale - 0.001)
            .unwrap_or(SCALES.len() - 1) as i32;
        let next = (at + step).clamp(0, SCALES.len() as i32 - 1);
        self.scale = SCALES[next as usize];
    }

    /// Apply to the window: the theme, the zoom, the clock.
    pub fn apply(&self, ctx: &egui::Context) {
        ctx.set_theme(match self.theme {
            ThemeChoice::Dark => egui::ThemePreference::Dark,
            ThemeChoice::Light => egui::ThemePreference::Light,
            ThemeChoice::System => egui::ThemePreference::System,
        });
        let scale = self.scale.clamp(SCALES[0], SCALES[SCALES.len() - 1]);
        if (ctx.zoom_factor() - scale).abs() > 0.001 {
            ctx.set_zoom_factor(scale);
        }
        super::format::set_utc(self.utc);
    }
}

/// The View menu's look section.
pub fn look_menu_ui(ui: &mut egui::Ui, look: &mut Look) -> bool {
    let before = *look;
    ui.label("Theme");
    for theme in ThemeChoice::ALL {
        ui.radio_value(&mut look.theme, theme, theme.label());
    }
    ui.separator();
    ui.horizontal(|ui| {
        ui.label("Text size");
        egui::ComboBox::from_id_salt("ui-scale")
            .selected_text(format!("{:.0} %", look.scale * 100.0))
            .show_ui(ui, |ui| {
                for scale in SCALES {
                    ui.selectable_value(&mut look.scale, scale, format!("{:.0} %", scale * 100.0));
                }
            });
    });
    ui.checkbox(&mut look.utc, "Times in UTC");
    ui.separator();
    ui.label("Side by side");
    ui.checkbox(&mut look.rates_under_traffic, "Rate plot under the traffic");
    ui.checkbox(&mut look.flows_beside_map, "Flows under the map");
    *look != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_steps_stay_within_the_offered_sizes() {
        let mut look = Look::default();
        look.step_scale(1);
        assert_eq!(look.scale, 1.1);
        for _ in 0..20 {
            look.step_scale(1);
        }
        assert_eq!(look.scale, 2.0);
        for _ in 0..20 {
            look.step_scale(-1);
        }
        assert_eq!(look.scale, 0.8);
    }
}
