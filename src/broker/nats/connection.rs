//! The task behind one connection: connect (with clear errors), follow the
//! client's events into the shared status, run subscriptions, obey commands.

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::options::connect_options;
use super::profile::{ConnectionProfile, InitialConnect, SubscriptionSpec};
use super::status::{ConnectionShared, LinkState};
use super::wire::session::{EndedLink, WireCommand, WireSession, push_error};
use super::{BrokerEvent, Command, EventSink};
use crate::capture::ConnectionKey;
use crate::capture::now_timestamp;
use crate::server_answers::AccountCounters;

pub(crate) struct ConnectionTask {
    pub key: ConnectionKey,
    pub profile: ConnectionProfile,
    pub mode: InitialConnect,
    pub shared: Arc<ConnectionShared>,
    pub sink: EventSink,
    pub commands: mpsc::Receiver<Command>,
    /// Where the monitoring session runs (see `Broker::new`).
    pub ingest: tokio::runtime::Handle,
}

/// A monitoring link that panicked starts again after this long.
const PANIC_RESTART_DELAY: Duration = Duration::from_millis(200);

/// The connection list is fetched every this many seconds.
const CONNZ_EVERY_TICKS: u64 = 5;
/// After the servers would not list connections, ask this many times less
/// often.
const CONNZ_RETRY_FACTOR: u64 = 12;

/// The monitoring session of the moment, and how to reach it.
struct Wire {
    commands: mpsc::Sender<WireCommand>,
    task: JoinHandle<()>,
    running: bool,
}

