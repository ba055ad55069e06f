//! RabbitMQ's retry loop in flows, against a real node: a consumer that
//! rejects into a dead-letter exchange, a delay queue with a TTL that
//! dead-letters back to the work queue, a requeue, an expiry and an
//! unroutable publish, each told as the broker acted on it.

use crate::common;
use crate::common::amqp::{channel, monitor, rabbit, text, watching};

use std::time::{Duration, Instant};

use eventscope::capture::BrokerKind;
use eventscope::session::Session;
use lapin::options::{
    BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};

async fn declare(ch: &Channel, exchange: &str, queue: &str, key: &str, args: FieldTable) {
    // A parking lot takes every key (fanout, as dead-letter exchanges
    // often are); the others route by key.
    let kind = if exchange == "parking-ex" {
        ExchangeKind::Fanout
    } else {
        ExchangeKind::Direct
    };
    ch.exchange_declare(
        exchange.into(),
        kind,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("exchange");
    ch.queue_declare(queue.into(), QueueDeclareOptions::default(), args)
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

fn args(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in pairs {
        table.insert((*k).into(), v.clone());
    }
    table
}

/// How many times `queue` has dead-lettered a delivery, from its x-death.
fn deaths_from(properties: &BasicProperties, queue: &str) -> i64 {
    let Some(AMQPValue::FieldArray(deaths)) = properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-death"))
    else {
        return 0;
    };
    deaths
        .as_slice()
        .iter()
        .filter_map(|d| match d {
            AMQPValue::FieldTable(t) => Some(t),
            _ => None,
        })
        .filter(|t| {
            matches!(t.inner().get("queue"), Some(AMQPValue::LongString(q)) if q.as_bytes() == queue.as_bytes())
        })
        .filter_map(|t| match t.inner().get("count") {
            Some(AMQPValue::LongLongInt(n)) => Some(*n),
            _ => None,
        })
        .sum()
}

#[test]
fn a_dead_letter_retry_loop_through_a_ttl_delay_queue_is_one_timeline() {
    use futures_util::StreamExt;
    use lapin::options::{
        BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicRejectOptions,
    };
    let _timed = common::timed();
    let broker = rabbit();
    let rt = common::runtime();
    let (_conn, ch) = rt.block_on(channel(&broker.url()));
    rt.block_on(async {
        // work -> (rejected) -> retry-ex -> delay (300 ms TTL) -> (expired)
        // -> work-ex -> work: the classic retry loop.
        declare(
            &ch,
            "work-ex",
            "work",
            "task",
            args(&[("x-dead-letter-exchange", text("retry-ex"))]),
        )
        .await;
        declare(
            &ch,
            "retry-ex",
            "delay",
            "task",
            args(&[
                ("x-message-ttl", AMQPValue::LongInt(300)),
                ("x-dead-letter-exchange", text("work-ex")),
            ]),
        )
        .await;
        // fragile: requeued once, then rejected for good into parking.
        declare(
            &ch,
            "fragile-ex",
            "fragile",
            "job",
            args(&[("x-dead-letter-exchange", text("parking-ex"))]),
        )
        .await;
        declare(&ch, "parking-ex", "parking", "job", FieldTable::default()).await;
        // brief: nobody reads it, and its messages expire into parking.
        declare(
            &ch,
            "brief-ex",
            "brief",
            "brief",
            args(&[
                ("x-message-ttl", AMQPValue::LongInt(200)),
                ("x-dead-letter-exchange", text("parking-ex")),
            ]),
        )
        .await;
    });
    let mut m = monitor();
    let key = watching(
        &mut m,
        &broker.url(),
        &["amq.rabbitmq.trace/#", "parking-ex/#"],
    );
    // The worker: task fails twice, then succeeds; job is requeued once,
    // then rejected.
    let (_worker_conn, worker) = rt.block_on(channel(&broker.url()));
    let mut tasks = rt
        .block_on(worker.basic_consume(
            "work".into(),
            "worker".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .expect("consume work");
    let mut jobs = rt
        .block_on(worker.basic_consume(
            "fragile".into(),
            "fragile-worker".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .expect("consume fragile");
    rt.spawn(async move {
        while let Some(Ok(d)) = tasks.next().await {
            if deaths_from(&d.properties, "work") < 2 {
                d.acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await
                    .expect("reject");
            } else {
                d.acker.ack(BasicAckOptions::default()).await.expect("ack");
            }
        }
    });
    rt.spawn(async move {
        while let Some(Ok(d)) = jobs.next().await {
            if d.redelivered {
                d.acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await
                    .expect("reject");
            } else {
                d.acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        multiple: false,
                    })
                    .await
                    .expect("nack");
            }
        }
    });
    rt.block_on(async {
        for (exchange, key, id) in [
            ("work-ex", "task", "task-1"),
            ("fragile-ex", "job", "job-1"),
            ("brief-ex", "brief", "brief-1"),
            ("work-ex", "nobody", "lost-1"),
        ] {
            ch.basic_publish(
                exchange.into(),
                key.into(),
                BasicPublishOptions::default(),
                id.as_bytes(),
                BasicProperties::default().with_message_id(id.into()),
            )
            .await
            .expect("publish")
            .await
            .expect("sent");
        }
    });
    let flow_of = |m: &Session, id: &str| {
        m.flows
            .flows()
            .find(|f| {
                f.first_record
                    .and_then(|s| m.store.get(s))
                    .is_some_and(|r| r.payload() == id.as_bytes())
            })
            .cloned()
    };
    let final_of =
        |m: &Session, id: &str| flow_of(m, id).and_then(|f| m.flows.final_of(&f, m.flows.latest()));
    use eventscope::flow::Final;
    let deadline = Instant::now() + Duration::from_secs(20);
    let describe = |m: &Session| {
        m.flows
            .flows()
            .map(|f| {
                format!(
                    "{} {:?} {:?} {:?}\n",
                    f.subject,
                    m.flows.final_of(f, m.flows.latest()),
                    f.detail().step_labels(),
                    f.detail()
                        .deliveries
                        .iter()
                        .map(|d| (&d.consumer, d.outcome))
                        .collect::<Vec<_>>()
                )
            })
            .collect::<String>()
    };
    while !{
        let m = &m;
        final_of(m, "task-1") == Some(Final::Delivered)
            && flow_of(m, "task-1").is_some_and(|f| f.detail().deliveries.len() == 3)
            && final_of(m, "job-1") == Some(Final::DeadLettered)
            && final_of(m, "brief-1") == Some(Final::Expired)
            && final_of(m, "lost-1") == Some(Final::Unroutable)
    } {
        assert!(
            Instant::now() < deadline,
            "waiting for every message's end:\n{}",
            describe(&m)
        );
        m.drain(Duration::from_millis(20));
    }
    assert_eq!(m.store.broker_of(key), BrokerKind::Amqp);
    let task = flow_of(&m, "task-1").expect("task flow");
    assert_eq!(
        m.flows
            .flows()
            .filter(|f| f.subject.starts_with("work-ex/task"))
            .count(),
        1,
        "one flow for every cycle"
    );
    let labels = task.detail().step_labels();
    assert_eq!(
        labels,
        [
            "publish task",
            "routed to work",
            "deliver #1",
            "dead-lettered from work: rejected",
            "routed to delay",
            "dead-lettered from delay: expired",
            "routed to work",
            "deliver #2",
            "dead-lettered from work: rejected",
            "routed to delay",
            "dead-lettered from delay: expired",
            "routed to work",
            "deliver #3",
        ],
        "{:?}",
        task.detail().lane_names()
    );
    assert!(task.has_retries());
    let outcomes: Vec<_> = task.detail().deliveries.iter().map(|d| d.outcome).collect();
    use eventscope::flow::Outcome;
    assert_eq!(outcomes, [Outcome::Nak, Outcome::Nak, Outcome::Pending]);
    let job = flow_of(&m, "job-1").expect("job flow");
    assert_eq!(
        job.detail().step_labels(),
        [
            "publish job",
            "routed to fragile",
            "deliver #1",
            "deliver #2 (redelivered)",
            "dead-lettered from fragile: rejected",
        ]
    );
    // Seen as a copy on the monitor's binding of the dead-letter
    // exchange: where it went from there is not on the wire.
    assert!(job.detail().lane_names().contains(&"parking-ex"));
    let brief = flow_of(&m, "brief-1").expect("brief flow");
    assert!(
        brief
            .detail()
            .step_labels()
            .contains(&"dead-lettered from brief: expired")
    );
    // The Mermaid export draws the loop.
    let mermaid = eventscope::flow::mermaid(&[&task]);
    assert!(
        mermaid.contains("dead-lettered from delay: expired"),
        "{mermaid}"
    );
}
