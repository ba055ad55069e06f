//! Planning a replay: which message goes where and when. Order is always
//! the captured order; timing is the original spacing divided by a speed
//! factor, a fixed rate, or as fast as possible.

use std::time::Duration;

use bytes::Bytes;

use super::remap::{Remap, remap_subject};
use crate::capture::{Record, Timestamp};

/// Marks replayed messages, so they can be told from the real thing.
pub const REPLAY_HEADER: &str = "Eventscope-Replay";
/// JetStream's deduplication id: kept, a replay into the same stream is
/// deduplicated away within the window; dropped, it is stored again.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";

/// A message ready to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutMessage {
    pub subject: String,
    pub reply: Option<String>,
    pub headers: Vec<(String, String)>,
    pub payload: Bytes,
    /// The broker's own fields (an MQTT QoS and retain), as a record keeps
    /// them; none for NATS.
    pub fields: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Timing {
    /// The captured spacing divided by this factor (2.0 = twice as fast).
    Original { speed: f64 },
    /// A fixed number of messages per second.
    Rate { per_second: f64 },
    /// As fast as the client can publish.
    Max,
}

pub const MIN_SPEED: f64 = 0.1;
pub const MAX_SPEED: f64 = 100.0;

#[derive(Clone, Debug)]
pub struct ReplayOptions {
    pub remaps: Vec<Remap>,
    pub timing: Timing,
    pub keep_msg_id: bool,
    /// Keep the other headers (all but `Nats-Msg-Id`).
    pub keep_headers: bool,
    /// Add `Eventscope-Replay: <original time>`.
    pub mark: bool,
    /// Also replay the machinery (see [`is_machinery`]); off by default.
    pub include_machinery: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            remaps: Vec::new(),
            timing: Timing::Original { speed: 1.0 },
            keep_msg_id: false,
            keep_headers: true,
            mark: true,
            include_machinery: false,
        }
    }
}

/// Traffic of the servers' and clients' machinery rather than the system's
/// events: JetStream API calls and their answers, acks, flow control,
/// advisories, `$SYS` subjects, replies on inboxes, status messages, and
/// JetStream deliveries (copies of a stored message, whose publish is
/// replayed instead). Sent again into a live system, these would act on it
/// (create or delete streams, ack messages that are not theirs), so a
/// replay skips them unless asked.
pub fn is_machinery(record: &Record) -> bool {
    let subject = record.subject();
    subject.starts_with("$JS.")
        || subject.starts_with("$SYS.")
        || subject.starts_with("_INBOX.")
        || record.reply().is_some_and(|r| r.starts_with("$JS."))
        || record.headers().is_some_and(|h| h.status().is_some())
}

impl ReplayOptions {
    /// Whether a record is sent by a replay with these options.
    pub fn replays(&self, record: &Record) -> bool {
        self.include_machinery || !is_machinery(record)
    }
}

/// When to send message `index` (captured at `at`), from the replay start.
pub fn send_offset(timing: Timing, first: Timestamp, at: Timestamp, index: usize) -> Duration {
    match timing {
        Timing::Original { speed } => {
            let speed = speed.clamp(MIN_SPEED, MAX_SPEED);
            let ns = (at - first).max(0) as f64 / speed;
            Duration::from_nanos(ns as u64)
        }
        Timing::Rate { per_second } if per_second > 0.0 => {
            Duration::from_secs_f64(index as f64 / per_second)
        }
        _ => Duration::ZERO,
    }
}

/// The headers a replayed copy of a record carries, in order, handed to
/// `add` (the replay job builds the client's header map from them without
/// an intermediate list): the captured ones kept, then the mark.
pub fn replay_headers(record: &Record, options: &ReplayOptions, mut add: impl FnMut(&str, &str)) {
    kept_headers(record, options, &mut add);
    if options.mark {
        add(
            REPLAY_HEADER,
            &crate::capture::file::format_timestamp(record.received_at),
        );
    }
}

/// The captured headers a replayed copy keeps, in order: the same for two
/// records with the same header text. Status lines are not sent (they are
/// the server's, not a client's); nor are replies, since the requester's
/// inbox is gone.
pub fn kept_headers(record: &Record, options: &ReplayOptions, mut add: impl FnMut(&str, &str)) {
    if let Some(block) = record.headers() {
        for (name, value) in block.iter() {
            let is_id = name.eq_ignore_ascii_case(MSG_ID_HEADER);
            if (is_id && options.keep_msg_id)
                || (!is_id && options.keep_headers && !name.eq_ignore_ascii_case(REPLAY_HEADER))
            {
                add(name, value);
            }
        }
    }
}

