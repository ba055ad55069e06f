//! The colours every view shares for what a message or a request came to:
//! published, settled well, retried or slow, failed, and the rest. One
//! place, so that "red" means the same in the flows, the streams and the
//! KV views; one set per theme, each readable on its theme's panels (a
//! test checks the contrast of every colour here).

use egui::Color32;

/// The colours of one theme.
pub struct Palette {
    pub publish: Color32,
    pub good: Color32,
    pub retry: Color32,
    pub bad: Color32,
    /// Something to look at that is not a failure (a warning, a cut).
    pub warn: Color32,
    pub deliver: Color32,
    pub reply: Color32,
    pub muted: Color32,
    pub progress: Color32,
    pub added: Color32,
    pub changed: Color32,
    pub removed: Color32,
    pub json_string: Color32,
    pub json_number: Color32,
    pub json_bool: Color32,
    /// The diagrams' boxes: producer, subject, stream, consumer; their text.
    pub producer_fill: Color32,
    pub subject_fill: Color32,
    pub stream_fill: Color32,
    pub consumer_fill: Color32,
    pub box_text: Color32,
    pub box_subtext: Color32,
    /// Lifelines and separators drawn in diagrams.
    pub rule: Color32,
    /// Behind a notice that asks for attention (a confirmation waiting).
    pub attention_fill: Color32,
}

pub const DARK: Palette = Palette {
    publish: Color32::from_rgb(100, 150, 255),
    good: Color32::from_rgb(110, 200, 110),
    retry: Color32::from_rgb(240, 150, 60),
    bad: Color32::from_rgb(235, 85, 80),
    warn: Color32::from_rgb(220, 170, 60),
    deliver: Color32::from_rgb(80, 190, 175),
    reply: Color32::from_rgb(185, 135, 245),
    muted: Color32::from_rgb(150, 150, 150),
    progress: Color32::from_rgb(220, 200, 80),
    added: Color32::from_rgb(0x50, 0xb0, 0x60),
    changed: Color32::from_rgb(0xd0, 0xa0, 0x30),
    removed: Color32::from_rgb(225, 95, 95),
    json_string: Color32::from_rgb(152, 195, 121),
    json_number: Color32::from_rgb(209, 154, 102),
    json_bool: Color32::from_rgb(86, 182, 194),
    producer_fill: Color32::from_rgb(40, 60, 95),
    subject_fill: Color32::from_rgb(55, 55, 70),
    stream_fill: Color32::from_rgb(70, 50, 90),
    consumer_fill: Color32::from_rgb(35, 75, 65),
    box_text: Color32::WHITE,
    box_subtext: Color32::from_gray(190),
    rule: Color32::from_gray(115),
    attention_fill: Color32::from_rgb(50, 30, 8),
};

pub const LIGHT: Palette = Palette {
    publish: Color32::from_rgb(30, 90, 200),
    good: Color32::from_rgb(25, 120, 45),
    retry: Color32::from_rgb(170, 85, 0),
    bad: Color32::from_rgb(190, 30, 30),
    warn: Color32::from_rgb(140, 95, 0),
    deliver: Color32::from_rgb(0, 115, 105),
    reply: Color32::from_rgb(120, 60, 190),
    muted: Color32::from_rgb(100, 100, 100),
    progress: Color32::from_rgb(125, 105, 0),
    added: Color32::from_rgb(25, 120, 45),
    changed: Color32::from_rgb(140, 95, 0),
    removed: Color32::from_rgb(190, 30, 30),
    json_string: Color32::from_rgb(40, 115, 30),
    json_number: Color32::from_rgb(160, 80, 10),
    json_bool: Color32::from_rgb(0, 110, 130),
    producer_fill: Color32::from_rgb(205, 220, 245),
    subject_fill: Color32::from_rgb(225, 225, 235),
    stream_fill: Color32::from_rgb(228, 212, 245),
    consumer_fill: Color32::from_rgb(205, 235, 225),
    box_text: Color32::from_gray(20),
    box_subtext: Color32::from_gray(70),
    rule: Color32::from_gray(130),
    attention_fill: Color32::from_rgb(255, 232, 200),
};

/// The palette for what `ui` is drawn with.
pub fn of(ui: &egui::Ui) -> &'static Palette {
    for_visuals(ui.visuals())
}

pub fn for_visuals(visuals: &egui::Visuals) -> &'static Palette {
    if visuals.dark_mode { &DARK } else { &LIGHT }
}

/// WCAG 2's contrast ratio between two colours (1 to 21): what the test
/// below holds every colour to. Written here: a formula of four lines.
pub fn contrast(a: Color32, b: Color32) -> f32 {
    fn luminance(c: Color32) -> f32 {
        let channel = |v: u8| {
            let v = f32::from(v) / 255.0;
            if v <= 0.039_28 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(c.r()) + 0.7152 * channel(c.g()) + 0.0722 * channel(c.b())
    }
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every colour used for text or a mark is readable on its theme's
    /// panels and windows: 4.5:1, WCAG's level for body text.
    #[test]
    fn every_colour_is_readable_in_both_themes() {
        for (name, palette, visuals) in [
            ("dark", &DARK, egui::Visuals::dark()),
            ("light", &LIGHT, egui::Visuals::light()),
        ] {
            let marks = [
                ("publish", palette.publish),
                ("good", palette.good),
                ("retry", palette.retry),
                ("bad", palette.bad),
                ("warn", palette.warn),
                ("deliver", palette.deliver),
                ("reply", palette.reply),
                ("muted", palette.muted),
                ("progress", palette.progress),
                ("added", palette.added),
                ("changed", palette.changed),
                ("removed", palette.removed),
                ("json string", palette.json_string),
                ("json number", palette.json_number),
                ("json bool", palette.json_bool),
            ];
            for background in [
                visuals.panel_fill,
                visuals.window_fill,
                visuals.extreme_bg_color,
            ] {
                for (what, colour) in marks {
                    let ratio = contrast(colour, background);
                    assert!(
                        ratio >= 4.5,
                        "{name} theme: {what} on {background:?} is {ratio:.2}:1"
                    );
                }
            }
            for fill in [
                palette.producer_fill,
                palette.subject_fill,
                palette.stream_fill,
                palette.consumer_fill,
            ] {
                assert!(contrast(palette.box_text, fill) >= 7.0, "{name}: box text");
                assert!(
                    contrast(palette.box_subtext, fill) >= 4.5,
                    "{name}: box subtext"
                );
            }
            // A notice asking for attention is read on its own fill.
            assert!(contrast(visuals.text_color(), palette.attention_fill) >= 4.5);
            // Lifelines are seen against the panel (3:1, WCAG for graphics).
            assert!(
                contrast(palette.rule, visuals.panel_fill) >= 3.0,
                "{name}: rules"
            );
        }
    }
}
