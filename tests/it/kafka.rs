//! Kafka beside NATS, against a real Kafka-API broker (tansu): records
//! captured exactly (key, partition, offset, timestamp, binary and null
//! headers) from where the subscription says, the capture file, produce,
//! request and replay through eventscope, a retry-topic chain and the
//! groups' commits as one timeline, lag, and refusals said in words. The
//! other side is the tests' own Kafka client (`common::kafka::RawKafka`).

use crate::common;
use crate::common::kafka::{Out, RawKafka, monitor, reading, tansu, wait_until};

use std::time::Duration;

use bytes::Bytes;
use eventscope::broker::{ConnectionProfile, ReadFrom, SendMode, SendOutcome, SubscriptionSpec};
use eventscope::capture::{BrokerKind, KAFKA_COMMITS_TOPIC, KafkaFields, Record};
use eventscope::flow::Final;
use eventscope::outgoing::OutMessage;
use eventscope::session::Session;

fn records_on(m: &Session, topic: &str) -> Vec<Record> {
    m.store
        .iter()
        .map(|(_, r)| r.clone())
        .filter(|r| r.subject() == topic)
        .collect()
}

fn fields(record: &Record) -> KafkaFields {
    KafkaFields::of_json(record.fields()).expect("Kafka fields")
}

#[test]
fn kafka_records_are_captured_exactly_from_where_the_subscription_says() {
    let _timed = common::timed();
    let broker = tansu();
    broker.create_topic("orders", 3).expect("topic");
    let mut client = RawKafka::connect(broker.port());
    let before = client.produce("orders", 0, &Out::value(b"written before"));
    assert_eq!(before, 0);

    let mut m = monitor();
    let from_end = reading(&mut m, &broker.url(), &["orders"], ReadFrom::End);
    assert_eq!(m.store.broker_of(from_end), BrokerKind::Kafka);
    let binary: Vec<u8> = (0..=255).collect();
    let out = Out {
        key: Some(&[0, 0xff, 7]),
        value: &binary,
        headers: vec![
            ("ce-id", Some(b"order-1".as_slice())),
            ("blob", Some(&[0xde, 0xad, 0x00])),
            ("nothing", None),
        ],
        timestamp: 1_700_000_000_123,
    };
    let offset = client.produce("orders", 2, &out);
    client.produce(
        "orders",
        1,
        &Out {
            key: Some(b"order-2"),
            ..Out::value(b"{\"id\":2}").header("ce-id", b"order-2")
        },
    );
    wait_until(&mut m, "two records", |m| m.store.len() >= 2);
    m.drain(Duration::from_millis(300));
    let got = records_on(&m, "orders");
    assert_eq!(got.len(), 2, "only what was written after it began");
    let exact = got
        .iter()
        .find(|r| r.payload() == &binary[..])
        .expect("the binary record");
    let f = fields(exact);
    assert_eq!((f.partition, f.offset), (Some(2), Some(offset)));
    assert_eq!(f.key, None, "the key is not text");
    assert_eq!(f.key_b64.as_deref(), Some("AP8H"));
    assert_eq!(f.timestamp_ms, Some(1_700_000_000_123));
    assert_eq!(f.timestamp_type.as_deref(), Some("create"));
    assert_eq!(
        f.headers_b64,
        [
            ("ce-id".to_owned(), Some("b3JkZXItMQ==".to_owned())),
            ("blob".to_owned(), Some("3q0A".to_owned())),
            ("nothing".to_owned(), None),
        ],
        "binary and null headers kept exactly, in order"
    );
    assert_eq!(
        exact.headers().and_then(|h| h.get("ce-id")),
        Some("order-1"),
        "the text headers still in the header block"
    );
    let text = got
        .iter()
        .find(|r| r.payload() != &binary[..])
        .expect("text");
    let f = fields(text);
    assert_eq!((f.key.as_deref(), f.partition), (Some("order-2"), Some(1)));
    assert!(f.headers_b64.is_empty(), "text headers need no copy");

    // From the beginning: all three; from one before the end: the last of
    // each partition that has one.
    let mut all = monitor();
    reading(&mut all, &broker.url(), &["orders"], ReadFrom::Beginning);
    wait_until(&mut all, "every record", |m| m.store.len() >= 3);
    all.drain(Duration::from_millis(300));
    assert_eq!(records_on(&all, "orders").len(), 3);
    client.produce("orders", 0, &Out::value(b"second on 0"));
    let mut last = monitor();
    reading(
        &mut last,
        &broker.url(),
        &["ord[e]rs"],
        ReadFrom::Offset(-1),
    );
    wait_until(&mut last, "the last of each", |m| m.store.len() >= 3);
    last.drain(Duration::from_millis(300));
    let mut payloads: Vec<Vec<u8>> = records_on(&last, "orders")
        .iter()
        .map(|r| r.payload().to_vec())
        .collect();
    payloads.sort();
    let mut expected = vec![
        b"second on 0".to_vec(),
        b"{\"id\":2}".to_vec(),
        binary.clone(),
    ];
    expected.sort();
    assert_eq!(payloads, expected, "a regular expression over topic names");

    // Through a capture file and back: the same record, said to be Kafka's.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("kafka.jsonl");
    let file = std::fs::File::create(&path).expect("create");
    eventscope::capture::file::save_store(&m.store, file, vec![broker.url()]).expect("save");
    let mut store = eventscope::capture::Store::new(usize::MAX);
    let mut reader = eventscope::capture::file::CaptureReader::new(std::io::BufReader::new(
        std::fs::File::open(&path).expect("open"),
    ))
    .expect("a capture");
    let report = eventscope::capture::file::load_into(&mut reader, &mut store);
    assert_eq!(report.bad.count, 0);
    let back: Vec<_> = store.iter().map(|(_, r)| r.clone()).collect();
    let again = back
        .iter()
        .find(|r| r.payload() == &binary[..])
        .expect("the binary record back");
    assert_eq!(again.fields(), exact.fields());
    assert_eq!(store.broker_of(again.connection), BrokerKind::Kafka);
}

