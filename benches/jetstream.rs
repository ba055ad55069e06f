//! JetStream reading, side by side with a bare async-nats client in one
//! run, on a private nats-server over loopback:
//!
//! 1. a page of 1,000 messages of 256 B: eventscope's browser (batched
//!    direct get, no consumer) against a bare ordered consumer reading the
//!    same 1,000 (target: under 50 ms);
//! 2. scanning (search) a range of EVENTSCOPE_BENCH_COUNT (1,000,000)
//!    messages against a bare ordered consumer reading the same range
//!    (target: >= 0.8x);
//! 3. flows rebuilt from the flight recorder: 200,000 recorded answers read
//!    and correlated, against a bare ordered consumer only reading them
//!    (target: >= 200k answers/s);
//! 4. frames of the stream report and consumer report with 1,000 streams and
//!    10,000 consumers (target: p99 <= 8 ms).
//!
//! `cargo bench --bench jetstream`

#[path = "support.rs"]
mod support;

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures_util::StreamExt;

use eventscope::app::{AppConfig, EventscopeApp};
use eventscope::flow::{Correlator, FlowConfig};
use eventscope::jetstream::{
    Access, Api, ConsumerSummary, PageRequest, SearchProgress, SearchRequest, Start, StreamSummary,
    fetch_page, read_recorder, search,
};
use eventscope::ui::{StreamTab, View};

const PAGE: usize = 1000;
const ROUNDS: usize = 15;
const ANSWERS: u64 = 200_000;

fn main() {
    let count = support::message_count(1_000_000);
    let server = support::server();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = async_nats::connect(server.url()).await.expect("connect");
        let js = jetstream::new(client.clone());
        fill_stream(&client, &js, count).await;
        let profile = eventscope::broker::ConnectionProfile::new("bench", server.url());
        let api = Api::with_profile(client.clone(), profile);
        page_bench(&api, &js).await;
        scan_bench(&api, &js, count).await;
        recorder_bench(&api, &client, &js).await;
    });
    frames_bench();
}

/// `count` messages of 256 B on 4 subjects, JetStream publishes with up to
/// 2,000 acks awaited at once (core publishes at full speed overrun the
/// stream's intake, which then drops them).
async fn fill_stream(_client: &async_nats::Client, js: &jetstream::Context, count: u64) {
    js.create_stream(stream::Config {
        name: "BENCH".into(),
        subjects: vec!["bench.>".into()],
        allow_direct: true,
        max_bytes: 2 << 30,
        ..Default::default()
    })
    .await
    .expect("stream");
    let started = Instant::now();
    let payload = Bytes::from(vec![b'x'; 256]);
    let headers = support::headers();
    let mut acks = std::collections::VecDeque::new();
    for i in 0..count {
        let ack = js
            .publish_with_headers(
                format!("bench.s{}", i % 4),
                headers.clone(),
                payload.clone(),
            )
            .await
            .expect("publish");
        acks.push_back(ack);
        if acks.len() >= 2000 {
            acks.pop_front().expect("one").await.expect("stored");
        }
    }
    for ack in acks {
        ack.await.expect("stored");
    }
    println!(
        "jetstream: {count} messages of 256 B + 3 headers stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A bare ordered consumer reading `n` messages from `start`.
async fn ordered_read(js: &jetstream::Context, stream: &str, start: u64, n: u64) -> u64 {
    let s = js.get_stream(stream).await.expect("stream");
    let consumer = s
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..Default::default()
        })
        .await
        .expect("ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut read = 0;
    while read < n {
        let m = messages.next().await.expect("a message").expect("ok");
        std::hint::black_box(&m.payload);
        read += 1;
    }
    read
}

async fn page_bench(api: &Api, js: &jetstream::Context) {
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let start = 1 + (round as u64 * 7919) % 100_000;
        let t = Instant::now();
        let page = fetch_page(
            api,
            "BENCH",
            Access::Direct,
            &PageRequest {
                start: Start::Seq(start),
                subject: None,
                count: PAGE,
                max_bytes: 8 << 20,
            },
        )
        .await
        .expect("page");
        assert_eq!(page.messages.len(), PAGE);
        ours.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        ordered_read(js, "BENCH", start, PAGE as u64).await;
        bare.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "page of {PAGE} x 256 B: eventscope browser (direct get) median {:.1} ms; bare ordered consumer median {:.1} ms ({ROUNDS} rounds, alternating)",
        support::median(&mut ours),
        support::median(&mut bare)
    );
}

async fn scan_bench(api: &Api, js: &jetstream::Context, count: u64) {
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let progress = SearchProgress::new();
        let request = SearchRequest {
            start: Start::Seq(1),
            up_to_seq: Some(count),
            subject: None,
            needle: "not in any message".into(),
            max_messages: count,
            max_bytes: u64::MAX,
            max_time: Duration::from_secs(600),
            max_hits: 10,
        };
        let t = Instant::now();
        search(api, "BENCH", Access::Direct, &request, &progress).await;
        assert_eq!(progress.scanned(), count, "{:?}", progress.ended());
        ours.push(count as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        ordered_read(js, "BENCH", 1, count).await;
        bare.push(count as f64 / t.elapsed().as_secs_f64());
    }
    let (ours, bare) = (support::median(&mut ours), support::median(&mut bare));
    println!(
        "scan of {count}: eventscope search {:.0} k msg/s; bare ordered consumer {:.0} k msg/s; ratio {:.2} (3 rounds, alternating, medians)",
        ours / 1e3,
        bare / 1e3,
        ours / bare
    );
}

