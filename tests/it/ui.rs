//! UI tests with egui_kittest: widgets found by their labels, clicked and
//! typed into, and the app's state asserted. No GPU or display needed.

use crate::common;

use common::ui::{harness, replace_text, step_until};

use std::time::{Duration, Instant};

use bytes::Bytes;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventscope::app::{AppConfig, EventscopeApp};
use eventscope::capture::{HeaderBlock, Record};
use eventscope::ui::View;

fn app(view: View) -> EventscopeApp {
    let config = AppConfig {
        view,
        ..AppConfig::default()
    };
    EventscopeApp::new(&egui::Context::default(), None, config).expect("app starts")
}

fn record(app: &mut EventscopeApp, subject: &str, payload: &str, headers: &[(&str, &str)]) {
    let connection = app.session.store.intern_connection("test");
    let headers = (!headers.is_empty()).then(|| HeaderBlock::build(None, headers.iter().copied()));
    app.session.store.push(Record::new(
        1_795_352_350_000_000_000,
        connection,
        subject,
        None,
        headers.as_ref(),
        payload.as_bytes(),
    ));
}

#[test]
fn connection_form_connects_and_validates() {
    let _timed = common::timed();
    let server = common::server();
    let mut h = harness(app(View::Connections));
    h.run_steps(2);
    replace_text(&mut h, "Servers", "nats://127.0.0.1:notaport");
    h.get_by_label("Connect").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("is not a server URL").is_some());
    assert!(h.state().session.profiles().is_empty());

    replace_text(&mut h, "Name", "local");
    replace_text(&mut h, "Servers", &server.url());
    h.get_by_label("Connect").click();
    step_until(&mut h, "the connection to turn green", |h| {
        h.query_by_label_contains("• connected").is_some()
    });
    let profiles = h.state().session.profiles();
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0].1.name, "local");
    assert_eq!(profiles[0].1.servers, server.url());
    assert!(
        h.query_by_label_contains("nats-server 2.").is_some(),
        "server version shown"
    );
    // The '>' default subscription comes with the observer-effect warning.
    assert!(h.query_by_label_contains("counts as a responder").is_some());

    // Disconnect asks first; "Keep" leaves it as it was.
    h.get_by_label("Disconnect").click();
    h.run_steps(2);
    assert_eq!(h.state().session.profiles().len(), 1);
    h.get_by_label("Keep").click();
    h.run_steps(2);
    assert_eq!(h.state().session.profiles().len(), 1);
    h.get_by_label("Disconnect").click();
    h.run_steps(2);
    h.get_by_label("Yes, disconnect").click();
    h.run_steps(2);
    assert!(h.state().session.profiles().is_empty());
}

#[test]
fn adding_a_subscription_validates_and_subscribes() {
    let _timed = common::timed();
    let server = common::server();
    let mut h = harness(app(View::Connections));
    h.run_steps(2);
    replace_text(&mut h, "Subjects", "orders.>");
    replace_text(&mut h, "Servers", &server.url());
    h.get_by_label("Connect").click();
    step_until(&mut h, "connected", |h| {
        h.query_by_label_contains("• connected").is_some()
    });

    replace_text(&mut h, "Pattern", "a..b");
    h.get_by_label("Subscribe").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("has an empty token").is_some());

    replace_text(&mut h, "Pattern", "billing.*");
    h.get_by_label("Subscribe").click();
    step_until(&mut h, "billing.* to be listed", |h| {
        h.query_by_label("billing.*").is_some()
    });
    let key = h.state().session.profiles()[0].0;
    let subs = h
        .state()
        .session
        .shared(key)
        .expect("connection")
        .status()
        .subscriptions;
    assert!(
        subs.iter().any(|s| s.pattern == "billing.*" && s.active),
        "{subs:?}"
    );
    assert!(
        h.query_by_label_contains("overlap").is_none(),
        "orders.> and billing.* do not overlap"
    );

    // Messages on the new pattern arrive in the store.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = common::client(&server).await;
        client
            .publish("billing.paid", Bytes::from_static(b"{}"))
            .await
            .expect("publish");
        client
            .publish("other.thing", Bytes::from_static(b"{}"))
            .await
            .expect("publish");
        client.flush().await.expect("flush");
    });
    step_until(&mut h, "the message", |h| {
        h.state().session.store.len() == 1
    });
    h.run_steps(5);
    assert_eq!(
        h.state().session.store.len(),
        1,
        "only the subscribed subject arrives"
    );

    // Removing it unsubscribes.
    // Subscriptions are listed in the order made: orders.>, then billing.*.
    h.get_all_by_label("Remove")
        .nth(1)
        .expect("two remove buttons")
        .click();
    step_until(&mut h, "billing.* removed", |h| {
        h.query_by_label("billing.*").is_none()
    });
    assert!(h.query_by_label("orders.>").is_some());
}

