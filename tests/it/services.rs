//! NATS micro services, built in the test with async-nats' service API
//! (two instances mid-rollout, one endpoint that fails on bad input),
//! seen as they describe themselves: `services --json` and its table, and
//! the Services view (egui_kittest), whose Request… button opens the
//! publish form on the endpoint.

use std::time::Duration;

use crate::common;

use async_nats::service::ServiceExt;
use common::ui::step_until;
use egui_kittest::kittest::Queryable;
use eventscope::ui::{PublishMode, View};
use futures_util::StreamExt;

/// Two instances of `orders` (2.1.0 and 2.2.0) with `create` (a payload
/// saying "bad" is refused with a service error) and `cancel` (queue
/// group `cancellers`), each sent requests: 4 creates of which 1 bad, 1
/// cancel. The services keep running while the returned guard lives.
fn orders_service(
    rt: &tokio::runtime::Runtime,
    server: &common::LocalServer,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for version in ["2.1.0", "2.2.0"] {
        let client = rt.block_on(common::client(server));
        let service = rt
            .block_on(
                client
                    .service_builder()
                    .description("takes orders")
                    .start("orders", version),
            )
            .expect("service starts");
        let create = rt
            .block_on(
                service
                    .endpoint_builder()
                    .name("create")
                    .add("orders.create"),
            )
            .expect("endpoint");
        let cancel = rt
            .block_on(
                service
                    .endpoint_builder()
                    .name("cancel")
                    .queue_group("cancellers")
                    .add("orders.cancel"),
            )
            .expect("endpoint");
        tasks.push(rt.spawn(async move {
            let _service = service;
            let mut requests = futures_util::stream::select(create, cancel);
            while let Some(request) = requests.next().await {
                let answer = if request.message.payload.as_ref() == b"bad" {
                    Err(async_nats::service::error::Error {
                        code: 400,
                        status: "bad order".into(),
                    })
                } else {
                    Ok("ok".into())
                };
                let _ = request.respond(answer).await;
            }
        }));
    }
    let client = rt.block_on(common::client(server));
    rt.block_on(async {
        for payload in ["a", "b", "bad", "c"] {
            client
                .request("orders.create", payload.into())
                .await
                .expect("answered");
        }
        client
            .request("orders.cancel", "a".into())
            .await
            .expect("answered");
    });
    tasks
}

#[test]
fn services_are_listed_with_instances_endpoints_and_errors_on_the_command_line() {
    let _timed = common::timed();
    let server = common::server();
    let url = server.url();
    let none = common::eventscope(&["services", "--json", "--server", &url]);
    assert!(none.stdout.is_empty(), "no service yet");
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no micro service answered $SRV.PING"),
        "an empty answer is said"
    );
    let rt = common::runtime();
    let _services = orders_service(&rt, &server);
    let output = common::eventscope(&["services", "--json", "--server", &url]);
    let services = common::json_lines(&output);
    assert_eq!(services.len(), 1, "{services:?}");
    let orders = &services[0];
    assert_eq!(orders["name"], "orders");
    assert_eq!(orders["versions"], serde_json::json!(["2.1.0", "2.2.0"]));
    let instances = orders["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 2);
    let sum = |endpoint: &str, field: &str| -> u64 {
        instances
            .iter()
            .flat_map(|i| i["endpoints"].as_array().expect("endpoints"))
            .filter(|e| e["name"] == endpoint)
            .map(|e| e[field].as_u64().expect("a count"))
            .sum()
    };
    assert_eq!(sum("create", "requests"), 4);
    assert_eq!(sum("create", "errors"), 1);
    assert_eq!(sum("cancel", "requests"), 1);
    let cancel = &instances[0]["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .find(|e| e["name"] == "cancel")
        .expect("cancel")
        .clone();
    assert_eq!(cancel["subject"], "orders.cancel");
    assert_eq!(cancel["queue_group"], "cancellers");
    assert_eq!(instances[0]["description"], "takes orders");
    assert!(
        instances
            .iter()
            .flat_map(|i| i["endpoints"].as_array().expect("endpoints"))
            .any(|e| e["last_error"]
                .as_str()
                .is_some_and(|s| s.contains("bad order"))),
        "the last error is kept: {instances:?}"
    );
    let table = common::eventscope(&["services", "--server", &url]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("orders ") && l.contains("2.1.0,2.2.0")),
        "{table}"
    );
    assert!(
        table.contains("subject orders.cancel, queue cancellers"),
        "{table}"
    );
}

