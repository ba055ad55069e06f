//! Flow reconstruction on real wire logs (nats-server 2.15): the JetStream
//! pull session behind NATS-WIRE.md and the request/reply session.

mod common;

use common::wire_log;
use eventscope::flow::{Correlator, Final, FlowConfig, FlowKind, Outcome};

fn correlate(log: &str, config: FlowConfig) -> Correlator {
    let mut correlator = Correlator::new(config);
    for (seq, record) in wire_log::records(log).iter().enumerate() {
        correlator.ingest(seq as u64, record);
    }
    correlator
}

#[test]
fn jetstream_pull_session_reconstructs_every_retry() {
    let c = correlate(
        include_str!("fixtures/03_jetstream_pull.raw_wire.log"),
        FlowConfig::default(),
    );
    let now = c.latest();
    let by_seq = |seq: u64| {
        c.flows()
            .find(|f| {
                f.detail().stream.as_deref() == Some("ORDERS") && f.detail().stream_seq == Some(seq)
            })
            .unwrap_or_else(|| panic!("a flow for ORDERS #{seq}"))
    };
    let outcomes = |seq: u64| -> Vec<(String, u64, Outcome)> {
        by_seq(seq)
            .detail()
            .deliveries
            .iter()
            .map(|d| (d.consumer.clone(), d.count, d.outcome))
            .collect()
    };
    let w = |n, o| ("worker".to_owned(), n, o);

    // m1: NAK, NAK (with delay), ACK; and a duplicate publish of its id.
    let m1 = by_seq(1);
    assert_eq!(m1.kind, FlowKind::Jetstream);
    assert_eq!(m1.producer.as_deref(), Some("/shop/orders"));
    assert_eq!(m1.msg_id.as_deref(), Some("js-order-1"));
    assert_eq!(
        outcomes(1),
        [w(1, Outcome::Nak), w(2, Outcome::Nak), w(3, Outcome::Ack)]
    );
    assert_eq!(c.final_of(m1, now), Some(Final::Acked));
    assert_eq!(
        m1.duplicates, 1,
        "the second publish with Nats-Msg-Id js-order-1"
    );
    assert!(m1.has_retries());

    assert_eq!(outcomes(2), [w(1, Outcome::Term)]);
    assert_eq!(c.final_of(by_seq(2), now), Some(Final::Terminated));

    // m3 is never answered: three ack-wait expiries, the last one when the
    // server gives up (MAX_DELIVERIES).
    assert_eq!(
        outcomes(3),
        [
            w(1, Outcome::Timeout),
            w(2, Outcome::Timeout),
            w(3, Outcome::Timeout)
        ]
    );
    assert_eq!(c.final_of(by_seq(3), now), Some(Final::MaxDeliveries));
    let expiries = by_seq(3)
        .detail()
        .steps
        .iter()
        .filter(|s| s.label.contains("ack wait expired"))
        .count();
    assert_eq!(expiries, 3);

    // WPI twice, then ACK; +NXT; +ACK; ack_sync; TERM with a reason.
    assert_eq!(outcomes(4), [w(1, Outcome::Ack)]);
    assert_eq!(
        by_seq(4)
            .detail()
            .steps
            .iter()
            .filter(|s| s.label.starts_with("WPI"))
            .count(),
        2
    );
    for seq in [5, 6, 7] {
        assert_eq!(outcomes(seq), [w(1, Outcome::Ack)], "message {seq}");
    }
    assert!(
        by_seq(7)
            .detail()
            .steps
            .iter()
            .any(|s| s.label == "ACK (sync)")
    );
    assert_eq!(
        by_seq(8).detail().deliveries[0].reason.as_deref(),
        Some("invalid schema")
    );
    assert_eq!(c.final_of(by_seq(8), now), Some(Final::Terminated));
    assert_eq!(
        outcomes(9),
        [("worker-sampled".to_owned(), 1, Outcome::Ack)]
    );

    // Nine messages, nine JetStream flows; API traffic makes none.
    assert_eq!(
        c.flows().filter(|f| f.kind == FlowKind::Jetstream).count(),
        9
    );
    assert_eq!(c.flows().filter(|f| f.kind == FlowKind::Request).count(), 0);
    let (_, counts) = c.select_and_count(eventscope::flow::FlowFilter::All, None, None, now);
    assert_eq!((counts.retries, counts.failed), (2, 3));

    // The time window the diagram uses finds exactly the flows in it.
    let starts: Vec<i64> = c.flows().map(|f| f.started_at).collect();
    let (first, last) = (starts[0], starts[starts.len() - 1]);
    assert_eq!(c.started_within(first, last).count(), starts.len());
    let later = starts.iter().filter(|&&s| s > first).count();
    assert_eq!(c.started_within(first + 1, last).count(), later);
    assert_eq!(c.started_within(last + 1, i64::MAX).count(), 0);
}

