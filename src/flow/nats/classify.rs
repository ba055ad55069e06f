//! What one record is, from the wire alone: a core publish, a request, a
//! JetStream delivery or acknowledgement, an advisory, API or control
//! traffic. Replies and PubAcks are recognised by the correlator, which knows
//! which reply subjects are outstanding.

use serde::Deserialize;

use crate::capture::Record;
use crate::flow::vocabulary::{AckBody, AdvisoryKind, Class, DeliveryRef, MessageAdvisory};

/// Parse `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`
/// (9 tokens) or `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.…`
/// (11 tokens or more).
pub fn parse_ack_subject(subject: &str) -> Option<DeliveryRef> {
    let rest = subject.strip_prefix("$JS.ACK.")?;
    let tokens: Vec<&str> = rest.split('.').collect();
    let (domain, t) = match tokens.len() {
        7 => (None, &tokens[..]),
        n if n >= 9 => {
            let domain = (tokens[0] != "_").then(|| tokens[0].to_owned());
            (domain, &tokens[2..])
        }
        _ => return None,
    };
    Some(DeliveryRef {
        domain,
        stream: t[0].to_owned(),
        consumer: t[1].to_owned(),
        delivered: t[2].parse().ok()?,
        stream_seq: t[3].parse().ok()?,
        consumer_seq: t[4].parse().ok()?,
        timestamp: t[5].parse().ok()?,
        pending: t[6].parse().ok()?,
    })
}

pub fn parse_ack_body(payload: &[u8]) -> Option<AckBody> {
    let text = std::str::from_utf8(payload).ok()?.trim();
    let (verb, rest) = match text.split_once(char::is_whitespace) {
        Some((v, r)) => (v, Some(r.trim()).filter(|r| !r.is_empty())),
        None => (text, None),
    };
    match verb {
        "" | "+ACK" => Some(AckBody::Ack),
        "-NAK" => {
            #[derive(Deserialize)]
            struct Delay {
                delay: u64,
            }
            let delay_ns = rest
                .and_then(|r| serde_json::from_str::<Delay>(r).ok())
                .map(|d| d.delay);
            Some(AckBody::Nak { delay_ns })
        }
        "+TERM" => Some(AckBody::Term {
            reason: rest.map(str::to_owned),
        }),
        "+WPI" => Some(AckBody::Progress),
        "+NXT" => Some(AckBody::Next),
        _ => None,
    }
}

pub fn parse_message_advisory(subject: &str, payload: &[u8]) -> Option<MessageAdvisory> {
    let rest = subject.strip_prefix("$JS.EVENT.ADVISORY.CONSUMER.")?;
    let kind = match rest.split('.').next()? {
        "MAX_DELIVERIES" => AdvisoryKind::MaxDeliveries,
        "MSG_NAKED" => AdvisoryKind::Naked,
        "MSG_TERMINATED" => AdvisoryKind::Terminated,
        _ => return None,
    };
    #[derive(Deserialize)]
    struct Body {
        stream: String,
        consumer: String,
        stream_seq: u64,
        #[serde(default)]
        deliveries: u64,
        #[serde(default)]
        reason: Option<String>,
    }
    let body: Body = serde_json::from_slice(payload).ok()?;
    Some(MessageAdvisory {
        kind,
        stream: body.stream,
        consumer: body.consumer,
        stream_seq: body.stream_seq,
        deliveries: body.deliveries,
        reason: body.reason.filter(|r| !r.is_empty()),
    })
}

/// A JetStream publish acknowledgement: `{"stream":"ORDERS","seq":1}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PubAck {
    pub stream: String,
    pub seq: u64,
    pub duplicate: bool,
    /// An atomic batch's commit (2.12+): its id and how many members were
    /// stored, the last at `seq`.
    pub batch: Option<(String, u64)>,
}

pub fn parse_pub_ack(payload: &[u8]) -> Option<PubAck> {
    #[derive(Deserialize)]
    struct Body {
        stream: String,
        seq: u64,
        #[serde(default)]
        duplicate: bool,
        #[serde(default)]
        batch: Option<String>,
        #[serde(default)]
        count: Option<u64>,
        /// A failed publish (`Nats-Expected-Last-Sequence`, …) is answered
        /// with an error beside `"seq":0`: not a stored message.
        #[serde(default)]
        error: Option<serde::de::IgnoredAny>,
    }
    // Cheap pre-check: PubAcks are small objects naming a stream.
    if payload.len() > 512 || payload.first() != Some(&b'{') {
        return None;
    }
    let body: Body = serde_json::from_slice(payload).ok()?;
    if body.error.is_some() {
        return None;
    }
    Some(PubAck {
        stream: body.stream,
        seq: body.seq,
        duplicate: body.duplicate,
        batch: body.batch.zip(body.count),
    })
}

/// What a consumer's creation (or info) answer says of it: the server's
/// word on whether its deliveries expect an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerAnswer {
    pub stream: String,
    pub name: String,
    pub ack_none: bool,
    /// The subjects it delivers (`filter_subject(s)`; empty: all).
    pub filters: Vec<String>,
}

