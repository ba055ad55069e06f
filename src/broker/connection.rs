//! The task behind one connection: connect (with clear errors), follow the
//! client's events into the shared status, run subscriptions, obey commands.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ingest::{BusyPumps, pump};
use super::profile::{ConnectionProfile, InitialConnect, SubscriptionSpec, connect_options};
use super::status::{ConnectionShared, LinkState, ServerSummary, SubscriptionState};
use super::{BrokerEvent, Command, EventSink};
use crate::capture::ConnectionKey;
use crate::capture::record::now_timestamp;

pub(crate) struct ConnectionTask {
    pub key: ConnectionKey,
    pub profile: ConnectionProfile,
    pub mode: InitialConnect,
    pub shared: Arc<ConnectionShared>,
    pub sink: EventSink,
    pub commands: mpsc::Receiver<Command>,
    /// Where subscription tasks run (see `Broker::new`).
    pub ingest: tokio::runtime::Handle,
    /// The client once connected, for the event callback (made before it).
    pub client: Arc<std::sync::OnceLock<async_nats::Client>>,
}

/// How long "connected" waits for the server to confirm our subscriptions
/// (a flush). On a loaded 2-core machine 2 s was once not enough, and the
/// status said "connected" before messages could arrive.
const SUBSCRIBED_WAIT: Duration = Duration::from_secs(15);

/// The connection list is fetched every this many seconds.
const CONNZ_EVERY_TICKS: u64 = 5;

