//! Flows follow the server's own rules (nats-server 2.15, issue 21): the
//! first ACK or TERM settles, whatever comes after; a late ACK of an
//! earlier delivery is honoured; no-answer consumers beside workers do not
//! hide their ACKs; consumer filters match the stored (transformed)
//! subject; deleted consumers stop counting; the server's own source and
//! mirror consumers; sourced copies linked to their origin; atomic batches
//! placed by their commit (or failed with it); what the server removed;
//! service errors; RePublish copies; trace events; pauses. Real server,
//! real clients, `eventscope record` then `eventscope flows --json`.

use crate::common;

use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use common::recording::{Recording, flows, json_flows};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// A JetStream API request with a raw JSON body, as any client sends it;
/// the answer must not be an error.
async fn api(client: &Client, subject: &str, body: Value) -> Value {
    let answer = client
        .request(subject.to_owned(), Bytes::from(body.to_string()))
        .await
        .unwrap_or_else(|e| panic!("{subject}: {e}"));
    let answer: Value = serde_json::from_slice(&answer.payload).expect("a JSON answer");
    assert!(answer.get("error").is_none(), "{subject}: {answer}");
    answer
}

async fn stream(client: &Client, config: Value) {
    let name = config["name"].as_str().expect("a name").to_owned();
    api(client, &format!("$JS.API.STREAM.CREATE.{name}"), config).await;
}

async fn durable(client: &Client, stream: &str, name: &str, extra: Value) {
    let mut config = json!({"durable_name": name, "ack_policy": "explicit"});
    for (k, v) in extra.as_object().expect("an object") {
        config[k] = v.clone();
    }
    api(
        client,
        &format!("$JS.API.CONSUMER.CREATE.{stream}.{name}"),
        json!({"stream_name": stream, "config": config}),
    )
    .await;
}

/// A JetStream publish (with its PubAck) of a body with headers.
async fn publish(js: &jetstream::Context, subject: &str, headers: &[(&str, &str)], body: &str) {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, *value);
    }
    js.publish_with_headers(subject.to_owned(), map, Bytes::from(body.to_owned()))
        .await
        .expect("publish")
        .await
        .expect("stored");
}

/// Fetch up to `n` messages of a durable pull consumer.
async fn fetch(
    js: &jetstream::Context,
    stream: &str,
    consumer: &str,
    n: usize,
) -> Vec<jetstream::Message> {
    let consumer: jetstream::consumer::PullConsumer = js
        .get_stream(stream)
        .await
        .expect("stream")
        .get_consumer(consumer)
        .await
        .expect("consumer");
    let mut batch = consumer
        .fetch()
        .max_messages(n)
        .expires(Duration::from_millis(1500))
        .messages()
        .await
        .expect("fetch");
    let mut out = Vec::new();
    while let Some(Ok(message)) = batch.next().await {
        out.push(message);
        if out.len() == n {
            break;
        }
    }
    out
}

/// Answer a delivery with a raw body on its ack subject.
async fn answer(client: &Client, message: &jetstream::Message, body: &str) {
    let reply = message.reply.clone().expect("an ack subject");
    client
        .publish(reply, Bytes::from(body.to_owned()))
        .await
        .expect("answer");
}

