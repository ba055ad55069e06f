//! The JetStream view's work: every request runs on the background
//! runtime with the connection's async-nats client, and its answer comes
//! back on a channel polled each frame. Nothing here waits on the network.

mod actions;

use std::time::Duration;

use super::EventscopeApp;
use super::answers::{due, text};
use crate::capture::{ConnectionKey, Record, now_timestamp};
use crate::flow::ConsumerScope;
use crate::jetstream::{Access, PageRequest, Start};
use crate::session::{JetStreamAnswer as Answer, JetStreamRequest, Request};
use crate::ui::{InFlight, JetStreamAction, JetStreamView, StreamTab, View};

/// How often the chosen consumer's lag is polled while it is on screen.
const LAG_EVERY: f64 = 2.0;
/// How often the stream list and the chosen stream's consumers are fetched
/// again while the view is on screen.
const REPORT_EVERY: f64 = 5.0;
/// How far back the flow view is filled from the recorder on connect.
const HISTORY_ON_CONNECT: Duration = Duration::from_secs(3600);

/// The JetStream view's state beside what it draws.
#[derive(Default)]
pub(super) struct JetStreamWork {
    pub view: JetStreamView,
    /// The connection whose JetStream is shown, once it was first asked.
    asked_of: Option<ConnectionKey>,
    last_lag_poll: Option<f64>,
    lag_waiting: bool,
    last_report: Option<f64>,
    history_loaded: bool,
    /// The consumer window asked last, for the page that answers it.
    pub(super) in_flight_asked: Option<InFlight>,
}

impl EventscopeApp {
    pub(super) fn jetstream_connection_key(&self) -> Option<ConnectionKey> {
        self.jetstream_connection()
    }

    /// The connection JetStream requests go to: the first one up.
    pub(super) fn jetstream_connection(&self) -> Option<ConnectionKey> {
        let profiles = self.session.profiles();
        profiles
            .iter()
            .find(|(k, _)| {
                self.session
                    .shared(*k)
                    .is_some_and(|s| s.state().is_connected())
            })
            .map(|(k, _)| *k)
    }

    /// Ask the chosen connection's JetStream; the answer comes back to
    /// `on_jetstream_answer`.
    pub(super) fn ask_jetstream(&self, request: JetStreamRequest) {
        self.session
            .ask(self.jetstream_connection(), Request::JetStream(request));
    }

    /// Each frame: first fetches after a connection comes up, the lag
    /// poll, and the answers that came.
    pub(super) fn jetstream_step(&mut self, ctx: &egui::Context) {
        let key = self.jetstream_connection();
        if key.is_some() && key != self.jetstream.asked_of {
            self.jetstream.asked_of = key;
            self.refresh_streams();
            self.refresh_recorder();
        }
        let time = ctx.input(|i| i.time);
        if self.view == View::JetStream && key.is_some() {
            if due(self.jetstream.last_report, time, REPORT_EVERY) {
                self.jetstream.last_report = Some(time);
                if !self.jetstream.view.streams.list.loading {
                    self.refresh_streams();
                }
                if let Some(stream) = self.jetstream.view.selected_stream().map(str::to_owned)
                    && !self.jetstream.view.consumers.list.loading
                {
                    self.refresh_consumers(stream);
                }
            }
            ctx.request_repaint_after(Duration::from_secs_f64(REPORT_EVERY));
        }
        let view = &self.jetstream.view;
        if self.view == View::JetStream
            && view.tab == StreamTab::Consumers
            && let (Some(stream), Some(consumer)) =
                (view.selected_stream(), view.consumers.selected.clone())
        {
            if !self.jetstream.lag_waiting && due(self.jetstream.last_lag_poll, time, LAG_EVERY) {
                self.jetstream.last_lag_poll = Some(time);
                self.jetstream.lag_waiting = true;
                let stream = stream.to_owned();
                let allow_direct = view
                    .streams
                    .selected_summary()
                    .is_some_and(|s| s.allow_direct);
                self.ask_jetstream(JetStreamRequest::Lag {
                    stream,
                    consumer,
                    allow_direct,
                });
            }
            ctx.request_repaint_after(Duration::from_secs_f64(LAG_EVERY));
        }
        if self
            .jetstream
            .view
            .browser
            .search
            .running
            .as_ref()
            .is_some_and(|p| !p.is_finished())
        {
            // Live progress.
            ctx.request_repaint_after(Duration::from_millis(100));
        }
    }

    pub(super) fn refresh_streams(&mut self) {
        self.jetstream.view.streams.list.loading = true;
        self.ask_jetstream(JetStreamRequest::Streams);
    }

    pub(super) fn refresh_recorder(&mut self) {
        self.jetstream.view.recorder.status.loading = true;
        self.ask_jetstream(JetStreamRequest::Recorder(
            crate::jetstream::DEFAULT_RECORDER.to_owned(),
        ));
    }

