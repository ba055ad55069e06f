//! MQTT beside NATS, against a real Mosquitto: capture exact (flags, MQTT 5
//! properties, binary payloads, retained values), the capture file, publish
//! and request through eventscope, request/response flows by correlation
//! data, and refusals said in words. The other side is rumqttc's own client
//! (its event loop, not eventscope's session).

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventscope::broker::{ConnectionProfile, LinkState, MqttFields, SendMode, SendOutcome};
use eventscope::capture::{BrokerKind, ConnectionKey};
use eventscope::demo::{LocalMosquitto, MosquittoUsers};
use eventscope::outgoing::OutMessage;
use eventscope::session::Session;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

fn mosquitto() -> LocalMosquitto {
    LocalMosquitto::start().unwrap_or_else(|e| panic!("these tests need Mosquitto: {e}"))
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

/// A rumqttc client whose event loop runs on `rt`; returns once connected.
fn client(
    rt: &tokio::runtime::Runtime,
    port: u16,
    id: &str,
) -> (
    AsyncClient,
    tokio::sync::mpsc::UnboundedReceiver<rumqttc::v5::mqttbytes::v5::Publish>,
) {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 100);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (up_tx, up_rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = up_tx.send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(p);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    up_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the test client connects");
    (client, rx)
}

fn properties(correlation: &[u8], response: Option<&str>) -> PublishProperties {
    PublishProperties {
        payload_format_indicator: Some(0),
        message_expiry_interval: Some(600),
        response_topic: response.map(str::to_owned),
        correlation_data: Some(Bytes::copy_from_slice(correlation)),
        user_properties: vec![
            ("ce-id".into(), "order-1".into()),
            ("x-multi".into(), "a".into()),
            ("x-multi".into(), "b".into()),
        ],
        content_type: Some("application/octet-stream".into()),
        ..PublishProperties::default()
    }
}

#[test]
fn mqtt_messages_are_captured_exactly_and_survive_the_capture_file() {
    let _timed = common::timed();
    let broker = mosquitto();
    let rt = common::runtime();
    let (publisher, _) = client(&rt, broker.port(), "publisher");
    // A retained value from before the monitor came.
    rt.block_on(publisher.publish("devices/7/state", QoS::AtLeastOnce, true, "on"))
        .expect("retained");
    std::thread::sleep(Duration::from_millis(100));
    let mut m = monitor();
    let key = m.connect(ConnectionProfile::new("mqtt", broker.url()));
    connected(&mut m, key);
    wait_until(&mut m, "the retained value", |m| m.store.len() == 1);
    let binary: Vec<u8> = (0..=255).collect();
    for (qos, topic) in [
        (QoS::AtMostOnce, "sensors/1/temp"),
        (QoS::AtLeastOnce, "sensors/2/temp"),
        (QoS::ExactlyOnce, "sensors/3/temp"),
    ] {
        rt.block_on(publisher.publish_with_properties(
            topic,
            qos,
            false,
            binary.clone(),
            properties(&[0, 1, 255], Some("replies/x")),
        ))
        .expect("publish");
    }
    wait_until(&mut m, "four records", |m| m.store.len() == 4);
    let records: Vec<_> = m.store.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(m.store.broker_of(key), BrokerKind::Mqtt);
    let retained = MqttFields::of_json(records[0].fields()).expect("fields");
    assert_eq!(records[0].subject(), "devices/7/state");
    assert!(retained.retain, "{:?}", records[0].fields());
    assert_eq!(retained.qos, 1);
    for (i, record) in records[1..].iter().enumerate() {
        let fields = MqttFields::of_json(record.fields()).expect("fields");
        assert_eq!(record.subject(), format!("sensors/{}/temp", i + 1));
        assert_eq!(fields.qos as usize, i, "the QoS as published");
        assert!(!fields.retain && !fields.dup);
        assert_eq!(fields.correlation_data(), Some(vec![0, 1, 255]));
        assert_eq!(
            fields.content_type.as_deref(),
            Some("application/octet-stream")
        );
        assert!(matches!(fields.message_expiry, Some(s) if s > 590 && s <= 600));
        assert_eq!(record.reply(), Some("replies/x"));
        assert_eq!(record.payload(), &binary[..]);
        let headers = record.headers().expect("user properties");
        assert_eq!(headers.get("ce-id"), Some("order-1"));
        assert_eq!(headers.get_all("x-multi").collect::<Vec<_>>(), ["a", "b"]);
    }
    // The tree splits topics on '/'.
    // The retained value is marked as such in flows.
    m.drain(Duration::from_millis(20));
    assert!(
        m.flows
            .flows()
            .any(|f| eventscope::flow::title(f) == "[mqtt] devices/7/state (retained)"),
        "{:?}",
        m.flows
            .flows()
            .map(eventscope::flow::title)
            .collect::<Vec<_>>()
    );
    // The tree splits topics on '/', under MQTT's own root.
    let tree = m.store.subjects();
    let root = tree
        .sorted_children(eventscope::capture::ROOT)
        .into_iter()
        .find(|&id| &*tree.node(id).name == "MQTT topics")
        .expect("MQTT's root");
    let sensors = tree
        .sorted_children(root)
        .into_iter()
        .find(|&id| &*tree.node(id).name == "sensors")
        .expect("a sensors node");
    assert_eq!(tree.node(sensors).messages, 3);
    assert_eq!(tree.filter_pattern(sensors), "sensors/#");

    // Through a capture file and back: the same records, said to be MQTT's.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("mqtt.jsonl");
    let file = std::fs::File::create(&path).expect("create");
    eventscope::capture::file::save_store(&m.store, file, vec![broker.url()]).expect("save");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.contains("\"eventscope_capture\":2"))
    );
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.contains("\"broker\":\"mqtt\"")),
        "{text}"
    );
    let mut store = eventscope::capture::Store::new(usize::MAX);
    let mut reader = eventscope::capture::file::CaptureReader::new(std::io::BufReader::new(
        std::fs::File::open(&path).expect("open"),
    ))
    .expect("a capture");
    let report = eventscope::capture::file::load_into(&mut reader, &mut store);
    assert_eq!(report.bad.count, 0);
    let back: Vec<_> = store.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(back.len(), 4);
    for (a, b) in records.iter().zip(&back) {
        assert_eq!(
            (a.subject(), a.reply(), a.fields(), a.payload()),
            (b.subject(), b.reply(), b.fields(), b.payload())
        );
        assert_eq!(
            a.headers().map(|h| h.as_bytes().to_vec()),
            b.headers().map(|h| h.as_bytes().to_vec())
        );
    }
    assert_eq!(store.broker_of(back[0].connection), BrokerKind::Mqtt);

    // Replayed into the broker, each message comes out as it went in: its
    // QoS, properties, user properties and bytes.
    let (watcher, mut seen) = client(&rt, broker.port(), "watcher");
    rt.block_on(watcher.subscribe("sensors/#", QoS::ExactlyOnce))
        .expect("subscribe");
    std::thread::sleep(Duration::from_millis(100));
    let options = eventscope::outgoing::ReplayOptions {
        timing: eventscope::outgoing::Timing::Rate { per_second: 1000.0 },
        ..Default::default()
    };
    let progress = m
        .start_job(key, eventscope::session::replay_job(back.clone(), options))
        .expect("job");
    common::wait_for("the replay", Duration::from_secs(10), || {
        progress.is_finished()
    });
    assert_eq!(
        (progress.sent(), progress.failed()),
        (4, 0),
        "{:?}",
        progress.last_error()
    );
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let got = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(5), seen.recv()).await })
            .expect("in time")
            .expect("a message");
        assert_eq!(got.qos, qos);
        assert_eq!(&got.payload[..], &binary[..]);
        let props = got.properties.expect("properties");
        assert_eq!(props.correlation_data.as_deref(), Some(&[0u8, 1, 255][..]));
        assert_eq!(
            props.response_topic.as_deref(),
            None,
            "a replay asks no answer"
        );
        // The replay's mark (on by default) beside the originals; the
        // values of one name keep their order (the names' order is the
        // client's header map's).
        let mut properties = props.user_properties.clone();
        properties.retain(|(name, _)| name != "Eventscope-Replay");
        assert_eq!(properties.len() + 1, props.user_properties.len());
        properties.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            properties,
            [
                ("ce-id".to_owned(), "order-1".to_owned()),
                ("x-multi".to_owned(), "a".to_owned()),
                ("x-multi".to_owned(), "b".to_owned())
            ]
        );
    }
}

