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
    if !inbox(subject) && !reply.is_some_and(inbox) {
        return false;
    }
    let Ok(mut r) = registry().lock() else {
        return false;
    };
    let now = Instant::now();
    for candidate in [Some(subject), reply].into_iter().flatten() {
        let Ok(text) = std::str::from_utf8(candidate) else {
            continue;
        };
        if let Some(used) = r.inboxes.get_mut(text)
            && now.duration_since(*used) < LIVES_AFTER_LAST_USE
        {
            *used = now;
            return true;
        }
    }
    if let Some(reply) = reply.and_then(|r| std::str::from_utf8(r).ok())
        && let Some(at) = r
            .requests
            .iter()
            .position(|(s, body, _)| s.as_bytes() == subject && body == payload)
    {
        r.requests.remove(at);
        r.inboxes.insert(reply.to_owned(), now);
        return true;
    }
    false
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
        let Some(at) = r.events.iter().position(|(s, _)| s.as_bytes() == subject) else {
            return false;
        };
        r.events.remove(at);
        return true;
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

    #[test]
    fn an_audit_is_own_once_for_a_request_sent() {
        expect_audit("$JS.API.STREAM.LIST", b"{\"offset\":0}");
        let advisory = br#"{"type":"io.nats.jetstream.advisory.v1.api_audit","subject":"$JS.API.STREAM.LIST","request":"{\"offset\":0}"}"#;
        assert!(is_own_event(b"$JS.EVENT.ADVISORY.API", advisory));
        assert!(!is_own_event(b"$JS.EVENT.ADVISORY.API", advisory));
    }
}
