//! Live state of one connection, written by its background task and read by
//! the UI each frame (a short lock to clone; never held while drawing).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::capture::Timestamp;
use crate::capture::record::now_timestamp;

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
    /// Times the client reported a full subscription buffer.
    pub slow_consumer_events: u64,
    /// Server-side errors seen while connected (e.g. the server cut us off
    /// as a slow consumer), latest last.
    pub server_errors: Vec<String>,
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
        }
    }
}

/// Drop measurements of the current second.
struct DropWindow {
    smallest: Option<u64>,
    started: std::time::Instant,
}

impl Default for DropWindow {
    fn default() -> Self {
        Self {
            smallest: None,
            started: std::time::Instant::now(),
        }
    }
}

const DROP_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// Shared between a connection task and its readers.
#[derive(Default)]
pub struct ConnectionShared {
    status: Mutex<ConnectionStatus>,
    /// Messages our subscription tasks handed on.
    delivered: AtomicU64,
    /// Client-side loss, re-measured whenever every subscription buffer is
    /// empty (see `BusyPumps`).
    dropped: AtomicU64,
    drop_window: Mutex<DropWindow>,
    stats: OnceLock<Arc<async_nats::Statistics>>,
    /// The server's connection list, when a monitoring URL is set.
    directory: Mutex<Option<(Arc<crate::flow::identity::Directory>, Timestamp)>>,
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
    pub async fn connected(&self) -> Result<(), String> {
        loop {
            match self.state() {
                LinkState::Connected => return Ok(()),
                LinkState::Failed(e) | LinkState::AuthError(e) => return Err(e),
                LinkState::Closed => return Err("the connection was closed".into()),
                _ => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    }

    pub(crate) fn set_stats(&self, stats: Arc<async_nats::Statistics>) {
        let _ = self.stats.set(stats);
    }

    pub(crate) fn add_delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
    }

    /// Messages the client has read from the socket (0 before it exists).
    pub(crate) fn messages_read(&self) -> u64 {
        self.stats
            .get()
            .map_or(0, |s| s.in_messages.load(Ordering::Relaxed))
    }

    fn lost(&self, read: u64) -> u64 {
        read.saturating_sub(self.delivered.load(Ordering::Relaxed))
    }

    /// `read` was taken just before every subscription buffer was seen
    /// empty: each of those messages was then delivered or lost, except
    /// one the client had counted but not yet handed over. That one reads
    /// as lost for an instant, and under a flood such instants follow each
    /// other; a real loss stays. So the smallest measurement of each second
    /// is published (the connection re-measures every second while idle).
    pub(crate) fn measure_drops(&self, read: u64) {
        let lost = self.lost(read);
        let Ok(mut window) = self.drop_window.lock() else {
            return;
        };
        let smallest = window.smallest.map_or(lost, |s| s.min(lost));
        if window.started.elapsed() >= DROP_WINDOW {
            self.dropped.store(smallest, Ordering::Relaxed);
            *window = DropWindow::default();
        } else {
            window.smallest = Some(smallest);
        }
    }

    /// Measure once more and publish at once: for a command that stops
    /// reading and reports.
    pub(crate) fn settle_drops(&self) {
        let lost = self.lost(self.messages_read());
        self.dropped.store(lost, Ordering::Relaxed);
    }

    /// Messages delivered to the app by this connection.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Messages the client read but lost because a subscription buffer was
    /// full (slow consumer on our side).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn set_directory(&self, result: Result<crate::flow::identity::Directory, String>) {
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
                    *e = Some(error);
                }
            }
        }
    }

    /// The latest connection list and when it was fetched.
    pub fn directory(&self) -> Option<(Arc<crate::flow::identity::Directory>, Timestamp)> {
        self.directory.lock().ok().and_then(|d| d.clone())
    }

    pub fn directory_error(&self) -> Option<String> {
        self.directory_error.lock().ok().and_then(|e| e.clone())
    }

    /// Bytes and messages read from the socket, if connected once.
    pub fn in_messages(&self) -> u64 {
        self.stats
            .get()
            .map_or(0, |s| s.in_messages.load(Ordering::Relaxed))
    }
}
