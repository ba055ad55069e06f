//! Finding messages: a JSON test that reads JSON and a Protobuf message
//! bound to its subject alike, from a real server's traffic in the Search
//! view (egui_kittest: counts by subject, a match inspected, a search
//! saved); the same query headless over a capture file.

use crate::common;
use common::shop::Order;

use common::ui::{connected_with, replace_text, step_until};
use egui_kittest::kittest::Queryable;
use eventscope::app::AppConfig;
use eventscope::broker::ConnectionProfile;
use eventscope::capture::Record;
use eventscope::decode::SchemaSettings;
use eventscope::ui::View;
use prost::Message as _;

#[test]
fn a_json_test_finds_json_and_bound_protobuf_in_the_search_view() {
    let _timed = common::timed();
    let server = common::server();
    let protos = common::shop::PROTOS;
    let config = AppConfig {
        view: View::Search,
        schemas: SchemaSettings {
            proto_dirs: vec![protos.into()],
            bindings: vec![("orders.pb".into(), "shop.Order".into())],
            ..SchemaSettings::default()
        },
        ..AppConfig::default()
    };
    let mut h = connected_with(config, ConnectionProfile::new("local", server.url()));
    let rt = common::runtime();
    rt.block_on(async {
        let client = common::client(&server).await;
        for n in 40..45 {
            let json = format!(r#"{{"id":"ord-{n}","cents":{}}}"#, n * 100);
            client
                .publish("orders.json", json.into())
                .await
                .expect("publish");
            let order = Order {
                id: format!("ord-{n}"),
                cents: n * 100,
                ..Order::default()
            };
            client
                .publish("orders.pb", order.encode_to_vec().into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    });
    step_until(&mut h, "the traffic stored", |h| {
        h.state().session.store.len() == 10
    });
    replace_text(&mut h, "JSON test", r#".id == "ord-42""#);
    h.get_by_label("Run search").click();
    step_until(&mut h, "the search done", |h| {
        h.query_by_label_contains("2 matches in 10 of 10 messages searched (done)")
            .is_some()
    });
    // Each subject is named in the counts and in its result row.
    assert_eq!(
        h.query_all_by_label("orders.json").count(),
        2,
        "counted by subject"
    );
    assert_eq!(h.query_all_by_label("orders.pb").count(), 2);
    // Numbers compare by value, in both formats.
    replace_text(&mut h, "JSON test", ".cents >= 4300");
    h.get_by_label("Run search").click();
    step_until(&mut h, "the second search", |h| {
        h.query_by_label_contains("4 matches in 10").is_some()
    });
    // A match inspected beside the results.
    h.get_all_by_label("orders.pb")
        .last()
        .expect("a result row")
        .click();
    step_until(&mut h, "the inspector", |h| {
        h.query_by_label("Read as Protobuf shop.Order").is_some()
    });
    // Saved, and run again from its button.
    replace_text(&mut h, "Save as", "big orders");
    h.get_by_label("Save").click();
    h.run_steps(2);
    assert_eq!(h.state_mut().search_view_mut().saved.len(), 1);
    replace_text(&mut h, "JSON test", ".nothing");
    h.get_by_label("big orders").click();
    step_until(&mut h, "the saved search run", |h| {
        h.query_by_label_contains("4 matches in 10").is_some()
    });
    // A test that does not parse says why.
    replace_text(&mut h, "JSON test", "id == 1");
    h.get_by_label("Run search").click();
    step_until(&mut h, "the refusal", |h| {
        h.query_by_label_contains("JSON test: a JSON test starts with a path")
            .is_some()
    });
}

#[test]
fn the_search_command_counts_and_lists_matches_in_a_capture() {
    let _timed = common::timed();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("c.jsonl");
    let records: Vec<Record> = (0..20)
        .map(|n| {
            let subject = if n % 2 == 0 { "orders.a" } else { "orders.b" };
            let json = format!(r#"{{"data":{{"n":{n},"tag":"t{}"}}}}"#, n % 5);
            Record::new(n, 0, subject, None, None, json.as_bytes())
        })
        .collect();
    common::write_capture_file(&path, &records);
    let file = path.to_str().unwrap();
    let counted = common::eventscope(&[
        "search",
        file,
        "--json-test",
        r#".data.tag == "t2""#,
        "--count",
    ]);
    let text = String::from_utf8_lossy(&counted.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["        2  orders.a", "        2  orders.b"],
        "{text}"
    );
    let listed = common::eventscope(&[
        "search",
        file,
        "--subject",
        "orders.a",
        "--regex",
        r#""n":1\d"#,
    ]);
    let rows = common::json_lines(&listed);
    let ns: Vec<i64> = rows
        .iter()
        .map(|r| r["payload_json"]["data"]["n"].as_i64().expect("n"))
        .collect();
    assert_eq!(ns, [10, 12, 14, 16, 18]);
}

/// One event followed across services: three services (their own
/// connections) pass one trace id along; from the first message, Follow
/// finds every hop, and the search's matches become one diagram.
#[test]
fn an_event_is_followed_across_services_into_one_diagram() {
    let _timed = common::timed();
    let server = common::server();
    let mut h = common::ui::connected(&server, View::Traffic, true);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let rt = common::runtime();
    rt.block_on(async {
        for (service, subject, trace_id) in [
            ("checkout", "orders.created", trace),
            ("payments", "payments.charged", trace),
            ("shipping", "shipments.requested", trace),
            (
                "checkout",
                "orders.created",
                "00000000000000000000000000000001",
            ),
        ] {
            let client = async_nats::ConnectOptions::new()
                .name(service)
                .connect(server.url())
                .await
                .expect("connect");
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(
                "traceparent",
                format!("00-{trace_id}-00f067aa0ba902b7-01").as_str(),
            );
            client
                .publish_with_headers(subject, headers, "{}".into())
                .await
                .expect("publish");
            client.flush().await.expect("flush");
        }
    });
    step_until(&mut h, "the four stored", |h| {
        h.state().session.store.len() == 4
    });
    let first = h.state().session.store.first_seq();
    h.state_mut().traffic.selected = Some(first);
    h.run_steps(2);
    h.get_by_label("Follow").click();
    h.run_steps(2);
    h.get_by_label(&format!("trace id {}…", &trace[..24]))
        .click();
    step_until(&mut h, "the hops found", |h| {
        h.query_by_label_contains("3 matches in 4 of 4 messages searched (done)")
            .is_some()
    });
    h.get_by_label("As one sequence diagram").click();
    step_until(&mut h, "the followed diagram", |h| {
        h.query_by_label_contains(&format!("Following trace id {trace}: 3 flows"))
            .is_some()
    });
    let followed = &h.state().flows.followed.as_ref().expect("followed").1;
    let subjects: Vec<String> = followed
        .iter()
        .map(|id| {
            h.state()
                .session
                .flows
                .get(*id)
                .expect("kept")
                .subject
                .clone()
        })
        .collect();
    assert_eq!(
        subjects,
        ["orders.created", "payments.charged", "shipments.requested"]
    );
}
