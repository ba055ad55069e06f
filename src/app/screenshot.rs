//! Screenshot mode: run the real app until the chosen view shows data, save
//! the frame with egui's own screenshot support, then close the window.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::capture::Seq;
use crate::capture::{Store, SubjectPattern};
use crate::flow::{Correlator, Final, FlowId, FlowKind};

/// Which flow a screenshot of the flows view selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FlowPick {
    /// A JetStream message that was retried and finally acknowledged.
    Retried,
    /// A request that got its reply.
    Request,
    /// A message that reached max deliveries.
    MaxDeliveries,
    /// A RabbitMQ message retried through a dead-letter exchange and a
    /// delay queue, then delivered.
    DeadLetterRetry,
    /// One event's hops across brokers (the demo's bridge), to Kafka where
    /// the demo has one.
    CrossBroker,
    /// A Kafka record copied to a retry topic and on to a dead-letter
    /// topic, with its groups' commits.
    KafkaRetry,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Waiting,
    Settling { frames_left: u32 },
    Requested,
    Finished,
}

pub struct ScreenshotPlan {
    path: PathBuf,
    select: Option<SubjectPattern>,
    flow: Option<FlowPick>,
    /// Start a replay of the captured orders first (to show one running).
    replay: bool,
    /// Records the store must hold before the picture is worth taking.
    min_records: usize,
    /// Time for the rate plot to show some history.
    min_wait: Duration,
    started: Instant,
    phase: Phase,
    result: Arc<Mutex<Option<Result<(), String>>>>,
    /// The data waited for never came: the picture shows the app as it was
    /// (a connection that never came up, say), and the run fails.
    gave_up: bool,
    /// What the JetStream view should show (set up by the app each frame).
    pub jetstream: Option<JetStreamShot>,
    pub kv: Option<KvShot>,
    pub cluster_tab: Option<crate::ui::ClusterTab>,
    /// The Search view's JSON test (`--search-json`).
    pub search_json: Option<String>,
    /// The command palette, open with this typed (`--palette`).
    pub palette: Option<String>,
    /// Show the selected message compared with the previous on its
    /// subject (`--diff-previous`).
    pub diff_previous: bool,
    /// The app says the view is not ready yet (JetStream answers awaited).
    pub app_waiting: bool,
}

/// A screenshot of the JetStream view, or of one consumer's flows.
#[derive(Clone, Debug)]
pub struct JetStreamShot {
    pub stream: String,
    pub consumer: Option<String>,
    pub tab: crate::ui::StreamTab,
}

/// A screenshot of the KV view: a bucket, and a key's history diff.
#[derive(Clone, Debug)]
pub struct KvShot {
    pub bucket: String,
    pub key: Option<String>,
}

/// How long screenshot mode waits for the data it needs before it takes
/// the picture anyway and says so (the watchdog's 120 s was all a failing
/// connection got before).
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// What the app should do this frame.
pub enum PlanStep {
    Nothing,
    Select(Seq),
    SelectFlow(FlowId, Option<Seq>),
    StartReplay,
    Exit(Result<(), String>),
}

impl ScreenshotPlan {
    pub fn new(
        path: PathBuf,
        select: Option<SubjectPattern>,
        flow: Option<FlowPick>,
        replay: bool,
        min_wait: Duration,
        expect_traffic: bool,
    ) -> Self {
        Self {
            path,
            select,
            flow,
            replay,
            min_records: if expect_traffic { 20 } else { 0 },
            min_wait,
            started: Instant::now(),
            phase: Phase::Waiting,
            result: Arc::new(Mutex::new(None)),
            gave_up: false,
            jetstream: None,
            kv: None,
            cluster_tab: None,
            search_json: None,
            palette: None,
            diff_previous: false,
            app_waiting: false,
        }
    }

    /// The newest record to select: matching the pattern, with a JSON
    /// payload where one matches (else any: a binary payload's decoding).
    fn pick(&self, store: &Store) -> Option<Seq> {
        let pattern = self.select.as_ref()?;
        let matching = || {
            store
                .iter()
                .rev()
                .take(5_000)
                .filter(|(_, r)| pattern.matches(r.subject()))
        };
        matching()
            .find(|(_, r)| serde_json::from_slice::<serde_json::Value>(r.payload()).is_ok())
            .or_else(|| matching().next())
            .map(|(seq, _)| seq)
    }

    pub fn wants_flow(&self, pick: FlowPick) -> bool {
        self.flow == Some(pick)
    }

