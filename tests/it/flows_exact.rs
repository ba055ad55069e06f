//! Flows stay exact on traffic the other tests do not make: a publish the
//! server refuses, CloudEvents forwarded under another source, a message
//! that reaches max deliveries without an answer, a subject with markup,
//! a JetStream publish with no producer header. Real server, real client;
//! `eventscope record` captures, `eventscope flows` reconstructs.

use crate::common;

use common::recording::{Recording, flows, json_flows};

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::pull, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

async fn drive(url: &str) {
    let client = async_nats::connect(url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let stream = js
        .create_stream(stream::Config {
            name: "S".into(),
            subjects: vec!["s.>".into()],
            ..Default::default()
        })
        .await
        .expect("stream");

    // Refused publishes: a wrong expected last sequence, a wrong stream.
    for (name, value) in [
        ("Nats-Expected-Last-Sequence", "99"),
        ("Nats-Expected-Stream", "OTHER"),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        let ack = js
            .publish_with_headers("s.refused", headers, Bytes::from("x"))
            .await
            .expect("publish")
            .await;
        assert!(ack.is_err(), "the server refuses {name}: {value}");
    }

    // One message, never answered: two ack-wait expiries, then max deliveries.
    let consumer: jetstream::consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("sleepy".into()),
            filter_subject: "s.ignored".into(),
            ack_wait: Duration::from_millis(400),
            max_deliver: 2,
            ..Default::default()
        })
        .await
        .expect("consumer");
    js.publish("s.ignored", Bytes::from("never acked"))
        .await
        .expect("publish")
        .await
        .expect("stored");
    for _ in 0..2 {
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_millis(900))
            .messages()
            .await
            .expect("fetch");
        assert!(batch.next().await.is_some(), "a delivery");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A pull waiting when the last ack wait ends makes the server give up
    // and say so (MAX_DELIVERIES); nothing more is delivered.
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_millis(800))
        .messages()
        .await
        .expect("fetch");
    assert!(batch.next().await.is_none(), "no third delivery");

    // A NAK asking for a 300 ms delay: the redelivery comes no sooner.
    let delayed: jetstream::consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("delayer".into()),
            filter_subject: "s.delayed".into(),
            ..Default::default()
        })
        .await
        .expect("consumer");
    js.publish("s.delayed", Bytes::from("later"))
        .await
        .expect("publish")
        .await
        .expect("stored");
    let mut answered = 0;
    while answered < 2 {
        let mut batch = delayed
            .fetch()
            .max_messages(1)
            .expires(Duration::from_millis(1500))
            .messages()
            .await
            .expect("fetch");
        let Some(Ok(message)) = batch.next().await else {
            continue;
        };
        let kind = if answered == 0 {
            jetstream::AckKind::Nak(Some(Duration::from_millis(300)))
        } else {
            jetstream::AckKind::Ack
        };
        message.ack_with(kind).await.expect("answer");
        answered += 1;
    }

    // CloudEvents: the same id from two sources is two events; the same
    // source and id again is a duplicate.
    for source in ["svc-a", "svc-b", "svc-a"] {
        let mut headers = HeaderMap::new();
        headers.insert("ce-source", source);
        headers.insert("ce-id", "42");
        client
            .publish_with_headers("events.created", headers, Bytes::from("{}"))
            .await
            .expect("publish");
    }
    client
        .publish("markup.a<br>b", Bytes::from("x"))
        .await
        .expect("publish");

    // A request answered after 20 ms.
    let mut service = client.subscribe("svc.echo").await.expect("service");
    let responder = client.clone();
    tokio::spawn(async move {
        while let Some(request) = service.next().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Some(reply) = request.reply {
                let _ = responder.publish(reply, request.payload).await;
            }
        }
    });
    // Scatter-gather: two responders answer one request, the second later.
    for (name, delay) in [("responder-a", 10), ("responder-b", 60)] {
        let mut service = client.subscribe("svc.scatter").await.expect("service");
        let responder = client.clone();
        tokio::spawn(async move {
            while let Some(request) = service.next().await {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                if let Some(reply) = request.reply {
                    let mut headers = HeaderMap::new();
                    headers.insert("ce-source", name);
                    let _ = responder
                        .publish_with_headers(reply, headers, Bytes::from(name))
                        .await;
                }
            }
        });
    }
    client.flush().await.expect("flush");
    client
        .request("svc.echo", Bytes::from("hi"))
        .await
        .expect("reply");
    client
        .request("svc.scatter", Bytes::from("who?"))
        .await
        .expect("the first reply");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    client.flush().await.expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusual_traffic_comes_out_exact() {
    let _timed = common::timed();
    let recording = Recording::start(&[]);
    let url = recording.url.clone();
    drive(&url).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (capture, _) = recording.finish().await;

    let all = json_flows(&capture);
    let on =
        |subject: &str| -> Vec<&Value> { all.iter().filter(|f| f["subject"] == subject).collect() };

    // 1. Refused publishes fail, with the server's words, and are not
    //    stored messages.
    let refused = on("s.refused");
    assert_eq!(refused.len(), 2, "{refused:?}");
    for flow in &refused {
        assert_eq!(flow["final"], "publish_failed", "{flow}");
        assert!(flow["stream_seq"].is_null(), "{flow}");
        let error = flow["publish_error"].as_str().expect("the server's error");
        assert!(
            error.contains("sequence") || error.contains("stream"),
            "{error}"
        );
    }
    let failed = flows(
        &capture,
        &["--json", "--filter", "failed", "--subject", "s.refused"],
    );
    assert_eq!(failed.lines().count(), 2, "both count as failed: {failed}");

    // Max deliveries with no answer: both deliveries expired, and when.
    let ignored = on("s.ignored");
    assert_eq!(ignored.len(), 1, "{ignored:?}");
    let ignored = ignored[0];
    assert_eq!(ignored["final"], "max_deliveries");
    let deliveries = ignored["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    for d in deliveries {
        assert_eq!(d["outcome"], "timeout", "{d}");
        assert!(
            d["delivered_at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{d}"
        );
        assert!(d["answered_at"].is_null(), "{d}");
    }
    assert!(deliveries[0]["delivered_at"].as_str() < deliveries[1]["delivered_at"].as_str());

    // 8. The timing of each delivery and answer, enough to check a delay.
    let delayed = on("s.delayed");
    let deliveries = delayed[0]["deliveries"].as_array().expect("deliveries");
    let outcomes: Vec<&str> = deliveries
        .iter()
        .map(|d| d["outcome"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(outcomes, ["nak", "ack"], "{deliveries:?}");
    let time = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a time")).expect("RFC 3339")
    };
    let wait = time(&deliveries[1]["delivered_at"]) - time(&deliveries[0]["answered_at"]);
    assert!(
        wait.num_milliseconds() >= 300,
        "redelivered {wait:?} after the NAK"
    );

    // 5. CloudEvents identity is source and id.
    let events = on("events.created");
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["duplicates"], 1, "svc-a's id 42 published twice");
    assert!(
        events[1]["duplicate_of"].is_null(),
        "svc-b's 42 is its own event"
    );
    assert_eq!(events[2]["duplicate_of"], events[0]["id"]);

    // The request's reply, timed.
    let echo = on("svc.echo");
    assert_eq!(echo[0]["final"], "replied");
    assert_eq!(echo[0]["replies"].as_array().map(Vec::len), Some(1));

    // 4. Every reply of a scatter-gather, the first one as the answer.
    let scatter = on("svc.scatter");
    assert_eq!(scatter.len(), 1, "{scatter:?}");
    let replies = scatter[0]["replies"].as_array().expect("replies");
    let responders: Vec<&str> = replies
        .iter()
        .map(|r| r["responder"].as_str().expect("responder"))
        .collect();
    assert_eq!(responders, ["responder-a", "responder-b"], "{replies:?}");
    assert_eq!(scatter[0]["responder"], "responder-a");
    let latency = |r: &Value| r["latency_ms"].as_f64().expect("latency");
    assert!(
        latency(&replies[0]) >= 10.0 && latency(&replies[1]) >= 60.0,
        "{replies:?}"
    );
    assert_eq!(scatter[0]["latency_ms"], replies[0]["latency_ms"]);

    // 7. Mermaid: markup escaped, the JetStream sender a producer, the
    //    reply's latency said once, the last expiry drawn.
    let id = |flow: &Value| flow["id"].as_u64().expect("id").to_string();
    let markup = on("markup.a<br>b");
    let text = flows(&capture, &["--mermaid", "--id", &id(markup[0])]);
    assert!(!text.contains("<br>"), "{text}");
    assert!(text.contains("markup.a#60;br#62;b"), "{text}");
    let text = flows(&capture, &["--mermaid", "--id", &id(ignored)]);
    assert!(text.contains("actor P0 as producer (unknown)"), "{text}");
    assert!(!text.contains("requester"), "{text}");
    assert_eq!(text.matches("ack wait expired").count(), 2, "{text}");
    let text = flows(&capture, &["--mermaid", "--id", &id(echo[0])]);
    let reply = text
        .lines()
        .find(|l| l.contains("reply"))
        .expect("a reply line");
    assert_eq!(
        reply.matches("ms").count(),
        2,
        "latency, then time since the start: {reply}"
    );
    assert!(reply.contains("reply in "), "{reply}");
}

/// 3 and 6: key-value operations are flows of their own, watchers and
/// consumers that expect no answer leave deliveries `delivered`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_and_unanswered_consumers_come_out_exact() {
    let _timed = common::timed();
    use async_nats::jetstream::kv;
    let recording = Recording::start(&[]);
    let url = recording.url.clone();

    let client = async_nats::connect(&url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let bucket = js
        .create_key_value(kv::Config {
            bucket: "cfg".into(),
            history: 5,
            ..Default::default()
        })
        .await
        .expect("bucket");
    let mut watch = bucket.watch_all().await.expect("watcher");
    let first = bucket.put("a", Bytes::from("1")).await.expect("put");
    let second = bucket
        .update("a", Bytes::from("2"), first)
        .await
        .expect("update");
    assert!(
        bucket.update("a", Bytes::from("3"), first).await.is_err(),
        "an update from a stale revision fails"
    );
    bucket.delete("a").await.expect("delete");
    bucket.purge("a").await.expect("purge");
    // Each change seen, however loaded the machine: not a latency test.
    for _ in 0..4 {
        tokio::time::timeout(Duration::from_secs(20), watch.next())
            .await
            .expect("the watcher sees each change")
            .expect("entry")
            .expect("ok");
    }

    // A consumer that expects no acks.
    let stream = js
        .create_stream(stream::Config {
            name: "N".into(),
            subjects: vec!["n.>".into()],
            ..Default::default()
        })
        .await
        .expect("stream");
    let consumer: jetstream::consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("reader".into()),
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("consumer");
    js.publish("n.x", Bytes::from("read, not acked"))
        .await
        .expect("publish")
        .await
        .expect("stored");
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_millis(800))
        .messages()
        .await
        .expect("fetch");
    assert!(batch.next().await.is_some());
    client.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (capture, _) = recording.finish().await;

    let all = json_flows(&capture);
    let kv: Vec<&Value> = all.iter().filter(|f| f["kind"] == "kv").collect();
    let ops: Vec<(String, Option<u64>, String)> = kv
        .iter()
        .map(|f| {
            (
                f["kv"]["operation"].as_str().expect("operation").to_owned(),
                f["kv"]["revision"].as_u64(),
                f["final"].as_str().expect("final").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("put".to_owned(), Some(first), "stored".to_owned()),
            ("put".to_owned(), Some(second), "stored".to_owned()),
            ("put".to_owned(), None, "publish_failed".to_owned()),
            ("delete".to_owned(), Some(second + 1), "stored".to_owned()),
            ("purge".to_owned(), Some(second + 2), "stored".to_owned()),
        ],
        "{kv:#?}"
    );
    for flow in &kv {
        assert_eq!(flow["kv"]["bucket"], "cfg");
        assert_eq!(flow["kv"]["key"], "a");
    }
    // The watcher saw every stored revision; it answers none.
    for flow in kv.iter().filter(|f| f["final"] == "stored") {
        let deliveries = flow["deliveries"].as_array().expect("deliveries");
        assert_eq!(deliveries.len(), 1, "{flow}");
        assert_eq!(deliveries[0]["outcome"], "delivered", "{flow}");
    }
    let read = all
        .iter()
        .find(|f| f["subject"] == "n.x")
        .expect("the n.x flow");
    assert_eq!(read["deliveries"][0]["outcome"], "delivered", "{read}");
    assert_eq!(read["final"], "delivered", "{read}");
}

/// 6: a message no consumer's filter matches, and one an interest stream
/// lets go, each named so, where the capture saw the stream and every
/// consumer created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_nobody_wants_are_named_for_why() {
    let _timed = common::timed();
    let recording = Recording::start(&[]);
    let url = recording.url.clone();

    let client = async_nats::connect(&url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let limits = js
        .create_stream(stream::Config {
            name: "L".into(),
            subjects: vec!["l.>".into()],
            ..Default::default()
        })
        .await
        .expect("stream");
    let _only_a: jetstream::consumer::PullConsumer = limits
        .create_consumer(pull::Config {
            durable_name: Some("only-a".into()),
            filter_subject: "l.a".into(),
            ..Default::default()
        })
        .await
        .expect("consumer");
    let interest = js
        .create_stream(stream::Config {
            name: "I".into(),
            subjects: vec!["i.>".into()],
            retention: stream::RetentionPolicy::Interest,
            ..Default::default()
        })
        .await
        .expect("stream");
    for subject in ["l.a", "l.b", "i.early"] {
        js.publish(subject, Bytes::from("x"))
            .await
            .expect("publish")
            .await
            .expect("stored");
    }
    // A consumer that arrives after a message did not want it then.
    let _late: jetstream::consumer::PullConsumer = interest
        .create_consumer(pull::Config {
            durable_name: Some("late".into()),
            ..Default::default()
        })
        .await
        .expect("consumer");
    js.publish("i.later", Bytes::from("x"))
        .await
        .expect("publish")
        .await
        .expect("stored");
    client.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (capture, _) = recording.finish().await;

    let all = json_flows(&capture);
    let final_of = |subject: &str| {
        all.iter()
            .find(|f| f["subject"] == subject)
            .unwrap_or_else(|| panic!("a flow for {subject}"))["final"]
            .clone()
    };
    assert_eq!(final_of("l.a"), "pending", "only-a has not fetched it yet");
    assert_eq!(final_of("l.b"), "unmatched");
    assert_eq!(final_of("i.early"), "not_retained");
    assert_eq!(final_of("i.later"), "pending", "late wants it");
}

/// 2: a fast worker's deliveries reach the monitor before the PubAcks
/// do; 20,000 paced messages must still make 20,000 whole flows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_paced_messages_make_whole_flows() {
    let _timed = common::timed();
    const COUNT: usize = 20_000;
    let recording = Recording::start(&["-s", "work.>", "-s", "$JS.ACK.>", "-s", "_INBOX.>"]);
    let url = recording.url.clone();

    let client = async_nats::connect(&url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let stream = js
        .create_stream(stream::Config {
            name: "W".into(),
            subjects: vec!["work.>".into()],
            ..Default::default()
        })
        .await
        .expect("stream");
    let consumer: jetstream::consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("fast".into()),
            ..Default::default()
        })
        .await
        .expect("consumer");
    let worker = tokio::spawn(async move {
        let mut acked = 0;
        let mut messages = consumer.messages().await.expect("messages");
        while acked < COUNT {
            let message = tokio::time::timeout(Duration::from_secs(20), messages.next())
                .await
                .expect("a delivery")
                .expect("message")
                .expect("ok");
            message.ack().await.expect("ack");
            acked += 1;
        }
    });
    let publisher = async_nats::connect(&url).await.expect("connect");
    let pjs = jetstream::new(publisher);
    // Paced: one at a time, each waiting for its PubAck, so the worker is
    // always waiting with a pull and takes each message at once.
    for n in 0..COUNT {
        pjs.publish(format!("work.{}", n % 7), Bytes::from(n.to_string()))
            .await
            .expect("publish")
            .await
            .expect("stored");
    }
    worker.await.expect("worker");
    client.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (capture, text) = recording.finish().await;
    assert!(text.contains("dropped by client: 0"), "{text}");

    let out = flows(&capture, &["--json"]);
    let mut finals = std::collections::BTreeMap::<String, usize>::new();
    let mut seqs = std::collections::BTreeSet::new();
    for line in out.lines() {
        let flow: Value = serde_json::from_str(line).expect("json");
        if flow["kind"] != "jetstream" {
            continue;
        }
        *finals
            .entry(flow["final"].as_str().unwrap_or("-").to_owned())
            .or_default() += 1;
        assert_eq!(
            flow["deliveries"].as_array().map(Vec::len),
            Some(1),
            "{flow}"
        );
        assert!(
            flow["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("work.")),
            "{flow}"
        );
        assert!(
            seqs.insert(flow["stream_seq"].as_u64().expect("seq")),
            "one flow per message: {flow}"
        );
    }
    assert_eq!(
        finals,
        [("acked".to_owned(), COUNT)].into(),
        "no split, no orphan"
    );
    assert_eq!(seqs.len(), COUNT);
}

