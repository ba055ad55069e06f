//! Every request the window makes of a broker beyond traffic (JetStream,
//! KV, object stores, the cluster), as typed commands: the app says what
//! it wants (`Session::ask`), the request runs on the background runtime
//! with the connection's client, and its typed answer is drained once a
//! frame (`Session::answers`). Long-running feeds (a KV watch, the
//! cluster's event feed) come back as a `Watching`, bounded and stopped
//! when dropped. The app above never holds a broker client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

mod cluster;
mod jetstream;
mod kv;

pub use cluster::{ClusterAnswer, ClusterRequest};
pub use jetstream::{ExportError, JetStreamAnswer, JetStreamRequest};
pub use kv::{KvAnswer, KvRequest, ObjectRequest};

use crate::broker::{ClientError, ConnectionProfile, Waker};
use crate::capture::ConnectionKey;

/// What the window asks of a connection.
pub enum Request {
    JetStream(JetStreamRequest),
    Kv(KvRequest),
    Objects(ObjectRequest),
    Cluster(ClusterRequest),
}

/// What came back, for the view that asked.
pub enum Answer {
    JetStream(JetStreamAnswer),
    Kv(KvAnswer),
    Cluster(ClusterAnswer),
}

/// Why a feed (a watch, the event feed) ended.
#[derive(Debug, thiserror::Error)]
pub enum FeedEnded {
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Kv(#[from] crate::kv::KvError),
    #[error(transparent)]
    Servers(#[from] crate::broker::ServersError),
    #[error(
        "Connect, disconnect and auth-error events flow in the system account only: connect with a system-account user to see them."
    )]
    NoSystemAccount,
    #[error("the server ended the subscription")]
    ServerEnded,
    /// Nobody reads the feed any more.
    #[error("the view is gone")]
    ViewGone,
}

/// Why a request could not even be sent.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("no connection is up; connect to a server first")]
    NoConnection,
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl Request {
    /// The answer that says this request could not be sent.
    fn unavailable(&self, why: Unavailable) -> Answer {
        match self {
            Self::JetStream(_) => Answer::JetStream(JetStreamAnswer::Unavailable(why)),
            Self::Kv(_) | Self::Objects(_) => Answer::Kv(KvAnswer::Unavailable(why)),
            Self::Cluster(_) => Answer::Cluster(ClusterAnswer::Unavailable(why)),
        }
    }
}

/// The answers' channel, and what is kept per connection between requests.
pub(super) struct Requests {
    answers: (mpsc::Sender<Answer>, mpsc::Receiver<Answer>),
    /// One JetStream `Api` per connection, kept: its fetch link stays open.
    apis: Arc<Mutex<std::collections::HashMap<ConnectionKey, crate::jetstream::Api>>>,
}

impl Default for Requests {
    fn default() -> Self {
        Self {
            answers: mpsc::channel(),
            apis: Default::default(),
        }
    }
}

/// Run `request` with a client of the connection (the JetStream handle
/// made from it is kept for the next requests).
async fn run(
    client: async_nats::Client,
    key: ConnectionKey,
    profile: ConnectionProfile,
    apis: &Mutex<std::collections::HashMap<ConnectionKey, crate::jetstream::Api>>,
    request: Request,
) -> Answer {
    match request {
        Request::JetStream(r) => {
            let api = crate::jetstream::Api::with_profile(client, profile);
            apis.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, api.clone());
            Answer::JetStream(jetstream::run(&api, r).await)
        }
        Request::Kv(r) => Answer::Kv(kv::run(&client, r).await),
        Request::Objects(r) => Answer::Kv(kv::run_objects(&client, r).await),
        Request::Cluster(r) => Answer::Cluster(cluster::run(&client, key, &profile, r).await),
    }
}

impl Requests {
    /// Forget what was kept for a connection (it ended, or its profile
    /// changed): the next request opens anew.
    pub(super) fn forget(&self, key: ConnectionKey) {
        self.apis
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }
}

