//! Captures that live in JetStream: `record --to-stream` stores what
//! `record --out` writes (compared line by line), `export`, `flows` and
//! `replay` read it back, and recording `>` into a stream does not record
//! its own writes (no loop).

use crate::common;

use common::eventscope;

use std::process::Output;
use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use common::recorder::Recorder;
use serde_json::Value;

/// The lines of a capture file, without what differs between two
/// recorders of the same traffic (their receive times).
fn messages(text: &str) -> Vec<Value> {
    text.lines()
        .skip(1)
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("a capture line");
            v.as_object_mut().expect("object").remove("received_at");
            v
        })
        .collect()
}

async fn publish_mix(url: &str, n: usize) {
    let client = async_nats::connect(url).await.expect("connect");
    for i in 0..n {
        let mut headers = HeaderMap::new();
        headers.insert("ce-id", format!("id-{i}").as_str());
        headers.append("X-Multi", "one");
        headers.append("X-Multi", "two");
        let payload = if i % 3 == 0 {
            Bytes::from(vec![0u8, 255, i as u8])
        } else {
            Bytes::from(format!("{{\"n\":{i}}}"))
        };
        client
            .publish_with_headers(format!("orders.{}", i % 4), headers, payload)
            .await
            .expect("publish");
    }
    client.flush().await.expect("flush");
}

#[test]
fn a_capture_in_a_stream_is_the_capture_record_writes_to_a_file() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("direct.jsonl");
    let file_arg = file.display().to_string();
    let mut to_file = Recorder::start(&[
        "--server", &url, "-s", "orders.>", "--count", "120", "--out", &file_arg,
    ]);
    let mut to_stream = Recorder::start(&[
        "--server",
        &url,
        "-s",
        "orders.>",
        "--count",
        "120",
        "--to-stream",
        "CAP",
        "--replicas",
        "1",
        "--max-age",
        "1h",
    ]);
    to_file.wait_line("recording");
    to_stream.wait_line("recording orders.>");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(publish_mix(&url, 120));
    let (status, text) = to_stream.finish();
    assert!(status.success(), "{text}");
    assert!(
        text.contains("recorded 120 messages"),
        "only what the stream acknowledged: {text}"
    );
    assert!(
        text.contains("when it is full, its oldest messages are dropped"),
        "{text}"
    );
    let (status, _) = to_file.finish();
    assert!(status.success());

    let exported = dir.path().join("exported.jsonl");
    eventscope(&[
        "export",
        "--from-stream",
        "CAP",
        "--server",
        &url,
        "--out",
        &exported.display().to_string(),
    ]);
    let from_file = std::fs::read_to_string(&file).expect("file");
    let from_stream = std::fs::read_to_string(&exported).expect("export");
    assert_eq!(
        messages(&from_stream),
        messages(&from_file),
        "byte-exact, in order"
    );
    let header: Value =
        serde_json::from_str(from_stream.lines().next().expect("header")).expect("json");
    assert_eq!(
        header["eventscope_capture"],
        eventscope::capture::file::FORMAT_VERSION
    );

    // Whatever opens a capture file opens the stream.
    let flows_file = eventscope(&["flows", &file_arg, "--json"]);
    let flows_stream = eventscope(&["flows", "--from-stream", "CAP", "--server", &url, "--json"]);
    let subjects = |o: &Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("json")["subject"].to_string())
            .collect()
    };
    assert_eq!(subjects(&flows_stream).len(), 120);
    assert_eq!(subjects(&flows_stream), subjects(&flows_file));
    let browsed = eventscope(&["browse", "CAP", "--server", &url, "--count", "1000"]);
    assert_eq!(
        messages(&String::from_utf8_lossy(&browsed.stdout)),
        messages(&from_file),
        "browse shows the captured messages"
    );
    let dry = eventscope(&[
        "replay",
        "--from-stream",
        "CAP",
        "--server",
        &url,
        "--dry-run",
        "--remap",
        "orders.>=again.>",
    ]);
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("again.0"),
        "{dry:?}"
    );
}