#[test]
fn selecting_a_message_shows_pretty_json_and_headers() {
    let _timed = common::timed();
    let mut app = app(View::Traffic);
    record(&mut app, "billing.paid", "plain text", &[]);
    record(
        &mut app,
        "orders.created",
        r#"{"order_id":"ord-1","total":25.5,"items":[{"sku":"SKU-1"}]}"#,
        &[
            ("ce-type", "order.created"),
            ("X-Multi", "one"),
            ("X-Multi", "two"),
        ],
    );
    let mut h = harness(app);
    h.run_steps(3);
    assert!(h.query_by_label_contains("Select a message").is_some());
    h.get_by_label("orders.created").click();
    h.run_steps(3);
    assert_eq!(h.state().traffic.selected, Some(1));
    assert!(h.query_by_label("Headers (3)").is_some());
    assert!(h.query_by_label("ce-type").is_some());
    assert!(h.query_by_label("order.created").is_some());
    assert_eq!(
        h.get_all_by_label("X-Multi").count(),
        2,
        "multi-valued header shown per value"
    );
    assert!(h.query_by_label("one").is_some() && h.query_by_label("two").is_some());
    assert!(
        h.query_by_label_contains("\"order_id\": \"ord-1\"")
            .is_some(),
        "pretty JSON shown"
    );
    // The collapsible tree view of the same JSON.
    h.get_by_label("Tree").click();
    h.run_steps(3);
    assert!(h.query_by_label("\"ord-1\"").is_some(), "tree shows values");
    assert!(
        h.query_by_label("\"SKU-1\"").is_none(),
        "deeper levels start collapsed"
    );
    h.get_by_label("0: {…} 1 keys").click();
    h.run_steps(3);
    assert!(
        h.query_by_label("\"SKU-1\"").is_some(),
        "expanding shows nested values"
    );

    // A non-JSON message falls back to text, and the hex dump is there.
    h.get_by_label("billing.paid").click();
    h.run_steps(3);
    assert!(h.query_by_label_contains("Not JSON").is_some());
    assert_eq!(
        h.get_all_by_label("plain text").count(),
        2,
        "table preview and inspector text"
    );
    h.get_by_label("Hex").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("70 6c 61 69 6e").is_some());
}

/// The status bar shows the store against its budget and, beside it, what
/// the whole process holds: more than the store, never less.
#[test]
fn status_bar_shows_retained_bytes_budget_and_process_memory() {
    let _timed = common::timed();
    use egui_kittest::kittest::NodeT;
    let mut app = app(View::Traffic);
    let payload = "x".repeat(4 << 20);
    for _ in 0..8 {
        record(&mut app, "big.blob", &payload, &[]);
    }
    let store_bytes = app.session.store.bytes_used() as f64;
    let mut h = harness(app);
    h.run_steps(2);
    assert!(h.query_by_label_contains("retained 8").is_some());
    assert!(h.query_by_label_contains("32.0 MiB of").is_some());
    let label = h
        .get_by_label_contains("process ")
        .accesskit_node()
        .value()
        .expect("a label");
    let (number, unit) = label
        .trim_start_matches("process ")
        .split_once(' ')
        .expect("a figure and a unit");
    let factor = match unit {
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unexpected unit in {label:?}: {other}"),
    };
    let process_bytes = number.parse::<f64>().expect("a number") * factor;
    assert!(
        process_bytes > store_bytes,
        "{label} for {store_bytes} stored bytes"
    );
}

