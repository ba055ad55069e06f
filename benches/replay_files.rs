//! Replay and capture files with 1,000,000 messages of 256 bytes and 3
//! headers:
//! - max-rate replay through eventscope's replay job vs a bare async-nats
//!   publisher sending messages of the same shape (one prebuilt header map,
//!   cloned), side by side, 5 rounds; once for a capture whose headers are
//!   the same in every message (the replay job reuses their header map),
//!   once for one with a distinct `ce-id` per message (each map is built);
//!   with each sending thread's CPU time per message;
//! - saving and loading the capture file (records/s), loading the way the
//!   app does (a background thread, taken in per frame within the 4 ms
//!   budget), with the longest frame share it took.
//!
//! `cargo bench --bench replay_files` (EVENTSCOPE_BENCH_COUNT to change 1,000,000).

#[path = "support.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventscope::broker::ConnectionProfile;
use eventscope::capture::file::{CaptureHeader, CaptureWriter};
use eventscope::capture::{CaptureLoad, LoadEvent};
use eventscope::capture::{HeaderBlock, Record, RecordPacker};
use eventscope::outgoing::{ReplayOptions, Timing};
use eventscope::session::Session;
use eventscope::session::replay_job;

/// A capture of `count` messages; `distinct_ids`: each with its own `ce-id`.
fn records(count: usize, distinct_ids: bool) -> Vec<Record> {
    let payload = Bytes::from(vec![b'x'; 256]);
    let headers = |id: &str| {
        HeaderBlock::build(
            None,
            [
                ("ce-source", "bench-publisher"),
                ("ce-type", "com.example.bench"),
                ("ce-id", id),
            ],
        )
    };
    let same = headers("0000000000000000");
    let mut packer = RecordPacker::default();
    (0..count)
        .map(|i| {
            let own = distinct_ids.then(|| headers(&format!("{i:016}")));
            packer.pack(
                1_795_352_350_000_000_000 + i as i64 * 1000,
                0,
                &format!("bench.s{}", i % 4),
                None,
                Some(own.as_ref().unwrap_or(&same)),
                &payload,
            )
        })
        .collect()
}

/// Messages per second, and CPU time per message of the sending thread.
struct Sent {
    rate: f64,
    cpu_per_message: Duration,
}

const BARE_THREAD: &str = "bare-publisher";
/// The app's network runtime thread, where replay jobs and clients run.
const NET_THREAD: &str = "eventscope-net";

fn bare_publisher(url: &str, count: u64) -> Sent {
    let url = url.to_owned();
    std::thread::Builder::new()
        .name(BARE_THREAD.into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            let (start, cpu) = (Instant::now(), support::thread_cpu(BARE_THREAD));
            rt.block_on(support::publish(&url, count, 256));
            Sent {
                rate: count as f64 / start.elapsed().as_secs_f64(),
                cpu_per_message: (support::thread_cpu(BARE_THREAD) - cpu) / count as u32,
            }
        })
        .expect("thread")
        .join()
        .expect("bare publisher")
}

fn eventscope_replay(url: &str, records: &[Record]) -> Sent {
    let mut m = Session::new(Arc::new(|| {}), 1 << 30).expect("monitor");
    let mut profile = ConnectionProfile::new("replay", url);
    profile.subscriptions.clear();
    let key = m.connect(profile);
    while !m.shared(key).is_some_and(|s| s.state().is_connected()) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let options = ReplayOptions {
        timing: Timing::Max,
        mark: false,
        ..ReplayOptions::default()
    };
    let cpu = support::thread_cpu(NET_THREAD);
    let progress = m
        .start_job(key, replay_job(records.to_vec(), options))
        .expect("job");
    // The job times itself; polling often would only take CPU from it.
    while !progress.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(progress.failed(), 0);
    Sent {
        rate: progress.sent() as f64 / progress.elapsed().as_secs_f64(),
        cpu_per_message: (support::thread_cpu(NET_THREAD) - cpu) / progress.sent() as u32,
    }
}

/// Bare publisher and replay side by side, 5 rounds, and the medians.
fn replay_rounds(url: &str, records: &[Record], shape: &str) {
    let (mut bare, mut ours, mut ratios, mut cpu_ratios) = (vec![], vec![], vec![], vec![]);
    for round in 1..=5 {
        let a = bare_publisher(url, records.len() as u64);
        let b = eventscope_replay(url, records);
        let cpu_ratio = a.cpu_per_message.as_secs_f64() / b.cpu_per_message.as_secs_f64();
        println!(
            "round {round}: bare publisher {:.0} msg/s ({} ns CPU each), eventscope replay --max {:.0} msg/s ({} ns CPU each), ratio {:.2} (by CPU {cpu_ratio:.2})",
            a.rate,
            a.cpu_per_message.as_nanos(),
            b.rate,
            b.cpu_per_message.as_nanos(),
            b.rate / a.rate
        );
        bare.push(a.rate);
        ours.push(b.rate);
        ratios.push(b.rate / a.rate);
        cpu_ratios.push(cpu_ratio);
    }
    println!(
        "replay ({shape}): median bare {:.0} msg/s, replay {:.0} msg/s, ratio {:.2}; by CPU per message {:.2}",
        support::median(&mut bare),
        support::median(&mut ours),
        support::median(&mut ratios),
        support::median(&mut cpu_ratios)
    );
}

fn main() {
    let count = support::message_count(1_000_000) as usize;
    let server = support::server();
    let url = server.url();
    replay_rounds(
        &url,
        &records(count, false),
        "the same headers in every message",
    );
    let records = records(count, true);
    replay_rounds(&url, &records, "a distinct ce-id per message");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.jsonl");
    let start = Instant::now();
    let file = std::fs::File::create(&path).expect("create");
    let mut w = CaptureWriter::new(
        std::io::BufWriter::with_capacity(1 << 20, file),
        &CaptureHeader::new(vec![]),
    )
    .expect("header");
    for r in &records {
        w.write(r, "bench").expect("write");
    }
    w.flush().expect("flush");
    let save = start.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    drop(records);

    let mut m = Session::new(Arc::new(|| {}), 4 << 30).expect("monitor");
    let start = Instant::now();
    let load = CaptureLoad::start(&path).expect("load");
    let budget = eventscope::app::LOAD_BUDGET;
    let (mut loaded, mut longest, mut frames) = (0u64, Duration::ZERO, 0u64);
    'frames: loop {
        let frame = Instant::now();
        while frame.elapsed() < budget {
            match load.events.try_recv() {
                Ok(LoadEvent::Records(batch)) => {
                    loaded += batch.len() as u64;
                    let connection = m.store.intern_connection("bench");
                    m.add_records(batch.into_iter().map(|mut item| {
                        item.record.connection = connection;
                        item.record
                    }));
                }
                Ok(LoadEvent::Done(error)) => {
                    assert!(error.is_none(), "{error:?}");
                    longest = longest.max(frame.elapsed());
                    break 'frames;
                }
                Err(_) => break,
            }
        }
        longest = longest.max(frame.elapsed());
        frames += 1;
        std::thread::sleep(Duration::from_millis(2)); // the rest of a frame
    }
    let load_secs = start.elapsed().as_secs_f64();
    println!(
        "capture file: {} records, {:.0} MiB; save {:.0} records/s; load into store and flows {:.0} records/s over {frames} frames, longest frame share {:.1} ms (budget {} ms + one batch)",
        count,
        size as f64 / 1048576.0,
        count as f64 / save,
        loaded as f64 / load_secs,
        longest.as_secs_f64() * 1000.0,
        budget.as_millis()
    );
}