impl ConnectionTask {
    pub async fn run(mut self) {
        let (ended_tx, mut ended_rx) = mpsc::channel(16);
        let mut wire = self.start_wire(ended_tx.clone(), Duration::ZERO);
        // Publishing, requests and the JetStream API go through async-nats
        // on a connection of their own, opened when first needed.
        let publisher = Arc::new(Publisher::new(self.profile.clone(), self.shared.clone()));
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        // Set when the servers would not list connections over NATS: asked
        // again only now and then.
        let connz_over_nats_failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut ticks: u64 = 0;
        // The account's counters when the link came up: a slow-consumer
        // cut shows as a rise (see `explain_cut`).
        let counters: Arc<tokio::sync::Mutex<Option<AccountCounters>>> = Arc::default();
        let mut counted_once = false;
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    None | Some(Command::Close) => break,
                    Some(Command::Subscribe { spec, confirmed }) => {
                        self.subscribe(&wire, &publisher, spec, confirmed).await;
                    }
                    Some(Command::InjectPanic) => {
                        let _ = wire.commands.send(WireCommand::Panic).await;
                    }
                    Some(Command::Unsubscribe { pattern }) => {
                        self.profile.subscriptions.retain(|s| s.pattern != pattern);
                        let _ = wire.commands.send(WireCommand::Unsubscribe(pattern)).await;
                    }
                    Some(Command::Send { message, mode, reply }) => {
                        let publisher = publisher.clone();
                        tokio::spawn(async move {
                            let outcome = match publisher.client().await {
                                Ok(client) => super::send::send(&client, message, mode).await,
                                Err(e) => super::send::SendOutcome::Failed(e.to_string()),
                            };
                            let _ = reply.send(outcome);
                        });
                    }
                    Some(Command::Job { job, progress }) => {
                        let publisher = publisher.clone();
                        tokio::spawn(async move {
                            match publisher.client().await {
                                Ok(client) => super::send::run_job(client, job, progress).await,
                                Err(e) => progress.abandon(e.to_string()),
                            }
                        });
                    }
                    Some(Command::Client { reply }) => {
                        let publisher = publisher.clone();
                        tokio::spawn(async move {
                            let _ = reply.send(publisher.client().await);
                        });
                    }
                    Some(Command::ReadClient { reply }) => {
                        let publisher = publisher.clone();
                        tokio::spawn(async move {
                            let _ = reply.send(publisher.reader().await);
                        });
                    }
                    Some(Command::Trace { subject, headers, payload, reply }) => {
                        let publisher = publisher.clone();
                        tokio::spawn(async move {
                            let answer = match publisher.client().await {
                                Ok(client) => trace(&client, subject, headers, payload).await,
                                Err(e) => Err(TraceError::Connection(e)),
                            };
                            let _ = reply.send(answer);
                        });
                    }
                },
                done = &mut wire.task, if wire.running => {
                    wire.running = false;
                    match done {
                        Err(e) if e.is_panic() => {
                            // A bug of ours must not leave the status saying
                            // "connected": mark the gap and start again.
                            let what = e
                                .into_panic()
                                .downcast_ref::<&str>()
                                .map(|s| (*s).to_owned())
                                .unwrap_or_else(|| "a panic".into());
                            push_error(&self.shared, format!("the monitoring link failed ({what}); starting it again"));
                            self.shared.link_down();
                            self.shared.set_state(LinkState::Reconnecting { attempt: 0 });
                            self.sink
                                .send(BrokerEvent::Link { connection: self.key, up: false, at: now_timestamp(), reason: Some("the monitoring link failed".into()) })
                                .await;
                            wire = self.start_wire(ended_tx.clone(), PANIC_RESTART_DELAY);
                        }
                        // The session gave up (credentials, configuration) or
                        // was closed: its state says why.
                        _ => {}
                    }
                }
                Some(ended) = ended_rx.recv() => {
                    let shared = self.shared.clone();
                    let monitoring = self.profile.monitoring_url.clone();
                    let publisher = publisher.clone();
                    let counters = counters.clone();
                    tokio::spawn(async move {
                        explain_cut(ended, monitoring, &publisher, &shared, &counters).await;
                    });
                }
                _ = tick.tick() => {
                    if !counted_once && self.shared.state().is_connected() {
                        counted_once = true;
                        let (publisher, counters) = (publisher.clone(), counters.clone());
                        tokio::spawn(async move {
                            let now = account_counters(&publisher).await;
                            let mut slot = counters.lock().await;
                            *slot = slot.or(now);
                        });
                    }
                    // The list names requesters and workers in the window;
                    // a headless command (which fails fast) never shows it,
                    // so it never asks (620 KB a poll with 1,000 clients).
                    if self.mode == InitialConnect::Retry && ticks.is_multiple_of(CONNZ_EVERY_TICKS) {
                        self.refresh_directory(&publisher, ticks, &connz_over_nats_failed);
                    }
                    ticks += 1;
                }
            }
        }
        wire.task.abort();
        publisher.close().await;
        self.shared.set_state(LinkState::Closed);
    }

    /// The connection list that names requesters and workers: from the
    /// monitoring URL when one is given, else from every server over NATS
    /// (`PING.CONNZ`: the system account's, or the account's own).
    fn refresh_directory(
        &self,
        publisher: &Arc<Publisher>,
        ticks: u64,
        failed_before: &Arc<std::sync::atomic::AtomicBool>,
    ) {
        use std::sync::atomic::Ordering;
        let shared = self.shared.clone();
        if let Some(url) = self.profile.monitoring_url.clone() {
            tokio::task::spawn_blocking(move || shared.set_directory(super::connz::fetch(&url)));
            return;
        }
        let due = !failed_before.load(Ordering::Relaxed)
            || ticks.is_multiple_of(CONNZ_EVERY_TICKS * CONNZ_RETRY_FACTOR);
        if !due || !shared.state().is_connected() {
            return;
        }
        let (publisher, failed) = (publisher.clone(), failed_before.clone());
        tokio::spawn(async move {
            let answer = match publisher.client().await {
                Ok(client) => super::servers::connz_answers(&client, true)
                    .await
                    .map(|(_, answers)| {
                        crate::server_answers::Directory::from_connz_answers(&answers)
                    })
                    .map_err(super::connz::ConnzError::from),
                Err(e) => Err(super::connz::ConnzError::from(
                    super::ServersError::Request(e.to_string()),
                )),
            };
            failed.store(answer.is_err(), Ordering::Relaxed);
            shared.set_directory(answer);
        });
    }

    fn start_wire(&self, ended: mpsc::Sender<EndedLink>, start_delay: Duration) -> Wire {
        let (commands, command_rx) = mpsc::channel(64);
        let session = WireSession {
            key: self.key,
            profile: self.profile.clone(),
            mode: self.mode,
            shared: self.shared.clone(),
            sink: self.sink.clone(),
            commands: command_rx,
            ended_links: ended,
            start_delay,
        };
        Wire {
            commands,
            task: self.ingest.spawn(session.run()),
            running: true,
        }
    }

    async fn subscribe(
        &mut self,
        wire: &Wire,
        publisher: &Publisher,
        spec: SubscriptionSpec,
        confirmed: bool,
    ) {
        if self
            .profile
            .subscriptions
            .iter()
            .any(|s| s.pattern == spec.pattern)
        {
            return;
        }
        let literal = !crate::capture::has_wildcards(&spec.pattern);
        if literal
            && !confirmed
            && let Some(consumer) = self.push_consumer_bound_to(publisher, &spec.pattern).await
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
        self.profile.subscriptions.push(spec.clone());
        let _ = wire.commands.send(WireCommand::Subscribe(spec)).await;
    }

    /// The `stream/consumer` of a push consumer whose deliver subject is
    /// exactly `subject`, if any. Uses a short-lived connection of its own so
    /// that its API replies do not count as monitor traffic.
    async fn push_consumer_bound_to(&self, publisher: &Publisher, subject: &str) -> Option<String> {
        let lookup = async {
            let client = publisher.client().await.ok()?;
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

/// The async-nats client for everything eventscope sends (publish,
/// request, replay, JetStream, tracing), opened on first use: a headless
/// `record` never opens it.
struct Publisher {
    profile: ConnectionProfile,
    shared: Arc<ConnectionShared>,
    client: tokio::sync::OnceCell<async_nats::Client>,
    /// The window's read client (KV, object stores): see `own`.
    reader: tokio::sync::OnceCell<async_nats::Client>,
}

impl Publisher {
    fn new(profile: ConnectionProfile, shared: Arc<ConnectionShared>) -> Self {
        Self {
            profile,
            shared,
            client: tokio::sync::OnceCell::new(),
            reader: tokio::sync::OnceCell::new(),
        }
    }

    async fn client(&self) -> Result<async_nats::Client, ClientError> {
        self.client
            .get_or_try_init(|| async {
                let options = connect_options(&self.profile).await?;
                let shared = self.shared.clone();
                let options = options.event_callback(move |event| {
                    let shared = shared.clone();
                    async move {
                        use async_nats::Event;
                        match event {
                            Event::ServerError(e) => {
                                push_error(&shared, format!("publishing connection: {e}"))
                            }
                            Event::ClientError(e) => {
                                push_error(&shared, format!("publishing connection: {e}"))
                            }
                            _ => {}
                        }
                    }
                });
                connect_with(&self.profile, options).await
            })
            .await
            .cloned()
    }

    /// A client for the window's own reads through async-nats' KV and
    /// object store clients, with an inbox prefix of its own (`own`
    /// knows its reads by it), opened on first use.
    async fn reader(&self) -> Result<async_nats::Client, ClientError> {
        self.reader
            .get_or_try_init(|| async {
                let options = connect_options(&self.profile)
                    .await?
                    .name(format!("eventscope:{}:reads", self.profile.name))
                    .custom_inbox_prefix(super::own::reader_prefix());
                connect_with(&self.profile, options).await
            })
            .await
            .cloned()
    }

    async fn close(&self) {
        for client in [self.client.get(), self.reader.get()].into_iter().flatten() {
            let _ = tokio::time::timeout(Duration::from_secs(1), client.drain()).await;
        }
    }
}

const PUBLISHER_CONNECT: Duration = Duration::from_secs(10);

/// Why an async-nats client (publishing, requests, the JetStream API) could
/// not be had.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Profile(#[from] super::profile::ProfileError),
    /// The servers' answer, in a sentence naming them.
    #[error("{0}")]
    Refused(String),
    #[error("the connection to {servers} did not come up within {after:?}")]
    TimedOut { servers: String, after: Duration },
    #[error(transparent)]
    Broker(#[from] super::BrokerError),
    #[error("the connection has ended")]
    Ended,
}

/// An async-nats client for headless requests (the JetStream API, the
/// flight recorder): one attempt, and a sentence naming the servers when
/// it fails.
pub async fn open_client(profile: &ConnectionProfile) -> Result<async_nats::Client, ClientError> {
    let options = connect_options(profile).await?;
    connect_with(profile, options).await
}

/// As `open_client`, with replies on inboxes under `prefix` (a monitor of
/// `>` on the same server can then tell this client's replies apart).
pub async fn open_client_with_inbox(
    profile: &ConnectionProfile,
    prefix: &str,
) -> Result<async_nats::Client, ClientError> {
    let options = connect_options(profile).await?;
    connect_with(profile, options.custom_inbox_prefix(prefix)).await
}

async fn connect_with(
    profile: &ConnectionProfile,
    options: async_nats::ConnectOptions,
) -> Result<async_nats::Client, ClientError> {
    let servers = profile.server_list();
    let tls = profile.tls.wants_tls();
    match tokio::time::timeout(PUBLISHER_CONNECT, options.connect(servers.clone())).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(ClientError::Refused(describe_connect_error(
            &e, &servers, tls,
        ))),
        Err(_) => Err(ClientError::TimedOut {
            servers: servers.join(", "),
            after: PUBLISHER_CONNECT,
        }),
    }
}

/// After a link ended: did the server cut us off as a slow consumer, and
/// how many messages did it send that never arrived? The monitoring port,
/// when there is one, names the closed connection and what was sent on
/// it. Over NATS, nats-server 2.15.1 lists no closed connection to an
/// account, but its counters (`$SYS.REQ.ACCOUNT.PING.STATZ`) say when the
/// account's slow-consumer count rose and how many messages its clients
/// published while this monitor was away.
async fn explain_cut(
    ended: EndedLink,
    monitoring: Option<String>,
    publisher: &Publisher,
    shared: &ConnectionShared,
    counters: &tokio::sync::Mutex<Option<AccountCounters>>,
) {
    let mut before = counters.lock().await;
    let at_end = account_counters(publisher).await;
    let closed = match (monitoring, ended.client_id) {
        (Some(url), Some(cid)) => {
            tokio::task::spawn_blocking(move || super::connz::closed_connection(&url, cid))
                .await
                .ok()
                .flatten()
        }
        _ => None,
    };
    let said_slow = ended.reason.to_ascii_lowercase().contains("slow consumer");
    let closed_slow = closed
        .as_ref()
        .is_some_and(|c| c.reason.to_ascii_lowercase().contains("slow consumer"));
    let count_rose =
        matches!((*before, at_end), (Some(b), Some(e)) if e.slow_consumers > b.slow_consumers);
    if !(said_slow || closed_slow || count_rose) {
        if let Some(closed) = closed {
            push_error(
                shared,
                format!("the server closed the link: {}", closed.reason),
            );
        }
        *before = at_end.or(*before);
        return;
    }
    // What was published while the link was down: from the end to the
    // moment it is back.
    let mut waited = 0;
    while !shared.state().is_connected() && waited < 600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let back = account_counters(publisher).await;
    let published_meanwhile = match (at_end, back) {
        // Less our own second question, which the count includes.
        (Some(end), Some(back)) => Some(
            back.received_msgs
                .saturating_sub(end.received_msgs)
                .saturating_sub(1),
        ),
        _ => None,
    };
    let in_buffer = closed
        .as_ref()
        .map(|c| c.out_msgs.saturating_sub(ended.received));
    let mut said = vec![match (&closed, count_rose) {
        (Some(c), _) => format!(
            "the server cut this monitor off as a slow consumer ({}): it sent {} messages on that link, {} arrived",
            c.reason, c.out_msgs, ended.received
        ),
        (None, true) => "the server cut this monitor off as a slow consumer (the account's slow-consumer count rose when the link ended)".to_owned(),
        (None, false) => "the server cut this monitor off as a slow consumer".to_owned(),
    }];
    match in_buffer {
        Some(n) => said.push(format!("{n} lost in its buffer")),
        None => {
            said.push("how many were lost in its buffer is unknown without --monitoring-url".into())
        }
    }
    if let Some(n) = published_meanwhile {
        said.push(format!(
            "{n} published in the account while this monitor reconnected (missed; the server's count)"
        ));
    }
    let lost = match (in_buffer, published_meanwhile) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    if lost.is_none() {
        said.push("no statistics were reachable".into());
    }
    // The sentence first, then the count: whoever sees the count (the
    // status bar, a test) finds the sentence already there.
    push_error(shared, said.join("; "));
    shared.add_server_cut(lost);
    *before = back.or(at_end).or(*before);
}

/// The account's counters, asked over NATS; `None` when the server does
/// not answer (an older server, no permission).
async fn account_counters(publisher: &Publisher) -> Option<AccountCounters> {
    use futures_util::StreamExt;
    let client = publisher.client().await.ok()?;
    let inbox = super::own::fresh_inbox();
    let mut answers = client.subscribe(inbox.clone()).await.ok()?;
    client
        .publish_with_reply("$SYS.REQ.ACCOUNT.PING.STATZ", inbox, "{}".into())
        .await
        .ok()?;
    let answer = tokio::time::timeout(Duration::from_secs(2), answers.next())
        .await
        .ok()??;
    crate::server_answers::account_counters(&answer.payload)
}

/// How long to wait for the first trace event, and for more after it (one
/// per server the message crosses).
const TRACE_FIRST_WAIT: Duration = Duration::from_secs(2);
const TRACE_MORE_WAIT: Duration = Duration::from_millis(250);

/// The server's trace events, or why there are none.
pub type TraceAnswer = Result<Vec<crate::server_answers::TraceEvent>, TraceError>;

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("message tracing needs nats-server 2.11 or newer; this server is {0}")]
    OldServer(String),
    #[error("cannot open the publishing connection: {0}")]
    Connection(#[from] ClientError),
    #[error("the connection ended before the trace came back")]
    Ended,
    #[error(transparent)]
    Subscribe(#[from] async_nats::SubscribeError),
    #[error(transparent)]
    Publish(#[from] async_nats::PublishError),
    #[error(transparent)]
    Header(#[from] super::HeaderError),
    #[error(transparent)]
    Answer(#[from] crate::server_answers::AnswerError),
    #[error("the server sent no trace event within {0:?}")]
    NoEvents(Duration),
}

async fn trace(
    client: &async_nats::Client,
    subject: String,
    headers: Vec<(String, String)>,
    payload: bytes::Bytes,
) -> TraceAnswer {
    use futures_util::StreamExt;
    if !client.is_server_compatible(2, 11, 0) {
        return Err(TraceError::OldServer(client.server_info().version));
    }
    // A fresh inbox of our own: a `>` capture leaves the answers out.
    let inbox = super::own::fresh_inbox();
    let mut events_sub = client.subscribe(inbox.clone()).await?;
    let mut map = super::headers::HeaderNames::default().map(
        headers
            .iter()
            .filter(|(name, _)| !name.starts_with("Nats-Trace-"))
            .map(|(n, v)| (n.as_str(), v.as_str())),
    )?;
    map.insert("Nats-Trace-Dest", inbox.as_str());
    map.insert("Nats-Trace-Only", "true");
    client.publish_with_headers(subject, map, payload).await?;
    let _ = tokio::time::timeout(TRACE_FIRST_WAIT, client.flush()).await;
    let mut events = Vec::new();
    let mut wait = TRACE_FIRST_WAIT;
    while let Ok(Some(message)) = tokio::time::timeout(wait, events_sub.next()).await {
        events.push(crate::server_answers::parse_trace_event(&message.payload)?);
        wait = TRACE_MORE_WAIT;
    }
    if events.is_empty() {
        Err(TraceError::NoEvents(TRACE_FIRST_WAIT))
    } else {
        Ok(events)
    }
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
        // A certificate problem is named as such; the port hint is only
        // for a handshake that never got that far.
        Kind::Io
            if tls
                && error
                    .to_string()
                    .to_ascii_lowercase()
                    .contains("certificate") =>
        {
            format!(
                "TLS with {servers} failed: the server's certificate was not accepted ({error})"
            )
        }
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
