//! A second tool floods the server while the GUI watches: a bare async-nats
//! publisher in another process sends 256-byte messages with 3 headers as
//! fast as it can; the real app (egui run headless, paced at 60 Hz as a
//! display would) subscribes to `>` with a 256 MiB budget. Reported:
//! - frames per second, the UI thread's CPU time per frame, and wall time
//!   per frame (which includes time the other processes on these cores
//!   took), with the frames over 16.7 ms;
//! - the rate the status bar shows against the server's own count of
//!   messages in (`/varz` `in_msgs`, per second), during the flood;
//! - RSS against the budget at the end, evicted and dropped counts.
//!
//! `cargo bench --bench flood` (EVENTSCOPE_BENCH_COUNT to change 3,000,000).

#[path = "support.rs"]
mod support;

use std::time::{Duration, Instant};

use eventscope::capture::ROOT;

const BUDGET_MIB: usize = 256;
const FRAME: Duration = Duration::from_micros(16_667);

/// CPU time this thread has used, in ms: a frame's own cost, apart from the
/// time other processes on the same cores took from it.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

/// Messages the server has received so far, from its monitoring port.
fn server_in_msgs(monitoring_url: &str) -> Option<u64> {
    let mut response = ureq::get(&format!("{monitoring_url}/varz")).call().ok()?;
    let body = response.body_mut().read_to_string().ok()?;
    let varz: serde_json::Value = serde_json::from_str(&body).ok()?;
    varz.get("in_msgs")?.as_u64()
}

fn main() {
    support::maybe_publisher();
    eventscope::process::tune();
    let count = support::message_count(3_000_000);
    let server = support::server();
    let url = server.url();
    let rss_before = support::rss_bytes();

    let (ctx, mut app, _) = support::connected_app(&url, "flooded", BUDGET_MIB);

    let mut publisher = support::start_publisher(&url, count, 256);
    let started = Instant::now();
    let mut frames = Vec::new();
    let mut frames_cpu = Vec::new();
    let mut shown = Vec::new();
    let mut server_rates = Vec::new();
    let mut server_seconds = Vec::new();
    let mut last_second = (Instant::now(), server_in_msgs(&server.monitoring_url()));
    let mut time = 0.0;
    let mut flood_over = None;
    loop {
        let frame_start = Instant::now();
        let cpu_start = thread_cpu_ms();
        time += FRAME.as_secs_f64();
        support::headless_frame(&ctx, &mut app, time);
        frames.push(frame_start.elapsed().as_secs_f64() * 1000.0);
        frames_cpu.push(thread_cpu_ms() - cpu_start);

        if last_second.0.elapsed() >= Duration::from_secs(1) {
            let now_msgs = server_in_msgs(&server.monitoring_url());
            if let (Some(before), Some(now)) = (last_second.1, now_msgs) {
                let secs = last_second.0.elapsed().as_secs_f64();
                let server_rate = (now - before) as f64 / secs;
                let now_ts = eventscope::capture::now_timestamp();
                let shown_rate = app.session.store.subjects().rate(ROOT, now_ts);
                server_seconds.push(server_rate);
                // The status bar shows a 5 s average: compare it with the
                // server's over the same 5 s, once inside the flood.
                if flood_over.is_none() && server_seconds.len() >= 6 {
                    let window =
                        &server_seconds[server_seconds.len() - 6..server_seconds.len() - 1];
                    server_rates.push(window.iter().sum::<f64>() / window.len() as f64);
                    shown.push(shown_rate);
                }
                println!(
                    "t {:>4.1} s: server in {:>7.0} msg/s, status bar {:>7.0} msg/s (5 s average), retained {}, evicted {}, dropped {}, RSS +{} MiB",
                    started.elapsed().as_secs_f64(),
                    server_rate,
                    shown_rate,
                    app.session.store.len(),
                    app.session.store.counters().evicted,
                    app.session.dropped_by_clients(),
                    support::rss_bytes().saturating_sub(rss_before) >> 20,
                );
            }
            last_second = (Instant::now(), now_msgs);
        }
        if flood_over.is_none() && publisher.try_wait().ok().flatten().is_some() {
            flood_over = Some(Instant::now());
        }
        if flood_over.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
            break;
        }
        if let Some(rest) = FRAME.checked_sub(frame_start.elapsed()) {
            std::thread::sleep(rest);
        }
    }

    let flood_secs = flood_over.map_or(0.0, |t| (t - started).as_secs_f64());
    let late = frames.iter().filter(|&&ms| ms > 16.7).count();
    let fps = frames.len() as f64 / started.elapsed().as_secs_f64();
    let pct = |samples: &[f64], q: f64| {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[((sorted.len() as f64 - 1.0) * q) as usize]
    };
    println!(
        "flood: {count} messages in {flood_secs:.1} s ({:.0} msg/s offered), {} cores",
        count as f64 / flood_secs.max(1e-9),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "frames: {} ({fps:.1} per second); UI thread CPU per frame median {:.2} ms, p99 {:.2} ms; wall median {:.2} ms, p99 {:.2} ms, {} over 16.7 ms",
        frames.len(),
        pct(&frames_cpu, 0.5),
        pct(&frames_cpu, 0.99),
        pct(&frames, 0.5),
        pct(&frames, 0.99),
        late
    );
    let (shown_median, server_median) = (
        support::median(&mut shown.clone()),
        support::median(&mut server_rates.clone()),
    );
    println!(
        "rate (5 s averages): status bar median {shown_median:.0} msg/s vs server {server_median:.0} msg/s ({:.2})",
        shown_median / server_median.max(1.0)
    );
    let counters = app.session.store.counters();
    let rss = support::rss_bytes().saturating_sub(rss_before);
    println!(
        "memory: budget {BUDGET_MIB} MiB, store {} MiB, RSS +{} MiB; captured {}, evicted {}, dropped by client {}",
        app.session.store.bytes_used() >> 20,
        rss >> 20,
        counters.captured,
        counters.evicted,
        app.session.dropped_by_clients()
    );
}