#[test]
fn the_services_view_shows_each_service_and_requests_an_endpoint() {
    let _timed = common::timed();
    let server = common::server();
    let rt = common::runtime();
    let _services = orders_service(&rt, &server);
    let mut h = common::ui::connected(&server, View::Services, false);
    step_until(&mut h, "the service's row", |h| {
        h.query_by_label("orders").is_some()
    });
    assert!(h.query_by_label("2.1.0, 2.2.0").is_some(), "both versions");
    assert!(
        h.query_by_label("1 service, 2 instances (asked $SRV.PING, $SRV.INFO and $SRV.STATS)")
            .is_some()
    );
    h.get_by_label("orders").click();
    step_until(&mut h, "the endpoints", |h| {
        h.query_by_label("orders.cancel").is_some()
    });
    assert!(h.query_by_label("cancellers").is_some(), "the queue group");
    assert!(
        h.query_by_label("takes orders").is_some(),
        "the description"
    );
    assert!(
        h.query_all_by_label_contains("bad order").next().is_some(),
        "the last error"
    );
    // Counts refresh while the view is shown: one more failed create.
    rt.block_on(async {
        let client = common::client(&server).await;
        client
            .request("orders.create", "bad".into())
            .await
            .expect("answered");
    });
    std::thread::sleep(Duration::from_millis(100));
    step_until(&mut h, "the new error counted", |h| {
        h.state()
            .services_view()
            .services
            .value
            .as_ref()
            .is_some_and(|s| s[0].errors() == 2)
    });
    // Endpoints by name: `cancel` first.
    h.get_all_by_label("Request…")
        .next()
        .expect("a button")
        .click();
    h.run_steps(3);
    let app = h.state();
    assert_eq!(app.view, View::Publish);
    assert_eq!(app.publish.template.subject, "orders.cancel");
    assert_eq!(app.publish.mode, PublishMode::Request);
}

/// The map draws each micro service as a consumer of its endpoints'
/// subjects, with the requests and errors its instances counted, even
/// where no traffic was watched (the window subscribes to nothing here).
#[test]
fn the_map_draws_each_service_behind_its_endpoints() {
    let _timed = common::timed();
    let server = common::server();
    let rt = common::runtime();
    let _services = orders_service(&rt, &server);
    let mut h = common::ui::connected(&server, View::Map, false);
    step_until(&mut h, "the service's box", |h| {
        h.query_by_label("orders").is_some() && h.query_by_label("orders.create").is_some()
    });
    let map = h.state().current_map();
    let node = |kind, name: &str| map.node_named(kind, name).expect(name);
    let create = node(eventscope::map::NodeKind::Channel, "orders.create");
    let orders = node(eventscope::map::NodeKind::Consumer, "orders");
    let arrow = map
        .edges
        .iter()
        .find(|e| e.from == create && e.to == orders)
        .expect("orders.create -> orders");
    assert_eq!((arrow.messages, arrow.failures), (4, 1), "{arrow:?}");
    let cancel = node(eventscope::map::NodeKind::Channel, "orders.cancel");
    assert!(map.edges.iter().any(|e| e.from == cancel && e.to == orders));
}

/// Services run on one server of a cluster of three; asked through
/// another, every instance still answers (the requests cross routes).
#[test]
fn services_are_found_across_the_cluster() {
    let _timed = common::timed();
    let cluster = common::cluster::start();
    let rt = common::runtime();
    let _services = orders_service(&rt, &cluster.servers[0]);
    let other = cluster.servers[2].url();
    let output = common::eventscope(&["services", "--json", "--server", &other]);
    let services = common::json_lines(&output);
    assert_eq!(services.len(), 1, "{services:?}");
    assert_eq!(services[0]["instances"].as_array().map(Vec::len), Some(2));
}
