//! The Cluster view's work: what the connection can see, asked once per
//! connection; the tab on screen polled every 2 s (rates from two answers);
//! the event feed subscribed once the view is first shown, kept running,
//! its entries bounded.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::EventscopeApp;
use crate::broker::{ConnectionScope, Visibility};
use crate::capture::ConnectionKey;
use crate::server_answers::{ConnectionRow, MetaGroup, ServerEvent, ServerRow, StreamGroup};
use crate::ui::{ClusterTab, ClusterView, View};

const POLL_EVERY: f64 = 2.0;

enum ClusterAnswer {
    /// What one connection can see (to choose the one to look through).
    SeenFrom(ConnectionKey, Visibility),
    /// The server table, and a line when it is one server's only.
    Servers(Result<(Vec<ServerRow>, Option<String>), String>),
    Connections(Result<(ConnectionScope, Vec<ConnectionRow>), String>),
    Replicas(Result<(Option<MetaGroup>, Vec<StreamGroup>), String>),
    Links(Result<Vec<crate::server_answers::LinkRow>, String>),
    Event(ServerEvent),
    EventsEnded(String),
    Unavailable(String),
}

pub(super) struct ClusterWork {
    pub view: ClusterView,
    answers: (mpsc::Sender<ClusterAnswer>, mpsc::Receiver<ClusterAnswer>),
    asked_of: Option<ConnectionKey>,
    last_poll: f64,
    waiting: bool,
    /// When the last servers / connections answers came (for rates).
    servers_at: Option<Instant>,
    connections_at: Option<Instant>,
    events: Option<tokio::task::JoinHandle<()>>,
    /// What each connection can see, once asked (`None`: asked).
    seen: std::collections::HashMap<ConnectionKey, Option<Visibility>>,
}

impl Default for ClusterWork {
    fn default() -> Self {
        Self {
            view: ClusterView::default(),
            answers: mpsc::channel(),
            asked_of: None,
            last_poll: f64::NEG_INFINITY,
            waiting: false,
            servers_at: None,
            connections_at: None,
            events: None,
            seen: Default::default(),
        }
    }
}

impl Drop for ClusterWork {
    fn drop(&mut self) {
        if let Some(task) = &self.events {
            task.abort();
        }
    }
}

fn text<T>(r: Result<T, crate::broker::ServersError>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

impl EventscopeApp {
    fn cluster_spawn<F, Fut>(&self, work: F)
    where
        F: FnOnce(async_nats::Client) -> Fut + Send + 'static,
        Fut: Future<Output = ClusterAnswer> + Send,
    {
        let key = self.cluster_connection();
        self.spawn_on(
            key,
            &self.cluster.answers.0,
            ClusterAnswer::Unavailable,
            work,
        );
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
                let monitoring = profile.monitoring_url.is_some();
                self.spawn_on(
                    Some(key),
                    &self.cluster.answers.0,
                    ClusterAnswer::Unavailable,
                    move |client| async move {
                        ClusterAnswer::SeenFrom(
                            key,
                            crate::broker::visibility(&client, monitoring).await,
                        )
                    },
                );
            }
        }
        self.cluster.view.through = through;
    }

    /// Each frame: on a new connection, what it can see and the event
    /// feed; while the view is shown, its tab every 2 s; the answers.
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
                self.start_event_feed(ctx);
            }
            let time = ctx.input(|i| i.time);
            if !self.cluster.waiting && time - self.cluster.last_poll >= POLL_EVERY {
                self.cluster.last_poll = time;
                self.cluster.waiting = true;
                self.poll_cluster_tab();
            }
            ctx.request_repaint_after(Duration::from_secs_f64(POLL_EVERY));
        }
        while let Ok(answer) = self.cluster.answers.1.try_recv() {
            self.on_cluster_answer(answer);
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
        match view.tab {
            ClusterTab::Servers => {
                view.servers.loading = true;
                let key = self.cluster_connection();
                let monitoring = self
                    .session
                    .profiles()
                    .iter()
                    .find(|(k, _)| Some(*k) == key)
                    .and_then(|(_, p)| p.monitoring_url.clone());
                self.cluster_spawn(|client| async move {
                    ClusterAnswer::Servers(text(
                        crate::broker::server_table_or_one(&client, monitoring).await,
                    ))
                });
            }
            ClusterTab::Connections => {
                view.connections.loading = true;
                self.cluster_spawn(|client| async move {
                    ClusterAnswer::Connections(text(
                        crate::broker::connections_report(&client).await,
                    ))
                });
            }
            ClusterTab::Replicas => {
                view.replicas.loading = true;
                self.cluster_spawn(|client| async move {
                    ClusterAnswer::Replicas(
                        crate::jetstream::replica_groups(&client)
                            .await
                            .map_err(|e| e.to_string()),
                    )
                });
            }
            ClusterTab::Links => {
                view.links.loading = true;
                self.cluster_spawn(|client| async move {
                    ClusterAnswer::Links(text(crate::broker::links(&client).await))
                });
            }
            ClusterTab::Events => self.cluster.waiting = false,
        }
    }

    /// Subscribe to the advisories; each comes back as it arrives.
    fn start_event_feed(&mut self, ctx: &egui::Context) {
        if let Some(task) = self.cluster.events.take() {
            task.abort();
        }
        let Some(key) = self.cluster_connection() else {
            return;
        };
        self.cluster.view.events.running = true;
        let client = self.session.nats_client(key);
        let tx = self.cluster.answers.0.clone();
        let ctx = ctx.clone();
        self.cluster.events = Some(self.session.spawn(async move {
            let fed = async {
                let client = client.await.map_err(|e| e.to_string())?;
                if !crate::broker::visibility(&client, false)
                    .await
                    .system_account
                {
                    return Err(
                        "Connect, disconnect and auth-error events flow in the system account \
                         only: connect with a system-account user to see them."
                            .to_owned(),
                    );
                }
                let mut events = crate::broker::server_events(&client)
                    .await
                    .map_err(|e| e.to_string())?;
                while let Some(event) = events.next().await {
                    if tx.send(ClusterAnswer::Event(event)).is_err() {
                        return Ok(());
                    }
                    ctx.request_repaint();
                }
                Err("the server ended the subscription".to_owned())
            };
            if let Err(why) = fed.await {
                let _ = tx.send(ClusterAnswer::EventsEnded(why));
            }
        }));
    }

    fn on_cluster_answer(&mut self, answer: ClusterAnswer) {
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
                let result = result.map(|(rows, said)| {
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
                let result = result.map(|(scope, rows)| {
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
                view.replicas.answer(result);
            }
            ClusterAnswer::Links(result) => {
                work.waiting = false;
                view.links.answer(result);
            }
            ClusterAnswer::Event(event) => view.events.events.push(event),
            ClusterAnswer::EventsEnded(why) => {
                view.events.running = false;
                view.events.error = Some(why);
            }
            ClusterAnswer::Unavailable(why) => {
                work.waiting = false;
                view.servers.error = Some(why);
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
