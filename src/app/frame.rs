//! The app's work each frame that is not drawing: ingest within a time
//! budget, indexes, answers from background work, screenshot mode, and
//! when the next frame is due.

use std::time::Duration;

use super::pending::Finished;
use super::screenshot::PlanStep;
use super::{
    EventscopeApp, HIDDEN_DRAIN_BUDGET, HIDDEN_REPAINT, LIVE_DRAIN_BUDGET, RATES_WINDOW_NS,
};
use crate::capture::now_timestamp;
use crate::ui::View;

impl EventscopeApp {
    /// Per-frame work that is not drawing: ingest, indexes, dialogs, plans.
    pub fn logic_step(&mut self, ctx: &egui::Context) {
        let hidden = ctx.input(|i| {
            let viewport = i.viewport();
            viewport.minimized == Some(true) || viewport.occluded == Some(true)
        });
        self.session.drain(if hidden {
            HIDDEN_DRAIN_BUDGET
        } else {
            LIVE_DRAIN_BUDGET
        });
        self.traffic.update(&self.session.store);
        self.group_lag
            .update(&self.session.store, crate::ui::SCAN_PER_FRAME);
        self.poll_pending(ctx);
        self.demo_step();
        self.save_connected_profiles();
        self.take_answers();
        self.jetstream_step(ctx);
        self.kv_step(ctx);
        self.cluster_step(ctx);
        self.services_step(ctx);
        self.search_step(ctx);
        self.take_in_capture_file();
        self.drive_jetstream_screenshot();
        self.drive_kv_screenshot();
        self.drive_cluster_screenshot();
        self.drive_services_screenshot();
        self.drive_search_screenshot();
        self.drive_diff_screenshot();
        self.drive_palette_screenshot();
        self.drive_map_screenshot();
        if let Some(plan) = &mut self.screenshot {
            match plan.step(ctx, &self.session.store, &self.session.flows) {
                PlanStep::Nothing => {}
                PlanStep::StartReplay => self.start_demo_replay(),
                PlanStep::SelectFlow(flow, record) => {
                    self.flows.selected = Some(flow);
                    self.traffic.selected = record;
                    // A bridged event's hops are wide: every lane shows.
                    // RabbitMQ's retry loop is shown on its own.
                    let rabbit_only = plan.wants_flow(super::FlowPick::DeadLetterRetry);
                    self.flows.show_hops = !rabbit_only;
                    self.flows.fit_width =
                        rabbit_only || self.session.flows.hops_of(flow).len() > 1;
                }
                PlanStep::Select(seq) => {
                    self.traffic.selected = Some(seq);
                    self.traffic.scroll_to_selected = true;
                }
                PlanStep::Exit(result) => {
                    if let Some(sink) = &self.screenshot_result {
                        *sink.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                    }
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
        }
        // Rates move on by whole seconds while the last minute had traffic
        // (the plot and the rates show it); after that only ages ("3 min
        // ago") change, and a repaint every 10 s keeps an idle app near
        // 0% CPU. New data and input wake the UI by themselves.
        let recent = self
            .session
            .newest_applied()
            .is_some_and(|at| crate::capture::now_timestamp() - at < RATES_WINDOW_NS);
        // A link on its way up changes its status without an event.
        let settling = self.session.profiles().iter().any(|(k, _)| {
            self.session.shared(*k).is_some_and(|s| {
                matches!(
                    s.state(),
                    crate::broker::LinkState::Connecting { .. }
                        | crate::broker::LinkState::Reconnecting { .. }
                )
            })
        });
        let job_running = [&self.publish.job, &self.replay.job]
            .into_iter()
            .flatten()
            .any(|job| !job.is_finished());
        ctx.request_repaint_after(if hidden {
            // Nothing shows: take in what arrived now and then, paint nothing.
            HIDDEN_REPAINT
        } else if self.session.is_behind() || self.capture_load.is_some() {
            // Batches wait whose wake-ups were spent, or a file is loading:
            // carry on next frame.
            Duration::ZERO
        } else if job_running {
            // Progress of a publishing job.
            Duration::from_millis(100)
        } else if recent || settling {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(10)
        });
    }

    /// Every answer from background work that came, each to its place.
    fn poll_pending(&mut self, ctx: &egui::Context) {
        for finished in self.pending.finished() {
            match finished {
                Finished::Sent(outcome) => self.on_sent(outcome),
                Finished::PayloadFile(Some(path)) => self.on_payload_file(path),
                Finished::ReplayFile(Some((path, result))) => self.on_replay_file(path, result),
                Finished::CaptureFile(Some(path)) => self.load_capture(path),
                Finished::ConnectionFile(field, Some(path)) => {
                    self.connections.form.set_file(field, path)
                }
                Finished::PngExport(rect, Some(path)) => self.save_png(ctx, rect, path),
                Finished::Trace(subject, answer) => self.on_trace(subject, answer),
                Finished::KeyringSecrets(Some(found)) => self.apply_keyring_secrets(found),
                Finished::Notice(notice) => self.say(notice),
                Finished::SchemaFile(source, Some(path)) => self.on_schema_file(source, path),
                // A dialog cancelled, or a task that ended without a word.
                Finished::PayloadFile(None)
                | Finished::ReplayFile(None)
                | Finished::CaptureFile(None)
                | Finished::ConnectionFile(_, None)
                | Finished::PngExport(_, None)
                | Finished::KeyringSecrets(None)
                | Finished::SchemaFile(_, None) => {}
            }
        }
    }

    fn save_png(&self, ctx: &egui::Context, rect: egui::Rect, path: std::path::PathBuf) {
        let notices = self.pending.notices();
        let ppp = ctx.pixels_per_point();
        ctx.request_screenshot(move |image| {
            let region = image.region(&rect, Some(ppp));
            let message = match super::screenshot::save_png(&path, &region) {
                Ok(()) => crate::ui::Notice::done(format!("diagram saved to {}", path.display())),
                Err(e) => crate::ui::Notice::problem(e),
            };
            let _ = notices.send(message);
        });
    }

    fn on_trace(&mut self, subject: String, answer: Option<crate::broker::TraceAnswer>) {
        self.flows.trace_waiting = false;
        match answer.unwrap_or(Err(crate::broker::TraceError::Ended)) {
            Ok(events) => {
                self.flows.trace =
                    Some(crate::flow::trace_flow(&subject, &events, now_timestamp()));
                self.view = View::Flows;
            }
            Err(e) => self.say(crate::ui::Notice::problem(format!("trace: {e}"))),
        }
    }
}
