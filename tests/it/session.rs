//! The GUI's monitoring core (broker -> batches -> store) against a real
//! server: restarts, eviction under a small budget, subscriptions at runtime.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventscope::broker::{ConnectionProfile, LinkState, SubscriptionSpec};
use eventscope::capture::ConnectionKey;
use eventscope::session::Session;

fn monitor(budget: usize) -> Session {
    Session::new(Arc::new(|| {}), budget).expect("runtime starts")
}

fn wait_state(m: &mut Session, key: ConnectionKey, what: &str, check: impl Fn(&LinkState) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        m.drain(Duration::from_millis(5));
        let state = m.shared(key).expect("connection").state();
        if check(&state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for {what}, state is {state:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Poll the connection's subscription list until `check` holds.
fn wait_subscription(
    m: &Session,
    key: ConnectionKey,
    what: &str,
    check: impl Fn(&[eventscope::broker::SubscriptionState]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check(&m.shared(key).expect("conn").status().subscriptions) {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_records(m: &mut Session, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while m.store.len() < n {
        m.drain(Duration::from_millis(5));
        assert!(
            Instant::now() < deadline,
            "waiting for {n} records, have {}; dropped {}; statuses {:?}",
            m.store.len(),
            m.dropped_by_clients(),
            m.profiles()
                .iter()
                .filter_map(|(k, _)| m.shared(*k).map(|s| (s.state(), s.status().server_errors)))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn publish(
    rt: &tokio::runtime::Runtime,
    client: &async_nats::Client,
    subject: &str,
    range: std::ops::Range<u32>,
) {
    rt.block_on(async {
        for i in range {
            client
                .publish(subject.to_owned(), Bytes::from(i.to_string()))
                .await
                .expect("publish");
        }
        tokio::time::timeout(Duration::from_secs(10), client.flush())
            .await
            .expect("flush in time")
            .expect("flush");
    });
}

#[test]
fn capture_survives_a_server_restart_and_shows_the_gap() {
    let _timed = common::timed();
    let mut server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(common::client(&server));
    let mut m = monitor(usize::MAX);
    let key = m.connect(ConnectionProfile::new("restart", server.url()));
    wait_state(&mut m, key, "connected", LinkState::is_connected);

    publish(&rt, &client, "before", 0..100);
    wait_records(&mut m, 100);

    server.kill();
    wait_state(&mut m, key, "reconnecting", |s| {
        matches!(s, LinkState::Reconnecting { .. })
    });
    server.restart().expect("server restarts on the same port");
    wait_state(&mut m, key, "connected again", LinkState::is_connected);
    // The publisher reconnects on its own schedule; what it sends before
    // it has is not ours to count (on a loaded machine it once was late).
    common::wait_for("the publisher reconnected", Duration::from_secs(20), || {
        client.connection_state() == async_nats::connection::State::Connected
    });

    publish(&rt, &client, "after", 100..200);
    wait_records(&mut m, 200);

    let subjects: Vec<(String, String)> = m
        .store
        .iter()
        .map(|(_, r)| {
            (
                r.subject().to_string(),
                String::from_utf8_lossy(r.payload()).into_owned(),
            )
        })
        .collect();
    for (i, (subject, payload)) in subjects.iter().enumerate() {
        assert_eq!(subject, if i < 100 { "before" } else { "after" });
        assert_eq!(payload, &i.to_string(), "nothing lost or reordered");
    }
    let gaps = m.store.gaps();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let to = gaps[0].to.expect("gap closed");
    assert!(to >= gaps[0].from);
    assert_eq!(m.dropped_by_clients(), 0);
}

#[test]
fn small_budget_evicts_oldest_with_honest_counters() {
    let _timed = common::timed();
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(common::client(&server));
    let budget = 64 * 1024;
    let mut m = monitor(budget);
    let key = m.connect(ConnectionProfile::new("budget", server.url()));
    wait_state(&mut m, key, "connected", LinkState::is_connected);

    rt.block_on(async {
        for i in 0..5000u32 {
            client
                .publish("fill", Bytes::from(vec![(i % 251) as u8; 200]))
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while m.store.counters().captured < 5000 {
        m.drain(Duration::from_millis(5));
        assert!(
            Instant::now() < deadline,
            "captured {:?}",
            m.store.counters()
        );
    }
    let c = m.store.counters();
    assert_eq!(c.captured, 5000);
    assert!(m.store.bytes_used() <= budget);
    assert_eq!(c.evicted + m.store.len() as u64, 5000);
    assert!(c.evicted > 4000, "{c:?}");
    // The newest survive, in order.
    let last = m.store.latest().expect("records");
    assert_eq!(last.payload()[0], (4999 % 251) as u8);
    assert_eq!(m.store.subjects().node(0).messages, 5000);
}

#[test]
fn subscriptions_change_at_runtime() {
    let _timed = common::timed();
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(common::client(&server));
    let mut m = monitor(usize::MAX);
    let mut profile = ConnectionProfile::new("subs", server.url());
    profile.subscriptions = vec![SubscriptionSpec::new("a.*")];
    let key = m.connect(profile);
    wait_state(&mut m, key, "connected", LinkState::is_connected);

    m.subscribe(key, SubscriptionSpec::new("b.>"), false)
        .expect("command sent");
    wait_subscription(&m, key, "b.> never became active", |subs| {
        subs.iter().any(|s| s.pattern == "b.>" && s.active)
    });
    rt.block_on(client.flush()).expect("flush");
    std::thread::sleep(Duration::from_millis(100));
    publish(&rt, &client, "a.1", 0..1);
    publish(&rt, &client, "b.1.2", 0..1);
    publish(&rt, &client, "c", 0..1);
    wait_records(&mut m, 2);

    m.unsubscribe(key, "a.*").expect("command sent");
    wait_subscription(&m, key, "a.* never went away", |subs| {
        !subs.iter().any(|s| s.pattern == "a.*")
    });
    std::thread::sleep(Duration::from_millis(100));
    publish(&rt, &client, "a.2", 0..1);
    publish(&rt, &client, "b.2", 0..1);
    wait_records(&mut m, 3);
    std::thread::sleep(Duration::from_millis(200));
    m.drain(Duration::from_millis(50));
    // Two subscriptions are two streams: order holds within each only.
    let mut subjects: Vec<String> = m
        .store
        .iter()
        .map(|(_, r)| r.subject().to_string())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["a.1", "b.1.2", "b.2"]);
}

#[test]
fn literal_subscription_to_a_push_deliver_subject_needs_confirmation() {
    let _timed = common::timed();
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(common::client(&server));
    rt.block_on(async {
        let stream = common::orders_stream(&client).await;
        stream
            .create_consumer(async_nats::jetstream::consumer::push::Config {
                durable_name: Some("mailer".into()),
                deliver_subject: "deliver.mailer".into(),
                ..Default::default()
            })
            .await
            .expect("push consumer");
    });
    let mut m = monitor(usize::MAX);
    let key = m.connect(ConnectionProfile::new("literal", server.url()));
    wait_state(&mut m, key, "connected", LinkState::is_connected);
    m.subscribe(key, SubscriptionSpec::new("deliver.mailer"), false)
        .expect("sent");
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.pending_confirms.is_empty() {
        m.drain(Duration::from_millis(5));
        assert!(Instant::now() < deadline, "no confirmation asked");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(m.pending_confirms[0].consumer, "ORDERS/mailer");
    let subs = m.shared(key).expect("conn").status().subscriptions;
    assert!(
        !subs.iter().any(|s| s.pattern == "deliver.mailer"),
        "{subs:?}"
    );
    // A wildcard over the same subject is safe and needs no confirmation.
    m.subscribe(key, SubscriptionSpec::new("deliver.*"), false)
        .expect("sent");
    wait_subscription(&m, key, "deliver.* not active", |subs| {
        subs.iter().any(|s| s.pattern == "deliver.*" && s.active)
    });
    assert_eq!(m.pending_confirms.len(), 1);
}

#[test]
fn trace_who_receives_a_record_without_delivering_it() {
    let _timed = common::timed();
    use futures_util::StreamExt;
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let named = |name: &'static str| rt.block_on(common::named_client(&server, name));
    let audit = named("audit");
    let billing_1 = named("billing-1");
    let billing_2 = named("billing-2");
    let publisher = named("order-service");
    let (mut audit_sub, _b1, _b2) = rt.block_on(async {
        common::orders_stream(&publisher).await;
        let a = audit.subscribe("orders.*").await.expect("sub");
        let b1 = billing_1
            .queue_subscribe("orders.created", "billing".into())
            .await
            .expect("sub");
        let b2 = billing_2
            .queue_subscribe("orders.created", "billing".into())
            .await
            .expect("sub");
        for c in [&audit, &billing_1, &billing_2] {
            c.flush().await.expect("flush");
        }
        (a, b1, b2)
    });
    let mut m = monitor(usize::MAX);
    let key = m.connect(ConnectionProfile::new("tracer", server.url()));
    wait_state(&mut m, key, "connected", LinkState::is_connected);
    publish(&rt, &publisher, "orders.created", 0..1);
    wait_records(&mut m, 1);
    let seq = m.store.first_seq();

    let answer = m.trace(seq).expect("trace sent");
    let events = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), answer).await })
        .expect("answered in time")
        .expect("sender kept")
        .expect("trace events");
    let flow = eventscope::flow::trace_flow("orders.created", &events, 0);
    let lanes = flow.detail().lane_names();
    assert!(lanes[0].starts_with("eventscope:tracer (cid"), "{lanes:?}");
    assert!(
        lanes.iter().any(|l| l.starts_with("audit (cid")),
        "{lanes:?}"
    );
    assert!(lanes.iter().any(|l| l.starts_with("billing-")), "{lanes:?}");
    assert!(lanes.contains(&"ORDERS"), "{lanes:?}");
    let labels = flow.detail().step_labels();
    assert!(
        labels.contains(&"would deliver (sub orders.*)"),
        "{labels:?}"
    );
    assert!(
        labels.contains(&"would deliver (sub orders.created, queue billing)"),
        "{labels:?}"
    );
    assert_eq!(
        labels
            .iter()
            .filter(|l| l.contains("queue billing"))
            .count(),
        1,
        "one queue member is picked"
    );

    // Trace-only: the audit subscriber got the original and nothing more.
    rt.block_on(async {
        audit_sub.next().await.expect("the original");
        let more = tokio::time::timeout(Duration::from_millis(300), audit_sub.next()).await;
        assert!(more.is_err(), "the traced copy must not be delivered");
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while m.dropped_by_clients() != 0 {
        assert!(
            Instant::now() < deadline,
            "trace replies are not counted as losses"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_servers_connection_list_names_requesters_responders_and_pull_workers() {
    let _timed = common::timed();
    connection_list_names(true);
}

/// Without a monitoring URL, the names come from every server's
/// `$SYS.REQ.*.PING.CONNZ` (here the account-scoped one: no system user).
#[test]
fn without_a_monitoring_url_the_names_come_from_account_connz_over_nats() {
    let _timed = common::timed();
    connection_list_names(false);
}

fn connection_list_names(monitoring_url: bool) {
    use async_nats::jetstream::{self, consumer::pull, stream};
    use futures_util::StreamExt;
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let named = |name: &'static str| rt.block_on(common::named_client(&server, name));
    let pricing = named("pricing");
    let checkout = named("checkout");
    let worker = named("worker-conn");
    let mut m = monitor(usize::MAX);
    let mut profile = ConnectionProfile::new("ids", server.url());
    if monitoring_url {
        profile.monitoring_url = Some(server.monitoring_url());
    }
    let key = m.connect(profile);
    wait_state(&mut m, key, "connected", LinkState::is_connected);

    let (consumer, _service) = rt.block_on(async {
        let mut service = pricing.subscribe("svc.quote").await.expect("sub");
        let responder = pricing.clone();
        let task = tokio::spawn(async move {
            while let Some(request) = service.next().await {
                if let Some(reply) = request.reply {
                    responder.publish(reply, "42".into()).await.expect("reply");
                }
            }
        });
        pricing.flush().await.expect("flush");
        // The test needs one answered request. Under artificial load (two
        // CPU hogs beside all seven tests and their servers on 2 cores) a
        // first request went unanswered once in ~20 runs, even with 60 s to
        // wait; not reproduced otherwise, so a second try is allowed.
        let mut answered = false;
        for _ in 0..2 {
            if checkout.request("svc.quote", "{}".into()).await.is_ok() {
                answered = true;
                break;
            }
        }
        assert!(answered, "svc.quote answered one of two requests");
        let js = jetstream::new(worker.clone());
        let s = js
            .create_stream(stream::Config {
                name: "JOBS".into(),
                subjects: vec!["jobs.>".into()],
                ..Default::default()
            })
            .await
            .expect("stream");
        let consumer: jetstream::consumer::PullConsumer = s
            .create_consumer(pull::Config {
                durable_name: Some("runner".into()),
                ..Default::default()
            })
            .await
            .expect("consumer");
        js.publish("jobs.one", "job".into())
            .await
            .expect("publish")
            .await
            .expect("ack");
        (consumer, task)
    });
    // A long pull keeps the worker's inbox subscribed while the list is read.
    let pull = rt.spawn(async move {
        let mut batch = consumer
            .batch()
            .max_messages(2)
            .expires(Duration::from_secs(8))
            .messages()
            .await
            .expect("pull");
        while let Some(Ok(message)) = batch.next().await {
            message.ack().await.expect("ack");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let (request, job) = loop {
        m.drain(Duration::from_millis(5));
        let directory = m.shared(key).expect("conn").directory().map(|(d, _)| d);
        let found = directory.as_ref().and_then(|d| {
            let request = m.flows.flows().find(|f| f.subject == "svc.quote")?;
            let job = m
                .flows
                .flows()
                .find(|f| f.subject == "jobs.one" && !f.detail().deliveries.is_empty())?;
            let pulls = |s: &str, c: &str| {
                m.flows
                    .pull_inboxes(s, c)
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            };
            let request = eventscope::flow::annotate(request, d, pulls);
            let job = eventscope::flow::annotate(job, d, pulls);
            let named = job
                .detail()
                .lanes
                .iter()
                .any(|l| l.name.starts_with("runner · "))
                && request
                    .detail()
                    .lanes
                    .iter()
                    .any(|l| l.name.contains("checkout"));
            named.then_some((request, job))
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "the connection list never named them: {:?}",
            m.shared(key).expect("conn").directory_error()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let lanes = request.detail().lane_names();
    assert!(lanes[0].starts_with("checkout (cid "), "{lanes:?}");
    assert!(
        lanes[1].starts_with("svc.quote (pricing (cid "),
        "{lanes:?}"
    );
    let consumer_lane = job
        .detail()
        .lanes
        .iter()
        .find(|l| l.name.starts_with("runner"))
        .expect("consumer lane");
    assert!(
        consumer_lane.name.starts_with("runner · worker-conn (cid "),
        "{}",
        consumer_lane.name
    );
    pull.abort();
}

#[test]
fn when_the_client_falls_behind_the_drop_count_is_exactly_what_was_lost() {
    let _timed = common::timed();
    // The client is made slow on purpose; the server must not cut it off
    // as a slow consumer of its own (on a loaded machine it did, once, and
    // what it dropped then never reached the client to be counted).
    let server = common::server_with_config(Some("write_deadline: \"120s\"\nmax_pending: 1GB"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(common::client(&server));
    let mut m = monitor(usize::MAX);
    // No disk to wait on: what does not fit in memory is dropped.
    m.set_spool_budget(0);
    let mut profile = ConnectionProfile::new("slow", server.url());
    profile.subscriptions = vec![SubscriptionSpec::new("flood.>")];
    profile.subscription_capacity = Some(256);
    let key = m.connect(profile);
    wait_state(&mut m, key, "connected", LinkState::is_connected);

    // Nobody drains for a while: our batch channel fills, then the
    // client's small subscription buffer, and the client has to drop.
    let sent: u64 = 300_000;
    rt.block_on(async {
        for i in 0..sent {
            client
                .publish("flood.x", Bytes::from(i.to_string()))
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    });
    std::thread::sleep(Duration::from_millis(500));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        m.drain(Duration::from_millis(20));
        let shared = m.shared(key).expect("conn");
        let read = shared.in_messages();
        let settled = read == sent && m.store.counters().captured + m.dropped_by_clients() == sent;
        if settled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "read {read} of {sent}, captured {}, dropped {}; link {:?}, server errors {:?}",
            m.store.counters().captured,
            m.dropped_by_clients(),
            shared.state(),
            shared.status().server_errors
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let dropped = m.dropped_by_clients();
    assert!(dropped > 0, "the test must make the client drop");
    assert_eq!(
        m.store.counters().captured + dropped,
        sent,
        "every message is captured or counted as dropped"
    );
    assert!(m.shared(key).expect("conn").status().slow_consumer_events > 0);
}

#[test]
fn the_backlog_counts_what_was_read_but_not_yet_stored() {
    let _timed = common::timed();
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(common::client(&server));
    let mut m = monitor(usize::MAX);
    let mut profile = ConnectionProfile::new("lagging", server.url());
    profile.subscriptions = vec![SubscriptionSpec::new("lag.>")];
    let key = m.connect(profile);
    wait_state(&mut m, key, "connected", LinkState::is_connected);
    // Nobody drains: everything read waits.
    publish(&rt, &client, "lag.x", 0..500);
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.shared(key).expect("conn").in_messages() < 500 {
        assert!(Instant::now() < deadline, "the link read them");
        std::thread::sleep(Duration::from_millis(10));
    }
    let now = eventscope::capture::now_timestamp();
    assert_eq!(m.backlog(now).messages, 500);
    wait_records(&mut m, 500);
    assert_eq!(m.backlog(now).messages, 0);
    assert!(m.network_rate() >= 0.0);
}
