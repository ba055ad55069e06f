//! Making the map of the system from the flows the app keeps (100,000, its
//! default cap), as the Map view does once a second on the UI thread,
//! beside a baseline: one pass over the same flows reading each subject,
//! the least any map of them costs.
//!
//! `cargo bench --bench map` (release build). Prints milliseconds per map.

use std::time::Instant;

use eventscope::capture::{HeaderBlock, Record};
use eventscope::flow::{Correlator, FlowConfig};
use eventscope::map::SystemMap;

/// 100,000 messages: three in four core publishes on 400 subjects from 20
/// producers, one in four stored in ORDERS and delivered to a worker
/// (every fifth NAKed once), with its PubAck.
fn records() -> Vec<Record> {
    let mut out = Vec::new();
    for seq in 1..=100_000u64 {
        let producer = format!("svc-{}", seq % 20);
        let headers = HeaderBlock::build(None, [("ce-source", producer.as_str())]);
        if seq % 4 != 0 {
            let subject = format!("events.{}.happened", seq % 400);
            out.push(Record::new(0, 0, &subject, None, Some(&headers), b"{}"));
            continue;
        }
        let inbox = format!("_INBOX.bench.{seq}");
        out.push(Record::new(
            0,
            0,
            "orders.created",
            Some(&inbox),
            Some(&headers),
            b"{}",
        ));
        let ack = format!(r#"{{"stream":"ORDERS","seq":{seq}}}"#);
        out.push(Record::new(0, 0, &inbox, None, None, ack.as_bytes()));
        let deliveries = if seq % 20 == 0 { 2 } else { 1 };
        for count in 1..=deliveries {
            let reply = format!("$JS.ACK.ORDERS.worker.{count}.{seq}.{seq}.1795352350348894744.0");
            out.push(Record::new(
                0,
                0,
                "orders.created",
                Some(&reply),
                None,
                b"{}",
            ));
            let body: &[u8] = if count < deliveries { b"-NAK" } else { b"+ACK" };
            out.push(Record::new(0, 0, &reply, None, None, body));
        }
    }
    out
}

fn median(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

fn main() {
    let mut correlator = Correlator::new(FlowConfig {
        max_flows: 100_000,
        ..FlowConfig::default()
    });
    for (seq, record) in records().iter().enumerate() {
        correlator.ingest(seq as u64, record);
    }
    println!("{} flows kept", correlator.len());
    let mut baseline = Vec::new();
    let mut map_ms = Vec::new();
    let mut shape = (0, 0);
    for _ in 0..7 {
        let start = Instant::now();
        let read: usize = correlator.flows().map(|f| f.subject.len()).sum();
        baseline.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(read);
        let start = Instant::now();
        let map = SystemMap::from_flows(&correlator, None);
        map_ms.push(start.elapsed().as_secs_f64() * 1e3);
        shape = (map.nodes.len(), map.edges.len());
        std::hint::black_box(map);
    }
    println!(
        "baseline (a pass reading each flow's subject): {:.2} ms",
        median(baseline)
    );
    println!(
        "map of {} boxes and {} arrows: {:.2} ms (median of 7; the Map view makes one a second)",
        shape.0,
        shape.1,
        median(map_ms)
    );
}
