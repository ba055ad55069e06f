//! The JetStream view with egui_kittest against a real server: sorting the
//! stream report, paging and seeking the browser, the counter-to-flow
//! link, the purge confirmation and the recorder's consent.

use crate::common;

use common::runtime;
use common::ui::{replace_text, step_until};

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use bytes::Bytes;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventscope::app::EventscopeApp;
use eventscope::ui::View;
use futures_util::StreamExt;

fn connected(server: &common::LocalServer, subscribe_all: bool) -> Harness<'static, EventscopeApp> {
    common::ui::connected(server, View::JetStream, subscribe_all)
}

async fn fill(js: &jetstream::Context, name: &str, count: usize) {
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec![format!("{}.>", name.to_lowercase())],
        allow_direct: true,
        ..Default::default()
    })
    .await
    .expect("stream");
    for i in 0..count {
        js.publish(
            format!("{}.m", name.to_lowercase()),
            Bytes::from(format!("m{i}")),
        )
        .await
        .expect("publish")
        .await
        .expect("stored");
    }
}

fn streams_loaded(h: &Harness<'static, EventscopeApp>, n: usize) -> bool {
    h.state()
        .jetstream_view()
        .streams
        .list
        .value
        .as_ref()
        .is_some_and(|l| l.len() == n)
}

#[test]
fn the_stream_report_sorts_by_the_clicked_column() {
    let _timed = common::timed();
    let server = common::server();
    let rt = runtime();
    rt.block_on(async {
        let js = jetstream::new(common::client(&server).await);
        fill(&js, "ALPHA", 3).await;
        fill(&js, "BRAVO", 10).await;
        fill(&js, "CHARLIE", 1).await;
    });
    let mut h = connected(&server, false);
    step_until(&mut h, "three streams", |h| streams_loaded(h, 3));
    let names = |h: &mut Harness<'static, EventscopeApp>| {
        h.run_steps(2);
        h.state_mut_names()
    };
    assert_eq!(
        names(&mut h),
        ["ALPHA", "BRAVO", "CHARLIE"],
        "by name at first"
    );
    h.get_by_label("Messages").click();
    assert_eq!(
        names(&mut h),
        ["BRAVO", "ALPHA", "CHARLIE"],
        "most messages first"
    );
    h.get_by_label("Messages ⏷").click();
    assert_eq!(
        names(&mut h),
        ["CHARLIE", "ALPHA", "BRAVO"],
        "then fewest first"
    );
    h.get_by_label("Stream").click();
    assert_eq!(names(&mut h), ["ALPHA", "BRAVO", "CHARLIE"]);
}

/// The report's order, read from the view.
trait Names {
    fn state_mut_names(&mut self) -> Vec<String>;
}

impl Names for Harness<'static, EventscopeApp> {
    fn state_mut_names(&mut self) -> Vec<String> {
        self.state_mut().jetstream_names()
    }
}

#[test]
fn the_browser_pages_and_seeks_to_a_time() {
    let _timed = common::timed();
    let server = common::server();
    let rt = runtime();
    let cut = rt.block_on(async {
        let js = jetstream::new(common::client(&server).await);
        fill(&js, "ORDERS", 120).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let cut = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        for i in 0..130 {
            js.publish("orders.late", Bytes::from(format!("l{i}")))
                .await
                .expect("publish")
                .await
                .expect("stored");
        }
        cut
    });
    let mut h = connected(&server, false);
    step_until(&mut h, "the stream", |h| streams_loaded(h, 1));
    h.get_by_label("ORDERS").click();
    h.run_steps(2);
    h.get_by_label("Browse").click();
    let rows = |h: &Harness<'static, EventscopeApp>| -> Vec<u64> {
        h.state()
            .jetstream_view()
            .browser
            .rows
            .iter()
            .map(|r| r.stream_seq)
            .collect()
    };
    step_until(&mut h, "the first page", |h| rows(h).len() == 100);
    assert_eq!(rows(&h).first(), Some(&1));
    h.get_by_label_contains("read by direct get");
    h.get_by_label("Next ▶").click();
    step_until(&mut h, "the second page", |h| rows(h).first() == Some(&101));
    assert_eq!(rows(&h).last(), Some(&200));
    h.get_by_label("◀ Previous").click();
    step_until(&mut h, "back to the first", |h| rows(h).first() == Some(&1));
    replace_text(&mut h, "Time", &cut);
    h.get_by_label("Go to time").click();
    step_until(&mut h, "the first message after the cut", |h| {
        rows(h).first() == Some(&121)
    });
    replace_text(&mut h, "Sequence", "240");
    h.get_by_label("Go").click();
    step_until(&mut h, "sequence 240 on", |h| {
        rows(h) == (240..=250).collect::<Vec<_>>()
    });
}

