//! What the JetStream view asks for, turned into requests on the
//! background runtime (their answers come back to `jetstream.rs`).

use std::time::Duration;

use super::EventscopeApp;
use super::jetstream::{Answer, text};
use crate::capture::now_timestamp;
use crate::flow::ConsumerScope;
use crate::jetstream::{Access, PageRequest, Start};
use crate::ui::{InFlight, JetStreamAction, View};

impl EventscopeApp {
    /// File > Open capture from stream: the list of capture streams.
    pub(super) fn open_capture_picker(&mut self) {
        self.jetstream.view.capture_picker = true;
        self.refresh_streams();
    }

    pub(super) fn on_jetstream_actions(&mut self, actions: Vec<JetStreamAction>) {
        for action in actions {
            self.on_jetstream_action(action);
        }
    }

    pub(super) fn on_jetstream_action(&mut self, action: JetStreamAction) {
        let stream = self.jetstream.view.selected_stream().map(str::to_owned);
        match action {
            JetStreamAction::RefreshStreams => {
                self.refresh_streams();
                self.refresh_recorder();
            }
            JetStreamAction::OpenStream(name) => {
                self.jetstream.view.consumers.select(None);
                self.refresh_consumers(name.clone());
                self.jetstream.view.streams.subjects.loading = true;
                let for_subjects = name.clone();
                self.js_spawn(move |api| async move {
                    let result =
                        crate::jetstream::stream_subjects(&api, &for_subjects, ">", 100_000).await;
                    Answer::Subjects(for_subjects, text(result))
                });
                self.browse(name, Start::Seq(1), None, None);
            }
            JetStreamAction::RefreshConsumers => {
                if let Some(stream) = stream {
                    self.refresh_consumers(stream);
                }
            }
            JetStreamAction::Browse { start, subject } => {
                if let Some(stream) = stream {
                    self.browse(stream, start, subject, None);
                }
            }
            JetStreamAction::InFlight(consumer) => self.in_flight(consumer),
            JetStreamAction::OpenFlows { consumer, filter } => {
                if let Some(stream) = stream {
                    self.flows
                        .show_consumer(ConsumerScope { stream, consumer }, filter);
                    self.view = View::Flows;
                }
            }
            JetStreamAction::Inspect(seq) => self.jetstream.view.browser.selected = Some(seq),
            JetStreamAction::EditAndResend(seq) => {
                if let Some(record) = self.jetstream.view.browser.store.get(seq).cloned() {
                    let connection = self.jetstream_connection();
                    self.edit_record(&record, connection);
                }
            }
            JetStreamAction::Trace(seq) => {
                if let Some(record) = self.jetstream.view.browser.store.get(seq).cloned() {
                    let key = self.jetstream_connection();
                    self.start_trace_record(&record, key);
                }
            }
            JetStreamAction::Replay(seqs) => self.replay_browsed(seqs),
            JetStreamAction::Search(request) => {
                if let Some(summary) = self.jetstream.view.streams.selected_summary() {
                    let stream = summary.name.clone();
                    let access = Access::of(summary.allow_direct);
                    let progress = crate::jetstream::SearchProgress::new();
                    self.jetstream.view.browser.search.running = Some(progress.clone());
                    self.js_spawn(move |api| async move {
                        crate::jetstream::search(&api, &stream, access, &request, &progress).await;
                        Answer::SearchDone
                    });
                }
            }
            JetStreamAction::Redrive(consumer) => {
                if let Some(stream) = stream {
                    self.redrive(stream, consumer);
                }
            }
            JetStreamAction::PreviewPurge(purge) => {
                if let Some(stream) = stream {
                    self.js_spawn(move |api| async move {
                        let result = crate::jetstream::purge_preview(&api, &stream, &purge).await;
                        Answer::PurgePreview(purge, text(result))
                    });
                }
            }
            JetStreamAction::Purge(purge) => {
                if let Some(stream) = stream {
                    self.js_spawn(move |api| async move {
                        Answer::Changed(
                            match crate::jetstream::purge(&api, &stream, &purge).await {
                                Ok(n) => format!("purged {n} messages from {stream}"),
                                Err(e) => format!("purge of {stream} failed: {e}"),
                            },
                        )
                    });
                }
            }
            JetStreamAction::DeleteMessage(seq) => {
                if let Some(stream) = stream {
                    self.js_spawn(move |api| async move {
                        Answer::Changed(
                            match crate::jetstream::delete_message(&api, &stream, seq).await {
                                Ok(()) => format!("message {seq} deleted from {stream}"),
                                Err(e) => format!("delete of {stream} #{seq} failed: {e}"),
                            },
                        )
                    });
                }
            }
            JetStreamAction::PauseConsumer { consumer, pause } => {
                if let Some(stream) = stream {
                    let until = pause.then(|| now_timestamp() + 3600 * 1_000_000_000);
                    self.js_spawn(move |api| async move {
                        let result =
                            crate::jetstream::pause_consumer(&api, &stream, &consumer, until).await;
                        Answer::Changed(match result {
                            Ok(true) => format!("{consumer} paused for an hour"),
                            Ok(false) => format!("{consumer} resumed"),
                            Err(e) => format!("pause of {consumer} failed: {e}"),
                        })
                    });
                }
            }
            JetStreamAction::DeleteConsumer(consumer) => {
                if let Some(stream) = stream {
                    self.js_spawn(move |api| async move {
                        let result =
                            crate::jetstream::delete_consumer(&api, &stream, &consumer).await;
                        Answer::Changed(match result {
                            Ok(()) => format!("consumer {consumer} deleted from {stream}"),
                            Err(e) => format!("delete of {consumer} failed: {e}"),
                        })
                    });
                }
            }
            JetStreamAction::PreviewReset { consumer, seq } => {
                let summary = self.jetstream.view.streams.selected_summary();
                let allow_direct = summary.is_some_and(|s| s.allow_direct);
                if let Some(info) = self.jetstream.view.consumers.find(&consumer).cloned() {
                    self.js_spawn(move |api| async move {
                        let result =
                            crate::jetstream::reset_preview(&api, &info, seq, allow_direct).await;
                        Answer::ResetPreview(text(result))
                    });
                }
            }
            JetStreamAction::ResetConsumer { consumer, seq } => {
                if let Some(stream) = stream {
                    self.js_spawn(move |api| async move {
                        let result =
                            crate::jetstream::reset_consumer(&api, &stream, &consumer, seq).await;
                        Answer::Changed(match result {
                            Ok(()) => format!("{consumer} reset to sequence {seq}"),
                            Err(e) => format!("reset of {consumer} failed: {e}"),
                        })
                    });
                }
            }
            JetStreamAction::PutConsumer { config, update } => {
                if let Some(stream) = stream {
                    self.js_spawn(move |api| async move {
                        let result =
                            crate::jetstream::put_consumer(&api, &stream, config, update).await;
                        Answer::Changed(match result {
                            Ok(c) if update => format!("consumer {} changed", c.name),
                            Ok(c) => format!("consumer {} created", c.name),
                            Err(e) => format!("the server refused the consumer: {e}"),
                        })
                    });
                }
            }
            JetStreamAction::StartRecorder(settings) => {
                self.jetstream.view.recorder.status.loading = true;
                self.js_spawn(move |api| async move {
                    Answer::Recorder(text(
                        crate::jetstream::start_recorder(&api, &settings)
                            .await
                            .map(Some),
                    ))
                });
            }
            JetStreamAction::StopRecorder => {
                let name = self.recorder_name();
                self.js_spawn(move |api| async move {
                    match crate::jetstream::stop_recorder(&api, &name).await {
                        Ok(_) => Answer::Recorder(Ok(None)),
                        Err(e) => Answer::Changed(format!("removing {name} failed: {e}")),
                    }
                });
            }
            JetStreamAction::LoadHistory(range) => self.load_history(range),
            JetStreamAction::OpenCapture(name) => {
                self.before_replacing(super::capture_files::Replace::WithStream(name))
            }
        }
    }

