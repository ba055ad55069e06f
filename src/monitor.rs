//! A monitoring session without any UI: the broker, the store it feeds, and
//! the rule for applying broker events within a time budget. The GUI owns
//! one; tests and benchmarks drive it directly.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::broker::{
    Broker, BrokerError, BrokerEvent, Command, ConnectionProfile, ConnectionShared, InitialConnect,
    SubscriptionSpec, Waker,
};
use crate::capture::{ConnectionKey, Store};
use crate::flow::Correlator;

/// A literal subscription waiting for the user's yes or no.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingConfirm {
    pub connection: ConnectionKey,
    pub spec: SubscriptionSpec,
    pub consumer: String,
}

pub struct Monitor {
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
}

/// How often free heap memory is handed back (see
/// `allocator::release_free_memory`).
const RELEASE_EVERY: Duration = Duration::from_secs(5);
const RELEASE_AFTER_BURST: Duration = Duration::from_secs(1);

impl Monitor {
    pub fn new(waker: Waker, budget_bytes: usize) -> Result<Self, BrokerError> {
        let (broker, events) = Broker::new(waker)?;
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
        })
    }

    /// Start monitoring with a profile; replaces a profile of the same name.
    pub fn connect(&mut self, mut profile: ConnectionProfile) -> ConnectionKey {
        profile.take_url_credentials();
        let key = self.store.intern_connection(&profile.name);
        self.profiles.retain(|(k, _)| *k != key);
        self.profiles.push((key, profile.clone()));
        self.broker.connect(key, profile, InitialConnect::Retry);
        key
    }

    pub fn disconnect(&mut self, key: ConnectionKey) {
        self.broker.disconnect(key);
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
        seq: crate::capture::store::Seq,
    ) -> Result<tokio::sync::oneshot::Receiver<crate::flow::trace::TraceAnswer>, BrokerError> {
        let record = self.store.get(seq).ok_or(BrokerError::UnknownConnection)?;
        let headers = record
            .headers()
            .iter()
            .flat_map(|h| h.iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.broker.send(
            record.connection,
            Command::Trace {
                subject: record.subject().to_string(),
                headers,
                payload: record.payload_bytes(),
                reply,
            },
        )?;
        Ok(rx)
    }

    /// Send one message on a connection; the outcome arrives on the receiver.
    pub fn send(
        &self,
        key: ConnectionKey,
        message: crate::act::replay::OutMessage,
        mode: crate::broker::act::SendMode,
    ) -> Result<tokio::sync::oneshot::Receiver<crate::broker::act::SendOutcome>, BrokerError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.broker.send(
            key,
            Command::Send {
                message,
                mode,
                reply,
            },
        )?;
        Ok(rx)
    }

    /// Start a background publishing job (repeat or replay) on a connection.
    pub fn start_job(
        &self,
        key: ConnectionKey,
        job: crate::broker::act::JobSpec,
    ) -> Result<std::sync::Arc<crate::broker::act::JobProgress>, BrokerError> {
        let progress = crate::broker::act::JobProgress::new(job.total);
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
        while let Ok(event) = self.events.try_recv() {
            added += self.apply(event);
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
                .spawn_blocking(crate::allocator::release_free_memory);
        }
        added
    }

    fn apply(&mut self, event: BrokerEvent) -> usize {
        match event {
            BrokerEvent::Batch(batch) => {
                let known = self.profiles.iter().any(|(k, _)| *k == batch.connection);
                // Batches from before a clear, or from a removed connection.
                if batch.session != self.session || !known {
                    return 0;
                }
                let n = batch.records.len();
                self.add_records(batch.records);
                n
            }
            BrokerEvent::Link { connection, up, at } => {
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

    /// Store records and correlate them into flows, in arrival order.
    pub fn add_records(&mut self, records: impl IntoIterator<Item = crate::capture::Record>) {
        for record in records {
            self.flows.ingest(self.store.end_seq(), &record);
            self.store.push(record);
        }
    }

    /// Forget everything captured; batches already in flight are ignored.
    pub fn clear(&mut self) {
        self.session = self.broker.new_session();
        self.store.clear();
        self.flows.clear();
    }

    /// Run a future on the background runtime (file dialogs, demo services).
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.broker.handle().spawn(future)
    }

    pub fn runtime_handle(&self) -> tokio::runtime::Handle {
        self.broker.handle()
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
