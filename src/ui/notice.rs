//! Notices in the top bar: what just happened, coloured by kind (done is
//! green, a problem red, news neutral), and gone after a while unless the
//! pointer is on it. A problem stays longer than news.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NoticeKind {
    /// Something asked for is done (saved, copied, sent).
    Done,
    /// News that needs nothing (the demo starting).
    Info,
    /// Something failed or was refused.
    Problem,
}

#[derive(Clone, Debug)]
pub struct Notice {
    pub kind: NoticeKind,
    pub text: String,
    pub since: Instant,
}

impl Notice {
    pub fn new(kind: NoticeKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
            since: Instant::now(),
        }
    }
    pub fn done(text: impl Into<String>) -> Self {
        Self::new(NoticeKind::Done, text)
    }
    pub fn info(text: impl Into<String>) -> Self {
        Self::new(NoticeKind::Info, text)
    }
    pub fn problem(text: impl Into<String>) -> Self {
        Self::new(NoticeKind::Problem, text)
    }

    /// How long it shows.
    pub fn lasts(&self) -> Duration {
        match self.kind {
            NoticeKind::Done | NoticeKind::Info => Duration::from_secs(8),
            NoticeKind::Problem => Duration::from_secs(30),
        }
    }

    pub fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.since) >= self.lasts()
    }
}

/// Draw the notice; returns true when it should go (closed, or its time
/// is up with the pointer elsewhere).
pub fn notice_ui(ui: &mut egui::Ui, notice: &Notice) -> bool {
    let palette = super::palette::of(ui);
    let (mark, colour) = match notice.kind {
        NoticeKind::Done => ("✔", palette.good),
        NoticeKind::Info => ("ℹ", ui.visuals().text_color()),
        NoticeKind::Problem => ("⚠", palette.bad),
    };
    let shown = ui.colored_label(colour, format!("{mark} {}", notice.text));
    let close = ui.small_button("×").on_hover_text("Dismiss").clicked();
    let now = Instant::now();
    if !shown.hovered() && notice.expired(now) {
        return true;
    }
    // Wake to take it down even when nothing else happens.
    ui.ctx().request_repaint_after(
        notice
            .lasts()
            .saturating_sub(now.duration_since(notice.since)),
    );
    close
}