    /// The newest finished flow of the wanted kind.
    fn pick_flow(&self, store: &Store, flows: &Correlator) -> Option<(FlowId, Option<Seq>)> {
        let pick = self.flow?;
        let now = flows.latest();
        let brokers = store.brokers();
        let bridged = [
            crate::capture::BrokerKind::Nats,
            crate::capture::BrokerKind::Mqtt,
            crate::capture::BrokerKind::Amqp,
            crate::capture::BrokerKind::Kafka,
        ]
        .iter()
        .filter(|b| brokers.contains(b))
        .count();
        flows
            .flows()
            .rev()
            .find(|f| match pick {
                FlowPick::Retried => {
                    f.kind == FlowKind::Jetstream
                        && f.has_retries()
                        && flows.final_of(f, now) == Some(Final::Acked)
                }
                FlowPick::Request => f.kind == FlowKind::Request && f.detail().reply_at.is_some(),
                FlowPick::MaxDeliveries => flows.final_of(f, now) == Some(Final::MaxDeliveries),
                FlowPick::DeadLetterRetry => {
                    f.kind == FlowKind::Queued
                        && f.has_retries()
                        && flows.final_of(f, now) == Some(Final::Delivered)
                }
                FlowPick::CrossBroker => {
                    f.broker == crate::capture::BrokerKind::Mqtt
                        && flows.hops_of(f.id).len() >= bridged.max(3)
                }
                FlowPick::KafkaRetry => {
                    f.kind == FlowKind::Logged
                        && f.has_retries()
                        && flows.final_of(f, now) == Some(Final::DeadLettered)
                }
            })
            .map(|f| (f.id, f.detail().steps.last().and_then(|s| s.record)))
    }

    /// Advance; call once per frame from `logic`.
    pub fn step(&mut self, ctx: &egui::Context, store: &Store, flows: &Correlator) -> PlanStep {
        ctx.request_repaint_after(Duration::from_millis(50));
        // The pointer of a headless display rests mid-window: no tooltips.
        ctx.global_style_mut(|style| style.interaction.tooltip_delay = f32::INFINITY);
        match self.phase.clone() {
            Phase::Waiting => {
                if self.started.elapsed() >= GIVE_UP_AFTER.max(self.min_wait) {
                    self.gave_up = true;
                    self.phase = Phase::Settling { frames_left: 2 };
                    return PlanStep::Nothing;
                }
                if store.len() < self.min_records
                    || self.started.elapsed() < self.min_wait
                    || self.app_waiting
                {
                    return PlanStep::Nothing;
                }
                if self.replay {
                    // Let the replay run a few seconds before the picture.
                    self.phase = Phase::Settling { frames_left: 50 };
                    return PlanStep::StartReplay;
                }
                if self.flow.is_some() {
                    let Some((flow, record)) = self.pick_flow(store, flows) else {
                        return PlanStep::Nothing;
                    };
                    self.phase = Phase::Settling { frames_left: 10 };
                    return PlanStep::SelectFlow(flow, record);
                }
                let selected = match &self.select {
                    Some(_) => match self.pick(store) {
                        Some(seq) => Some(seq),
                        None => return PlanStep::Nothing,
                    },
                    None => None,
                };
                self.phase = Phase::Settling { frames_left: 10 };
                selected.map_or(PlanStep::Nothing, PlanStep::Select)
            }
            Phase::Settling { frames_left: 0 } => {
                let result = self.result.clone();
                let path = self.path.clone();
                ctx.request_screenshot(move |image| {
                    let saved = save_png(&path, &image);
                    if let Ok(mut slot) = result.lock() {
                        *slot = Some(saved);
                    }
                });
                self.phase = Phase::Requested;
                PlanStep::Nothing
            }
            Phase::Settling { frames_left } => {
                self.phase = Phase::Settling {
                    frames_left: frames_left - 1,
                };
                PlanStep::Nothing
            }
            Phase::Requested => match self.result.lock().ok().and_then(|mut r| r.take()) {
                Some(result) => {
                    self.phase = Phase::Finished;
                    PlanStep::Exit(result.and_then(|()| {
                        if self.gave_up {
                            Err(format!(
                                "what the view needed did not arrive within {GIVE_UP_AFTER:?}; \
                                 the picture ({}) shows the app as it was",
                                self.path.display()
                            ))
                        } else {
                            Ok(())
                        }
                    }))
                }
                None => PlanStep::Nothing,
            },
            Phase::Finished => PlanStep::Nothing,
        }
    }
}

pub fn save_png(path: &std::path::Path, image: &egui::ColorImage) -> Result<(), String> {
    let [w, h] = image.size;
    let mut rgba = Vec::with_capacity(w * h * 4);
    for pixel in &image.pixels {
        rgba.extend_from_slice(&pixel.to_srgba_unmultiplied());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    image::save_buffer(path, &rgba, w as u32, h as u32, image::ColorType::Rgba8)
        .map_err(|e| format!("cannot save {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a server to watch, the picture waits for traffic; with none,
    /// there is nothing to wait for (it used to wait until the watchdog).
    #[test]
    fn waits_for_traffic_only_when_some_can_come() {
        let ctx = egui::Context::default();
        let (store, flows) = (Store::default(), Correlator::default());
        let plan = |expect_traffic| {
            ScreenshotPlan::new(
                PathBuf::from("unused.png"),
                None,
                None,
                false,
                Duration::ZERO,
                expect_traffic,
            )
        };
        let (mut connected, mut alone) = (plan(true), plan(false));
        for _ in 0..3 {
            connected.step(&ctx, &store, &flows);
            alone.step(&ctx, &store, &flows);
        }
        assert_eq!(connected.phase, Phase::Waiting);
        assert!(
            matches!(alone.phase, Phase::Settling { .. }),
            "{:?}",
            alone.phase
        );
    }
}
