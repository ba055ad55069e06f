//! Moving data in and out in the formats other tools use: natscli's
//! `nats sub --dump` directories (made here the way natscli makes them,
//! from messages a real server delivered, JetStream's with their
//! `$JS.ACK` replies), converted to NDJSON, CSV, a capture file and back
//! to a dump; opened in the window; the filter result exported from it.

use std::path::Path;
use std::time::Duration;

use crate::common;
use common::shop::Order;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::ui::step_until;
use egui_kittest::kittest::Queryable;
use eventscope::app::{AppConfig, EventscopeApp};
use eventscope::ui::{NoticeKind, View};
use futures_util::StreamExt;
use prost::Message as _;

/// A message as natscli's `dumpMsg` writes it: Go's `json.Marshal` of a
/// `nats.Msg` (field names as Go spells them, header names sorted as Go
/// sorts map keys, the payload in base64, null when empty).
fn natscli_dump_file(dir: &Path, name: &str, message: &async_nats::Message) {
    let header = message.headers.as_ref().map(|h| {
        let mut names: Vec<String> = h.iter().map(|(n, _)| n.to_string()).collect();
        names.sort();
        let map: serde_json::Map<String, serde_json::Value> = names
            .into_iter()
            .map(|n| {
                let values: Vec<String> = h
                    .get_all(n.as_str())
                    .map(|v| v.as_str().to_owned())
                    .collect();
                (n, serde_json::json!(values))
            })
            .collect();
        serde_json::Value::Object(map)
    });
    let data = (!message.payload.is_empty()).then(|| BASE64.encode(&message.payload));
    let msg = serde_json::json!({
        "Subject": message.subject.as_str(),
        "Reply": message.reply.as_ref().map_or("", |r| r.as_str()),
        "Header": header,
        "Data": data,
        "Sub": null,
    });
    std::fs::write(dir.join(name), serde_json::to_vec(&msg).expect("json")).expect("write");
}

/// Two dumps from a real server: `core` (a subscription's messages,
/// numbered 1, 2...) and `js` (a stream's, named by stream sequence).
/// Returns them in a temporary directory, with the JetStream message's
/// server timestamp (nanoseconds).
fn make_dumps(
    server: &common::LocalServer,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    i64,
) {
    let dir = tempfile::tempdir().expect("dir");
    let (core, js) = (dir.path().join("core"), dir.path().join("js"));
    std::fs::create_dir_all(&core).expect("dir");
    std::fs::create_dir_all(&js).expect("dir");
    let published = write_dumps(server, &core, &js);
    (dir, core, js, published)
}