async fn drive(url: &str) {
    let client = async_nats::ConnectOptions::new()
        .name("scenarios")
        .connect(url)
        .await
        .expect("connect");
    let js = jetstream::new(client.clone());

    // 2. Answers by their effect: TERM then ACK stays terminated; ACK then
    //    TERM stays acked; a late ACK of delivery 1 after delivery 2 acks.
    stream(&client, json!({"name": "A", "subjects": ["a.>"]})).await;
    durable(&client, "A", "w", json!({"ack_wait": 1_000_000_000u64})).await;
    for n in 1..=3 {
        publish(&js, &format!("a.{n}"), &[], "x").await;
    }
    let first = fetch(&js, "A", "w", 3).await;
    assert_eq!(first.len(), 3);
    answer(&client, &first[0], "+TERM").await;
    answer(&client, &first[0], "+ACK").await;
    answer(&client, &first[1], "+ACK").await;
    answer(&client, &first[1], "+TERM").await;
    client.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let again = fetch(&js, "A", "w", 1).await;
    assert_eq!(again.len(), 1, "a.3 redelivered after its ack wait");
    answer(&client, &first[2], "+ACK").await; // delivery 1's subject, late

    // 3. A subject transform: the consumer filtered on the stored subject
    //    wants in.c (it waits for a fetch); nobody wants in.d.
    stream(
        &client,
        json!({"name": "T", "subjects": ["in.*"],
               "subject_transform": {"src": "in.*", "dest": "stored.{{wildcard(1)}}"}}),
    )
    .await;
    durable(&client, "T", "c", json!({"filter_subject": "stored.c"})).await;
    publish(&js, "in.c", &[], "for c").await;
    publish(&js, "in.d", &[], "for nobody").await;

    // 4. A consumer deleted: what it had delivered and not settled is
    //    removed with it; what comes after nobody wants.
    stream(&client, json!({"name": "D", "subjects": ["d.>"]})).await;
    durable(&client, "D", "only", json!({})).await;
    publish(&js, "d.before", &[], "delivered, never answered").await;
    assert_eq!(fetch(&js, "D", "only", 1).await.len(), 1);
    api(&client, "$JS.API.CONSUMER.DELETE.D.only", json!({})).await;
    publish(&js, "d.after", &[], "nobody left").await;

    // 5. Sources and mirrors: the server's own consumers expect no answer;
    //    the sourced copy is linked to its origin.
    stream(&client, json!({"name": "O", "subjects": ["o.>"]})).await;
    stream(&client, json!({"name": "SRC", "sources": [{"name": "O"}]})).await;
    stream(&client, json!({"name": "MIR", "mirror": {"name": "O"}})).await;
    durable(&client, "SRC", "c", json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish(
        &js,
        "o.x",
        &[("ce-id", "origin-1"), ("ce-source", "o")],
        "origin",
    )
    .await;
    let copies = fetch(&js, "SRC", "c", 1).await;
    assert_eq!(copies.len(), 1);
    copies[0].ack().await.expect("ack the copy");

    // 6. Atomic batches: five members placed by the commit's PubAck; a
    //    batch whose commit is refused fails whole.
    stream(
        &client,
        json!({"name": "B", "subjects": ["b.>"], "allow_atomic": true}),
    )
    .await;
    durable(&client, "B", "all", json!({})).await;
    for n in 1..=5u64 {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Batch-Id", "good");
        headers.insert("Nats-Batch-Sequence", n.to_string().as_str());
        if n == 5 {
            headers.insert("Nats-Batch-Commit", "1");
        }
        let subject = format!("b.{n}");
        if n == 1 || n == 5 {
            client
                .request_with_headers(subject, headers, Bytes::from("member"))
                .await
                .expect("an answer");
        } else {
            client
                .publish_with_headers(subject, headers, Bytes::from("member"))
                .await
                .expect("publish");
        }
    }
    for message in fetch(&js, "B", "all", 5).await {
        message.ack().await.expect("ack");
    }
    for n in 1..=2u64 {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Batch-Id", "bad");
        headers.insert("Nats-Batch-Sequence", n.to_string().as_str());
        if n == 2 {
            headers.insert("Nats-Batch-Commit", "1");
            headers.insert("Nats-Expected-Last-Sequence", "999");
        }
        client
            .request_with_headers(format!("b.bad{n}"), headers, Bytes::from("member"))
            .await
            .expect("an answer");
    }

    // What the server removed: a TTL, a delete by sequence, a purge, a
    // rollup; each message waiting on a consumer that never fetches.
    stream(
        &client,
        json!({"name": "X", "subjects": ["x.>"], "allow_msg_ttl": true, "allow_rollup_hdrs": true}),
    )
    .await;
    durable(&client, "X", "idle", json!({})).await;
    publish(&js, "x.ttl", &[("Nats-TTL", "1s")], "expires").await;
    publish(&js, "x.deleted", &[], "deleted").await; // seq 2
    api(&client, "$JS.API.STREAM.MSG.DELETE.X", json!({"seq": 2})).await;
    publish(&js, "x.purged", &[], "purged").await;
    api(
        &client,
        "$JS.API.STREAM.PURGE.X",
        json!({"filter": "x.purged"}),
    )
    .await;
    publish(&js, "x.rolled", &[], "rolled up").await;
    publish(&js, "x.rolled", &[("Nats-Rollup", "sub")], "the rollup").await;

    // A service error reply.
    let mut service = client.subscribe("svc.fail").await.expect("subscribe");
    let responder = client.clone();
    tokio::spawn(async move {
        if let Some(request) = service.next().await {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Service-Error-Code", "503");
            headers.insert("Nats-Service-Error", "inventory down");
            responder
                .publish_with_headers(request.reply.expect("inbox"), headers, Bytes::new())
                .await
                .expect("reply");
        }
    });
    client.flush().await.expect("flush");
    client
        .request("svc.fail", Bytes::from("?"))
        .await
        .expect("the error reply");

    // RePublish: the server's copy is not a second publish.
    stream(
        &client,
        json!({"name": "R", "subjects": ["r.>"], "republish": {"src": "r.>", "dest": "copy.>"}}),
    )
    .await;
    publish(&js, "r.1", &[("ce-id", "rp-1"), ("ce-source", "r")], "once").await;

    // Message tracing: the event is attached to the message it traces.
    let _subscriber = client.subscribe("traced.x").await.expect("subscribe");
    client.flush().await.expect("flush");
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Trace-Dest", "trace.dest");
    headers.insert("ce-id", "traced-1");
    client
        .publish_with_headers("traced.x", headers, Bytes::from("traced"))
        .await
        .expect("publish");

    // A pause: the message waits until the consumer is resumed.
    stream(&client, json!({"name": "P", "subjects": ["p.>"]})).await;
    durable(&client, "P", "pw", json!({})).await;
    api(
        &client,
        "$JS.API.CONSUMER.PAUSE.P.pw",
        json!({"pause_until": "2099-01-01T00:00:00Z"}),
    )
    .await;
    publish(&js, "p.1", &[], "waits").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    api(&client, "$JS.API.CONSUMER.PAUSE.P.pw", json!({})).await;
    for message in fetch(&js, "P", "pw", 1).await {
        message.ack().await.expect("ack");
    }

    tokio::time::sleep(Duration::from_millis(1200)).await; // x.ttl expires
    client.flush().await.expect("flush");
}

fn on<'a>(all: &'a [Value], subject: &str) -> Vec<&'a Value> {
    all.iter().filter(|f| f["subject"] == subject).collect()
}

