//! The monitoring side of one connection: subscriptions read straight from
//! the protocol, every message kept as it came, every loss counted, and the
//! link made again whatever ended it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Buf;
use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::sync::mpsc;

use super::frame::{self, Frame, Parsed};
use super::link::{self, Link, ResolvedAuth, Stream};
use crate::broker::EventSink;
use crate::broker::nats::own;
use crate::broker::profile::{ConnectionProfile, InitialConnect, SubscriptionSpec};
use crate::broker::reading::Reading;
use crate::broker::status::{ConnectionShared, LinkState, ServerSummary, SubscriptionState};
use crate::capture::now_timestamp;
use crate::capture::{ConnectionKey, Incoming};

/// A ping goes out this often; the server answers within milliseconds.
pub const PING_EVERY: Duration = Duration::from_secs(1);
/// Nothing at all read for this long while a ping waits for its answer:
/// the link is dead even if the socket says nothing (a blackhole). Data
/// arriving counts as life, so a busy link never trips it.
pub const STALE_AFTER: Duration = Duration::from_millis(2200);
/// Longest wait between two attempts to connect.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A link that stayed up this long resets the backoff when it ends.
const STABLE_AFTER: Duration = Duration::from_secs(5);
/// The first wait that is not zero; each failure in a row doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Bytes asked of the socket per read at least.
const READ_CHUNK: usize = 64 * 1024;

/// What the connection task asks of its monitoring session.
#[derive(Debug)]
pub(crate) enum WireCommand {
    Subscribe(SubscriptionSpec),
    Unsubscribe(String),
    /// See `Command::InjectPanic`.
    Panic,
}

/// Why a link ended.
#[derive(Debug)]
enum Ended {
    /// The consumer is gone or the user closed the connection.
    Closed,
    /// The server refused our credentials.
    Auth(String),
    /// The link broke; reconnect.
    Broken(String),
}

/// The last link's identity, to ask the server afterwards why it ended.
#[derive(Clone, Debug)]
pub(crate) struct EndedLink {
    pub client_id: Option<u64>,
    /// Messages read on that link.
    pub received: u64,
    pub reason: String,
}

pub(crate) struct WireSession {
    pub key: ConnectionKey,
    pub profile: ConnectionProfile,
    pub mode: InitialConnect,
    pub shared: Arc<ConnectionShared>,
    pub sink: EventSink,
    pub commands: mpsc::Receiver<WireCommand>,
    /// Links that ended, for the connection task to look up.
    pub ended_links: mpsc::Sender<EndedLink>,
    /// Wait this long before the first attempt.
    pub start_delay: Duration,
}

struct Subscription {
    sid: u64,
    spec: SubscriptionSpec,
}

