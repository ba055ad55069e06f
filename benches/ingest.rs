//! Ingest, side by side in one run (PERF-NOTES.md's method): 1,000,000
//! messages of 256 bytes with 3 headers, published by a bare async-nats
//! publisher in another process, received by
//!   (a) a bare async-nats subscriber that only counts,
//!   (b) eventscope's full ingest path: subscription -> batches -> store
//!       with subject stats and flow correlation, drained as the UI does,
//!   (c) `eventscope record` to a file.
//! Rounds alternate; the medians and median ratios are printed, with the
//! client-side drops of each and, for (b), the memory per retained message.
//!
//! `cargo bench --bench ingest` (EVENTSCOPE_BENCH_COUNT to change 1,000,000).

#[path = "support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use eventscope::broker::{ConnectionProfile, SubscriptionSpec};
use eventscope::monitor::Monitor;
use futures_util::StreamExt;

const SIZE: usize = 256;

struct Run {
    rate: f64,
    received: u64,
    dropped: u64,
}

fn bare(url: &str, count: u64) -> Run {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .subscription_capacity(1 << 20)
            .connect(url)
            .await
            .expect("connect");
        let mut sub = client.subscribe("bench.>").await.expect("sub");
        client.flush().await.expect("flush");
        let started = Instant::now();
        let mut publisher = support::start_publisher(url, count, SIZE);
        let mut received = 0;
        while received < count {
            match tokio::time::timeout(support::IDLE, sub.next()).await {
                Ok(Some(_)) => received += 1,
                _ => break,
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let _ = publisher.wait();
        let read = client.statistics().in_messages.load(Ordering::Relaxed);
        Run {
            rate: received as f64 / secs,
            received,
            dropped: read.saturating_sub(received),
        }
    })
}

fn eventscope_path(url: &str, count: u64) -> (Run, f64, u64) {
    let rss_before = support::rss_bytes();
    let mut m = Monitor::new(Arc::new(|| {}), 4 << 30).expect("monitor");
    let mut profile = ConnectionProfile::new("bench", url);
    profile.subscriptions = vec![SubscriptionSpec::new("bench.>")];
    let key = m.connect(profile);
    while !m.shared(key).is_some_and(|s| s.state().is_connected()) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let mut publisher = support::start_publisher(url, count, SIZE);
    let mut last_progress = Instant::now();
    while m.store.counters().captured < count && last_progress.elapsed() < support::IDLE {
        // The UI thread's share of a frame: drain within the budget.
        if m.drain(eventscope::app::DRAIN_BUDGET) > 0 {
            last_progress = Instant::now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = publisher.wait();
    std::thread::sleep(Duration::from_millis(1200)); // let the drop count settle
    let received = m.store.counters().captured;
    let raw: u64 = m.store.iter().map(|(_, r)| r.wire_size() as u64).sum();
    let rss = support::rss_bytes().saturating_sub(rss_before);
    let ratio = rss as f64 / raw.max(1) as f64;
    println!(
        "      memory: {} retained, store {:.1} MiB, RSS +{:.1} MiB, raw {:.1} MiB: RSS/raw {:.2}, store/raw {:.2}",
        m.store.len(),
        m.store.bytes_used() as f64 / 1048576.0,
        rss as f64 / 1048576.0,
        raw as f64 / 1048576.0,
        ratio,
        m.store.bytes_used() as f64 / raw.max(1) as f64,
    );
    (
        Run {
            rate: received as f64 / secs,
            received,
            dropped: m.dropped_by_clients(),
        },
        ratio,
        rss,
    )
}

fn record(url: &str, count: u64) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("bench.jsonl");
    let bin = env!("CARGO_BIN_EXE_eventscope");
    let mut child = std::process::Command::new(bin)
        .args([
            "record",
            "--server",
            url,
            "-s",
            "bench.>",
            "--count",
            &count.to_string(),
            "-o",
        ])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("record");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    for line in lines.by_ref() {
        if line.expect("line").contains("recording") {
            break;
        }
    }
    let started = Instant::now();
    let mut publisher = support::start_publisher(url, count, SIZE);
    let mut summary = String::new();
    let waiter = std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.contains("recorded") {
                return line;
            }
        }
        String::new()
    });
    // Stop it if it stalls short of the count.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = publisher.wait();
    summary.push_str(&waiter.join().unwrap_or_default());
    let number = |after: &str| -> u64 {
        summary
            .split(after)
            .nth(1)
            .and_then(|s| s.trim().split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let received = number("recorded ");
    Run {
        rate: received as f64 / secs,
        received,
        dropped: number("dropped by client: "),
    }
}

fn main() {
    support::maybe_publisher();
    let count: u64 = std::env::var("EVENTSCOPE_BENCH_COUNT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1_000_000);
    let server = support::server();
    let url = server.url();
    println!(
        "ingest: {count} messages of {SIZE} B with 3 headers, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if std::env::var("EVENTSCOPE_BENCH_ONLY").as_deref() == Ok("b") {
        // For profiling the eventscope path alone.
        let (rb, _, _) = eventscope_path(&url, count);
        println!(
            "(b) eventscope ingest: {:.0} msg/s, received {}, dropped {}",
            rb.rate, rb.received, rb.dropped
        );
        return;
    }
    let (mut a, mut b, mut c, mut ba, mut ca, mut mem) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for round in 1..=3 {
        let ra = bare(&url, count);
        println!(
            "round {round} (a) bare subscriber: {:.0} msg/s, received {}, dropped {}",
            ra.rate, ra.received, ra.dropped
        );
        let (rb, ratio, _) = eventscope_path(&url, count);
        println!(
            "round {round} (b) eventscope ingest: {:.0} msg/s, received {}, dropped {}",
            rb.rate, rb.received, rb.dropped
        );
        let rc = record(&url, count);
        println!(
            "round {round} (c) eventscope record: {:.0} msg/s, received {}, dropped {}",
            rc.rate, rc.received, rc.dropped
        );
        ba.push(rb.rate / ra.rate);
        ca.push(rc.rate / ra.rate);
        a.push(ra.rate);
        b.push(rb.rate);
        c.push(rc.rate);
        mem.push(ratio);
    }
    println!(
        "median: (a) {:.0} msg/s, (b) {:.0} msg/s, (c) {:.0} msg/s; b/a {:.2}, c/a {:.2}; RSS/raw {:.2}",
        support::median(&mut a),
        support::median(&mut b),
        support::median(&mut c),
        support::median(&mut ba),
        support::median(&mut ca),
        support::median(&mut mem)
    );
}
