//! The window on brokers other than NATS: the publish form's broker
//! fields reach the broker as typed, and the inspector shows a record's
//! broker fields. Against a real Mosquitto, the other side rumqttc's own
//! client.

use crate::common;

use std::time::Duration;

use common::ui::{connected_with, replace_text, step_until};
use egui_kittest::kittest::Queryable;
use eventscope::app::AppConfig;
use eventscope::broker::ConnectionProfile;
use eventscope::broker::SubscriptionSpec;
use eventscope::demo::LocalMosquitto;
use eventscope::ui::View;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

#[test]
fn the_publish_form_sends_broker_fields_and_the_inspector_shows_them() {
    let _timed = common::timed();
    let broker =
        LocalMosquitto::start().unwrap_or_else(|e| panic!("this test needs Mosquitto: {e}"));
    let rt = common::runtime();
    // The other side: a subscriber that reports each PUBLISH whole.
    let (client, mut events) =
        AsyncClient::new(MqttOptions::new("watcher", "127.0.0.1", broker.port()), 10);
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(p);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    rt.block_on(client.subscribe("ui/#", QoS::ExactlyOnce))
        .expect("subscribe");

    let config = AppConfig {
        view: View::Publish,
        ..AppConfig::default()
    };
    let mut h = connected_with(config, ConnectionProfile::new("mqtt", broker.url()));
    replace_text(&mut h, "Subject", "ui/lamp");
    h.get_by_label("Broker fields (MQTT, RabbitMQ, Kafka)")
        .click();
    h.run_steps(2);
    // Not an object: refused in words, nothing sent.
    replace_text(&mut h, "Fields (JSON object)", "[1]");
    h.get_by_label("Send").click();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("broker fields must be a JSON object")
            .is_some()
    );
    replace_text(&mut h, "Fields (JSON object)", r#"{"qos":1,"retain":true}"#);
    h.get_by_label("Send").click();
    step_until(&mut h, "published", |h| {
        h.query_by_label("Published.").is_some()
    });
    let got = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the publish arrives");
    assert_eq!(&got.topic[..], b"ui/lamp");
    assert_eq!(got.qos, QoS::AtLeastOnce, "the QoS the fields asked");
    // (Retain is cleared on delivery to a live subscriber, as MQTT says;
    // a late subscriber gets it retained.)
    let (late, mut late_events) =
        AsyncClient::new(MqttOptions::new("late", "127.0.0.1", broker.port()), 10);
    let (late_tx, late_rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        loop {
            if let Ok(Event::Incoming(Packet::Publish(p))) = late_events.poll().await {
                let _ = late_tx.send(p);
            }
        }
    });
    rt.block_on(late.subscribe("ui/lamp", QoS::AtLeastOnce))
        .expect("subscribe");
    let retained = late_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the retained value");
    assert!(retained.retain, "kept as the fields asked");

    // The monitor's record of it shows its broker fields.
    h.get_by_label("Traffic").click();
    // (The tree may name it too: a query for one node would panic.)
    step_until(&mut h, "the record's row", |h| {
        h.query_all_by_label("ui/lamp").next().is_some()
    });
    // Selected as a click on its row selects it (a click could land on
    // the subject tree's node instead, or on a row the table was still
    // scrolling past: CI's parallel run).
    let seq = h
        .state()
        .session
        .store
        .iter()
        .find(|(_, r)| r.subject() == "ui/lamp")
        .map(|(seq, _)| seq);
    h.state_mut().traffic.selected = seq;
    step_until(&mut h, "the inspector", |h| {
        h.query_by_label("Broker fields").is_some()
    });
    // The monitor subscribes retain-as-published: the flag as sent.
    assert!(
        h.query_by_label("qos: ").is_some() && h.query_by_label("retain: ").is_some(),
        "{:?}",
        h.state()
            .session
            .store
            .iter()
            .next()
            .map(|(_, r)| r.fields().map(str::to_owned))
    );
}

#[test]
fn the_kafka_groups_lag_is_shown_per_partition_beside_the_rates() {
    use common::kafka::{Out, RawKafka, tansu};
    let _timed = common::timed();
    let broker = tansu();
    broker.create_topic("pay", 2).expect("topic");
    let mut client = RawKafka::connect(broker.port());
    client.produce("pay", 0, &Out::value(b"first"));
    client.commit("billing", "pay", 0, 1);
    let config = AppConfig {
        view: View::Traffic,
        ..AppConfig::default()
    };
    let mut profile = ConnectionProfile::new("kafka", broker.url());
    profile.subscriptions = vec![SubscriptionSpec::new("pay")];
    let mut h = connected_with(config, profile);
    step_until(&mut h, "the group's first commit", |h| {
        h.state()
            .group_lag
            .latest()
            .any(|(k, lag)| k.to_string() == "billing pay[0]" && lag == 0)
    });
    // Before there are commits the panel is the rates alone; now it offers
    // the lag.
    h.get_by_label("Kafka group lag").click();
    client.produce("pay", 0, &Out::value(b"second"));
    client.produce("pay", 0, &Out::value(b"third"));
    step_until(&mut h, "billing two behind", |h| {
        h.query_by_label("billing pay[0]: 2 behind").is_some()
    });
    client.commit("billing", "pay", 0, 3);
    step_until(&mut h, "billing caught up", |h| {
        h.query_by_label("billing pay[0]: 0 behind").is_some()
    });
    let points: Vec<i64> = h
        .state()
        .group_lag
        .series()
        .find(|(k, _)| k.to_string() == "billing pay[0]")
        .map(|(_, p)| p.iter().map(|(_, lag)| *lag).collect())
        .expect("billing's series");
    // (A poll between the two writes may also see one behind.)
    assert!(
        points.first() == Some(&0)
            && points.last() == Some(&0)
            && points.contains(&2)
            && points.windows(2).all(|w| w[0] != w[1]),
        "each change once, in order: {points:?}"
    );
    h.get_by_label("Message rates").click();
    h.run_steps(2);
    assert!(h.query_by_label("billing pay[0]: 0 behind").is_none());
}
