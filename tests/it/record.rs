//! `eventscope record` against a real nats-server: exact bytes through the
//! capture file, clean stops on signals, and clear errors for bad input.

use crate::common;

use std::io::BufReader;
use std::path::Path;
use std::time::Duration;

use common::recorder::Recorder;

use async_nats::HeaderMap;
use bytes::Bytes;
use eventscope::capture::file::CaptureReader;
use eventscope::capture::{Filter, FilteredIndex, Store, SubjectPattern};

struct Sent {
    subject: String,
    headers: Vec<(String, String)>,
    payload: Vec<u8>,
}

/// A deterministic mix: binary, empty, JSON with multi-valued headers and
/// a few payloads near the server's 1 MiB limit.
fn messages(n: usize) -> Vec<Sent> {
    let mut seed: u32 = 12345;
    let mut next = move || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (seed >> 16) as u8
    };
    (0..n)
        .map(|i| {
            let (payload, headers) = match i % 5 {
                0 => ((0..i % 300).map(|_| next()).collect(), vec![]),
                1 => (Vec::new(), vec![]),
                2 => (
                    format!(r#"{{"id":{i},"note":"ünïcode ✓"}}"#).into_bytes(),
                    vec![
                        ("ce-id".to_owned(), format!("id-{i}")),
                        ("X-Multi".to_owned(), "first".to_owned()),
                        ("X-Multi".to_owned(), "second".to_owned()),
                    ],
                ),
                3 => (
                    (0..64).map(|_| next()).collect(),
                    vec![("bin".to_owned(), "yes".to_owned())],
                ),
                _ if i % 1000 == 4 => ((0..1_000_000).map(|_| next()).collect(), vec![]),
                _ => (b"\x00\xff\xfe plain".to_vec(), vec![]),
            };
            Sent {
                subject: format!("exact.{}.{}", i % 7, i),
                headers,
                payload,
            }
        })
        .collect()
}

async fn publish_all(url: &str, sent: &[Sent]) {
    let client = async_nats::connect(url).await.expect("publisher connects");
    for m in sent {
        if m.headers.is_empty() {
            client
                .publish(m.subject.clone(), Bytes::from(m.payload.clone()))
                .await
                .expect("publish");
        } else {
            let mut headers = HeaderMap::new();
            for (k, v) in &m.headers {
                headers.append(k.as_str(), v.as_str());
            }
            client
                .publish_with_headers(m.subject.clone(), headers, Bytes::from(m.payload.clone()))
                .await
                .expect("publish");
        }
    }
    client.flush().await.expect("flush");
}