/// 3: an object put in an object store is one flow, not a flow per chunk;
/// reading it back counts its chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_is_one_flow_however_many_chunks() {
    let _timed = common::timed();
    use async_nats::jetstream::object_store;
    use tokio::io::AsyncReadExt;
    let recording = Recording::start(&[]);
    let url = recording.url.clone();

    let client = async_nats::connect(&url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let store = js
        .create_object_store(object_store::Config {
            bucket: "files".into(),
            ..Default::default()
        })
        .await
        .expect("object store");
    let data = vec![7u8; 600 * 1024];
    let info = store
        .put("report.bin", &mut data.as_slice())
        .await
        .expect("put");
    assert!(info.chunks > 1, "{info:?}");
    let mut object = store.get("report.bin").await.expect("get");
    let mut back = Vec::new();
    object.read_to_end(&mut back).await.expect("read");
    assert_eq!(back.len(), data.len());
    client.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (capture, _) = recording.finish().await;

    let all = json_flows(&capture);
    let chunky: Vec<&Value> = all
        .iter()
        .filter(|f| {
            f["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("$O.files.C."))
        })
        .collect();
    assert_eq!(chunky.len(), 1, "one flow for the object: {chunky:#?}");
    let object = &chunky[0];
    assert_eq!(object["kind"], "object");
    assert_eq!(object["final"], "stored");
    let o = &object["object"];
    assert_eq!(o["bucket"], "files");
    assert_eq!(o["name"], "report.bin");
    assert_eq!(o["chunks"].as_u64(), Some(info.chunks as u64));
    assert_eq!(o["stored"].as_u64(), Some(info.chunks as u64));
    assert_eq!(o["bytes"].as_u64(), Some(data.len() as u64));
    assert_eq!(o["read"].as_u64(), Some(info.chunks as u64));
    // The metadata publish is part of it, not a flow of its own.
    assert!(
        !all.iter().any(|f| f["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("$O.files.M."))),
        "{all:#?}"
    );
}
