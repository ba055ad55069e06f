//! Ingest from RabbitMQ, MQTT and Kafka, side by side in one run, each
//! against the broker's own bare client (PERF-NOTES.md's method): 200,000
//! messages of 256 bytes with 3 headers, published as fast as the broker
//! takes them by a publisher on a thread of its own, received by
//!   (a) the bare client that only counts: lapin consuming a queue bound
//!       to the exchange (prefetch 8192, acknowledging every 1,000); for
//!       MQTT, rumqttc's event loop subscribed at QoS 0,
//!   (b) eventscope's full path: its own link -> batches -> store with
//!       subject stats and flow correlation, drained as the UI does, with
//!       a 64 MiB store budget (memory bounded in bytes).
//! Rounds alternate; the medians and the ratio b/a are printed, with (b)'s
//! drops, the store's bytes and the process's RSS growth.
//!
//! Kafka keeps what was written, so its round reads a log written before
//! (in batches of 1,000, 3 headers each) from its first offset: (a) the
//! bare client is a fetch loop (kafka-protocol's messages over a socket,
//! the demo's client) that decodes every batch and counts; (b) eventscope
//! reading the topic `--from-beginning`.
//!
//! `cargo bench --bench brokers` (EVENTSCOPE_BENCH_COUNT to change 200,000;
//! needs `rabbitmq-server`, `mosquitto` and tansu, as the tests do).

#[path = "support.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventscope::broker::{ConnectionProfile, ReadFrom, SubscriptionSpec};
use eventscope::demo::{KafkaClient, KafkaOut, LocalMosquitto, LocalRabbit, LocalTansu};
use eventscope::session::Session;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

const SIZE: usize = 256;
const BUDGET: usize = 64 << 20;
const ROUNDS: usize = 3;

