//! What the JetStream view asks for, turned into the session's typed
//! requests (their answers come back to `jetstream.rs`).

use std::time::Duration;

use crate::app::EventscopeApp;
use crate::capture::now_timestamp;
use crate::flow::ConsumerScope;
use crate::jetstream::{Access, Start};
use crate::session::JetStreamRequest;
use crate::ui::{InFlight, JetStreamAction, View};

impl EventscopeApp {
    /// File > Open capture from stream: the list of capture streams.
    pub(in crate::app) fn open_capture_picker(&mut self) {
        self.jetstream.view.capture_picker = true;
        self.refresh_streams();
    }

    pub(in crate::app) fn on_jetstream_actions(&mut self, actions: Vec<JetStreamAction>) {
        for action in actions {
            self.on_jetstream_action(action);
        }
    }

    pub(in crate::app) fn on_jetstream_action(&mut self, action: JetStreamAction) {
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
                self.ask_jetstream(JetStreamRequest::Subjects(name.clone()));
                self.browse(name, Start::Seq(1), None);
            }
            JetStreamAction::RefreshConsumers => {
                if let Some(stream) = stream {
                    self.refresh_consumers(stream);
                }
            }
            JetStreamAction::Browse { start, subject } => {
                if let Some(stream) = stream {
                    self.browse(stream, start, subject);
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
            JetStreamAction::Compare(Ok((before, after))) => {
                self.show_records_diff(&before, &after);
            }
            JetStreamAction::Compare(Err(why)) => self.say(crate::ui::Notice::problem(why)),
            JetStreamAction::Follow(what, value) => self.follow(what, value),
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
                    self.ask_jetstream(JetStreamRequest::Search {
                        stream,
                        access,
                        request,
                        progress,
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
                    self.ask_jetstream(JetStreamRequest::PurgePreview { stream, purge });
                }
            }
            JetStreamAction::Purge(purge) => {
                if let Some(stream) = stream {
                    self.ask_jetstream(JetStreamRequest::Purge { stream, purge });
                }
            }
            JetStreamAction::DeleteMessage(seq) => {
                if let Some(stream) = stream {
                    self.ask_jetstream(JetStreamRequest::DeleteMessage { stream, seq });
                }
            }
            JetStreamAction::PauseConsumer { consumer, pause } => {
                if let Some(stream) = stream {
                    let until = pause.then(|| now_timestamp() + 3600 * 1_000_000_000);
                    self.ask_jetstream(JetStreamRequest::PauseConsumer {
                        stream,
                        consumer,
                        until,
                    });
                }
            }
            JetStreamAction::DeleteConsumer(consumer) => {
                if let Some(stream) = stream {
                    self.ask_jetstream(JetStreamRequest::DeleteConsumer { stream, consumer });
                }
            }
            JetStreamAction::PreviewReset { consumer, seq } => {
                let summary = self.jetstream.view.streams.selected_summary();
                let allow_direct = summary.is_some_and(|s| s.allow_direct);
                if let Some(info) = self.jetstream.view.consumers.find(&consumer).cloned() {
                    self.ask_jetstream(JetStreamRequest::ResetPreview {
                        consumer: Box::new(info),
                        seq,
                        allow_direct,
                    });
                }
            }
            JetStreamAction::ResetConsumer { consumer, seq } => {
                if let Some(stream) = stream {
                    self.ask_jetstream(JetStreamRequest::ResetConsumer {
                        stream,
                        consumer,
                        seq,
                    });
                }
            }
            JetStreamAction::PutConsumer { config, update } => {
                if let Some(stream) = stream {
                    self.ask_jetstream(JetStreamRequest::PutConsumer {
                        stream,
                        config,
                        update,
                    });
                }
            }
            JetStreamAction::StartRecorder(settings) => {
                self.jetstream.view.recorder.status.loading = true;
                self.ask_jetstream(JetStreamRequest::StartRecorder(settings));
            }
            JetStreamAction::StopRecorder => {
                self.ask_jetstream(JetStreamRequest::StopRecorder(self.recorder_name()));
            }
            JetStreamAction::LoadHistory(range) => self.load_history(range),
            JetStreamAction::OpenCapture(name) => {
                self.before_replacing(crate::app::capture_files::Replace::Stream(name))
            }
        }
    }

    /// Export a capture stream to a private temp file and load it (the
    /// user has agreed to replace what is shown).
    pub(in crate::app) fn open_capture_stream(&mut self, name: String) {
        self.ask_jetstream(JetStreamRequest::ExportCapture(name));
    }

    pub(in crate::app) fn recorder_name(&self) -> String {
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
    pub(in crate::app) fn load_history(&mut self, range: Duration) {
        let name = self.recorder_name();
        self.jetstream.view.recorder.history.loading = true;
        let since = (!range.is_zero())
            .then(|| now_timestamp() - i64::try_from(range.as_nanos()).unwrap_or(i64::MAX));
        // Half the memory budget at most: the live capture keeps the rest.
        let max_bytes = self.session.store.budget() as u64 / 2;
        self.ask_jetstream(JetStreamRequest::History {
            recorder: name,
            since,
            max_bytes,
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
            self.say(crate::ui::Notice::problem(format!(
                "{consumer}: no message seen reaching max deliveries or terminated (load the recorder's history for older ones)"
            )));
            return;
        }
        let allow_direct = self
            .jetstream
            .view
            .streams
            .selected_summary()
            .is_some_and(|s| s.allow_direct);
        let what = format!("{stream} (dead letters of {consumer})");
        self.ask_jetstream(JetStreamRequest::Redrive {
            what,
            stream,
            seqs,
            access: Access::of(allow_direct),
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
        self.jetstream.in_flight_asked = Some(in_flight);
        self.ask_jetstream(JetStreamRequest::InFlight {
            stream,
            access,
            from,
            filters,
            count,
        });
    }
}
