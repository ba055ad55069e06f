//! The whole cluster from one connection, on a real three-node cluster
//! with a system account: the connect/disconnect/auth-error feed, the
//! connections report across servers and accounts, routes, and a stream's
//! replicas (and the meta group) showing a peer gone when a node stops;
//! what an account without the system account sees instead.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{eventscope, json_lines};
use egui_kittest::kittest::Queryable;
use serde_json::Value;

use common::cluster::with_system_account as cluster;

fn sys(url: &str) -> Vec<String> {
    ["--server", url, "--user", "sys", "--password", "sys"]
        .map(str::to_owned)
        .to_vec()
}

fn run(args: &[&str], with: &[String]) -> std::process::Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(with.iter().map(String::as_str));
    eventscope(&all)
}

/// A client of the APP account named `name`, living on `rt`.
fn named(rt: &tokio::runtime::Runtime, url: &str, name: &str) -> async_nats::Client {
    rt.block_on(
        async_nats::ConnectOptions::new()
            .name(name)
            .user_and_password("app".into(), "app".into())
            .connect(url),
    )
    .expect("client connects")
}

/// A login with a wrong password, on a raw socket (a client library would
/// retry or refuse).
fn bad_login(port_url: &str) {
    let addr = port_url.trim_start_matches("nats://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut info = [0u8; 4096];
    let _ = std::io::Read::read(&mut s, &mut info);
    s.write_all(b"CONNECT {\"verbose\":false,\"user\":\"app\",\"pass\":\"WRONG\",\"name\":\"intruder\"}\r\nPING\r\n")
        .unwrap();
    let _ = std::io::Read::read(&mut s, &mut info);
}

#[test]
fn the_event_feed_shows_a_client_connecting_disconnecting_and_a_failed_login() {
    let _timed = common::timed();
    let cluster = cluster();
    let url = cluster.servers[0].url();
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args(["cluster", "events", "--json"])
        .args(sys(&url))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = stderr.lines();
    let ready = lines.next().expect("a line").expect("text");
    assert!(ready.contains("listening"), "{ready}");
    let (tx, rx) = mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(serde_json::from_str(&line).expect("JSON"));
        }
    });
    // The listener's interest reaches the other servers over their routes
    // some time after it says it listens: until a probe's connect on the
    // far server is heard, an event there could go to no one.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    'heard: loop {
        assert!(
            Instant::now() < deadline,
            "the far server's events never came"
        );
        let probe = named(&rt, &cluster.servers[2].url(), "probe");
        rt.block_on(probe.drain()).unwrap();
        let until = Instant::now() + Duration::from_millis(500);
        while let Ok(e) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            if e["kind"] == "connect" && e["name"] == "probe" {
                break 'heard;
            }
        }
    }
    // A client on another server than the listener's.
    let client = named(&rt, &cluster.servers[2].url(), "svc-orders");
    rt.block_on(client.drain()).unwrap();
    bad_login(&cluster.servers[1].url());
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen: Vec<Value> = Vec::new();
    let wanted = |seen: &[Value], kind: &str, name: &str| {
        seen.iter().any(|e| e["kind"] == kind && e["name"] == name)
    };
    while !(wanted(&seen, "connect", "svc-orders")
        && wanted(&seen, "disconnect", "svc-orders")
        && wanted(&seen, "auth_error", "intruder"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(e) => seen.push(e),
            Err(_) => panic!("not every event came: {seen:?}"),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let connect = seen
        .iter()
        .find(|e| e["kind"] == "connect" && e["name"] == "svc-orders")
        .unwrap();
    assert_eq!(connect["server"], "n2", "the server the client was on");
    assert_eq!(connect["account"], "APP");
    let failed = seen.iter().find(|e| e["kind"] == "auth_error").unwrap();
    assert_eq!(failed["server"], "n1");
    assert_eq!(failed["reason"], "Authentication Failure");

    // Without the system account: said, not an empty feed.
    let output = Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args([
            "cluster",
            "events",
            "--server",
            &url,
            "--user",
            "app",
            "--password",
            "app",
        ])
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("system account"));
}

#[test]
fn the_connections_report_lists_every_servers_clients_with_accounts_busiest_first() {
    let _timed = common::timed();
    let cluster = cluster();
    let rt = std::sync::Arc::new(tokio::runtime::Runtime::new().unwrap());
    let clients: Vec<async_nats::Client> = (0..3)
        .map(|i| named(&rt, &cluster.servers[i].url(), &format!("worker-{i}")))
        .collect();
    // worker-1 publishes steadily while the report takes its two samples.
    let busy = clients[1].clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publishing = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for _ in 0..50 {
                        busy.publish("load.x", "x".into()).await.unwrap();
                    }
                    busy.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
    };
    let url = cluster.servers[0].url();
    let rows = json_lines(&run(
        &["cluster", "connections", "--json", "--sort", "in-msgs"],
        &sys(&url),
    ));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    publishing.join().unwrap();
    let of = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {rows:?}"))
    };
    for i in 0..3 {
        let row = of(&format!("worker-{i}"));
        assert_eq!(row["server"], format!("n{i}"));
        assert_eq!(row["account"], "APP");
        assert_eq!(row["lang"], "rust");
    }
    assert_eq!(rows[0]["name"], "worker-1", "the busiest first: {rows:?}");
    assert!(rows[0]["in_msgs_per_s"].as_f64() > Some(100.0));
    assert!(rows.iter().any(|r| r["account"] == "SYS"), "every account");

    let app = json_lines(&run(
        &["cluster", "connections", "--json", "--account", "APP"],
        &sys(&url),
    ));
    assert!(app.iter().all(|r| r["account"] == "APP"));
    assert!(app.len() >= 3);

    // An account without the system account sees its own connections.
    let own = json_lines(&eventscope(&[
        "cluster",
        "connections",
        "--json",
        "--server",
        &url,
    ]));
    let names: Vec<&str> = own.iter().filter_map(|r| r["name"].as_str()).collect();
    for i in 0..3 {
        assert!(names.contains(&format!("worker-{i}").as_str()), "{names:?}");
    }
    drop(clients);

    let links = json_lines(&run(&["cluster", "links", "--json"], &sys(&url)));
    for server in ["n0", "n1", "n2"] {
        let remotes: Vec<&str> = links
            .iter()
            .filter(|l| l["server"] == server && l["kind"] == "route")
            .filter_map(|l| l["remote"].as_str())
            .collect();
        assert_eq!(
            remotes.iter().filter(|r| r.starts_with('n')).count(),
            remotes.len(),
            "routes name their peers: {remotes:?}"
        );
        assert!(
            remotes.len() >= 2,
            "{server} has routes to both others: {remotes:?}"
        );
    }
}

