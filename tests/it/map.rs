//! The map of the system, from a real server's traffic: a producer that
//! says its name (`ce-source`), a JetStream stream with a worker that
//! NAKs once and TERMs once, a requester and a named service. Asserted
//! headless (`map` from a capture and live with --server, as JSON,
//! Mermaid and SVG; `asyncapi` validated against the AsyncAPI 3.0 JSON
//! schema) and in the window (egui_kittest: boxes from the traffic, a
//! click filters the traffic and the flows).

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::pull};
use bytes::Bytes;
use common::recording::Recording;
use common::ui::step_until;
use egui_kittest::kittest::Queryable;
use eventscope::ui::View;
use futures_util::StreamExt;
use serde_json::Value;

/// The shop: `order-service` publishes 4 orders into ORDERS; `billing`
/// NAKs its first delivery of order 1 (then acks it), TERMs order 2 and
/// acks the rest; `checkout` asks the `pricing` service twice.
async fn shop(url: &str) {
    let client = async_nats::connect(url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let stream = common::orders_stream(&client).await;
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("billing".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(5),
            ..Default::default()
        })
        .await
        .expect("consumer");
    for n in 1..=4 {
        let mut headers = HeaderMap::new();
        headers.insert("ce-source", "order-service");
        headers.insert("ce-id", format!("order-{n}").as_str());
        js.publish_with_headers(
            "orders.created",
            headers,
            Bytes::from(format!(
                r#"{{"id":"order-{n}","total":{}.5,"lines":[{{"sku":"a","qty":{n}}}]}}"#,
                n * 10
            )),
        )
        .await
        .expect("publish")
        .await
        .expect("stored");
    }
    let mut answered = 0;
    let mut naked = false;
    while answered < 4 {
        let mut batch = consumer
            .fetch()
            .max_messages(4)
            .expires(Duration::from_millis(1500))
            .messages()
            .await
            .expect("fetch");
        while let Some(Ok(message)) = batch.next().await {
            let id = message
                .headers
                .as_ref()
                .and_then(|h| h.get("ce-id"))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            let (kind, settles) = match id.as_str() {
                "order-1" if !naked => {
                    naked = true;
                    (jetstream::AckKind::Nak(None), false)
                }
                "order-2" => (jetstream::AckKind::Term, true),
                _ => (jetstream::AckKind::Ack, true),
            };
            message.ack_with(kind).await.expect("answer");
            if settles {
                answered += 1;
            }
        }
    }
    // A named service and a requester that says who it is.
    let service = async_nats::ConnectOptions::new()
        .name("pricing")
        .connect(url)
        .await
        .expect("service connects");
    let mut requests = service.subscribe("prices.get").await.expect("subscribe");
    service.flush().await.expect("flush");
    let responder = service.clone();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let _ = responder.publish(reply, Bytes::from("9.99")).await;
            }
        }
    });
    for _ in 0..2 {
        let mut headers = HeaderMap::new();
        headers.insert("ce-source", "checkout");
        client
            .request_with_headers("prices.get", headers, Bytes::from("sku-a"))
            .await
            .expect("priced");
    }
    client.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
}

fn node<'a>(map: &'a Value, kind: &str, name_has: &str) -> &'a Value {
    map["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["kind"] == kind && n["name"].as_str().is_some_and(|s| s.contains(name_has)))
        .unwrap_or_else(|| panic!("no {kind} node named like {name_has}: {map:#}"))
}