#[test]
fn requests_are_answered_by_correlation_data_in_flows_and_from_the_publish_form() {
    let _timed = common::timed();
    let broker = mosquitto();
    let rt = common::runtime();
    // A responder: answers each request on its response topic with its
    // correlation data, as MQTT 5 request/response does.
    let (responder, mut requests) = client(&rt, broker.port(), "responder");
    rt.block_on(responder.subscribe("svc/price", QoS::AtLeastOnce))
        .expect("subscribe");
    let answering = responder.clone();
    rt.spawn(async move {
        while let Some(request) = requests.recv().await {
            let Some(props) = request.properties else {
                continue;
            };
            let Some(topic) = props.response_topic else {
                continue;
            };
            let answer = PublishProperties {
                correlation_data: props.correlation_data,
                ..PublishProperties::default()
            };
            let mut payload = b"price for ".to_vec();
            payload.extend_from_slice(&request.payload);
            let _ = answering
                .publish_with_properties(topic, QoS::AtLeastOnce, false, payload, answer)
                .await;
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut m = monitor();
    let key = m.connect(ConnectionProfile::new("mqtt", broker.url()));
    connected(&mut m, key);
    // Two requests on one shared response topic, told apart by their
    // correlation data; the second's answer must not close the first.
    let (requester, _) = client(&rt, broker.port(), "requester");
    for (n, correlation) in [(1u8, b"c1"), (2u8, b"c2")] {
        rt.block_on(requester.publish_with_properties(
            "svc/price",
            QoS::AtLeastOnce,
            false,
            vec![b'0' + n],
            PublishProperties {
                response_topic: Some("clients/7/replies".into()),
                correlation_data: Some(Bytes::copy_from_slice(correlation)),
                ..PublishProperties::default()
            },
        ))
        .expect("request");
    }
    wait_until(&mut m, "two requests and two answers", |m| {
        m.store.len() >= 4
    });
    m.drain(Duration::from_millis(50));
    let requests: Vec<_> = m
        .flows
        .flows()
        .filter(|f| &*f.subject == "svc/price")
        .collect();
    assert_eq!(requests.len(), 2, "two request flows");
    for flow in &requests {
        assert!(
            flow.detail().reply_at.is_some(),
            "each request answered: {flow:?}"
        );
        assert_eq!(flow.detail().reply_count(), 1, "by its own answer only");
    }

    // From eventscope's own publish form: a request waits for its answer.
    let outcome = m
        .send(
            key,
            OutMessage {
                subject: "svc/price".into(),
                reply: None,
                headers: vec![("ce-id".into(), "from-eventscope".into())],
                payload: Bytes::from_static(b"9"),
                fields: Some(r#"{"qos":1}"#.into()),
            },
            SendMode::Request {
                timeout: Duration::from_secs(5),
            },
        )
        .expect("send");
    match outcome.blocking_recv().expect("an outcome") {
        SendOutcome::Reply { payload, .. } => assert_eq!(&payload[..], b"price for 9"),
        other => panic!("no reply: {other:?}"),
    }
    // A publish to a wildcard topic is refused in words.
    let refused = m
        .send(
            key,
            OutMessage {
                subject: "svc/+".into(),
                reply: None,
                headers: Vec::new(),
                payload: Bytes::new(),
                fields: None,
            },
            SendMode::Publish,
        )
        .expect("send");
    match refused.blocking_recv().expect("an outcome") {
        SendOutcome::Failed(why) => assert!(why.contains("'+' or '#'"), "{why}"),
        other => panic!("published to a wildcard: {other:?}"),
    }
}

#[test]
fn refused_credentials_are_said_in_words_without_the_password() {
    let _timed = common::timed();
    let users = MosquittoUsers {
        users: vec![("reader".into(), "s3cret".into())],
        acl: String::new(),
    };
    let broker = LocalMosquitto::start_with(Some(&users))
        .unwrap_or_else(|e| panic!("these tests need Mosquitto: {e}"));
    let mut m = monitor();
    let port = broker.port();
    let wrong = m.connect(ConnectionProfile::new(
        "wrong",
        format!("mqtt://reader:nope@127.0.0.1:{port}"),
    ));
    wait_until(&mut m, "the refusal", |m| {
        matches!(
            m.shared(wrong).expect("conn").state(),
            LinkState::AuthError(_)
        )
    });
    let said = m.shared(wrong).expect("conn").state().label();
    assert!(said.contains("refused the credentials"), "{said}");
    assert!(!said.contains("nope"), "no password in words: {said}");

    // With the right password the same user is connected. (Mosquitto
    // 2.0 grants a subscription its ACL denies and then delivers nothing:
    // measured with `mosquitto_sub -V 5 -d`. A broker that refuses in its
    // SUBACK, as EMQX and HiveMQ do, has its refusal shown on the
    // subscription in words.)
    let key = m.connect(ConnectionProfile::new(
        "reader",
        format!("mqtt://reader:s3cret@127.0.0.1:{port}"),
    ));
    connected(&mut m, key);
    let status = m.shared(key).expect("conn").status();
    assert!(
        status
            .subscriptions
            .iter()
            .all(|s| s.active && s.error.is_none()),
        "{status:?}"
    );
}
