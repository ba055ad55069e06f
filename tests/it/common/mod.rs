//! Test harness: a real nats-server per test, on a free loopback port with
//! JetStream in a temp dir. Missing server = a failing test with the fix.
#![allow(dead_code)]

pub mod amqp;
pub mod cluster;
pub mod fake_server;
pub mod kafka;
pub mod proxy;
pub mod recorder;
pub mod recording;
pub mod shop;
pub mod ui;
pub mod wire_log;

use std::time::{Duration, Instant};

pub use eventscope::demo::LocalServer;

/// Start a server or fail the test saying how to install one.
pub fn server() -> LocalServer {
    server_with_config(None)
}

pub fn server_with_config(config: Option<&str>) -> LocalServer {
    match LocalServer::start_with_config(config) {
        Ok(server) => server,
        Err(e) => panic!("these tests need a real nats-server: {e}"),
    }
}

/// A two-worker runtime for tests that drive the app and clients at once.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A client of `server` and its JetStream context: the set-up most
/// JetStream tests begin with.
pub async fn jetstream(
    server: &LocalServer,
) -> (async_nats::Client, async_nats::jetstream::Context) {
    let client = client(server).await;
    let js = async_nats::jetstream::new(client.clone());
    (client, js)
}

pub async fn client(server: &LocalServer) -> async_nats::Client {
    async_nats::connect(server.url())
        .await
        .expect("test client connects")
}

/// A subscription the server already has (flushed), so nothing published
/// after this returns is missed.
pub async fn subscribed(client: &async_nats::Client, subject: &str) -> async_nats::Subscriber {
    let subscriber = client
        .subscribe(subject.to_owned())
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    subscriber
}

/// Poll `check` until it holds or the timeout passes.
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

pub async fn wait_for_async(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// A client with a connection name, as a service would connect.
pub async fn named_client(server: &LocalServer, name: &str) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .name(name)
        .connect(server.url())
        .await
        .expect("named client connects")
}

/// The stream most tests use: `ORDERS` on `orders.>`.
pub async fn orders_stream(client: &async_nats::Client) -> async_nats::jetstream::stream::Stream {
    async_nats::jetstream::new(client.clone())
        .create_stream(async_nats::jetstream::stream::Config {
            name: "ORDERS".into(),
            subjects: vec!["orders.>".into()],
            ..Default::default()
        })
        .await
        .expect("stream ORDERS")
}

/// Write `records` as a capture file (connection "c").
pub fn write_capture_file(path: &std::path::Path, records: &[eventscope::capture::Record]) {
    let mut out = Vec::new();
    let mut w = eventscope::capture::file::CaptureWriter::new(
        &mut out,
        &eventscope::capture::file::CaptureHeader::new(vec![]),
    )
    .expect("header");
    for record in records {
        w.write(record, "c").expect("write");
    }
    std::fs::write(path, out).expect("write capture file");
}

/// Run `eventscope ARGS`, which must succeed (its stderr otherwise).
pub fn eventscope(args: &[&str]) -> std::process::Output {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args(args)
        .output()
        .expect("run eventscope");
    assert!(
        output.status.success(),
        "eventscope {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Standard output as JSON values, one per line.
pub fn json_lines(output: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Times the test that calls it (first thing in every test of this
/// binary). Where `EVENTSCOPE_TEST_TIMES` names a file, the test's name
/// and seconds are appended to it when the test ends, passed or failed:
/// CI lists the ten slowest from it (libtest on stable reports no times).
#[must_use = "the test is timed until this is dropped"]
pub fn timed() -> TestTimer {
    TestTimer {
        started: Instant::now(),
    }
}

pub struct TestTimer {
    started: Instant,
}

impl Drop for TestTimer {
    fn drop(&mut self) {
        let Some(path) = std::env::var_os("EVENTSCOPE_TEST_TIMES") else {
            return;
        };
        // libtest runs each test on a thread named after it.
        let name = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned();
        let line = format!("{:.2} {name}\n", self.started.elapsed().as_secs_f64());
        // One short write with O_APPEND: lines from parallel tests do not mix.
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            use std::io::Write;
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// A CA and a server certificate for `localhost`, made with the openssl
/// command (installed by .ci/run).
pub fn certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("this test needs the openssl command (apt-get install openssl)");
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=eventscope-test-ca",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}
