//! Publishing, requests, JetStream publishes, repeat jobs and replay,
//! against a real server; replay through the `eventscope replay` command.

use crate::common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventscope::broker::{ConnectionProfile, LinkState};
use eventscope::broker::{SendMode, SendOutcome};
use eventscope::capture::file::{CaptureHeader, CaptureWriter};
use eventscope::capture::{HeaderBlock, Record};
use eventscope::outgoing::{Encoding, PublishTemplate};
use eventscope::outgoing::{OutMessage, ReplayOptions, Timing};
use eventscope::session::Session;
use eventscope::session::{repeat_job, replay_job};
use futures_util::StreamExt;

/// A capture file of `n` records on `exact.<i>`, `spacing_ms` apart.
fn write_capture(path: &std::path::Path, n: usize, spacing_ms: i64) -> Vec<Record> {
    let records: Vec<Record> = (0..n)
        .map(|i| {
            Record::new(
                1_795_352_350_000_000_000 + i as i64 * spacing_ms * 1_000_000,
                0,
                &format!("exact.{}", i % 10),
                None,
                Some(&HeaderBlock::build(
                    None,
                    [
                        ("Nats-Msg-Id", format!("m{i}").as_str()),
                        ("X-Multi", "a"),
                        ("X-Multi", "b"),
                    ],
                )),
                &(0..(i % 200))
                    .map(|b| (b * 7 + i) as u8)
                    .collect::<Vec<u8>>(),
            )
        })
        .collect();
    let file = std::fs::File::create(path).expect("create");
    let mut w = CaptureWriter::new(std::io::BufWriter::new(file), &CaptureHeader::new(vec![]))
        .expect("header");
    for r in &records {
        w.write(r, "source").expect("write");
    }
    w.flush().expect("flush");
    records
}

fn replay(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .arg("replay")
        .args(args)
        .output()
        .expect("run replay");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.success(), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_arrives_complete_exact_in_order_and_remapped() {
    let _timed = common::timed();
    let server = common::server();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.jsonl");
    let sent = write_capture(&file, 3000, 1);
    let client = common::client(&server).await;
    let mut sub = client.subscribe("replay.>").await.expect("sub");
    let mut originals = client.subscribe("exact.>").await.expect("sub");
    client.flush().await.expect("flush");
    let url = server.url();
    let path = file.to_str().expect("utf8").to_owned();
    let (ok, text) = tokio::task::spawn_blocking(move || {
        replay(&[
            &path,
            "--server",
            &url,
            "--max",
            "--remap",
            "exact.>=replay.exact.>",
        ])
    })
    .await
    .expect("join");
    assert!(ok, "{text}");
    assert!(text.contains("done: sent 3000, failed 0"), "{text}");
    for (i, original) in sent.iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("in time")
            .expect("message");
        assert_eq!(
            got.subject.as_str(),
            format!("replay.{}", original.subject()),
            "order kept at {i}"
        );
        assert_eq!(got.payload, original.payload(), "payload bytes of {i}");
        let headers = got.headers.expect("headers");
        let multi: Vec<&str> = headers.get_all("X-Multi").map(|v| v.as_str()).collect();
        assert_eq!(multi, ["a", "b"], "multi-valued header of {i}");
        assert!(
            headers.get("Nats-Msg-Id").is_none(),
            "message id dropped by default"
        );
        assert!(
            headers.get("Eventscope-Replay").is_some(),
            "replayed messages are marked"
        );
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), originals.next())
            .await
            .is_err(),
        "nothing went to the original subjects"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_keeps_the_original_timing_scaled_by_speed() {
    let _timed = common::timed();
    let server = common::server();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("t.jsonl");
    // 41 messages 25 ms apart: one second of traffic.
    write_capture(&file, 41, 25);
    let client = common::client(&server).await;
    let mut sub = client.subscribe("exact.>").await.expect("sub");
    client.flush().await.expect("flush");
    let url = server.url();
    let path = file.to_str().expect("utf8").to_owned();
    let run =
        tokio::task::spawn_blocking(move || replay(&[&path, "--server", &url, "--speed", "4"]));
    let mut times = Vec::new();
    for _ in 0..41 {
        tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("in time")
            .expect("message");
        times.push(Instant::now());
    }
    let (ok, text) = run.await.expect("join");
    assert!(ok, "{text}");
    // Expected: 1 s / 4 = 250 ms from first to last, 125 ms to the middle.
    // Timers and a shared 2-core machine add jitter: allow 25% + 40 ms.
    let check = |measured: Duration, expected_ms: f64| {
        let ms = measured.as_secs_f64() * 1000.0;
        assert!(
            (ms - expected_ms).abs() <= expected_ms * 0.25 + 40.0,
            "{ms:.1} ms, expected {expected_ms} ms"
        );
    };
    check(times[40] - times[0], 250.0);
    check(times[20] - times[0], 125.0);
}

