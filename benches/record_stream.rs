//! Recording into a JetStream stream (`record --to-stream`), side by side
//! with a bare async-nats JetStream publisher storing the same messages
//! (512 acks awaited at once, as the recorder), into an R1 stream on one
//! server and an R3 stream on a three-node cluster. The recorder's part
//! measured is its writer: capture lines made from records
//! (`CaptureWriter`) and stored through `StreamSink` until every one is
//! acknowledged. Target: >= 0.8x the bare publisher.
//!
//! `cargo bench --bench record_stream` (EVENTSCOPE_BENCH_COUNT: 100,000)

#[path = "support.rs"]
mod support;

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventscope::capture::file::{CaptureHeader, CaptureWriter};
use eventscope::capture::{HeaderBlock, Record, RecordPacker};
use eventscope::demo::LocalCluster;
use eventscope::jetstream::{Api, CaptureStreamSettings, StreamSink, create_capture_stream};

const ROUNDS: usize = 3;

fn main() {
    let count = support::message_count(100_000) as usize;
    let records = records(count);
    let single = support::server();
    run("R1, one server", &single.url(), 1, &records);
    let cluster = LocalCluster::start().expect("a three-node cluster");
    run("R3, three-node cluster", &cluster.urls(), 3, &records);
}

/// 256-byte payloads with 3 headers on 4 subjects, as the ingest bench.
fn records(count: usize) -> Vec<Record> {
    let mut packer = RecordPacker::default();
    let headers = HeaderBlock::build(
        None,
        [
            ("ce-source", "bench"),
            ("ce-type", "com.example.bench"),
            ("ce-id", "0000000000000000"),
        ],
    );
    let payload = vec![b'x'; 256];
    (0..count)
        .map(|i| {
            packer.pack(
                i as i64,
                0,
                &format!("bench.s{}", i % 4),
                None,
                Some(&headers),
                &payload,
            )
        })
        .collect()
}

fn run(what: &str, urls: &str, replicas: u64, records: &[Record]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let first = urls.split(',').next().expect("a url").to_owned();
    let servers: Vec<async_nats::ServerAddr> = urls
        .split(',')
        .map(|u| u.parse().expect("a server URL"))
        .collect();
    let client = runtime
        .block_on(async_nats::connect(servers))
        .expect("connect");
    let api = Api::new(client.clone());
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Ours: capture lines through the sink, every one acknowledged.
        let name = format!("OURS{round}");
        let settings = CaptureStreamSettings {
            name: name.clone(),
            replicas,
            max_age: Duration::from_secs(3600),
            max_bytes: 0,
        };
        let header = CaptureHeader::new(vec![first.clone()]);
        runtime
            .block_on(create_capture_stream(&api, &settings, &header))
            .expect("capture stream");
        let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sink = StreamSink::new(
            runtime.handle().clone(),
            client.clone(),
            &name,
            acked.clone(),
            Arc::default(),
        );
        let started = Instant::now();
        let mut writer =
            CaptureWriter::new(std::io::BufWriter::with_capacity(1 << 20, sink), &header)
                .expect("writer");
        for record in records {
            writer.write(record, "bench").expect("write");
        }
        writer.flush().expect("every line acknowledged");
        ours.push(records.len() as f64 / started.elapsed().as_secs_f64());
        assert_eq!(
            acked.load(std::sync::atomic::Ordering::Relaxed) as usize,
            records.len()
        );

        // Bare: the same lines, published and acknowledged.
        let lines: Vec<Bytes> = {
            let mut out = Vec::new();
            let mut w = CaptureWriter::new(&mut out, &header).expect("writer");
            for record in records {
                w.write(record, "bench").expect("write");
            }
            drop(w);
            out.split(|b| *b == b'\n')
                .skip(1)
                .filter(|l| !l.is_empty())
                .map(Bytes::copy_from_slice)
                .collect()
        };
        let bare_name = format!("BARE{round}");
        let started = runtime.block_on(async {
            let js = async_nats::jetstream::new(client.clone());
            js.create_stream(async_nats::jetstream::stream::Config {
                name: bare_name.clone(),
                subjects: vec![format!("bare.{round}")],
                num_replicas: replicas as usize,
                ..Default::default()
            })
            .await
            .expect("stream");
            let started = Instant::now();
            let mut waiting = VecDeque::new();
            for line in &lines {
                let ack = js
                    .publish(format!("bare.{round}"), line.clone())
                    .await
                    .expect("publish");
                waiting.push_back(ack);
                if waiting.len() >= 512 {
                    waiting.pop_front().expect("one").await.expect("stored");
                }
            }
            for ack in waiting {
                ack.await.expect("stored");
            }
            started
        });
        bare.push(lines.len() as f64 / started.elapsed().as_secs_f64());
        let _ = std::io::stdout().flush();
    }
    let (ours, bare) = (support::median(&mut ours), support::median(&mut bare));
    println!(
        "record --to-stream, {what}, {} messages of 256 B + 3 headers: {:.0} k msg/s; bare JetStream publisher {:.0} k msg/s; ratio {:.2} ({ROUNDS} rounds, medians)",
        records.len(),
        ours / 1e3,
        bare / 1e3,
        ours / bare
    );
}
