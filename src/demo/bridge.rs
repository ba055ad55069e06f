//! The demo's other brokers, where they are installed: a thermometer on
//! MQTT whose readings (CloudEvents in user properties) a bridge carries to
//! NATS and on to RabbitMQ, where an archiver fails now and then and
//! retries through a dead-letter exchange and a delay queue with a TTL.
//! Stored readings go on to Kafka (`warehouse.rs`). So the window shows
//! one event crossing four brokers, and RabbitMQ's retry loop as a
//! timeline. Without Mosquitto the thermometer publishes on NATS; without
//! RabbitMQ the readings go from NATS to Kafka; without either they stop
//! where they are.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicRejectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};

use super::warehouse::{self, Reading};
use super::{DemoResult, Stopped, connect, watch};

/// Where the other brokers are (none: not installed, skipped).
pub(super) struct OtherBrokers {
    pub nats: String,
    pub mqtt_port: Option<u16>,
    pub amqp: Option<String>,
    pub kafka_port: Option<u16>,
}

pub(super) fn spawn(brokers: OtherBrokers, stopped: &Stopped) {
    let OtherBrokers {
        nats,
        mqtt_port,
        amqp,
        kafka_port,
    } = brokers;
    match mqtt_port {
        Some(port) => {
            watch(stopped, "thermometer", thermometer_on_mqtt(port));
            watch(stopped, "mqtt-bridge", mqtt_to_nats(port, nats.clone()));
        }
        None => watch(stopped, "thermometer", thermometer_on_nats(nats.clone())),
    }
    let to_kafka = kafka_port.map(|port| {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        watch(stopped, "kafka-bridge", warehouse::into_kafka(port, rx));
        watch(stopped, "warehouse", warehouse::warehouse(port));
        tx
    });
    match (amqp, to_kafka) {
        (Some(amqp), to_kafka) => {
            watch(stopped, "amqp-bridge", nats_to_rabbit(nats, amqp.clone()));
            watch(stopped, "archiver", archiver(amqp, to_kafka));
        }
        (None, Some(to_kafka)) => watch(
            stopped,
            "kafka-bridge",
            warehouse::nats_to_kafka(nats, to_kafka),
        ),
        (None, None) => {}
    }
}

/// Poll an MQTT client's event loop until it fails; publishes arrive on
/// `forward` when given.
async fn drive(
    mut events: EventLoop,
    forward: Option<tokio::sync::mpsc::Sender<rumqttc::v5::mqttbytes::v5::Publish>>,
) -> DemoResult {
    loop {
        if let Event::Incoming(Packet::Publish(p)) = events.poll().await?
            && let Some(forward) = &forward
        {
            forward.send(p).await?;
        }
    }
}