#[test]
fn kafka_produce_replay_and_request_are_exact() {
    let _timed = common::timed();
    let broker = tansu();
    for topic in ["events", "prices", "price-replies"] {
        broker.create_topic(topic, 2).expect("topic");
    }
    let mut m = monitor();
    let key = reading(&mut m, &broker.url(), &["events"], ReadFrom::End);
    // Produced with a binary key, a chosen partition, a fixed time and a
    // binary header, all from the publish form's broker fields.
    let given = KafkaFields {
        partition: Some(1),
        key_b64: Some("AAEC".into()),
        timestamp_ms: Some(1_600_000_000_000),
        headers_b64: vec![
            ("traceparent".into(), Some("MDAtYWJjLWRlZi0wMQ==".into())),
            ("raw".into(), Some("/wA=".into())),
            ("empty".into(), None),
        ],
        ..KafkaFields::default()
    };
    let payload: Vec<u8> = (0..=255).rev().collect();
    let outcome = m
        .send(
            key,
            OutMessage {
                subject: "events".into(),
                reply: None,
                headers: Vec::new(),
                payload: Bytes::from(payload.clone()),
                fields: Some(serde_json::to_string(&given).expect("json")),
            },
            SendMode::Publish,
        )
        .expect("send");
    assert!(
        matches!(
            outcome.blocking_recv().expect("an outcome"),
            SendOutcome::Published
        ),
        "produced"
    );
    let mut client = RawKafka::connect(broker.port());
    let stored = client.fetch("events", 1, 0);
    assert_eq!(stored.len(), 1, "on the partition asked for");
    let r = &stored[0];
    assert_eq!(r.key.as_deref(), Some(&[0u8, 1, 2][..]));
    assert_eq!(r.value.as_deref(), Some(&payload[..]));
    assert_eq!(r.timestamp, 1_600_000_000_000);
    let headers: Vec<_> = r
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_ref().map(|v| v.to_vec())))
        .collect();
    assert_eq!(
        headers,
        [
            ("traceparent".to_owned(), Some(b"00-abc-def-01".to_vec())),
            ("raw".to_owned(), Some(vec![0xff, 0])),
            ("empty".to_owned(), None),
        ]
    );

    // Replayed from what the monitor captured: the same key, partition,
    // value and headers, with the replay's mark beside them.
    wait_until(&mut m, "the produced record", |m| {
        !records_on(m, "events").is_empty()
    });
    let captured = records_on(&m, "events");
    let progress = m
        .start_job(
            key,
            eventscope::session::replay_job(captured, Default::default()),
        )
        .expect("job");
    common::wait_for("the replay", Duration::from_secs(10), || {
        progress.is_finished()
    });
    assert_eq!(
        (progress.sent(), progress.failed()),
        (1, 0),
        "{:?}",
        progress.last_error()
    );
    let replayed = client.fetch("events", 1, 1);
    assert_eq!(replayed.len(), 1, "replayed to the same partition");
    let again = &replayed[0];
    assert_eq!(again.key, r.key);
    assert_eq!(again.value, r.value);
    let mut again_headers: Vec<_> = again
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_ref().map(|v| v.to_vec())))
        .collect();
    let mark = again_headers
        .iter()
        .position(|(k, _)| k == "Eventscope-Replay")
        .expect("the replay's mark");
    again_headers.remove(mark);
    assert_eq!(again_headers, headers);

    // A request as Spring's ReplyingKafkaTemplate makes one: a responder
    // answers on the reply topic with the request's correlation id.
    let port = broker.port();
    let responder = std::thread::spawn(move || {
        let mut c = RawKafka::connect(port);
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            for partition in 0..2 {
                for request in c.fetch("prices", partition, 0) {
                    let header = |name: &str| {
                        request
                            .headers
                            .iter()
                            .find(|(k, _)| k.as_str() == name)
                            .and_then(|(_, v)| v.clone())
                    };
                    let (Some(to), Some(id)) =
                        (header("kafka_replyTopic"), header("kafka_correlationId"))
                    else {
                        continue;
                    };
                    let mut answer = b"price for ".to_vec();
                    answer.extend_from_slice(request.value.as_deref().unwrap_or_default());
                    let to = String::from_utf8(to.to_vec()).expect("a topic");
                    c.produce(
                        &to,
                        0,
                        &Out {
                            headers: vec![("kafka_correlationId", Some(&id[..]))],
                            ..Out::value(&answer)
                        },
                    );
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let outcome = m
        .send(
            key,
            OutMessage {
                subject: "prices".into(),
                reply: Some("price-replies".into()),
                headers: vec![("ce-id".into(), "from-eventscope".into())],
                payload: Bytes::from_static(b"9"),
                fields: None,
            },
            SendMode::Request {
                timeout: Duration::from_secs(10),
            },
        )
        .expect("send");
    match outcome.blocking_recv().expect("an outcome") {
        SendOutcome::Reply { payload, .. } => assert_eq!(&payload[..], b"price for 9"),
        other => panic!("no reply: {other:?}"),
    }
    responder.join().expect("the responder");

    // Refused in words: a topic the cluster does not have, a name Kafka
    // does not allow, a partition the topic lacks.
    for (topic, fields, words) in [
        ("nowhere", None, "has no topic 'nowhere'"),
        ("bad topic", None, "not a Kafka topic name"),
        (
            "events",
            Some(r#"{"partition":7}"#),
            "has no partition 7 (it has 2)",
        ),
    ] {
        let outcome = m
            .send(
                key,
                OutMessage {
                    subject: topic.into(),
                    reply: None,
                    headers: Vec::new(),
                    payload: Bytes::from_static(b"x"),
                    fields: fields.map(str::to_owned),
                },
                SendMode::Publish,
            )
            .expect("send");
        match outcome.blocking_recv().expect("an outcome") {
            SendOutcome::Failed(why) => assert!(why.contains(words), "{why}"),
            other => panic!("{topic} was not refused: {other:?}"),
        }
    }
}

#[test]
fn a_retry_topic_chain_and_the_groups_commits_are_one_timeline_with_lag() {
    let _timed = common::timed();
    let broker = tansu();
    for topic in ["pay", "pay-retry-1", "pay.DLT"] {
        broker.create_topic(topic, 1).expect("topic");
    }
    let mut m = monitor();
    let key = reading(&mut m, &broker.url(), &["pay.*"], ReadFrom::End);
    let mut producer = RawKafka::connect(broker.port());
    let failing = producer.produce("pay", 0, &Out::value(b"pay-A").header("ce-id", b"A"));

    // The worker, as Spring's retry topics run one: a failure is copied to
    // the retry topic (naming the original) and the offset committed past
    // it; the retry fails again into the dead-letter topic.
    let mut worker = RawKafka::connect(broker.port());
    let read = worker.fetch("pay", 0, failing);
    assert_eq!(read[0].value.as_deref(), Some(&b"pay-A"[..]));
    let offset_text = failing.to_string();
    let attempt = 1i32.to_be_bytes();
    let retry = worker.produce(
        "pay-retry-1",
        0,
        &Out {
            headers: vec![
                ("ce-id", Some(b"A".as_slice())),
                ("kafka_original-topic", Some(b"pay")),
                ("kafka_original-partition", Some(&0i32.to_be_bytes())),
                ("kafka_original-offset", Some(offset_text.as_bytes())),
                ("kafka_exception-message", Some(b"card declined")),
                ("retry_topic-attempts", Some(&attempt)),
            ],
            ..Out::value(b"pay-A")
        },
    );
    worker.commit("billing", "pay", 0, failing + 1);
    let retry_text = retry.to_string();
    worker.produce(
        "pay.DLT",
        0,
        &Out {
            headers: vec![
                ("ce-id", Some(b"A".as_slice())),
                ("kafka_dlt-original-topic", Some(b"pay-retry-1")),
                ("kafka_dlt-original-partition", Some(&0i32.to_be_bytes())),
                ("kafka_dlt-original-offset", Some(retry_text.as_bytes())),
                ("kafka_dlt-exception-message", Some(b"card declined again")),
            ],
            ..Out::value(b"pay-A")
        },
    );
    worker.commit("billing-retry", "pay-retry-1", 0, retry + 1);

    // A second record: written, lagging behind the group, then processed.
    wait_until(&mut m, "billing's first commit", |m| {
        commits(m).iter().any(|c| c.group == "billing")
    });
    let fine = producer.produce("pay", 0, &Out::value(b"pay-B"));
    wait_until(&mut m, "billing lagging by one", |m| {
        commits(m)
            .iter()
            .any(|c| c.group == "billing" && c.lag() == 1)
    });
    let flow_of = |m: &Session, payload: &[u8]| {
        m.flows
            .flows()
            .find(|f| {
                f.first_record
                    .and_then(|s| m.store.get(s))
                    .is_some_and(|r| r.payload() == payload && r.subject() == "pay")
            })
            .cloned()
    };
    let final_of = |m: &Session, payload: &[u8]| {
        flow_of(m, payload).and_then(|f| m.flows.final_of(&f, m.flows.latest()))
    };
    assert_eq!(final_of(&m, b"pay-B"), Some(Final::Pending), "lag");
    // The map shows it on billing's arrow from the topic.
    let map = eventscope::map::SystemMap::from_flows(&m.flows, None);
    let pay = map
        .node_named(eventscope::map::NodeKind::Store, "pay")
        .expect("the topic's box");
    let billing = map
        .node_named(eventscope::map::NodeKind::Consumer, "group billing")
        .expect("the group's box");
    let lagging = map
        .edges
        .iter()
        .find(|e| e.from == pay && e.to == billing)
        .expect("an arrow from pay to billing");
    assert!(lagging.pending >= 1, "{lagging:?}");
    worker.commit("billing", "pay", 0, fine + 1);
    let describe = |m: &Session| {
        m.flows
            .flows()
            .map(|f| {
                format!(
                    "{} {:?} {:?}\n",
                    f.subject,
                    m.flows.final_of(f, m.flows.latest()),
                    f.detail().step_labels(),
                )
            })
            .collect::<String>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(final_of(&m, b"pay-A") == Some(Final::DeadLettered)
        && final_of(&m, b"pay-B") == Some(Final::Processed))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "waiting for both ends:\n{}",
            describe(&m)
        );
        m.drain(Duration::from_millis(20));
    }
    assert_eq!(m.store.broker_of(key), BrokerKind::Kafka);
    let chain = flow_of(&m, b"pay-A").expect("the chain");
    assert_eq!(
        m.flows
            .flows()
            .filter(|f| f
                .first_record
                .and_then(|s| m.store.get(s))
                .is_some_and(|r| r.payload() == b"pay-A"))
            .count(),
        1,
        "the copies are one flow:\n{}",
        describe(&m)
    );
    let labels = chain.detail().step_labels();
    let expected = [
        "write [0@0]",
        "retry to pay-retry-1 [0@0]: card declined (attempt 1)",
        "committed past [0@0], moved to pay-retry-1",
        "dead-lettered to pay.DLT [0@0]: card declined again",
        "committed past [0@0], moved to pay.DLT",
    ];
    for step in expected {
        assert!(labels.contains(&step), "{step} in {labels:?}");
    }
    assert!(chain.has_retries());
    let lanes = chain.detail().lane_names();
    for lane in [
        "pay",
        "pay-retry-1",
        "pay.DLT",
        "group billing",
        "group billing-retry",
    ] {
        assert!(lanes.contains(&lane), "{lane} in {lanes:?}");
    }
    // Lag per partition, as polled: one behind, then caught up.
    let lags: Vec<i64> = commits(&m)
        .iter()
        .filter(|c| c.group == "billing" && c.topic == "pay")
        .map(|c| c.lag())
        .collect();
    assert_eq!(lags.last(), Some(&0), "{lags:?}");
    assert!(lags.contains(&1), "{lags:?}");
    let mermaid = eventscope::flow::mermaid(&[&chain]);
    assert!(mermaid.contains("pay.DLT"), "{mermaid}");
}

fn commits(m: &Session) -> Vec<eventscope::capture::GroupCommit> {
    records_on(m, KAFKA_COMMITS_TOPIC)
        .iter()
        .filter_map(|r| fields(r).commit)
        .collect()
}

#[test]
fn kafka_refusals_are_said_in_words() {
    let _timed = common::timed();
    let broker = tansu();
    broker.create_topic("orders", 1).expect("topic");
    let mut m = monitor();
    // Nothing listens there: said, not shown as connected.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let nowhere = m.connect(ConnectionProfile::new(
        "nowhere",
        format!("kafka://127.0.0.1:{closed}"),
    ));
    // A pattern that is neither a topic nor a regular expression.
    let mut profile = ConnectionProfile::new("bad", broker.url());
    profile.subscriptions = vec![
        SubscriptionSpec::new("orders(("),
        SubscriptionSpec::new("orders"),
    ];
    let bad = m.connect(profile);
    let port = format!("127.0.0.1:{closed}");
    wait_until(&mut m, "the refusals", |m| {
        let state = m.shared(nowhere).expect("conn").state();
        !state.is_connected() && state.label().contains(&port)
    });
    // Said on the subscription; the good one beside it reads on.
    wait_until(&mut m, "the bad pattern named", |m| {
        let status = m.shared(bad).expect("conn").status();
        status.state.is_connected() && status.subscriptions.len() == 2
    });
    let status = m.shared(bad).expect("conn").status();
    let (wrong, fine) = (&status.subscriptions[0], &status.subscriptions[1]);
    let why = wrong.error.as_deref().unwrap_or_default();
    assert!(
        !wrong.active && why.contains("neither a Kafka topic name nor a regular expression"),
        "{why}"
    );
    assert!(fine.active && fine.error.is_none(), "{fine:?}");
    // And a profile with it is refused before it connects.
    let mut profile = ConnectionProfile::new("bad", broker.url());
    profile.subscriptions = vec![SubscriptionSpec::new("orders((")];
    let said = profile.validate().expect_err("refused").to_string();
    assert!(said.contains("'orders(('"), "{said}");
}

/// The headless twin: `record` reads a Kafka topic from where it is told
/// and writes the records with their fields; `flows` reads the file back.
#[test]
fn record_reads_kafka_from_the_beginning_an_offset_or_a_time() {
    let _timed = common::timed();
    let broker = tansu();
    broker.create_topic("orders", 2).expect("topic");
    let mut client = RawKafka::connect(broker.port());
    for (partition, n) in [(0, 1), (1, 2), (0, 3)] {
        let value = format!("{{\"n\":{n}}}");
        let id = format!("order-{n}");
        client.produce(
            "orders",
            partition,
            &Out::value(value.as_bytes()).header("ce-id", id.as_bytes()),
        );
    }
    let dir = tempfile::tempdir().expect("dir");
    let url = broker.url();
    let read = |name: &str, from: &[&str]| -> Vec<serde_json::Value> {
        let out = dir.path().join(name);
        let mut args = vec![
            "record",
            "--server",
            &url,
            "-s",
            "orders",
            "--duration",
            "2",
            "-o",
            out.to_str().expect("path"),
        ];
        args.extend(from);
        common::eventscope(&args);
        std::fs::read_to_string(&out)
            .expect("the capture")
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["subject"] == "orders")
            .collect()
    };
    let all = read("all.jsonl", &["--from-beginning"]);
    assert_eq!(all.len(), 3, "{all:?}");
    let last = read("last.jsonl", &["--offset", "-1"]);
    assert_eq!(last.len(), 2, "the last of each partition: {last:?}");
    let none = read("later.jsonl", &["--since", "2099-01-01T00:00:00Z"]);
    assert!(none.is_empty(), "nothing written after then: {none:?}");
    let recent = read("recent.jsonl", &["--since", "10m"]);
    assert_eq!(recent.len(), 3);
    let flows = common::eventscope(&[
        "flows",
        dir.path().join("all.jsonl").to_str().expect("path"),
    ]);
    let said = String::from_utf8_lossy(&flows.stdout);
    assert!(said.matches("orders").count() >= 3, "{said}");
}