#[test]
fn recording_everything_into_a_stream_does_not_record_itself() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    let mut recorder =
        Recorder::start(&["--server", &url, "--duration", "3", "--to-stream", "ALL"]);
    recorder.wait_line("recording >");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = async_nats::connect(url.clone()).await.expect("connect");
        for i in 0..10 {
            client
                .publish(format!("app.event.{i}"), Bytes::from("x"))
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    });
    let (status, text) = recorder.finish();
    assert!(status.success(), "{text}");
    assert!(text.contains("left out"), "says what it left out: {text}");
    let count = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            let client = async_nats::connect(url.clone()).await.expect("connect");
            let js = async_nats::jetstream::new(client);
            js.get_stream("ALL")
                .await
                .expect("stream")
                .info()
                .await
                .expect("info")
                .state
                .messages
        })
    };
    let stored = count(&rt);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&rt), stored, "nothing more arrives after it stopped");
    // What it stored is the traffic it saw, none of its own.
    let exported = eventscope(&[
        "export",
        "--from-stream",
        "ALL",
        "--server",
        &url,
        "--out",
        "-",
    ]);
    let lines = messages(&String::from_utf8_lossy(&exported.stdout));
    assert!(lines.iter().all(|l| {
        let subject = l["subject"].as_str().unwrap_or("");
        !subject.starts_with("eventscope.capture.") && !subject.starts_with("_INBOX_EVENTSCOPE_")
    }));
    let app: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("app.event."))
        })
        .collect();
    assert_eq!(app.len(), 10);
    assert_eq!(stored as usize, lines.len(), "{lines:#?}");
}