impl WireSession {
    pub async fn run(mut self) {
        let name = format!("eventscope:{} (monitor)", self.profile.name);
        let mut subscriptions: Vec<Subscription> = Vec::new();
        let mut next_sid: u64 = 1;
        for spec in std::mem::take(&mut self.profile.subscriptions) {
            subscriptions.push(Subscription {
                sid: next_sid,
                spec,
            });
            next_sid += 1;
        }
        let mut servers = self.profile.server_list();
        if servers.is_empty() {
            self.shared
                .set_state(LinkState::Failed("no server URL to connect to".into()));
            return;
        }
        // A link restarted after a panic waits a little: a panic that
        // repeats must not turn into a busy loop.
        tokio::time::sleep(self.start_delay).await;
        // Failures in a row, and the last reason each server gave in them.
        let mut attempt: u32 = 0;
        let mut failures: Vec<(String, String)> = Vec::new();
        let mut ever_up = false;
        let mut server_index = 0;
        loop {
            let server = servers[server_index % servers.len()].clone();
            let opened = match ResolvedAuth::from_profile(&self.profile).await {
                Ok(auth) => link::open(&server, &self.profile, &auth, &name).await,
                Err(e) => Err(e),
            };
            let all_tried = server_index + 1 >= servers.len();
            let failure = match opened {
                Ok(link) => {
                    for url in &link.info.connect_urls {
                        if !servers.contains(url) {
                            servers.push(url.clone());
                        }
                    }
                    let client_id = link.info.client_id;
                    let read_before = self.shared.in_messages();
                    let served = Instant::now();
                    let (ended, confirmed) = self
                        .serve(link, &mut subscriptions, &mut next_sid, &mut ever_up)
                        .await;
                    let received = self.shared.in_messages() - read_before;
                    match ended {
                        Ended::Closed => return,
                        Ended::Auth(reason) => {
                            self.shared.set_state(LinkState::AuthError(reason));
                            return;
                        }
                        // The server took the link and then refused it (at
                        // its connection limit, `-ERR` after CONNECT): a
                        // failure to connect, not a link that ended.
                        Ended::Broken(reason) if !confirmed => {
                            if !ever_up && self.mode == InitialConnect::FailFast && all_tried {
                                note_failure(&mut failures, &server, reason);
                                self.shared
                                    .set_state(LinkState::Failed(every_seed(&failures)));
                                return;
                            }
                            reason
                        }
                        Ended::Broken(reason) => {
                            if ever_up {
                                let _ = self.ended_links.try_send(EndedLink {
                                    client_id,
                                    received,
                                    reason: reason.clone(),
                                });
                            }
                            // A link that held a while earns a fresh start;
                            // one that breaks at once (a server that answers
                            // PONG, then garbage) is a failure like any: no
                            // storm of reconnects.
                            if served.elapsed() >= STABLE_AFTER {
                                attempt = 0;
                                failures.clear();
                            }
                            reason
                        }
                    }
                }
                Err(error) => {
                    if error.is_configuration() {
                        self.shared.set_state(LinkState::Failed(error.to_string()));
                        return;
                    }
                    // Fail fast means: every seed tried once.
                    if !ever_up && self.mode == InitialConnect::FailFast && all_tried {
                        note_failure(&mut failures, &server, error.to_string());
                        self.shared
                            .set_state(LinkState::Failed(every_seed(&failures)));
                        return;
                    }
                    error.to_string()
                }
            };
            note_failure(&mut failures, &server, failure.clone());
            attempt += 1;
            server_index += 1;
            self.shared.set_state(if ever_up {
                LinkState::Reconnecting {
                    attempt: attempt as usize,
                }
            } else {
                LinkState::Connecting {
                    attempt,
                    last_error: Some(every_seed(&failures)),
                }
            });
            let wait = tokio::time::sleep(backoff(attempt));
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    command = self.commands.recv() => match command {
                        None => {
                            self.shared.set_state(LinkState::Closed);
                            return;
                        }
                        Some(command) => apply_offline(command, &mut subscriptions, &mut next_sid),
                    },
                }
            }
        }
    }

    /// Read one link until it ends. Everything read is handed on or
    /// counted as dropped before this returns.
    async fn serve(
        &mut self,
        link: Link,
        subscriptions: &mut Vec<Subscription>,
        next_sid: &mut u64,
        ever_up: &mut bool,
    ) -> (Ended, bool) {
        let Link {
            stream,
            info,
            leftover,
            server,
        } = link;
        self.shared.update(|s| {
            s.server = Some(ServerSummary {
                name: info.server_name.clone(),
                version: info.version.clone(),
                address: format!("{}:{}", info.host, info.port),
                jetstream: info.jetstream,
            });
        });
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut hello = String::new();
        for sub in subscriptions.iter() {
            hello.push_str(&sub_line(sub));
        }
        hello.push_str("PING\r\n");
        let mut leftover = leftover;
        if let Err(e) = write(&mut writer, hello.as_bytes()).await {
            // A server at its limit says why and closes before reading:
            // its words, not the broken pipe, are the reason.
            let reason = match last_words(&mut reader, &mut leftover).await {
                Some(text) => self.server_error(&server, &text, false),
                None => None,
            };
            return (
                reason.unwrap_or_else(|| Ended::Broken(format!("{server}: {e}"))),
                false,
            );
        }
        self.publish_subscriptions(subscriptions);
        let mut reading = Reading::new(
            self.key,
            self.shared.clone(),
            self.sink.clone(),
            self.profile.subscription_capacity.unwrap_or(usize::MAX),
        );
        // Reserving room is cancel-safe; sending a batch inside `select!`
        // would lose it when another branch wins.
        let tx = self.sink.tx.clone();
        let mut buf = leftover;
        let mut confirmed = false;
        let mut silent_since: Option<(Instant, crate::capture::Timestamp)> = None;
        let mut pings_waiting: u32 = 1;
        let mut last_read = Instant::now();
        let mut last_read_at = now_timestamp();
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        let ended = loop {
            // Frame everything complete in the buffer.
            let mut used = 0;
            let mut needed = 0;
            let now = now_timestamp();
            let mut to_write: Vec<u8> = Vec::new();
            let mut outcome = None;
            loop {
                match frame::parse(&buf[used..]) {
                    Ok(Parsed::Frame(frame, n)) => {
                        used += n;
                        match frame {
                            Frame::Msg {
                                subject,
                                reply,
                                headers,
                                payload,
                                ..
                            } => {
                                if own::is_own_message(subject, reply, payload)
                                    || own::is_own_event(subject, payload)
                                {
                                    // This process's own requests and their
                                    // answers (stored messages read back, the
                                    // cluster polls, JetStream API calls and
                                    // their audit advisories).
                                    reading.own();
                                } else {
                                    reading.message(
                                        now,
                                        &Incoming {
                                            subject,
                                            reply,
                                            headers,
                                            fields: "",
                                            payload,
                                        },
                                    );
                                }
                            }
                            Frame::Ping => to_write.extend_from_slice(b"PONG\r\n"),
                            Frame::Pong => {
                                pings_waiting = pings_waiting.saturating_sub(1);
                                if !confirmed {
                                    confirmed = true;
                                    self.went_up(ever_up).await;
                                }
                            }
                            Frame::Ok => {}
                            Frame::Info(json) => {
                                if let Ok(update) = link::ServerInfo::parse(json)
                                    && update.lame_duck
                                {
                                    push_error(
                                        &self.shared,
                                        format!("{server} entered lame duck mode"),
                                    );
                                }
                            }
                            Frame::Err(text) => {
                                let text =
                                    String::from_utf8_lossy(text).trim_matches('\'').to_owned();
                                if let Some(end) = self.server_error(&server, &text, confirmed) {
                                    outcome = Some(end);
                                    break;
                                }
                            }
                        }
                    }
                    Ok(Parsed::Incomplete(n)) => {
                        needed = n;
                        break;
                    }
                    Err(e) => {
                        self.shared.add_unparseable();
                        outcome = Some(Ended::Broken(format!(
                            "{server} sent a stream that cannot be framed ({e}); reconnecting"
                        )));
                        break;
                    }
                }
            }
            buf.advance(used);
            reading.finish_batch();
            if let Some(end) = outcome {
                break end;
            }
            if !to_write.is_empty()
                && let Err(e) = write(&mut writer, &to_write).await
            {
                break Ended::Broken(format!("{server}: {e}"));
            }
            buf.reserve(needed.saturating_sub(buf.len()).max(READ_CHUNK));
            tokio::select! {
                biased;
                room = tx.reserve(), if !reading.ready.is_empty() => match room {
                    Ok(room) => reading.send_with(room),
                    Err(_) => break Ended::Closed,
                },
                read = reader.read_buf(&mut buf) => match read {
                    Ok(0) => break Ended::Broken(format!("{server} closed the connection")),
                    Ok(_) => {
                        last_read = Instant::now();
                        last_read_at = now_timestamp();
                    }
                    Err(e) => break Ended::Broken(format!("reading from {server}: {e}")),
                },
                _ = ping.tick() => {
                    if pings_waiting > 0 && last_read.elapsed() >= STALE_AFTER {
                        // The link was dead from the last byte it carried:
                        // the gap starts there, not when we noticed.
                        silent_since = Some((last_read, last_read_at));
                        break Ended::Broken(format!(
                            "{server} sent nothing for {:.1} s and did not answer a ping: the link is dead",
                            last_read.elapsed().as_secs_f64()
                        ));
                    }
                    pings_waiting += 1;
                    if let Err(e) = write(&mut writer, b"PING\r\n").await {
                        break Ended::Broken(format!("{server}: {e}"));
                    }
                }
                command = self.commands.recv() => match command {
                    None => break Ended::Closed,
                    Some(WireCommand::Panic) => panic!("a panic injected by a test"),
                    Some(WireCommand::Subscribe(spec)) => {
                        if subscriptions.iter().any(|s| s.spec.pattern == spec.pattern) {
                            continue;
                        }
                        let sub = Subscription { sid: *next_sid, spec };
                        *next_sid += 1;
                        let line = sub_line(&sub) + "PING\r\n";
                        pings_waiting += 1;
                        subscriptions.push(sub);
                        self.publish_subscriptions(subscriptions);
                        if let Err(e) = write(&mut writer, line.as_bytes()).await {
                            break Ended::Broken(format!("{server}: {e}"));
                        }
                    }
                    Some(WireCommand::Unsubscribe(pattern)) => {
                        let Some(at) = subscriptions.iter().position(|s| s.spec.pattern == pattern) else {
                            continue;
                        };
                        let sub = subscriptions.remove(at);
                        self.publish_subscriptions(subscriptions);
                        if let Err(e) = write(&mut writer, format!("UNSUB {}\r\n", sub.sid).as_bytes()).await {
                            break Ended::Broken(format!("{server}: {e}"));
                        }
                    }
                },
            }
        };
        // What was read is handed on (or counted) before the gap is marked.
        reading.finish_batch();
        while !reading.ready.is_empty() {
            match tx.reserve().await {
                Ok(room) => reading.send_with(room),
                Err(_) => return (Ended::Closed, confirmed),
            }
        }
        if confirmed && !matches!(ended, Ended::Closed) {
            self.went_down(&ended, silent_since).await;
        }
        if matches!(ended, Ended::Closed) {
            let _ = tokio::time::timeout(Duration::from_millis(200), writer.shutdown()).await;
        }
        (ended, confirmed)
    }

    /// What a `-ERR` means: the end of the link, or a note.
    fn server_error(&self, server: &str, text: &str, confirmed: bool) -> Option<Ended> {
        push_error(&self.shared, text.to_owned());
        let lower = text.to_ascii_lowercase();
        if lower.contains("permissions violation for subscription") {
            self.shared.update(|s| {
                for state in &mut s.subscriptions {
                    if text.contains(&format!("\"{}\"", state.pattern)) {
                        state.active = false;
                        state.error = Some(text.to_owned());
                    }
                }
            });
            return None;
        }
        if lower.contains("permissions violation") {
            return None;
        }
        let auth = lower.contains("authorization violation")
            || lower.contains("authentication")
            || lower.contains("user authentication");
        if auth && !confirmed {
            return Some(Ended::Auth(format!(
                "{server} refused the credentials ({text})"
            )));
        }
        // The server closes the connection after any other error.
        Some(Ended::Broken(format!("{server} refused: {text}")))
    }

    async fn went_up(&self, ever_up: &mut bool) {
        *ever_up = true;
        self.sink.link_came_up(self.key, &self.shared).await;
    }

    async fn went_down(&self, ended: &Ended, since: Option<(Instant, crate::capture::Timestamp)>) {
        let since = since.unwrap_or_else(|| (Instant::now(), now_timestamp()));
        let reason = match ended {
            Ended::Broken(reason) | Ended::Auth(reason) => Some(reason.clone()),
            Ended::Closed => None,
        };
        self.sink
            .link_went_down(self.key, &self.shared, since, reason)
            .await;
    }

    /// The subscriptions as the status shows them; one the server refused
    /// keeps its error.
    fn publish_subscriptions(&self, subscriptions: &[Subscription]) {
        self.shared.update(|s| {
            s.subscriptions = subscriptions
                .iter()
                .map(|sub| {
                    let previous = s
                        .subscriptions
                        .iter()
                        .find(|x| x.pattern == sub.spec.pattern && x.error.is_some());
                    SubscriptionState {
                        pattern: sub.spec.pattern.clone(),
                        queue_group: sub.spec.queue_group.clone(),
                        active: previous.is_none(),
                        error: previous.and_then(|p| p.error.clone()),
                    }
                })
                .collect();
        });
    }
}