#[test]
fn corrupt_and_newer_captures_are_reported() {
    let _timed = common::timed();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.jsonl");
    write_capture(&file, 5, 1);
    let mut text = std::fs::read_to_string(&file).expect("read");
    text.push_str("{\"received_at\": not json\n");
    std::fs::write(&file, text).expect("write");
    let (ok, out) = replay(&[file.to_str().expect("utf8"), "--dry-run"]);
    // The records before the bad line are listed, and the exit says the
    // file was not read whole.
    assert!(!ok, "a dry run that stopped at a bad line must fail: {out}");
    assert!(out.contains("line 7:"), "{out}");
    assert!(out.contains("5 records would be replayed"), "{out}");

    std::fs::write(
        &file,
        "{\"eventscope_capture\":9,\"created\":\"x\",\"tool\":\"y\"}\n",
    )
    .expect("write");
    let (ok, out) = replay(&[file.to_str().expect("utf8"), "--dry-run"]);
    assert!(!ok);
    assert!(
        out.contains("format version 9, newer than this eventscope reads"),
        "{out}"
    );
}

fn actor(server: &common::LocalServer) -> (Session, u16) {
    let mut m = Session::new(Arc::new(|| {}), usize::MAX).expect("runtime");
    let mut profile = ConnectionProfile::new("actor", server.url());
    profile.subscriptions.clear(); // no wildcard: 'no responders' stays visible
    let key = m.connect(profile);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !m.shared(key).expect("conn").state().is_connected() {
        assert!(Instant::now() < deadline, "not connected");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(m.shared(key).expect("conn").state(), LinkState::Connected);
    (m, key)
}

fn outcome(
    m: &Session,
    key: u16,
    rt: &tokio::runtime::Runtime,
    message: OutMessage,
    mode: SendMode,
) -> SendOutcome {
    let rx = m.send(key, message, mode).expect("sent");
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), rx).await })
        .expect("answered")
        .expect("outcome")
}

fn msg(subject: &str, payload: &'static str) -> OutMessage {
    OutMessage {
        subject: subject.into(),
        reply: None,
        headers: vec![("ce-id".into(), "x".into())],
        payload: Bytes::from_static(payload.as_bytes()),
        fields: None,
    }
}