#[test]
fn the_redelivered_counter_opens_that_consumers_retry_timelines() {
    let _timed = common::timed();
    let server = common::server();
    let mut h = connected(&server, true);
    let rt = runtime();
    rt.block_on(async {
        let (client, js) = common::jetstream(&server).await;
        let s = js
            .create_stream(stream::Config {
                name: "ORDERS".into(),
                subjects: vec!["orders.>".into()],
                ..Default::default()
            })
            .await
            .expect("stream");
        let consumer = s
            .create_consumer(pull::Config {
                durable_name: Some("billing".into()),
                ..Default::default()
            })
            .await
            .expect("consumer");
        for name in ["fine", "flaky"] {
            js.publish(format!("orders.{name}"), Bytes::from(name))
                .await
                .expect("publish")
                .await
                .expect("stored");
        }
        // `fine` is acked; `flaky` NAKed, then redelivered and still
        // being worked on (the server counts it redelivered until acked).
        let mut messages = consumer.messages().await.expect("messages");
        let mut naked = false;
        for _ in 0..3 {
            let m = messages.next().await.expect("one").expect("message");
            if m.subject.as_str() == "orders.fine" {
                m.ack_with(AckKind::Ack).await.expect("ack");
            } else if !naked {
                naked = true;
                m.ack_with(AckKind::Nak(None)).await.expect("nak");
            }
        }
        // Answers are plain publishes: on the wire before the client goes.
        client.flush().await.expect("flush");
    });
    step_until(&mut h, "the stream", |h| streams_loaded(h, 1));
    h.get_by_label("ORDERS").click();
    step_until(&mut h, "the consumer redelivered once", |h| {
        h.state()
            .jetstream_view()
            .consumers
            .list
            .value
            .as_ref()
            .is_some_and(|l| l.iter().any(|c| c.num_redelivered == 1))
    });
    // Click two: the counter.
    // Let the table settle its column widths.
    h.run_steps(5);
    h.get_by_label("Redelivered of billing").click();
    step_until(&mut h, "the flow view", |h| h.state().view == View::Flows);
    let scope = h
        .state()
        .flows
        .scope()
        .cloned()
        .expect("scoped to the consumer");
    assert_eq!(
        (scope.stream.as_str(), scope.consumer.as_str()),
        ("ORDERS", "billing")
    );
    step_until(&mut h, "the retried message's flow listed", |h| {
        let app = h.state();
        app.flows.list().len() == 1
            && app
                .session
                .flows
                .get(app.flows.list()[0])
                .is_some_and(|f| f.subject == "orders.flaky")
    });
}

#[test]
fn purge_shows_its_count_and_names_the_stream_before_it_runs() {
    let _timed = common::timed();
    let server = common::server();
    let rt = runtime();
    let js = rt.block_on(async { jetstream::new(common::client(&server).await) });
    rt.block_on(fill(&js, "ORDERS", 10));
    let mut h = connected(&server, false);
    step_until(&mut h, "the stream", |h| streams_loaded(h, 1));
    h.get_by_label("ORDERS").click();
    h.run_steps(2);
    h.get_by_label("Detail").click();
    h.run_steps(2);
    h.get_by_label("Purge…").click();
    h.run_steps(2);
    replace_text(&mut h, "Keep newest", "3");
    h.get_by_label("Preview").click();
    step_until(&mut h, "the preview", |h| {
        h.query_by_label("Purge 7 messages from ORDERS").is_some()
    });
    // Nothing removed until the named button is pressed.
    let messages = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            js.get_stream("ORDERS")
                .await
                .expect("stream")
                .info()
                .await
                .expect("info")
                .state
                .messages
        })
    };
    assert_eq!(messages(&rt), 10);
    h.get_by_label("Purge 7 messages from ORDERS").click();
    let deadline = Instant::now() + Duration::from_secs(10);
    while messages(&rt) != 3 {
        h.run_steps(1);
        assert!(Instant::now() < deadline, "the purge ran");
    }
}

