//! A burst from three publishers at once (3 x 400,000 messages of 256
//! bytes with 3 headers, as fast as they go) while the real app watches
//! `>` (egui run headless, paced at 60 Hz as a display would), side by
//! side in one run:
//! - the app as it ships: past the in-flight allowance, messages wait in
//!   the disk spool and the view reads them behind;
//! - the baseline: the same app with no spool (`--spool-mib 0`), which
//!   drops what does not fit in the allowance (the build of part 10);
//! - `eventscope record` alone, to /dev/null.
//!
//! Reported for each: what the server delivered to it, what it kept, what
//! it dropped, how long after the burst the view caught up, peak RSS and
//! the spool's peak.
//!
//! `cargo bench --bench burst` (EVENTSCOPE_BENCH_COUNT to change 400,000
//! per publisher).

#[path = "support.rs"]
mod support;

use std::time::{Duration, Instant};

const PUBLISHERS: usize = 3;
const FRAME: Duration = Duration::from_micros(16_667);
const BUDGET_MIB: usize = 512;

fn burst(url: &str, count: u64) -> Vec<std::process::Child> {
    (0..PUBLISHERS)
        .map(|_| support::start_publisher(url, count, 256))
        .collect()
}

fn app_run(label: &str, spool_mib: u64, count: u64) {
    let server = support::server();
    let url = server.url();
    let rss_before = support::rss_bytes();
    let (ctx, mut app, key) = support::connected_app(&url, label, BUDGET_MIB);
    app.session.set_spool_budget(spool_mib << 20);
    let mut publishers = burst(&url, count);
    let started = Instant::now();
    let mut time = 0.0;
    let mut burst_over: Option<Instant> = None;
    let mut peak_rss = 0;
    let total = count * PUBLISHERS as u64;
    loop {
        let frame_start = Instant::now();
        time += FRAME.as_secs_f64();
        support::headless_frame(&ctx, &mut app, time);
        peak_rss = peak_rss.max(support::rss_bytes().saturating_sub(rss_before));
        if burst_over.is_none()
            && publishers
                .iter_mut()
                .all(|p| p.try_wait().ok().flatten().is_some())
        {
            burst_over = Some(Instant::now());
        }
        let shared = app.session.shared(key).expect("connection");
        let settled = shared.in_messages() >= total
            && app
                .session
                .backlog(eventscope::capture::now_timestamp())
                .messages
                == 0;
        if burst_over.is_some() && settled {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            println!("{label}: gave up after 600 s");
            break;
        }
        if let Some(rest) = FRAME.checked_sub(frame_start.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    let burst_secs = burst_over.map_or(0.0, |t| (t - started).as_secs_f64());
    let caught_up = burst_over.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let shared = app.session.shared(key).expect("connection");
    let counters = app.session.store.counters();
    let (_, _, spool_peak) = app.session.spooled();
    println!(
        "{label:<22} delivered {:>9}  kept {:>9}  dropped {:>8}  burst {:>5.1} s ({:>6.0} msg/s)  caught up {:>5.1} s later  peak RSS +{:>4} MiB  spool peak {:>4} MiB",
        shared.in_messages(),
        counters.captured,
        app.session.losses().dropped,
        burst_secs,
        total as f64 / burst_secs.max(1e-9),
        caught_up,
        peak_rss >> 20,
        spool_peak >> 20,
    );
}

fn record_run(count: u64) {
    let server = support::server();
    let url = server.url();
    let record = std::process::Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args(["record", "--server", &url, "-o", "/dev/null"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("record starts");
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let mut publishers = burst(&url, count);
    for p in &mut publishers {
        let _ = p.wait();
    }
    let burst_secs = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(record.id() as i32, libc::SIGINT) };
    let out = record.wait_with_output().expect("record ends");
    let text = String::from_utf8_lossy(&out.stderr);
    let summary = text
        .lines()
        .find(|l| l.contains("recorded"))
        .unwrap_or("no summary");
    println!(
        "{:<22} burst {burst_secs:>5.1} s: {}",
        "record alone",
        summary.trim_start_matches("eventscope: ")
    );
}

fn main() {
    support::maybe_publisher();
    eventscope::process::tune();
    let count = support::message_count(400_000);
    println!(
        "{PUBLISHERS} publishers x {count} messages of 256 bytes, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    app_run(
        "app (disk spool)",
        eventscope::session::DEFAULT_SPOOL_BYTES >> 20,
        count,
    );
    app_run("baseline (no spool)", 0, count);
    record_run(count);
}