#[test]
fn requests_show_the_reply_the_timeout_or_no_responders() {
    let _timed = common::timed();
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let service = rt.block_on(common::client(&server));
    rt.block_on(async {
        let mut echo = service.subscribe("svc.echo").await.expect("sub");
        let mut slow = service.subscribe("svc.slow").await.expect("sub");
        let s1 = service.clone();
        tokio::spawn(async move {
            while let Some(m) = echo.next().await {
                let mut h = async_nats::HeaderMap::new();
                h.insert("ce-source", "echo");
                s1.publish_with_headers(m.reply.expect("reply"), h, m.payload)
                    .await
                    .expect("reply");
            }
        });
        tokio::spawn(async move {
            while let Some(_m) = slow.next().await {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
        service.flush().await.expect("flush");
    });
    let (m, key) = actor(&server);
    let timeout = Duration::from_millis(300);
    match outcome(
        &m,
        key,
        &rt,
        msg("svc.echo", "ping"),
        SendMode::Request { timeout },
    ) {
        SendOutcome::Reply {
            payload,
            headers,
            latency,
            ..
        } => {
            assert_eq!(payload, Bytes::from_static(b"ping"));
            assert!(headers.contains(&("ce-source".to_owned(), "echo".to_owned())));
            assert!(latency < timeout);
        }
        other => panic!("expected a reply, got {other:?}"),
    }
    match outcome(
        &m,
        key,
        &rt,
        msg("svc.slow", "?"),
        SendMode::Request { timeout },
    ) {
        SendOutcome::Failed(e) => assert!(e.starts_with("timeout: no reply within 300ms"), "{e}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    match outcome(
        &m,
        key,
        &rt,
        msg("svc.none", "?"),
        SendMode::Request { timeout },
    ) {
        SendOutcome::Failed(e) => assert_eq!(e, "no responders: nothing subscribes to svc.none"),
        other => panic!("expected no responders, got {other:?}"),
    }
}

#[test]
fn jetstream_publish_shows_the_puback_the_duplicate_and_the_error() {
    let _timed = common::timed();
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let admin = rt.block_on(common::client(&server));
    rt.block_on(common::orders_stream(&admin));
    let (m, key) = actor(&server);
    let mode = SendMode::JetStream {
        timeout: Duration::from_secs(2),
    };
    let mut with_id = msg("orders.created", "{}");
    with_id
        .headers
        .push(("Nats-Msg-Id".into(), "order-1".into()));
    assert_eq!(
        outcome(&m, key, &rt, with_id.clone(), mode),
        SendOutcome::PubAck {
            stream: "ORDERS".into(),
            seq: 1,
            duplicate: false
        }
    );
    assert_eq!(
        outcome(&m, key, &rt, with_id, mode),
        SendOutcome::PubAck {
            stream: "ORDERS".into(),
            seq: 1,
            duplicate: true
        }
    );
    match outcome(&m, key, &rt, msg("billing.paid", "{}"), mode) {
        SendOutcome::Failed(e) => assert_eq!(e, "no stream matches billing.paid"),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn repeat_jobs_expand_placeholders_and_keep_count() {
    let _timed = common::timed();
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(common::client(&server));
    let mut sub = rt.block_on(common::subscribed(&client, "gen.>"));
    let (m, key) = actor(&server);
    let template = PublishTemplate {
        subject: "gen.event".into(),
        headers: vec![("ce-id".into(), "{{uuid}}".into())],
        payload: r#"{"n":{{seq}},"at":"{{now}}"}"#.into(),
        encoding: Encoding::Json,
        ..PublishTemplate::default()
    };
    let progress = m
        .start_job(
            key,
            repeat_job(template, 5, Some(200.0), None, Default::default()),
        )
        .expect("started");
    let mut ids = Vec::new();
    rt.block_on(async {
        for n in 1..=5 {
            let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
                .await
                .expect("in time")
                .expect("message");
            let body: serde_json::Value = serde_json::from_slice(&got.payload).expect("JSON");
            assert_eq!(body["n"], n);
            assert!(body["at"].as_str().is_some_and(|t| t.ends_with('Z')));
            ids.push(
                got.headers
                    .expect("headers")
                    .get("ce-id")
                    .expect("ce-id")
                    .to_string(),
            );
        }
    });
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "a new uuid per message");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !progress.is_finished() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!((progress.sent(), progress.failed()), (5, 0));
}

/// Header names and values the client cannot send (from a hand-edited
/// capture, or typed) are reported per message; nothing panics and the
/// rest is sent.
#[test]
fn unsendable_headers_are_reported_not_fatal() {
    let _timed = common::timed();
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(common::client(&server));
    let mut sub = rt.block_on(common::subscribed(&client, "odd.>"));
    let (m, key) = actor(&server);
    let bad_name = HeaderBlock::build(None, [("bad name", "v")]);
    let non_ascii = HeaderBlock::build(None, [("ünï", "v")]);
    let good = HeaderBlock::build(None, [("ce-id", "ok")]);
    let records = vec![
        Record::new(1, 0, "odd.a", None, Some(&bad_name), b"1"),
        Record::new(2, 0, "odd.b", None, Some(&non_ascii), b"2"),
        Record::new(3, 0, "odd.c", None, Some(&good), b"3"),
    ];
    let options = ReplayOptions {
        timing: Timing::Max,
        mark: false,
        ..ReplayOptions::default()
    };
    let progress = m
        .start_job(key, replay_job(records, options))
        .expect("started");
    let got = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("in time")
            .expect("message")
    });
    assert_eq!(got.subject.as_str(), "odd.c");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !progress.is_finished() {
        assert!(Instant::now() < deadline, "the job finishes");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!((progress.sent(), progress.failed()), (1, 2));
    assert!(
        progress
            .last_error()
            .is_some_and(|e| e.contains("cannot be sent"))
    );

    let mut typed = msg("odd.typed", "{}");
    typed.headers.push(("X-Note".into(), "two\r\nlines".into()));
    match outcome(&m, key, &rt, typed, SendMode::Publish) {
        SendOutcome::Failed(e) => assert!(e.contains("line break"), "{e}"),
        other => panic!("expected a clear failure, got {other:?}"),
    }
}

#[test]
fn a_replay_skips_the_machinery_unless_asked() {
    let _timed = common::timed();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mixed.jsonl");
    let records: Vec<Record> = [
        ("orders.created", None),
        ("$JS.API.STREAM.DELETE.ORDERS", Some("_INBOX.a.b")),
        ("_INBOX.a.b", None),
        ("$JS.ACK.ORDERS.w.1.1.1.1.0", None),
        ("orders.created", Some("$JS.ACK.ORDERS.w.1.1.1.1.0")),
        ("orders.paid", None),
    ]
    .into_iter()
    .map(|(subject, reply)| Record::new(1, 0, subject, reply, None, b"{}"))
    .collect();
    common::write_capture_file(&file, &records);
    let path = file.to_str().expect("utf8");
    let (ok, text) = replay(&[path, "--dry-run"]);
    assert!(ok, "{text}");
    assert!(text.contains("skipping 4"), "{text}");
    assert!(text.contains("2 records would be replayed"), "{text}");
    let (ok, text) = replay(&[path, "--dry-run", "--include-machinery"]);
    assert!(ok, "{text}");
    assert!(text.contains("6 records would be replayed"), "{text}");
}
