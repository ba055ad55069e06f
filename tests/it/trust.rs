//! Trust, second round (part 11): what a server refuses is said in plain
//! words and never turns into a storm of connections or a silent recording
//! (real nats-server at its connection limit, with permissions, with
//! credentials revoked by a reload; a fake server for what a real one will
//! not do); no client can hide a message behind the monitor's own inboxes;
//! `record` asks the server only for what it uses.

use crate::common;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_server::{FakeServer, Script};
use common::recorder::Recorder;
use eventscope::broker::{ConnectionProfile, LinkState};
use eventscope::capture::ConnectionKey;
use eventscope::session::Session;

#[test]
fn a_server_at_its_connection_limit_is_named_and_not_stormed() {
    let _timed = common::timed();
    let server = common::server_with_config(Some("max_connections: 1\n"));
    let rt = common::runtime();
    let _holder = rt.block_on(common::client(&server));
    let url = server.url();

    // record: one attempt per seed, the refusal named, a non-zero exit.
    let started = Instant::now();
    let (status, text) = Recorder::start(&["--server", &url, "-o", "/dev/null"]).finish();
    assert!(!status.success(), "{text}");
    assert!(text.contains("maximum connections exceeded"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(10), "{text}");

    // The window's session retries for ever, backing off: a handful of
    // attempts in 3 s, not hundreds (the server's log rate-limits its
    // refusal lines, so the attempts are read from the state).
    let mut session = Session::new(Arc::new(|| {}), usize::MAX).expect("runtime");
    let key = session.connect(ConnectionProfile::new("limited", &url));
    std::thread::sleep(Duration::from_secs(3));
    let state = session.shared(key).expect("connection").state();
    let LinkState::Connecting { attempt, .. } = &state else {
        panic!("{state:?}");
    };
    assert!((2..=15).contains(attempt), "{attempt} attempts in 3 s");
    let label = state.label();
    assert!(label.contains("maximum connections exceeded"), "{label}");
}

/// What each misbehaviour must leave: words in the state or the errors,
/// a few attempts (backed off), no panic.
#[test]
fn a_misbehaving_server_is_named_backed_off_and_never_panics() {
    let _timed = common::timed();
    let huge = format!("MSG a 1 {}\r\n", 65 * 1024 * 1024);
    let cases: Vec<(&str, Script, &str)> = vec![
        (
            "-ERR after CONNECT",
            Script::after_connect(b"-ERR 'Maximum Account Connections Exceeded'\r\n"),
            "Maximum Account Connections Exceeded",
        ),
        (
            "a stream that cannot be framed",
            Script::after_connect(b"PONG\r\nXYZZY nonsense\r\n"),
            "cannot be framed",
        ),
        (
            "a message larger than any server sends",
            Script::after_connect(format!("PONG\r\n{huge}").as_bytes()),
            "larger than any server sends",
        ),
        (
            "an INFO that is not JSON",
            Script {
                greeting: b"INFO {not json\r\n".to_vec(),
                then: Vec::new(),
                stall: false,
            },
            "INFO is not JSON",
        ),
        (
            "not a NATS server",
            Script {
                greeting: b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
                then: Vec::new(),
                stall: false,
            },
            "is it a NATS server?",
        ),
        (
            "half a frame, then the socket closes",
            Script::after_connect(b"PONG\r\nMSG a 1 10\r\nabc"),
            "closed the connection",
        ),
        (
            "a control line without an end",
            Script {
                stall: true,
                ..Script::after_connect(&vec![b'x'; 2 << 20])
            },
            "control line longer than",
        ),
    ];
    let mut session = Session::new(Arc::new(|| {}), usize::MAX).expect("runtime");
    let servers: Vec<(String, FakeServer, ConnectionKey, &str)> = cases
        .into_iter()
        .map(|(name, script, words)| {
            let server = FakeServer::start(script);
            let key = session.connect(ConnectionProfile::new(name, server.url()));
            (name.to_owned(), server, key, words)
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    session.drain(Duration::from_millis(50));
    for (name, server, key, words) in &servers {
        let shared = session.shared(*key).expect("connection");
        let said = format!(
            "{} | {:?}",
            shared.state().label(),
            shared.status().server_errors
        );
        assert!(said.contains(words), "{name}: {said}");
        let taken = server.accepted();
        assert!(
            (1..=15).contains(&taken),
            "{name}: {taken} connections in 3 s; {said}"
        );
    }
}

#[test]
fn duration_counts_from_the_start_and_every_seed_is_named() {
    let _timed = common::timed();
    // A server that takes the socket and never says INFO.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let started = Instant::now();
    let url = format!("nats://127.0.0.1:{silent_port}");
    let (status, text) =
        Recorder::start(&["--server", &url, "-o", "/dev/null", "--duration", "1"]).finish();
    assert!(started.elapsed() < Duration::from_secs(4), "{text}");
    assert!(!status.success(), "{text}");
    assert!(
        text.contains("duration reached before connecting"),
        "{text}"
    );

    let dead: Vec<String> = (0..2)
        .map(|_| {
            format!(
                "nats://127.0.0.1:{}",
                eventscope::demo::free_port().expect("port")
            )
        })
        .collect();
    let (status, text) =
        Recorder::start(&["--server", &dead.join(","), "-o", "/dev/null"]).finish();
    assert!(!status.success(), "{text}");
    for seed in &dead {
        assert!(text.contains(seed.as_str()), "{seed} not named: {text}");
    }
}

const ALICE_CAN_READ_ORDERS: &str = "authorization { users: [
  { user: alice, password: s3cret, permissions: { subscribe: [\"orders.>\"] } }
  { user: bob, password: b0b }
] }\n";

#[test]
fn a_refused_subscription_stops_record_with_the_servers_words() {
    let _timed = common::timed();
    let server = common::server_with_config(Some(ALICE_CAN_READ_ORDERS));
    let url = server.url();
    let (status, text) = Recorder::start(&[
        "--server",
        &url,
        "--user",
        "alice",
        "--password",
        "s3cret",
        "-o",
        "/dev/null",
    ])
    .finish();
    assert!(!status.success(), "{text}");
    assert!(
        text.contains("Permissions Violation for Subscription to \">\""),
        "{text}"
    );
    assert!(text.contains("refused every subscription"), "{text}");
}

#[test]
fn revoked_credentials_end_record_with_the_reason() {
    let _timed = common::timed();
    let server = common::server_with_config(Some(ALICE_CAN_READ_ORDERS));
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("c.jsonl");
    let mut rec = Recorder::start(&[
        "--server",
        &url,
        "--user",
        "bob",
        "--password",
        "b0b",
        "-o",
        out.to_str().expect("utf8"),
    ]);
    rec.wait_line("connected at");
    server
        .reconfigure("authorization { users: [ { user: alice, password: s3cret } ] }\n")
        .expect("reload");
    let started = Instant::now();
    let (status, text) = rec.finish();
    assert!(started.elapsed() < Duration::from_secs(15), "{text}");
    assert!(!status.success(), "{text}");
    assert!(text.contains("disconnected at"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("authorization"),
        "{text}"
    );
}

/// Subjects of everything the session stored.
fn stored_subjects(session: &Session) -> Vec<(String, Option<String>)> {
    session
        .store
        .iter()
        .map(|(_, r)| (r.subject().to_owned(), r.reply().map(str::to_owned)))
        .collect()
}

#[test]
fn no_client_can_hide_a_message_behind_the_monitors_inboxes() {
    let _timed = common::timed();
    let server = common::server();
    let rt = common::runtime();
    let outsider = rt.block_on(common::client(&server));
    let mut watching = rt.block_on(common::subscribed(&outsider, "$SYS.REQ.>"));
    let mut session = Session::new(Arc::new(|| {}), usize::MAX).expect("runtime");
    let mut profile = ConnectionProfile::new("watch", server.url());
    profile.subscriptions = vec![eventscope::broker::SubscriptionSpec::new(">")];
    let key = session.connect(profile);
    common::wait_for("connected", Duration::from_secs(10), || {
        session
            .shared(key)
            .is_some_and(|s| s.state().is_connected())
    });

    // The monitor's own poll goes out with a reply inbox anyone can read.
    let poll = rt.block_on(async {
        use futures_util::StreamExt;
        tokio::time::timeout(Duration::from_secs(10), watching.next())
            .await
            .expect("the session polls the connection list")
            .expect("a poll")
    });
    let inbox = poll.reply.expect("a reply inbox").to_string();
    let parent = inbox
        .rsplit_once('.')
        .map(|(p, _)| p.to_owned())
        .expect("dots");
    // Everything an outsider could derive from it.
    let forged = [
        ("orders.hidden.1", Some(format!("{inbox}.x"))),
        ("orders.hidden.2", Some(format!("{parent}.guess"))),
        (format!("{inbox}.y").leak() as &str, None),
        (format!("{parent}.z").leak() as &str, None),
    ];
    rt.block_on(async {
        for (subject, reply) in &forged {
            match reply {
                Some(reply) => outsider
                    .publish_with_reply(subject.to_string(), reply.clone(), "forged".into())
                    .await
                    .expect("publish"),
                None => outsider
                    .publish(subject.to_string(), "forged".into())
                    .await
                    .expect("publish"),
            }
        }
        outsider.flush().await.expect("flush");
    });
    // And the window's own JetStream request, asked of the session as the
    // window asks it: not stored, nor its advisory.
    use eventscope::session::{Answer, JetStreamAnswer, JetStreamRequest, Request};
    session.ask(Some(key), Request::JetStream(JetStreamRequest::Streams));
    common::wait_for("the stream list", Duration::from_secs(10), || {
        session.answers().any(|a| match a {
            Answer::JetStream(JetStreamAnswer::Streams(r)) => {
                r.expect("stream list");
                true
            }
            _ => false,
        })
    });
    common::wait_for("the forged messages", Duration::from_secs(10), || {
        session.drain(Duration::from_millis(50));
        let stored = stored_subjects(&session);
        forged
            .iter()
            .all(|(s, _)| stored.iter().any(|(got, _)| got == s))
    });
    std::thread::sleep(Duration::from_millis(500));
    session.drain(Duration::from_millis(200));
    let stored = stored_subjects(&session);
    assert!(
        !stored.iter().any(|(s, r)| s.starts_with("$SYS.REQ")
            || s.starts_with("$JS.API")
            || s == "$JS.EVENT.ADVISORY.API"
            || r.as_deref() == Some(inbox.as_str())
            || s == &inbox),
        "own traffic stored: {stored:?}"
    );
    assert!(session.losses().own_skipped > 0);
}

#[test]
fn record_asks_the_server_only_for_what_it_uses() {
    let _timed = common::timed();
    let server = common::server();
    let rt = common::runtime();
    let outsider = rt.block_on(common::client(&server));
    let mut watching = rt.block_on(common::subscribed(&outsider, "$SYS.REQ.>"));
    let url = server.url();
    let (status, text) =
        Recorder::start(&["--server", &url, "-o", "/dev/null", "--duration", "6"]).finish();
    assert!(status.success(), "{text}");
    // One look at the account's counters (to know a slow-consumer cut
    // when it comes), and no connection list.
    let asked: Vec<String> = rt.block_on(async {
        use futures_util::StreamExt;
        let mut asked = Vec::new();
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_millis(200), watching.next()).await
        {
            asked.push(m.subject.to_string());
        }
        asked
    });
    assert!(
        asked.len() <= 1 && asked.iter().all(|s| s == "$SYS.REQ.ACCOUNT.PING.STATZ"),
        "record asked {asked:?}"
    );
}

#[test]
fn a_burst_the_view_cannot_keep_up_with_waits_on_disk_and_nothing_is_lost() {
    let _timed = common::timed();
    let server = common::server_with_config(Some("write_deadline: \"120s\"\nmax_pending: 1GB"));
    let rt = common::runtime();
    let publishers: Vec<async_nats::Client> = (0..3)
        .map(|_| rt.block_on(common::client(&server)))
        .collect();
    let mut session = Session::new(Arc::new(|| {}), usize::MAX).expect("runtime");
    let mut profile = ConnectionProfile::new("burst", server.url());
    profile.subscriptions = vec![eventscope::broker::SubscriptionSpec::new("burst.>")];
    // Only 256 records may wait in memory: the rest of the burst must go
    // to disk, as it does past the 128 MiB allowance in a real burst.
    profile.subscription_capacity = Some(256);
    let key = session.connect(profile);
    common::wait_for("connected", Duration::from_secs(10), || {
        session
            .shared(key)
            .is_some_and(|s| s.state().is_connected())
    });
    // Three publishers at once while nobody applies anything.
    let per: u64 = 20_000;
    rt.block_on(async {
        let tasks: Vec<_> = publishers
            .iter()
            .enumerate()
            .map(|(p, client)| {
                let client = client.clone();
                tokio::spawn(async move {
                    for i in 0..per {
                        client
                            .publish(format!("burst.p{p}"), i.to_string().into())
                            .await
                            .expect("publish");
                    }
                    client.flush().await.expect("flush");
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("publisher");
        }
    });
    let sent = per * 3;
    let shared = session.shared(key).expect("connection").clone();
    common::wait_for("the link read the burst", Duration::from_secs(30), || {
        shared.in_messages() >= sent
    });
    assert!(session.spooled().0 > 0, "the burst waited on disk");
    common::wait_for("the view caught up", Duration::from_secs(60), || {
        session.drain(Duration::from_millis(50));
        session.store.counters().captured >= sent
    });
    assert_eq!(session.losses().dropped, 0);
    assert_eq!(session.store.counters().captured, sent);
    // Each publisher's messages in the order it sent them.
    for p in 0..3 {
        let subject = format!("burst.p{p}");
        let got: Vec<u64> = session
            .store
            .iter()
            .filter(|(_, r)| r.subject() == subject)
            .map(|(_, r)| {
                String::from_utf8_lossy(r.payload())
                    .parse()
                    .expect("a number")
            })
            .collect();
        assert_eq!(got, (0..per).collect::<Vec<_>>(), "publisher {p}");
    }
    assert_eq!(session.spooled().0, 0);
    let now = eventscope::capture::now_timestamp();
    assert_eq!(session.backlog(now).messages, 0);
}

#[test]
fn a_slow_consumer_cut_is_counted_without_a_monitoring_port() {
    let _timed = common::timed();
    // As tests/wire.rs provokes a cut, with no monitoring URL: the
    // account's counters over NATS must tell it.
    let server = common::server_with_config(Some(
        "max_pending: 262144\nmax_payload: 65536\nwrite_deadline: \"30s\"",
    ));
    let rt = common::runtime();
    let proxy = rt.block_on(common::proxy::Proxy::start(server.port));
    let client = rt.block_on(common::client(&server));
    let mut session = Session::new(Arc::new(|| {}), usize::MAX).expect("runtime");
    let mut profile = ConnectionProfile::new("slow-reader", proxy.url());
    profile.subscriptions = vec![eventscope::broker::SubscriptionSpec::new("flood.>")];
    let key = session.connect(profile);
    common::wait_for("connected", Duration::from_secs(20), || {
        session.drain(Duration::from_millis(5));
        session
            .shared(key)
            .is_some_and(|s| s.state().is_connected())
    });
    // The account's counters are read once the link is up (the first
    // second's tick), before the cut.
    std::thread::sleep(Duration::from_secs(3));
    rt.block_on(proxy.flood_slowly(&client));
    common::wait_for("the cut to be counted", Duration::from_secs(40), || {
        session.drain(Duration::from_millis(5));
        session.losses().server_cuts > 0
    });
    let shared = session.shared(key).expect("connection");
    let errors = shared.status().server_errors;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("slow-consumer count rose")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("published in the account while this monitor reconnected")),
        "{errors:?}"
    );
}

/// Run only as the child of `a_demo_server_dies_with_its_app`: hold a
/// server and say where it is.
#[test]
#[ignore = "a helper: run by a_demo_server_dies_with_its_app as its child"]
fn hold_a_server_until_killed() {
    let _timed = common::timed();
    let server = common::server();
    println!(
        "holding {} {}",
        server.pid().expect("running"),
        server.data_dir().display()
    );
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn a_demo_server_dies_with_its_app_and_its_data_goes() {
    let _timed = common::timed();
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "trust::hold_a_server_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the holder");
    let stdout = child.stdout.take().expect("stdout");
    let line = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("holding "))
        .expect("the holder says where its server is");
    let mut words = line.split(' ').skip(1);
    let pid: i32 = words.next().and_then(|p| p.parse().ok()).expect("a pid");
    let dir = std::path::PathBuf::from(words.next().expect("a folder"));
    assert!(dir.exists());
    // SIGKILL: no destructor runs.
    child.kill().expect("kill");
    let _ = child.wait();
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = || unsafe { libc::kill(pid, 0) } == 0;
    common::wait_for(
        "the server to die with its app",
        Duration::from_secs(10),
        || !alive(),
    );
    // Its data is removed by the next start.
    let _next = common::server();
    assert!(!dir.exists(), "{} is still there", dir.display());
}