fn one<'a>(all: &'a [Value], subject: &str) -> &'a Value {
    let found = on(all, subject);
    assert_eq!(found.len(), 1, "{subject}: {found:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_ends_as_the_server_decided() {
    let _timed = common::timed();
    let recording = Recording::start(&[]);
    drive(&recording.url.clone()).await;
    let (capture, _) = recording.finish().await;
    let all = json_flows(&capture);

    // 2. Answers by their effect.
    assert_eq!(one(&all, "a.1")["final"], "terminated", "TERM then ACK");
    assert_eq!(one(&all, "a.2")["final"], "acked", "ACK then TERM");
    let late = one(&all, "a.3");
    assert_eq!(late["final"], "acked", "a late ACK of delivery 1: {late}");
    let outcomes: Vec<(&Value, &Value)> = late["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| (&d["count"], &d["outcome"]))
        .collect();
    assert_eq!(
        outcomes,
        [(&json!(1), &json!("ack")), (&json!(2), &json!("settled"))],
        "{late}"
    );

    // 3. The stored subject decides.
    assert_eq!(one(&all, "in.c")["final"], "pending", "stored.c is wanted");
    assert_eq!(one(&all, "in.d")["final"], "unmatched");

    // 4. Deleted consumers.
    let before = one(&all, "d.before");
    assert_eq!(before["final"], "removed", "{before}");
    assert_eq!(before["removed"]["reason"], "consumer_deleted");
    assert_eq!(before["removed"]["consumer"], "only");
    assert_eq!(one(&all, "d.after")["final"], "unmatched");

    // 5. The server's own consumers and the sourced copy.
    let copies_of_o = on(&all, "o.x");
    assert_eq!(
        copies_of_o.len(),
        2,
        "origin and sourced copy: {copies_of_o:#?}"
    );
    let origin = copies_of_o
        .iter()
        .find(|f| f["stream"] == "O")
        .expect("the origin");
    let copy = copies_of_o
        .iter()
        .find(|f| f["stream"] == "SRC")
        .expect("the copy");
    assert_eq!(
        origin["final"], "delivered",
        "only server consumers: {origin}"
    );
    assert!(
        origin["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .all(|d| d["outcome"] == "delivered"),
        "{origin}"
    );
    assert_eq!(origin["copies"], json!([{"stream": "SRC", "seq": 1}]));
    assert_eq!(copy["source"], json!({"stream": "O", "seq": 1}));
    assert_eq!(copy["final"], "acked");
    assert_eq!(origin["duplicates"], 0, "a copy is not a duplicate publish");

    // 6. Batches.
    for n in 1..=5u64 {
        let member = one(&all, &format!("b.{n}"));
        assert_eq!(member["kind"], "jetstream", "{member}");
        assert_eq!(member["stream_seq"], n, "{member}");
        assert_eq!(member["batch"]["id"], "good");
        assert_eq!(member["final"], "acked", "{member}");
        assert_eq!(member["deliveries"].as_array().map(Vec::len), Some(1));
    }
    for n in 1..=2 {
        let member = one(&all, &format!("b.bad{n}"));
        assert_eq!(member["final"], "publish_failed", "{member}");
        assert!(
            member["publish_error"]
                .as_str()
                .is_some_and(|e| e.contains("wrong last sequence")),
            "{member}"
        );
    }

    // What the server removed.
    let reason = |subject: &str| one(&all, subject)["removed"]["reason"].clone();
    assert_eq!(one(&all, "x.ttl")["final"], "removed");
    assert_eq!(reason("x.ttl"), "ttl");
    assert_eq!(reason("x.deleted"), "deleted");
    assert_eq!(reason("x.purged"), "purged");
    let rolled = on(&all, "x.rolled");
    assert_eq!(rolled.len(), 2);
    assert_eq!(rolled[0]["removed"]["reason"], "rolled_up", "{:#?}", rolled);
    assert_eq!(rolled[1]["final"], "pending", "the rollup itself waits");
    for subject in ["x.deleted", "x.purged"] {
        assert!(one(&all, subject)["removed"]["at"].is_string());
    }

    // A service error is a failed request.
    let failed = one(&all, "svc.fail");
    assert_eq!(failed["final"], "service_error", "{failed}");
    assert_eq!(failed["service_error"]["code"], "503");
    assert_eq!(failed["service_error"]["description"], "inventory down");
    let failing = flows(&capture, &["--json", "--filter", "failed"]);
    assert!(failing.contains("svc.fail"), "{failing}");

    // RePublish.
    let stored = one(&all, "r.1");
    assert_eq!(stored["duplicates"], 0, "{stored}");
    let republished = one(&all, "copy.1");
    assert_eq!(
        republished["republish_of"],
        json!({"stream": "R", "seq": 1})
    );
    assert!(republished["duplicate_of"].is_null(), "{republished}");

    // Message tracing.
    let traced = one(&all, "traced.x");
    let hops = traced["trace"].as_array().expect("trace hops");
    assert_eq!(hops[0]["type"], "in", "{traced}");
    assert_eq!(hops[0]["name"], "scenarios");
    assert!(hops.iter().any(|h| h["type"] == "eg"), "{traced}");
    assert!(
        on(&all, "trace.dest").is_empty(),
        "the event is no flow of its own"
    );

    // Pause.
    let paused = one(&all, "p.1");
    assert_eq!(paused["final"], "acked");
    assert!(
        paused["deliveries"][0]["waited_on_pause"]["from"].is_string(),
        "{paused}"
    );

    // The diagram says the same.
    let a1 = one(&all, "a.1")["id"].to_string();
    let diagram = flows(&capture, &["--mermaid", "--id", &a1]);
    assert!(
        diagram.contains("TERM") && diagram.contains("ACK"),
        "{diagram}"
    );
    let copy_id = copy["id"].to_string();
    let diagram = flows(&capture, &["--mermaid", "--id", &copy_id]);
    assert!(diagram.contains("sourced from O #35;1"), "{diagram}");
}

/// An ordered consumer beside a pull and a push worker, the pull worker
/// answering by a seeded rule: every final exact (`delivered` never hides
/// the workers' ACKs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_pull_and_push_consumers_together_end_exactly() {
    let _timed = common::timed();
    const N: usize = 300;
    let recording = Recording::start(&[]);
    let client = async_nats::connect(&recording.url).await.expect("connect");
    let js = jetstream::new(client.clone());
    stream(&client, json!({"name": "MIX", "subjects": ["mix.>"]})).await;
    durable(
        &client,
        "MIX",
        "puller",
        json!({"ack_wait": 2_000_000_000u64}),
    )
    .await;
    durable(
        &client,
        "MIX",
        "pusher",
        json!({"deliver_subject": "deliver.pusher"}),
    )
    .await;
    let mut pushed = client.subscribe("deliver.pusher").await.expect("subscribe");
    let ordered = js
        .get_stream("MIX")
        .await
        .expect("stream")
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("ordered consumer");
    let mut ordered = ordered.messages().await.expect("ordered messages");
    for n in 0..N {
        publish(&js, &format!("mix.{n}"), &[], "m").await;
    }
    // The push worker acknowledges everything.
    let push_client = client.clone();
    let pusher = tokio::spawn(async move {
        for _ in 0..N {
            let message = pushed.next().await.expect("a push delivery");
            push_client
                .publish(message.reply.expect("ack subject"), Bytes::new())
                .await
                .expect("ack");
        }
    });
    let mut seen = 0;
    while seen < N {
        ordered.next().await.expect("ordered").expect("a message");
        seen += 1;
    }
    // The pull worker: TERM every fifth, NAK then ACK the next, ACK the rest.
    let mut answered = 0;
    while answered < N {
        for message in fetch(&js, "MIX", "puller", 100).await {
            let n: usize = message.subject["mix.".len()..].parse().expect("n");
            let info = message.info().expect("info");
            let kind = match (n % 5, info.delivered) {
                (0, _) => AckKind::Term,
                (1, 1) => AckKind::Nak(None),
                _ => AckKind::Ack,
            };
            message.ack_with(kind).await.expect("answer");
            if !(n % 5 == 1 && info.delivered == 1) {
                answered += 1;
            }
        }
    }
    pusher.await.expect("pusher");
    client.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (capture, _) = recording.finish().await;

    let all = json_flows(&capture);
    for n in 0..N {
        let flow = one(&all, &format!("mix.{n}"));
        let expected = if n % 5 == 0 { "terminated" } else { "acked" };
        assert_eq!(flow["final"], expected, "mix.{n}: {flow}");
        let deliveries = flow["deliveries"].as_array().expect("deliveries");
        let of = |consumer: &str| {
            deliveries
                .iter()
                .filter(|d| d["consumer"] == consumer)
                .count()
        };
        assert_eq!(of("puller"), if n % 5 == 1 { 2 } else { 1 }, "{flow}");
        assert_eq!(of("pusher"), 1, "{flow}");
        assert!(
            deliveries
                .iter()
                .filter(|d| d["consumer"] != "puller" && d["consumer"] != "pusher")
                .all(|d| d["outcome"] == "delivered"),
            "the ordered consumer expects no answer: {flow}"
        );
    }
}
