//! The network side: one background task per connection on a tokio runtime,
//! subscriptions that hand records over in batches, and the commands the UI
//! (or a headless command) sends. Nothing here blocks the caller's thread.
//!
//! Broker-neutral here: the runtime, the event channel with its in-flight
//! allowance and disk spool (`spool`), each connection's status and losses
//! (`status`), the connection form's data (`profile`). Each broker's
//! connection lives in a room of its own, with its client crate: `nats/`
//! (the monitoring link read off the wire, async-nats for the rest),
//! `mqtt/` (rumqttc's codec under a session of our own), `amqp/` (lapin,
//! a private queue and RabbitMQ's firehose). Shared by all:
//! `reading` (records on their way to the consumer), `tls`.

pub(crate) mod amqp;
pub(crate) mod kafka;
pub(crate) mod mqtt;
pub(crate) mod nats;
mod profile;
pub(crate) mod reading;
mod retrying;
pub(crate) mod spool;
mod status;
pub(crate) mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::mpsc;

use crate::capture::{BrokerKind, ConnectionKey, Record, Timestamp};
pub use amqp::{AmqpLinkError, AmqpPublishError};
pub use kafka::{KafkaLinkError, KafkaPublishError, KafkaSendError};
pub use mqtt::{MqttFields, MqttLinkError, MqttSendError};
pub use nats::connection::{
    ClientError, TraceAnswer, TraceError, open_client, open_client_with_inbox,
};
pub use nats::connz::ConnzError;
pub use nats::contexts::{
    ContextError, find_context, load_contexts, nats_config_dir, selected_context,
};
pub use nats::headers::{HeaderError, HeaderNames};
/// For the JetStream API's requests and the capture stream (see `own`).
pub(crate) use nats::own::{
    expect_event as note_own_event, expect_request as note_own_api_request,
    random_token as own_token, reading as note_own_reads,
};
pub use nats::send::{JobProgress, JobSpec, SendMode, SendOutcome, SourceError, WireMessage};
pub use nats::servers::{
    ConnectionScope, ServersError, Visibility, connections_report, connz_answers, links,
    replica_groups, server_events, server_table, server_table_or_one, visibility,
};
pub use nats::services::services;
pub use nats::wire::{FetchAnswer, FetchError, Fetcher};
pub use profile::{
    Auth, ConnectionProfile, InitialConnect, ReadFrom, SecretStorage, SubscriptionSpec,
    TlsSettings, redact_url,
};
pub use status::{
    Backlog, ConnectionShared, ConnectionStatus, LinkFailure, LinkState, Losses, PendingConfirm,
    SubscriptionState,
};

/// Wakes whoever consumes events (the UI asks egui for a repaint). Called
/// once per batch, never per message.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Batches in flight between the network and the consumer, at most.
pub const EVENT_CHANNEL_BATCHES: usize = 1024;
/// Record bytes in flight between the network and the consumer, at most.
/// When reached, the subscription tasks wait, and async-nats' own large
/// buffer takes the slack; whatever it has to drop is counted exactly (see
/// `ConnectionShared`).
pub const MAX_IN_FLIGHT_BYTES: usize = 128 << 20;
/// The unit of the in-flight semaphore's permits (records reserve room one
/// by one, so the unit is small).
const PERMIT_BYTES: usize = 16;
/// Records per batch at most.
pub const MAX_BATCH: usize = 4096;

/// Records received on one connection, in order.
#[derive(Debug)]
pub struct Batch {
    /// The consumer's session when the batch was made; batches from before
    /// a clear are ignored.
    pub session: u64,
    pub connection: ConnectionKey,
    pub records: Vec<Record>,
    /// Returns the batch's bytes to the in-flight allowance when dropped.
    pub(crate) _in_flight: tokio::sync::OwnedSemaphorePermit,
}

