//! Ingest, side by side in one run (PERF-NOTES.md's method): 1,000,000
//! messages of 256 bytes with 3 headers, published by a bare async-nats
//! publisher in another process, received by
//!   (w) the wire's limit: a bare blocking socket reader that sends
//!       CONNECT and SUB, answers PING and frames MSG/HMSG by their byte
//!       counts, parsing nothing else,
//!   (a) a bare async-nats subscriber that only counts,
//!   (b) eventscope's full ingest path: subscription -> batches -> store
//!       with subject stats and flow correlation, drained as the UI does,
//!   (c) `eventscope record` to a file.
//! (b) and (c) run in processes of their own, as the app does (allocator
//! settings included). Rounds alternate; the medians and median ratios are
//! printed, with the client-side drops of each and, for (b), RSS against
//! the raw bytes retained; a last run with a 128 MiB budget shows whether
//! RSS stays flat once the store is full.
//!
//! `cargo bench --bench ingest` (EVENTSCOPE_BENCH_COUNT to change 1,000,000).

#[path = "support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use eventscope::broker::{ConnectionProfile, SubscriptionSpec};
use eventscope::session::Session;
use futures_util::StreamExt;

const SIZE: usize = 256;
/// A budget that retains all 1,000,000 messages.
const UNBOUNDED: usize = 4 << 30;

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

/// (w): what the socket delivers, framed and nothing more.
fn socket_reader(url: &str, count: u64) -> Run {
    use std::io::{BufRead, BufReader, Read, Write};
    let address = url.trim_start_matches("nats://");
    let stream = std::net::TcpStream::connect(address).expect("connect");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).expect("INFO");
    writer
        .write_all(b"CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB bench.> 1\r\nPING\r\n")
        .expect("write");
    loop {
        line.clear();
        reader.read_until(b'\n', &mut line).expect("PONG");
        if line.starts_with(b"PONG") {
            break;
        }
    }
    reader
        .get_ref()
        .set_read_timeout(Some(support::IDLE))
        .expect("timeout");
    let started = Instant::now();
    let mut publisher = support::start_publisher(url, count, SIZE);
    let mut received = 0;
    let mut body = Vec::new();
    while received < count {
        line.clear();
        if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.starts_with(b"PING") {
            writer.write_all(b"PONG\r\n").expect("pong");
            continue;
        }
        let is_msg = line.starts_with(b"MSG ") || line.starts_with(b"HMSG ");
        if !is_msg {
            continue;
        }
        let text = std::str::from_utf8(&line).expect("control line");
        let total: usize = text
            .split_ascii_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .expect("size");
        body.resize(total + 2, 0);
        if reader.read_exact(&mut body).is_err() {
            break;
        }
        received += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = publisher.wait();
    Run {
        rate: received as f64 / secs,
        received,
        dropped: count.saturating_sub(received),
    }
}

/// What (b) reports from its child process.
struct PathRun {
    run: Run,
    raw: u64,
    store: u64,
    rss: u64,
    /// RSS when the store first reached its budget (0 if it never did).
    rss_when_full: u64,
    evicted: u64,
}