/// What a stream's creation, update or info answer says of it. Only a
/// creation says that all of its consumers are seen being created after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamAnswer {
    pub name: String,
    pub created: bool,
    /// Interest retention: a message no consumer wants is not kept.
    pub interest: bool,
    pub(in crate::flow) transform: Option<crate::flow::transform::SubjectTransform>,
    pub max_age_ns: Option<i64>,
}

pub fn parse_stream_answer(payload: &[u8]) -> Option<StreamAnswer> {
    const PREFIX: &[u8] = b"{\"type\":\"io.nats.jetstream.api.v1.stream_";
    if !payload.starts_with(PREFIX) || payload.len() > 256 * 1024 {
        return None;
    }
    let kind = &payload[PREFIX.len()..];
    let created = kind.starts_with(b"create_response");
    if !(created || kind.starts_with(b"update_response") || kind.starts_with(b"info_response")) {
        return None;
    }
    #[derive(Deserialize)]
    struct Transform {
        #[serde(default)]
        src: String,
        dest: String,
    }
    #[derive(Deserialize)]
    struct Config {
        name: String,
        #[serde(default)]
        retention: String,
        #[serde(default)]
        subject_transform: Option<Transform>,
        #[serde(default)]
        max_age: i64,
    }
    #[derive(Deserialize)]
    struct Body {
        config: Config,
    }
    let body: Body = serde_json::from_slice(payload).ok()?;
    let config = body.config;
    Some(StreamAnswer {
        name: config.name,
        created,
        interest: config.retention == "interest",
        transform: config
            .subject_transform
            .map(|t| crate::flow::transform::SubjectTransform::new(&t.src, &t.dest)),
        max_age_ns: (config.max_age > 0).then_some(config.max_age),
    })
}

pub fn parse_consumer_answer(payload: &[u8]) -> Option<ConsumerAnswer> {
    const PREFIX: &[u8] = b"{\"type\":\"io.nats.jetstream.api.v1.consumer_";
    if !payload.starts_with(PREFIX) || payload.len() > 64 * 1024 {
        return None;
    }
    #[derive(Deserialize)]
    struct Config {
        #[serde(default)]
        ack_policy: String,
        #[serde(default)]
        filter_subject: String,
        #[serde(default)]
        filter_subjects: Vec<String>,
    }
    #[derive(Deserialize)]
    struct Body {
        stream_name: String,
        name: String,
        config: Config,
    }
    let body: Body = serde_json::from_slice(payload).ok()?;
    let mut filters = body.config.filter_subjects;
    if !body.config.filter_subject.is_empty() {
        filters.push(body.config.filter_subject);
    }
    Some(ConsumerAnswer {
        stream: body.stream_name,
        name: body.name,
        ack_none: body.config.ack_policy == "none",
        filters,
    })
}

/// A JetStream API error answer to a publish (e.g. no stream matches).
pub fn parse_api_error(payload: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Err {
        description: String,
    }
    #[derive(Deserialize)]
    struct Body {
        error: Err,
    }
    if payload.len() > 2048 || payload.first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice::<Body>(payload)
        .ok()
        .map(|b| b.error.description)
}

