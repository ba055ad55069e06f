//! A monitoring session without any UI, and the one service the window
//! talks to: the broker, the store it feeds, the rule for applying broker
//! events within a time budget, and every request beyond traffic
//! (JetStream, KV, object stores, the cluster) as typed commands whose
//! answers are drained once a frame (`requests`). The GUI owns one; tests
//! and benchmarks drive it directly.

use std::time::{Duration, Instant};

mod jobs;
mod requests;

pub use jobs::{repeat_job, replay_job, wire_message};
pub use requests::{
    Answer, ClusterAnswer, ClusterRequest, ExportError, FeedEnded, JetStreamAnswer,
    JetStreamRequest, KvAnswer, KvRequest, ObjectRequest, Request, Unavailable, Watching,
};

use tokio::sync::mpsc;

use crate::broker::{
    Backlog, Broker, BrokerError, BrokerEvent, Command, ConnectionProfile, ConnectionShared,
    InitialConnect, PendingConfirm, SubscriptionSpec, Waker,
};
use crate::capture::{ConnectionKey, Store};
use crate::flow::Correlator;

pub struct Session {
    pub store: Store,
    /// Flows reconstructed from every record, as it arrives.
    pub flows: Correlator,
    broker: Broker,
    events: mpsc::Receiver<BrokerEvent>,
    session: u64,
    /// Profiles by connection key, in the order they were added.
    profiles: Vec<(ConnectionKey, ConnectionProfile)>,
    pub pending_confirms: Vec<PendingConfirm>,
    last_release: Instant,
    /// The last drain ran out of time with events still waiting.
    behind: bool,
    /// Records taken out of batches per connection (stored, or ignored as
    /// stale): with what the connection read and dropped, the backlog.
    taken: std::collections::HashMap<ConnectionKey, u64>,
    /// When the newest record applied was received.
    newest_applied: Option<crate::capture::Timestamp>,
    /// Messages read from the network, sampled once a second.
    read_rate: ReadRate,
    /// Wakes the consumer (the UI) when background work has a result.
    waker: Waker,
    /// Packs records read back from the spool.
    spool_packer: crate::capture::RecordPacker,
    /// Requests beyond traffic, and their answers.
    requests: requests::Requests,
}

/// Messages per second read from the network (all connections), over the
/// last whole second.
#[derive(Default)]
struct ReadRate {
    last: Option<(Instant, u64)>,
    per_second: f64,
}

/// Disk for messages waiting while the consumer catches up with a burst,
/// unless set otherwise (`set_spool_budget`).
pub const DEFAULT_SPOOL_BYTES: u64 = 4 << 30;
/// Bytes read back from the spool at once.
const SPOOL_READ: u64 = 1 << 20;

/// How often free heap memory is handed back (see
/// `allocator::release_free_memory`).
const RELEASE_EVERY: Duration = Duration::from_secs(5);
const RELEASE_AFTER_BURST: Duration = Duration::from_secs(1);

impl Session {
    pub fn new(waker: Waker, budget_bytes: usize) -> Result<Self, BrokerError> {
        let (broker, events) = Broker::new(waker.clone())?;
        broker.spool_to_disk(DEFAULT_SPOOL_BYTES);
        Ok(Self {
            store: Store::new(budget_bytes),
            flows: Correlator::default(),
            broker,
            events,
            session: 0,
            profiles: Vec::new(),
            pending_confirms: Vec::new(),
            last_release: Instant::now(),
            behind: false,
            taken: std::collections::HashMap::new(),
            newest_applied: None,
            read_rate: ReadRate::default(),
            waker,
            spool_packer: crate::capture::RecordPacker::default(),
            requests: requests::Requests::default(),
        })
    }

    /// Disk for messages waiting while this session catches up with a
    /// burst (0: none; past the in-flight allowance they are dropped).
    pub fn set_spool_budget(&self, bytes: u64) {
        self.broker.spool_to_disk(bytes);
    }

    /// Messages waiting on disk, their bytes, and the most bytes that
    /// ever waited.
    pub fn spooled(&self) -> (u64, u64, u64) {
        self.broker.spooled()
    }

