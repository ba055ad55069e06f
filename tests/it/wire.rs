//! What the watched system and the network can do to the monitoring link,
//! against a real nats-server: malformed messages sent with a raw protocol
//! socket (client libraries refuse to send them), a blackholed network and
//! a server that cuts a slow reader off (through a small TCP proxy), and a
//! panic inside the link's task.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use eventscope::broker::{ConnectionProfile, LinkState, SubscriptionSpec};
use eventscope::capture::ConnectionKey;
use eventscope::session::Session;

use common::proxy::Proxy;

fn monitor() -> Session {
    Session::new(Arc::new(|| {}), usize::MAX).expect("runtime starts")
}

fn wait(m: &mut Session, what: &str, timeout: Duration, mut check: impl FnMut(&Session) -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        m.drain(Duration::from_millis(5));
        if check(m) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn state(m: &Session, key: ConnectionKey) -> LinkState {
    m.shared(key).expect("connection").state()
}

/// A publisher that speaks the protocol by hand.
struct RawClient {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl RawClient {
    fn connect(port: u16) -> Self {
        Self::connect_as(port, "")
    }

    fn connect_with(port: u16, user: &str, password: &str) -> Self {
        Self::connect_as(
            port,
            &format!(",\"user\":\"{user}\",\"pass\":\"{password}\""),
        )
    }

    /// Connect, with `auth` fields added to CONNECT's JSON.
    fn connect_as(port: u16, auth: &str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut info = String::new();
        reader.read_line(&mut info).expect("INFO");
        assert!(info.starts_with("INFO"), "{info}");
        let mut client = Self { stream, reader };
        client.send(
            format!(
                "CONNECT {{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"name\":\"raw\"{auth}}}\r\n"
            )
            .as_bytes(),
        );
        client.sync();
        client
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// PING and wait for PONG: the server has processed all before it.
    fn sync(&mut self) {
        self.send(b"PING\r\n");
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("read");
            assert!(!line.starts_with("-ERR"), "{line}");
            if line.starts_with("PONG") {
                return;
            }
        }
    }

    fn hpub(&mut self, subject: &[u8], headers: &[u8], payload: &[u8]) {
        let mut frame = b"HPUB ".to_vec();
        frame.extend_from_slice(subject);
        frame.extend_from_slice(
            format!(" {} {}\r\n", headers.len(), headers.len() + payload.len()).as_bytes(),
        );
        frame.extend_from_slice(headers);
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\n");
        self.send(&frame);
    }

    fn publish(&mut self, subject: &[u8], payload: &[u8]) {
        let mut frame = b"PUB ".to_vec();
        frame.extend_from_slice(subject);
        frame.extend_from_slice(format!(" {}\r\n", payload.len()).as_bytes());
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\n");
        self.send(&frame);
    }
}

/// Header blocks nats-server forwards although no client library accepts
/// them (see shared NATS-WIRE.md).
const MALFORMED: &[&[u8]] = &[
    b"NATS/1.0\r\nX-A: a\rb\r\n\r\n",
    b"NATS/1.0\r\nX-A: a\nb\r\n\r\n",
    b"NATS/1.0\r\nbad name: v\r\n\r\n",
    b"NATS/1.0\r\nno colon here\r\n\r\n",
    b"NATS/1.0\r\nX-U: \xff\xfe\r\n\r\n",
    b"NATS/1.0 99999 Odd\r\n\r\n",
    b"NATS/2.0\r\nA: b\r\n\r\n",
    b"NATS/1.0\r\nX-D: a\r\n  continued\r\n\r\n",
];

#[test]
fn every_malformed_message_is_recorded_byte_exact_and_the_link_stays_up() {
    let _timed = common::timed();
    let server = common::server();
    let mut m = monitor();
    let mut profile = ConnectionProfile::new("adversary", server.url());
    profile.subscriptions = vec![SubscriptionSpec::new("t.>")];
    let key = m.connect(profile);
    wait(&mut m, "connected", Duration::from_secs(20), |m| {
        state(m, key).is_connected()
    });

    let mut raw = RawClient::connect(server.port);
    for (i, block) in MALFORMED.iter().enumerate() {
        raw.hpub(format!("t.bad.{i}").as_bytes(), block, b"payload");
        raw.publish(format!("t.ok.{i}").as_bytes(), b"after");
    }
    raw.publish(b"t.subject.\xff", b"not utf-8");
    raw.publish(b"t.ok.last", b"after");
    raw.sync();
    let expected = MALFORMED.len() * 2 + 2;
    wait(&mut m, "every message", Duration::from_secs(20), |m| {
        m.store.len() >= expected
    });
    std::thread::sleep(Duration::from_millis(200));
    m.drain(Duration::from_millis(50));

    let records: Vec<_> = m.store.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(records.len(), expected, "{records:?}");
    for (i, block) in MALFORMED.iter().enumerate() {
        let bad = records
            .iter()
            .find(|r| r.subject() == format!("t.bad.{i}"))
            .unwrap_or_else(|| panic!("malformed message {i} recorded"));
        assert_eq!(
            bad.headers().map(|h| h.as_bytes()),
            Some(*block),
            "block {i} byte-exact"
        );
        assert!(bad.is_malformed(), "block {i} flagged");
        assert_eq!(bad.payload(), b"payload");
        assert!(
            records.iter().any(|r| r.subject() == format!("t.ok.{i}")),
            "the message after {i}"
        );
    }
    let odd = records
        .iter()
        .find(|r| r.raw_names().is_some())
        .expect("the non-UTF-8 subject");
    assert_eq!(
        odd.raw_names().map(|n| n.subject),
        Some(&b"t.subject.\xff"[..])
    );
    assert!(state(&m, key).is_connected());
    let losses = m.shared(key).expect("conn").losses();
    assert_eq!(losses.disconnects, 0, "{losses:?}");
    assert_eq!(losses.unparseable, 0, "{losses:?}");
    assert_eq!(losses.malformed, MALFORMED.len() as u64 + 1, "{losses:?}");
}

#[test]
fn a_blackholed_network_leaves_connected_within_3_seconds_and_comes_back() {
    let _timed = common::timed();
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let proxy = rt.block_on(Proxy::start(server.port));
    let mut m = monitor();
    let key = m.connect(ConnectionProfile::new("through-proxy", proxy.url()));
    wait(&mut m, "connected", Duration::from_secs(20), |m| {
        state(m, key).is_connected()
    });
    // Quiet for a while first: no false alarm on an idle link.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        state(&m, key).is_connected(),
        "an idle link stays connected"
    );

    proxy.faults.blackhole.store(true, Ordering::Relaxed);
    let cut = Instant::now();
    wait(
        &mut m,
        "the status to leave connected",
        Duration::from_secs(10),
        |m| !state(m, key).is_connected(),
    );
    let noticed = cut.elapsed();
    assert!(
        noticed <= Duration::from_millis(3300),
        "noticed after {noticed:?}"
    );
    // The status changes just before the gap's event is handed over.
    wait(
        &mut m,
        "the gap to be recorded",
        Duration::from_secs(2),
        |m| m.store.gaps().len() == 1,
    );

    proxy.faults.blackhole.store(false, Ordering::Relaxed);
    wait(&mut m, "connected again", Duration::from_secs(20), |m| {
        state(m, key).is_connected()
    });
    let losses = m.shared(key).expect("conn").losses();
    assert_eq!(losses.disconnects, 1, "{losses:?}");
    assert!(
        losses.disconnected >= Duration::from_millis(500),
        "{losses:?}"
    );
}

#[test]
fn a_panic_in_the_link_task_is_noticed_and_the_link_rebuilt() {
    let _timed = common::timed();
    let server = common::server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(common::client(&server));
    let mut m = monitor();
    let key = m.connect(ConnectionProfile::new("fragile", server.url()));
    wait(&mut m, "connected", Duration::from_secs(20), |m| {
        state(m, key).is_connected()
    });
    m.inject_link_panic(key).expect("sent");
    // It comes back within milliseconds: the counted disconnect and the
    // recorded gap are what show that it was down.
    wait(
        &mut m,
        "the disconnect to be counted",
        Duration::from_secs(5),
        |m| m.shared(key).expect("conn").losses().disconnects == 1,
    );
    wait(&mut m, "connected again", Duration::from_secs(20), |m| {
        state(m, key).is_connected()
    });
    assert!(!m.store.gaps().is_empty(), "the gap is recorded");
    rt.block_on(async {
        client
            .publish("after.panic", "x".into())
            .await
            .expect("publish");
        client.flush().await.expect("flush");
    });
    wait(
        &mut m,
        "a message after the panic",
        Duration::from_secs(10),
        |m| m.store.iter().any(|(_, r)| r.subject() == "after.panic"),
    );
    let errors = m.shared(key).expect("conn").status().server_errors;
    assert!(errors.iter().any(|e| e.contains("panic")), "{errors:?}");
}

#[test]
fn a_server_side_slow_consumer_cut_is_named_and_counted() {
    let _timed = common::timed();
    // The server allows 256 KiB pending per client; the proxy reads from
    // it at 200 KiB/s while a publisher floods, so the server cuts this
    // monitor off. Its own statistics say how much it sent on that link.
    let server = common::server_with_config(Some(
        "max_pending: 262144\nmax_payload: 65536\nwrite_deadline: \"30s\"",
    ));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let proxy = rt.block_on(Proxy::start(server.port));
    let client = rt.block_on(common::client(&server));
    let mut m = monitor();
    let mut profile = ConnectionProfile::new("slow-reader", proxy.url());
    profile.subscriptions = vec![SubscriptionSpec::new("flood.>")];
    profile.monitoring_url = Some(server.monitoring_url());
    let key = m.connect(profile);
    wait(&mut m, "connected", Duration::from_secs(20), |m| {
        state(m, key).is_connected()
    });
    rt.block_on(proxy.flood_slowly(&client));
    wait(
        &mut m,
        "the cut to be explained",
        Duration::from_secs(30),
        |m| m.shared(key).expect("conn").losses().server_cuts > 0,
    );
    let shared = m.shared(key).expect("conn");
    let losses = shared.losses();
    assert!(losses.lost_in_cuts > 0, "{losses:?}");
    assert!(losses.disconnects >= 1, "{losses:?}");
    let errors = shared.status().server_errors;
    assert!(
        errors.iter().any(|e| e.contains("slow consumer")),
        "{errors:?}"
    );
    assert!(
        losses
            .summary()
            .contains("cut off by the server as a slow consumer")
    );
}

#[test]
fn credentials_in_the_url_authenticate_and_appear_nowhere() {
    let _timed = common::timed();
    let secret = "pw-9f3c1e";
    let server = common::server_with_config(Some(&format!(
        "authorization {{ user: watcher, password: \"{secret}\" }}"
    )));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("cap.jsonl");
    let url = format!("nats://watcher:{secret}@127.0.0.1:{}", server.port);
    let mut rec = common::recorder::Recorder::start(&[
        "--server",
        &url,
        "--out",
        out.to_str().expect("utf8"),
        "--count",
        "1",
    ]);
    rec.wait_line("recording");
    let connz = ureq::get(format!("{}/connz", server.monitoring_url()))
        .call()
        .expect("connz")
        .body_mut()
        .read_to_string()
        .expect("body");
    assert!(connz.contains("eventscope:"), "{connz}");
    assert!(!connz.contains(secret), "{connz}");
    let mut publisher = RawClient::connect_with(server.port, "watcher", secret);
    publisher.publish(b"hello", b"world");
    publisher.sync();
    let (status, text) = rec.finish();
    assert!(status.success(), "{text}");
    assert!(!text.contains(secret), "{text}");
    let mut file = String::new();
    std::fs::File::open(&out)
        .expect("capture")
        .read_to_string(&mut file)
        .expect("read");
    assert!(file.contains("\"hello\""), "{file}");
    assert!(!file.contains(secret), "{file}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "captures are private");
}

#[test]
fn tls_links_verify_the_server_and_name_what_is_wrong() {
    let _timed = common::timed();
    let dir = tempfile::tempdir().expect("tempdir");
    common::certificates(dir.path());
    let pem = |name: &str| dir.path().join(name).display().to_string();
    let server = common::server_with_config(Some(&format!(
        "tls {{ cert_file: \"{}\", key_file: \"{}\" }}",
        pem("server.pem"),
        pem("server.key")
    )));
    let record = |url: &str, ca: Option<&str>| {
        let out = dir.path().join("out.jsonl");
        let mut args = vec![
            "--server",
            url,
            "--out",
            out.to_str().expect("utf8"),
            "--duration",
            "1",
        ];
        if let Some(ca) = ca {
            args.extend(["--tls-ca", ca]);
        }
        common::recorder::Recorder::start(&args).finish()
    };
    let ca = pem("ca.pem");
    let (status, text) = record(&format!("tls://localhost:{}", server.port), Some(&ca));
    assert!(status.success(), "{text}");
    assert!(text.contains("connected at"), "{text}");
    let (status, text) = record(&format!("tls://127.0.0.1:{}", server.port), Some(&ca));
    assert!(!status.success());
    assert!(text.contains("not valid for name"), "{text}");
    assert!(!text.contains("right port"), "{text}");
    let (status, text) = record(&format!("tls://localhost:{}", server.port), None);
    assert!(!status.success());
    assert!(text.contains("not signed by a trusted CA"), "{text}");
}

#[test]
fn nkey_and_token_authentication_on_the_monitoring_link() {
    let _timed = common::timed();
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let dir = tempfile::tempdir().expect("tempdir");
    let seed_file = dir.path().join("user.nk");
    std::fs::write(&seed_file, &seed).expect("seed file");
    let out = dir.path().join("out.jsonl");
    let out = out.to_str().expect("utf8");
    let server = common::server_with_config(Some(&format!(
        "authorization {{ users = [ {{ nkey: \"{}\" }} ] }}",
        user.public_key()
    )));
    let url = server.url();
    let seed_path = seed_file.to_str().expect("utf8");
    let with_seed = || {
        common::recorder::Recorder::start(&[
            "--server",
            &url,
            "--nkey",
            seed_path,
            "--out",
            out,
            "--duration",
            "1",
        ])
        .finish()
    };
    let signed = with_seed();
    assert!(
        signed.0.success() && signed.1.contains("connected at"),
        "{}",
        signed.1
    );
    let stranger = nkeys::KeyPair::new_user();
    std::fs::write(&seed_file, stranger.seed().expect("seed")).expect("seed file");
    let refused = with_seed();
    assert!(!refused.0.success());
    assert!(
        refused.1.contains("refused the credentials"),
        "{}",
        refused.1
    );

    let server = common::server_with_config(Some("authorization { token: \"t0k3n\" }"));
    let url = server.url();
    let token = common::recorder::Recorder::start(&[
        "--server",
        &url,
        "--token",
        "t0k3n",
        "--out",
        out,
        "--duration",
        "1",
    ])
    .finish();
    assert!(
        token.0.success() && token.1.contains("connected at"),
        "{}",
        token.1
    );
}

#[test]
fn a_seed_list_fails_over_to_the_server_that_answers() {
    let _timed = common::timed();
    let server = common::server();
    let dead = format!(
        "nats://127.0.0.1:{}",
        eventscope::demo::free_port().expect("port")
    );
    let mut m = monitor();
    let key = m.connect(ConnectionProfile::new(
        "seeds",
        format!("{dead}, {}", server.url()),
    ));
    wait(
        &mut m,
        "connected through the second seed",
        Duration::from_secs(20),
        |m| state(m, key).is_connected(),
    );
}