/// 100,000 messages each NAKed once then acked, as the recorder stores
/// them (core publishes to the ack subjects, as a worker's answers are).
async fn recorder_bench(api: &Api, client: &async_nats::Client, js: &jetstream::Context) {
    eventscope::jetstream::start_recorder(api, &Default::default())
        .await
        .expect("recorder");
    let ts = eventscope::capture::now_timestamp();
    for i in 0..ANSWERS {
        let seq = i / 2 + 1;
        let (delivered, body) = if i % 2 == 0 { (1, "-NAK") } else { (2, "+ACK") };
        let subject = format!("$JS.ACK.ORDERS.worker.{delivered}.{seq}.{}.{ts}.0", i + 1);
        client
            .publish(subject, Bytes::from_static(body.as_bytes()))
            .await
            .expect("publish");
        if i % 10_000 == 9_999 {
            client.flush().await.expect("flush");
        }
    }
    client.flush().await.expect("flush");
    loop {
        let status =
            eventscope::jetstream::recorder_status(api, eventscope::jetstream::DEFAULT_RECORDER)
                .await
                .expect("status")
                .expect("recorder");
        if status.messages >= ANSWERS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        let read = read_recorder(
            api,
            eventscope::jetstream::DEFAULT_RECORDER,
            None,
            0,
            u64::MAX,
        )
        .await
        .expect("read");
        let mut correlator = Correlator::new(FlowConfig {
            max_flows: usize::MAX,
            ..FlowConfig::default()
        });
        for (seq, record) in read.records.iter().enumerate() {
            correlator.ingest(seq as u64, record);
        }
        assert_eq!(correlator.len() as u64, ANSWERS / 2);
        ours.push(ANSWERS as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        ordered_read(js, eventscope::jetstream::DEFAULT_RECORDER, 1, ANSWERS).await;
        bare.push(ANSWERS as f64 / t.elapsed().as_secs_f64());
    }
    println!(
        "flows from the recorder, {ANSWERS} answers: read and correlated {:.0} k answers/s; bare ordered consumer reading them {:.0} k/s (3 rounds, medians)",
        support::median(&mut ours) / 1e3,
        support::median(&mut bare) / 1e3
    );
}

/// The stream report (1,000 streams) and a stream's consumer report
/// (10,000 consumers), drawn headless, CPU time per frame.
fn frames_bench() {
    let ctx = egui::Context::default();
    let config = AppConfig {
        view: View::JetStream,
        ..AppConfig::default()
    };
    let mut app = EventscopeApp::new(&ctx, None, config).expect("app");
    let retention = ["limits", "interest", "workqueue"];
    let streams: Vec<StreamSummary> = (0..1000)
        .map(|i| {
            StreamSummary::from_info(serde_json::json!({
                "config": {"name": format!("STREAM_{i:04}"), "subjects": [format!("s{i}.>")],
                           "retention": retention[i % 3],
                           "storage": "file", "num_replicas": 1 + (i % 3) * 2, "allow_direct": true},
                "state": {"messages": i * 997 % 100_000, "bytes": i * 12_345, "first_seq": 1,
                          "last_seq": i * 997 % 100_000, "consumer_count": 10, "num_deleted": i % 7,
                          "last_ts": "2026-11-30T06:00:00Z"}
            }))
        })
        .collect();
    let consumers: Vec<ConsumerSummary> = (0..10_000)
        .map(|i| {
            ConsumerSummary::from_info(serde_json::json!({
                "stream_name": "STREAM_0001", "name": format!("consumer-{i:05}"),
                "config": {"durable_name": format!("consumer-{i:05}"), "ack_policy": "explicit",
                           "max_deliver": 5, "max_ack_pending": 1000, "filter_subject": "s1.>"},
                "delivered": {"consumer_seq": i, "stream_seq": i, "last_active": "2026-11-30T06:00:00Z"},
                "ack_floor": {"consumer_seq": i / 2, "stream_seq": i / 2, "last_active": "2026-11-30T06:00:00Z"},
                "num_ack_pending": i % 1000, "num_redelivered": i % 13, "num_waiting": i % 3,
                "num_pending": i * 3
            }))
        })
        .collect();
    let view = app.jetstream_view_mut();
    view.streams.list.value = Some(streams);
    view.streams.selected = Some("STREAM_0001".into());
    view.consumers.list.value = Some(consumers);
    let mut time = 0.0;
    for (tab, what) in [
        (StreamTab::Consumers, "1,000 streams + 10,000 consumers"),
        (StreamTab::Detail, "1,000 streams + stream detail"),
    ] {
        app.jetstream_view_mut().tab = tab;
        let mut samples = support::time_frames(&ctx, &mut app, &mut time, |_, _| {});
        let [median, p99, max] = support::percentiles(&mut samples);
        println!(
            "JetStream view, {what}: median {median:.2} ms, p99 {p99:.2} ms, max {max:.2} ms ({} frames)",
            samples.len()
        );
    }
}