/// The wait before the next attempt after `failures` in a row: the first
/// retry goes at once (another server may be up), then from 100 ms
/// doubling up to `MAX_BACKOFF`, each wait drawn between half and all of
/// it, so that monitors refused together do not come back together. A
/// server that accepts the socket and then refuses (`-ERR` after CONNECT)
/// counts as a failure: no storm of connections.
pub(crate) fn backoff(failures: u32) -> Duration {
    if failures <= 1 {
        return Duration::ZERO;
    }
    let full = FIRST_BACKOFF
        .saturating_mul(1 << (failures - 2).min(16))
        .min(MAX_BACKOFF);
    full.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

/// The `-ERR` a server sent before it closed, if any arrives within a
/// moment.
async fn last_words(
    reader: &mut tokio::io::ReadHalf<Box<dyn Stream>>,
    buf: &mut bytes::BytesMut,
) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    loop {
        let mut at = 0;
        while let Ok(Parsed::Frame(frame, n)) = frame::parse(&buf[at..]) {
            at += n;
            if let Frame::Err(text) = frame {
                return Some(String::from_utf8_lossy(text).trim_matches('\'').to_owned());
            }
        }
        buf.reserve(4096);
        match tokio::time::timeout_at(deadline, reader.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return None,
        }
    }
}