/// Longest wait between two first-connect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl ConnectionTask {
    pub async fn run(mut self) {
        let Some(client) = self.connect().await else {
            return;
        };
        self.shared.set_stats(client.statistics());
        let _ = self.client.set(client.clone());
        self.refresh_server(&client);
        let busy = Arc::new(BusyPumps::default());
        let mut pumps: HashMap<String, JoinHandle<()>> = HashMap::new();
        for spec in self.profile.subscriptions.clone() {
            self.subscribe(&client, spec, false, &busy, &mut pumps)
                .await;
        }
        // "Connected" means the server has our subscriptions: whatever is
        // published after the status says so is seen.
        if tokio::time::timeout(SUBSCRIBED_WAIT, client.flush())
            .await
            .is_err()
        {
            push_error(
                &self.shared,
                format!("the server did not confirm the subscriptions within {SUBSCRIBED_WAIT:?}"),
            );
        }
        self.shared.set_state(LinkState::Connected);
        self.sink
            .send(BrokerEvent::Link {
                connection: self.key,
                up: true,
                at: now_timestamp(),
            })
            .await;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    None | Some(Command::Close) => break,
                    Some(Command::Subscribe { spec, confirmed }) => {
                        self.subscribe(&client, spec, confirmed, &busy, &mut pumps).await;
                    }
                    Some(Command::Send { message, mode, reply }) => {
                        let client = client.clone();
                        let shared = self.shared.clone();
                        tokio::spawn(async move {
                            let _ = reply.send(super::act::send(&client, &shared, message, mode).await);
                        });
                    }
                    Some(Command::Job { job, progress }) => {
                        tokio::spawn(super::act::run_job(client.clone(), job, progress));
                    }
                    Some(Command::Trace { subject, headers, payload, reply }) => {
                        let client = client.clone();
                        let shared = self.shared.clone();
                        tokio::spawn(async move {
                            let _ = reply.send(trace(&client, &shared, subject, headers, payload).await);
                        });
                    }
                    Some(Command::Unsubscribe { pattern }) => {
                        if let Some(task) = pumps.remove(&pattern) {
                            task.abort();
                        }
                        self.shared.update(|s| s.subscriptions.retain(|x| x.pattern != pattern));
                    }
                },
                _ = tick.tick() => {
                    self.refresh_server(&client);
                    if ticks.is_multiple_of(CONNZ_EVERY_TICKS)
                        && let Some(url) = self.profile.monitoring_url.clone()
                    {
                        let shared = self.shared.clone();
                        tokio::task::spawn_blocking(move || shared.set_directory(super::connz::fetch(&url)));
                    }
                    ticks += 1;
                    // Settle the count once traffic pauses (trace replies and
                    // other in-flight messages may have been counted early).
                    let read = self.shared.messages_read();
                    if busy.all_idle() {
                        self.shared.measure_drops(read);
                    }
                }
            }
        }
        for (_, task) in pumps {
            task.abort();
        }
        self.shared.set_state(LinkState::Closed);
    }

    /// Connect once, or keep trying while the server is unreachable (GUI).
    /// Credential and configuration errors end the attempt: retrying cannot
    /// fix them.
    async fn connect(&mut self) -> Option<async_nats::Client> {
        let servers = self.profile.server_list();
        let mut attempt: u32 = 0;
        loop {
            let options = match connect_options(&self.profile).await {
                Ok(options) => options,
                Err(e) => {
                    self.shared.set_state(LinkState::Failed(e.to_string()));
                    return None;
                }
            };
            let options = self.with_callbacks(options);
            let addrs: Vec<async_nats::ServerAddr> =
                servers.iter().filter_map(|s| s.parse().ok()).collect();
            let error = match options.connect(addrs).await {
                Ok(client) => return Some(client),
                Err(e) => e,
            };
            use async_nats::ConnectErrorKind as Kind;
            let tls = self.profile.tls.require_tls
                || self.profile.tls.ca_file.is_some()
                || self.profile.tls.client_cert.is_some();
            let message = describe_connect_error(&error, &servers, tls);
            match error.kind() {
                Kind::AuthorizationViolation | Kind::Authentication => {
                    self.shared.set_state(LinkState::AuthError(message));
                    return None;
                }
                Kind::Tls | Kind::ServerParse => {
                    self.shared.set_state(LinkState::Failed(message));
                    return None;
                }
                _ if self.mode == InitialConnect::FailFast => {
                    self.shared.set_state(LinkState::Failed(message));
                    return None;
                }
                _ => {}
            }
            attempt += 1;
            self.shared.set_state(LinkState::Connecting {
                attempt,
                last_error: Some(message),
            });
            let backoff = (Duration::from_millis(250) * attempt).min(MAX_BACKOFF);
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                command = self.commands.recv() => {
                    if matches!(command, None | Some(Command::Close)) {
                        self.shared.set_state(LinkState::Closed);
                        return None;
                    }
                    // Subscriptions asked for while connecting are kept.
                    if let Some(Command::Subscribe { spec, .. }) = command {
                        self.profile.subscriptions.push(spec);
                    }
                }
            }
        }
    }

    fn with_callbacks(&self, options: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
        let shared = self.shared.clone();
        let sink = self.sink.clone();
        let key = self.key;
        let delay_shared = self.shared.clone();
        let client = self.client.clone();
        // The first `Connected` is the initial connection, which `run`
        // reports itself once the subscriptions are in place.
        let initial_seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        options
            .event_callback(move |event| {
                let shared = shared.clone();
                let sink = sink.clone();
                let client = client.get().cloned();
                let initial = matches!(event, async_nats::Event::Connected)
                    && !initial_seen.swap(true, std::sync::atomic::Ordering::Relaxed);
                async move {
                    if initial {
                        return;
                    }
                    // After a reconnect the client subscribes again; as at
                    // first, "connected" waits until the server has them.
                    if let (async_nats::Event::Connected, Some(client)) = (&event, client) {
                        let _ = tokio::time::timeout(SUBSCRIBED_WAIT, client.flush()).await;
                    }
                    on_client_event(event, key, &shared, &sink).await;
                }
            })
            .reconnect_delay_callback(move |attempt| {
                delay_shared.set_state(LinkState::Reconnecting { attempt });
                (Duration::from_millis(100) * attempt as u32).min(Duration::from_secs(2))
            })
    }

    fn refresh_server(&self, client: &async_nats::Client) {
        if let Some(info) = client.try_server_info() {
            let summary = ServerSummary {
                name: info.server_name.clone(),
                version: info.version.clone(),
                address: format!("{}:{}", info.host, info.port),
                jetstream: info.jetstream,
            };
            self.shared.update(|s| {
                if s.server.as_ref() != Some(&summary) {
                    s.server = Some(summary);
                }
            });
        }
    }

    async fn subscribe(
        &self,
        client: &async_nats::Client,
        spec: SubscriptionSpec,
        confirmed: bool,
        busy: &Arc<BusyPumps>,
        pumps: &mut HashMap<String, JoinHandle<()>>,
    ) {
        if pumps.contains_key(&spec.pattern) {
            return;
        }
        let literal = !crate::capture::subject::has_wildcards(&spec.pattern);
        if literal
            && !confirmed
            && let Some(consumer) = self.push_consumer_bound_to(&spec.pattern).await
        {
            self.sink
                .send(BrokerEvent::ConfirmLiteral {
                    connection: self.key,
                    spec,
                    consumer,
                })
                .await;
            return;
        }
        let subscribed = match &spec.queue_group {
            Some(group) => {
                client
                    .queue_subscribe(spec.pattern.clone(), group.clone())
                    .await
            }
            None => client.subscribe(spec.pattern.clone()).await,
        };
        let state = SubscriptionState {
            pattern: spec.pattern.clone(),
            queue_group: spec.queue_group.clone(),
            active: subscribed.is_ok(),
            error: subscribed.as_ref().err().map(|e| e.to_string()),
        };
        self.shared.update(|s| {
            s.subscriptions.retain(|x| x.pattern != state.pattern);
            s.subscriptions.push(state);
        });
        if let Ok(subscriber) = subscribed {
            let task = self.ingest.spawn(pump(
                subscriber,
                self.key,
                self.shared.clone(),
                busy.clone(),
                self.sink.clone(),
            ));
            pumps.insert(spec.pattern, task);
        }
    }

    /// The `stream/consumer` of a push consumer whose deliver subject is
    /// exactly `subject`, if any. Uses a short-lived connection of its own so
    /// that its API replies do not count as monitor traffic.
    async fn push_consumer_bound_to(&self, subject: &str) -> Option<String> {
        let lookup = async {
            let options = connect_options(&self.profile).await.ok()?;
            let client = options.connect(self.profile.server_list()).await.ok()?;
            let js = async_nats::jetstream::new(client);
            let names: Vec<String> = js.stream_names().try_collect().await.ok()?;
            for name in names {
                let Ok(mut stream) = js.get_stream(&name).await else {
                    continue;
                };
                let mut consumers = stream.consumers();
                while let Ok(Some(info)) = consumers.try_next().await {
                    if info.config.deliver_subject.as_deref() == Some(subject) {
                        return Some(format!("{name}/{}", info.name));
                    }
                }
                let _ = stream.info().await;
            }
            None
        };
        tokio::time::timeout(Duration::from_secs(3), lookup)
            .await
            .ok()
            .flatten()
    }
}