#[test]
fn request_reply_session_with_latency_and_no_reply() {
    let config = FlowConfig {
        reply_timeout_ns: 1_000_000_000,
        ..FlowConfig::default()
    };
    let c = correlate(
        include_str!("fixtures/02_request_reply.raw_wire.log"),
        config,
    );
    // The monitor ran until 2.88 s: svc.missing (0.336 s) had its second.
    let now = c.latest() + 2_500_000_000;
    let requests: Vec<_> = c.flows().filter(|f| f.kind == FlowKind::Request).collect();
    assert_eq!(requests.len(), 5);
    let finals: Vec<(&str, Option<Final>)> = requests
        .iter()
        .map(|f| (f.subject.as_str(), c.final_of(f, now)))
        .collect();
    assert_eq!(
        finals,
        [
            ("svc.price", Some(Final::Replied)),
            ("svc.price", Some(Final::Replied)),
            ("svc.price2", Some(Final::Replied)),
            ("svc.price", Some(Final::Replied)),
            ("svc.missing", Some(Final::NoReply)),
        ]
    );
    assert!(
        requests[0]
            .latency()
            .is_some_and(|l| (0..10_000_000).contains(&l))
    );
    assert_eq!(
        requests[2].trace_id.as_deref(),
        Some("aaaabbbbccccddddeeeeffff00001111")
    );
}

/// Every visible flow as `flows --json` prints it, without the numbering
/// (a flow begun early and folded in later still used up an id), sorted.
fn canonical(c: &Correlator) -> Vec<String> {
    let now = c.latest();
    let mut flows: Vec<String> = c
        .flows()
        .map(|f| {
            let mut json = serde_json::to_value(c.json(f, now)).expect("json");
            json["id"] = serde_json::Value::Null;
            json["duplicate_of"] = serde_json::Value::Bool(!json["duplicate_of"].is_null());
            json.to_string()
        })
        .collect();
    flows.sort();
    flows
}

/// Small deterministic generator (xorshift), for the skews.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The records as the monitor might receive them: each one may be
/// overtaken by the next few (publishes, PubAcks, deliveries and answers
/// come from different connections); advisories, sent by the server after
/// an ack wait or an answer, are never earlier than what came before them.
fn skewed(records: &[eventscope::capture::Record], seed: u64, window: u64) -> Vec<usize> {
    let mut dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut keys: Vec<(u64, usize)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let advisory = r.subject().starts_with("$JS.EVENT.ADVISORY.");
            let jitter = if advisory {
                window * 10
            } else {
                dice.below(window * 10)
            };
            (i as u64 * 10 + jitter, i)
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, i)| i).collect()
}

#[test]
fn the_same_flows_whatever_order_the_records_arrive_in() {
    for log in [
        include_str!("fixtures/03_jetstream_pull.raw_wire.log"),
        include_str!("fixtures/02_request_reply.raw_wire.log"),
    ] {
        let records = wire_log::records(log);
        let expected = canonical(&correlate(log, FlowConfig::default()));
        assert!(expected.len() > 4);
        for seed in 0..300 {
            let order = skewed(&records, seed, 3);
            let mut c = Correlator::new(FlowConfig::default());
            for (n, &i) in order.iter().enumerate() {
                c.ingest(n as u64, &records[i]);
            }
            let got = canonical(&c);
            if got != expected {
                let moved: Vec<String> = order
                    .iter()
                    .enumerate()
                    .filter(|(n, i)| n != *i)
                    .map(|(n, &i)| format!("{n}<-{i} {}", records[i].subject()))
                    .collect();
                panic!(
                    "seed {seed}: different flows\nexpected {expected:#?}\ngot {got:#?}\nmoved {moved:#?}"
                );
            }
        }
    }
}

/// A publish, its PubAck, two deliveries and their answers, arriving in
/// every possible order: always the same one flow (the delivery seen
/// before its PubAck split it in two before).
#[test]
fn a_publish_its_puback_and_deliveries_in_any_order_make_one_flow() {
    use eventscope::capture::Record;
    let ack = |delivered: u64| {
        format!("$JS.ACK.ORDERS.worker.{delivered}.7.{delivered}.1795353284893755903.0")
    };
    let records = [
        Record::new(1_000, 0, "orders.new", Some("_INBOX.p.1"), None, b"{}"),
        Record::new(
            2_000,
            0,
            "_INBOX.p.1",
            None,
            None,
            br#"{"stream":"ORDERS","seq":7}"#,
        ),
        Record::new(3_000, 0, "orders.new", Some(&ack(1)), None, b"{}"),
        Record::new(4_000, 0, &ack(1), None, None, b"-NAK"),
        Record::new(5_000, 0, "orders.new", Some(&ack(2)), None, b"{}"),
        Record::new(6_000, 0, &ack(2), None, None, b"+ACK"),
    ];
    let run = |order: &[usize]| {
        let mut c = Correlator::new(FlowConfig::default());
        for (n, &i) in order.iter().enumerate() {
            c.ingest(n as u64, &records[i]);
        }
        canonical(&c)
    };
    let expected = run(&[0, 1, 2, 3, 4, 5]);
    assert_eq!(expected.len(), 1, "{expected:#?}");
    assert!(expected[0].contains(r#""final":"acked""#), "{expected:#?}");
    // Every permutation of the six (Heap's algorithm).
    let mut order = [0, 1, 2, 3, 4, 5];
    let mut c = [0usize; 6];
    let mut i = 1;
    let mut seen = 1;
    while i < 6 {
        if c[i] < i {
            order.swap(if i % 2 == 0 { 0 } else { c[i] }, i);
            assert_eq!(run(&order), expected, "arrival order {order:?}");
            seen += 1;
            c[i] += 1;
            i = 1;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
    assert_eq!(seen, 720);
}
