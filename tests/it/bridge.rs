//! One event across brokers: a device publishes on MQTT, a bridge carries
//! it to NATS, on to RabbitMQ and from RabbitMQ's archive queue to Kafka
//! with its CloudEvents id, where a consumer group processes it; and
//! eventscope, watching all four, draws it as one sequence diagram with a
//! lifeline per hop. Real Mosquitto, nats-server, RabbitMQ and tansu; the
//! bridge is the test's own, on each broker's own client (a raw one for
//! Kafka).

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventscope::broker::{ConnectionProfile, SubscriptionSpec};
use eventscope::capture::BrokerKind;
use eventscope::demo::{LocalMosquitto, LocalRabbit};
use eventscope::session::Session;
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

#[test]
fn an_event_bridged_from_mqtt_through_nats_and_rabbitmq_to_kafka_is_one_diagram() {
    let _timed = common::timed();
    let nats = common::server();
    let mosquitto =
        LocalMosquitto::start().unwrap_or_else(|e| panic!("this test needs Mosquitto: {e}"));
    let rabbit = LocalRabbit::start().unwrap_or_else(|e| panic!("this test needs RabbitMQ: {e}"));
    let kafka = common::kafka::tansu();
    kafka.create_topic("readings", 1).expect("topic");
    let rt = common::runtime();

    // The bridge, last part: RabbitMQ's archive queue -> Kafka's readings,
    // headers kept (a thread of its own: the raw Kafka client blocks).
    let (to_kafka, archived) = std::sync::mpsc::channel::<(Vec<u8>, Vec<(String, Vec<u8>)>)>();
    let kafka_port = kafka.port();
    std::thread::spawn(move || {
        let mut client = common::kafka::RawKafka::connect(kafka_port);
        while let Ok((payload, headers)) = archived.recv() {
            let out = common::kafka::Out {
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), Some(v.as_slice())))
                    .collect(),
                ..common::kafka::Out::value(&payload)
            };
            let offset = client.produce("readings", 0, &out);
            // The warehouse group reads and commits it.
            client.commit("warehouse", "readings", 0, offset + 1);
        }
    });

    // RabbitMQ's end: an exchange, a queue and a consumer that acks.
    let (amqp_conn, amqp) = rt.block_on(async {
        let conn = Connection::connect(&rabbit.url(), ConnectionProperties::default())
            .await
            .expect("amqp");
        let ch = conn.create_channel().await.expect("channel");
        ch.exchange_declare(
            "telemetry".into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("exchange");
        ch.queue_declare(
            "archive".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("queue");
        ch.queue_bind(
            "archive".into(),
            "telemetry".into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
        let mut archive = ch
            .basic_consume(
                "archive".into(),
                "archiver".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume");
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = archive.next().await {
                let headers = delivery
                    .properties
                    .headers()
                    .as_ref()
                    .map(|table| {
                        table
                            .inner()
                            .iter()
                            .filter_map(|(k, v)| match v {
                                AMQPValue::LongString(s) => {
                                    Some((k.to_string(), s.as_bytes().to_vec()))
                                }
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let _ = to_kafka.send((delivery.data, headers));
            }
        });
        (conn, ch)
    });
    // The bridge, second half: NATS telemetry.> -> RabbitMQ, headers kept.
    let nats_client = rt.block_on(common::client(&nats));
    let mut from_nats = rt.block_on(common::subscribed(&nats_client, "telemetry.>"));
    rt.spawn(async move {
        while let Some(message) = from_nats.next().await {
            let mut table = FieldTable::default();
            for (name, values) in message.headers.iter().flat_map(|h| h.iter()) {
                if let Some(value) = values.first() {
                    table.insert(
                        name.to_string().as_str().into(),
                        AMQPValue::LongString(LongString::from(value.as_str().as_bytes().to_vec())),
                    );
                }
            }
            let key = message
                .subject
                .as_str()
                .trim_start_matches("telemetry.")
                .to_owned();
            let _ = amqp
                .basic_publish(
                    "telemetry".into(),
                    key.as_str().into(),
                    BasicPublishOptions::default(),
                    &message.payload,
                    BasicProperties::default().with_headers(table),
                )
                .await;
        }
    });
    // The bridge, first half: MQTT devices/# -> NATS, user properties as
    // headers.
    let mut options = MqttOptions::new("bridge", "127.0.0.1", mosquitto.port());
    options.set_keep_alive(Duration::from_secs(30));
    let (bridge, mut bridge_events) = AsyncClient::new(options, 10);
    let forward = nats_client.clone();
    let (up_tx, up_rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        loop {
            match bridge_events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = up_tx.send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let mut headers = async_nats::HeaderMap::new();
                    for (name, value) in p.properties.iter().flat_map(|p| p.user_properties.iter())
                    {
                        headers.insert(name.as_str(), value.as_str());
                    }
                    let topic = String::from_utf8_lossy(&p.topic).replace('/', ".");
                    let subject = format!("telemetry.{}", topic.trim_start_matches("devices."));
                    let _ = forward
                        .publish_with_headers(subject, headers, p.payload.clone())
                        .await;
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    up_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the bridge connects");
    rt.block_on(bridge.subscribe("devices/#", QoS::AtLeastOnce))
        .expect("subscribe");

    // eventscope watches all three.
    let mut m = Session::new(Arc::new(|| {}), usize::MAX).expect("runtime starts");
    let keys = [
        m.connect(ConnectionProfile::new("devices", mosquitto.url())),
        m.connect(ConnectionProfile::new("core", nats.url())),
        {
            let mut profile = ConnectionProfile::new("rabbit", rabbit.url());
            profile.subscriptions = vec![SubscriptionSpec::new("amq.rabbitmq.trace/#")];
            m.connect(profile)
        },
        {
            let mut profile = ConnectionProfile::new("log", kafka.url());
            profile.subscriptions = vec![SubscriptionSpec::new("readings")];
            m.connect(profile)
        },
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !keys
        .iter()
        .all(|k| m.shared(*k).is_some_and(|s| s.state().is_connected()))
    {
        assert!(Instant::now() < deadline, "all four connected");
        m.drain(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));

    // The device.
    let (device, mut device_events) = AsyncClient::new(
        MqttOptions::new("device-7", "127.0.0.1", mosquitto.port()),
        10,
    );
    rt.spawn(async move { while device_events.poll().await.is_ok() {} });
    rt.block_on(device.publish_with_properties(
        "devices/7/temp",
        QoS::AtLeastOnce,
        false,
        r#"{"celsius":21.5}"#,
        PublishProperties {
            user_properties: vec![
                ("ce-id".into(), "reading-1".into()),
                ("ce-source".into(), "/devices/7".into()),
                ("ce-type".into(), "temperature".into()),
            ],
            ..PublishProperties::default()
        },
    ))
    .expect("publish");

    let deadline = Instant::now() + Duration::from_secs(20);
    let hops = loop {
        m.drain(Duration::from_millis(20));
        let first = m
            .flows
            .flows()
            .find(|f| f.subject == "devices/7/temp")
            .map(|f| f.id);
        let hops = first.map(|id| m.flows.hops_of(id)).unwrap_or_default();
        let processed = hops
            .last()
            .and_then(|id| m.flows.get(*id))
            .is_some_and(|f| {
                f.broker == BrokerKind::Kafka
                    && m.flows.final_of(f, m.flows.latest())
                        == Some(eventscope::flow::Final::Processed)
            });
        if hops.len() == 4 && processed {
            break hops;
        }
        assert!(
            Instant::now() < deadline,
            "four hops: {:?}",
            m.flows
                .flows()
                .map(|f| (f.id, f.broker, f.subject.clone(), f.links().cloned()))
                .collect::<Vec<_>>()
        );
    };
    let flows: Vec<_> = hops.iter().filter_map(|id| m.flows.get(*id)).collect();
    assert_eq!(
        flows.iter().map(|f| f.broker).collect::<Vec<_>>(),
        [
            BrokerKind::Mqtt,
            BrokerKind::Nats,
            BrokerKind::Amqp,
            BrokerKind::Kafka
        ]
    );
    assert_eq!(flows[1].subject, "telemetry.7.temp");
    assert_eq!(flows[2].subject, "telemetry/7.temp");
    assert!(
        flows.iter().all(|f| f.duplicate_of.is_none()),
        "hops, not duplicates"
    );
    let mermaid = eventscope::flow::mermaid(&flows);
    for lane in [
        "mqtt: devices/7/temp",
        "nats: telemetry.7.temp",
        "amqp: telemetry",
        "amqp: archive",
        "kafka: readings",
        "kafka: group warehouse",
    ] {
        assert!(mermaid.contains(lane), "{lane} in\n{mermaid}");
    }
    drop(amqp_conn);
}