fn read_capture(path: &Path) -> Vec<eventscope::capture::file::LoadedRecord> {
    let file = std::fs::File::open(path).expect("capture file exists");
    let mut reader = CaptureReader::new(BufReader::new(file)).expect("valid header");
    let mut out = Vec::new();
    while let Some(record) = reader.next_record() {
        out.push(record.expect("valid record"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_is_byte_exact() {
    let _timed = common::timed();
    let server = common::server();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("exact.jsonl");
    let sent = messages(3000);
    let count = sent.len().to_string();
    let url = server.url();
    let mut rec = Recorder::start(&[
        "--server",
        &url,
        "--subject",
        "exact.>",
        "--out",
        out.to_str().expect("utf8 path"),
        "--count",
        &count,
        "--name",
        "exactness",
    ]);
    rec.wait_line("recording");
    publish_all(&url, &sent).await;
    let (status, text) = tokio::task::spawn_blocking(move || rec.finish())
        .await
        .expect("join");
    assert!(status.success(), "{text}");
    assert!(text.contains("recorded 3000 messages"), "{text}");
    assert!(text.contains("dropped by client: 0"), "{text}");

    let got = read_capture(&out);
    assert_eq!(got.len(), sent.len());
    for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(g.connection, "exactness");
        assert_eq!(g.record.subject(), s.subject, "message {i}");
        assert_eq!(
            g.record.payload(),
            s.payload.as_slice(),
            "payload of message {i}"
        );
        let mut headers: Vec<(String, String)> = g
            .record
            .headers()
            .iter()
            .flat_map(|h| h.iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        let mut expected = s.headers.clone();
        headers.sort();
        expected.sort();
        assert_eq!(headers, expected, "headers of message {i}");
    }
    // Usable with jq-style tools: every line is a JSON object.
    let text = std::fs::read_to_string(&out).expect("read");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_and_sigterm_stop_cleanly_with_everything_flushed() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    for signal in ["INT", "TERM", "HUP", "QUIT"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("sig.jsonl");
        let mut rec = Recorder::start(&["--server", &url, "--out", out.to_str().expect("utf8")]);
        rec.wait_line("recording");
        let sent = messages(500);
        publish_all(&url, &sent).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        rec.signal(signal);
        let (status, text) = tokio::task::spawn_blocking(move || rec.finish())
            .await
            .expect("join");
        assert!(status.success(), "SIG{signal}: {text}");
        assert!(
            text.contains("recorded 500 messages"),
            "SIG{signal}: {text}"
        );
        assert_eq!(read_capture(&out).len(), 500);
    }
}

/// Publish one message every 100 ms for `seconds`, returning how many.
async fn trickle(url: &str, seconds: u64) -> usize {
    let client = async_nats::connect(url).await.expect("connect");
    let n = (seconds * 10) as usize;
    for i in 0..n {
        client
            .publish(format!("slow.{i}"), "x".into())
            .await
            .expect("publish");
        client.flush().await.expect("flush");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_a_low_rate_loses_about_a_second_at_most() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("killed.jsonl");
    let mut rec = Recorder::start(&["--server", &url, "--out", out.to_str().expect("utf8")]);
    rec.wait_line("recording");
    let sent = trickle(&url, 4).await;
    rec.signal("KILL");
    let _ = tokio::task::spawn_blocking(move || rec.finish()).await;
    // At 10 msg/s, a second is 10 messages; allow 1.5 s for scheduling.
    let got = read_capture(&out).len();
    assert!(
        got + 15 >= sent,
        "only {got} of {sent} messages reached the file before SIGKILL"
    );
}

#[test]
fn a_full_disk_is_reported_at_once() {
    let _timed = common::timed();
    let server = common::server();
    let started = std::time::Instant::now();
    let rec = Recorder::start(&[
        "--server",
        &server.url(),
        "--out",
        "/dev/full",
        "--duration",
        "30",
    ]);
    let (status, text) = rec.finish();
    assert!(!status.success(), "{text}");
    assert!(text.contains("No space left on device"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_closed_pipe_stops_recording_at_once_with_a_summary() {
    let _timed = common::timed();
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let server = common::server();
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args([
            "record",
            "--server",
            &server.url(),
            "--out",
            "-",
            "--duration",
            "30",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut header = String::new();
    stdout.read_line(&mut header).expect("the capture header");
    assert!(header.contains("eventscope_capture"), "{header}");
    drop(stdout); // the reader goes away, as `| head -1` would
    let started = std::time::Instant::now();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(trickle(&server.url(), 5));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut text)
        .expect("stderr");
    assert!(!status.success(), "{text}");
    assert!(text.contains("Broken pipe"), "{text}");
    assert!(text.contains("recorded "), "the summary is printed: {text}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_wildcards_match_our_filter_semantics() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    let subjects = [
        "orders",
        "orders.created",
        "orders.created.eu",
        "orders.x",
        "billing",
        "billing.x",
        "billing.x.y",
        "other.orders.created",
        "ordersx.created",
    ];
    let patterns = ["orders.*", "billing.>"];
    let parsed: Vec<SubjectPattern> = patterns
        .iter()
        .map(|p| SubjectPattern::parse(p).expect("valid"))
        .collect();
    let expected: Vec<&str> = subjects
        .iter()
        .copied()
        .filter(|s| parsed.iter().any(|p| p.matches(s)))
        .collect();
    assert_eq!(
        expected,
        ["orders.created", "orders.x", "billing.x", "billing.x.y"]
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("wild.jsonl");
    let count = expected.len().to_string();
    let mut rec = Recorder::start(&[
        "--server",
        &url,
        "-s",
        patterns[0],
        "-s",
        patterns[1],
        "--count",
        &count,
        "-o",
        out.to_str().expect("utf8"),
    ]);
    rec.wait_line("recording");
    let client = async_nats::connect(&url).await.expect("connect");
    for s in subjects {
        client
            .publish(s, Bytes::from_static(b"x"))
            .await
            .expect("publish");
    }
    client.flush().await.expect("flush");
    let (status, text) = tokio::task::spawn_blocking(move || rec.finish())
        .await
        .expect("join");
    assert!(status.success(), "{text}");
    // Two subscriptions are two streams: order is kept within each only.
    let mut got: Vec<String> = read_capture(&out)
        .iter()
        .map(|r| r.record.subject().to_string())
        .collect();
    got.sort();
    let mut expected = expected;
    expected.sort();
    assert_eq!(got, expected);

    // The same semantics in the table filter, over the loaded capture.
    let mut store = Store::default();
    for r in read_capture(&out) {
        store.push(r.record);
    }
    let mut index = FilteredIndex::default();
    index.set_filter(Filter::from_inputs("orders.*", "").expect("valid"));
    index.update(&store, usize::MAX);
    assert_eq!(index.len(), 2);
}

fn record_error(args: &[&str]) -> String {
    let rec = Recorder::start(args);
    let (status, text) = rec.finish();
    assert!(!status.success(), "expected a failure for {args:?}: {text}");
    text
}

#[test]
fn bad_input_gives_clear_errors() {
    let _timed = common::timed();
    let port = eventscope::demo::free_port().expect("port");
    let unreachable = format!("nats://127.0.0.1:{port}");
    let text = record_error(&["--server", &unreachable, "-o", "/dev/null"]);
    assert!(text.contains("cannot reach"), "{text}");

    let text = record_error(&[
        "--server",
        "nats://127.0.0.1:4222",
        "-s",
        "a..b",
        "-o",
        "/dev/null",
    ]);
    assert!(text.contains("'a..b' has an empty token"), "{text}");

    let text = record_error(&[
        "--server",
        "nats://127.0.0.1:4222",
        "--creds",
        "/nonexistent/user.creds",
        "-o",
        "/dev/null",
    ]);
    assert!(
        text.contains("file not found: /nonexistent/user.creds"),
        "{text}"
    );

    let text = record_error(&["--server", "nats://127.0.0.1:notaport", "-o", "/dev/null"]);
    assert!(text.contains("is not a server URL"), "{text}");

    let server =
        common::server_with_config(Some("authorization { user: alice, password: s3cret }\n"));
    let url = server.url();
    let text = record_error(&[
        "--server",
        &url,
        "--user",
        "alice",
        "--password",
        "wrong",
        "-o",
        "/dev/null",
    ]);
    assert!(text.contains("refused the credentials"), "{text}");

    let text = record_error(&["--server", &url, "--tls-required", "-o", "/dev/null"]);
    assert!(text.contains("TLS with"), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    let creds = dir.path().join("bad.creds");
    std::fs::write(&creds, "this is not a creds file").expect("write");
    let text = record_error(&[
        "--server",
        &url,
        "--creds",
        creds.to_str().expect("utf8"),
        "-o",
        "/dev/null",
    ]);
    assert!(text.contains("bad.creds"), "{text}");
}

#[test]
fn record_tries_every_seed_before_it_gives_up() {
    let _timed = common::timed();
    let server = common::server();
    let dead = format!(
        "nats://127.0.0.1:{}",
        eventscope::demo::free_port().expect("port")
    );
    let seeds = format!("{dead},{}", server.url());
    let (status, text) =
        Recorder::start(&["--server", &seeds, "--out", "/dev/null", "--duration", "1"]).finish();
    assert!(status.success(), "{text}");
    assert!(text.contains("connected at"), "{text}");
}
