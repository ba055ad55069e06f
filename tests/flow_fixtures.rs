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

    // m3 is never answered: two ack-wait expiries, then max deliveries.
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
    assert_eq!(expiries, 2);

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
    let (_, counts) = c.select_and_count(eventscope::flow::FlowFilter::All, None, now);
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