/// (b) in a child process of its own, so that its allocator settings (those
/// of the app) and its RSS are not shared with the other two.
fn eventscope_path(url: &str, count: u64, budget: usize) -> PathRun {
    let out = std::process::Command::new(std::env::current_exe().expect("bench binary"))
        .args([
            "--eventscope-path",
            url,
            &count.to_string(),
            &budget.to_string(),
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run (b)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("(b) printed no result: {text}"));
    let n: Vec<f64> = line
        .split_whitespace()
        .map(|v| v.parse().expect("number"))
        .collect();
    PathRun {
        run: Run {
            rate: n[0],
            received: n[1] as u64,
            dropped: n[2] as u64,
        },
        raw: n[3] as u64,
        store: n[4] as u64,
        rss: n[5] as u64,
        rss_when_full: n[6] as u64,
        evicted: n[7] as u64,
    }
}

/// The child side of (b): the app's allocator settings, a `Session` fed by a
/// real connection, drained as the UI thread does.
fn eventscope_path_child(url: &str, count: u64, budget: usize) {
    eventscope::process::tune();
    let rss_before = support::rss_bytes();
    let mut m = Session::new(Arc::new(|| {}), budget).expect("monitor");
    let mut profile = ConnectionProfile::new("bench", url);
    profile.subscriptions = vec![SubscriptionSpec::new("bench.>")];
    let key = m.connect(profile);
    while !m.shared(key).is_some_and(|s| s.state().is_connected()) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let mut publisher = support::start_publisher(url, count, SIZE);
    let mut last_progress = Instant::now();
    let mut rss_when_full = 0;
    while m.store.counters().captured < count && last_progress.elapsed() < support::IDLE {
        // The UI thread's share of a frame: drain within the budget.
        if m.drain(eventscope::app::LIVE_DRAIN_BUDGET) > 0 {
            last_progress = Instant::now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
        if rss_when_full == 0 && m.store.counters().evicted > 0 {
            rss_when_full = support::rss_bytes().saturating_sub(rss_before);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = publisher.wait();
    std::thread::sleep(Duration::from_millis(1200)); // let the drop count settle
    let counters = m.store.counters();
    let raw: u64 = m.store.iter().map(|(_, r)| r.wire_size() as u64).sum();
    let rss = support::rss_bytes().saturating_sub(rss_before);
    println!(
        "RESULT {} {} {} {} {} {} {} {}",
        counters.captured as f64 / secs,
        counters.captured,
        m.dropped_by_clients(),
        raw,
        m.store.bytes_used(),
        rss,
        rss_when_full,
        counters.evicted,
    );
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
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--eventscope-path") {
        let number = |k: usize| args[i + k].parse().expect("number");
        eventscope_path_child(&args[i + 1], number(2), number(3) as usize);
        return;
    }
    let count = support::message_count(1_000_000);
    let server = support::server();
    let url = server.url();
    println!(
        "ingest: {count} messages of {SIZE} B with 3 headers, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mib = |b: u64| b as f64 / 1048576.0;
    if std::env::var("EVENTSCOPE_BENCH_ONLY").as_deref() == Ok("b") {
        // For profiling the eventscope path alone:
        // `perf record -g --inherit` follows it into the child.
        let rb = eventscope_path(&url, count, UNBOUNDED);
        println!(
            "(b) eventscope ingest: {:.0} msg/s, received {}, dropped {}",
            rb.run.rate, rb.run.received, rb.run.dropped
        );
        return;
    }
    let (mut a, mut b, mut c, mut ba, mut ca, mut mem) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut w, mut bw, mut cw) = (vec![], vec![], vec![]);
    for round in 1..=5 {
        let rw = socket_reader(&url, count);
        println!(
            "round {round} (w) bare socket reader: {:.0} msg/s, received {}",
            rw.rate, rw.received
        );
        let ra = bare(&url, count);
        println!(
            "round {round} (a) bare subscriber: {:.0} msg/s, received {}, dropped {}",
            ra.rate, ra.received, ra.dropped
        );
        let rb = eventscope_path(&url, count, UNBOUNDED);
        println!(
            "round {round} (b) eventscope ingest: {:.0} msg/s, received {}, dropped {}",
            rb.run.rate, rb.run.received, rb.run.dropped
        );
        let ratio = rb.rss as f64 / rb.raw.max(1) as f64;
        println!(
            "      memory: {} retained, raw {:.1} MiB, store {:.1} MiB ({:.2}x), RSS +{:.1} MiB ({:.2}x raw)",
            rb.run.received,
            mib(rb.raw),
            mib(rb.store),
            rb.store as f64 / rb.raw.max(1) as f64,
            mib(rb.rss),
            ratio,
        );
        let rc = record(&url, count);
        println!(
            "round {round} (c) eventscope record: {:.0} msg/s, received {}, dropped {}",
            rc.rate, rc.received, rc.dropped
        );
        w.push(rw.rate);
        bw.push(rb.run.rate / rw.rate);
        cw.push(rc.rate / rw.rate);
        ba.push(rb.run.rate / ra.rate);
        ca.push(rc.rate / ra.rate);
        a.push(ra.rate);
        b.push(rb.run.rate);
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
    println!(
        "median vs the wire: (w) {:.0} msg/s; b/w {:.2}, c/w {:.2}",
        support::median(&mut w),
        support::median(&mut bw),
        support::median(&mut cw)
    );
    // Once the budget is full, RSS must stay where it was.
    let budget = 128 << 20;
    let full = eventscope_path(&url, count, budget);
    println!(
        "budget {:.0} MiB: RSS +{:.1} MiB when first full, +{:.1} MiB at the end ({} evicted, {} dropped)",
        mib(budget as u64),
        mib(full.rss_when_full),
        mib(full.rss),
        full.evicted,
        full.run.dropped,
    );
}