fn index_of(map: &Value, kind: &str, name_has: &str) -> u64 {
    let wanted = node(map, kind, name_has);
    map["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .position(|n| n == wanted)
        .expect("there") as u64
}

fn edge(map: &Value, from: u64, to: u64) -> &Value {
    map["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|e| e["from"] == from && e["to"] == to)
        .unwrap_or_else(|| panic!("no arrow {from} -> {to}: {map:#}"))
}

/// What every map of the shop shows, whichever way it was made.
fn assert_shop(map: &Value) {
    let producer = index_of(map, "producer", "order-service");
    let orders = index_of(map, "channel", "orders.created");
    let stream = index_of(map, "store", "ORDERS");
    let billing = index_of(map, "consumer", "billing");
    assert_eq!(edge(map, producer, orders)["messages"], 4, "{map:#}");
    // Into the stream, then to billing: one NAK and one extra delivery
    // are retries, the TERM a failure.
    let delivered = edge(map, stream, billing);
    assert!(delivered["retries"].as_u64() >= Some(1), "{delivered}");
    assert_eq!(delivered["failures"], 1, "{delivered}");
    let checkout = index_of(map, "producer", "checkout");
    let prices = index_of(map, "channel", "prices.get");
    assert_eq!(edge(map, checkout, prices)["messages"], 2, "{map:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_maps_as_json_mermaid_svg_and_asyncapi() {
    let _timed = common::timed();
    let recording = Recording::start(&[]);
    let url = recording.url.clone();
    shop(&url).await;
    let (capture, _) = recording.finish().await;

    let map: Value =
        serde_json::from_slice(&common::eventscope(&["map", &capture, "--json"]).stdout)
            .expect("one JSON object");
    assert_shop(&map);

    let mermaid = String::from_utf8(common::eventscope(&["map", &capture, "--mermaid"]).stdout)
        .expect("utf8");
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert!(
        mermaid.contains(r#"[("ORDERS")]"#),
        "the stream is a cylinder: {mermaid}"
    );
    assert!(mermaid.contains(r#"(["order-service"])"#), "{mermaid}");
    assert!(
        mermaid.contains("stroke:#c03030"),
        "the failing arrow is red: {mermaid}"
    );

    let svg =
        String::from_utf8(common::eventscope(&["map", &capture, "--svg"]).stdout).expect("utf8");
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(
        svg.contains(">ORDERS<") && svg.contains(">order-service<"),
        "{svg}"
    );

    let text = String::from_utf8(common::eventscope(&["map", &capture]).stdout).expect("utf8");
    assert!(
        text.lines().any(
            |l| l.starts_with("order-service (producer) -> orders.created") && l.contains("4 msgs")
        ),
        "{text}"
    );

    // AsyncAPI: a document the AsyncAPI 3.0 schema accepts, private.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("asyncapi.json");
    common::eventscope(&["asyncapi", &capture, "--out", out.to_str().expect("utf8")]);
    let mode = std::fs::metadata(&out)
        .expect("written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_valid_asyncapi(&out);
    let doc: Value = serde_json::from_slice(&std::fs::read(&out).expect("read")).expect("JSON");
    let channel = doc["channels"]
        .as_object()
        .expect("channels")
        .values()
        .find(|c| c["address"] == "orders.created")
        .expect("the orders channel");
    let message_ref = channel["messages"]
        .as_object()
        .and_then(|m| m.values().next())
        .and_then(|m| m["$ref"].as_str())
        .expect("a message");
    let message = &doc["components"]["messages"][message_ref.rsplit('/').next().expect("key")];
    assert_eq!(message["contentType"], "application/json");
    let payload = &message["payload"];
    assert_eq!(
        payload["required"],
        serde_json::json!(["id", "total", "lines"])
    );
    assert_eq!(payload["properties"]["total"]["type"], "number");
    assert_eq!(
        payload["properties"]["lines"]["items"]["properties"]["qty"]["type"],
        "integer"
    );
    assert!(
        message["headers"]["properties"]["ce-source"].is_object(),
        "{message}"
    );
    let operations = doc["operations"].as_object().expect("operations");
    assert!(
        operations.values().any(|o| o["action"] == "send"
            && o["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with("order-service"))),
        "{operations:#?}"
    );
    assert!(
        operations.values().any(|o| o["action"] == "receive"
            && o["summary"].as_str().is_some_and(|s| s.contains("billing"))),
        "{operations:#?}"
    );
}

/// The document against the AsyncAPI 3.0.0 JSON schema (from
/// `@asyncapi/specs`), checked by Debian's python3-jsonschema.
fn assert_valid_asyncapi(path: &std::path::Path) {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let output = std::process::Command::new("/usr/bin/python3")
        .arg(format!("{fixtures}/validate_asyncapi.py"))
        .arg(format!("{fixtures}/asyncapi-3.0.0.schema.json"))
        .arg(path)
        .output()
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        !said.contains("No module named 'jsonschema'"),
        "this test needs python3-jsonschema: sudo apt-get install python3-jsonschema"
    );
    assert!(
        output.status.success(),
        "not a valid AsyncAPI 3.0 document: {}{said}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// `map --server URL --duration`: a live look, the same map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_look_maps_what_flows_now() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    let looking = std::process::Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args(["map", "--server", &url, "--duration", "5", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("map starts");
    // Its subscription is up well before the shop opens.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    shop(&url).await;
    let output = tokio::task::spawn_blocking(move || looking.wait_with_output())
        .await
        .expect("join")
        .expect("map ends");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let map: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_shop(&map);
}

/// The Map view from a connected window: boxes appear as the traffic
/// flows; a click on a subject filters the traffic and the flows to it.
#[test]
fn the_map_view_draws_the_traffic_and_a_click_filters_to_it() {
    let _timed = common::timed();
    let server = common::server();
    let rt = common::runtime();
    let mut h = common::ui::connected(&server, View::Map, true);
    rt.block_on(shop(&server.url()));
    step_until(&mut h, "the stream's box", |h| {
        h.query_all_by_label("ORDERS").next().is_some()
            && h.query_all_by_label("billing").next().is_some()
    });
    h.get_by_label("orders.created").click();
    h.run_steps(2);
    assert_eq!(h.state().traffic.subject_filter, "orders.created");
    assert_eq!(h.state().flows.subject_filter, "orders.created");
    assert!(h.query_by_label("Show flows").is_some());
    h.get_by_label("Show traffic").click();
    h.run_steps(2);
    assert_eq!(h.state().view, View::Traffic);
}