    pub(super) fn refresh_consumers(&mut self, stream: String) {
        self.jetstream.view.consumers.list.loading = true;
        self.ask_jetstream(JetStreamRequest::Consumers(stream));
    }

    pub(super) fn browse(&mut self, stream: String, start: Start, subject: Option<String>) {
        let Some(summary) = self.jetstream.view.streams.selected_summary() else {
            return;
        };
        let access = Access::of(summary.allow_direct);
        let browser = &mut self.jetstream.view.browser;
        browser.loading = true;
        let request = PageRequest {
            start,
            subject,
            count: browser.page_size,
            max_bytes: 8 << 20,
        };
        self.jetstream.in_flight_asked = None;
        self.ask_jetstream(JetStreamRequest::Page {
            stream,
            access,
            request,
        });
    }

    /// What the JetStream view asked for.
    pub(super) fn on_jetstream_answer(&mut self, answer: Answer) {
        let view = &mut self.jetstream.view;
        match answer {
            Answer::Unavailable(why) => {
                view.unavailable = Some(format!("JetStream: {why}"));
                view.streams.list.loading = false;
                view.recorder.status.loading = false;
                view.browser.loading = false;
                view.consumers.list.loading = false;
                view.recorder.history.loading = false;
                self.jetstream.lag_waiting = false;
            }
            Answer::Streams(result) => {
                view.unavailable = None;
                view.streams.list.answer(text(result));
                view.streams.list_changed();
            }
            Answer::Consumers(stream, result) => {
                if view.selected_stream() == Some(stream.as_str()) {
                    view.consumers.list.answer(text(result));
                }
            }
            Answer::Subjects(stream, result) => {
                if view.selected_stream() == Some(stream.as_str()) {
                    view.streams.subjects.answer(text(result));
                }
            }
            Answer::Page {
                stream,
                page,
                in_flight,
            } => match page {
                Ok(mut page) => {
                    let in_flight = if in_flight {
                        self.jetstream.in_flight_asked.take()
                    } else {
                        None
                    };
                    if let Some(f) = &in_flight {
                        page.messages.retain(|m| m.seq <= f.delivered);
                    }
                    let flows = &self.session.flows;
                    let consumer = in_flight.as_ref().map(|f| f.consumer.clone());
                    view.browser
                        .set_page(&stream, &page.messages, page.access, page.more, |seq| {
                            consumer
                                .as_deref()
                                .and_then(|c| flows.observed_deliveries(&stream, seq, c))
                        });
                    view.browser.in_flight = in_flight;
                }
                Err(e) => {
                    view.browser.loading = false;
                    view.browser.error = Some(e.to_string());
                }
            },
            Answer::Lag(consumer, result) => {
                self.jetstream.lag_waiting = false;
                let consumers = &mut view.consumers;
                if consumers.selected.as_deref() == Some(consumer.as_str()) {
                    match result {
                        Ok(polled) => {
                            let (info, oldest) = *polled;
                            consumers.lag.push(&info, now_timestamp(), oldest);
                            consumers.lag_error = None;
                        }
                        Err(e) => consumers.lag_error = Some(e.to_string()),
                    }
                }
            }
            Answer::Recorder(result) => {
                let exists = matches!(result, Ok(Some(_)));
                view.recorder.status.answer(text(result));
                if exists && !self.jetstream.history_loaded {
                    self.jetstream.history_loaded = true;
                    self.load_history(HISTORY_ON_CONNECT);
                }
            }
            Answer::History(result) => match result {
                Ok(read) => {
                    let crate::jetstream::RecorderRead {
                        mut records,
                        skipped_own,
                        began_at,
                    } = read;
                    let name = format!("recorder {}", self.recorder_name());
                    let key = self.session.store.intern_connection(&name);
                    for r in &mut records {
                        r.connection = key;
                    }
                    let added = self.session.insert_history(records);
                    self.traffic.index = Default::default();
                    self.traffic.apply_filter();
                    let view = &mut self.jetstream.view;
                    view.recorder.history.answer(Ok(added));
                    if skipped_own > 0 {
                        self.say(crate::ui::Notice::info(format!(
                            "{skipped_own} answers about the recorder's own stream were skipped"
                        )));
                    }
                    if let Some(seq) = began_at {
                        self.say(crate::ui::Notice::problem(format!(
                            "the recorder holds more than half the memory budget for that range: \
                             its answers from sequence {seq} on were loaded, older ones were not"
                        )));
                    }
                    let wanted = self.session.flows.unnamed_stored();
                    if !wanted.is_empty() {
                        self.ask_jetstream(JetStreamRequest::StoredSubjects(wanted));
                    }
                }
                Err(e) => view.recorder.history.answer(Err(e.to_string())),
            },
            Answer::Named(named, unnamed) => {
                for (stream, seq, subject) in named {
                    self.session
                        .flows
                        .learn_stored_subject(&stream, seq, &subject);
                }
                if unnamed > 0 {
                    self.say(crate::ui::Notice::info(format!(
                        "{unnamed} recorded messages are no longer in their streams; their subject is not known"
                    )));
                }
            }
            Answer::PurgePreview(purge, result) => {
                if let Some(dialog) = &mut view.streams.purge {
                    dialog.preview.answer(text(result).map(|p| (purge, p)));
                }
            }
            Answer::Redrive(what, result, gone) => match result {
                Ok(messages) => {
                    let records: Vec<Record> = messages.iter().map(|m| m.to_record(0)).collect();
                    let count = records.len();
                    self.replay.stream_records = Some((what, std::sync::Arc::new(records)));
                    self.replay.source = crate::ui::ReplaySource::Stream;
                    self.replay.connection = self.replay.connection.or(self.jetstream_connection());
                    self.view = View::Publish;
                    self.say(if gone > 0 {
                        crate::ui::Notice::problem(format!(
                            "{count} dead letters ready to replay; {gone} are no longer in the stream"
                        ))
                    } else {
                        crate::ui::Notice::done(format!(
                            "{count} dead letters ready to replay (nothing sent yet)"
                        ))
                    });
                }
                Err(e) => self.say(crate::ui::Notice::problem(format!("redrive: {e}"))),
            },
            Answer::SearchDone => {}
            Answer::Exported(name, result) => match result {
                // The load opens the file now; it goes when dropped here.
                Ok((file, left_out)) => {
                    self.load_capture(file.path().to_owned());
                    if let Some(left_out) = left_out {
                        self.say(crate::ui::Notice::problem(format!(
                            "capture stream {name}: {left_out}"
                        )));
                    }
                }
                Err(e) => self.say(crate::ui::Notice::problem(format!(
                    "cannot open the capture in stream {name}: {e}"
                ))),
            },
            Answer::ResetPreview(result) => view.consumers.reset_preview.answer(text(result)),
            Answer::Changed(notice) => {
                self.say(crate::ui::Notice::done(notice));
                self.refresh_streams();
                if let Some(stream) = self.jetstream.view.selected_stream().map(str::to_owned) {
                    self.refresh_consumers(stream.clone());
                    let first = self
                        .jetstream
                        .view
                        .browser
                        .rows
                        .first()
                        .map_or(1, |r| r.stream_seq);
                    self.browse(stream, Start::Seq(first), None);
                }
            }
        }
    }
}