#[test]
fn the_recorder_is_created_only_after_consent() {
    let _timed = common::timed();
    let server = common::server();
    let rt = runtime();
    let js = rt.block_on(async { jetstream::new(common::client(&server).await) });
    let mut h = connected(&server, false);
    step_until(&mut h, "the recorder checked", |h| {
        h.state().jetstream_view().recorder.status.value.is_some()
    });
    let exists = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async { js.get_stream("EVENTSCOPE_RECORDER").await.is_ok() })
    };
    h.get_by_label("Set up…").click();
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("This creates server state")
            .is_some(),
        "the dialog says what it does"
    );
    assert!(!exists(&rt), "nothing made before consent");
    replace_text(&mut h, "Keep at most (age)", "2h");
    h.get_by_label("Agree and create EVENTSCOPE_RECORDER")
        .click();
    step_until(&mut h, "the recorder shown", |h| {
        h.state()
            .jetstream_view()
            .recorder
            .status
            .value
            .as_ref()
            .is_some_and(|s| s.is_some())
    });
    assert!(exists(&rt));
    let status = h
        .state()
        .jetstream_view()
        .recorder
        .status
        .value
        .clone()
        .flatten()
        .expect("status");
    assert_eq!(status.max_age_secs, 7200.0);
}

#[test]
fn on_connect_the_flow_view_fills_from_the_recorder() {
    let _timed = common::timed();
    let server = common::server();
    let rt = runtime();
    let url = server.url();
    // Before eventscope opens: the recorder exists, and a worker NAKs a
    // message twice before acking it.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args(["recorder", "start", "--server", &url])
        .status()
        .expect("run");
    assert!(status.success());
    rt.block_on(async {
        let (client, js) = common::jetstream(&server).await;
        let s = js
            .create_stream(stream::Config {
                name: "ORDERS".into(),
                subjects: vec!["orders.>".into()],
                allow_direct: true,
                ..Default::default()
            })
            .await
            .expect("stream");
        let consumer = s
            .create_consumer(pull::Config {
                durable_name: Some("billing".into()),
                ..Default::default()
            })
            .await
            .expect("consumer");
        js.publish("orders.retried", Bytes::from("x"))
            .await
            .expect("publish")
            .await
            .expect("stored");
        let mut messages = consumer.messages().await.expect("messages");
        for answer in [AckKind::Nak(None), AckKind::Nak(None), AckKind::Ack] {
            let m = messages.next().await.expect("one").expect("message");
            m.ack_with(answer).await.expect("answer");
        }
        // An ack is a plain publish: on the wire before the client goes.
        client.flush().await.expect("flush");
    });
    // Everything is stored before eventscope opens.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_eventscope"))
            .args(["recorder", "status", "--json", "--server", &url])
            .output()
            .expect("run");
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        // The consumer's creation advisory, three answers, two NAK
        // advisories.
        if status["messages"].as_u64() >= Some(6) {
            break;
        }
        assert!(Instant::now() < deadline, "the recorder stored the answers");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut h = connected(&server, true);
    let found = |h: &Harness<'static, EventscopeApp>| {
        let flows = &h.state().session.flows;
        flows.flows().any(|f| {
            f.subject == "orders.retried"
                && f.detail().deliveries.iter().map(|d| d.count).max() == Some(3)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !found(&h) {
        h.run_steps(1);
        let view = h.state().jetstream_view();
        if let Some(e) = &view.recorder.history.error {
            panic!("loading the recorder's history failed: {e}");
        }
        if Instant::now() > deadline {
            let app = h.state();
            let flows: Vec<String> = app
                .session
                .flows
                .flows()
                .map(|f| {
                    format!(
                        "{} {:?}",
                        f.subject,
                        f.detail()
                            .deliveries
                            .iter()
                            .map(|d| (d.count, d.outcome))
                            .collect::<Vec<_>>()
                    )
                })
                .collect();
            panic!(
                "no rebuilt flow; recorder {:?}, history {:?} (loading {}), notice {:?}, flows {flows:?}",
                view.recorder.status.value,
                view.recorder.history.value,
                view.recorder.history.loading,
                app.notice
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Each step says where it came from: the recorder's records.
    let app = h.state();
    let flow = app
        .session
        .flows
        .flows()
        .find(|f| f.subject == "orders.retried")
        .expect("flow");
    let sources: Vec<&str> = flow
        .detail()
        .steps
        .iter()
        .filter_map(|s| s.record)
        .filter_map(|seq| app.session.store.get(seq))
        .map(|r| app.session.store.connection_name(r.connection))
        .collect();
    assert!(!sources.is_empty());
    assert!(
        sources.iter().all(|s| *s == "recorder EVENTSCOPE_RECORDER"),
        "{sources:?}"
    );
    // The recorder was read over the fetch link; its answers also reached
    // the `>` subscription, which counted them and kept none.
    let losses = app.session.losses();
    assert!(losses.own_skipped > 0, "{}", losses.summary());
    let store = &app.session.store;
    let kept_own = (store.first_seq()..store.end_seq())
        .filter_map(|seq| store.get(seq))
        .filter(|r| r.subject().starts_with("_INBOX.") && r.payload() == b"+ACK")
        .count();
    assert_eq!(kept_own, 0, "no answer to our own reads in the live store");
}

#[test]
fn a_capture_kept_in_a_stream_opens_like_a_file() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    let mut recorder = common::recorder::Recorder::start(&[
        "--server",
        &url,
        "-s",
        "orders.>",
        "--count",
        "5",
        "--to-stream",
        "TEAMCAP",
    ]);
    recorder.wait_line("recording orders.>");
    let rt = runtime();
    rt.block_on(async {
        let client = common::client(&server).await;
        for i in 0..5 {
            client
                .publish(format!("orders.{i}"), Bytes::from(format!("order {i}")))
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    });
    let (status, text) = recorder.finish();
    assert!(status.success(), "{text}");
    let mut h = connected(&server, false);
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Open capture from stream…").click();
    step_until(&mut h, "the capture stream listed", |h| {
        h.query_by_label_contains("TEAMCAP:").is_some()
    });
    h.get_by_label_contains("TEAMCAP:").click();
    step_until(&mut h, "the capture loaded", |h| {
        let store = &h.state().session.store;
        store.len() == 5
            && (store.first_seq()..store.end_seq())
                .filter_map(|s| store.get(s))
                .all(|r| r.subject().starts_with("orders."))
    });
}

#[test]
fn the_apps_own_requests_are_never_stored_and_a_quiet_server_has_no_backlog() {
    let _timed = common::timed();
    let server = common::server();
    let rt = runtime();
    rt.block_on(async {
        let js = jetstream::new(common::client(&server).await);
        fill(&js, "QUIET", 3).await;
    });
    // Watching `>` with the JetStream view open: it lists streams, the
    // recorder's state and consumers, every few seconds.
    let mut h = connected(&server, true);
    step_until(&mut h, "the streams", |h| streams_loaded(h, 1));
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(50));
    }
    let stored: Vec<String> = h
        .state()
        .session
        .store
        .iter()
        .map(|(_, r)| r.subject().to_owned())
        .collect();
    assert!(
        stored.iter().all(|s| !s.starts_with("$JS.API")
            && !s.starts_with("$JS.EVENT.ADVISORY.API")
            && !s.starts_with("_INBOX.")),
        "the app's own requests were stored: {stored:?}"
    );
    let session = &h.state().session;
    assert!(
        session.losses().own_skipped > 0,
        "its requests were seen and left out"
    );
    let backlog = session.backlog(eventscope::capture::now_timestamp());
    assert_eq!(backlog.messages, 0, "{backlog:?}");
}