#[test]
fn subject_filter_narrows_the_table() {
    let _timed = common::timed();
    let mut app = app(View::Traffic);
    for _ in 0..3 {
        record(&mut app, "orders.created", "{}", &[]);
    }
    record(&mut app, "orders.eu.created", "{}", &[]);
    record(&mut app, "billing.paid", "gold customer", &[]);
    record(&mut app, "billing.paid", "{}", &[]);
    let mut h = harness(app);
    h.run_steps(3);
    assert_eq!(h.get_all_by_label("billing.paid").count(), 2);

    replace_text(&mut h, "Subject filter", "orders.*");
    h.run_steps(3);
    assert_eq!(h.get_all_by_label("orders.created").count(), 3);
    assert_eq!(h.query_all_by_label("orders.eu.created").count(), 0);
    assert_eq!(h.query_all_by_label("billing.paid").count(), 0);

    replace_text(&mut h, "Subject filter", "orders.>");
    h.run_steps(3);
    assert_eq!(h.query_all_by_label("orders.eu.created").count(), 1);

    replace_text(&mut h, "Subject filter", "a..b");
    h.run_steps(2);
    assert!(h.query_by_label_contains("Filter not applied").is_some());

    // Clicking a branch of the subject tree filters to everything below it.
    h.get_by_label("billing").click();
    h.run_steps(3);
    assert_eq!(h.state().traffic.subject_filter, "billing.>");
    replace_text(&mut h, "Subject filter", "billing.>");
    replace_text(&mut h, "Text filter", "gold");
    h.run_steps(3);
    assert_eq!(h.get_all_by_label("billing.paid").count(), 1);
}

fn wire(subject: &str, reply: Option<&str>, payload: &str, at_ms: i64) -> Record {
    Record::new(
        1_795_352_350_000_000_000 + at_ms * 1_000_000,
        0,
        subject,
        reply,
        None,
        payload.as_bytes(),
    )
}