/// Keep the latest reason `server` gave, once per server.
fn note_failure(failures: &mut Vec<(String, String)>, server: &str, reason: String) {
    match failures.iter_mut().find(|(s, _)| s == server) {
        Some((_, last)) => *last = reason,
        None => failures.push((server.to_owned(), reason)),
    }
}

/// Every server tried and what each said (reasons already name their
/// server when they come from the link).
fn every_seed(failures: &[(String, String)]) -> String {
    let each: Vec<String> = failures
        .iter()
        .map(|(server, reason)| {
            let shown = crate::broker::profile::redact_url(server);
            if reason.contains(&shown) {
                reason.clone()
            } else {
                format!("{shown}: {reason}")
            }
        })
        .collect();
    match each.as_slice() {
        [one] => one.clone(),
        _ => format!("no server accepted the connection: {}", each.join("; ")),
    }
}

fn apply_offline(command: WireCommand, subscriptions: &mut Vec<Subscription>, next_sid: &mut u64) {
    match command {
        WireCommand::Subscribe(spec) => {
            if !subscriptions.iter().any(|s| s.spec.pattern == spec.pattern) {
                subscriptions.push(Subscription {
                    sid: *next_sid,
                    spec,
                });
                *next_sid += 1;
            }
        }
        WireCommand::Unsubscribe(pattern) => subscriptions.retain(|s| s.spec.pattern != pattern),
        WireCommand::Panic => panic!("a panic injected by a test"),
    }
}

fn sub_line(sub: &Subscription) -> String {
    match &sub.spec.queue_group {
        Some(group) => format!("SUB {} {} {}\r\n", sub.spec.pattern, group, sub.sid),
        None => format!("SUB {} {}\r\n", sub.spec.pattern, sub.sid),
    }
}

/// Writes are a few bytes (pings, subscriptions); a socket that cannot take
/// them within the stale limit is as dead as one that sends nothing.
async fn write(writer: &mut WriteHalf<Box<dyn Stream>>, bytes: &[u8]) -> Result<(), WriteError> {
    match tokio::time::timeout(STALE_AFTER, async {
        writer.write_all(bytes).await?;
        writer.flush().await
    })
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(WriteError::Failed(e)),
        Err(_) => Err(WriteError::NotTaken),
    }
}

/// Why a write to the server did not go through.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("write failed: {0}")]
    Failed(#[from] std::io::Error),
    #[error("the server does not take our writes (blackhole?)")]
    NotTaken,
}

pub(crate) fn push_error(shared: &ConnectionShared, message: String) {
    shared.push_error(message);
}
