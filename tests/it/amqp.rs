//! RabbitMQ beside NATS, against a real RabbitMQ node: capture exact
//! (properties, headers, binary payloads), the firehose read as the
//! publishes and deliveries it describes, the capture file, publish,
//! request and replay through eventscope, the dead-letter retry timeline
//! from a real consumer, and refusals said in words. The other side is
//! lapin driven by the test.

use crate::common;
use crate::common::amqp::{channel, connected, monitor, rabbit, text, wait_until, watching};

use std::time::Duration;

use eventscope::broker::{ConnectionProfile, LinkState, SubscriptionSpec};
use eventscope::capture::{AmqpFields, BrokerKind, TraceEvent};
use lapin::options::{
    BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, ExchangeKind};

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
    // Both are one publish in flows: one flow, routed to billing.
    let orders: Vec<_> = m
        .flows
        .flows()
        .filter(|f| f.subject == "orders/order.created")
        .collect();
    assert_eq!(
        orders.len(),
        1,
        "the copy and the firehose's publish are one flow"
    );
    assert!(
        orders[0]
            .detail()
            .step_labels()
            .contains(&"routed to billing"),
        "{:?}",
        orders[0].detail().step_labels()
    );

    // RPC: two requests on one reply queue, told apart by correlation id,
    // each answered in flows by its own answer.
    rt.block_on(async {
        use futures_util::StreamExt;
        use lapin::options::BasicConsumeOptions;
        ch.queue_declare(
            "quotes".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("queue");
        ch.queue_declare(
            "my-replies".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("queue");
        let mut quotes = ch
            .basic_consume(
                "quotes".into(),
                "responder".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let responder = ch.clone();
        tokio::spawn(async move {
            while let Some(Ok(request)) = quotes.next().await {
                let p = &request.properties;
                let (Some(to), Some(id)) = (p.reply_to().clone(), p.correlation_id().clone())
                else {
                    continue;
                };
                let _ = responder
                    .basic_publish(
                        "".into(),
                        to.as_str().into(),
                        BasicPublishOptions::default(),
                        b"42",
                        BasicProperties::default().with_correlation_id(id),
                    )
                    .await;
            }
        });
        for id in ["q-1", "q-2"] {
            ch.basic_publish(
                "".into(),
                "quotes".into(),
                BasicPublishOptions::default(),
                id.as_bytes(),
                BasicProperties::default()
                    .with_reply_to("my-replies".into())
                    .with_correlation_id(id.into()),
            )
            .await
            .expect("request")
            .await
            .expect("sent");
        }
    });
    wait_until(&mut m, "both requests answered", |m| {
        let answered = m
            .flows
            .flows()
            .filter(|f| f.subject == "amq.default/quotes" && f.detail().reply_at.is_some())
            .count();
        answered == 2
    });
    for flow in m
        .flows
        .flows()
        .filter(|f| f.subject == "amq.default/quotes")
    {
        assert_eq!(flow.detail().reply_count(), 1, "by its own answer only");
    }
}

#[test]
fn amqp_captures_survive_the_file_and_replay_publish_and_request_exactly() {
    use bytes::Bytes;
    use eventscope::broker::{SendMode, SendOutcome};
    use eventscope::outgoing::OutMessage;
    use futures_util::StreamExt;
    use lapin::options::BasicConsumeOptions;
    let _timed = common::timed();
    let broker = rabbit();
    let rt = common::runtime();
    let (_conn, ch) = rt.block_on(channel(&broker.url()));
    rt.block_on(async {
        for (exchange, queue, key) in [("events", "audit", "audit.#"), ("rpc", "prices", "price")] {
            ch.exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("exchange");
            ch.queue_declare(
                queue.into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("queue");
            ch.queue_bind(
                queue.into(),
                exchange.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        }
    });
    let mut m = monitor();
    let key = watching(&mut m, &broker.url(), &["events/#"]);
    let binary: Vec<u8> = (0..=255).rev().collect();
    let mut death = FieldTable::default();
    death.insert("queue".into(), text("earlier"));
    death.insert("count".into(), AMQPValue::LongLongInt(2));
    let mut headers = FieldTable::default();
    headers.insert("traceparent".into(), text("00-abc-def-01"));
    headers.insert(
        "x-history".into(),
        AMQPValue::FieldArray(vec![AMQPValue::FieldTable(death)].into()),
    );
    headers.insert("x-when".into(), AMQPValue::Timestamp(1_700_000_123));
    let properties = BasicProperties::default()
        .with_message_id("audit-1".into())
        .with_delivery_mode(2)
        .with_priority(3)
        .with_app_id("billing".into())
        .with_headers(headers);
    rt.block_on(async {
        ch.basic_publish(
            "events".into(),
            "audit.login".into(),
            BasicPublishOptions::default(),
            &binary,
            properties.clone(),
        )
        .await
        .expect("publish")
        .await
        .expect("sent");
    });
    wait_until(&mut m, "the copy", |m| m.store.len() == 1);
    let original = m
        .store
        .iter()
        .next()
        .map(|(_, r)| r.clone())
        .expect("a record");

    // Through a capture file and back: the same record, said to be AMQP's.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("amqp.jsonl");
    let file = std::fs::File::create(&path).expect("create");
    eventscope::capture::file::save_store(&m.store, file, vec![broker.url()]).expect("save");
    let text_of_file = std::fs::read_to_string(&path).expect("read");
    assert!(
        text_of_file.contains("\"broker\":\"amqp\""),
        "{text_of_file}"
    );
    assert!(
        !text_of_file.contains("guest:guest"),
        "no password in the file"
    );
    let mut store = eventscope::capture::Store::new(usize::MAX);
    let mut reader = eventscope::capture::file::CaptureReader::new(std::io::BufReader::new(
        std::fs::File::open(&path).expect("open"),
    ))
    .expect("a capture");
    let report = eventscope::capture::file::load_into(&mut reader, &mut store);
    assert_eq!(report.bad.count, 0);
    let back: Vec<_> = store.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(
        (back[0].subject(), back[0].fields(), back[0].payload()),
        (original.subject(), original.fields(), original.payload())
    );
    assert_eq!(store.broker_of(back[0].connection), BrokerKind::Amqp);

    // Replayed: the same bytes, properties and typed headers reach a
    // queue (the replay's mark beside them).
    let mut audit = rt
        .block_on(ch.basic_consume(
            "audit".into(),
            "test".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .expect("consume");
    let first = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), audit.next()).await })
        .expect("in time")
        .expect("a message")
        .expect("ok");
    let progress = m
        .start_job(
            key,
            eventscope::session::replay_job(back.clone(), Default::default()),
        )
        .expect("job");
    common::wait_for("the replay", Duration::from_secs(10), || {
        progress.is_finished()
    });
    assert_eq!(
        (progress.sent(), progress.failed()),
        (1, 0),
        "{:?}",
        progress.last_error()
    );
    let replayed = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), audit.next()).await })
        .expect("in time")
        .expect("a message")
        .expect("ok");
    assert_eq!(replayed.data, binary);
    assert_eq!(replayed.routing_key.as_str(), "audit.login");
    let (a, b) = (&first.properties, &replayed.properties);
    assert_eq!(
        (a.message_id(), a.delivery_mode(), a.priority(), a.app_id()),
        (b.message_id(), b.delivery_mode(), b.priority(), b.app_id())
    );
    let mut replayed_headers = b.headers().clone().expect("headers").inner().clone();
    assert!(
        replayed_headers.remove("Eventscope-Replay").is_some(),
        "the replay's mark"
    );
    let mut original_headers = a.headers().clone().expect("headers").inner().clone();
    // Integers come back 64-bit: the same number.
    if let Some(AMQPValue::FieldArray(list)) = original_headers.get_mut("x-history") {
        assert_eq!(list.as_slice().len(), 1);
    }
    assert_eq!(
        replayed_headers.get("traceparent"),
        original_headers.get("traceparent")
    );
    assert_eq!(
        replayed_headers.get("x-when"),
        original_headers.get("x-when")
    );
    assert_eq!(
        replayed_headers.get("x-history"),
        original_headers.get("x-history")
    );

    // Request/reply from the publish form: a responder answers on the
    // request's reply-to with its correlation id.
    let mut prices = rt
        .block_on(ch.basic_consume(
            "prices".into(),
            "responder".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .expect("consume");
    let responder = ch.clone();
    rt.spawn(async move {
        while let Some(Ok(request)) = prices.next().await {
            let p = &request.properties;
            let (Some(reply_to), Some(correlation)) =
                (p.reply_to().clone(), p.correlation_id().clone())
            else {
                continue;
            };
            let mut answer = b"price for ".to_vec();
            answer.extend_from_slice(&request.data);
            let _ = responder
                .basic_publish(
                    "".into(),
                    reply_to.as_str().into(),
                    BasicPublishOptions::default(),
                    &answer,
                    BasicProperties::default().with_correlation_id(correlation),
                )
                .await;
        }
    });
    let outcome = m
        .send(
            key,
            OutMessage {
                subject: "rpc/price".into(),
                reply: None,
                headers: vec![("ce-id".into(), "from-eventscope".into())],
                payload: Bytes::from_static(b"9"),
                fields: None,
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
    // A publish no queue takes is said, not lost in silence.
    let refused = m
        .send(
            key,
            OutMessage {
                subject: "rpc/nobody.listens".into(),
                reply: None,
                headers: Vec::new(),
                payload: Bytes::new(),
                fields: None,
            },
            SendMode::Publish,
        )
        .expect("send");
    match refused.blocking_recv().expect("an outcome") {
        SendOutcome::Failed(why) => assert!(why.contains("could not route"), "{why}"),
        other => panic!("an unroutable publish passed: {other:?}"),
    }
    let bad = m
        .send(
            key,
            OutMessage {
                subject: "no-exchange-here".into(),
                reply: None,
                headers: Vec::new(),
                payload: Bytes::new(),
                fields: None,
            },
            SendMode::Publish,
        )
        .expect("send");
    match bad.blocking_recv().expect("an outcome") {
        SendOutcome::Failed(why) => assert!(why.contains("EXCHANGE/ROUTING_KEY"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn refusals_are_said_in_words_and_a_firehose_that_is_off_is_named() {
    let _timed = common::timed();
    let broker = rabbit();
    let port = broker.port();
    broker
        .vhost_for(
            "shop",
            "clerk",
            "s3cret",
            r"^(orders|eventscope\.monitor\..*)$",
        )
        .expect("a vhost and a user");
    broker
        .vhost_for("shop", "blind", "s3cret", "^orders$")
        .expect("a user who may read nothing of its own");
    broker
        .control(&["trace_off", "-p", "/"])
        .expect("trace off");
    let mut m = monitor();
    // Wrong password: refused, the password never in words.
    let wrong = m.connect(ConnectionProfile::new(
        "wrong",
        format!("amqp://clerk:nope@127.0.0.1:{port}/shop"),
    ));
    // A vhost that does not exist.
    let nowhere = m.connect(ConnectionProfile::new(
        "nowhere",
        format!("amqp://clerk:s3cret@127.0.0.1:{port}/nowhere"),
    ));
    wait_until(&mut m, "both refusals", |m| {
        [wrong, nowhere]
            .iter()
            .all(|k| matches!(m.shared(*k).expect("conn").state(), LinkState::AuthError(_)))
    });
    let said = m.shared(wrong).expect("conn").state().label();
    assert!(said.contains("refused the credentials"), "{said}");
    assert!(!said.contains("nope"), "{said}");
    let said = m.shared(nowhere).expect("conn").state().label();
    assert!(said.contains("virtual host 'nowhere'"), "{said}");
    // A user who may not read the monitor's own queue: said, with what to
    // allow, and not retried.
    let blind = m.connect(ConnectionProfile::new(
        "blind",
        format!("amqp://blind:s3cret@127.0.0.1:{port}/shop"),
    ));
    wait_until(&mut m, "the own queue's refusal", |m| {
        matches!(
            m.shared(blind).expect("conn").state(),
            LinkState::AuthError(_)
        )
    });
    let said = m.shared(blind).expect("conn").state().label();
    assert!(
        said.contains("monitor's own queue") && said.contains("'shop'"),
        "{said}"
    );

    // A user who may not read the firehose: the subscription says so and
    // how to fix it; the binding it may read works.
    let mut profile = ConnectionProfile::new(
        "clerk",
        format!("amqp://clerk:s3cret@127.0.0.1:{port}/shop"),
    );
    profile.subscriptions = vec![
        SubscriptionSpec::new(">"),
        SubscriptionSpec::new("nowhere-ex/#"),
    ];
    let clerk = m.connect(profile);
    connected(&mut m, clerk);
    wait_until(&mut m, "the clerk's subscriptions", |m| {
        m.shared(clerk).expect("conn").status().subscriptions.len() == 2
    });
    let status = m.shared(clerk).expect("conn").status();
    let firehose = &status.subscriptions[0];
    assert!(!firehose.active);
    let why = firehose.error.as_deref().unwrap_or_default();
    assert!(
        why.contains("firehose") && why.contains("read permission"),
        "{why}"
    );
    // An exchange the user may not read (it need not exist to be refused).
    let refused = &status.subscriptions[1];
    let why = refused.error.as_deref().unwrap_or_default();
    assert!(
        why.contains("refused to bind 'nowhere-ex/#'") && why.contains("not allowed"),
        "{why}"
    );

    // The firehose bound but off: said, with the command that turns it on.
    let guest = watching(&mut m, &broker.url(), &["amq.rabbitmq.trace/#"]);
    wait_until(&mut m, "the firehose's silence named", |m| {
        m.shared(guest).expect("conn").status().subscriptions[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("rabbitmqctl trace_on -p '/'"))
    });
    assert!(m.shared(guest).expect("conn").status().state.is_connected());
}
