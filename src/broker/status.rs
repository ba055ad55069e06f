//! Live state of one connection, written by its background task and read by
//! the UI each frame (a short lock to clone; never held while drawing).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::ConnzError;
use super::SubscriptionSpec;
use crate::capture::now_timestamp;
use crate::capture::{ConnectionKey, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Trying to connect for the first time.
    Connecting {
        attempt: u32,
        last_error: Option<String>,
    },
    Connected,
    /// The link dropped; the client reconnects by itself.
    Reconnecting {
        attempt: usize,
    },
    /// The server refused our credentials.
    AuthError(String),
    /// Cannot connect as configured (bad file, TLS setup...): needs the user.
    Failed(String),
    /// Closed by the user.
    Closed,
}

impl LinkState {
    pub fn label(&self) -> String {
        match self {
            LinkState::Connecting { attempt: 0, .. } => "connecting".into(),
            LinkState::Connecting {
                attempt,
                last_error,
            } => match last_error {
                Some(e) => format!("connecting (attempt {attempt}): {e}"),
                None => format!("connecting (attempt {attempt})"),
            },
            LinkState::Connected => "connected".into(),
            LinkState::Reconnecting { attempt } => {
                format!("disconnected, reconnecting (attempt {attempt})")
            }
            LinkState::AuthError(e) => format!("auth error: {e}"),
            LinkState::Failed(e) => format!("failed: {e}"),
            LinkState::Closed => "closed".into(),
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self, LinkState::Connected)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSummary {
    pub name: String,
    pub version: String,
    pub address: String,
    pub jetstream: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionState {
    pub pattern: String,
    pub queue_group: Option<String>,
    pub active: bool,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionStatus {
    pub state: LinkState,
    pub since: Timestamp,
    pub server: Option<ServerSummary>,
    pub subscriptions: Vec<SubscriptionState>,
    /// Times eventscope began dropping because its own buffers were full
    /// (each such episode; the count of messages is in `Losses`).
    pub slow_consumer_events: u64,
    /// Server-side errors seen while connected (e.g. the server cut us off
    /// as a slow consumer), latest last.
    pub server_errors: Vec<String>,
    /// Errors pushed since the start (the list above keeps the latest):
    /// a reader prints those it has not seen.
    pub errors_said: u64,
}

impl Default for ConnectionStatus {
    fn default() -> Self {
        Self {
            state: LinkState::Connecting {
                attempt: 0,
                last_error: None,
            },
            since: now_timestamp(),
            server: None,
            subscriptions: Vec::new(),
            slow_consumer_events: 0,
            server_errors: Vec::new(),
            errors_said: 0,
        }
    }
}

/// Every way a connection can miss messages, as counted so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Messages eventscope read but had no room for (its in-flight
    /// allowance was full): counted one by one.
    pub dropped: u64,
    /// Times the server closed the connection as a slow consumer.
    pub server_cuts: u64,
    /// Of those, messages the server counted as sent that never arrived,
    /// where its statistics could be read.
    pub lost_in_cuts: u64,
    /// Times the link went down after it was up.
    pub disconnects: u64,
    /// Time without a working link since it first came up, now included.
    pub disconnected: std::time::Duration,
    /// Breaks in the protocol stream; each one ends the link, and whatever
    /// the server sent until the new link is up is missed.
    pub unparseable: u64,
    /// Messages kept although they broke the protocol's rules (flagged).
    pub malformed: u64,
    /// Answers to eventscope's own stream reads (browse, search, the
    /// recorder's history) that a `>` subscription also received: not
    /// kept, as they are not the watched system's traffic. Not a loss.
    pub own_skipped: u64,
    /// Records the broker deleted (Kafka's retention) or could not give
    /// whole (a batch that did not decode) before eventscope read them.
    pub unread: u64,
}

impl Losses {
    pub fn add(&mut self, other: &Losses) {
        self.dropped += other.dropped;
        self.server_cuts += other.server_cuts;
        self.lost_in_cuts += other.lost_in_cuts;
        self.disconnects += other.disconnects;
        self.disconnected += other.disconnected;
        self.unparseable += other.unparseable;
        self.malformed += other.malformed;
        self.own_skipped += other.own_skipped;
        self.unread += other.unread;
    }

    /// Nothing was missed.
    pub fn is_clean(&self) -> bool {
        self.dropped == 0
            && self.server_cuts == 0
            && self.disconnects == 0
            && self.unparseable == 0
            && self.unread == 0
            && self.disconnected.is_zero()
    }

    /// One line for a summary or the status bar.
    pub fn summary(&self) -> String {
        let mut text = format!("dropped by client: {}", self.dropped);
        if self.server_cuts > 0 {
            text.push_str(&format!(
                "; cut off by the server as a slow consumer: {}x ({} messages lost by the server's count)",
                self.server_cuts, self.lost_in_cuts
            ));
        } else {
            text.push_str("; slow-consumer cuts by the server: 0");
        }
        text.push_str(&format!(
            "; disconnected: {:.1} s ({} times); unparseable stream breaks: {}; malformed messages kept: {}",
            self.disconnected.as_secs_f64(),
            self.disconnects,
            self.unparseable,
            self.malformed
        ));
        if self.unread > 0 {
            text.push_str(&format!(
                "; records gone before they could be read (retention, undecodable batches): {}",
                self.unread
            ));
        }
        if self.own_skipped > 0 {
            text.push_str(&format!(
                "; answers to eventscope's own stream reads not kept: {}",
                self.own_skipped
            ));
        }
        text
    }
}

/// Shared between a connection task and its readers.
#[derive(Default)]
pub struct ConnectionShared {
    status: Mutex<ConnectionStatus>,
    /// Messages framed from the wire.
    read: AtomicU64,
    /// Messages handed on to the consumer.
    delivered: AtomicU64,
    dropped: AtomicU64,
    malformed: AtomicU64,
    own_skipped: AtomicU64,
    unparseable: AtomicU64,
    server_cuts: AtomicU64,
    lost_in_cuts: AtomicU64,
    unread: AtomicU64,
    disconnects: AtomicU64,
    /// Closed periods without a link, in nanoseconds.
    disconnected_nanos: AtomicU64,
    /// When the current period without a link began.
    down_since: Mutex<Option<std::time::Instant>>,
    /// The server's connection list, when a monitoring URL is set.
    directory: Mutex<Option<(Arc<crate::server_answers::Directory>, Timestamp)>>,
    directory_error: Mutex<Option<String>>,
}

impl ConnectionShared {
    pub fn status(&self) -> ConnectionStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn update(&self, f: impl FnOnce(&mut ConnectionStatus)) {
        if let Ok(mut status) = self.status.lock() {
            f(&mut status);
        }
    }

    pub fn set_state(&self, state: LinkState) {
        self.update(|s| {
            if s.state != state {
                s.state = state;
                s.since = now_timestamp();
            }
        });
    }

    pub fn state(&self) -> LinkState {
        self.status().state
    }

    /// Wait until connected, or until the connection gives up (headless
    /// commands, which connect with `InitialConnect::FailFast`).
    pub async fn connected(&self) -> Result<(), LinkFailure> {
        loop {
            match self.state() {
                LinkState::Connected => return Ok(()),
                LinkState::Failed(e) => return Err(LinkFailure::Failed(e)),
                LinkState::AuthError(e) => return Err(LinkFailure::Auth(e)),
                LinkState::Closed => return Err(LinkFailure::Closed),
                _ => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    }

    /// Say an error in the status (the latest few are kept).
    pub(crate) fn push_error(&self, message: String) {
        const KEEP: usize = 20;
        self.update(|s| {
            s.errors_said += 1;
            s.server_errors.push(message);
            if s.server_errors.len() > KEEP {
                s.server_errors.remove(0);
            }
        });
    }

    pub(crate) fn add_read(&self, n: u64) {
        self.read.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_malformed(&self, n: u64) {
        self.malformed.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_own_skipped(&self, n: u64) {
        self.own_skipped.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_unparseable(&self) {
        self.unparseable.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_unread(&self, n: u64) {
        self.unread.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_server_cut(&self, lost: Option<u64>) {
        self.server_cuts.fetch_add(1, Ordering::Relaxed);
        self.lost_in_cuts
            .fetch_add(lost.unwrap_or(0), Ordering::Relaxed);
    }

    /// The link went down: time without it counts from now.
    pub(crate) fn link_down(&self) {
        self.link_down_since(std::time::Instant::now());
    }

    /// The link went down at `at` (a silent link: when it last carried
    /// anything).
    pub(crate) fn link_down_since(&self, at: std::time::Instant) {
        if let Ok(mut since) = self.down_since.lock()
            && since.is_none()
        {
            *since = Some(at);
            self.disconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The link is back: the period without it is closed.
    pub(crate) fn link_up(&self) {
        if let Ok(mut since) = self.down_since.lock()
            && let Some(start) = since.take()
        {
            let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.disconnected_nanos.fetch_add(nanos, Ordering::Relaxed);
        }
    }

    /// Messages delivered to the app by this connection.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Messages eventscope read but had to drop (no room in flight).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Messages framed from the wire so far (delivered, dropped, or on
    /// their way).
    pub fn in_messages(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Read messages not yet delivered nor dropped.
    pub fn in_flight(&self) -> u64 {
        self.in_messages()
            .saturating_sub(self.delivered() + self.dropped())
    }

    pub fn losses(&self) -> Losses {
        let open = self
            .down_since
            .lock()
            .ok()
            .and_then(|s| *s)
            .map_or(std::time::Duration::ZERO, |s| s.elapsed());
        Losses {
            dropped: self.dropped(),
            server_cuts: self.server_cuts.load(Ordering::Relaxed),
            lost_in_cuts: self.lost_in_cuts.load(Ordering::Relaxed),
            disconnects: self.disconnects.load(Ordering::Relaxed),
            disconnected: std::time::Duration::from_nanos(
                self.disconnected_nanos.load(Ordering::Relaxed),
            ) + open,
            unparseable: self.unparseable.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            own_skipped: self.own_skipped.load(Ordering::Relaxed),
            unread: self.unread.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set_directory(
        &self,
        result: Result<crate::server_answers::Directory, ConnzError>,
    ) {
        match result {
            Ok(directory) => {
                if let Ok(mut slot) = self.directory.lock() {
                    *slot = Some((Arc::new(directory), now_timestamp()));
                }
                if let Ok(mut e) = self.directory_error.lock() {
                    *e = None;
                }
            }
            Err(error) => {
                if let Ok(mut e) = self.directory_error.lock() {
                    *e = Some(error.to_string());
                }
            }
        }
    }

    /// The latest connection list and when it was fetched.
    pub fn directory(&self) -> Option<(Arc<crate::server_answers::Directory>, Timestamp)> {
        self.directory.lock().ok().and_then(|d| d.clone())
    }

    pub fn directory_error(&self) -> Option<String> {
        self.directory_error.lock().ok().and_then(|e| e.clone())
    }
}

/// Why a connection never came up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkFailure {
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Auth(String),
    #[error("the connection was closed")]
    Closed,
}

/// A literal subscription waiting for the user's yes or no.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingConfirm {
    pub connection: ConnectionKey,
    pub spec: SubscriptionSpec,
    pub consumer: String,
}

/// How far the view is behind the network.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Backlog {
    /// Messages read from the network and not yet in the store.
    pub messages: u64,
    /// How old the newest message in the store is while some wait.
    pub seconds: f64,
}
