//! What every broker's monitoring task does alike, written once: connect
//! to the profile's servers in turn with a growing wait, say each failure
//! in the status, stop retrying what only a new configuration can fix, run
//! the broker's session while the link is up and mark the gap when it goes
//! down, keep obeying commands while there is no link (subscriptions are
//! remembered, sends go on links of their own), and close on request.
//! Each broker supplies its link, its session and its sends
//! (`BrokerLink`); NATS's own task predates this and keeps its own loop
//! (its link, client and JetStream handle are managed together).

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::profile::{ConnectionProfile, InitialConnect};
use super::status::{ConnectionShared, LinkState};
use super::{ClientError, Command, EventSink, JobProgress, JobSpec, SendMode, SendOutcome};
use super::{TraceError, WireMessage};
use crate::capture::{ConnectionKey, now_timestamp};

/// Longest wait between two attempts to connect.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a session ended.
pub(crate) enum Ended<E> {
    /// The user closed the connection.
    Closed,
    Broken(E),
}

/// A link's error, as the loop needs to know it.
pub(crate) trait LinkError: std::fmt::Display + Send {
    /// Retrying cannot fix it: the configuration must change.
    fn is_configuration(&self) -> bool;
    /// A refusal of who the user is (credentials, permissions).
    fn is_auth(&self) -> bool;
}

/// One broker's part of a monitoring task.
pub(crate) trait BrokerLink: Sized + Send + 'static {
    type Link: Send;
    type Error: LinkError;
    /// The broker's name in a refusal: "an MQTT connection".
    const CONNECTION: &'static str;

    fn open(
        task: &Retrying<Self>,
        url: &str,
    ) -> impl Future<Output = Result<Self::Link, Self::Error>> + Send;

    /// Read while the link is up (records, acks, keep-alives, commands).
    fn session(
        task: &mut Retrying<Self>,
        link: Self::Link,
        ever_up: &mut bool,
    ) -> impl Future<Output = Ended<Self::Error>> + Send;

    /// One message sent on a link of its own.
    fn send(
        profile: ConnectionProfile,
        message: WireMessage,
        mode: SendMode,
    ) -> impl Future<Output = SendOutcome> + Send + 'static;

    /// A job (a replay) on a link of its own.
    fn run_job(
        profile: ConnectionProfile,
        job: JobSpec,
        progress: Arc<JobProgress>,
    ) -> impl Future<Output = ()> + Send + 'static;
}

/// The task behind one connection of broker `B`.
pub(crate) struct Retrying<B: BrokerLink> {
    pub key: ConnectionKey,
    pub profile: ConnectionProfile,
    pub mode: InitialConnect,
    pub shared: Arc<ConnectionShared>,
    pub sink: EventSink,
    pub commands: mpsc::Receiver<Command>,
    /// (A function type: the task holds no `B`, so it is Send and Sync
    /// whatever `B` is.)
    broker: PhantomData<fn() -> B>,
}

impl<B: BrokerLink> Retrying<B> {
    pub fn new(
        key: ConnectionKey,
        profile: ConnectionProfile,
        mode: InitialConnect,
        shared: Arc<ConnectionShared>,
        sink: EventSink,
        commands: mpsc::Receiver<Command>,
    ) -> Self {
        Self {
            key,
            profile,
            mode,
            shared,
            sink,
            commands,
            broker: PhantomData,
        }
    }

    pub async fn run(mut self) {
        let servers = self.profile.server_list();
        let mut attempt: u32 = 0;
        let mut ever_up = false;
        loop {
            let url = servers
                .get(attempt as usize % servers.len().max(1))
                .cloned()
                .unwrap_or_default();
            let failed = match B::open(&self, &url).await {
                Ok(link) => {
                    attempt = 0;
                    match B::session(&mut self, link, &mut ever_up).await {
                        Ended::Closed => break,
                        Ended::Broken(reason) if reason.is_configuration() => Some(reason),
                        Ended::Broken(reason) => {
                            self.went_down(reason).await;
                            None
                        }
                    }
                }
                Err(e) => {
                    attempt += 1;
                    if e.is_configuration() || self.mode == InitialConnect::FailFast {
                        Some(e)
                    } else {
                        let said = e.to_string();
                        self.shared.set_state(if ever_up {
                            LinkState::Reconnecting {
                                attempt: attempt as usize,
                            }
                        } else {
                            LinkState::Connecting {
                                attempt,
                                last_error: Some(said),
                            }
                        });
                        None
                    }
                }
            };
            // Retrying cannot fix a refusal or a bad setting; a headless
            // command reports the first failure.
            if let Some(e) = failed {
                let said = e.to_string();
                self.shared.set_state(if e.is_auth() {
                    LinkState::AuthError(said)
                } else {
                    LinkState::Failed(said)
                });
                self.idle_until_closed().await;
                return;
            }
            let wait = Duration::from_millis(100 << attempt.min(6)).min(MAX_BACKOFF);
            let until = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    command = self.commands.recv() => {
                        if !self.obey_offline(command) {
                            self.shared.set_state(LinkState::Closed);
                            return;
                        }
                    }
                }
            }
        }
        self.shared.set_state(LinkState::Closed);
    }

    /// Without a link, commands that need none still work; false on Close.
    fn obey_offline(&mut self, command: Option<Command>) -> bool {
        match command {
            None | Some(Command::Close) => false,
            Some(Command::Subscribe { spec, .. }) => {
                if !self
                    .profile
                    .subscriptions
                    .iter()
                    .any(|s| s.pattern == spec.pattern)
                {
                    self.profile.subscriptions.push(spec);
                }
                true
            }
            Some(Command::Unsubscribe { pattern }) => {
                self.profile.subscriptions.retain(|s| s.pattern != pattern);
                true
            }
            Some(other) => {
                self.spawn_send(other);
                true
            }
        }
    }

    /// Sends go on links of their own; NATS-only requests are refused in
    /// words.
    pub(crate) fn spawn_send(&self, command: Command) {
        let profile = self.profile.clone();
        match command {
            Command::Send {
                message,
                mode,
                reply,
            } => {
                tokio::spawn(async move {
                    let _ = reply.send(B::send(profile, message, mode).await);
                });
            }
            Command::Job { job, progress } => {
                tokio::spawn(B::run_job(profile, job, progress));
            }
            Command::Client { reply } | Command::ReadClient { reply } => {
                let _ = reply.send(Err(ClientError::Refused(format!(
                    "this is {}: JetStream, KV and the cluster views need NATS",
                    B::CONNECTION
                ))));
            }
            Command::Trace { reply, .. } => {
                let _ = reply.send(Err(TraceError::Ended));
            }
            Command::Subscribe { .. }
            | Command::Unsubscribe { .. }
            | Command::Close
            | Command::InjectPanic => {}
        }
    }

    async fn idle_until_closed(&mut self) {
        while let Some(command) = self.commands.recv().await {
            if !self.obey_offline(Some(command)) {
                return;
            }
        }
    }

    async fn went_down(&self, reason: B::Error) {
        let since = (std::time::Instant::now(), now_timestamp());
        self.sink
            .link_went_down(self.key, &self.shared, since, Some(reason.to_string()))
            .await;
    }
}