#[test]
fn a_stopped_node_shows_as_an_offline_replica_of_its_streams_and_the_meta_group() {
    let _timed = common::timed();
    let mut cluster = cluster();
    let url = cluster.servers[0].url();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .user_and_password("app".into(), "app".into())
            .connect(url.clone())
            .await
            .unwrap();
        async_nats::jetstream::new(client)
            .create_stream(async_nats::jetstream::stream::Config {
                name: "ORDERS".into(),
                subjects: vec!["orders.>".into()],
                num_replicas: 3,
                ..Default::default()
            })
            .await
            .expect("an R3 stream");
    });
    let replicas = |with: &[String]| {
        let out = run(&["cluster", "replicas", "--json"], with);
        json_lines(&out).remove(0)
    };
    // While waiting for a change, a refusal counts as "not yet": a node
    // killed leaves the meta group without a leader for a moment.
    let replicas_now = |with: &[String]| {
        let mut args = vec!["cluster", "replicas", "--json"];
        args.extend(with.iter().map(String::as_str));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_eventscope"))
            .args(&args)
            .output()
            .expect("run eventscope");
        if out.status.success() {
            json_lines(&out).into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Null
        }
    };
    let healthy = |v: &Value| {
        v["streams"][0]["peers"].as_array().is_some_and(|p| {
            p.len() == 3
                && p.iter()
                    .all(|p| p["current"] == true && p["offline"] == false)
        })
    };
    common::wait_for("every replica current", Duration::from_secs(20), || {
        healthy(&replicas_now(&sys(&url)))
    });
    let all = replicas(&sys(&url));
    assert_eq!(all["meta"]["peers"].as_array().map(Vec::len), Some(3));
    assert_eq!(all["streams"][0]["account"], "APP");

    cluster.servers[2].kill();
    common::wait_for("n2 seen gone", Duration::from_secs(30), || {
        let v = replicas_now(&sys(&url));
        let gone = |peers: &Value| {
            peers.as_array().is_some_and(|p| {
                p.iter()
                    .any(|p| p["name"] == "n2" && (p["offline"] == true || p["current"] == false))
            })
        };
        gone(&v["meta"]["peers"]) && gone(&v["streams"][0]["peers"])
    });
    // The account's own view (no meta group) shows it too (asked again
    // while the stream elects a leader anew).
    let mut own = Value::Null;
    common::wait_for(
        "n2 gone in the account's view",
        Duration::from_secs(20),
        || {
            own = replicas_now(&["--server".into(), url.clone()]);
            own["streams"][0]["peers"].as_array().is_some_and(|peers| {
                peers
                    .iter()
                    .any(|p| p["name"] == "n2" && (p["offline"] == true || p["current"] == false))
            })
        },
    );
    assert!(own["meta"].is_null(), "{own}");

    // The Cluster view's replicas tab marks it.
    let mut h = common::ui::as_user(&url, "sys", eventscope::ui::View::Servers);
    common::ui::step_until(&mut h, "the tabs", |h| {
        h.query_by_label("Meta group & replicas").is_some()
    });
    h.get_by_label("Meta group & replicas").click();
    common::ui::step_until(&mut h, "n2 marked gone", |h| {
        h.query_all_by_label_contains("n2 OFFLINE").next().is_some()
            || h.query_all_by_label_contains("n2 LAGGING").next().is_some()
    });
    assert!(
        h.query_by_label_contains("1 with replicas behind or offline")
            .is_some()
    );
}

#[test]
fn the_cluster_view_shows_connections_and_a_client_coming_and_going() {
    let _timed = common::timed();
    let cluster = cluster();
    let url = cluster.servers[0].url();
    let mut h = common::ui::as_user(&url, "sys", eventscope::ui::View::Servers);
    common::ui::step_until(&mut h, "what the connection sees", |h| {
        h.query_by_label_contains("✔ system account").is_some()
    });
    assert!(
        h.state().cluster_view().events.running,
        "the event feed listens"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = named(&rt, &cluster.servers[1].url(), "svc-billing");
    h.get_by_label("Client connections").click();
    common::ui::step_until(&mut h, "the client in the report", |h| {
        h.query_by_label("svc-billing").is_some()
    });
    rt.block_on(client.drain()).unwrap();
    h.get_by_label("Events").click();
    common::ui::step_until(&mut h, "its connect and disconnect", |h| {
        h.state()
            .cluster_view()
            .events
            .events
            .items()
            .iter()
            .filter(|e| e.name == "svc-billing")
            .count()
            == 2
    });
    let kinds: Vec<&str> = h
        .state()
        .cluster_view()
        .events
        .events
        .items()
        .iter()
        .filter(|e| e.name == "svc-billing")
        .map(|e| e.kind.label())
        .collect();
    assert_eq!(kinds, ["connect", "disconnect"]);
}
