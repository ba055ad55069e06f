//! The app's side of publishing and replay: turning the panels' state into
//! broker jobs and showing what came back.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::EventscopeApp;
use super::pending::Waiting;
use crate::broker::{SendMode, SendOutcome};
use crate::capture::Seq;
use crate::capture::file::ReadAll;
use crate::capture::{ConnectionKey, Record, RecordPacker};
use crate::outgoing::preview;
use crate::outgoing::{Encoding, PublishTemplate};
use crate::session::{repeat_job, replay_job};
use crate::ui::View;
use crate::ui::{PublishAction, PublishMode, RepeatMode, publish_ui};
use crate::ui::{ReplayAction, ReplaySource, replay_ui};

impl EventscopeApp {
    /// Connections to publish on: (key, name, connected?).
    fn targets(&self) -> Vec<(ConnectionKey, String, bool)> {
        self.session
            .profiles()
            .iter()
            .map(|(k, p)| {
                let up = self
                    .session
                    .shared(*k)
                    .is_some_and(|s| s.state().is_connected());
                (*k, p.name.clone(), up)
            })
            .collect()
    }

    pub(super) fn publish_view_ui(&mut self, ui: &mut egui::Ui) {
        let targets = self.targets();
        let filtered = self.traffic.visible_rows();
        let selected = self.traffic.chosen().len();
        let recent = self.recent_count();
        let mut publish_actions = Vec::new();
        let mut replay_actions = Vec::new();
        egui::CentralPanel::default().show(ui, |ui| {
            ui.columns(2, |cols| {
                egui::ScrollArea::vertical()
                    .id_salt("publish-scroll")
                    .show(&mut cols[0], |ui| {
                        publish_actions = publish_ui(ui, &mut self.publish, &targets);
                    });
                egui::ScrollArea::vertical()
                    .id_salt("replay-scroll")
                    .show(&mut cols[1], |ui| {
                        replay_actions =
                            replay_ui(ui, &mut self.replay, &targets, (selected, filtered, recent));
                    });
            });
        });
        for action in publish_actions {
            match action {
                PublishAction::Send => self.send_publish(),
                PublishAction::LoadPayloadFile => self
                    .pending
                    .wait(Waiting::PayloadFile(self.pick_open_path())),
                PublishAction::StopJob => {
                    if let Some(job) = &self.publish.job {
                        job.cancel();
                    }
                }
            }
        }
        self.replay.other_server = self.replay_source_warning();
        for action in replay_actions {
            match action {
                ReplayAction::PickFile => {
                    let rx = self.pick_open_path();
                    let (tx, file_rx) = oneshot::channel();
                    self.session.spawn(async move {
                        if let Ok(Some(path)) = rx.await {
                            let read_path = path.clone();
                            let records = tokio::task::spawn_blocking(move || {
                                crate::capture::file::read_all(&read_path, |_| true)
                                    .map_err(|e| format!("{}: {e}", read_path.display()))
                            })
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()));
                            let _ = tx.send((path, records));
                        }
                    });
                    self.pending.wait(Waiting::ReplayFile(file_rx));
                }
                ReplayAction::Preview => match (self.replay.options(), self.replay_records(10)) {
                    (Ok(options), Ok(records)) => {
                        self.replay.preview = preview(&records, &options, 10);
                        self.replay.error = None;
                    }
                    (Err(e), _) | (_, Err(e)) => self.replay.error = Some(e),
                },
                ReplayAction::Start => self.start_replay(),
            }
        }
    }

    fn send_publish(&mut self) {
        let view = &mut self.publish;
        view.error = None;
        view.outcome = None;
        let Some(key) = view.connection else {
            view.error = Some("add a connection first".into());
            return;
        };
        if let Err(e) = view.template.check() {
            view.error = Some(e.to_string());
            return;
        }
        let timeout = Duration::from_millis(view.timeout_ms);
        let mode = match view.mode {
            PublishMode::Publish => SendMode::Publish,
            PublishMode::Request => SendMode::Request { timeout },
            PublishMode::JetStream => SendMode::JetStream { timeout },
        };
        let result = match view.repeat {
            RepeatMode::Once => match view.template.message_with(1, &self.inspector.schemas) {
                Ok(message) => self.session.send(key, message, mode).map(|rx| {
                    self.pending.wait(Waiting::Send(rx));
                    self.publish.waiting = true;
                }),
                Err(e) => {
                    view.error = Some(e.to_string());
                    return;
                }
            },
            RepeatMode::Times | RepeatMode::Rate => {
                let (count, rate, duration) = match view.repeat {
                    RepeatMode::Times => (view.count, None, None),
                    _ => (
                        (view.rate * view.duration_s).ceil() as u64,
                        Some(view.rate),
                        Some(Duration::from_secs_f64(view.duration_s)),
                    ),
                };
                let schemas = self.inspector.schemas.clone();
                let job = repeat_job(view.template.clone(), count, rate, duration, schemas);
                self.session
                    .start_job(key, job)
                    .map(|progress| self.publish.job = Some(progress))
            }
        };
        if let Err(e) = result {
            self.publish.error = Some(format!("cannot send: {e}"));
        }
    }

    /// Where "the last N seconds" starts: N seconds before the newest record.
    fn recent_start(&self) -> Option<crate::capture::Timestamp> {
        let latest = self.session.store.latest()?.received_at;
        Some(latest - (self.replay.last_seconds * 1e9) as i64)
    }

    fn recent_count(&self) -> usize {
        self.recent_start()
            .map_or(0, |from| self.session.store.count_since(from))
    }

    /// Records seen in the last `replay.last_seconds` before the newest.
    fn recent_records(&self) -> Vec<Seq> {
        self.recent_start()
            .map(|from| self.session.store.seqs_since(from).collect())
            .unwrap_or_default()
    }

    /// The first `limit` records the replay panel points at, in order (a
    /// preview needs a few, not a copy of the whole selection).
    /// The records a replay would send, at most `limit`: the chosen ones
    /// less the machinery the options skip (counted in `replay.skipped`).
    fn replay_records(&mut self, limit: usize) -> Result<Vec<Record>, String> {
        let options = self.replay.options()?;
        let store = &self.session.store;
        // Every chosen record is looked at, so that the count of skipped
        // ones is whole even when only a preview's worth is kept.
        let mut skipped = 0;
        let mut records: Vec<Record> = Vec::new();
        let mut take = |r: &Record, copy: &mut dyn FnMut(&Record) -> Record| {
            if !options.replays(r) {
                skipped += 1;
            } else if records.len() < limit {
                records.push(copy(r));
            }
        };
        match self.replay.source {
            ReplaySource::File => {
                let file = self
                    .replay
                    .file_records
                    .as_ref()
                    .ok_or_else(|| "choose a capture file first".to_owned())?;
                for r in file.iter() {
                    take(r, &mut |r| r.clone());
                }
            }
            ReplaySource::Stream => {
                let (_, browsed) = self
                    .replay
                    .stream_records
                    .as_ref()
                    .ok_or_else(|| "browse a stream's messages first".to_owned())?;
                for r in browsed.iter() {
                    take(r, &mut |r| r.clone());
                }
            }
            source => {
                let seqs: Vec<Seq> = match source {
                    ReplaySource::Selected => self.traffic.chosen(),
                    ReplaySource::LastSeconds => self.recent_records(),
                    _ => self.traffic.index.seqs().collect(),
                };
                // Copied, not cloned: a clone would keep each record's whole
                // block alive after the store evicts it, for as long as the
                // replay runs.
                let mut packer = RecordPacker::default();
                for r in seqs.into_iter().filter_map(|s| store.get(s)) {
                    take(r, &mut |r| packer.copy(r));
                }
            }
        }
        self.replay.skipped = skipped;
        if records.is_empty() {
            return Err(if skipped > 0 {
                format!(
                    "nothing to replay: all {skipped} chosen messages are JetStream API calls, acks, \
                     inbox replies or advisories (tick \"include\" to send them)"
                )
            } else {
                "nothing to replay: select a message or widen the filter".into()
            });
        }
        Ok(records)
    }

    /// A warning when the records come from another connection than the target.
    fn replay_source_warning(&self) -> Option<String> {
        let target = self.replay.connection?;
        let store = &self.session.store;
        let target_name = store.connection_name(target).to_owned();
        // Messages read from a stream of the same server go back to it.
        if self.replay.source == ReplaySource::Stream {
            return None;
        }
        let from_file = self.replay.source == ReplaySource::File;
        let sample: Vec<ConnectionKey> = match self.replay.source {
            ReplaySource::Selected => self
                .traffic
                .selected
                .and_then(|s| store.get(s))
                .map(|r| r.connection)
                .into_iter()
                .collect(),
            ReplaySource::Filtered => self
                .traffic
                .index
                .seqs()
                .take(1000)
                .filter_map(|s| store.get(s))
                .map(|r| r.connection)
                .collect(),
            _ => Vec::new(),
        };
        if from_file {
            return Some(format!(
                "These records come from a file, not from {target_name}."
            ));
        }
        let others: Vec<&str> = sample
            .iter()
            .filter(|k| **k != target)
            .map(|k| store.connection_name(*k))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        (!others.is_empty()).then(|| {
            format!(
                "These records were captured on {}; you are replaying into {target_name}.",
                others.join(", ")
            )
        })
    }

    fn start_replay(&mut self) {
        self.replay.error = None;
        let Some(key) = self.replay.connection else {
            self.replay.error = Some("add a connection first".into());
            return;
        };
        let options = match self.replay.options() {
            Ok(o) => o,
            Err(e) => {
                self.replay.error = Some(e);
                return;
            }
        };
        let records = match self.replay_records(usize::MAX) {
            Ok(r) => r,
            Err(e) => {
                self.replay.error = Some(e);
                return;
            }
        };
        match self.session.start_job(key, replay_job(records, options)) {
            Ok(progress) => self.replay.job = Some(progress),
            Err(e) => self.replay.error = Some(format!("cannot start: {e}")),
        }
    }

    pub(super) fn on_sent(&mut self, outcome: Option<SendOutcome>) {
        self.publish.waiting = false;
        match outcome {
            Some(outcome) => self.publish.outcome = Some(outcome),
            None => self.publish.error = Some("the connection ended before an answer".into()),
        }
    }

    pub(super) fn on_payload_file(&mut self, path: PathBuf) {
        match std::fs::read(&path) {
            Ok(bytes) => set_payload(&mut self.publish.template, bytes),
            Err(e) => self.publish.error = Some(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub(super) fn on_replay_file(&mut self, path: PathBuf, result: Result<ReadAll, String>) {
        match result {
            Ok(read) => {
                // Bad lines are shown where the user looks, the first with
                // its number; the good ones can still be replayed.
                self.replay.error = read.skipped.clone().map(|skipped| {
                    format!(
                        "{}: {skipped}; the other {} records can be replayed",
                        path.display(),
                        read.records.len()
                    )
                });
                self.replay.file_records = Some(Arc::new(read.records));
                self.replay.source = ReplaySource::File;
            }
            Err(e) => self.replay.error = Some(e),
        }
        self.replay.file = Some(path);
    }

    /// Screenshot mode: replay the captured orders, slowed down, remapped.
    pub(super) fn start_demo_replay(&mut self) {
        self.view = View::Publish;
        self.traffic.filter_subject("orders.>".into());
        self.traffic.index.update(&self.session.store, usize::MAX);
        self.replay.source = ReplaySource::Filtered;
        self.replay.remaps = "orders.>=replay.orders.>".into();
        self.replay.speed = 0.25;
        self.replay.connection = self.session.profiles().first().map(|(k, _)| *k);
        if let Ok(options) = self.replay.options()
            && let Ok(records) = self.replay_records(6)
        {
            self.replay.preview = preview(&records, &options, 6);
        }
        self.start_replay();
    }

    /// Fill the publish form from a captured record.
    pub(super) fn edit_and_resend(&mut self, seq: Seq) {
        if let Some(record) = self.session.store.get(seq).cloned() {
            self.edit_record(&record, Some(record.connection));
        }
    }

    /// Fill the publish form from a record, to send on `connection`.
    pub(super) fn edit_record(&mut self, record: &Record, connection: Option<ConnectionKey>) {
        let name = self.publish.template.name.clone();
        self.publish.template = PublishTemplate {
            name,
            ..PublishTemplate::from_record(record)
        };
        self.publish.connection = connection;
        self.publish.outcome = None;
        self.view = View::Publish;
    }

    /// Hand browsed stream messages to replay: republished to their
    /// original subjects through the replay path (its preview counts them
    /// before anything is sent).
    pub(super) fn replay_browsed(&mut self, seqs: Vec<Seq>) {
        let browser = &self.jetstream.view.browser;
        let records: Vec<Record> = seqs
            .iter()
            .filter_map(|s| browser.store.get(*s))
            .map(Record::detached)
            .collect();
        let chosen: Vec<u64> = browser
            .rows
            .iter()
            .filter(|r| seqs.contains(&r.seq))
            .map(|r| r.stream_seq)
            .collect();
        let stream = browser.stream.as_deref().unwrap_or("?");
        let what = match (chosen.first(), chosen.last()) {
            (Some(first), Some(last)) if chosen.len() == (last - first + 1) as usize => {
                format!("{stream} #{first}–{last}")
            }
            _ => format!("{stream}, {} chosen messages", chosen.len()),
        };
        self.replay.stream_records = Some((what, std::sync::Arc::new(records)));
        self.replay.source = ReplaySource::Stream;
        self.replay.connection = self.replay.connection.or(self.jetstream_connection_key());
        self.view = View::Publish;
    }
}

/// A file's bytes as the payload: text if it is UTF-8, else base64.
fn set_payload(template: &mut PublishTemplate, bytes: Vec<u8>) {
    use base64::Engine;
    match String::from_utf8(bytes) {
        Ok(text) => {
            template.encoding = if serde_json::from_str::<serde_json::Value>(&text).is_ok() {
                Encoding::Json
            } else {
                Encoding::Text
            };
            template.payload = text;
        }
        Err(e) => {
            template.encoding = Encoding::Base64;
            template.payload = base64::engine::general_purpose::STANDARD.encode(e.into_bytes());
        }
    }
}
