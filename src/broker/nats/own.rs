//! This process's own requests, told apart from the watched system's
//! traffic by something no other client can know in advance: each request
//! gets a fresh inbox of 128 random bits, known as ours only while the
//! request lives. A monitoring link subscribed to `>` sees the requests and
//! their answers; it leaves out exactly those (counted as own reads).
//!
//! Never a prefix: a prefix is on the wire in every request's reply subject,
//! and anyone who reads it could publish under it to hide a message from
//! the monitor. An inbox seen on the wire is only good while its request is
//! in flight, and a message sent to it is addressed to us.
//!
//! The window's reads through async-nats' own KV and object store clients
//! (whose requests and consumers async-nats makes up) go on a client of
//! their own, the read client, whose inbox prefix is 128 random bits. Its
//! prefix alone makes nothing ours: a JetStream API request is ours when
//! it is a read (stream list or info, an ephemeral consumer delivering to
//! the read client, a direct or stored-message get) of a stream the window
//! is reading at that moment (`reading`), and its reply goes to the read
//! client; that exact reply subject, and the consumer's exact deliver
//! subject, then become ours. A change (a put, a delete, a durable
//! consumer) is never hidden, whoever sends it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rand::Rng;

/// How long an inbox stays ours after it was last used (its request sent,
/// an answer seen): answers reach the monitoring link a moment after they
/// reach the requester, and a scan's answers keep it alive.
const LIVES_AFTER_LAST_USE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Registry {
    /// Live inboxes and when each was last used.
    inboxes: HashMap<String, Instant>,
    /// JetStream API requests sent (subject, body) whose audit advisory
    /// has not been seen yet, with when they were sent.
    audits: Vec<(String, String, Instant)>,
    /// Advisories one of our requests will cause (a stream updated), by
    /// subject, once each.
    events: Vec<(String, Instant)>,
    /// Requests sent through a client's own multiplexed inbox (async-nats
    /// picks its reply subject): known by subject and body, once; their
    /// reply subject then becomes ours, exactly.
    requests: Vec<(String, Vec<u8>, Instant)>,
    /// Inbox prefixes of the read clients (with their trailing dot).
    readers: Vec<String>,
    /// Streams the window is reading, with how many reads hold each and
    /// when the last let go (`""`: the stream list).
    reading: HashMap<String, (usize, Instant)>,
    /// Our consumer creations whose answer has not come: (stream, the
    /// exact reply inbox, whether its CREATED advisory was seen, when).
    creating: Vec<(String, String, bool, Instant)>,
    /// Consumers our read client created, by (stream, name), with when
    /// last used: their deliveries and advisories are ours.
    consumers: HashMap<(String, String), Instant>,
}

impl Registry {
    /// Drop what is no longer ours (every registration does this first, so
    /// what waits is bounded by what was sent in the last few seconds).
    fn forget_expired(&mut self) {
        let now = Instant::now();
        let live = |at: &Instant| now.duration_since(*at) < LIVES_AFTER_LAST_USE;
        self.inboxes.retain(|_, used| live(used));
        self.audits.retain(|(_, _, at)| live(at));
        self.events.retain(|(_, at)| live(at));
        self.requests.retain(|(_, _, at)| live(at));
        self.reading
            .retain(|_, (holders, last)| *holders > 0 || live(last));
        self.creating.retain(|(_, _, _, at)| live(at));
        self.consumers.retain(|_, used| live(used));
    }

    /// A delivery's `$JS.ACK` reply names its stream and consumer: ours
    /// when that consumer is one our read client made.
    fn is_own_delivery(&mut self, reply: &str, now: Instant) -> bool {
        let Some(rest) = reply.strip_prefix("$JS.ACK.") else {
            return false;
        };
        let tokens: Vec<&str> = rest.split('.').collect();
        let (stream, consumer) = match tokens.len() {
            7 => (tokens[0], tokens[1]),
            n if n >= 9 => (tokens[2], tokens[3]),
            _ => return false,
        };
        match self
            .consumers
            .get_mut(&(stream.to_owned(), consumer.to_owned()))
        {
            Some(used) if now.duration_since(*used) < LIVES_AFTER_LAST_USE => {
                *used = now;
                true
            }
            _ => false,
        }
    }

