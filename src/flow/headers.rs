//! What a publish's headers say, read in one pass: producer, message id,
//! trace id, what makes two publishes one message, and the `Nats-*`
//! headers that tell what the server will do with it.

use super::correlator::Correlator;
use super::links::{BatchMember, StoredAt};
use crate::capture::Record;

/// What a publish's headers say (`Correlator::publish_headers`).
#[derive(Default)]
pub(super) struct PublishHeaders {
    pub(super) producer: Option<String>,
    pub(super) msg_id: Option<String>,
    pub(super) trace_id: Option<String>,
    pub(super) identity: Option<Box<str>>,
    /// The server's RePublish copy of a stored message.
    pub(super) republish_of: Option<StoredAt>,
    pub(super) batch: Option<BatchMember>,
    pub(super) ttl_ns: Option<i64>,
    pub(super) traced: bool,
    /// `Nats-Rollup`: `Some(true)` for `all`, `Some(false)` for `sub`.
    pub(super) rollup_all: Option<bool>,
}

impl Correlator {
    /// What a publish's headers say, read in one pass: the producer and
    /// the message id (the first configured header present of each), the
    /// trace id, and what makes two publishes the same message where the
    /// wire says it without the server: a CloudEvent is its `ce-source`
    /// with its `ce-id` (one service forwarding another's event under its
    /// own source is a new event); other configured id headers by their
    /// value. A `Nats-Msg-Id` is left to the server, which deduplicates
    /// within a stream and says so in the PubAck.
    pub(super) fn publish_headers(&self, record: &Record) -> PublishHeaders {
        let mut found = PublishHeaders::default();
        let Some(headers) = record.headers() else {
            return found;
        };
        let (producers, ids) = (&self.config.producer_headers, &self.config.id_headers);
        let rank =
            |names: &[String], name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        let (mut producer, mut msg_id, mut identity) = (None, None, None);
        let (mut ce_id, mut ce_source) = (None, None);
        let mut server_headers = super::links::ServerHeaders::default();
        for (name, value) in headers.iter() {
            let better = |best: &Option<(usize, &str)>, r: usize| best.is_none_or(|(b, _)| r < b);
            if let Some(r) = rank(producers, name)
                && better(&producer, r)
            {
                producer = Some((r, value));
            }
            if let Some(r) = rank(ids, name) {
                if better(&msg_id, r) {
                    msg_id = Some((r, value));
                }
                if !name.eq_ignore_ascii_case("Nats-Msg-Id")
                    && identity.is_none_or(|(b, _, _)| r < b)
                {
                    identity = Some((r, name, value));
                }
            }
            if name.eq_ignore_ascii_case("traceparent") && found.trace_id.is_none() {
                found.trace_id = value.split('-').nth(1).map(str::to_owned);
            }
            if name.eq_ignore_ascii_case("ce-id") && ce_id.is_none() {
                ce_id = Some(value);
            }
            if name.eq_ignore_ascii_case("ce-source") && ce_source.is_none() {
                ce_source = Some(value);
            }
            if name.len() > 5 && name[..5].eq_ignore_ascii_case("Nats-") {
                server_headers.read(name, value);
            }
        }
        found.republish_of = server_headers.republish_of();
        found.batch = server_headers.batch();
        found.ttl_ns = server_headers.ttl_ns;
        found.traced = server_headers.traced;
        found.rollup_all = server_headers.rollup_all;
        found.producer = producer.map(|(_, v)| v.to_owned());
        found.msg_id = msg_id.map(|(_, v)| v.to_owned());
        found.identity = identity.map(|(_, name, value)| {
            if name.eq_ignore_ascii_case("ce-id") {
                let source = ce_source.unwrap_or("");
                format!("ce-id\0{source}\0{}", ce_id.unwrap_or(value)).into()
            } else {
                format!("{name}\0{value}").into()
            }
        });
        found
    }
}