    /// Start monitoring with a profile; replaces a profile of the same name.
    pub fn connect(&mut self, mut profile: ConnectionProfile) -> ConnectionKey {
        profile.take_url_credentials();
        // Validated before it came here; a profile that was not is NATS's.
        let broker = profile.broker().unwrap_or_default();
        let key = self.store.intern_connection_of(&profile.name, broker);
        self.flows.learn_brokers(self.store.brokers());
        self.profiles.retain(|(k, _)| *k != key);
        self.profiles.push((key, profile.clone()));
        // A new connection's counters start at zero.
        self.taken.remove(&key);
        self.requests.forget(key);
        self.broker.connect(key, profile, InitialConnect::Retry);
        key
    }

    pub fn disconnect(&mut self, key: ConnectionKey) {
        self.broker.disconnect(key);
        self.requests.forget(key);
        self.profiles.retain(|(k, _)| *k != key);
    }

    pub fn profiles(&self) -> &[(ConnectionKey, ConnectionProfile)] {
        &self.profiles
    }

    pub fn shared(&self, key: ConnectionKey) -> Option<&std::sync::Arc<ConnectionShared>> {
        self.broker.shared(key)
    }

    pub fn subscribe(
        &mut self,
        key: ConnectionKey,
        spec: SubscriptionSpec,
        confirmed: bool,
    ) -> Result<(), BrokerError> {
        if let Some((_, profile)) = self.profiles.iter_mut().find(|(k, _)| *k == key)
            && !profile
                .subscriptions
                .iter()
                .any(|s| s.pattern == spec.pattern)
        {
            profile.subscriptions.push(spec.clone());
        }
        self.broker
            .send(key, Command::Subscribe { spec, confirmed })
    }

    pub fn unsubscribe(&mut self, key: ConnectionKey, pattern: &str) -> Result<(), BrokerError> {
        if let Some((_, profile)) = self.profiles.iter_mut().find(|(k, _)| *k == key) {
            profile.subscriptions.retain(|s| s.pattern != pattern);
        }
        self.broker.send(
            key,
            Command::Unsubscribe {
                pattern: pattern.to_owned(),
            },
        )
    }

    /// Ask the server who would receive a copy of a stored record (message
    /// tracing; nothing is delivered). The answer arrives on the receiver.
    pub fn trace(
        &self,
        seq: crate::capture::Seq,
    ) -> Result<tokio::sync::oneshot::Receiver<crate::broker::TraceAnswer>, BrokerError> {
        let record = self.store.get(seq).ok_or(BrokerError::UnknownConnection)?;
        self.trace_record(record, record.connection)
    }

    /// Trace a record from elsewhere (a stream's message) on `connection`.
    pub fn trace_record(
        &self,
        record: &crate::capture::Record,
        connection: ConnectionKey,
    ) -> Result<tokio::sync::oneshot::Receiver<crate::broker::TraceAnswer>, BrokerError> {
        let headers = record
            .headers()
            .iter()
            .flat_map(|h| h.iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.broker.send(
            connection,
            Command::Trace {
                subject: record.subject().to_string(),
                headers,
                payload: record.payload_bytes(),
                reply,
            },
        )?;
        Ok(self.woken(rx))
    }

    /// The same answer, with the consumer woken when it comes: an idle UI
    /// does not poll.
    fn woken<T: Send + 'static>(
        &self,
        rx: tokio::sync::oneshot::Receiver<T>,
    ) -> tokio::sync::oneshot::Receiver<T> {
        let (tx, out) = tokio::sync::oneshot::channel();
        self.spawn(async move {
            if let Ok(answer) = rx.await {
                let _ = tx.send(answer);
            }
        });
        out
    }