fn write_dumps(server: &common::LocalServer, core: &Path, js: &Path) -> i64 {
    let rt = common::runtime();
    rt.block_on(async {
        let client = common::client(server).await;
        let mut lights = client.subscribe("lights.>").await.expect("sub");
        let mut headers = async_nats::HeaderMap::new();
        headers.append("x", "1");
        headers.append("x", "2");
        headers.insert("ce-id", "evt-1");
        client
            .publish_with_headers("lights.hall", headers, r#"{"on":true}"#.into())
            .await
            .expect("publish");
        client
            .publish("lights.cellar", vec![0u8, 159, 146, 150].into())
            .await
            .expect("publish");
        client.flush().await.expect("flush");
        for n in 1..=2 {
            let message = tokio::time::timeout(Duration::from_secs(5), lights.next())
                .await
                .expect("in time")
                .expect("a message");
            natscli_dump_file(core, &format!("{n}.json"), &message);
        }
        let stream = async_nats::jetstream::new(client.clone());
        let orders = stream
            .create_stream(async_nats::jetstream::stream::Config {
                name: "ORDERS".into(),
                subjects: vec!["orders.>".into()],
                ..Default::default()
            })
            .await
            .expect("stream");
        for id in ["ord-1", "ord-2"] {
            let order = Order {
                id: id.into(),
                cents: 1250,
                ..Order::default()
            };
            stream
                .publish("orders.placed", order.encode_to_vec().into())
                .await
                .expect("publish")
                .await
                .expect("stored");
        }
        let consumer = orders
            .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
            .await
            .expect("consumer");
        let mut messages = consumer
            .fetch()
            .max_messages(2)
            .messages()
            .await
            .expect("fetch");
        let mut published = 0;
        while let Some(message) = messages.next().await {
            let message = message.expect("a message");
            let info = message.info().expect("a JetStream message");
            published = info.published.unix_timestamp_nanos() as i64;
            natscli_dump_file(js, &format!("{}.json", info.stream_sequence), &message);
        }
        published
    })
}

#[test]
fn natscli_dumps_convert_to_every_format_and_back() {
    let _timed = common::timed();
    let server = common::server();
    let (dir, core, js, published) = make_dumps(&server);
    let protos = common::shop::PROTOS;
    let bound = ["--proto", protos, "--bind", "orders.>=shop.Order"];

    // NDJSON: JetStream's time from the ack reply; payloads decoded.
    let mut args = vec!["convert", js.to_str().unwrap(), "--to", "ndjson"];
    args.extend(bound);
    let rows = common::json_lines(&common::eventscope(&args));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["decoded_by"], "Protobuf shop.Order");
    assert_eq!(rows[1]["payload_json"]["id"], "ord-2");
    let at = eventscope::capture::file::parse_timestamp(rows[1]["received_at"].as_str().unwrap())
        .expect("a time");
    assert_eq!(at, published, "the server's timestamp, from $JS.ACK");
    let core_rows = common::json_lines(&common::eventscope(&[
        "convert",
        core.to_str().unwrap(),
        "--to",
        "ndjson",
    ]));
    assert_eq!(core_rows[0]["subject"], "lights.hall");
    assert_eq!(core_rows[0]["headers"]["x"], serde_json::json!(["1", "2"]));
    assert_eq!(core_rows[0]["payload_json"]["on"], true);
    assert_eq!(
        core_rows[1]["payload_b64"],
        BASE64.encode([0u8, 159, 146, 150])
    );

    // CSV with chosen columns, read back by a CSV reader.
    let mut args = vec![
        "convert",
        js.to_str().unwrap(),
        "--to",
        "csv",
        "--columns",
        "subject,decoded_by,payload_json",
    ];
    args.extend(bound);
    let csv = common::eventscope(&args).stdout;
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    assert_eq!(
        reader.headers().expect("header").iter().collect::<Vec<_>>(),
        ["subject", "decoded_by", "payload_json"]
    );
    let first = reader.records().next().expect("a row").expect("valid");
    assert_eq!(&first[1], "Protobuf shop.Order");
    let decoded: serde_json::Value = serde_json::from_str(&first[2]).expect("JSON in a cell");
    assert_eq!(decoded["id"], "ord-1");

    // A capture file keeps the stream and sequence; flows read it.
    let capture = dir.path().join("js.jsonl");
    common::eventscope(&[
        "convert",
        js.to_str().unwrap(),
        "--to",
        "capture",
        "--out",
        capture.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&capture).expect("written");
    assert!(
        text.contains("\"stream\":\"ORDERS\",\"stream_seq\":2"),
        "{text}"
    );

    // Back to a dump: the same messages, as natscli writes them.
    let again = dir.path().join("again");
    common::eventscope(&[
        "convert",
        core.to_str().unwrap(),
        "--to",
        "dump",
        "--out",
        again.to_str().unwrap(),
    ]);
    for n in 1..=2 {
        let read = |d: &Path| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(d.join(format!("{n}.json"))).expect("file"))
                .expect("json")
        };
        assert_eq!(read(&again), read(&core), "message {n}");
    }
    let said = std::process::Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args([
            "convert",
            core.to_str().unwrap(),
            "--to",
            "dump",
            "--out",
            again.to_str().unwrap(),
        ])
        .output()
        .expect("runs");
    assert!(!said.status.success(), "a dump over a dump is refused");
    assert!(String::from_utf8_lossy(&said.stderr).contains("choose an empty directory"));
}

#[test]
fn a_dump_opens_in_the_window_and_its_filter_result_is_exported() {
    let _timed = common::timed();
    let server = common::server();
    let (dir, core, _js, _) = make_dumps(&server);
    let app = EventscopeApp::new(
        &egui::Context::default(),
        None,
        AppConfig {
            view: View::Traffic,
            ..AppConfig::default()
        },
    )
    .expect("app");
    let mut h = common::ui::harness(app);
    h.state_mut().load_capture(core.clone());
    step_until(&mut h, "the dump's messages", |h| {
        h.state().session.store.iter().count() == 2
    });
    h.run_steps(2);
    h.get_all_by_label("lights.hall")
        .last()
        .expect("the row")
        .click();
    h.run_steps(2);
    h.get_by_label("Copy as command").click();
    h.run_steps(2);
    assert!(
        h.query_by_label("nats pub").is_some(),
        "the NATS command offered"
    );
    h.key_press(egui::Key::Escape);
    h.run_steps(2);

    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Export filter result…").click();
    h.run_steps(2);
    h.get_by_label("CSV").click();
    h.run_steps(2);
    h.get_by_label("Export 2 messages…").click();
    step_until(&mut h, "the path field", |h| {
        h.query_by_label("File path").is_some()
    });
    let out = dir.path().join("export.csv");
    h.get_by_label("File path").focus();
    h.run_steps(1);
    common::ui::replace_text(&mut h, "File path", out.to_str().unwrap());
    h.get_by_label("Save").click();
    step_until(&mut h, "the export said", |h| {
        h.state().notice.as_ref().is_some_and(|n| {
            n.kind == NoticeKind::Done && n.text.starts_with("exported 2 messages")
        })
    });
    let mut reader = csv::Reader::from_path(&out).expect("a CSV file");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .any(|r| r.iter().any(|cell| cell == "lights.hall"))
    );
}