#[derive(Debug)]
pub enum BrokerEvent {
    Batch(Batch),
    /// The link went down or came back: the UI marks the gap.
    Link {
        connection: ConnectionKey,
        up: bool,
        at: Timestamp,
        /// Why it went down, in the server's or the socket's words.
        reason: Option<String>,
    },
    /// A literal subscription would bind a push consumer's deliver subject
    /// and steal its messages: the user must confirm.
    ConfirmLiteral {
        connection: ConnectionKey,
        spec: SubscriptionSpec,
        consumer: String,
    },
}

#[derive(Debug)]
pub enum Command {
    Subscribe {
        spec: SubscriptionSpec,
        /// Skip the push-consumer check (the user confirmed).
        confirmed: bool,
    },
    Unsubscribe {
        pattern: String,
    },
    /// Send one message and report what became of it.
    Send {
        message: WireMessage,
        mode: SendMode,
        reply: tokio::sync::oneshot::Sender<SendOutcome>,
    },
    /// Publish a series of messages in the background.
    Job {
        job: JobSpec,
        progress: std::sync::Arc<JobProgress>,
    },
    /// Publish a trace-only copy (`Nats-Trace-Dest`, `Nats-Trace-Only`) and
    /// return the server's trace events.
    Trace {
        subject: String,
        headers: Vec<(String, String)>,
        payload: bytes::Bytes,
        reply: tokio::sync::oneshot::Sender<crate::broker::TraceAnswer>,
    },
    /// The connection's async-nats client (opened on first use), for the
    /// JetStream API.
    Client {
        reply: tokio::sync::oneshot::Sender<Result<nats::Client, ClientError>>,
    },
    /// The connection's client for the window's own reads through
    /// async-nats' KV and object store clients (opened on first use):
    /// the monitor knows what it reads as its own.
    ReadClient {
        reply: tokio::sync::oneshot::Sender<Result<nats::Client, ClientError>>,
    },
    Close,
    /// Make the monitoring link's task panic, as a bug would: the
    /// connection must notice, mark the gap and start it again. For tests;
    /// nothing in the app sends it.
    #[doc(hidden)]
    InjectPanic,
}

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("no such connection")]
    UnknownConnection,
    #[error("the connection is busy; try again")]
    Busy,
    #[error("the connection has ended")]
    Ended,
    #[error("cannot start the background runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Where connection tasks deliver events.
#[derive(Clone)]
pub(crate) struct EventSink {
    tx: mpsc::Sender<BrokerEvent>,
    waker: Waker,
    session: Arc<AtomicU64>,
    in_flight: Arc<tokio::sync::Semaphore>,
    /// Where records wait on disk once the in-flight allowance is spent
    /// (when the consumer reads it: the window's session does).
    pub(crate) spool: Arc<spool::Spool>,
}

impl EventSink {
    /// Send with backpressure; false once the consumer is gone.
    pub(crate) async fn send(&self, event: BrokerEvent) -> bool {
        let ok = self.tx.send(event).await.is_ok();
        (self.waker)();
        ok
    }

    /// Room for `bytes` more in flight now, or `None` when the allowance
    /// is spent.
    pub(crate) fn try_reserve(&self, bytes: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permits = bytes
            .div_ceil(PERMIT_BYTES)
            .clamp(1, MAX_IN_FLIGHT_BYTES / PERMIT_BYTES);
        self.in_flight
            .clone()
            .try_acquire_many_owned(u32::try_from(permits).unwrap_or(u32::MAX))
            .ok()
    }

    /// Hand a batch over if the consumer has room; gives it back otherwise.
    /// Returns the number of records handed over.
    pub(crate) fn try_send(&self, batch: Batch) -> Result<usize, Batch> {
        let n = batch.records.len();
        match self.tx.try_send(BrokerEvent::Batch(batch)) {
            Ok(()) => {
                (self.waker)();
                Ok(n)
            }
            Err(
                mpsc::error::TrySendError::Full(BrokerEvent::Batch(batch))
                | mpsc::error::TrySendError::Closed(BrokerEvent::Batch(batch)),
            ) => Err(batch),
            Err(_) => Ok(0),
        }
    }