    /// Export a capture stream to a private temp file and load it (the
    /// user has agreed to replace what is shown).
    pub(super) fn open_capture_stream(&mut self, name: String) {
        self.js_spawn(move |api| async move {
            let exported = async {
                let file = tempfile::Builder::new()
                    .prefix("eventscope-stream-")
                    .suffix(".jsonl")
                    .tempfile()
                    .map_err(|e| e.to_string())?;
                let mut out = std::io::BufWriter::new(file.as_file());
                let read = crate::jetstream::export_capture(&api, &name, &mut out)
                    .await
                    .map_err(|e| e.to_string())?;
                drop(out);
                Ok((file, read.describe()))
            }
            .await;
            Answer::Exported(name, exported)
        });
    }

    pub(super) fn recorder_name(&self) -> String {
        self.jetstream
            .view
            .recorder
            .status
            .value
            .as_ref()
            .and_then(|s| s.as_ref())
            .map_or_else(
                || crate::jetstream::DEFAULT_RECORDER.to_owned(),
                |s| s.name.clone(),
            )
    }

    /// Read the recorder (all of it for a zero range) into the flow view.
    pub(super) fn load_history(&mut self, range: Duration) {
        let name = self.recorder_name();
        self.jetstream.view.recorder.history.loading = true;
        let since = (!range.is_zero())
            .then(|| now_timestamp() - i64::try_from(range.as_nanos()).unwrap_or(i64::MAX));
        // Half the memory budget at most: the live capture keeps the rest.
        let max_bytes = self.session.store.budget() as u64 / 2;
        self.js_spawn(move |api| async move {
            let result = crate::jetstream::read_recorder(&api, &name, since, 0, max_bytes).await;
            Answer::History(text(result))
        });
    }

