//! RabbitMQ beside NATS, against a real RabbitMQ node: capture exact
//! (properties, headers, binary payloads), the firehose read as the
//! publishes and deliveries it describes, the capture file, publish,
//! request and replay through eventscope, the dead-letter retry timeline
//! from a real consumer, and refusals said in words. The other side is
//! lapin driven by the test.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventscope::broker::{ConnectionProfile, LinkState, SubscriptionSpec};
use eventscope::capture::{AmqpFields, BrokerKind, ConnectionKey, TraceEvent};
use eventscope::demo::LocalRabbit;
use eventscope::session::Session;
use lapin::options::{
    BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

fn rabbit() -> LocalRabbit {
    LocalRabbit::start().unwrap_or_else(|e| panic!("these tests need RabbitMQ: {e}"))
}

fn monitor() -> Session {
    Session::new(Arc::new(|| {}), usize::MAX).expect("runtime starts")
}

fn wait_until(m: &mut Session, what: &str, mut check: impl FnMut(&mut Session) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check(m) {
        m.drain(Duration::from_millis(5));
        assert!(Instant::now() < deadline, "waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn connected(m: &mut Session, key: ConnectionKey) {
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
fn watching(m: &mut Session, url: &str, patterns: &[&str]) -> ConnectionKey {
    let mut profile = ConnectionProfile::new("rabbit", url);
    profile.subscriptions = patterns.iter().map(|p| SubscriptionSpec::new(*p)).collect();
    let key = m.connect(profile);
    connected(m, key);
    key
}

async fn channel(url: &str) -> (Connection, Channel) {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("the test client connects");
    let channel = connection.create_channel().await.expect("channel");
    (connection, channel)
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

#[test]
fn amqp_messages_are_captured_exactly_from_a_binding_and_the_firehose() {
    let _timed = common::timed();
    let broker = rabbit();
    let rt = common::runtime();
    let (_conn, ch) = rt.block_on(channel(&broker.url()));
    rt.block_on(async {
        ch.exchange_declare(
            "orders".into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("exchange");
        ch.queue_declare(
            "billing".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("queue");
        ch.queue_bind(
            "billing".into(),
            "orders".into(),
            "order.*".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    });
    let mut m = monitor();
    let key = watching(&mut m, &broker.url(), &["orders/#", "amq.rabbitmq.trace/#"]);
    assert_eq!(m.store.broker_of(key), BrokerKind::Amqp);
    let binary: Vec<u8> = (0..=255).collect();
    let mut headers = FieldTable::default();
    headers.insert("ce-id".into(), text("order-1"));
    headers.insert("attempt".into(), AMQPValue::LongInt(2));
    let properties = BasicProperties::default()
        .with_message_id("m-1".into())
        .with_correlation_id("c-1".into())
        .with_reply_to("replies".into())
        .with_expiration("60000".into())
        .with_delivery_mode(2)
        .with_priority(5)
        .with_type("order.created".into())
        .with_timestamp(1_700_000_000)
        .with_content_type("application/octet-stream".into())
        .with_headers(headers);
    rt.block_on(async {
        ch.basic_publish(
            "orders".into(),
            "order.created".into(),
            BasicPublishOptions::default(),
            &binary,
            properties,
        )
        .await
        .expect("publish")
        .await
        .expect("sent");
    });
    // The binding's copy and the firehose's publish.
    wait_until(&mut m, "two records", |m| m.store.len() >= 2);
    m.drain(Duration::from_millis(300));
    let records: Vec<_> = m.store.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(
        records.len(),
        2,
        "{:?}",
        records.iter().map(|r| r.fields()).collect::<Vec<_>>()
    );
    let fields: Vec<AmqpFields> = records
        .iter()
        .map(|r| AmqpFields::of_json(r.fields()).expect("fields"))
        .collect();
    for (record, fields) in records.iter().zip(&fields) {
        assert_eq!(record.subject(), "orders/order.created");
        assert_eq!(record.reply(), Some("replies"));
        assert_eq!(record.payload(), &binary[..]);
        assert_eq!(fields.exchange, "orders");
        assert_eq!(fields.routing_key, "order.created");
        let p = &fields.properties;
        assert_eq!(p.message_id.as_deref(), Some("m-1"));
        assert_eq!(p.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(p.expiration.as_deref(), Some("60000"));
        assert_eq!((p.delivery_mode, p.priority), (Some(2), Some(5)));
        assert_eq!(p.kind.as_deref(), Some("order.created"));
        assert_eq!(p.timestamp, Some(1_700_000_000));
        assert_eq!(p.content_type.as_deref(), Some("application/octet-stream"));
        assert_eq!(
            record.headers().and_then(|h| h.get("ce-id")),
            Some("order-1")
        );
        let typed = fields
            .headers
            .as_ref()
            .expect("a typed table: attempt is a number");
        assert_eq!(typed["attempt"], 2);
    }
    let publish = fields
        .iter()
        .find(|f| f.trace == Some(TraceEvent::Publish))
        .expect("the firehose's publish");
    assert_eq!(
        publish.routed_queues.as_deref(),
        Some(&["billing".to_owned()][..])
    );
    assert_eq!(publish.user.as_deref(), Some("guest"));
    assert!(
        fields.iter().any(|f| f.trace.is_none()),
        "the binding's copy"
    );
}