#[test]
fn on_a_three_node_cluster_a_node_killed_mid_record_loses_nothing_acknowledged() {
    let _timed = common::timed();
    let mut cluster = common::cluster::start();
    let urls = cluster.urls();
    let mut recorder = Recorder::start(&[
        "--server",
        &urls,
        "-s",
        "orders.>",
        "--duration",
        "8",
        "--to-stream",
        "CAP3",
        "--replicas",
        "3",
    ]);
    recorder.wait_line("recording orders.>");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // The node killed is the capture stream's leader: the publishes in
    // flight then fail and the recorder must find out which were stored.
    let leader = rt.block_on(async {
        let client = async_nats::connect(cluster.servers[0].url())
            .await
            .expect("connect");
        let mut stream = async_nats::jetstream::new(client)
            .get_stream("CAP3")
            .await
            .expect("the capture stream");
        let info = stream.info().await.expect("info");
        let leader = info
            .cluster
            .as_ref()
            .and_then(|c| c.leader.clone())
            .expect("a leader");
        leader
            .trim_start_matches('n')
            .parse::<usize>()
            .expect("n0..n2")
    });
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let survivor = cluster.servers[survivors[0]].url();
    let published = rt.block_on(async {
        // The publisher is on a node that stays up.
        let client = async_nats::connect(survivor.clone())
            .await
            .expect("connect");
        let mut published = Vec::new();
        for i in 0..600 {
            let payload = format!("{{\"order\":{i}}}");
            client
                .publish(format!("orders.{}", i % 5), Bytes::from(payload.clone()))
                .await
                .expect("publish");
            published.push(payload);
            if i == 200 {
                client.flush().await.expect("flush");
                cluster.servers[leader].kill();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        client.flush().await.expect("flush");
        published
    });
    let (status, text) = recorder.finish();
    assert!(status.success(), "{text}");
    let recorded: usize = text
        .split("recorded ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a summary: {text}"));
    assert!(recorded > 300, "most of it was seen: {text}");

    // Read from each node still up: everything acknowledged is there, once.
    for node in survivors.iter().map(|i| &cluster.servers[*i]) {
        let out = eventscope(&[
            "export",
            "--from-stream",
            "CAP3",
            "--server",
            &node.url(),
            "--out",
            "-",
        ]);
        let lines = messages(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(
            lines.len(),
            recorded,
            "what the recorder acknowledged, no more, no less"
        );
        use base64::Engine;
        let mut seen = std::collections::HashSet::new();
        for line in &lines {
            let payload = base64::engine::general_purpose::STANDARD
                .decode(line["payload_b64"].as_str().expect("payload"))
                .expect("base64");
            let payload = String::from_utf8(payload).expect("utf8");
            assert!(published.contains(&payload), "byte-exact: {payload}");
            assert!(seen.insert(payload), "stored once");
        }
    }
}

#[test]
fn a_forged_or_malformed_line_in_a_capture_stream_is_skipped_and_counted() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    let mut recorder = Recorder::start(&[
        "--server",
        &url,
        "-s",
        "orders.>",
        "-s",
        "eventscope.>",
        "--to-stream",
        "FORGED",
        "--duration",
        "4",
    ]);
    recorder.wait_line("Ctrl-C to stop");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let forged_line = r#"{"received_at":"2026-01-01T00:00:00.000000000Z","connection":"x","subject":"orders.fake","reply":null,"payload_b64":"ZmFrZQ=="}"#;
    rt.block_on(async {
        let client = async_nats::connect(url.clone()).await.expect("connect");
        for i in 0..10 {
            client
                .publish(format!("orders.{i}"), Bytes::from("real"))
                .await
                .expect("publish");
            if i == 3 {
                // Any publisher in the account may write to the capture
                // subject: a capture line of its own, and a line that is
                // no capture line at all.
                client
                    .publish("eventscope.capture.FORGED", Bytes::from(forged_line))
                    .await
                    .expect("publish");
                client
                    .publish("eventscope.capture.FORGED", Bytes::from("not json"))
                    .await
                    .expect("publish");
            }
        }
        client.flush().await.expect("flush");
    });
    let (status, text) = recorder.finish();
    assert!(status.success(), "{text}");
    // Recorded: the ten orders and the two foreign messages, as traffic.
    assert!(text.contains("recorded 12 messages"), "{text}");

    let exported = eventscope(&[
        "export",
        "--from-stream",
        "FORGED",
        "--server",
        &url,
        "--out",
        "-",
    ]);
    let said = String::from_utf8_lossy(&exported.stderr);
    assert!(
        said.contains("skipped 2 lines the recorder did not write"),
        "{said}"
    );
    let lines = messages(&String::from_utf8_lossy(&exported.stdout));
    let subjects: Vec<&str> = lines.iter().filter_map(|l| l["subject"].as_str()).collect();
    assert!(!subjects.contains(&"orders.fake"), "{subjects:?}");
    assert_eq!(
        subjects.iter().filter(|s| s.starts_with("orders.")).count(),
        10,
        "{subjects:?}"
    );
    // The foreign messages were seen on the wire and are in the capture as
    // what they are: messages someone published on the capture subject.
    assert_eq!(
        subjects
            .iter()
            .filter(|s| **s == "eventscope.capture.FORGED")
            .count(),
        2
    );
    // flows reads every real line, past the foreign ones.
    let flows = eventscope(&[
        "flows",
        "--from-stream",
        "FORGED",
        "--server",
        &url,
        "--json",
    ]);
    let json = String::from_utf8_lossy(&flows.stdout);
    assert_eq!(
        json.lines().filter(|l| l.contains("\"orders.")).count(),
        10,
        "{json}"
    );
}

#[test]
fn a_bad_line_in_a_capture_file_never_hides_the_lines_after_it() {
    let _timed = common::timed();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("c.jsonl");
    let records: Vec<_> = (0..10)
        .map(|i| {
            eventscope::capture::RecordPacker::default().pack(
                1_700_000_000_000_000_000 + i,
                0,
                &format!("orders.{i}"),
                None,
                None,
                b"x",
            )
        })
        .collect();
    common::write_capture_file(&path, &records);
    let text = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(4, "not json at all");
    lines.insert(8, "{\"received_at\": 5}");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args(["flows", path.to_str().expect("utf8"), "--json"])
        .output()
        .expect("eventscope flows runs");
    assert!(!out.status.success(), "the capture was not whole");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("skipped 2 bad lines"), "{said}");
    assert!(said.contains("line 5"), "{said}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 10);
}

async fn publish_sized(url: &str, n: usize, size: usize) {
    let client = async_nats::connect(url).await.expect("connect");
    let payload = Bytes::from(vec![b'x'; size]);
    for i in 0..n {
        client
            .publish(format!("orders.{i}"), payload.clone())
            .await
            .expect("publish");
    }
    client.flush().await.expect("flush");
}

#[test]
fn the_summary_says_what_the_stream_keeps_and_a_full_store_is_said_at_once() {
    let _timed = common::timed();
    // The stream's own limit discards the oldest: the summary says how
    // many of the recorded messages it still keeps.
    let server = common::server();
    let url = server.url();
    let mut recorder = Recorder::start(&[
        "--server",
        &url,
        "-s",
        "orders.>",
        "--to-stream",
        "SMALL",
        "--max-bytes",
        "64KiB",
        "--count",
        "200",
    ]);
    recorder.wait_line("Ctrl-C to stop");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(publish_sized(&url, 200, 1024));
    let (status, text) = recorder.finish();
    assert!(status.success(), "{text}");
    assert!(text.contains("recorded 200 messages"), "{text}");
    assert!(text.contains("the stream keeps"), "{text}");
    assert!(text.contains("discarded the oldest"), "{text}");

    // The server's storage is spent: the refusal is said at once, in the
    // server's words, and the exit is non-zero.
    let server = common::server_with_config(Some("jetstream { max_file_store: 256KB }\n"));
    let url = server.url();
    let mut recorder =
        Recorder::start(&["--server", &url, "-s", "orders.>", "--to-stream", "FULL"]);
    recorder.wait_line("Ctrl-C to stop");
    rt.block_on(publish_sized(&url, 600, 2048));
    let started = std::time::Instant::now();
    let (status, text) = recorder.finish();
    assert!(!status.success(), "{text}");
    assert!(started.elapsed() < Duration::from_secs(15), "{text}");
    assert!(text.contains("refused to store"), "{text}");
}