#[derive(Clone, Copy)]
enum Broker {
    Amqp,
    Mqtt,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Publish `count` messages on a thread of its own.
fn publisher(broker: Broker, target: String, count: u64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let rt = runtime();
        rt.block_on(async move {
            let payload = vec![b'x'; SIZE];
            match broker {
                Broker::Amqp => {
                    let conn = Connection::connect(&target, ConnectionProperties::default())
                        .await
                        .expect("publisher connects");
                    let ch = conn.create_channel().await.expect("channel");
                    for i in 0..count {
                        let mut headers = FieldTable::default();
                        for (k, v) in [
                            ("ce-id", i.to_string()),
                            ("ce-type", "bench".into()),
                            ("ce-source", "/bench".into()),
                        ] {
                            headers.insert(
                                k.into(),
                                AMQPValue::LongString(LongString::from(v.into_bytes())),
                            );
                        }
                        ch.basic_publish(
                            "bench".into(),
                            "load.one".into(),
                            BasicPublishOptions::default(),
                            &payload,
                            BasicProperties::default().with_headers(headers),
                        )
                        .await
                        .expect("publish");
                    }
                    let _ = conn.close(200, "done".into()).await;
                }
                Broker::Mqtt => {
                    let port: u16 = target.parse().expect("port");
                    let mut options = MqttOptions::new("bench-publisher", "127.0.0.1", port);
                    options.set_max_packet_size(Some(1 << 20));
                    let (client, mut events) = AsyncClient::new(options, 1024);
                    tokio::spawn(async move { while events.poll().await.is_ok() {} });
                    for i in 0..count {
                        let properties = PublishProperties {
                            user_properties: vec![
                                ("ce-id".into(), i.to_string()),
                                ("ce-type".into(), "bench".into()),
                                ("ce-source".into(), "/bench".into()),
                            ],
                            ..PublishProperties::default()
                        };
                        client
                            .publish_with_properties(
                                "bench/load/one",
                                QoS::AtMostOnce,
                                false,
                                payload.clone(),
                                properties,
                            )
                            .await
                            .expect("publish");
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        });
    })
}

/// (a): the bare client, counting until `count` or idle.
fn bare(broker: Broker, target: &str, count: u64) -> f64 {
    let rt = runtime();
    rt.block_on(async {
        let (started, received) = match broker {
            Broker::Amqp => {
                let conn = Connection::connect(target, ConnectionProperties::default())
                    .await
                    .expect("connect");
                let ch = conn.create_channel().await.expect("channel");
                let queue = ch
                    .queue_declare(
                        "".into(),
                        QueueDeclareOptions {
                            exclusive: true,
                            auto_delete: true,
                            ..Default::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                    .expect("queue");
                ch.queue_bind(
                    queue.name().clone(),
                    "bench".into(),
                    "#".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bind");
                ch.basic_qos(8192, BasicQosOptions::default())
                    .await
                    .expect("qos");
                let mut consumer = ch
                    .basic_consume(
                        queue.name().clone(),
                        "bare".into(),
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                    .expect("consume");
                let started = Instant::now();
                let sending = publisher(broker, target.to_owned(), count);
                let mut received = 0u64;
                while received < count {
                    match tokio::time::timeout(support::IDLE, consumer.next()).await {
                        Ok(Some(Ok(d))) => {
                            received += 1;
                            if received.is_multiple_of(1000) || received == count {
                                d.acker
                                    .ack(BasicAckOptions { multiple: true })
                                    .await
                                    .expect("ack");
                            }
                        }
                        _ => break,
                    }
                }
                let _ = sending.join();
                (started, received)
            }
            Broker::Mqtt => {
                let port: u16 = target.parse().expect("port");
                let mut options = MqttOptions::new("bench-bare", "127.0.0.1", port);
                options.set_max_packet_size(Some(1 << 20));
                let (client, mut events) = AsyncClient::new(options, 1024);
                client
                    .subscribe("bench/#", QoS::AtMostOnce)
                    .await
                    .expect("subscribe");
                // Until the SUBACK.
                loop {
                    if let Ok(Event::Incoming(Packet::SubAck(_))) = events.poll().await {
                        break;
                    }
                }
                let started = Instant::now();
                let sending = publisher(broker, target.to_owned(), count);
                let mut received = 0u64;
                while received < count {
                    match tokio::time::timeout(support::IDLE, events.poll()).await {
                        Ok(Ok(Event::Incoming(Packet::Publish(_)))) => received += 1,
                        Ok(Ok(_)) => {}
                        _ => break,
                    }
                }
                let _ = sending.join();
                (started, received)
            }
        };
        received as f64 / started.elapsed().as_secs_f64()
    })
}

/// (b): eventscope's path, drained as the UI thread does.
fn eventscope_path(broker: Broker, target: &str, count: u64) -> (f64, u64, u64, u64) {
    let rss_before = support::rss_bytes();
    let mut m = Session::new(Arc::new(|| {}), BUDGET).expect("monitor");
    let (url, pattern) = match broker {
        Broker::Amqp => (target.to_owned(), "bench/#"),
        Broker::Mqtt => (format!("mqtt://127.0.0.1:{target}"), "bench/#"),
    };
    let mut profile = ConnectionProfile::new("bench", url);
    profile.subscriptions = vec![SubscriptionSpec::new(pattern)];
    let key = m.connect(profile);
    while !m.shared(key).is_some_and(|s| s.state().is_connected()) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let sending = publisher(broker, target.to_owned(), count);
    let mut last_progress = Instant::now();
    while m.store.counters().captured < count && last_progress.elapsed() < support::IDLE {
        if m.drain(eventscope::app::LIVE_DRAIN_BUDGET) > 0 {
            last_progress = Instant::now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = sending.join();
    let counters = m.store.counters();
    let rss = support::rss_bytes().saturating_sub(rss_before);
    (
        counters.captured as f64 / secs,
        m.dropped_by_clients(),
        m.store.bytes_used() as u64,
        rss,
    )
}

/// Write `count` records to `bench[0]` in batches.
fn fill_log(port: u16, count: u64) {
    runtime().block_on(async {
        let mut client = KafkaClient::connect(port).await.expect("connect");
        let payload = vec![b'x'; SIZE];
        let ids: Vec<String> = (0..count).map(|i| i.to_string()).collect();
        for chunk in ids.chunks(1000) {
            let outs: Vec<KafkaOut<'_>> = chunk
                .iter()
                .map(|id| {
                    KafkaOut::value(&payload)
                        .header("ce-id", id.as_bytes())
                        .header("ce-type", b"bench")
                        .header("ce-source", b"/bench")
                })
                .collect();
            client
                .produce_batch("bench", 0, &outs)
                .await
                .expect("produce");
        }
    });
}

/// (a) for Kafka: fetch from offset 0 until `count` records are counted.
fn kafka_bare(port: u16, count: u64) -> f64 {
    runtime().block_on(async {
        // From the connect, as (b) is timed.
        let started = Instant::now();
        let mut client = KafkaClient::connect(port).await.expect("connect");
        let (mut next, mut received) = (0i64, 0u64);
        while received < count {
            let records = client.fetch("bench", 0, next, 100).await.expect("fetch");
            let Some(last) = records.last() else { break };
            next = last.offset + 1;
            received += records.len() as u64;
        }
        received as f64 / started.elapsed().as_secs_f64()
    })
}

/// (b) for Kafka: eventscope reading the log from its beginning.
fn kafka_eventscope(url: &str, count: u64) -> (f64, u64, u64, u64) {
    let rss_before = support::rss_bytes();
    let mut m = Session::new(Arc::new(|| {}), BUDGET).expect("monitor");
    let mut profile = ConnectionProfile::new("bench", url);
    profile.subscriptions = vec![SubscriptionSpec {
        read_from: ReadFrom::Beginning,
        ..SubscriptionSpec::new("bench")
    }];
    let started = Instant::now();
    m.connect(profile);
    let mut last_progress = Instant::now();
    while m.store.counters().captured < count && last_progress.elapsed() < support::IDLE {
        if m.drain(eventscope::app::LIVE_DRAIN_BUDGET) > 0 {
            last_progress = Instant::now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let rss = support::rss_bytes().saturating_sub(rss_before);
    (
        m.store.counters().captured as f64 / secs,
        m.dropped_by_clients(),
        m.store.bytes_used() as u64,
        rss,
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("brokers: bench");
        return;
    }
    let count = support::message_count(200_000);
    let rabbit = LocalRabbit::start().expect("RabbitMQ for the bench");
    let rt = runtime();
    rt.block_on(async {
        let conn = Connection::connect(&rabbit.url(), ConnectionProperties::default())
            .await
            .expect("connect");
        let ch = conn.create_channel().await.expect("channel");
        ch.exchange_declare(
            "bench".into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("exchange");
    });
    let mosquitto = LocalMosquitto::start().expect("Mosquitto for the bench");
    let tansu = LocalTansu::start().expect("tansu for the bench");
    tansu.create_topic("bench", 1).expect("topic");
    fill_log(tansu.port(), count);
    report("Kafka", count, || {
        (
            kafka_bare(tansu.port(), count),
            kafka_eventscope(&tansu.url(), count),
        )
    });
    for (name, broker, target) in [
        ("RabbitMQ", Broker::Amqp, rabbit.url()),
        ("MQTT", Broker::Mqtt, mosquitto.port().to_string()),
    ] {
        report(name, count, || {
            (
                bare(broker, &target, count),
                eventscope_path(broker, &target, count),
            )
        });
    }
}

/// Rounds of (a) then (b); the medians, the ratio and (b)'s costs.
fn report(name: &str, count: u64, mut round: impl FnMut() -> (f64, (f64, u64, u64, u64))) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut last = (0, 0, 0);
    for _ in 0..ROUNDS {
        let (bare, (rate, dropped, store, rss)) = round();
        a.push(bare);
        b.push(rate);
        last = (dropped, store, rss);
    }
    let ratios: Vec<f64> = a.iter().zip(&b).map(|(a, b)| b / a).collect();
    let (ma, mb) = (support::median(&mut a), support::median(&mut b));
    println!(
        "{name}: {count} msgs of {SIZE} B; (a) bare client {ma:.0} msg/s, (b) eventscope {mb:.0} msg/s, b/a {:.2} (rounds {:?}); (b) dropped {}, store {:.1} MiB of a {} MiB budget, RSS +{:.1} MiB",
        support::median(&mut ratios.clone()),
        ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>(),
        last.0,
        last.1 as f64 / (1 << 20) as f64,
        BUDGET >> 20,
        last.2 as f64 / (1 << 20) as f64,
    );
}