/// The first `n` (original, replayed) subjects: the dry run.
pub fn preview(records: &[Record], options: &ReplayOptions, n: usize) -> Vec<(String, String)> {
    records
        .iter()
        .take(n)
        .map(|r| {
            (
                r.subject().to_string(),
                remap_subject(&options.remaps, r.subject()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machinery_is_skipped_unless_asked() {
        let plain =
            |subject: &str, reply: Option<&str>| Record::new(0, 0, subject, reply, None, b"");
        let mut options = ReplayOptions::default();
        for (record, machinery) in [
            (plain("orders.created", None), false),
            (plain("svc.price", Some("_INBOX.a.b")), false),
            (plain("$KV.cfg.key", None), false),
            (plain("$JS.API.STREAM.CREATE.X", Some("_INBOX.a")), true),
            (plain("$JS.ACK.S.C.1.1.1.1.0", None), true),
            (
                plain("$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.S.C", None),
                true,
            ),
            (plain("_INBOX.a.b", None), true),
            (plain("$SYS.REQ.SERVER.PING", None), true),
            (plain("orders.paid", Some("$JS.ACK.S.C.1.1.1.1.0")), true),
        ] {
            assert_eq!(is_machinery(&record), machinery, "{}", record.subject());
            assert_eq!(options.replays(&record), !machinery);
        }
        let status = Record::new(
            0,
            0,
            "_x",
            None,
            Some(&crate::capture::HeaderBlock::build(Some((503, "")), [])),
            b"",
        );
        assert!(is_machinery(&status));
        options.include_machinery = true;
        assert!(options.replays(&status));
    }
    use crate::capture::HeaderBlock;

    fn replay_message(record: &Record, options: &ReplayOptions) -> OutMessage {
        let mut headers: Vec<(String, String)> = Vec::new();
        replay_headers(record, options, |name, value| {
            headers.push((name.to_owned(), value.to_owned()));
        });
        OutMessage {
            subject: remap_subject(&options.remaps, record.subject()),
            reply: None,
            headers,
            payload: record.payload_bytes(),
            fields: record.fields().map(str::to_owned),
        }
    }

    fn rec(at_ms: i64) -> Record {
        Record::new(
            at_ms * 1_000_000,
            0,
            "orders.created",
            Some("_INBOX.x"),
            Some(&HeaderBlock::build(
                Some((100, "Idle")),
                [("Nats-Msg-Id", "m1"), ("ce-id", "a")],
            )),
            b"{}",
        )
    }

    #[test]
    fn timing_modes() {
        let o = |speed| send_offset(Timing::Original { speed }, 0, 2_000_000_000, 5);
        assert_eq!(o(1.0), Duration::from_secs(2));
        assert_eq!(o(4.0), Duration::from_millis(500));
        assert_eq!(o(1000.0), Duration::from_millis(20), "clamped to 100x");
        assert_eq!(
            send_offset(Timing::Rate { per_second: 10.0 }, 0, 0, 5),
            Duration::from_millis(500)
        );
        assert_eq!(send_offset(Timing::Max, 0, 9, 5), Duration::ZERO);
    }

    #[test]
    fn headers_ids_and_marks() {
        let options = ReplayOptions {
            remaps: vec![Remap::parse("orders.>=replay.orders.>").expect("valid")],
            ..ReplayOptions::default()
        };
        let m = replay_message(&rec(0), &options);
        assert_eq!(m.subject, "replay.orders.created");
        assert_eq!(m.reply, None);
        assert_eq!(m.headers[0], ("ce-id".to_owned(), "a".to_owned()));
        assert_eq!(m.headers[1].0, REPLAY_HEADER);
        assert_eq!(
            m.headers.len(),
            2,
            "Nats-Msg-Id dropped by default, status never sent"
        );
        let keep = ReplayOptions {
            keep_msg_id: true,
            mark: false,
            ..ReplayOptions::default()
        };
        let m = replay_message(&rec(0), &keep);
        assert_eq!(
            m.headers,
            [
                ("Nats-Msg-Id".to_owned(), "m1".to_owned()),
                ("ce-id".to_owned(), "a".to_owned())
            ]
        );
        assert_eq!(
            preview(&[rec(0)], &options, 5),
            [(
                "orders.created".to_owned(),
                "replay.orders.created".to_owned()
            )]
        );
    }
}