    /// A connection's link came up: its status says so and the consumer
    /// closes the gap it marked.
    pub(crate) async fn link_came_up(&self, connection: ConnectionKey, shared: &ConnectionShared) {
        shared.link_up();
        shared.set_state(LinkState::Connected);
        self.send(BrokerEvent::Link {
            connection,
            up: true,
            at: crate::capture::now_timestamp(),
            reason: None,
        })
        .await;
    }

    /// A connection's link went down at `since` (`at` on the wall clock):
    /// the time without it counts from there, the reason is said, and the
    /// consumer marks the gap.
    pub(crate) async fn link_went_down(
        &self,
        connection: ConnectionKey,
        shared: &ConnectionShared,
        (since, at): (std::time::Instant, Timestamp),
        reason: Option<String>,
    ) {
        shared.link_down_since(since);
        if let Some(reason) = &reason {
            shared.push_error(reason.clone());
        }
        shared.set_state(LinkState::Reconnecting { attempt: 0 });
        self.send(BrokerEvent::Link {
            connection,
            up: false,
            at,
            reason,
        })
        .await;
    }

    pub(crate) fn wake(&self) {
        (self.waker)();
    }

    pub(crate) fn session(&self) -> u64 {
        self.session.load(Ordering::Relaxed)
    }
}

struct ConnectionHandle {
    commands: mpsc::Sender<Command>,
    shared: Arc<ConnectionShared>,
}

/// Owns the background runtime and every connection task.
pub struct Broker {
    runtime: Option<tokio::runtime::Runtime>,
    ingest: Option<tokio::runtime::Runtime>,
    sink: EventSink,
    connections: HashMap<ConnectionKey, ConnectionHandle>,
}

