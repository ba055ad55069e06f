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
//! Kafka's round is the same, live: a producer thread writes batches of
//! 100 to a fresh topic while (a) the bare client, a fetch loop
//! (kafka-protocol's messages over a socket, the demo's client) that
//! decodes every batch and counts, or (b) eventscope tails it. Kafka also
//! keeps what was written, so a second figure reads a log written before
//! from its first offset, (a) and (b) alike (`--from-beginning`): there
//! nothing waits on the broker, and it measures eventscope's own cost per
//! record (flows, subject tree, store) against bare decoding.
//!
//! `cargo bench --bench brokers` (EVENTSCOPE_BENCH_COUNT to change 200,000,
//! EVENTSCOPE_BENCH_ONLY=Kafka for the rounds whose name starts so;
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
    drain_until(&mut m, count);
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

/// Write `count` records to `topic[0]` in batches of `batch`.
fn fill_log(port: u16, topic: &str, count: u64, batch: usize) {
    runtime().block_on(async {
        let mut client = KafkaClient::connect(port).await.expect("connect");
        let payload = vec![b'x'; SIZE];
        let ids: Vec<String> = (0..count).map(|i| i.to_string()).collect();
        for chunk in ids.chunks(batch) {
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
                .produce_batch(topic, 0, &outs)
                .await
                .expect("produce");
        }
    });
}

/// A producer on a thread of its own, writing while the reader reads.
fn kafka_publisher(port: u16, topic: String, count: u64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || fill_log(port, &topic, count, 100))
}

/// (a) for Kafka: fetch `topic` from offset 0 until `count` records are
/// counted (a producer writing them meanwhile, when `live`).
fn kafka_bare(port: u16, topic: &str, count: u64, live: bool) -> f64 {
    runtime().block_on(async {
        let mut client = KafkaClient::connect(port).await.expect("connect");
        let started = Instant::now();
        let sending = live.then(|| kafka_publisher(port, topic.to_owned(), count));
        let (mut next, mut received) = (0i64, 0u64);
        let mut last_progress = Instant::now();
        while received < count && last_progress.elapsed() < support::IDLE {
            let records = client.fetch(topic, 0, next, 100).await.expect("fetch");
            if let Some(last) = records.last() {
                next = last.offset + 1;
                received += records.len() as u64;
                last_progress = Instant::now();
            }
        }
        let rate = received as f64 / started.elapsed().as_secs_f64();
        if let Some(sending) = sending {
            let _ = sending.join();
        }
        rate
    })
}

/// (b) for Kafka: eventscope reading `topic` (from its beginning, or
/// tailing it while a producer writes).
fn kafka_eventscope(port: u16, topic: &str, count: u64, live: bool) -> (f64, u64, u64, u64) {
    let rss_before = support::rss_bytes();
    let mut m = Session::new(Arc::new(|| {}), BUDGET).expect("monitor");
    let mut profile = ConnectionProfile::new("bench", format!("kafka://127.0.0.1:{port}"));
    profile.subscriptions = vec![SubscriptionSpec {
        read_from: if live {
            ReadFrom::End
        } else {
            ReadFrom::Beginning
        },
        ..SubscriptionSpec::new(topic)
    }];
    let key = m.connect(profile);
    while !m.shared(key).is_some_and(|s| s.state().is_connected()) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let sending = live.then(|| kafka_publisher(port, topic.to_owned(), count));
    drain_until(&mut m, count);
    let secs = started.elapsed().as_secs_f64();
    if let Some(sending) = sending {
        let _ = sending.join();
    }
    let rss = support::rss_bytes().saturating_sub(rss_before);
    (
        m.store.counters().captured as f64 / secs,
        m.dropped_by_clients(),
        m.store.bytes_used() as u64,
        rss,
    )
}

/// Drain as the UI thread does until `count` records are captured, or
/// nothing has come for a while.
fn drain_until(m: &mut Session, count: u64) {
    let mut last_progress = Instant::now();
    while m.store.counters().captured < count && last_progress.elapsed() < support::IDLE {
        if m.drain(eventscope::app::LIVE_DRAIN_BUDGET) > 0 {
            last_progress = Instant::now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("brokers: bench");
        return;
    }
    let count = support::message_count(200_000);
    // Each broker runs only for its rounds: an idle RabbitMQ's schedulers
    // took a third of a core through the Kafka rounds.
    let tansu = LocalTansu::start().expect("tansu for the bench");
    let port = tansu.port();
    let mut round = 0;
    let mut fresh_topic = || {
        round += 1;
        let topic = format!("live-{round}");
        tansu.create_topic(&topic, 1).expect("topic");
        topic
    };
    report("Kafka (live)", count, || {
        let bare = kafka_bare(port, &fresh_topic(), count, true);
        (bare, kafka_eventscope(port, &fresh_topic(), count, true))
    });
    tansu.create_topic("backlog", 1).expect("topic");
    fill_log(port, "backlog", count, 1000);
    report("Kafka (a log read from its start)", count, || {
        (
            kafka_bare(port, "backlog", count, false),
            kafka_eventscope(port, "backlog", count, false),
        )
    });
    drop(tansu);
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
    if std::env::var("EVENTSCOPE_BENCH_ONLY").is_ok_and(|only| !name.starts_with(&only)) {
        return;
    }
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