/// Classify from the record alone.
pub fn classify(record: &Record) -> Class {
    let subject = record.subject();
    if let Some(headers) = record.headers()
        && headers.status().is_some()
    {
        return Class::Control; // 100 heartbeats/flow control, 408, 503...
    }
    if subject.starts_with('$') {
        if subject.starts_with("$JS.ACK.") {
            if let (Some(ack), Some(body)) =
                (parse_ack_subject(subject), parse_ack_body(record.payload()))
            {
                return Class::Ack {
                    ack,
                    body,
                    sync: record.reply().is_some(),
                };
            }
            return Class::Control;
        }
        if subject.starts_with("$JS.EVENT.ADVISORY.CONSUMER.")
            && let Some(advisory) = parse_message_advisory(subject, record.payload())
        {
            return Class::Advisory(advisory);
        }
        // Key-value and object-store messages are JetStream messages like
        // any other: publishes, PubAcks and deliveries, classified below.
        if !(subject.starts_with("$KV.") || subject.starts_with("$O.")) {
            return Class::Control; // $JS.API, $JS.FC, $JS.EVENT, $SYS…
        }
    }
    match record.reply() {
        Some(reply) if reply.starts_with("$JS.ACK.") => match parse_ack_subject(reply) {
            Some(ack) => Class::Delivery(ack),
            None => Class::Control,
        },
        Some(reply) if reply.starts_with("$JS.FC.") => Class::Control,
        Some(_) => Class::Request,
        // An answer on an inbox whose request was not seen (replies to
        // requests that were are matched first, by the correlator).
        None if subject.starts_with("_INBOX.") => Class::Control,
        None => Class::Publish,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(subject: &str, reply: Option<&str>, payload: &str) -> Record {
        Record::new(0, 0, subject, reply, None, payload.as_bytes())
    }

    #[test]
    fn ack_subjects_in_both_layouts() {
        let v1 = parse_ack_subject("$JS.ACK.ORDERS.worker.2.1.3.1795352350348894744.0")
            .expect("9 tokens");
        assert_eq!(
            v1,
            DeliveryRef {
                domain: None,
                stream: "ORDERS".into(),
                consumer: "worker".into(),
                delivered: 2,
                stream_seq: 1,
                consumer_seq: 3,
                timestamp: 1795352350348894744,
                pending: 0
            }
        );
        let v2 =
            parse_ack_subject("$JS.ACK.hub.Ab3dE5gH.ORDERS.worker.1.7.7.1795356425001434040.0.xyz")
                .expect("11+ tokens");
        assert_eq!(v2.domain.as_deref(), Some("hub"));
        assert_eq!(
            (v2.stream.as_str(), v2.stream_seq, v2.delivered),
            ("ORDERS", 7, 1)
        );
        let no_domain = parse_ack_subject("$JS.ACK._.Ab3dE5gH.S.C.1.2.3.4.5").expect("11 tokens");
        assert_eq!(no_domain.domain, None);
        assert!(parse_ack_subject("$JS.ACK.ORDERS.worker.1.1").is_none());
        assert!(parse_ack_subject("$JS.ACK.S.C.x.1.1.1.1").is_none());
    }

    #[test]
    fn ack_bodies() {
        assert_eq!(parse_ack_body(b""), Some(AckBody::Ack));
        assert_eq!(parse_ack_body(b"+ACK"), Some(AckBody::Ack));
        assert_eq!(
            parse_ack_body(b"-NAK"),
            Some(AckBody::Nak { delay_ns: None })
        );
        assert_eq!(
            parse_ack_body(br#"-NAK {"delay": 1000000000}"#),
            Some(AckBody::Nak {
                delay_ns: Some(1_000_000_000)
            })
        );
        assert_eq!(
            parse_ack_body(b"+TERM"),
            Some(AckBody::Term { reason: None })
        );
        assert_eq!(
            parse_ack_body(b"+TERM invalid schema"),
            Some(AckBody::Term {
                reason: Some("invalid schema".into())
            })
        );
        assert_eq!(parse_ack_body(b"+WPI"), Some(AckBody::Progress));
        assert_eq!(parse_ack_body(br#"+NXT {"batch":1}"#), Some(AckBody::Next));
        assert_eq!(parse_ack_body(b"hello"), None);
    }

    #[test]
    fn advisories_and_pub_acks() {
        let adv = parse_message_advisory(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORDERS.worker",
            br#"{"type":"io.nats.jetstream.advisory.v1.max_deliver","id":"x","timestamp":"2026-11-22T13:14:46.9Z","stream":"ORDERS","consumer":"worker","stream_seq":3,"deliveries":3}"#,
        )
        .expect("advisory");
        assert_eq!(
            (adv.kind, adv.stream_seq, adv.deliveries),
            (AdvisoryKind::MaxDeliveries, 3, 3)
        );
        assert_eq!(
            parse_pub_ack(br#"{"stream":"ORDERS","seq":1,"duplicate":true}"#),
            Some(PubAck {
                stream: "ORDERS".into(),
                seq: 1,
                duplicate: true,
                batch: None
            })
        );
        assert_eq!(parse_pub_ack(br#"{"price":42}"#), None);
        assert_eq!(
            parse_api_error(
                br#"{"error":{"code":503,"err_code":10039,"description":"jetstream not enabled"}}"#
            )
            .as_deref(),
            Some("jetstream not enabled")
        );
    }

    #[test]
    fn classes_from_real_subjects() {
        assert_eq!(classify(&rec("orders.created", None, "{}")), Class::Publish);
        assert_eq!(classify(&rec("_INBOX.a.b", None, "{}")), Class::Control);
        assert_eq!(
            classify(&rec("svc.price", Some("_INBOX.a.b"), "{}")),
            Class::Request
        );
        assert!(matches!(
            classify(&rec("orders.paid", Some("$JS.ACK.ORDERS.worker.1.2.2.1795352350349693583.0"), "{}")),
            Class::Delivery(a) if a.stream_seq == 2
        ));
        assert!(matches!(
            classify(&rec(
                "$JS.ACK.ORDERS.worker.1.2.2.1795352350349693583.0",
                None,
                "+TERM"
            )),
            Class::Ack {
                body: AckBody::Term { .. },
                sync: false,
                ..
            }
        ));
        assert!(matches!(
            classify(&rec(
                "$JS.ACK.ORDERS.worker.1.7.10.1795353284903927602.1",
                Some("_INBOX.x.y"),
                ""
            )),
            Class::Ack {
                body: AckBody::Ack,
                sync: true,
                ..
            }
        ));
        assert_eq!(
            classify(&rec(
                "$JS.API.CONSUMER.MSG.NEXT.ORDERS.worker",
                Some("_INBOX.x"),
                "{}"
            )),
            Class::Control
        );
        assert_eq!(
            classify(&rec("$JS.EVENT.ADVISORY.API", None, "{}")),
            Class::Control
        );
        assert_eq!(
            classify(&rec("deliver.x", Some("$JS.FC.ORDERS.x.y"), "")),
            Class::Control
        );
    }
}
