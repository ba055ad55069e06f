//! RabbitMQ helpers shared by the AMQP tests: a private node (or the
//! install line), a monitor, waiting on it, lapin channels.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventscope::broker::{ConnectionProfile, LinkState, SubscriptionSpec};
use eventscope::capture::ConnectionKey;
use eventscope::demo::LocalRabbit;
use eventscope::session::Session;
use lapin::types::{AMQPValue, LongString};
use lapin::{Channel, Connection, ConnectionProperties};

pub fn rabbit() -> LocalRabbit {
    LocalRabbit::start().unwrap_or_else(|e| panic!("these tests need RabbitMQ: {e}"))
}

pub fn monitor() -> Session {
    Session::new(Arc::new(|| {}), usize::MAX).expect("runtime starts")
}

pub fn wait_until(m: &mut Session, what: &str, mut check: impl FnMut(&mut Session) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check(m) {
        m.drain(Duration::from_millis(5));
        assert!(Instant::now() < deadline, "waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn connected(m: &mut Session, key: ConnectionKey) {
    wait_until(m, "connected", |m| {
        let status = m.shared(key).expect("conn").status();
        assert!(
            !matches!(status.state, LinkState::Failed(_) | LinkState::AuthError(_)),
            "{:?}",
            status.state
        );
        status.state.is_connected()
    });
}

/// A monitor bound to `patterns` (the profile's default `>` replaced).
pub fn watching(m: &mut Session, url: &str, patterns: &[&str]) -> ConnectionKey {
    let mut profile = ConnectionProfile::new("rabbit", url);
    profile.subscriptions = patterns.iter().map(|p| SubscriptionSpec::new(*p)).collect();
    let key = m.connect(profile);
    connected(m, key);
    key
}

pub async fn channel(url: &str) -> (Connection, Channel) {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("the test client connects");
    let channel = connection.create_channel().await.expect("channel");
    (connection, channel)
}

pub fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}
