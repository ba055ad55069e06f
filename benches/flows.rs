//! Flow reconstruction throughput on one core: records classified and
//! correlated per second, on a JetStream-heavy mix (publishes with PubAcks,
//! deliveries, ACKs, NAKs with redeliveries, advisories, requests).
//!
//! `cargo bench --bench flows` (release build). Prints records/s.

use std::time::Instant;

use eventscope::capture::{HeaderBlock, Record};
use eventscope::flow::{Correlator, FlowConfig};

fn record(
    subject: String,
    reply: Option<String>,
    payload: &'static [u8],
    headers: Option<HeaderBlock>,
) -> Record {
    Record::new(0, 0, &subject, reply.as_deref(), headers.as_ref(), payload)
}

/// About 8 records per message: publish, PubAck, deliveries and answers.
fn mix(messages: u64) -> Vec<Record> {
    let mut out = Vec::with_capacity(messages as usize * 8);
    for seq in 1..=messages {
        let inbox = format!("_INBOX.bench.{seq}");
        let headers =
            HeaderBlock::build(None, [("ce-source", "order-service"), ("Nats-Msg-Id", "m")]);
        out.push(record(
            "orders.created".into(),
            Some(inbox.clone()),
            br#"{"id":1}"#,
            Some(headers),
        ));
        let ack = format!(r#"{{"stream":"ORDERS","seq":{seq}}}"#);
        out.push(Record::new(0, 0, &inbox, None, None, ack.as_bytes()));
        let deliveries = if seq % 5 == 0 { 3 } else { 1 };
        for count in 1..=deliveries {
            let ack_subject =
                format!("$JS.ACK.ORDERS.worker.{count}.{seq}.{seq}.1795352350348894744.0");
            out.push(record(
                "orders.created".into(),
                Some(ack_subject.clone()),
                br#"{"id":1}"#,
                None,
            ));
            let body: &'static [u8] = if count < deliveries { b"-NAK" } else { b"+ACK" };
            out.push(record(ack_subject, None, body, None));
        }
        if seq % 5 == 0 {
            out.push(record(
                "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.ORDERS.worker".into(),
                None,
                br#"{"stream":"ORDERS","consumer":"worker","stream_seq":1,"deliveries":1}"#,
                None,
            ));
        }
        if seq % 4 == 0 {
            let reply = format!("_INBOX.req.{seq}");
            out.push(record(
                "pricing.quote".into(),
                Some(reply.clone()),
                br#"{"sku":"A"}"#,
                None,
            ));
            out.push(record(reply, None, br#"{"price":1}"#, None));
        }
    }
    out
}

fn main() {
    let records = mix(200_000);
    let mut rates = Vec::new();
    for round in 1..=3 {
        let mut correlator = Correlator::new(FlowConfig {
            max_flows: 100_000,
            ..FlowConfig::default()
        });
        let start = Instant::now();
        for (seq, r) in records.iter().enumerate() {
            correlator.ingest(seq as u64, r);
        }
        let secs = start.elapsed().as_secs_f64();
        let rate = records.len() as f64 / secs;
        println!(
            "round {round}: {} records in {secs:.3} s = {:.0} records/s ({} flows kept, {} evicted)",
            records.len(),
            rate,
            correlator.len(),
            correlator.evicted()
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!("flows: median {:.0} records/s on one core", rates[1]);
}
