//! JetStream state from the real server: the stream and consumer reports,
//! browsing without a consumer (so nothing is removed), time seeks, purge
//! counts, and the flight recorder rebuilding retries that happened while
//! no eventscope ran.

use crate::common;

use common::{eventscope, json_lines};

use std::process::{Command, Output};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

/// A capture file's records (the header line skipped).
fn capture_lines(output: &Output) -> Vec<Value> {
    json_lines(output).into_iter().skip(1).collect()
}

async fn make_stream(
    js: &jetstream::Context,
    name: &str,
    retention: stream::RetentionPolicy,
    allow_direct: bool,
) -> stream::Stream {
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec![format!("{}.>", name.to_lowercase())],
        retention,
        allow_direct,
        ..Default::default()
    })
    .await
    .expect("stream")
}

async fn publish(js: &jetstream::Context, subject: &str, payload: &str) {
    let mut headers = HeaderMap::new();
    headers.insert("ce-id", payload);
    js.publish_with_headers(subject.to_owned(), headers, Bytes::from(payload.to_owned()))
        .await
        .expect("publish")
        .await
        .expect("stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_equal_what_the_server_says() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    let (_, js) = common::jetstream(&server).await;
    let policies = [
        ("LIM", stream::RetentionPolicy::Limits),
        ("INT", stream::RetentionPolicy::Interest),
        ("WQ", stream::RetentionPolicy::WorkQueue),
    ];
    for (name, policy) in policies {
        let s = make_stream(&js, name, policy, true).await;
        s.create_consumer(pull::Config {
            durable_name: Some("worker".into()),
            ..Default::default()
        })
        .await
        .expect("consumer");
        for i in 0..7 {
            publish(
                &js,
                &format!("{}.x{}", name.to_lowercase(), i % 3),
                &format!("m{i}"),
            )
            .await;
        }
    }
    // Two deliveries, one acked: ack pending 1, ack floor 1.
    let consumer: jetstream::consumer::PullConsumer = js
        .get_consumer_from_stream("worker", "LIM")
        .await
        .expect("consumer");
    let mut batch = consumer
        .fetch()
        .max_messages(2)
        .messages()
        .await
        .expect("fetch");
    let first = batch.next().await.expect("one").expect("message");
    first.double_ack().await.expect("ack confirmed");
    let _second = batch.next().await.expect("two").expect("message");

    let streams = json_lines(&eventscope(&["streams", "--server", &url, "--json"]));
    assert_eq!(streams.len(), 3);
    for (name, policy) in [("LIM", "limits"), ("INT", "interest"), ("WQ", "workqueue")] {
        let s = streams.iter().find(|s| s["name"] == name).expect(name);
        let mut server_stream = js.get_stream(name).await.expect("stream");
        let info = server_stream.info().await.expect("info");
        assert_eq!(s["retention"], policy);
        assert_eq!(s["messages"], info.state.messages, "{name}");
        assert_eq!(s["bytes"], info.state.bytes, "{name}");
        assert_eq!(s["last_seq"], info.state.last_sequence, "{name}");
        assert_eq!(s["consumers"], 1);
        assert_eq!(s["allow_direct"], true);
    }

    let consumers = json_lines(&eventscope(&[
        "consumers",
        "LIM",
        "--server",
        &url,
        "--json",
    ]));
    assert_eq!(consumers.len(), 1);
    let c = &consumers[0];
    let mut server_side = js
        .get_consumer_from_stream::<pull::Config, _, _>("worker", "LIM")
        .await
        .expect("consumer");
    let info = server_side.info().await.expect("info");
    assert_eq!(c["name"], "worker");
    assert_eq!(c["num_pending"], info.num_pending);
    assert_eq!(c["num_ack_pending"], info.num_ack_pending as u64);
    assert_eq!(c["num_redelivered"], info.num_redelivered as u64);
    assert_eq!(c["num_waiting"], info.num_waiting as u64);
    assert_eq!(c["ack_floor_stream_seq"], info.ack_floor.stream_sequence);
    assert_eq!(c["delivered_stream_seq"], info.delivered.stream_sequence);
    assert_eq!(
        (
            c["num_ack_pending"].as_u64(),
            c["ack_floor_stream_seq"].as_u64()
        ),
        (Some(1), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsing_never_removes_messages_or_adds_consumers() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    let (_, js) = common::jetstream(&server).await;
    for (name, policy, direct) in [
        ("WQ", stream::RetentionPolicy::WorkQueue, true),
        ("INT", stream::RetentionPolicy::Interest, false),
    ] {
        let s = make_stream(&js, name, policy, direct).await;
        s.create_consumer(pull::Config {
            durable_name: Some("worker".into()),
            ..Default::default()
        })
        .await
        .expect("consumer");
        for i in 0..20 {
            publish(
                &js,
                &format!("{}.item", name.to_lowercase()),
                &format!("payload {i}"),
            )
            .await;
        }
        let before = js
            .get_stream(name)
            .await
            .expect("stream")
            .info()
            .await
            .expect("info")
            .state
            .clone();

        let out = eventscope(&["browse", name, "--server", &url, "--count", "100"]);
        let lines = capture_lines(&out);
        assert_eq!(lines.len(), 20, "{name}: every message");
        let badge = if direct {
            "direct get"
        } else {
            "STREAM.MSG.GET"
        };
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(badge),
            "{name} read by {badge}"
        );
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line["stream"], name);
            assert_eq!(line["stream_seq"], i as u64 + 1);
            assert_eq!(line["subject"], format!("{}.item", name.to_lowercase()));
            assert_eq!(line["headers"]["ce-id"][0], format!("payload {i}"));
            use base64::Engine;
            let payload = base64::engine::general_purpose::STANDARD
                .decode(line["payload_b64"].as_str().expect("b64"))
                .expect("base64");
            assert_eq!(payload, format!("payload {i}").as_bytes());
        }
        // Paged: the second page of 5 starts at 6.
        let page = capture_lines(&eventscope(&[
            "browse", name, "--server", &url, "--seq", "6", "--count", "5",
        ]));
        let seqs: Vec<u64> = page
            .iter()
            .map(|l| l["stream_seq"].as_u64().expect("seq"))
            .collect();
        assert_eq!(seqs, [6, 7, 8, 9, 10]);

        let mut s = js.get_stream(name).await.expect("stream");
        let after = s.info().await.expect("info").state.clone();
        assert_eq!(
            (after.messages, after.first_sequence),
            (before.messages, before.first_sequence),
            "{name} unchanged"
        );
        let names: Vec<String> = s.consumer_names().map(|n| n.expect("name")).collect().await;
        assert_eq!(names, ["worker"], "{name}: no consumer added");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_seeks_land_on_the_first_message_at_that_time() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    let (_, js) = common::jetstream(&server).await;
    for (name, direct) in [("DIRECT", true), ("PLAIN", false)] {
        make_stream(&js, name, stream::RetentionPolicy::Limits, direct).await;
        for i in 0..10 {
            publish(
                &js,
                &format!("{}.early", name.to_lowercase()),
                &format!("e{i}"),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let cut = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        for i in 0..10 {
            publish(
                &js,
                &format!("{}.late.{}", name.to_lowercase(), i % 2),
                &format!("l{i}"),
            )
            .await;
        }
        let lines = capture_lines(&eventscope(&[
            "browse", name, "--server", &url, "--at", &cut,
        ]));
        assert_eq!(lines.len(), 10, "{name}");
        assert_eq!(
            lines[0]["stream_seq"], 11,
            "{name}: lands on the first after the cut"
        );
        let recent = capture_lines(&eventscope(&[
            "browse", name, "--server", &url, "--since", "1h",
        ]));
        assert_eq!(recent.len(), 20, "{name}: --since 1h takes all");
        let last = capture_lines(&eventscope(&[
            "browse",
            name,
            "--server",
            &url,
            "--last-per-subject",
        ]));
        let seqs: Vec<u64> = last
            .iter()
            .map(|l| l["stream_seq"].as_u64().expect("seq"))
            .collect();
        assert_eq!(seqs, [10, 19, 20], "{name}: last of each subject");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_previews_count_what_purge_removes() {
    let _timed = common::timed();
    use eventscope::jetstream::{Api, Purge, purge, purge_preview};
    let server = common::server();
    let (client, js) = common::jetstream(&server).await;
    let api = Api::with_profile(
        client.clone(),
        eventscope::broker::ConnectionProfile::new("t", server.url()),
    );
    for (name, direct) in [("PD", true), ("PM", false)] {
        make_stream(&js, name, stream::RetentionPolicy::Limits, direct).await;
        let lower = name.to_lowercase();
        for i in 0..30 {
            publish(&js, &format!("{lower}.{}", ["a", "b", "c"][i % 3]), "x").await;
        }
        let cases = [
            Purge {
                subject: Some(format!("{lower}.a")),
                keep: Some(2),
                up_to_seq: None,
            },
            Purge {
                subject: Some(format!("{lower}.b")),
                keep: None,
                up_to_seq: Some(15),
            },
            Purge {
                subject: None,
                keep: Some(5),
                up_to_seq: None,
            },
            Purge::default(),
        ];
        for case in cases {
            let preview = purge_preview(&api, name, &case).await.expect("preview");
            let purged = purge(&api, name, &case).await.expect("purge");
            if preview.exact {
                assert_eq!(preview.count, purged, "{name} {case:?}");
            } else {
                assert!(preview.count >= purged, "{name} {case:?}: a bound");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorder_rebuilds_retries_from_before_eventscope_ran() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    let status = |url: &str| -> Value {
        json_lines(&eventscope(&[
            "recorder", "status", "--server", url, "--json",
        ]))
        .pop()
        .expect("status")
    };
    // The user consents once; then eventscope exits.
    eventscope(&[
        "recorder",
        "start",
        "--server",
        &url,
        "--max-age",
        "1h",
        "--max-bytes",
        "64MiB",
    ]);

    // A worker runs while no eventscope does: ack the first, NAK the second
    // until max deliveries, NAK then ack the third, TERM the fourth.
    let (client, js) = common::jetstream(&server).await;
    let s = make_stream(&js, "ORDERS", stream::RetentionPolicy::Limits, true).await;
    let consumer = s
        .create_consumer(pull::Config {
            durable_name: Some("billing".into()),
            max_deliver: 3,
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .expect("consumer");
    for name in ["ok", "poison", "flaky", "bad"] {
        publish(&js, &format!("orders.{name}"), name).await;
    }
    let mut naks_for_flaky = 0;
    let mut messages = consumer.messages().await.expect("messages");
    let mut answered = 0;
    while answered < 1 + 3 + 2 + 1 {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("a delivery in time")
            .expect("stream")
            .expect("message");
        let kind = match m.subject.as_str() {
            "orders.ok" => AckKind::Ack,
            "orders.poison" => AckKind::Nak(None),
            "orders.flaky" if naks_for_flaky == 0 => {
                naks_for_flaky += 1;
                AckKind::Nak(None)
            }
            "orders.flaky" => AckKind::Ack,
            _ => AckKind::Term,
        };
        m.ack_with(kind).await.expect("answer");
        answered += 1;
    }
    drop(messages);
    client.flush().await.expect("flush");
    // The server's advisory for max deliveries follows the last NAK.
    let mut want = 0;
    for _ in 0..100 {
        want = status(&url)["messages"].as_u64().expect("messages");
        if want > 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        want >= 8,
        "7 answers and at least the max-deliveries advisory, got {want}"
    );

    let flows = json_lines(&eventscope(&[
        "flows",
        "--from-recorder",
        "EVENTSCOPE_RECORDER",
        "--server",
        &url,
        "--json",
    ]));
    let by_subject = |subject: &str| -> &Value {
        flows
            .iter()
            .find(|f| f["subject"] == subject)
            .unwrap_or_else(|| panic!("a flow for {subject} in {flows:#?}"))
    };
    let deliveries = |flow: &Value| -> Vec<(u64, String)> {
        flow["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .map(|d| {
                assert_eq!(d["consumer"], "billing");
                assert!(d["answered_at"].is_string());
                (
                    d["count"].as_u64().expect("count"),
                    d["outcome"].as_str().expect("outcome").to_owned(),
                )
            })
            .collect()
    };
    let ok = by_subject("orders.ok");
    assert_eq!(deliveries(ok), [(1, "ack".to_owned())]);
    assert_eq!(ok["stream"], "ORDERS");
    assert_eq!(ok["stream_seq"], 1);
    let poison = by_subject("orders.poison");
    assert_eq!(
        deliveries(poison),
        [
            (1, "nak".to_owned()),
            (2, "nak".to_owned()),
            (3, "nak".to_owned())
        ]
    );
    assert_eq!(poison["final"], "max_deliveries", "{poison:#}");
    assert_eq!(ok["final"], "acked");
    assert_eq!(
        deliveries(by_subject("orders.flaky")),
        [(1, "nak".to_owned()), (2, "ack".to_owned())]
    );
    let bad = by_subject("orders.bad");
    assert_eq!(deliveries(bad), [(1, "term".to_owned())]);
    assert_eq!(bad["final"], "terminated");
    assert_eq!(flows.len(), 4, "one flow per message: {flows:#?}");

    // Reading it (twice), its status and the stream list add nothing to it.
    let held = status(&url)["messages"].clone();
    eventscope(&[
        "flows",
        "--from-recorder",
        "EVENTSCOPE_RECORDER",
        "--server",
        &url,
        "--json",
    ]);
    eventscope(&["streams", "--server", &url]);
    eventscope(&[
        "browse",
        "EVENTSCOPE_RECORDER",
        "--server",
        &url,
        "--out",
        "/dev/null",
    ]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        status(&url)["messages"],
        held,
        "the recorder does not record itself"
    );

    // Read within a byte budget: the newest answers, and where it began.
    {
        use eventscope::jetstream::{Api, read_recorder};
        let api = Api::with_profile(
            client.clone(),
            eventscope::broker::ConnectionProfile::new("t", url.clone()),
        );
        let all = read_recorder(&api, "EVENTSCOPE_RECORDER", None, 0, u64::MAX)
            .await
            .expect("read");
        assert_eq!(all.began_at, None);
        let newest = read_recorder(&api, "EVENTSCOPE_RECORDER", None, 0, 300)
            .await
            .expect("read");
        let began = newest.began_at.expect("cut to the budget");
        assert!(newest.records.len() < all.records.len() && !newest.records.is_empty());
        assert_eq!(newest.records.last(), all.records.last(), "the newest kept");
        assert!(began > 1);
    }

    // Removing it is one action; a stream that is not a recorder is refused.
    eventscope(&["recorder", "stop", "--server", &url]);
    let refused = Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args(["recorder", "stop", "--name", "ORDERS", "--server", &url])
        .output()
        .expect("run");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not an eventscope recorder"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_reads_the_whole_range_within_its_budgets() {
    let _timed = common::timed();
    use eventscope::jetstream::{Access, Api, SearchProgress, SearchRequest, Start, search};
    let server = common::server();
    let (client, js) = common::jetstream(&server).await;
    make_stream(&js, "LOG", stream::RetentionPolicy::Limits, true).await;
    for i in 0..1500 {
        let payload = if i % 200 == 7 {
            format!("x needle {i}")
        } else {
            format!("plain {i}")
        };
        let mut headers = HeaderMap::new();
        headers.insert("trace", if i == 1234 { "has-needle" } else { "none" });
        js.publish_with_headers("log.line", headers, Bytes::from(payload))
            .await
            .expect("publish");
    }
    js.publish("log.line", Bytes::from("last"))
        .await
        .expect("publish")
        .await
        .expect("stored");
    let profile = eventscope::broker::ConnectionProfile::new("t", server.url());
    let api = Api::with_profile(client.clone(), profile);
    {
        let request = SearchRequest {
            start: Start::Seq(1),
            up_to_seq: None,
            subject: None,
            needle: "needle".into(),
            max_messages: 1_000_000,
            max_bytes: 1 << 30,
            max_time: Duration::from_secs(30),
            max_hits: 100,
        };
        let progress = SearchProgress::new();
        search(&api, "LOG", Access::Direct, &request, &progress).await;
        assert_eq!(progress.scanned(), 1501, "the whole stream, not a page");
        let seqs: Vec<u64> = progress.hits().iter().map(|m| m.seq).collect();
        assert_eq!(
            seqs,
            [8, 208, 408, 608, 808, 1008, 1208, 1235, 1408],
            "payloads and headers"
        );
        assert_eq!(progress.ended().as_deref(), Some("end of the stream"));

        let progress = SearchProgress::new();
        let budget = SearchRequest {
            max_messages: 300,
            ..request.clone()
        };
        search(&api, "LOG", Access::MsgGet, &budget, &progress).await;
        assert_eq!((progress.scanned(), progress.hit_count()), (300, 2));
        assert!(progress.ended().expect("ended").contains("message budget"));

        let progress = SearchProgress::new();
        progress.cancel();
        search(&api, "LOG", Access::Direct, &request, &progress).await;
        assert_eq!(progress.ended().as_deref(), Some("cancelled"));
        assert_eq!(progress.scanned(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_reset_previews_and_redelivers_from_the_sequence() {
    let _timed = common::timed();
    use eventscope::jetstream::{Api, consumer_info, reset_consumer, reset_preview};
    let server = common::server();
    let (client, js) = common::jetstream(&server).await;
    let s = make_stream(&js, "ORDERS", stream::RetentionPolicy::Limits, true).await;
    let consumer = s
        .create_consumer(pull::Config {
            durable_name: Some("worker".into()),
            filter_subject: "orders.paid".into(),
            ..Default::default()
        })
        .await
        .expect("consumer");
    for i in 0..10 {
        let subject = if i % 2 == 0 {
            "orders.paid"
        } else {
            "orders.other"
        };
        publish(&js, subject, &format!("m{i}")).await;
    }
    // All five `paid` (sequences 1, 3, 5, 7, 9) delivered and acked.
    let mut batch = consumer
        .fetch()
        .max_messages(5)
        .messages()
        .await
        .expect("fetch");
    while let Some(m) = batch.next().await {
        m.expect("message").double_ack().await.expect("ack");
    }
    let api = Api::with_profile(
        client,
        eventscope::broker::ConnectionProfile::new("t", server.url()),
    );
    let info = consumer_info(&api, "ORDERS", "worker").await.expect("info");
    assert_eq!(info.delivered_stream_seq, 9);
    let preview = reset_preview(&api, &info, 4, true).await.expect("preview");
    assert_eq!(preview.again, 3, "sequences 5, 7 and 9 again");
    assert!(preview.from.is_some() && preview.to >= preview.from);

    reset_consumer(&api, "ORDERS", "worker", 4)
        .await
        .expect("reset");
    let mut batch = consumer
        .fetch()
        .max_messages(5)
        .expires(Duration::from_secs(1))
        .messages()
        .await
        .expect("fetch");
    let mut again = Vec::new();
    while let Some(m) = batch.next().await {
        let m = m.expect("message");
        again.push(m.info().expect("info").stream_sequence);
        m.ack().await.expect("ack");
    }
    assert_eq!(again, [5, 7, 9], "what the preview said");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_are_created_changed_paused_and_deleted_as_asked() {
    let _timed = common::timed();
    use eventscope::jetstream::{
        Api, consumer_info, delete_consumer, list_consumers, pause_consumer, put_consumer,
    };
    let server = common::server();
    let (client, js) = common::jetstream(&server).await;
    make_stream(&js, "ORDERS", stream::RetentionPolicy::Limits, true).await;
    let api = Api::new(client);
    let config = serde_json::json!({
        "durable_name": "audit", "ack_policy": "explicit", "max_deliver": 5,
        "filter_subject": "orders.paid",
    });
    let made = put_consumer(&api, "ORDERS", config.clone(), false)
        .await
        .expect("create");
    assert_eq!((made.name.as_str(), made.max_deliver), ("audit", 5));
    let mut changed = config;
    changed["max_deliver"] = serde_json::json!(9);
    put_consumer(&api, "ORDERS", changed, true)
        .await
        .expect("update");
    assert_eq!(
        consumer_info(&api, "ORDERS", "audit")
            .await
            .expect("info")
            .max_deliver,
        9
    );
    let until = eventscope::capture::now_timestamp() + 60_000_000_000;
    assert!(
        pause_consumer(&api, "ORDERS", "audit", Some(until))
            .await
            .expect("pause")
    );
    assert!(
        consumer_info(&api, "ORDERS", "audit")
            .await
            .expect("info")
            .paused
    );
    assert!(
        !pause_consumer(&api, "ORDERS", "audit", None)
            .await
            .expect("resume")
    );
    delete_consumer(&api, "ORDERS", "audit")
        .await
        .expect("delete");
    assert!(
        list_consumers(&api, "ORDERS")
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsed_headers_are_the_stored_bytes() {
    let _timed = common::timed();
    use std::io::{Read, Write};
    let server = common::server();
    let url = server.url();
    let (_, js) = common::jetstream(&server).await;
    make_stream(&js, "RAW", stream::RetentionPolicy::Limits, true).await;
    // A client library would group or reorder these; the wire keeps them.
    let block = b"NATS/1.0\r\nB: 2\r\nA: 1\r\nb: 3\r\nX-Odd:  spaced \r\n\r\n";
    let payload = b"\x00\xffbinary";
    let port = url.rsplit(':').next().expect("port");
    let mut socket = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("tcp");
    let mut info = [0u8; 4096];
    let _ = socket.read(&mut info).expect("INFO");
    let mut hpub = format!(
        "CONNECT {{\"headers\":true,\"verbose\":false}}\r\nHPUB raw.x {} {}\r\n",
        block.len(),
        block.len() + payload.len()
    )
    .into_bytes();
    hpub.extend_from_slice(block);
    hpub.extend_from_slice(payload);
    hpub.extend_from_slice(b"\r\nPING\r\n");
    socket.write_all(&hpub).expect("HPUB");
    let mut pong = [0u8; 64];
    let _ = socket.read(&mut pong).expect("PONG");
    for _ in 0..100 {
        if js
            .get_stream("RAW")
            .await
            .expect("stream")
            .info()
            .await
            .expect("info")
            .state
            .messages
            == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines = capture_lines(&eventscope(&["browse", "RAW", "--server", &url]));
    assert_eq!(lines.len(), 1);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = lines[0]["headers_raw_b64"]
        .as_str()
        .expect("the exact block is kept where the grouped form would lose its order");
    assert_eq!(b64.decode(raw).expect("base64"), block);
    assert_eq!(
        b64.decode(lines[0]["payload_b64"].as_str().expect("payload"))
            .expect("base64"),
        payload
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_for_several_filters_merges_them_in_sequence_order() {
    let _timed = common::timed();
    use eventscope::jetstream::{Access, Api, fetch_filtered};
    let server = common::server();
    let (client, js) = common::jetstream(&server).await;
    make_stream(&js, "MIX", stream::RetentionPolicy::Limits, true).await;
    for i in 0..12 {
        publish(
            &js,
            &format!("mix.{}", ["a", "b", "c"][i % 3]),
            &format!("m{i}"),
        )
        .await;
    }
    let profile = eventscope::broker::ConnectionProfile::new("t", server.url());
    let api = Api::with_profile(client, profile);
    let filters = ["mix.c".to_owned(), "mix.a".to_owned()];
    for access in [Access::Direct, Access::MsgGet] {
        let page = fetch_filtered(&api, "MIX", access, 2, &filters, 5)
            .await
            .expect("page");
        let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [3, 4, 6, 7, 9], "{access:?}");
        assert!(page.more);
    }
}

#[test]
fn without_jetstream_the_commands_say_so_and_fail() {
    let _timed = common::timed();
    // The server runs JetStream; this account has none.
    let server = common::server_with_config(Some(
        "accounts { NOJS: { users: [{user: plain, password: secret}] } }",
    ));
    let url = server.url();
    for args in [
        vec!["streams"],
        vec!["consumers", "ORDERS"],
        vec!["browse", "ORDERS"],
        vec!["recorder", "status"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_eventscope"))
            .args(&args)
            .args(["--server", &url, "--user", "plain", "--password", "secret"])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} must fail");
        assert!(stderr.contains("JetStream"), "{args:?} says why: {stderr}");
        assert!(!stderr.contains("secret"), "no password in the message");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fetch_link_comes_back_after_the_server_restarts() {
    let _timed = common::timed();
    use eventscope::jetstream::{Access, Api, PageRequest, Start, fetch_page};
    let mut server = common::server();
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(server.url())
        .await
        .expect("connect");
    let js = jetstream::new(client.clone());
    make_stream(&js, "KEEP", stream::RetentionPolicy::Limits, true).await;
    for i in 0..3 {
        publish(&js, "keep.x", &format!("m{i}")).await;
    }
    let profile = eventscope::broker::ConnectionProfile::new("t", server.url());
    let api = Api::with_profile(client.clone(), profile);
    let page = || PageRequest {
        start: Start::Seq(1),
        subject: None,
        count: 10,
        max_bytes: 1 << 20,
    };
    assert_eq!(
        fetch_page(&api, "KEEP", Access::Direct, &page())
            .await
            .expect("page")
            .messages
            .len(),
        3
    );
    server.restart().expect("restart");
    // The fetch link the server closed is opened again on the next read,
    // which succeeds without an error first.
    let again = fetch_page(&api, "KEEP", Access::Direct, &page())
        .await
        .expect("a page after the restart");
    assert_eq!(again.messages.len(), 3);
}
