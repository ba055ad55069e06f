//! Comparing: the selected message with the previous one on its subject
//! or with the one marked in the table; what is shown with a capture
//! file (read and profiled on a thread of its own).

use std::sync::mpsc;

use super::EventscopeApp;
use crate::capture::{Record, Seq};
use crate::compare::{CaptureProfile, capture_diff, message_diff};
use crate::ui::{CaptureDiffView, MessageDiffView, capture_diff_ui, message_diff_ui};

/// How far back the previous message on a subject is looked for.
const PREVIOUS_WITHIN: u64 = 1_000_000;

impl EventscopeApp {
    pub(super) fn compare_with_previous(&mut self, seq: Seq) {
        let store = &self.session.store;
        let Some(record) = store.get(seq) else {
            return;
        };
        let first = store.first_seq().max(seq.saturating_sub(PREVIOUS_WITHIN));
        let previous = (first..seq).rev().find(|s| {
            store
                .get(*s)
                .is_some_and(|r| r.subject() == record.subject())
        });
        match previous {
            Some(before) => self.show_message_diff(before, seq),
            None => self.say(crate::ui::Notice::problem(format!(
                "no earlier message on {} is retained to compare with",
                record.subject()
            ))),
        }
    }

    pub(super) fn compare_with_marked(&mut self, seq: Seq) {
        let others: Vec<Seq> = self
            .traffic
            .marked
            .iter()
            .copied()
            .filter(|s| *s != seq)
            .collect();
        match others.as_slice() {
            [other] => {
                let (before, after) = if *other < seq {
                    (*other, seq)
                } else {
                    (seq, *other)
                };
                self.show_message_diff(before, after);
            }
            [] => self.say(crate::ui::Notice::problem(
                "mark another message in the table (Ctrl+click) to compare with",
            )),
            _ => self.say(crate::ui::Notice::problem(format!(
                "{} messages are marked: mark just one other to compare with",
                others.len()
            ))),
        }
    }

    fn show_message_diff(&mut self, before: Seq, after: Seq) {
        let store = &self.session.store;
        if let (Some(a), Some(b)) = (store.get(before), store.get(after)) {
            let (a, b) = (a.clone(), b.clone());
            self.show_records_diff(&a, &b);
        }
    }

    pub(super) fn show_records_diff(&mut self, a: &Record, b: &Record) {
        let when = |r: &Record| crate::ui::format_clock(r.received_at);
        self.message_diff = Some(MessageDiffView {
            title: format!(
                "{} {}  →  {} {}",
                a.subject(),
                when(a),
                b.subject(),
                when(b)
            ),
            diff: message_diff(a, b, &self.inspector.schemas),
        });
    }

    /// Ask for a capture file; compare what is shown with it, off the UI
    /// thread.
    pub(super) fn compare_with_capture(&mut self) {
        let rx = self.pick_open_path();
        let records: Vec<Record> = self.session.store.iter().map(|(_, r)| r.clone()).collect();
        let schemas = self.inspector.schemas.clone();
        let (tx, answers) = mpsc::channel();
        self.capture_diffs = Some(answers);
        self.session.spawn(async move {
            let Ok(Some(path)) = rx.await else {
                return;
            };
            let compared = tokio::task::spawn_blocking(move || {
                let (theirs, _) = crate::capture::file::read_all_loaded(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let mut before = CaptureProfile::default();
                for loaded in &theirs {
                    before.add(&loaded.record, &schemas);
                }
                let mut after = CaptureProfile::default();
                for record in &records {
                    after.add(record, &schemas);
                }
                Ok(CaptureDiffView {
                    title: format!(
                        "before: {} ({} messages); after: what is shown ({} messages)",
                        path.display(),
                        theirs.len(),
                        records.len()
                    ),
                    diffs: capture_diff(&before, &after),
                    show_same: false,
                })
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            let _ = tx.send(compared);
        });
    }

    /// Screenshot mode with `--diff-previous`: once the plan selected a
    /// message, its diff with the previous on its subject (drawn while
    /// the plan lets the view settle).
    pub(super) fn drive_diff_screenshot(&mut self) {
        if !self.screenshot.as_ref().is_some_and(|p| p.diff_previous) {
            return;
        }
        if self.message_diff.is_none()
            && let Some(seq) = self.traffic.selected
        {
            self.compare_with_previous(seq);
            self.notice = None;
        }
    }

    pub(super) fn compare_windows(&mut self, ctx: &egui::Context) {
        if let Some(answers) = &self.capture_diffs
            && let Ok(answer) = answers.try_recv()
        {
            self.capture_diffs = None;
            match answer {
                Ok(view) => self.capture_diff = Some(view),
                Err(e) => self.say(crate::ui::Notice::problem(format!("cannot compare: {e}"))),
            }
        }
        if let Some(view) = &self.message_diff
            && !message_diff_ui(ctx, view)
        {
            self.message_diff = None;
        }
        if let Some(view) = &mut self.capture_diff
            && !capture_diff_ui(ctx, view)
        {
            self.capture_diff = None;
        }
    }
}