impl super::Session {
    /// Ask `request` of connection `key` (none: no connection is up, said
    /// as the answer). Never waits; the answer comes from `answers`.
    pub fn ask(&self, key: Option<ConnectionKey>, request: Request) {
        let tx = self.requests.answers.0.clone();
        let Some((key, profile)) = key.and_then(|k| self.profile_of(k)) else {
            let _ = tx.send(request.unavailable(Unavailable::NoConnection));
            self.wake();
            return;
        };
        let apis = self.requests.apis.clone();
        // A JetStream handle kept from an earlier request needs no client:
        // the view's polls (lag every 2 s) ask the connection for nothing.
        let kept = match request {
            Request::JetStream(_) => apis
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .cloned(),
            _ => None,
        };
        let reads = matches!(request, Request::Kv(_) | Request::Objects(_));
        let client = kept.is_none().then(|| self.nats_client(key, reads));
        self.spawn(async move {
            let answer = match (kept, request, client) {
                (Some(api), Request::JetStream(r), _) => {
                    Answer::JetStream(jetstream::run(&api, r).await)
                }
                (_, request, Some(client)) => match client.await {
                    Ok(client) => run(client, key, profile, &apis, request).await,
                    Err(e) => request.unavailable(e.into()),
                },
                // A kept handle is asked only for JetStream requests.
                (_, request, None) => request.unavailable(Unavailable::NoConnection),
            };
            let _ = tx.send(answer);
        });
    }

    /// The answers that came since the last call.
    pub fn answers(&self) -> impl Iterator<Item = Answer> + '_ {
        self.requests.answers.1.try_iter()
    }

    fn profile_of(&self, key: ConnectionKey) -> Option<(ConnectionKey, ConnectionProfile)> {
        self.profiles
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(k, p)| (*k, p.clone()))
    }

    fn wake(&self) {
        (self.waker)();
    }

    /// Run a feed on the background runtime with connection `key`'s
    /// client (its read client for `reads`): `run` hands its entries to
    /// the sink and returns only with why it stopped. At most `keep`
    /// entries wait for the window.
    fn watch<T, F, Fut>(
        &self,
        key: Option<ConnectionKey>,
        reads: bool,
        keep: usize,
        run: F,
    ) -> Watching<T>
    where
        T: Send + 'static,
        F: FnOnce(async_nats::Client, ConnectionProfile, Sink<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), FeedEnded>> + Send,
    {
        let (tx, entries) = mpsc::sync_channel(keep.max(1));
        let (ended_tx, ended) = mpsc::channel();
        let not_kept = Arc::new(AtomicU64::new(0));
        let sink = Sink {
            tx,
            not_kept: not_kept.clone(),
            waker: self.waker.clone(),
        };
        let target = key.and_then(|k| self.profile_of(k));
        let client = target.as_ref().map(|(k, _)| self.nats_client(*k, reads));
        let task = self.spawn(async move {
            let watched = async {
                let (Some(client), Some((_, profile))) = (client, target) else {
                    return Err(Unavailable::NoConnection.into());
                };
                let client = client.await.map_err(Unavailable::from)?;
                run(client, profile, sink).await
            };
            if let Err(why) = watched.await {
                let _ = ended_tx.send(why);
            }
        });
        Watching {
            task,
            entries,
            not_kept,
            ended,
        }
    }
}

/// A running feed: its entries, what did not fit, and why it ended.
/// Dropping it stops the feed.
pub struct Watching<T> {
    task: tokio::task::JoinHandle<()>,
    entries: mpsc::Receiver<T>,
    not_kept: Arc<AtomicU64>,
    ended: mpsc::Receiver<FeedEnded>,
}

impl<T> Watching<T> {
    /// What came since the last call, and how many entries did not fit
    /// on the way.
    pub fn take(&self) -> (impl Iterator<Item = T> + '_, u64) {
        (
            self.entries.try_iter(),
            self.not_kept.swap(0, Ordering::Relaxed),
        )
    }

    /// Why the feed ended, once it has (said once).
    pub fn ended(&self) -> Option<FeedEnded> {
        self.ended.try_recv().ok()
    }
}

impl<T> Drop for Watching<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where a feed hands its entries: a bounded channel to the window.
struct Sink<T> {
    tx: mpsc::SyncSender<T>,
    not_kept: Arc<AtomicU64>,
    waker: Waker,
}

impl<T> Sink<T> {
    /// Hand an entry over without ever blocking the feed: what does not
    /// fit is counted. `Err` once the window is gone.
    fn offer(&self, entry: T) -> Result<(), FeedEnded> {
        match self.tx.try_send(entry) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => {
                self.not_kept.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(FeedEnded::ViewGone),
        }
        (self.waker)();
        Ok(())
    }
}
