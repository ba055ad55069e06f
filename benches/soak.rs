//! Soak: the real app (egui run headless at 60 Hz, as a display would pace
//! it) watches 20,000 msg/s of 256-byte messages with 3 headers for an hour
//! with a 64 MiB budget. RSS is sampled every second; after the budget
//! fills, it must stay within 10% of where it was then. Writes the samples
//! as CSV and the curve as a PNG (plotters, drawn into a buffer and saved
//! with the `image` crate the app already uses).
//!
//! `cargo bench --bench soak`; EVENTSCOPE_SOAK_SECONDS (3600),
//! EVENTSCOPE_SOAK_RATE (20000), EVENTSCOPE_SOAK_OUT (target/soak: .csv and
//! .png beside each other).

#[path = "support.rs"]
mod support;

use std::io::Write;
use std::time::{Duration, Instant};

const BUDGET_MIB: usize = 64;
const FRAME: Duration = Duration::from_micros(16_667);

struct Sample {
    second: f64,
    rss_mib: f64,
    store_mib: f64,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Publish at `rate` msg/s (in 1 ms steps) until `stop` is set.
fn paced_publisher(url: String, rate: u64, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let client = async_nats::connect(url).await.expect("publisher connects");
        let headers = support::headers();
        let payload = bytes::Bytes::from(vec![b'x'; 256]);
        let started = tokio::time::Instant::now();
        let mut sent: u64 = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            tick.tick().await;
            let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
            while sent < due {
                let mut h = headers.clone();
                h.insert("ce-id", sent.to_string().as_str());
                client
                    .publish_with_headers(format!("soak.s{}", sent % 8), h, payload.clone())
                    .await
                    .expect("publish");
                sent += 1;
            }
        }
        let _ = client.flush().await;
    });
}

fn main() {
    eventscope::process::tune();
    let seconds = env_number("EVENTSCOPE_SOAK_SECONDS", 3600);
    let rate = env_number("EVENTSCOPE_SOAK_RATE", 20_000);
    let out = std::path::PathBuf::from(
        std::env::var("EVENTSCOPE_SOAK_OUT").unwrap_or_else(|_| "target/soak".into()),
    );
    let server = support::server();
    let url = server.url();
    let rss_before = support::rss_bytes();
    let (ctx, mut app, key) = support::connected_app(&url, "soak", BUDGET_MIB);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let (url, stop) = (url.clone(), stop.clone());
        std::thread::spawn(move || paced_publisher(url, rate, stop))
    };
    println!("soak: {rate} msg/s for {seconds} s, budget {BUDGET_MIB} MiB");
    let started = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut next_sample = Duration::ZERO;
    let mut next_frame = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        support::headless_frame(&ctx, &mut app, started.elapsed().as_secs_f64());
        if started.elapsed() >= next_sample {
            let sample = Sample {
                second: started.elapsed().as_secs_f64(),
                rss_mib: support::rss_bytes().saturating_sub(rss_before) as f64 / 1048576.0,
                store_mib: app.session.store.bytes_used() as f64 / 1048576.0,
            };
            if samples.len().is_multiple_of(60) {
                println!(
                    "{:>6.0} s: RSS +{:.1} MiB, store {:.1} MiB, captured {}, evicted {}, {}",
                    sample.second,
                    sample.rss_mib,
                    sample.store_mib,
                    app.session.store.counters().captured,
                    app.session.store.counters().evicted,
                    app.session
                        .shared(key)
                        .map(|s| s.losses().summary())
                        .unwrap_or_default()
                );
            }
            samples.push(sample);
            next_sample += Duration::from_secs(1);
        }
        next_frame += FRAME;
        if let Some(wait) = next_frame.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        } else {
            next_frame = Instant::now();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = publisher.join();
    let budget = BUDGET_MIB as f64;
    let full_at = samples.iter().position(|s| s.store_mib >= budget * 0.95);
    match full_at {
        Some(i) => {
            let at_full = samples[i].rss_mib;
            let after = &samples[i..];
            let max = after.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
            let last = samples.last().map_or(0.0, |s| s.rss_mib);
            println!(
                "budget full at {:.0} s with RSS +{at_full:.1} MiB; after: max +{max:.1} MiB ({:+.1}%), last +{last:.1} MiB ({:+.1}%)",
                samples[i].second,
                (max / at_full - 1.0) * 100.0,
                (last / at_full - 1.0) * 100.0
            );
        }
        None => println!("the budget never filled"),
    }
    std::fs::create_dir_all(out.parent().unwrap_or(std::path::Path::new("."))).ok();
    write_csv(&out.with_extension("csv"), &samples);
    draw_png(&out.with_extension("png"), &samples, budget, rate, seconds);
    println!(
        "wrote {} and {}",
        out.with_extension("csv").display(),
        out.with_extension("png").display()
    );
}

fn write_csv(path: &std::path::Path, samples: &[Sample]) {
    let mut file = std::fs::File::create(path).expect("csv");
    writeln!(file, "second,rss_mib_above_start,store_mib").expect("write");
    for s in samples {
        writeln!(file, "{:.1},{:.2},{:.2}", s.second, s.rss_mib, s.store_mib).expect("write");
    }
}

fn draw_png(path: &std::path::Path, samples: &[Sample], budget: f64, rate: u64, seconds: u64) {
    use plotters::prelude::*;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        epaint_default_fonts::UBUNTU_LIGHT,
    )
    .map_err(|_| "font")
    .expect("the bundled font loads");
    let (width, height) = (1000u32, 500u32);
    let mut pixels = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        root.fill(&WHITE).expect("fill");
        let top = samples.iter().map(|s| s.rss_mib).fold(budget, f64::max) * 1.15;
        let right = samples.last().map_or(1.0, |s| s.second).max(1.0) / 60.0;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "eventscope soak: {rate} msg/s with headers, {BUDGET_MIB} MiB budget, {}",
                    if seconds >= 120 {
                        format!("{} min", seconds / 60)
                    } else {
                        format!("{seconds} s")
                    }
                ),
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..right, 0.0..top)
            .expect("chart");
        chart
            .configure_mesh()
            .x_desc("minutes")
            .y_desc("MiB")
            .label_style(("sans-serif", 15))
            .draw()
            .expect("mesh");
        chart
            .draw_series(LineSeries::new(
                samples.iter().map(|s| (s.second / 60.0, s.rss_mib)),
                BLUE.stroke_width(2),
            ))
            .expect("rss")
            .label("RSS above the start")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(
                samples.iter().map(|s| (s.second / 60.0, s.store_mib)),
                GREEN.stroke_width(2),
            ))
            .expect("store")
            .label("retained by the store")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .expect("legend");
        root.present().expect("present");
    }
    image::RgbImage::from_raw(width, height, pixels)
        .expect("buffer size")
        .save(path)
        .expect("png");
}
