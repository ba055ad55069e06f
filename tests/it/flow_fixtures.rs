//! Flow reconstruction on real wire logs (nats-server 2.15): the JetStream
//! pull session behind NATS-WIRE.md and the request/reply session.

use crate::common;

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
    let _timed = common::timed();
    let c = correlate(
        include_str!("../fixtures/03_jetstream_pull.raw_wire.log"),
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
    let _timed = common::timed();
    let config = FlowConfig {
        reply_timeout_ns: 1_000_000_000,
        ..FlowConfig::default()
    };
    let c = correlate(
        include_str!("../fixtures/02_request_reply.raw_wire.log"),
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
    let _timed = common::timed();
    for log in [
        include_str!("../fixtures/03_jetstream_pull.raw_wire.log"),
        include_str!("../fixtures/02_request_reply.raw_wire.log"),
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
    let _timed = common::timed();
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

/// The server's rules whatever order the monitor sees the records in:
/// answers settled by their time (TERM then ACK, a late ACK of an earlier
/// delivery), consumers created and deleted around publishes, a message
/// deleted by sequence, an atomic batch and its commit, a sourced copy and
/// its origin, a trace event and its publish. Every skewed arrival order
/// gives the flows of the order they were sent in.
#[test]
fn server_rules_hold_whatever_order_the_records_arrive_in() {
    let _timed = common::timed();
    let ack = |consumer: &str, delivered: u64, seq: u64| {
        format!("$JS.ACK.S.{consumer}.{delivered}.{seq}.{seq}.1795353284893755903.0")
    };
    let mut wire = Wire::default();
    wire.answer(1, "_INBOX.c.1", r#"{"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"S","retention":"limits"}}"#);
    wire.answer(2, "_INBOX.c.2", r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response","stream_name":"S","name":"w","config":{"ack_policy":"explicit","filter_subject":"s.>"}}"#);
    wire.answer(3, "_INBOX.c.3", r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response","stream_name":"S","name":"watch","config":{"ack_policy":"none","filter_subjects":["s.1","s.2","s.3"]}}"#);
    // Messages 1-3, each published, stored, delivered to w and the watcher.
    for seq in 1..=3u64 {
        let (t, subject) = (10 + seq as i64 * 10, format!("s.{seq}"));
        wire.stored(t, &subject, "S", seq);
        wire.deliver(t + 2, &subject, &ack("w", 1, seq), &[]);
        wire.deliver(t + 3, &subject, &ack("watch", 1, seq), &[]);
    }
    // s.1: TERM then ACK. s.2: redelivered, then delivery 1's late ACK.
    wire.answer(50, &ack("w", 1, 1), "+TERM");
    wire.answer(52, &ack("w", 1, 1), "+ACK");
    wire.deliver(54, "s.2", &ack("w", 2, 2), &[]);
    wire.answer(56, &ack("w", 1, 2), "+ACK");
    // s.3 deleted by sequence while w still holds it.
    wire.send(
        60,
        "$JS.API.STREAM.MSG.DELETE.S",
        Some("_INBOX.d.1"),
        &[],
        r#"{"seq":3}"#,
    );
    wire.answer(
        61,
        "_INBOX.d.1",
        r#"{"type":"io.nats.jetstream.api.v1.stream_msg_delete_response","success":true}"#,
    );
    // w deleted; then s.4 is for nobody.
    wire.answer(70, "$JS.EVENT.ADVISORY.CONSUMER.DELETED.S.w", r#"{"type":"io.nats.jetstream.advisory.v1.consumer_action","stream":"S","consumer":"w","action":"delete"}"#);
    wire.stored(80, "s.4", "S", 4);
    // An atomic batch of three on B, placed by its commit; a batch of two
    // never committed, abandoned by the server.
    for n in 1..=3u64 {
        let seq = n.to_string();
        let mut headers = vec![
            ("Nats-Batch-Id", "b1"),
            ("Nats-Batch-Sequence", seq.as_str()),
        ];
        if n == 3 {
            headers.push(("Nats-Batch-Commit", "1"));
        }
        let reply = (n == 3).then_some("_INBOX.b.3");
        wire.send(90 + n as i64, &format!("b.{n}"), reply, &headers, "m");
    }
    wire.answer(
        95,
        "_INBOX.b.3",
        r#"{"stream":"B","seq":12,"batch":"b1","count":3}"#,
    );
    for n in 1..=2u64 {
        let seq = n.to_string();
        let headers = [
            ("Nats-Batch-Id", "b2"),
            ("Nats-Batch-Sequence", seq.as_str()),
        ];
        wire.send(96 + n as i64, &format!("b.late{n}"), None, &headers, "m");
    }
    wire.answer(99, "$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED.B", r#"{"type":"io.nats.jetstream.advisory.v1.stream_batch_abandoned","stream":"B","batch":"b2","reason":"timeout"}"#);
    // O #1 and its copy sourced into SRC #7, delivered there.
    wire.stored(100, "o.x", "O", 1);
    let source = [("Nats-Stream-Source", "O 1 > > o.x abc")];
    wire.deliver(
        103,
        "o.x",
        "$JS.ACK.SRC.c.1.7.1.1795353284893755903.0",
        &source,
    );
    // s.5 stored, for nobody, then expired behind the server's delete marker.
    wire.stored(104, "s.5", "S", 5);
    wire.deliver(
        106,
        "s.5",
        &ack("late", 1, 6),
        &[("Nats-Marker-Reason", "MaxAge")],
    );
    // A traced publish and the server's trace event.
    let traced = [("Nats-Trace-Dest", "trace.out"), ("ce-id", "t1")];
    wire.send(110, "t.x", None, &traced, "{}");
    wire.answer(111, "trace.out", r#"{"server":{"name":"n1"},"request":{"header":{"Nats-Trace-Dest":["trace.out"],"ce-id":["t1"]}},"events":[{"type":"in","cid":5,"name":"app","subj":"t.x"},{"type":"eg","cid":6,"name":"svc","sub":"t.>"}]}"#);
    let records = wire.records;

    let run = |order: &[usize]| {
        let mut c = Correlator::new(FlowConfig::default());
        for (n, &i) in order.iter().enumerate() {
            c.ingest(n as u64, &records[i]);
        }
        canonical(&c)
    };
    let in_order: Vec<usize> = (0..records.len()).collect();
    let expected = run(&in_order);
    let final_of = |subject: &str| -> String {
        let flow = expected
            .iter()
            .find(|f| f.contains(&format!(r#""subject":"{subject}""#)))
            .unwrap_or_else(|| panic!("a flow for {subject}: {expected:#?}"));
        let json: serde_json::Value = serde_json::from_str(flow).expect("json");
        json["final"].as_str().unwrap_or("null").to_owned()
    };
    assert_eq!(final_of("s.1"), "terminated");
    assert_eq!(final_of("s.2"), "acked");
    assert_eq!(final_of("s.3"), "removed");
    assert_eq!(final_of("s.4"), "unmatched");
    for n in 1..=2 {
        assert_eq!(
            final_of(&format!("b.late{n}")),
            "publish_failed",
            "abandoned"
        );
    }
    let s5 = expected
        .iter()
        .find(|f| f.contains(r#""stream_seq":5"#) && f.contains(r#""subject":"s.5""#))
        .expect("s.5");
    assert!(
        s5.contains(r#""final":"removed""#) && s5.contains(r#""reason":"max_age""#),
        "{s5}"
    );
    for n in 1..=3 {
        assert_eq!(
            final_of(&format!("b.{n}")),
            "pending",
            "placed in B, its consumers unknown"
        );
    }
    assert!(
        expected
            .iter()
            .any(|f| f.contains(r#""copies":[{"stream":"SRC","seq":7}]"#)),
        "{expected:#?}"
    );
    assert!(
        expected
            .iter()
            .any(|f| f.contains(r#""source":{"stream":"O","seq":1}"#))
    );
    assert!(
        expected
            .iter()
            .any(|f| f.contains(r#""trace":[{"type":"in""#)),
        "{expected:#?}"
    );
    for seed in 0..300 {
        let order = skewed(&records, seed, 3);
        assert_eq!(
            run(&order),
            expected,
            "seed {seed}, arrival order {order:?}"
        );
    }
}

/// Records as a monitor sees them, written briefly (times in ms).
#[derive(Default)]
struct Wire {
    records: Vec<eventscope::capture::Record>,
}

impl Wire {
    fn send(
        &mut self,
        ms: i64,
        subject: &str,
        reply: Option<&str>,
        headers: &[(&str, &str)],
        payload: &str,
    ) {
        let headers = (!headers.is_empty())
            .then(|| eventscope::capture::HeaderBlock::build(None, headers.iter().copied()));
        self.records.push(eventscope::capture::Record::new(
            ms * 1_000_000,
            0,
            subject,
            reply,
            headers.as_ref(),
            payload.as_bytes(),
        ));
    }

    /// A message with no reply subject: an answer, an advisory, an event.
    fn answer(&mut self, ms: i64, subject: &str, payload: &str) {
        self.send(ms, subject, None, &[], payload);
    }

    /// A JetStream publish at `ms` and its PubAck a millisecond later.
    fn stored(&mut self, ms: i64, subject: &str, stream: &str, seq: u64) {
        let inbox = format!("_INBOX.{stream}.{seq}");
        self.send(ms, subject, Some(&inbox), &[], "{}");
        self.answer(
            ms + 1,
            &inbox,
            &format!(r#"{{"stream":"{stream}","seq":{seq}}}"#),
        );
    }

    fn deliver(&mut self, ms: i64, subject: &str, ack: &str, headers: &[(&str, &str)]) {
        self.send(ms, subject, Some(ack), headers, "{}");
    }
}