    /// Send one message on a connection; the outcome arrives on the receiver.
    pub fn send(
        &self,
        key: ConnectionKey,
        message: crate::outgoing::OutMessage,
        mode: crate::broker::SendMode,
    ) -> Result<tokio::sync::oneshot::Receiver<crate::broker::SendOutcome>, BrokerError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        match jobs::wire_message(message) {
            Ok(message) => self.broker.send(
                key,
                Command::Send {
                    message,
                    mode,
                    reply,
                },
            )?,
            Err(e) => {
                let _ = reply.send(crate::broker::SendOutcome::Failed(e.to_string()));
            }
        }
        Ok(self.woken(rx))
    }

    /// Start a background publishing job (repeat or replay) on a connection.
    pub fn start_job(
        &self,
        key: ConnectionKey,
        job: crate::broker::JobSpec,
    ) -> Result<std::sync::Arc<crate::broker::JobProgress>, BrokerError> {
        let progress = crate::broker::JobProgress::new(job.total);
        self.broker.send(
            key,
            Command::Job {
                job,
                progress: progress.clone(),
            },
        )?;
        Ok(progress)
    }

    /// Apply waiting events until none is left or `budget` is spent.
    /// Returns the number of records added.
    pub fn drain(&mut self, budget: Duration) -> usize {
        let start = Instant::now();
        let mut added = 0;
        let mut out_of_time = false;
        loop {
            match self.events.try_recv() {
                Ok(event) => added += self.apply(event),
                // What waits on disk comes after every batch in flight.
                Err(_) => {
                    let records = self.broker.take_spooled(SPOOL_READ, &mut self.spool_packer);
                    if records.is_empty() {
                        break;
                    }
                    added += self.apply_spooled(records);
                }
            }
            if start.elapsed() >= budget {
                out_of_time = true;
                break;
            }
        }
        // Free memory goes back every few seconds, and as soon as a burst
        // that outran the budget is over (what its backlog held is free now).
        let burst_over = self.behind && !out_of_time;
        self.behind = out_of_time;
        let since = self.last_release.elapsed();
        if since >= RELEASE_EVERY || (burst_over && since >= RELEASE_AFTER_BURST) {
            // About 10 ms with a few hundred MiB retained: not on this thread.
            self.last_release = Instant::now();
            self.broker
                .handle()
                .spawn_blocking(crate::process::release_free_memory);
        }
        added
    }

    fn apply(&mut self, event: BrokerEvent) -> usize {
        match event {
            BrokerEvent::Batch(batch) => {
                *self.taken.entry(batch.connection).or_default() += batch.records.len() as u64;
                let known = self.profiles.iter().any(|(k, _)| *k == batch.connection);
                // Batches from before a clear, or from a removed connection.
                if batch.session != self.session || !known {
                    return 0;
                }
                let n = batch.records.len();
                self.add_records(batch.records);
                n
            }
            BrokerEvent::Link {
                connection, up, at, ..
            } => {
                if up {
                    self.store.note_connected(connection, at);
                } else {
                    self.store.note_disconnected(connection, at);
                }
                0
            }
            BrokerEvent::ConfirmLiteral {
                connection,
                spec,
                consumer,
            } => {
                let pending = PendingConfirm {
                    connection,
                    spec,
                    consumer,
                };
                if !self.pending_confirms.contains(&pending) {
                    self.pending_confirms.push(pending);
                }
                0
            }
        }
    }

    /// Records read back from the spool: stored like a batch, those of a
    /// removed connection left out.
    fn apply_spooled(&mut self, records: Vec<crate::capture::Record>) -> usize {
        for record in &records {
            *self.taken.entry(record.connection).or_default() += 1;
        }
        let kept: Vec<_> = records
            .into_iter()
            .filter(|r| self.profiles.iter().any(|(k, _)| *k == r.connection))
            .collect();
        let n = kept.len();
        self.add_records(kept);
        n
    }

    /// Store records and correlate them into flows, in arrival order.
    pub fn add_records(&mut self, records: impl IntoIterator<Item = crate::capture::Record>) {
        // Loaded files name connections (and their brokers) of their own.
        self.flows.learn_brokers(self.store.brokers());
        for record in records {
            self.newest_applied = Some(record.received_at);
            self.flows.ingest(self.store.end_seq(), &record);
            self.store.push(record);
        }
    }

    /// Put answers read from the flight recorder under what was captured
    /// live, in time order (flows are made in arrival order): the live
    /// records are taken out and added again after the history. History
    /// from when live capture had already begun is left out, as it was
    /// seen live. Returns how many history records were added.
    pub fn insert_history(&mut self, history: Vec<crate::capture::Record>) -> usize {
        let first_live = self
            .store
            .get(self.store.first_seq())
            .map(|r| r.received_at);
        let mut history: Vec<_> = history
            .into_iter()
            .filter(|r| first_live.is_none_or(|t| r.received_at < t))
            .collect();
        history.sort_by_key(|r| r.received_at);
        let added = history.len();
        let live: Vec<crate::capture::Record> = (self.store.first_seq()..self.store.end_seq())
            .filter_map(|seq| self.store.get(seq).cloned())
            .collect();
        let gaps = self.store.gaps().to_vec();
        self.store.clear();
        self.flows.clear();
        self.store.restore_gaps(gaps);
        let newest = self.newest_applied;
        self.add_records(history.into_iter().chain(live));
        self.newest_applied = newest.or(self.newest_applied);
        added
    }

    /// An async-nats client of a connection (opened on first use), for the
    /// requests beyond traffic: the one JetStream API calls share, or
    /// (`reads`) the one for reads through async-nats' KV and object store
    /// clients, whose reads the monitor knows as its own.
    fn nats_client(
        &self,
        key: ConnectionKey,
        reads: bool,
    ) -> impl Future<Output = Result<async_nats::Client, crate::broker::ClientError>> + Send + 'static
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let command = if reads {
            Command::ReadClient { reply }
        } else {
            Command::Client { reply }
        };
        let sent = self.broker.send(key, command);
        async move {
            sent?;
            answer
                .await
                .map_err(|_| crate::broker::ClientError::Ended)?
        }
    }

    /// Forget everything captured; batches already in flight are ignored.
    pub fn clear(&mut self) {
        self.session = self.broker.new_session();
        self.broker.clear_spool();
        self.store.clear();
        self.flows.clear();
    }

    /// Run a future on the background runtime (file dialogs, demo
    /// services); the consumer is woken when it ends, to take its result.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let waker = self.waker.clone();
        self.broker.handle().spawn(async move {
            let output = future.await;
            waker();
            output
        })
    }

    pub fn runtime_handle(&self) -> tokio::runtime::Handle {
        self.broker.handle()
    }

    /// The last drain ran out of time with events still waiting.
    pub fn is_behind(&self) -> bool {
        self.behind
    }

    /// When the newest record in the store was received.
    pub fn newest_applied(&self) -> Option<crate::capture::Timestamp> {
        self.newest_applied
    }

    /// Messages read from the network but not yet stored, and how far
    /// behind the newest stored one is while they wait.
    pub fn backlog(&self, now: crate::capture::Timestamp) -> Backlog {
        let messages = self
            .profiles
            .iter()
            .filter_map(|(k, _)| {
                let shared = self.broker.shared(*k)?;
                let taken = self.taken.get(k).copied().unwrap_or(0);
                // Own reads are read and never stored: not a backlog.
                let own = shared.losses().own_skipped;
                Some(
                    shared
                        .in_messages()
                        .saturating_sub(shared.dropped() + own + taken),
                )
            })
            .sum();
        let seconds = match (messages, self.newest_applied) {
            (0, _) | (_, None) => 0.0,
            (_, Some(newest)) => (now - newest).max(0) as f64 / 1e9,
        };
        Backlog { messages, seconds }
    }

    /// Messages per second arriving from the network (all connections):
    /// what the server really delivered, whatever the view has caught up
    /// with. Measured over whole seconds.
    pub fn network_rate(&mut self) -> f64 {
        let read: u64 = self
            .profiles
            .iter()
            .filter_map(|(k, _)| self.broker.shared(*k))
            .map(|s| s.in_messages())
            .sum();
        let now = Instant::now();
        match self.read_rate.last {
            Some((at, before)) if now.duration_since(at) >= Duration::from_secs(1) => {
                let seconds = now.duration_since(at).as_secs_f64();
                self.read_rate.per_second = read.saturating_sub(before) as f64 / seconds;
                self.read_rate.last = Some((now, read));
            }
            Some(_) => {}
            None => self.read_rate.last = Some((now, read)),
        }
        self.read_rate.per_second
    }

    /// Every loss of every connection, added up.
    pub fn losses(&self) -> crate::broker::Losses {
        let mut total = crate::broker::Losses::default();
        for (k, _) in &self.profiles {
            if let Some(shared) = self.broker.shared(*k) {
                total.add(&shared.losses());
            }
        }
        total
    }

    /// See `Command::InjectPanic` (tests only).
    #[doc(hidden)]
    pub fn inject_link_panic(&self, key: ConnectionKey) -> Result<(), BrokerError> {
        self.broker.send(key, Command::InjectPanic)
    }

    /// Messages lost by the clients of all connections (slow consumer).
    pub fn dropped_by_clients(&self) -> u64 {
        self.profiles
            .iter()
            .filter_map(|(k, _)| self.broker.shared(*k))
            .map(|s| s.dropped())
            .sum()
    }
}
