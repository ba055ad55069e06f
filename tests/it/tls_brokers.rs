//! TLS to MQTT (`mqtts://`) and RabbitMQ (`amqps://`), against real
//! servers with a certificate of a CA of the test's own: with the CA file
//! the link is up and reads; without it, the link is refused in words and
//! not retried.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventscope::broker::{ConnectionProfile, LinkState, SubscriptionSpec};
use eventscope::capture::ConnectionKey;
use eventscope::demo::{LocalMosquitto, LocalRabbit};
use eventscope::session::Session;

fn wait(m: &mut Session, what: &str, check: impl Fn(&Session) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check(m) {
        assert!(Instant::now() < deadline, "waiting for {what}");
        m.drain(Duration::from_millis(20));
    }
}

fn state(m: &Session, key: ConnectionKey) -> LinkState {
    m.shared(key).expect("conn").state()
}

/// Each profile has a name of its own: a connection is known by it.
fn connect(
    m: &mut Session,
    name: &str,
    url: String,
    ca: Option<&std::path::Path>,
    pattern: &str,
) -> ConnectionKey {
    let mut profile = ConnectionProfile::new(name, url);
    profile.tls.ca_file = ca.map(std::path::Path::to_path_buf);
    profile.subscriptions = vec![SubscriptionSpec::new(pattern)];
    m.connect(profile)
}

#[test]
fn mqtts_and_amqps_verify_the_server_and_say_what_is_wrong() {
    let _timed = common::timed();
    let dir = tempfile::tempdir().expect("tempdir");
    common::certificates(dir.path());
    let (cert, key, ca) = (
        dir.path().join("server.pem"),
        dir.path().join("server.key"),
        dir.path().join("ca.pem"),
    );
    let mosquitto = LocalMosquitto::start_tls(&cert, &key)
        .unwrap_or_else(|e| panic!("this test needs Mosquitto: {e}"));
    let rabbit = LocalRabbit::start_tls(&cert, &key)
        .unwrap_or_else(|e| panic!("this test needs RabbitMQ: {e}"));
    let tls_port = rabbit.tls_port().expect("a TLS listener");
    let mut m = Session::new(Arc::new(|| {}), usize::MAX).expect("runtime");
    let mqtt = connect(
        &mut m,
        "mqtt",
        format!("mqtts://localhost:{}", mosquitto.port()),
        Some(&ca),
        "#",
    );
    let amqp = connect(
        &mut m,
        "amqp",
        format!("amqps://guest:guest@localhost:{tls_port}/%2f"),
        Some(&ca),
        "amq.rabbitmq.trace/#",
    );
    let untrusted_mqtt = connect(
        &mut m,
        "untrusted mqtt",
        format!("mqtts://localhost:{}", mosquitto.port()),
        None,
        "#",
    );
    let untrusted_amqp = connect(
        &mut m,
        "untrusted amqp",
        format!("amqps://guest:guest@localhost:{tls_port}/%2f"),
        None,
        "amq.rabbitmq.trace/#",
    );
    wait(&mut m, "both trusted links up", |m| {
        for key in [mqtt, amqp] {
            let s = state(m, key);
            assert!(
                !matches!(s, LinkState::Failed(_) | LinkState::AuthError(_)),
                "{s:?}"
            );
        }
        state(m, mqtt).is_connected() && state(m, amqp).is_connected()
    });
    wait(&mut m, "both untrusted links refused", |m| {
        [untrusted_mqtt, untrusted_amqp]
            .iter()
            .all(|k| matches!(state(m, *k), LinkState::Failed(_) | LinkState::AuthError(_)))
    });
    for key in [untrusted_mqtt, untrusted_amqp] {
        let said = state(&m, key).label();
        assert!(said.contains("not signed by a trusted CA"), "{said}");
    }
    // And they read: a message through each, published by eventscope.
    for (key, subject) in [(mqtt, "tls/check"), (amqp, "amq.default/nobody-reads")] {
        let outcome = m
            .send(
                key,
                eventscope::outgoing::OutMessage {
                    subject: subject.into(),
                    reply: None,
                    headers: Vec::new(),
                    payload: bytes::Bytes::from_static(b"over tls"),
                    fields: None,
                },
                eventscope::broker::SendMode::Publish,
            )
            .expect("send");
        let _ = outcome.blocking_recv();
    }
    wait(&mut m, "both messages read back over TLS", |m| {
        m.store
            .iter()
            .filter(|(_, r)| r.payload() == b"over tls")
            .count()
            >= 2
    });
}
