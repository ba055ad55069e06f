//! Shared by the benchmarks: a private nats-server, a publisher in a child
//! process (the bench binary re-run with `--publish`), RSS, medians.
#![allow(dead_code)]

use std::process::{Child, Command};
use std::time::Duration;

use bytes::Bytes;
pub use eventscope::demo::LocalServer;

pub const SUBJECT_PREFIX: &str = "bench";

pub fn server() -> LocalServer {
    LocalServer::start().unwrap_or_else(|e| panic!("benchmarks need nats-server: {e}"))
}

/// If this process was started as the publisher, publish and exit.
pub fn maybe_publisher() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--publish") {
        let url = args[i + 1].clone();
        let count: u64 = args[i + 2].parse().expect("count");
        let size: usize = args[i + 3].parse().expect("size");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(publish(&url, count, size));
        std::process::exit(0);
    }
}

/// 3 `ce-*` headers and a `size`-byte payload, on 4 subjects.
pub fn headers() -> async_nats::HeaderMap {
    let mut h = async_nats::HeaderMap::new();
    h.insert("ce-source", "bench-publisher");
    h.insert("ce-type", "com.example.bench");
    h.insert("ce-id", "0000000000000000");
    h
}

pub async fn publish(url: &str, count: u64, size: usize) {
    let client = async_nats::connect(url).await.expect("publisher connects");
    let payload = Bytes::from(vec![b'x'; size]);
    let subjects: Vec<String> = (0..4).map(|i| format!("{SUBJECT_PREFIX}.s{i}")).collect();
    let headers = headers();
    for i in 0..count {
        client
            .publish_with_headers(
                subjects[(i % 4) as usize].clone(),
                headers.clone(),
                payload.clone(),
            )
            .await
            .expect("publish");
    }
    client.flush().await.expect("flush");
}

/// Start the publisher process.
pub fn start_publisher(url: &str, count: u64, size: usize) -> Child {
    Command::new(std::env::current_exe().expect("bench binary"))
        .args(["--publish", url, &count.to_string(), &size.to_string()])
        .spawn()
        .expect("start publisher")
}

/// Resident set size of this process, in bytes.
pub fn rss_bytes() -> u64 {
    eventscope::process::resident_bytes().unwrap_or(0)
}

/// One frame of the real app, headless (as egui_kittest runs it, without a
/// GPU): logic, drawing, tessellation, on a 1440x900 screen at `time`.
pub fn headless_frame(ctx: &egui::Context, app: &mut eventscope::app::EventscopeApp, time: f64) {
    let input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1440.0, 900.0),
        )),
        time: Some(time),
        ..Default::default()
    };
    let output = ctx.run_ui(input, |ui| {
        app.logic_step(ui.ctx());
        app.ui_root(ui);
    });
    let _primitives = ctx.tessellate(output.shapes, output.pixels_per_point);
}

/// Median, p99 and max of frame times (ms), sorted in place.
pub fn percentiles(samples: &mut [f64]) -> [f64; 3] {
    samples.sort_by(f64::total_cmp);
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    [p(0.5), p(0.99), p(1.0)]
}

/// CPU time of 240 frames of `app` at 60 Hz after 20 to warm up, in ms;
/// `before(frame, app)` runs before each frame, outside the timing.
pub fn time_frames(
    ctx: &egui::Context,
    app: &mut eventscope::app::EventscopeApp,
    time: &mut f64,
    mut before: impl FnMut(usize, &mut eventscope::app::EventscopeApp),
) -> Vec<f64> {
    let mut samples = Vec::new();
    for frame in 0..260 {
        before(frame, app);
        *time += 1.0 / 60.0;
        let start = std::time::Instant::now();
        headless_frame(ctx, app, *time);
        if frame >= 20 {
            samples.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    samples
}

/// The median; NaN (printed "NaN") when a run was too short to measure,
/// as with a small `EVENTSCOPE_BENCH_COUNT`.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

pub const IDLE: Duration = Duration::from_secs(3);

/// How many messages a benchmark uses: `EVENTSCOPE_BENCH_COUNT`, or its
/// default.
pub fn message_count(default: u64) -> u64 {
    std::env::var("EVENTSCOPE_BENCH_COUNT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

/// CPU time used so far by this process's threads named `name` (from
/// /proc, in clock ticks of 10 ms): what a thread costs, apart from the
/// waiting that a 2-core machine shared with the server adds to wall time.
pub fn thread_cpu(name: &str) -> Duration {
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis; utime and stime
        // are the 14th and 15th of the line.
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        for field in [11, 12] {
            ticks += fields
                .get(field)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_millis(ticks * 10)
}

/// The real app, headless, with a `budget_mib` budget, connected to `url`
/// with a `>` subscription (returns once connected).
pub fn connected_app(
    url: &str,
    name: &str,
    budget_mib: usize,
) -> (
    egui::Context,
    eventscope::app::EventscopeApp,
    eventscope::capture::ConnectionKey,
) {
    use eventscope::broker::{ConnectionProfile, SubscriptionSpec};
    let ctx = egui::Context::default();
    let config = eventscope::app::AppConfig {
        budget_mib,
        view: eventscope::ui::View::Traffic,
        ..eventscope::app::AppConfig::default()
    };
    let mut app = eventscope::app::EventscopeApp::new(&ctx, None, config).expect("app");
    let mut profile = ConnectionProfile::new(name, url);
    profile.subscriptions = vec![SubscriptionSpec::new(">")];
    app.connect(profile);
    let key = app.session.profiles()[0].0;
    while !app
        .session
        .shared(key)
        .is_some_and(|s| s.state().is_connected())
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    (ctx, app, key)
}
