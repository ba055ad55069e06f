//! The replay panel: what to replay (selected message, current filter
//! result, the last minutes, or a capture file), where (any connection,
//! with subject remapping and header policy), when (original timing times
//! a speed, a fixed rate, or as fast as possible), with a dry-run preview,
//! progress, pause, resume, cancel and a summary.

use std::path::PathBuf;
use std::sync::Arc;

use egui::RichText;

use crate::broker::JobProgress;
use crate::capture::{ConnectionKey, Record};
use crate::outgoing::Remap;
use crate::outgoing::{MAX_SPEED, MIN_SPEED, ReplayOptions, Timing};
use crate::ui::format;
use crate::ui::publish::{Targets, connection_picker_ui};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplaySource {
    Selected,
    Filtered,
    LastSeconds,
    File,
    /// Messages read from a stream in the JetStream view (redrive).
    Stream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingChoice {
    Original,
    Rate,
    Max,
}

pub struct ReplayView {
    pub source: ReplaySource,
    pub last_seconds: f64,
    pub file: Option<PathBuf>,
    /// Records read from `file`, ready to replay.
    pub file_records: Option<Arc<Vec<Record>>>,
    /// Messages read from a stream: what they are (`ORDERS #12–40`), and
    /// the records.
    pub stream_records: Option<(String, Arc<Vec<Record>>)>,
    pub connection: Option<ConnectionKey>,
    pub remaps: String,
    pub keep_msg_id: bool,
    pub keep_headers: bool,
    pub mark: bool,
    /// Also replay JetStream API calls, acks, inbox replies, advisories.
    pub include_machinery: bool,
    /// How many chosen records the last selection skipped as machinery.
    pub skipped: usize,
    pub timing: TimingChoice,
    pub speed: f64,
    pub rate: f64,
    pub confirm_other_server: bool,
    /// Set by the app when the chosen records come from another connection.
    pub other_server: Option<String>,
    pub preview: Vec<(String, String)>,
    pub job: Option<Arc<JobProgress>>,
    pub error: Option<String>,
}

impl Default for ReplayView {
    fn default() -> Self {
        Self {
            source: ReplaySource::Filtered,
            last_seconds: 60.0,
            file: None,
            file_records: None,
            stream_records: None,
            connection: None,
            remaps: String::new(),
            keep_msg_id: false,
            keep_headers: true,
            mark: true,
            include_machinery: false,
            skipped: 0,
            timing: TimingChoice::Original,
            speed: 1.0,
            rate: 100.0,
            confirm_other_server: false,
            other_server: None,
            preview: Vec::new(),
            job: None,
            error: None,
        }
    }
}

impl ReplayView {
    /// The options the panel describes, or what is wrong with them.
    pub fn options(&self) -> Result<ReplayOptions, String> {
        let remaps = self
            .remaps
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| Remap::parse(l).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let timing = match self.timing {
            TimingChoice::Original => Timing::Original { speed: self.speed },
            TimingChoice::Rate => Timing::Rate {
                per_second: self.rate,
            },
            TimingChoice::Max => Timing::Max,
        };
        Ok(ReplayOptions {
            remaps,
            timing,
            keep_msg_id: self.keep_msg_id,
            keep_headers: self.keep_headers,
            mark: self.mark,
            include_machinery: self.include_machinery,
        })
    }

    pub fn running(&self) -> bool {
        self.job.as_ref().is_some_and(|j| !j.is_finished())
    }
}

pub enum ReplayAction {
    Preview,
    Start,
    PickFile,
}

pub fn replay_ui(
    ui: &mut egui::Ui,
    view: &mut ReplayView,
    targets: Targets<'_>,
    // (selected rows, filter result, last N seconds)
    counts: (usize, usize, usize),
) -> Vec<ReplayAction> {
    let mut actions = Vec::new();
    ui.heading("Replay");
    source_ui(ui, view, counts, &mut actions);
    ui.separator();
    connection_picker_ui(
        ui,
        "replay-connection",
        "Into connection",
        &mut view.connection,
        targets,
    );
    shaping_ui(ui, view);
    ui.separator();
    timing_ui(ui, view);
    start_ui(ui, view, &mut actions);
    if let Some(job) = view.job.clone() {
        progress_ui(ui, &job);
    }
    actions
}

/// What to replay: rows, a filter result, the last seconds or a file.
fn source_ui(
    ui: &mut egui::Ui,
    view: &mut ReplayView,
    counts: (usize, usize, usize),
    actions: &mut Vec<ReplayAction>,
) {
    let (selected, filtered, recent) = counts;
    ui.label("What");
    ui.radio_value(
        &mut view.source,
        ReplaySource::Selected,
        format!(
            "the selected rows ({selected}; Ctrl+click or Shift+click in Traffic to select more)"
        ),
    );
    ui.radio_value(
        &mut view.source,
        ReplaySource::Filtered,
        format!(
            "the current filter result ({} messages)",
            format::count(filtered as u64)
        ),
    );
    ui.horizontal(|ui| {
        ui.radio_value(
            &mut view.source,
            ReplaySource::LastSeconds,
            format!("the last ({} messages)", format::count(recent as u64)),
        );
        crate::ui::labelled(
            ui,
            "seconds",
            egui::DragValue::new(&mut view.last_seconds)
                .range(1.0..=86_400.0)
                .suffix(" s"),
        );
    });
    ui.horizontal(|ui| {
        ui.radio_value(&mut view.source, ReplaySource::File, "a capture file");
        if ui.button("Choose file…").clicked() {
            actions.push(ReplayAction::PickFile);
        }
        match (&view.file, &view.file_records) {
            (Some(path), Some(records)) => {
                ui.label(format!(
                    "{} ({} messages)",
                    path.display(),
                    format::count(records.len() as u64)
                ));
            }
            (Some(path), None) => {
                ui.label(format!("reading {}…", path.display()));
            }
            _ => {}
        }
    });
    if let Some((what, records)) = &view.stream_records {
        ui.radio_value(
            &mut view.source,
            ReplaySource::Stream,
            format!(
                "messages of stream {what} ({}), to their original subjects",
                format::count(records.len() as u64)
            ),
        );
    }
}

/// Where the messages go and what they keep.
fn shaping_ui(ui: &mut egui::Ui, view: &mut ReplayView) {
    crate::ui::labelled(
        ui,
        "Remap subjects (FROM=TO, one per line, e.g. orders.>=replay.orders.>)",
        egui::TextEdit::multiline(&mut view.remaps)
            .desired_rows(2)
            .code_editor(),
    );
    ui.checkbox(&mut view.keep_headers, "keep headers");
    ui.checkbox(
        &mut view.keep_msg_id,
        "keep Nats-Msg-Id (JetStream deduplicates the replay)",
    );
    ui.checkbox(&mut view.mark, "mark with an Eventscope-Replay header");
    ui.checkbox(
        &mut view.include_machinery,
        "include JetStream API calls, acks, deliveries, inbox replies, advisories and $SYS",
    )
    .on_hover_text(
        "Off by default: sent again into a live system they act on it (create or delete \
         streams, ack messages that are not theirs)",
    );
    if view.skipped > 0 && !view.include_machinery {
        ui.weak(format!(
            "{} of the chosen messages are such machinery and will be skipped",
            view.skipped
        ));
    }
}

/// When: the original timing sped up or slowed down, a rate, or at once.
fn timing_ui(ui: &mut egui::Ui, view: &mut ReplayView) {
    ui.label("When");
    ui.horizontal(|ui| {
        let label = ui.radio_value(
            &mut view.timing,
            TimingChoice::Original,
            "original timing ×",
        );
        ui.add(
            egui::Slider::new(&mut view.speed, MIN_SPEED..=MAX_SPEED)
                .logarithmic(true)
                .suffix("x"),
        )
        .labelled_by(label.id);
    });
    ui.horizontal(|ui| {
        ui.radio_value(&mut view.timing, TimingChoice::Rate, "fixed rate");
        crate::ui::labelled(
            ui,
            "per second",
            egui::DragValue::new(&mut view.rate)
                .range(0.1..=1_000_000.0)
                .suffix(" msg/s"),
        );
    });
    ui.radio_value(&mut view.timing, TimingChoice::Max, "as fast as possible");
}

/// Preview and start, with what stands in the way.
fn start_ui(ui: &mut egui::Ui, view: &mut ReplayView, actions: &mut Vec<ReplayAction>) {
    if let Some(other) = &view.other_server {
        ui.colored_label(crate::ui::palette::of(ui).warn, other);
        ui.checkbox(
            &mut view.confirm_other_server,
            "yes, replay into this other connection",
        );
    }
    ui.horizontal(|ui| {
        if ui
            .button("Preview")
            .on_hover_text("Dry run: the first subjects after remapping")
            .clicked()
        {
            actions.push(ReplayAction::Preview);
        }
        let blocked = view.running() || (view.other_server.is_some() && !view.confirm_other_server);
        if ui
            .add_enabled(
                !blocked,
                egui::Button::new(RichText::new("Start replay").strong()),
            )
            .clicked()
        {
            actions.push(ReplayAction::Start);
        }
    });
    if let Some(error) = &view.error {
        ui.colored_label(crate::ui::palette::of(ui).bad, error);
    }
    if !view.preview.is_empty() {
        egui::Grid::new("replay-preview")
            .striped(true)
            .show(ui, |ui| {
                for (from, to) in &view.preview {
                    ui.label(RichText::new(from).monospace());
                    ui.label("->");
                    ui.label(RichText::new(to).monospace());
                    ui.end_row();
                }
            });
    }
}

fn progress_ui(ui: &mut egui::Ui, job: &JobProgress) {
    let total = job.total().max(1);
    let done = job.sent() + job.failed();
    ui.add(
        egui::ProgressBar::new(done as f32 / total as f32)
            .show_percentage()
            .text(format!(
                "{} of {}",
                format::count(done),
                format::count(total)
            )),
    );
    ui.horizontal(|ui| {
        if job.is_finished() {
            let state = if job.is_cancelled() {
                "cancelled"
            } else {
                "done"
            };
            ui.label(format!(
                "{state}: sent {}, failed {}, in {:.2} s",
                format::count(job.sent()),
                job.failed(),
                job.elapsed().as_secs_f64()
            ));
        } else {
            let label = if job.is_paused() { "Resume" } else { "Pause" };
            if ui.button(label).clicked() {
                job.pause(!job.is_paused());
            }
            if ui.button("Cancel").clicked() {
                job.cancel();
            }
            ui.label(format!(
                "sent {}, failed {}",
                format::count(job.sent()),
                job.failed()
            ));
        }
    });
    if let Some(e) = job.last_error() {
        ui.colored_label(crate::ui::palette::of(ui).bad, e);
    }
}