    /// Whether `stream` (`""`: the stream list) is being read now.
    fn is_reading(&self, stream: &str) -> bool {
        self.reading
            .get(stream)
            .is_some_and(|(holders, last)| *holders > 0 || last.elapsed() < LIVES_AFTER_LAST_USE)
    }

    /// A consumer advisory (`…CONSUMER.<ACTION>.<stream>.<name>`) about a
    /// consumer of ours; a CREATED one may come before the answer that
    /// names the consumer, so it is ours once per creation of ours on that
    /// stream still waiting for its answer.
    fn is_own_consumer_event(&mut self, subject: &str) -> bool {
        let Some(rest) = subject.strip_prefix("$JS.EVENT.ADVISORY.CONSUMER.") else {
            return false;
        };
        let mut tokens = rest.splitn(3, '.');
        let (Some(action), Some(stream), Some(name)) =
            (tokens.next(), tokens.next(), tokens.next())
        else {
            return false;
        };
        if self
            .consumers
            .contains_key(&(stream.to_owned(), name.to_owned()))
        {
            return true;
        }
        if action != "CREATED" {
            return false;
        }
        match self
            .creating
            .iter_mut()
            .find(|(s, _, seen, _)| s == stream && !*seen)
        {
            Some((_, _, seen, _)) => {
                *seen = true;
                true
            }
            None => false,
        }
    }

    fn under_reader(&self, subject: &str) -> bool {
        self.readers.iter().any(|p| subject.starts_with(p.as_str()))
    }
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// Set while any inbox is registered: the monitoring link's check costs an
/// atomic load when this process has no request in flight.
static ANY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// 22 characters from 128 random bits (a CSPRNG): what a client library's
/// inbox token looks like, and as unguessable.
pub(crate) fn random_token() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..22)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// A fresh inbox, ours from now until it has not been used for a while.
pub(crate) fn fresh_inbox() -> String {
    let inbox = format!("_INBOX.{}", random_token());
    register(&inbox);
    inbox
}

