//! The Cluster view's work: what the connection can see, asked once per
//! connection; the tab on screen polled every 2 s (rates from two answers);
//! the event feed subscribed once the view is first shown, kept running,
//! its entries bounded.

use std::time::{Duration, Instant};

use super::EventscopeApp;
use super::answers::{due, text};
use crate::broker::Visibility;
use crate::capture::ConnectionKey;
use crate::server_answers::ServerEvent;
use crate::session::{ClusterAnswer, ClusterRequest, Request, Watching};
use crate::ui::{ClusterTab, ClusterView, View};

const POLL_EVERY: f64 = 2.0;
/// Server events waiting for the view at most (the rest are counted).
const EVENTS_WAITING: usize = 10_000;

#[derive(Default)]
pub(super) struct ClusterWork {
    pub view: ClusterView,
    asked_of: Option<ConnectionKey>,
    last_poll: Option<f64>,
    waiting: bool,
    /// When the last servers / connections answers came (for rates).
    servers_at: Option<Instant>,
    connections_at: Option<Instant>,
    events: Option<Watching<ServerEvent>>,
    /// What each connection can see, once asked (`None`: asked).
    seen: std::collections::HashMap<ConnectionKey, Option<Visibility>>,
}

impl EventscopeApp {
    fn ask_cluster(&self, request: ClusterRequest) {
        self.session
            .ask(self.cluster_connection(), Request::Cluster(request));
    }