/// How long to wait for the first trace event, and for more after it (one
/// per server the message crosses).
const TRACE_FIRST_WAIT: Duration = Duration::from_secs(2);
const TRACE_MORE_WAIT: Duration = Duration::from_millis(250);

async fn trace(
    client: &async_nats::Client,
    shared: &ConnectionShared,
    subject: String,
    headers: Vec<(String, String)>,
    payload: bytes::Bytes,
) -> Result<Vec<crate::flow::trace::TraceEvent>, String> {
    use futures_util::StreamExt;
    if !client.is_server_compatible(2, 11, 0) {
        return Err(format!(
            "message tracing needs nats-server 2.11 or newer; this server is {}",
            client.server_info().version
        ));
    }
    let inbox = client.new_inbox();
    let mut events_sub = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    let mut map = super::headers::HeaderNames::default().map(
        headers
            .iter()
            .filter(|(name, _)| !name.starts_with("Nats-Trace-"))
            .map(|(n, v)| (n.as_str(), v.as_str())),
    )?;
    map.insert("Nats-Trace-Dest", inbox.as_str());
    map.insert("Nats-Trace-Only", "true");
    client
        .publish_with_headers(subject, map, payload)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tokio::time::timeout(TRACE_FIRST_WAIT, client.flush()).await;
    let mut events = Vec::new();
    let mut wait = TRACE_FIRST_WAIT;
    while let Ok(Some(message)) = tokio::time::timeout(wait, events_sub.next()).await {
        shared.add_delivered(1);
        events.push(crate::flow::trace::parse_trace_event(&message.payload)?);
        wait = TRACE_MORE_WAIT;
    }
    if events.is_empty() {
        Err(format!(
            "the server sent no trace event within {TRACE_FIRST_WAIT:?}"
        ))
    } else {
        Ok(events)
    }
}

async fn on_client_event(
    event: async_nats::Event,
    key: ConnectionKey,
    shared: &ConnectionShared,
    sink: &EventSink,
) {
    use async_nats::Event;
    let now = now_timestamp();
    match event {
        Event::Connected => {
            shared.set_state(LinkState::Connected);
            sink.send(BrokerEvent::Link {
                connection: key,
                up: true,
                at: now,
            })
            .await;
        }
        Event::Disconnected => {
            if !matches!(shared.state(), LinkState::Reconnecting { .. }) {
                shared.set_state(LinkState::Reconnecting { attempt: 0 });
            }
            sink.send(BrokerEvent::Link {
                connection: key,
                up: false,
                at: now,
            })
            .await;
        }
        Event::SlowConsumer(_) => shared.update(|s| s.slow_consumer_events += 1),
        Event::ServerError(async_nats::ServerError::AuthorizationViolation) => {
            shared.set_state(LinkState::AuthError("authorization violation".into()));
            push_error(shared, "authorization violation".into());
        }
        Event::ServerError(e) => push_error(shared, e.to_string()),
        Event::ClientError(e) => push_error(shared, e.to_string()),
        Event::LameDuckMode => push_error(shared, "server entered lame duck mode".into()),
        Event::Closed => shared.set_state(LinkState::Closed),
        Event::Draining => {}
    }
}

fn push_error(shared: &ConnectionShared, message: String) {
    const KEEP: usize = 20;
    shared.update(|s| {
        s.server_errors.push(message);
        if s.server_errors.len() > KEEP {
            s.server_errors.remove(0);
        }
    });
}

/// A sentence a user can act on, naming the servers tried.
pub fn describe_connect_error(
    error: &async_nats::ConnectError,
    servers: &[String],
    tls: bool,
) -> String {
    use async_nats::ConnectErrorKind as Kind;
    let servers = servers.join(", ");
    match error.kind() {
        Kind::Io if tls => format!(
            "TLS with {servers} failed: {error} (is TLS enabled on the server, and is it the right port?)"
        ),
        Kind::AuthorizationViolation => {
            format!("{servers} refused the credentials (authorization violation)")
        }
        Kind::Authentication => format!("could not authenticate to {servers}: {error}"),
        Kind::Tls => format!("TLS with {servers} failed: {error}"),
        Kind::TimedOut => format!("{servers} did not answer in time"),
        Kind::Io => format!("cannot reach {servers}: {error}"),
        Kind::Dns => format!("cannot resolve {servers}: {error}"),
        _ => format!("cannot connect to {servers}: {error}"),
    }
}