impl Broker {
    /// Start the runtime. Events arrive on the returned receiver.
    pub fn new(waker: Waker) -> Result<(Self, mpsc::Receiver<BrokerEvent>), BrokerError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // One thread for the clients and the publishing jobs: a job and
            // the client's writer hand messages over without cross-thread
            // wake-ups (two threads halved max-rate replay).
            .worker_threads(1)
            .thread_name("eventscope-net")
            .enable_all()
            .build()?;
        // Subscription tasks get a thread of their own: beside the client's
        // reader, which reads for as long as the socket has data, they
        // starved (perf on benches/ingest: the backlog sat in the client's
        // buffer, 1 GB).
        let ingest = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("eventscope-ingest")
            .enable_all()
            .build()?;
        let (tx, rx) = mpsc::channel(EVENT_CHANNEL_BATCHES);
        let sink = EventSink {
            tx,
            waker,
            session: Arc::new(AtomicU64::new(0)),
            in_flight: Arc::new(tokio::sync::Semaphore::new(
                MAX_IN_FLIGHT_BYTES / PERMIT_BYTES,
            )),
            spool: Arc::default(),
        };
        Ok((
            Self {
                runtime: Some(runtime),
                ingest: Some(ingest),
                sink,
                connections: HashMap::new(),
            },
            rx,
        ))
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives until Broker is dropped")
    }

    fn ingest_handle(&self) -> tokio::runtime::Handle {
        self.ingest
            .as_ref()
            .expect("the ingest runtime lives until Broker is dropped")
            .handle()
            .clone()
    }

    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime().handle().clone()
    }

    /// Let records wait on disk, up to `bytes`, once the in-flight
    /// allowance is spent, instead of dropping them. The consumer must
    /// then read them with `take_spooled` after its events.
    pub fn spool_to_disk(&self, bytes: u64) {
        self.sink.spool.set_budget(bytes);
    }

    /// The oldest records waiting on disk, about `bytes` of them; call
    /// only when the event receiver is empty (they come after its events).
    pub fn take_spooled(
        &self,
        bytes: u64,
        packer: &mut crate::capture::RecordPacker,
    ) -> Vec<Record> {
        self.sink.spool.take(bytes, packer)
    }

    /// Records waiting on disk, their bytes, and the most bytes that ever
    /// waited.
    pub fn spooled(&self) -> (u64, u64, u64) {
        let (records, bytes) = self.sink.spool.waiting();
        (records, bytes, self.sink.spool.peak_bytes())
    }

    /// Forget what waits on disk (the consumer cleared its capture).
    pub fn clear_spool(&self) {
        self.sink.spool.clear();
    }

    /// Run a future to completion on the runtime (headless commands only;
    /// never from the UI thread).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime().block_on(future)
    }

    /// Start (or restart) a connection under `key`.
    pub fn connect(
        &mut self,
        key: ConnectionKey,
        profile: ConnectionProfile,
        mode: InitialConnect,
    ) -> Arc<ConnectionShared> {
        let mut profile = profile;
        profile.take_url_credentials();
        self.disconnect(key);
        let shared = Arc::new(ConnectionShared::default());
        let (commands, command_rx) = mpsc::channel(64);
        // Each broker's connection task; a profile that was not validated
        // is NATS's (the task itself refuses what it cannot use).
        match profile.broker().unwrap_or_default() {
            BrokerKind::Nats => {
                let task = nats::connection::ConnectionTask {
                    key,
                    profile,
                    mode,
                    shared: shared.clone(),
                    sink: self.sink.clone(),
                    commands: command_rx,
                    ingest: self.ingest_handle(),
                };
                self.runtime().spawn(task.run());
            }
            BrokerKind::Mqtt => self
                .spawn_retrying::<mqtt::connection::Mqtt>(key, profile, mode, &shared, command_rx),
            BrokerKind::Amqp => self
                .spawn_retrying::<amqp::connection::Amqp>(key, profile, mode, &shared, command_rx),
            BrokerKind::Kafka => self.spawn_retrying::<kafka::connection::Kafka>(
                key, profile, mode, &shared, command_rx,
            ),
        }
        self.connections.insert(
            key,
            ConnectionHandle {
                commands,
                shared: shared.clone(),
            },
        );
        shared
    }

    /// A broker's task on the shared reconnect loop (`retrying.rs`), on
    /// the ingest runtime.
    fn spawn_retrying<B: retrying::BrokerLink>(
        &self,
        key: ConnectionKey,
        profile: ConnectionProfile,
        mode: InitialConnect,
        shared: &Arc<ConnectionShared>,
        commands: mpsc::Receiver<Command>,
    ) {
        let task = retrying::Retrying::<B>::new(
            key,
            profile,
            mode,
            shared.clone(),
            self.sink.clone(),
            commands,
        );
        self.ingest_handle().spawn(task.run());
    }

    /// Send a command without waiting.
    pub fn send(&self, key: ConnectionKey, command: Command) -> Result<(), BrokerError> {
        let handle = self
            .connections
            .get(&key)
            .ok_or(BrokerError::UnknownConnection)?;
        handle.commands.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => BrokerError::Busy,
            mpsc::error::TrySendError::Closed(_) => BrokerError::Ended,
        })
    }

    /// Close a connection; its task ends on its own.
    pub fn disconnect(&mut self, key: ConnectionKey) {
        if let Some(handle) = self.connections.remove(&key) {
            let _ = handle.commands.try_send(Command::Close);
            handle.shared.set_state(LinkState::Closed);
        }
    }

    pub fn shared(&self, key: ConnectionKey) -> Option<&Arc<ConnectionShared>> {
        self.connections.get(&key).map(|h| &h.shared)
    }

    /// Batches made before this call are stale from now on.
    pub fn new_session(&self) -> u64 {
        self.sink.session.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_millis(500));
        }
        if let Some(ingest) = self.ingest.take() {
            ingest.shutdown_timeout(Duration::from_millis(500));
        }
    }
}
