//! Flows end to end: real clients drive a real server through retries,
//! terminations, max deliveries, ack-wait expiry, a push consumer,
//! request/reply, no responders and a duplicate publish; `eventscope record`
//! captures it and `eventscope flows --json` must reconstruct it exactly.

use crate::common;

use common::recorder::Recorder;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::pull, consumer::push, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

async fn drive(url: &str) {
    let client = async_nats::connect(url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let orders = js
        .create_stream(stream::Config {
            name: "ORDERS".into(),
            subjects: vec!["orders.>".into()],
            ..Default::default()
        })
        .await
        .expect("stream");
    let worker: jetstream::consumer::PullConsumer = orders
        .create_consumer(pull::Config {
            durable_name: Some("worker".into()),
            filter_subject: "orders.new".into(),
            ack_wait: Duration::from_millis(800),
            max_deliver: 3,
            ..Default::default()
        })
        .await
        .expect("pull consumer");
    orders
        .create_consumer(push::Config {
            durable_name: Some("pusher".into()),
            deliver_subject: "deliver.pusher".into(),
            filter_subject: "orders.push".into(),
            ..Default::default()
        })
        .await
        .expect("push consumer");
    let mut pushed = client
        .subscribe("deliver.pusher")
        .await
        .expect("push subscriber");

    for name in ["nak-nak-ack", "term", "max", "expire"] {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", name);
        headers.insert("ce-source", "test-producer");
        js.publish_with_headers("orders.new", headers, Bytes::from(name))
            .await
            .expect("publish")
            .await
            .expect("puback");
    }
    // The producer retries the first one: same Nats-Msg-Id, deduplicated.
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", "nak-nak-ack");
    let dup = js
        .publish_with_headers("orders.new", headers, Bytes::from("nak-nak-ack"))
        .await
        .expect("publish");
    assert!(dup.await.expect("puback").duplicate);
    js.publish("orders.push", Bytes::from("pushed"))
        .await
        .expect("publish")
        .await
        .expect("puback");

    // The pull worker, scripted by payload.
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut done = 0;
    while Instant::now() < deadline && done < 3 {
        let mut batch = worker
            .fetch()
            .max_messages(10)
            .expires(Duration::from_millis(300))
            .messages()
            .await
            .expect("fetch");
        while let Some(Ok(message)) = batch.next().await {
            let delivered = message.info().expect("info").delivered;
            match (&message.payload[..], delivered) {
                (b"nak-nak-ack", 1 | 2) => message.ack_with(AckKind::Nak(None)).await.expect("nak"),
                (b"term", _) => message.ack_with(AckKind::Term).await.expect("term"),
                (b"max", _) => message.ack_with(AckKind::Nak(None)).await.expect("nak"),
                (b"expire", 1) => {} // let the ack wait expire
                _ => {
                    message.ack().await.expect("ack");
                    done += 1;
                }
            }
        }
    }
    let message = tokio::time::timeout(Duration::from_secs(5), pushed.next())
        .await
        .expect("push delivery")
        .expect("message");
    client
        .publish(message.reply.expect("ack subject"), Bytes::new())
        .await
        .expect("ack push");

    // Request/reply, and a request nobody serves.
    let mut service = client.subscribe("svc.echo").await.expect("service");
    let responder = client.clone();
    tokio::spawn(async move {
        while let Some(request) = service.next().await {
            // Well above the 20 ms asserted: the monitor stamps what it
            // reads, and on a loaded machine it can read the request late.
            tokio::time::sleep(Duration::from_millis(150)).await;
            if let Some(reply) = request.reply {
                responder
                    .publish(reply, request.payload)
                    .await
                    .expect("reply");
            }
        }
    });
    client.flush().await.expect("flush");
    let requester = async_nats::connect(url).await.expect("connect");
    requester
        .request("svc.echo", Bytes::from("hi"))
        .await
        .expect("reply");
    let none = async_nats::Request::new()
        .payload(Bytes::from("?"))
        .timeout(Some(Duration::from_millis(300)));
    // With a `>` monitor subscribed, this times out instead of "no responders".
    assert!(requester.send_request("svc.none", none).await.is_err());
    // Max deliveries is announced after the last delivery; give it time.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    client.flush().await.expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_traffic_reconstructs_into_exact_flows() {
    let _timed = common::timed();
    let server = common::server();
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("flows.jsonl");
    let url = server.url();
    let mut recorder = Recorder::start(&["--server", &url, "-o", capture.to_str().expect("utf8")]);
    recorder.wait_line("recording");
    drive(&server.url()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    recorder.signal("INT");
    let (status, text) = tokio::task::spawn_blocking(move || recorder.finish())
        .await
        .expect("join");
    assert!(status.success(), "{text}");

    let flows = common::recording::json_flows(capture.to_str().expect("utf8"));
    let js: HashMap<u64, &Value> = flows
        .iter()
        .filter(|f| f["kind"] == "jetstream")
        .map(|f| (f["stream_seq"].as_u64().expect("seq"), f))
        .collect();
    let deliveries = |seq: u64| -> Vec<(String, u64, String)> {
        js[&seq]["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .map(|d| {
                (
                    d["consumer"].as_str().expect("consumer").to_owned(),
                    d["count"].as_u64().expect("count"),
                    d["outcome"].as_str().expect("outcome").to_owned(),
                )
            })
            .collect()
    };
    let w = |n: u64, o: &str| ("worker".to_owned(), n, o.to_owned());

    assert_eq!(deliveries(1), [w(1, "nak"), w(2, "nak"), w(3, "ack")]);
    assert_eq!(js[&1]["final"], "acked");
    assert_eq!(js[&1]["producer"], "test-producer");
    assert_eq!(js[&1]["msg_id"], "nak-nak-ack");
    assert_eq!(
        js[&1]["duplicates"], 1,
        "the second publish with the same Nats-Msg-Id"
    );

    assert_eq!(deliveries(2), [w(1, "term")]);
    assert_eq!(js[&2]["final"], "terminated");

    assert_eq!(deliveries(3), [w(1, "nak"), w(2, "nak"), w(3, "nak")]);
    assert_eq!(js[&3]["final"], "max_deliveries");

    assert_eq!(deliveries(4), [w(1, "timeout"), w(2, "ack")]);
    assert_eq!(js[&4]["final"], "acked");

    assert_eq!(deliveries(5), [("pusher".to_owned(), 1, "ack".to_owned())]);
    assert_eq!(js[&5]["subject"], "orders.push");
    assert_eq!(js[&5]["final"], "acked");
    assert_eq!(
        js.len(),
        5,
        "one flow per stored message; the duplicate folds into its original"
    );

    let requests: Vec<&Value> = flows.iter().filter(|f| f["kind"] == "request").collect();
    let echo = requests
        .iter()
        .find(|f| f["subject"] == "svc.echo")
        .expect("svc.echo flow");
    assert_eq!(echo["final"], "replied");
    assert!(echo["latency_ms"].as_f64().expect("latency") >= 20.0);
    let none = requests
        .iter()
        .find(|f| f["subject"] == "svc.none")
        .expect("svc.none flow");
    assert_eq!(none["final"], "no_reply");
    assert!(none["latency_ms"].is_null());

    // The same flows as a Mermaid diagram of the retried message.
    let id = js[&1]["id"].as_u64().expect("id").to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args([
            "flows",
            capture.to_str().expect("utf8"),
            "--mermaid",
            "--id",
            &id,
        ])
        .output()
        .expect("run flows");
    let text = String::from_utf8(output.stdout).expect("utf8");
    assert!(text.starts_with("sequenceDiagram\n"), "{text}");
    assert!(text.contains("actor P0 as test-producer"), "{text}");
    assert_eq!(text.matches("-->>P1: NAK (").count(), 2, "{text}");
    assert!(text.contains("publish again (same message id)"), "{text}");
    assert!(text.contains("redeliver #35;3"), "{text}");
}