fn reading(n: u64) -> (String, String, Vec<(String, String)>) {
    let device = n % 3 + 1;
    let celsius = 19.0 + (n * 7 % 40) as f64 / 10.0;
    let payload = format!(r#"{{"device":{device},"celsius":{celsius:.1}}}"#);
    let headers = vec![
        ("ce-specversion".to_owned(), "1.0".to_owned()),
        ("ce-id".to_owned(), format!("reading-{n}")),
        ("ce-source".to_owned(), format!("/devices/{device}")),
        ("ce-type".to_owned(), "temperature.read".to_owned()),
    ];
    (format!("{device}"), payload, headers)
}

async fn thermometer_on_mqtt(port: u16) -> DemoResult {
    let (client, events) = AsyncClient::new(MqttOptions::new("thermometer", "127.0.0.1", port), 16);
    tokio::spawn(drive(events, None));
    for n in 1u64.. {
        let (device, payload, headers) = reading(n);
        let properties = PublishProperties {
            user_properties: headers,
            content_type: Some("application/json".into()),
            ..PublishProperties::default()
        };
        client
            .publish_with_properties(
                format!("devices/{device}/temp"),
                QoS::AtLeastOnce,
                false,
                payload,
                properties,
            )
            .await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    Ok(())
}

async fn thermometer_on_nats(nats: String) -> DemoResult {
    let client = connect(&nats, "thermometer").await?;
    for n in 1u64.. {
        let (device, payload, headers) = reading(n);
        let mut map = async_nats::HeaderMap::new();
        for (name, value) in &headers {
            map.insert(name.as_str(), value.as_str());
        }
        client
            .publish_with_headers(format!("telemetry.{device}.temp"), map, payload.into())
            .await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    Ok(())
}

/// `devices/N/temp` -> `telemetry.N.temp`, user properties as headers.
async fn mqtt_to_nats(port: u16, nats: String) -> DemoResult {
    let client = connect(&nats, "mqtt-bridge").await?;
    let (mqtt, events) = AsyncClient::new(MqttOptions::new("mqtt-bridge", "127.0.0.1", port), 16);
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(drive(events, Some(tx)));
    mqtt.subscribe("devices/#", QoS::AtLeastOnce).await?;
    while let Some(p) = rx.recv().await {
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in p.properties.iter().flat_map(|p| p.user_properties.iter()) {
            headers.insert(name.as_str(), value.as_str());
        }
        let topic = String::from_utf8_lossy(&p.topic).into_owned();
        let rest = topic.trim_start_matches("devices/").replace('/', ".");
        client
            .publish_with_headers(format!("telemetry.{rest}"), headers, p.payload.clone())
            .await?;
    }
    Ok(())
}

const EXCHANGE: &str = "telemetry";
const RETRY_EXCHANGE: &str = "telemetry.retry";

async fn rabbit_channel(amqp: &str, name: &str) -> Result<(Connection, Channel), lapin::Error> {
    let conn = Connection::connect(
        amqp,
        ConnectionProperties::default().with_connection_name(name.into()),
    )
    .await?;
    let ch = conn.create_channel().await?;
    Ok((conn, ch))
}

/// `telemetry.>` -> exchange `telemetry`, routing key the rest.
async fn nats_to_rabbit(nats: String, amqp: String) -> DemoResult {
    let client = connect(&nats, "amqp-bridge").await?;
    let (_conn, ch) = rabbit_channel(&amqp, "amqp-bridge").await?;
    declare_topology(&ch).await?;
    let mut from = client.subscribe("telemetry.>").await?;
    while let Some(message) = from.next().await {
        let mut table = FieldTable::default();
        for (name, values) in message.headers.iter().flat_map(|h| h.iter()) {
            if let Some(value) = values.first() {
                table.insert(
                    name.to_string().as_str().into(),
                    AMQPValue::LongString(LongString::from(value.as_str().as_bytes().to_vec())),
                );
            }
        }
        let key = message.subject.as_str().trim_start_matches("telemetry.");
        ch.basic_publish(
            EXCHANGE.into(),
            key.into(),
            BasicPublishOptions::default(),
            &message.payload,
            BasicProperties::default()
                .with_content_type("application/json".into())
                .with_headers(table),
        )
        .await?;
    }
    Ok(())
}

/// archive (dead-letters to telemetry.retry) -> archive.delay (a 1 s TTL,
/// dead-letters back to telemetry) -> archive again.
async fn declare_topology(ch: &Channel) -> Result<(), lapin::Error> {
    let text = |s: &str| AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()));
    for (exchange, kind) in [
        (EXCHANGE, ExchangeKind::Topic),
        (RETRY_EXCHANGE, ExchangeKind::Fanout),
    ] {
        ch.exchange_declare(
            exchange.into(),
            kind,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    let mut archive = FieldTable::default();
    archive.insert("x-dead-letter-exchange".into(), text(RETRY_EXCHANGE));
    let mut delay = FieldTable::default();
    delay.insert("x-message-ttl".into(), AMQPValue::LongInt(1000));
    delay.insert("x-dead-letter-exchange".into(), text(EXCHANGE));
    for (queue, args, exchange, key) in [
        ("archive", archive, EXCHANGE, "#"),
        ("archive.delay", delay, RETRY_EXCHANGE, ""),
    ] {
        ch.queue_declare(queue.into(), QueueDeclareOptions::default(), args)
            .await?;
        ch.queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    Ok(())
}

/// Its disk is slow: every third reading fails twice, then is stored (and
/// sent on to Kafka, where there is one).
async fn archiver(
    amqp: String,
    to_kafka: Option<tokio::sync::mpsc::Sender<Reading>>,
) -> DemoResult {
    let (_conn, ch) = rabbit_channel(&amqp, "archiver").await?;
    declare_topology(&ch).await?;
    let mut deliveries = ch
        .basic_consume(
            "archive".into(),
            "archiver".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery?;
        let retries = rejections(&delivery.properties);
        let digit = delivery
            .data
            .iter()
            .rev()
            .find(|b| b.is_ascii_digit())
            .copied();
        let flaky = digit.is_some_and(|d| (d - b'0').is_multiple_of(3));
        if flaky && retries < 2 {
            delivery
                .acker
                .reject(BasicRejectOptions { requeue: false })
                .await?;
        } else {
            delivery.acker.ack(BasicAckOptions::default()).await?;
            if let Some(to_kafka) = &to_kafka {
                let device = delivery
                    .routing_key
                    .as_str()
                    .split('.')
                    .next()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0);
                to_kafka
                    .send((
                        device,
                        delivery.data.clone(),
                        text_headers(&delivery.properties),
                    ))
                    .await?;
            }
        }
    }
    Ok(())
}

/// How many times `archive` has rejected this message (its `x-death`).
fn rejections(properties: &BasicProperties) -> i64 {
    let Some(AMQPValue::FieldArray(deaths)) = properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-death").cloned())
    else {
        return 0;
    };
    deaths
        .as_slice()
        .iter()
        .filter_map(|death| match death {
            AMQPValue::FieldTable(t) => Some(t.inner().clone()),
            _ => None,
        })
        .filter(|t| {
            matches!(t.get("queue"), Some(AMQPValue::LongString(q)) if q.as_bytes() == b"archive")
        })
        .map(|t| match t.get("count") {
            Some(AMQPValue::LongLongInt(n)) => *n,
            _ => 1,
        })
        .sum()
}

/// The text headers of a message (its CloudEvents attributes).
fn text_headers(properties: &BasicProperties) -> Vec<(String, String)> {
    let Some(table) = properties.headers().as_ref() else {
        return Vec::new();
    };
    table
        .inner()
        .iter()
        .filter_map(|(name, value)| match value {
            AMQPValue::LongString(s) => Some((
                name.to_string(),
                String::from_utf8_lossy(s.as_bytes()).into_owned(),
            )),
            _ => None,
        })
        .collect()
}