    /// The messages a consumer gave up on, per the flows (live and
    /// recorded): read from the stream, then handed to replay.
    fn redrive(&mut self, stream: String, consumer: String) {
        let scope = ConsumerScope {
            stream: stream.clone(),
            consumer: consumer.clone(),
        };
        let flows = &self.session.flows;
        let now = flows.latest();
        let seqs: Vec<u64> = flows
            .flows()
            .filter(|f| scope.contains(f))
            .filter(|f| {
                matches!(
                    flows.final_of(f, now),
                    Some(crate::flow::Final::MaxDeliveries | crate::flow::Final::Terminated)
                )
            })
            .filter_map(|f| f.detail().stream_seq)
            .collect();
        if seqs.is_empty() {
            self.notice = Some(format!(
                "{consumer}: no message seen reaching max deliveries or terminated (load the recorder's history for older ones)"
            ));
            return;
        }
        let allow_direct = self
            .jetstream
            .view
            .streams
            .selected_summary()
            .is_some_and(|s| s.allow_direct);
        let what = format!("{stream} (dead letters of {consumer})");
        self.js_spawn(move |api| async move {
            let mut found = Vec::new();
            let mut gone = 0;
            for seq in seqs {
                let request = PageRequest {
                    start: Start::Seq(seq),
                    subject: None,
                    count: 1,
                    max_bytes: 8 << 20,
                };
                match crate::jetstream::fetch_page(
                    &api,
                    &stream,
                    Access::of(allow_direct),
                    &request,
                )
                .await
                {
                    Ok(page) => match page.messages.into_iter().next() {
                        Some(m) if m.seq == seq => found.push(m),
                        _ => gone += 1,
                    },
                    Err(e) => return Answer::Redrive(what, Err(e.to_string()), gone),
                }
            }
            Answer::Redrive(what, Ok(found), gone)
        });
    }

    /// The in-flight window of a consumer: ack floor to last delivered.
    fn in_flight(&mut self, consumer: String) {
        let Some(stream) = self.jetstream.view.selected_stream().map(str::to_owned) else {
            return;
        };
        let Some(c) = self.jetstream.view.consumers.find(&consumer).cloned() else {
            return;
        };
        let in_flight = InFlight {
            consumer: c.name.clone(),
            max_deliver: c.max_deliver,
            ack_floor: c.ack_floor_stream_seq,
            delivered: c.delivered_stream_seq,
        };
        let Some(summary) = self.jetstream.view.streams.selected_summary() else {
            return;
        };
        let access = Access::of(summary.allow_direct);
        let browser = &mut self.jetstream.view.browser;
        browser.loading = true;
        let count = browser.page_size;
        let from = c.ack_floor_stream_seq + 1;
        let filters = c.filter_subjects.clone();
        self.js_spawn(move |api| async move {
            let result =
                crate::jetstream::fetch_filtered(&api, &stream, access, from, &filters, count)
                    .await;
            Answer::Page(stream, text(result), Some(in_flight))
        });
    }
}
