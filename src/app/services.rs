//! The Services view's work: through which NATS connection to ask, the
//! services polled every few seconds while the view or the map is shown
//! (never when neither is), and its actions: a request to an endpoint opens the
//! publish form, the traffic filtered to an endpoint's subject.

use std::time::Duration;

use super::EventscopeApp;
use super::answers::due;
use crate::capture::{BrokerKind, ConnectionKey};
use crate::server_answers::Service;
use crate::session::{ClusterRequest, Request};
use crate::ui::{PublishMode, ServicesAction, ServicesView, View, services_view_ui};

const POLL_EVERY: f64 = 3.0;

#[derive(Default)]
pub(super) struct ServicesWork {
    pub view: ServicesView,
    chosen: Option<ConnectionKey>,
    last_poll: Option<f64>,
    pub(super) waiting: bool,
}

impl EventscopeApp {
    /// The NATS connections that are up, by name.
    fn nats_connections_up(&self) -> Vec<(ConnectionKey, String)> {
        self.session
            .profiles()
            .iter()
            .filter(|(_, p)| matches!(p.broker(), Ok(BrokerKind::Nats)))
            .filter(|(k, _)| {
                self.session
                    .shared(*k)
                    .is_some_and(|s| s.state().is_connected())
            })
            .map(|(k, p)| (*k, p.name.clone()))
            .collect()
    }

    /// Each frame, while the view (or the map, which draws them) is
    /// shown: the connections to ask through, and the services every few
    /// seconds.
    pub(super) fn services_step(&mut self, ctx: &egui::Context) {
        if self.view != View::Services && self.view != View::Map {
            return;
        }
        let through = self.nats_connections_up();
        let work = &mut self.services;
        let using = work
            .chosen
            .filter(|k| through.iter().any(|(t, _)| t == k))
            .or(through.first().map(|(k, _)| *k));
        if using != work.view.using {
            work.view.using = using;
            work.view.services = Default::default();
            work.last_poll = None;
        }
        work.view.through = through;
        let Some(key) = using else {
            return;
        };
        let time = ctx.input(|i| i.time);
        if !work.waiting && due(work.last_poll, time, POLL_EVERY) {
            work.last_poll = Some(time);
            self.ask_services(key);
        }
        ctx.request_repaint_after(Duration::from_secs_f64(POLL_EVERY));
    }

    fn ask_services(&mut self, key: ConnectionKey) {
        self.services.waiting = true;
        self.services.view.services.loading = true;
        self.session
            .ask(Some(key), Request::Cluster(ClusterRequest::Services));
    }

    pub(super) fn on_services_answer(&mut self, result: Result<Vec<Service>, String>) {
        self.services.waiting = false;
        self.services.view.services.answer(result);
        // The map draws them: made again at its next turn.
        self.map_sources_changed();
    }

    pub(super) fn services_view_ui(&mut self, ui: &mut egui::Ui) {
        let Some(action) = services_view_ui(ui, &mut self.services.view) else {
            return;
        };
        match action {
            ServicesAction::Refresh => {
                if let Some(key) = self.services.view.using {
                    self.ask_services(key);
                }
            }
            ServicesAction::LookThrough(key) => self.services.chosen = Some(key),
            ServicesAction::Request(subject) => {
                let publish = &mut self.publish;
                publish.template.subject = subject;
                publish.template.reply.clear();
                publish.mode = PublishMode::Request;
                publish.connection = self.services.view.using;
                publish.outcome = None;
                self.view = View::Publish;
            }
            ServicesAction::ShowTraffic(subject) => {
                self.traffic.filter_subject(subject);
                self.view = View::Traffic;
            }
        }
    }

    /// Screenshot mode on the Services view: wait for a service to show,
    /// and select the first with an error (else the first).
    pub(super) fn drive_services_screenshot(&mut self) {
        if self.view != View::Services || self.screenshot.is_none() {
            return;
        }
        let view = &mut self.services.view;
        let services = view.services.value.as_deref().unwrap_or_default();
        let ready = services.iter().any(|s| s.requests() > 0);
        if ready && view.selected.is_none() {
            let pick = services
                .iter()
                .find(|s| s.errors() > 0)
                .or(services.first());
            view.selected = pick.map(|s| s.name.clone());
        }
        if let Some(plan) = &mut self.screenshot {
            plan.app_waiting = !ready;
        }
    }
}
