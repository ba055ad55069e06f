//! Comparing: two messages a real client published (the later one
//! against the previous on its subject: a header and payload fields by
//! path), what is shown against a capture file (egui_kittest), and two
//! captures on the command line.

use crate::common;

use common::ui::step_until;
use egui_kittest::kittest::Queryable;
use eventscope::capture::Record;
use eventscope::ui::View;

#[test]
fn a_message_is_compared_with_the_previous_and_the_shown_with_a_capture() {
    let _timed = common::timed();
    let server = common::server();
    let mut h = common::ui::connected(&server, View::Traffic, true);
    let rt = common::runtime();
    rt.block_on(async {
        let client = common::client(&server).await;
        for (id, body) in [
            (
                "evt-1",
                r#"{"order":"ord-1","total":10,"items":[{"qty":1}]}"#,
            ),
            (
                "evt-2",
                r#"{"items":[{"qty":3}],"order":"ord-1","total":12,"note":"gift"}"#,
            ),
        ] {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("ce-id", id);
            client
                .publish_with_headers("orders.updated", headers, body.into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    });
    step_until(&mut h, "both stored", |h| {
        h.state().session.store.len() == 2
    });
    let newest = h.state().session.store.end_seq() - 1;
    h.state_mut().traffic.selected = Some(newest);
    h.run_steps(2);
    h.get_by_label("Compare with").click();
    h.run_steps(2);
    h.get_by_label("the previous on this subject").click();
    step_until(&mut h, "the message diff", |h| {
        h.query_by_label("Message diff").is_some()
    });
    for path in [".items[0].qty", ".total", ".note"] {
        assert!(h.query_by_label(path).is_some(), "{path} named");
    }
    // The inspector names the header too; the diff adds its own row.
    assert_eq!(
        h.query_all_by_label("ce-id").count(),
        2,
        "the header that differs"
    );
    assert!(h.query_by_label("Payload: 3 differences").is_some());

    h.state_mut().message_diff = None;
    h.run_steps(2);
    // What is shown against a capture with another subject.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("before.jsonl");
    common::write_capture_file(
        &path,
        &[
            Record::new(
                1,
                0,
                "orders.updated",
                None,
                None,
                br#"{"order":"ord-0","total":1}"#,
            ),
            Record::new(2, 0, "orders.cancelled", None, None, b"{}"),
        ],
    );
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Compare with a capture file…").click();
    step_until(&mut h, "the path field", |h| {
        h.query_by_label("File path").is_some()
    });
    h.get_by_label("File path").focus();
    h.run_steps(1);
    h.get_by_label("File path")
        .type_text(path.to_str().unwrap());
    h.run_steps(1);
    h.get_by_label("Open").click();
    step_until(&mut h, "the capture diff", |h| {
        h.query_by_label("0 subjects appeared, 1 vanished, 1 changed, 0 the same")
            .is_some()
    });
    assert!(h.query_by_label("vanished").is_some());
    assert!(h.query_by_label("orders.cancelled").is_some());
    assert!(
        h.query_by_label_contains("+.items[].qty").is_some(),
        "a field that appeared"
    );
}

#[test]
fn the_diff_command_compares_two_captures_per_subject() {
    let _timed = common::timed();
    let dir = tempfile::tempdir().expect("dir");
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    common::write_capture_file(
        &a,
        &[
            Record::new(1, 0, "orders.created", None, None, br#"{"id":1}"#),
            Record::new(2, 0, "legacy.ping", None, None, b"ping"),
        ],
    );
    common::write_capture_file(
        &b,
        &[
            Record::new(
                1,
                0,
                "orders.created",
                None,
                None,
                br#"{"id":1,"channel":"web"}"#,
            ),
            Record::new(
                2,
                0,
                "orders.created",
                None,
                None,
                br#"{"id":2,"channel":"app"}"#,
            ),
            Record::new(3, 0, "payments.done", None, None, b"{}"),
        ],
    );
    let out = common::eventscope(&["diff", a.to_str().unwrap(), b.to_str().unwrap(), "--json"]);
    let rows = common::json_lines(&out);
    let by = |s: &str| rows.iter().find(|r| r["subject"] == s).expect(s).clone();
    assert_eq!(by("legacy.ping")["status"], "vanished");
    assert_eq!(by("payments.done")["status"], "appeared");
    let orders = by("orders.created");
    assert_eq!(orders["status"], "changed");
    assert_eq!(
        (orders["before"].as_u64(), orders["after"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(orders["fields_appeared"], serde_json::json!([".channel"]));
}