/// A retried message (NAK then ACK), one that reaches max deliveries, and a
/// request with its reply, as the wire shows them.
fn flow_records() -> Vec<Record> {
    let ack = |count: u64, seq: u64| {
        format!(
            "$JS.ACK.ORDERS.worker.{count}.{seq}.{}.1795352350348894744.0",
            count + seq
        )
    };
    vec![
        wire("orders.created", Some("_INBOX.p.1"), r#"{"id":1}"#, 0),
        wire("_INBOX.p.1", None, r#"{"stream":"ORDERS","seq":1}"#, 1),
        wire("orders.created", Some(&ack(1, 1)), r#"{"id":1}"#, 2),
        wire(&ack(1, 1), None, "-NAK", 3),
        wire("orders.created", Some(&ack(2, 1)), r#"{"id":1}"#, 4),
        wire(&ack(2, 1), None, "+ACK", 5),
        wire("orders.created", Some("_INBOX.p.2"), r#"{"id":2}"#, 6),
        wire("_INBOX.p.2", None, r#"{"stream":"ORDERS","seq":2}"#, 7),
        wire("orders.created", Some(&ack(1, 2)), r#"{"id":2}"#, 8),
        wire(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORDERS.worker",
            None,
            r#"{"type":"io.nats.jetstream.advisory.v1.max_deliver","stream":"ORDERS","consumer":"worker","stream_seq":2,"deliveries":1}"#,
            3000,
        ),
        wire("pricing.quote", Some("_INBOX.r.1"), r#"{"sku":"A"}"#, 3010),
        wire("_INBOX.r.1", None, r#"{"price":1}"#, 3022),
    ]
}

#[test]
fn flow_list_filters_and_the_diagram_selects_records() {
    let _timed = common::timed();
    let mut app = app(View::Flows);
    app.session.store.intern_connection("test");
    app.session.add_records(flow_records());
    let mut h = harness(app);
    h.run_steps(3);
    assert!(h.query_by_label("All (3)").is_some());
    assert!(h.query_by_label("With retries (1)").is_some());
    assert!(h.query_by_label("Failed (1)").is_some());

    h.get_by_label("Failed (1)").click();
    h.run_steps(3);
    assert!(h.query_by_label("orders.created -> ORDERS #2").is_some());
    assert!(h.query_by_label_contains("ORDERS #1").is_none());
    assert!(h.query_by_label("max deliveries").is_some());

    h.get_by_label("All (3)").click();
    h.run_steps(3);
    assert!(h.query_by_label_contains("request pricing.quote").is_some());
    assert!(h.query_by_label("replied 12 ms").is_some());
    h.get_by_label("orders.created -> ORDERS #1 · 2 deliveries")
        .click();
    h.run_steps(3);
    for arrow in [
        "publish orders.created",
        "PubAck seq 1",
        "deliver #1",
        "NAK",
        "redeliver #2",
        "ACK",
    ] {
        assert!(
            h.query_by_label(arrow).is_some(),
            "arrow {arrow:?} in the diagram"
        );
    }
    h.get_by_label("NAK").click();
    h.run_steps(3);
    assert_eq!(h.state().traffic.selected, Some(3), "the NAK's record");
    assert!(
        h.query_by_label("$JS.ACK.ORDERS.worker.1.1.2.1795352350348894744.0")
            .is_some(),
        "shown in the inspector"
    );
}

/// A message the server removed says why in the flows view, not only
/// "removed": its consumer was deleted before it answered.
#[test]
fn a_removed_message_says_why() {
    let _timed = common::timed();
    let mut app = app(View::Flows);
    app.session.store.intern_connection("test");
    app.session.add_records(vec![
        wire("orders.created", Some("_INBOX.p.1"), r#"{"id":1}"#, 0),
        wire("_INBOX.p.1", None, r#"{"stream":"ORDERS","seq":1}"#, 1),
        wire(
            "orders.created",
            Some("$JS.ACK.ORDERS.worker.1.1.1.1795352350348894744.0"),
            r#"{"id":1}"#,
            2,
        ),
        wire(
            "$JS.EVENT.ADVISORY.CONSUMER.DELETED.ORDERS.worker",
            None,
            r#"{"type":"io.nats.jetstream.advisory.v1.consumer_action","stream":"ORDERS","consumer":"worker","action":"delete"}"#,
            5,
        ),
    ]);
    let mut h = harness(app);
    h.run_steps(3);
    assert!(h.query_by_label("Failed (1)").is_some());
    h.get_by_label_contains("orders.created -> ORDERS #1")
        .click();
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("removed: consumer worker was deleted before it answered")
            .is_some()
    );
}

fn connected_app(server: &common::LocalServer, view: View) -> Harness<'static, EventscopeApp> {
    common::ui::connected(server, view, false)
}

#[test]
fn publish_form_sends_and_validates() {
    let _timed = common::timed();
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(common::client(&server));
    let mut sub = rt.block_on(common::subscribed(&client, "ui.>"));
    let mut h = connected_app(&server, View::Publish);
    replace_text(&mut h, "Subject", "bad subject");
    h.get_by_label("Send").click();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("subject: 'bad subject' contains whitespace")
            .is_some()
    );

    replace_text(&mut h, "Subject", "ui.orders");
    replace_text(&mut h, "Header 1 name", "ce-type");
    replace_text(&mut h, "value", "order.created");
    h.get_by_label("Send").click();
    step_until(&mut h, "published", |h| {
        h.query_by_label("Published.").is_some()
    });
    let got = rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(5),
                futures_util::StreamExt::next(&mut sub),
            )
            .await
        })
        .expect("received")
        .expect("message");
    assert_eq!(got.subject.as_str(), "ui.orders");
    assert_eq!(
        got.headers
            .expect("headers")
            .get("ce-type")
            .map(|v| v.as_str()),
        Some("order.created")
    );
    let body: serde_json::Value = serde_json::from_slice(&got.payload).expect("JSON payload");
    assert_eq!(body["order_id"], "ord-1", "placeholders filled in");
}

#[test]
fn templates_save_load_and_delete() {
    let _timed = common::timed();
    let mut h = harness(app(View::Publish));
    h.run_steps(2);
    replace_text(&mut h, "Subject", "saved.subject");
    replace_text(&mut h, "Template name", "first");
    h.get_by_label("Save template").click();
    h.run_steps(2);
    assert_eq!(h.state().publish.templates.len(), 1);
    replace_text(&mut h, "Subject", "changed.subject");
    h.run_steps(1);
    h.get_by_label("Load").click();
    h.run_steps(2);
    assert_eq!(h.state().publish.template.subject, "saved.subject");
    h.get_by_label("Delete").click();
    h.run_steps(2);
    assert!(h.state().publish.templates.is_empty());
}

#[test]
fn replay_panel_runs_with_progress() {
    let _timed = common::timed();
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(common::client(&server));
    let mut sub = rt.block_on(common::subscribed(&client, "again.>"));
    let mut h = connected_app(&server, View::Publish);
    let key = h.state().session.profiles()[0].0;
    let records: Vec<Record> = (0..50)
        .map(|i| {
            let mut r = wire(&format!("orders.{i}"), None, "{}", i);
            r.connection = key;
            r
        })
        .collect();
    h.state_mut().session.add_records(records);
    h.run_steps(3);
    replace_text(
        &mut h,
        "Remap subjects (FROM=TO, one per line, e.g. orders.>=replay.orders.>)",
        "orders.>=again.orders.>",
    );
    h.get_by_label("as fast as possible").click();
    h.get_by_label("Preview").click();
    h.run_steps(2);
    assert!(
        h.query_by_label("again.orders.0").is_some(),
        "dry-run preview"
    );
    h.get_by_label("Start replay").click();
    step_until(&mut h, "the replay to finish", |h| {
        h.query_by_label_contains("done: sent 50, failed 0")
            .is_some()
    });
    rt.block_on(async {
        for i in 0..50 {
            let got = tokio::time::timeout(
                Duration::from_secs(5),
                futures_util::StreamExt::next(&mut sub),
            )
            .await
            .expect("in time")
            .expect("message");
            assert_eq!(got.subject.as_str(), format!("again.orders.{i}"));
        }
    });
}

#[test]
fn edit_and_resend_fills_the_publish_form_from_the_inspector() {
    let _timed = common::timed();
    let mut app = app(View::Traffic);
    record(
        &mut app,
        "orders.created",
        r#"{"id":7}"#,
        &[("ce-type", "order.created")],
    );
    let mut h = harness(app);
    h.run_steps(2);
    h.get_by_label("orders.created").click();
    h.run_steps(2);
    h.get_by_label("Edit and resend").click();
    h.run_steps(2);
    let state = h.state();
    assert_eq!(state.view, View::Publish);
    assert_eq!(state.publish.template.subject, "orders.created");
    assert_eq!(state.publish.template.payload, r#"{"id":7}"#);
    assert_eq!(
        state.publish.template.headers,
        [("ce-type".to_owned(), "order.created".to_owned())]
    );
}

fn record_now(app: &mut EventscopeApp, subject: &str) {
    let connection = app.session.store.intern_connection("test");
    let now = eventscope::capture::now_timestamp();
    app.session
        .store
        .push(Record::new(now, connection, subject, None, None, b"{}"));
}

#[test]
fn clear_and_load_under_a_live_rate_plot_do_not_crash() {
    let _timed = common::timed();
    let mut app = app(View::Traffic);
    for i in 0..40 {
        record_now(&mut app, &format!("busy.{i}.x"));
    }
    let mut h = harness(app);
    // The plot picks its busiest subjects once a second: let it.
    std::thread::sleep(Duration::from_millis(1100));
    h.run_steps(3);
    h.key_press_modifiers(Modifiers::COMMAND, Key::L);
    h.run_steps(3);
    assert_eq!(h.state().session.store.len(), 0);
    record_now(h.state_mut(), "after.clear");
    h.run_steps(3);

    // Loading a capture clears the same way first.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.jsonl");
    common::write_capture_file(&path, &[Record::new(1, 0, "loaded.one", None, None, b"1")]);
    h.state_mut().load_capture(path);
    step_until(&mut h, "the capture to load", |h| {
        h.state()
            .session
            .store
            .iter()
            .any(|(_, r)| r.subject() == "loaded.one")
    });
    h.run_steps(3);
}

#[test]
fn end_follows_the_newest_rows_again_after_pause_and_moving() {
    let _timed = common::timed();
    let mut app = app(View::Traffic);
    for i in 0..300 {
        record(&mut app, &format!("row.{i}"), "{}", &[]);
    }
    let mut h = harness(app);
    h.run_steps(3);
    h.key_press(Key::Space);
    h.run_steps(1);
    for _ in 0..3 {
        h.key_press(Key::J);
        h.run_steps(1);
    }
    assert!(
        h.query_by_label("row.299").is_none(),
        "moved away from the end"
    );
    h.key_press(Key::End);
    h.run_steps(3);
    assert!(!h.state().traffic.is_paused());
    assert!(
        h.query_by_label("row.299").is_some(),
        "End shows the newest row"
    );
    record(h.state_mut(), "row.300", "{}", &[]);
    h.run_steps(3);
    assert!(h.query_by_label("row.300").is_some(), "and keeps following");
}

#[test]
fn without_a_file_dialog_a_path_field_takes_its_place() {
    let _timed = common::timed();
    // No desktop portal answers here (no session bus), as on a minimal
    // window manager: the dialog returns at once, and the app must say so
    // and ask for a path instead of doing nothing.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("typed.jsonl");
    common::write_capture_file(&path, &[Record::new(1, 0, "typed.path", None, None, b"1")]);

    let mut h = harness(app(View::Traffic));
    h.run_steps(2);
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Load capture…").click();
    step_until(&mut h, "the path field", |h| {
        h.query_by_label("File path").is_some()
    });
    assert!(
        h.query_by_label_contains("No file dialog could be shown")
            .is_some()
    );
    common::ui::open_typed_path(&mut h, &path, "typed.path");
}

#[test]
fn a_secret_kept_in_the_keyring_never_reaches_the_state_file() {
    let _timed = common::timed();
    use eventscope::broker::{Auth, ConnectionProfile, SecretStorage};
    // Profiles are saved (and their secrets kept) once they connect.
    let server = common::server_with_config(Some("authorization { token: \"tok-7c1d\" }\n"));
    let mut profile = ConnectionProfile::new("keyring-test", server.url());
    profile.auth = Auth::Token {
        token: "tok-7c1d".into(),
    };
    profile.secret_storage = SecretStorage::Keyring;
    let mut app = app(View::Connections);
    app.connect(profile);
    assert!(
        app.saved_profiles
            .iter()
            .all(|p| !serde_json::to_string(&p.for_storage())
                .expect("json")
                .contains("tok-7c1d")),
        "the state file never holds a keyring secret"
    );
    let mut h = harness(app);
    // Either the keyring took it, or the app says it could not, with the
    // way out; never silence.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        h.run_steps(1);
        if let Some(notice) = &h.state().notice {
            assert_eq!(
                notice.kind,
                eventscope::ui::NoticeKind::Problem,
                "{notice:?}"
            );
            let notice = &notice.text;
            assert!(notice.contains("was not remembered"), "{notice}");
            assert!(notice.contains("in plain text"), "{notice}");
            break;
        }
        if let Ok(Some(secret)) = eventscope::app::keyring_load("keyring-test") {
            assert_eq!(secret, "tok-7c1d");
            eventscope::app::keyring_forget("keyring-test");
            break;
        }
        assert!(Instant::now() < deadline, "neither kept nor reported");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_connection_that_never_comes_up_is_not_saved() {
    let _timed = common::timed();
    use eventscope::broker::ConnectionProfile;
    let server = common::server();
    let mut app = app(View::Connections);
    let dead = format!(
        "nats://127.0.0.1:{}",
        eventscope::demo::free_port().expect("port")
    );
    app.connect(ConnectionProfile::new("never-up", dead));
    app.connect(ConnectionProfile::new("comes-up", server.url()));
    let mut h = harness(app);
    step_until(&mut h, "the live connection to be saved", |h| {
        h.state()
            .saved_profiles
            .iter()
            .any(|p| p.name == "comes-up")
    });
    h.run_steps(5);
    assert!(
        !h.state()
            .saved_profiles
            .iter()
            .any(|p| p.name == "never-up"),
        "an attempt that never connected was saved"
    );
}

#[test]
fn loading_a_capture_asks_before_losing_unsaved_work_and_never_mixes_in_live_traffic() {
    let _timed = common::timed();
    let server = common::server();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.jsonl");
    common::write_capture_file(&path, &[Record::new(1, 0, "from.file", None, None, b"1")]);
    let mut h = common::ui::connected(&server, View::Traffic, true);
    let rt = common::runtime();
    let client = rt.block_on(common::client(&server));
    let publish = |subject: &'static str| {
        rt.block_on(async {
            client.publish(subject, "x".into()).await.expect("publish");
            client.flush().await.expect("flush");
        })
    };
    publish("live.before");
    step_until(&mut h, "the live message", |h| {
        h.state()
            .session
            .store
            .iter()
            .any(|(_, r)| r.subject() == "live.before")
    });
    let open_load = |h: &mut Harness<'static, EventscopeApp>| {
        h.get_by_label("File").click();
        h.run_steps(2);
        h.get_by_label("Load capture…").click();
        h.run_steps(2);
    };
    // Asked first; Cancel keeps everything.
    open_load(&mut h);
    assert!(h.query_by_label_contains("are not saved").is_some());
    assert!(h.query_by_label_contains("Live capture stops").is_some());
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert!(
        h.state()
            .session
            .store
            .iter()
            .any(|(_, r)| r.subject() == "live.before")
    );
    assert_eq!(h.state().session.profiles()[0].1.subscriptions.len(), 1);
    // Replace: live capture stops, and the file is shown alone.
    open_load(&mut h);
    h.get_by_label("Replace").click();
    step_until(&mut h, "the path field", |h| {
        h.query_by_label("File path").is_some()
    });
    assert!(
        h.state()
            .session
            .profiles()
            .iter()
            .all(|(_, p)| p.subscriptions.is_empty()),
        "live capture stopped"
    );
    common::ui::open_typed_path(&mut h, &path, "from.file");
    publish("live.after");
    std::thread::sleep(Duration::from_millis(300));
    h.run_steps(5);
    let subjects: Vec<String> = h
        .state()
        .session
        .store
        .iter()
        .map(|(_, r)| r.subject().to_owned())
        .collect();
    assert_eq!(subjects, ["from.file"]);
}

#[test]
fn long_names_never_push_the_panels_off_screen() {
    let _timed = common::timed();
    let mut app = app(View::Traffic);
    let token = "t".repeat(250);
    let reply = format!("_INBOX.{}", "r".repeat(157));
    let connection = app.session.store.intern_connection("test");
    app.session.store.push(Record::new(
        1_795_352_350_000_000_000,
        connection,
        &format!("orders.{token}"),
        Some(&reply),
        None,
        b"{}",
    ));
    app.traffic.selected = Some(app.session.store.first_seq());
    let mut h = harness(app);
    h.run_steps(4);
    // The tree shows the token cut, the whole on hover.
    let cut = format!("{}…", "t".repeat(40));
    let node = h.get_by_label(&cut);
    assert!(node.rect().width() < 600.0, "{:?}", node.rect());
    // The inspector's reply row stays inside the window.
    for label in h.query_all_by_label_contains("_INBOX.rrrr") {
        assert!(label.rect().right() <= 1500.0 + 1.0, "{:?}", label.rect());
    }
    assert!(
        h.query_by_label("Reply to")
            .expect("the inspector")
            .rect()
            .right()
            < 1500.0
    );
}

/// Every view has its number key, in the tab bar's order; `?` lists the
/// shortcuts (the same list the README's table is made from).
#[test]
fn number_keys_follow_the_tab_bar_and_question_mark_lists_them() {
    let _timed = common::timed();
    let mut h = harness(app(View::Traffic));
    h.run_steps(2);
    for (n, view) in View::ALL.iter().enumerate() {
        h.key_press(eventscope::ui::VIEW_KEYS[n]);
        h.run_steps(2);
        assert_eq!(h.state().view, *view, "key {}", n + 1);
    }
    h.key_press(egui::Key::Questionmark);
    h.run_steps(2);
    assert!(h.query_by_label("Keyboard shortcuts").is_some());
    assert!(h.query_by_label("Show the Services view").is_some());
}