impl EventscopeApp {
    /// Screenshot mode: choose the stream, tab and consumer asked for, and
    /// hold the picture until what they show has come.
    pub(super) fn drive_jetstream_screenshot(&mut self) {
        let Some(shot) = self.screenshot.as_ref().and_then(|p| p.jetstream.clone()) else {
            return;
        };
        let waiting = match self.view {
            View::Flows => {
                if let Some(consumer) = &shot.consumer
                    && self.flows.scope().is_none()
                {
                    let scope = ConsumerScope {
                        stream: shot.stream.clone(),
                        consumer: consumer.clone(),
                    };
                    self.flows
                        .show_consumer(scope, crate::flow::FlowFilter::Retries);
                }
                false
            }
            View::JetStream => self.jetstream_shot_waiting(&shot),
            _ => false,
        };
        if let Some(plan) = &mut self.screenshot {
            plan.app_waiting = waiting;
        }
    }

    fn jetstream_shot_waiting(&mut self, shot: &super::JetStreamShot) -> bool {
        let view = &mut self.jetstream.view;
        view.tab = shot.tab;
        let Some(list) = &view.streams.list.value else {
            return true;
        };
        if !list.iter().any(|s| s.name == shot.stream) {
            return true;
        }
        if view.selected_stream() != Some(shot.stream.as_str()) {
            view.streams.selected = Some(shot.stream.clone());
            self.on_jetstream_action(JetStreamAction::OpenStream(shot.stream.clone()));
            return true;
        }
        let view = &mut self.jetstream.view;
        if let Some(consumer) = &shot.consumer
            && view.consumers.list.value.is_some()
            && view.consumers.selected.as_deref() != Some(consumer.as_str())
        {
            view.consumers.select(Some(consumer.clone()));
        }
        match shot.tab {
            StreamTab::Consumers => view.consumers.lag.samples().len() < 5,
            StreamTab::Messages => view.browser.rows.is_empty(),
            StreamTab::Subjects => view.streams.subjects.value.is_none(),
            StreamTab::Detail => false,
        }
    }
}