/// Mark `inbox` (exactly that subject) as ours.
pub(crate) fn register(inbox: &str) {
    if let Ok(mut r) = registry().lock() {
        r.forget_expired();
        r.inboxes.insert(inbox.to_owned(), Instant::now());
        ANY.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether a message read by a monitoring link is one of ours: an answer
/// to a live own inbox, a request carrying one as its reply, or a request
/// we said we would send (its reply subject is then ours).
pub(crate) fn is_own_message(subject: &[u8], reply: Option<&[u8]>, payload: &[u8]) -> bool {
    if !ANY.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    let inbox = |s: &[u8]| s.starts_with(b"_INBOX.");
    // A flow-control answer is sent to the subject the server asked on.
    let flow_control = subject.starts_with(b"$JS.FC.") && reply.is_none();
    // A consumer's delivery keeps its stored subject; its reply names it.
    let delivery = reply.is_some_and(|r| r.starts_with(b"$JS.ACK."));
    if !inbox(subject) && !reply.is_some_and(inbox) && !flow_control && !delivery {
        return false;
    }
    let Ok(mut r) = registry().lock() else {
        return false;
    };
    let now = Instant::now();
    if delivery {
        let reply = reply.and_then(|r| std::str::from_utf8(r).ok());
        if reply.is_some_and(|reply| r.is_own_delivery(reply, now)) {
            return true;
        }
        if !inbox(subject) {
            return false;
        }
    }
    for candidate in [Some(subject), reply].into_iter().flatten() {
        let Ok(text) = std::str::from_utf8(candidate) else {
            continue;
        };
        if let Some(used) = r.inboxes.get_mut(text)
            && now.duration_since(*used) < LIVES_AFTER_LAST_USE
        {
            *used = now;
            // Flow control asked of our consumer: our answer to it is ours.
            if let Some(fc) = reply.and_then(|r| std::str::from_utf8(r).ok())
                && fc.starts_with("$JS.FC.")
                && candidate == subject
            {
                r.inboxes.insert(fc.to_owned(), now);
            }
            // The answer to our consumer creation names the consumer.
            if candidate == subject
                && let Some(at) = r.creating.iter().position(|(_, inbox, _, _)| inbox == text)
            {
                let (stream, _, _, _) = r.creating.remove(at);
                if let Some(name) = created_name(payload) {
                    r.consumers.insert((stream, name), now);
                }
            }
            return true;
        }
    }
    let Some(reply) = reply.and_then(|r| std::str::from_utf8(r).ok()) else {
        return false;
    };
    if let Some(at) = r
        .requests
        .iter()
        .position(|(s, body, _)| s.as_bytes() == subject && body == payload)
    {
        r.requests.remove(at);
        r.inboxes.insert(reply.to_owned(), now);
        return true;
    }
    if !r.under_reader(reply) {
        return false;
    }
    let Ok(subject) = std::str::from_utf8(subject) else {
        return false;
    };
    let Some(read) = ApiRead::of(subject, payload) else {
        return false;
    };
    if !r.is_reading(read.stream) {
        return false;
    }
    if let Some(deliver) = read.deliver_to {
        if !r.under_reader(&deliver) {
            return false;
        }
        r.inboxes.insert(deliver, now);
        r.creating
            .push((read.stream.to_owned(), reply.to_owned(), false, now));
    }
    r.inboxes.insert(reply.to_owned(), now);
    drop(r);
    expect_audit(subject, payload);
    true
}

/// The consumer's name in a consumer-create answer.
fn created_name(payload: &[u8]) -> Option<String> {
    let answer: serde_json::Value = serde_json::from_slice(payload).ok()?;
    Some(answer.get("name")?.as_str()?.to_owned())
}

/// A JetStream API request that only reads: which stream, and where an
/// ephemeral consumer it creates delivers.
struct ApiRead<'a> {
    stream: &'a str,
    deliver_to: Option<String>,
}

impl<'a> ApiRead<'a> {
    /// `None` for anything that changes the system (or is not the API).
    fn of(subject: &'a str, payload: &[u8]) -> Option<Self> {
        let rest = subject.strip_prefix("$JS.API.")?;
        let tokens: Vec<&str> = rest.split('.').collect();
        let stream = match tokens.as_slice() {
            ["STREAM", "LIST" | "NAMES"] => "",
            ["STREAM", "INFO", stream] => stream,
            ["STREAM", "MSG", "GET", stream] => stream,
            ["DIRECT", "GET", stream, ..] => stream,
            ["CONSUMER", "CREATE", stream, ..] => {
                // Ephemeral, delivering to the read client: an ordered
                // consumer of async-nats' KV or object store client.
                let body: serde_json::Value = serde_json::from_slice(payload).ok()?;
                let config = body.get("config")?;
                if config.get("durable_name").is_some_and(|d| !d.is_null()) {
                    return None;
                }
                let deliver = config.get("deliver_subject")?.as_str()?.to_owned();
                return Some(Self {
                    stream,
                    deliver_to: Some(deliver),
                });
            }
            _ => return None,
        };
        Some(Self {
            stream,
            deliver_to: None,
        })
    }
}

/// A read client's inbox prefix: 128 random bits, registered as a reader
/// (which makes nothing ours by itself; see the top of this file).
pub(crate) fn reader_prefix() -> String {
    let prefix = format!("_INBOX.{}", random_token());
    if let Ok(mut r) = registry().lock() {
        r.readers.push(format!("{prefix}."));
    }
    prefix
}

/// The window reads `stream` (`""`: the stream list) until this is dropped,
/// and for a few seconds after: its read client's requests about it are
/// ours.
pub(crate) struct Reading(String);

pub(crate) fn reading(stream: &str) -> Reading {
    if let Ok(mut r) = registry().lock() {
        r.forget_expired();
        r.reading
            .entry(stream.to_owned())
            .or_insert((0, Instant::now()))
            .0 += 1;
        ANY.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Reading(stream.to_owned())
}

impl Drop for Reading {
    fn drop(&mut self) {
        if let Ok(mut r) = registry().lock()
            && let Some((holders, last)) = r.reading.get_mut(&self.0)
        {
            *holders = holders.saturating_sub(1);
            *last = Instant::now();
        }
    }
}

/// Note a request about to be sent through a client's multiplexed inbox
/// (a JetStream API call): the request, its answer and its audit advisory
/// are then known as ours. A reply subject picked by async-nats under the
/// client's one wildcard subscription, whose interest every server of a
/// cluster already knows: a fresh subscription per request could lose the
/// answer of a meta leader on another server (route interest arrives on
/// another route connection than the request).
pub(crate) fn expect_request(subject: &str, body: &[u8]) {
    expect_audit(subject, body);
    if let Ok(mut r) = registry().lock() {
        r.forget_expired();
        r.requests
            .push((subject.to_owned(), body.to_vec(), Instant::now()));
        ANY.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Note a JetStream API request about to be sent, so that the server's
/// audit advisory about it (`$JS.EVENT.ADVISORY.API`) is known as ours.
pub(crate) fn expect_audit(subject: &str, body: &[u8]) {
    if let Ok(mut r) = registry().lock() {
        r.forget_expired();
        let body = String::from_utf8_lossy(body).into_owned();
        r.audits.push((subject.to_owned(), body, Instant::now()));
        ANY.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Note an advisory one of our requests is about to cause (`subject`
/// exactly, once), so that it is known as ours.
pub(crate) fn expect_event(subject: &str) {
    if let Ok(mut r) = registry().lock() {
        r.forget_expired();
        r.events.push((subject.to_owned(), Instant::now()));
        ANY.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether a JetStream advisory is about one of our own requests: the API
/// audit of a request sent (its subject and body), or an advisory it was
/// expected to cause; once each. Read only for advisory subjects.
pub(crate) fn is_own_event(subject: &[u8], payload: &[u8]) -> bool {
    if !subject.starts_with(b"$JS.EVENT.ADVISORY.")
        || !ANY.load(std::sync::atomic::Ordering::Relaxed)
    {
        return false;
    }
    if subject != b"$JS.EVENT.ADVISORY.API" {
        let Ok(mut r) = registry().lock() else {
            return false;
        };
        if let Some(at) = r.events.iter().position(|(s, _)| s.as_bytes() == subject) {
            r.events.remove(at);
            return true;
        }
        return std::str::from_utf8(subject).is_ok_and(|s| r.is_own_consumer_event(s));
    }
    let Ok(advisory) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return false;
    };
    let field = |k: &str| advisory.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let (asked, body) = (field("subject"), field("request"));
    let Ok(mut r) = registry().lock() else {
        return false;
    };
    match r
        .audits
        .iter()
        .position(|(s, b, _)| s == asked && b == body)
    {
        Some(at) => {
            r.audits.remove(at);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_live_inbox_is_own() {
        let inbox = fresh_inbox();
        assert!(is_own_message(inbox.as_bytes(), None, b""));
        assert!(is_own_message(b"$JS.API.INFO", Some(inbox.as_bytes()), b""));
        // Its prefix, a sibling or a child is anyone's.
        let prefix = &inbox[..inbox.len() - 4];
        assert!(!is_own_message(prefix.as_bytes(), None, b""));
        assert!(!is_own_message(format!("{inbox}.x").as_bytes(), None, b""));
        assert!(!is_own_message(b"_INBOX.abc", None, b""));
        assert_ne!(fresh_inbox(), fresh_inbox());
    }

    #[test]
    fn a_request_said_in_advance_makes_its_reply_subject_ours_once() {
        expect_request("$JS.API.STREAM.INFO.X", b"");
        let reply = b"_INBOX.mux123.tok456";
        assert!(is_own_message(b"$JS.API.STREAM.INFO.X", Some(reply), b""));
        assert!(is_own_message(reply, None, b"{}"));
        // Once: the same request again is anyone's.
        assert!(!is_own_message(
            b"$JS.API.STREAM.INFO.X",
            Some(b"_INBOX.other.t"),
            b""
        ));
    }

    /// A read client's request is ours only while the window reads that
    /// stream, only if it reads, and only for its exact reply and deliver
    /// subjects; its prefix alone hides nothing.
    #[test]
    fn a_read_clients_reads_of_a_stream_being_read_are_ours_and_nothing_else() {
        let prefix = reader_prefix();
        let reply = format!("{prefix}.r1");
        let info = b"$JS.API.STREAM.INFO.KV_cfg";
        assert!(
            !is_own_message(info, Some(reply.as_bytes()), b""),
            "not reading yet"
        );
        let reading = reading("KV_cfg");
        assert!(is_own_message(info, Some(reply.as_bytes()), b""));
        assert!(is_own_message(reply.as_bytes(), None, b"{}"), "its answer");
        // Another stream, a change, or a reply elsewhere: anyone's.
        let other = format!("{prefix}.r2");
        assert!(!is_own_message(
            b"$JS.API.STREAM.INFO.ORDERS",
            Some(other.as_bytes()),
            b""
        ));
        assert!(!is_own_message(
            b"$JS.API.STREAM.DELETE.KV_cfg",
            Some(other.as_bytes()),
            b""
        ));
        assert!(!is_own_message(
            b"$KV.cfg.key",
            Some(other.as_bytes()),
            b"v"
        ));
        assert!(!is_own_message(info, Some(b"_INBOX.someone.r3"), b""));
        assert!(
            !is_own_message(other.as_bytes(), None, b"hidden?"),
            "the prefix is not ours"
        );
        // An ephemeral consumer delivering to the read client: its exact
        // deliver subject becomes ours; a durable one is never hidden.
        let deliver = format!("{prefix}.d1");
        let create =
            format!(r#"{{"stream_name":"KV_cfg","config":{{"deliver_subject":"{deliver}"}}}}"#);
        let create_reply = format!("{prefix}.r4");
        assert!(is_own_message(
            b"$JS.API.CONSUMER.CREATE.KV_cfg",
            Some(create_reply.as_bytes()),
            create.as_bytes()
        ));
        assert!(is_own_message(
            deliver.as_bytes(),
            Some(b"$JS.ACK.KV_cfg.x.1.1.1.1.0"),
            b"v"
        ));
        let durable =
            format!(r#"{{"config":{{"durable_name":"d","deliver_subject":"{prefix}.d2"}}}}"#);
        assert!(!is_own_message(
            b"$JS.API.CONSUMER.CREATE.KV_cfg",
            Some(format!("{prefix}.r5").as_bytes()),
            durable.as_bytes()
        ));
        drop(reading);
    }

    #[test]
    fn an_audit_is_own_once_for_a_request_sent() {
        expect_audit("$JS.API.STREAM.LIST", b"{\"offset\":0}");
        let advisory = br#"{"type":"io.nats.jetstream.advisory.v1.api_audit","subject":"$JS.API.STREAM.LIST","request":"{\"offset\":0}"}"#;
        assert!(is_own_event(b"$JS.EVENT.ADVISORY.API", advisory));
        assert!(!is_own_event(b"$JS.EVENT.ADVISORY.API", advisory));
    }
}