    /// The connection the Cluster view looks through: the one chosen in
    /// the view, else the first that has the system account, else the
    /// first up.
    fn cluster_connection(&self) -> Option<ConnectionKey> {
        let up: Vec<ConnectionKey> = self
            .session
            .profiles()
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| {
                self.session
                    .shared(*k)
                    .is_some_and(|s| s.state().is_connected())
            })
            .collect();
        let chosen = self.cluster.view.chosen.filter(|k| up.contains(k));
        let system = up
            .iter()
            .copied()
            .find(|k| matches!(self.cluster.seen.get(k), Some(Some(v)) if v.system_account));
        chosen.or(system).or(up.first().copied())
    }

    /// Ask each connection that is up what it can see, once.
    fn survey_connections(&mut self) {
        let mut through = Vec::new();
        for (key, profile) in self.session.profiles().to_vec() {
            if !self
                .session
                .shared(key)
                .is_some_and(|s| s.state().is_connected())
            {
                continue;
            }
            let seen = self.cluster.seen.get(&key).cloned();
            through.push((
                key,
                profile.name.clone(),
                seen.clone().flatten().map(|v| v.system_account),
            ));
            if seen.is_none() {
                self.cluster.seen.insert(key, None);
                self.session
                    .ask(Some(key), Request::Cluster(ClusterRequest::Visibility));
            }
        }
        self.cluster.view.through = through;
    }

    /// Each frame: on a new connection, what it can see and the event
    /// feed; while the view is shown, its tab every 2 s; the events.
    pub(super) fn cluster_step(&mut self, ctx: &egui::Context) {
        if self.view == View::Servers {
            self.survey_connections();
        }
        let key = self.cluster_connection();
        if self.view == View::Servers && key.is_some() {
            if key != self.cluster.asked_of {
                self.cluster.asked_of = key;
                self.cluster.view.look_through(key);
                self.cluster.servers_at = None;
                self.cluster.connections_at = None;
                self.start_event_feed();
            }
            let time = ctx.input(|i| i.time);
            if !self.cluster.waiting && due(self.cluster.last_poll, time, POLL_EVERY) {
                self.cluster.last_poll = Some(time);
                self.cluster.waiting = true;
                self.poll_cluster_tab();
            }
            ctx.request_repaint_after(Duration::from_secs_f64(POLL_EVERY));
        }
        if let Some(feed) = &self.cluster.events {
            let events = &mut self.cluster.view.events;
            let (came, not_kept) = feed.take();
            for event in came {
                events.events.push(event);
            }
            events.events.not_kept += not_kept;
            if let Some(why) = feed.ended() {
                events.running = false;
                events.error = Some(why.to_string());
                self.cluster.events = None;
            }
        }
        // What the connection looked through can see, as surveyed.
        let seen = key.and_then(|k| self.cluster.seen.get(&k).cloned().flatten());
        self.cluster.view.using = key;
        let visibility = &mut self.cluster.view.visibility;
        visibility.loading = seen.is_none();
        visibility.value = seen;
    }

    fn poll_cluster_tab(&mut self) {
        let view = &mut self.cluster.view;
        let request = match view.tab {
            ClusterTab::Servers => {
                view.servers.loading = true;
                ClusterRequest::Servers
            }
            ClusterTab::Connections => {
                view.connections.loading = true;
                ClusterRequest::Connections
            }
            ClusterTab::Replicas => {
                view.replicas.loading = true;
                ClusterRequest::Replicas
            }
            ClusterTab::Links => {
                view.links.loading = true;
                ClusterRequest::Links
            }
            ClusterTab::Events => {
                self.cluster.waiting = false;
                return;
            }
        };
        self.ask_cluster(request);
    }

    /// Subscribe to the advisories; each comes back as it arrives.
    fn start_event_feed(&mut self) {
        self.cluster.events = None;
        let Some(key) = self.cluster_connection() else {
            return;
        };
        self.cluster.view.events.running = true;
        self.cluster.view.events.error = None;
        self.cluster.events = Some(self.session.server_events(Some(key), EVENTS_WAITING));
    }

    pub(super) fn on_cluster_answer(&mut self, answer: ClusterAnswer) {
        let work = &mut self.cluster;
        let view = &mut work.view;
        match answer {
            ClusterAnswer::SeenFrom(key, v) => {
                work.seen.insert(key, Some(v));
            }
            ClusterAnswer::Servers(result) => {
                work.waiting = false;
                let now = Instant::now();
                let seconds = work
                    .servers_at
                    .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
                let before = view.servers.value.as_deref().unwrap_or_default();
                let mut note = None;
                let result = text(result).map(|(rows, said)| {
                    note = said;
                    crate::server_answers::with_rates_from(rows, before, seconds)
                });
                view.servers_note = note;
                work.servers_at = Some(now);
                view.servers.answer(result);
            }
            ClusterAnswer::Connections(result) => {
                work.waiting = false;
                let now = Instant::now();
                let seconds = work
                    .connections_at
                    .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
                let before = view
                    .connections
                    .value
                    .as_ref()
                    .map_or(&[][..], |(_, r)| &r[..]);
                let result = text(result).map(|(scope, rows)| {
                    (
                        scope,
                        crate::server_answers::connection_rates(rows, before, seconds),
                    )
                });
                work.connections_at = Some(now);
                view.set_connections(result);
            }
            ClusterAnswer::Replicas(result) => {
                work.waiting = false;
                view.replicas.answer(text(result));
            }
            ClusterAnswer::Links(result) => {
                work.waiting = false;
                view.links.answer(text(result));
            }
            ClusterAnswer::Services(result) => self.on_services_answer(text(result)),
            ClusterAnswer::Unavailable(why) => {
                self.services.waiting = false;
                work.waiting = false;
                view.servers.loading = false;
                view.servers.error = Some(why.to_string());
            }
        }
    }
}

impl EventscopeApp {
    /// Screenshot mode on the Cluster view: its tab, and wait until that
    /// tab has something to show (rates need a second answer).
    pub(super) fn drive_cluster_screenshot(&mut self) {
        if self.view != View::Servers {
            return;
        }
        let Some(tab) = self.screenshot.as_ref().and_then(|p| p.cluster_tab) else {
            return;
        };
        let view = &mut self.cluster.view;
        view.tab = tab;
        let waiting = match tab {
            ClusterTab::Servers => view
                .servers
                .value
                .as_ref()
                .is_none_or(|rows| rows.iter().any(|r| r.in_msgs_per_s.is_none())),
            ClusterTab::Connections => view
                .connections
                .value
                .as_ref()
                .is_none_or(|(_, rows)| rows.iter().all(|r| r.in_msgs_per_s.is_none())),
            ClusterTab::Replicas => view.replicas.value.is_none(),
            ClusterTab::Links => view.links.value.is_none(),
            ClusterTab::Events => view.events.events.items().is_empty(),
        };
        if let Some(plan) = &mut self.screenshot {
            plan.app_waiting = waiting;
        }
    }
}
