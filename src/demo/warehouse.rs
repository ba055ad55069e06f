//! The demo's Kafka end, where a Kafka-API broker is installed: stored
//! readings are written to `readings` (a partition per device pair, the
//! CloudEvents headers kept), and a warehouse consumer group reads them,
//! committing every few seconds (so its lag rises and falls); a reading it
//! cannot shelve is copied to `readings-retry-1` the way Spring's retry
//! topics do, and one that fails there too to `readings.DLT`. So the
//! window shows a Kafka retry chain as one timeline and a group's lag.

use std::time::Duration;

use tokio::sync::mpsc;

use super::kafka_client::{KafkaClient, KafkaOut};
use super::{DemoResult, connect};

pub(super) const TOPIC: &str = "readings";
pub(super) const RETRY_TOPIC: &str = "readings-retry-1";
pub(super) const DEAD_LETTER_TOPIC: &str = "readings.DLT";
/// `readings`' partitions.
pub(super) const PARTITIONS: i32 = 2;
const GROUP: &str = "warehouse";
const RETRY_GROUP: &str = "warehouse-retry";

/// A reading on its way into Kafka: device, payload, headers.
pub(super) type Reading = (u32, Vec<u8>, Vec<(String, String)>);

/// Write each reading to `readings`, a device's on its partition.
pub(super) async fn into_kafka(port: u16, mut readings: mpsc::Receiver<Reading>) -> DemoResult {
    let mut client = KafkaClient::connect(port).await?;
    while let Some((device, payload, headers)) = readings.recv().await {
        let key = format!("device-{device}");
        let out = KafkaOut {
            key: Some(key.as_bytes()),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_bytes())))
                .collect(),
            ..KafkaOut::value(&payload)
        };
        let partition = (device % PARTITIONS as u32) as i32;
        client.produce(TOPIC, partition, &out).await?;
    }
    Ok(())
}

/// Without RabbitMQ, the readings come straight from NATS.
pub(super) async fn nats_to_kafka(nats: String, to: mpsc::Sender<Reading>) -> DemoResult {
    use futures_util::StreamExt;
    let client = connect(&nats, "kafka-bridge").await?;
    let mut from = client.subscribe("telemetry.>").await?;
    while let Some(message) = from.next().await {
        let device = message
            .subject
            .split('.')
            .nth(1)
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        let headers = message
            .headers
            .iter()
            .flat_map(|h| h.iter())
            .filter_map(|(k, v)| Some((k.to_string(), v.first()?.to_string())))
            .collect();
        to.send((device, message.payload.to_vec(), headers)).await?;
    }
    Ok(())
}

/// The number in a reading's `ce-id` (`reading-N`).
fn number_of(headers: &[(String, Option<Vec<u8>>)]) -> u64 {
    headers
        .iter()
        .find(|(k, _)| k == "ce-id")
        .and_then(|(_, v)| std::str::from_utf8(v.as_deref()?).ok())
        .and_then(|id| id.rsplit('-').next()?.parse().ok())
        .unwrap_or(1)
}

/// The group: every fourth reading finds its shelf full and goes to the
/// retry topic; one in eight is still refused there and dead-lettered.
pub(super) async fn warehouse(port: u16) -> DemoResult {
    let mut client = KafkaClient::connect(port).await?;
    let mut next = vec![0i64; PARTITIONS as usize];
    let mut retry_next = 0i64;
    for round in 0u64.. {
        for partition in 0..PARTITIONS {
            let at = partition as usize;
            for record in client.fetch(TOPIC, partition, next[at], 100).await? {
                let headers = headers_of(&record);
                if number_of(&headers).is_multiple_of(4) {
                    let (offset, from) = (record.offset.to_be_bytes(), partition.to_be_bytes());
                    let attempt = 1i32.to_be_bytes();
                    let mut copy = kept(&headers);
                    copy.extend([
                        ("kafka_original-topic", Some(TOPIC.as_bytes())),
                        ("kafka_original-partition", Some(&from[..])),
                        ("kafka_original-offset", Some(&offset[..])),
                        ("kafka_exception-message", Some(b"shelf full".as_slice())),
                        ("retry_topic-attempts", Some(&attempt[..])),
                    ]);
                    let value = record.value.clone().unwrap_or_default();
                    let out = KafkaOut {
                        headers: copy,
                        ..KafkaOut::value(&value)
                    };
                    client.produce(RETRY_TOPIC, 0, &out).await?;
                }
                next[at] = record.offset + 1;
            }
            // Commits every third round: the lag rises, then falls.
            if round % 3 == 2 && next[at] > 0 {
                client.commit(GROUP, TOPIC, partition, next[at]).await?;
            }
        }
        for record in client.fetch(RETRY_TOPIC, 0, retry_next, 100).await? {
            let headers = headers_of(&record);
            if number_of(&headers).is_multiple_of(8) {
                let (offset, from) = (record.offset.to_be_bytes(), 0i32.to_be_bytes());
                let mut copy = kept(&headers);
                copy.extend([
                    ("kafka_dlt-original-topic", Some(RETRY_TOPIC.as_bytes())),
                    ("kafka_dlt-original-partition", Some(&from[..])),
                    ("kafka_dlt-original-offset", Some(&offset[..])),
                    (
                        "kafka_dlt-exception-message",
                        Some(b"shelf still full".as_slice()),
                    ),
                ]);
                let value = record.value.clone().unwrap_or_default();
                let out = KafkaOut {
                    headers: copy,
                    ..KafkaOut::value(&value)
                };
                client.produce(DEAD_LETTER_TOPIC, 0, &out).await?;
            }
            retry_next = record.offset + 1;
            client
                .commit(RETRY_GROUP, RETRY_TOPIC, 0, retry_next)
                .await?;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

fn headers_of(record: &kafka_protocol::records::Record) -> Vec<(String, Option<Vec<u8>>)> {
    record
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_ref().map(|v| v.to_vec())))
        .collect()
}

/// The CloudEvents headers a copy carries on.
fn kept(headers: &[(String, Option<Vec<u8>>)]) -> Vec<(&str, Option<&[u8]>)> {
    headers
        .iter()
        .filter(|(k, _)| k.starts_with("ce-"))
        .map(|(k, v)| (k.as_str(), v.as_deref()))
        .collect()
}
