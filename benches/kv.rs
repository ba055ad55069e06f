//! KV at 100,000 keys, on a private nats-server over loopback, side by
//! side in one run:
//!
//! 1. listing every key: eventscope's listing (revision, size, time and
//!    delete markers, one headers-only ordered consumer) against async-nats'
//!    own `Store::keys()` (names only), alternating rounds, medians;
//! 2. frames of the KV view holding those keys, drawn headless, CPU time
//!    per frame: the whole list, a filter in force, and a filter being
//!    typed (it changes every 10th frame: the 100,000 keys filtered again)
//!    (target: p99 < 8 ms).
//!
//! `cargo bench --bench kv` (EVENTSCOPE_BENCH_COUNT to change 100,000).

#[path = "support.rs"]
mod support;

use std::time::Instant;

use async_nats::jetstream::{self, kv};
use futures_util::{StreamExt, TryStreamExt};

use eventscope::app::{AppConfig, EventscopeApp};
use eventscope::kv::{KeyFilter, KeyList, list_keys};
use eventscope::ui::View;

const ROUNDS: usize = 5;

fn main() {
    let count = support::message_count(100_000) as usize;
    let server = support::server();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let keys = rt.block_on(async {
        let client = async_nats::connect(server.url()).await.expect("connect");
        let store = jetstream::new(client.clone())
            .create_key_value(kv::Config {
                bucket: "bench".into(),
                history: 5,
                ..Default::default()
            })
            .await
            .expect("bucket");
        let started = Instant::now();
        futures_util::stream::iter(0..count)
            .map(|i| {
                let store = store.clone();
                async move {
                    let key = format!("tenant{}.orders.{i:07}", i % 50);
                    store.put(key, format!("{{\"n\":{i}}}").into()).await
                }
            })
            .buffer_unordered(512)
            .try_collect::<Vec<_>>()
            .await
            .expect("puts");
        println!(
            "kv: {count} keys put in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        list_bench(&client, &store, count).await
    });
    frames_bench(keys);
}

async fn list_bench(client: &async_nats::Client, store: &kv::Store, count: usize) -> KeyList {
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    let mut kept = KeyList::default();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let list = list_keys(client, store, &KeyFilter::default())
            .await
            .expect("list");
        ours.push(started.elapsed().as_secs_f64());
        assert_eq!(list.rows.len(), count);
        kept = list;

        let started = Instant::now();
        let names: Vec<String> = store
            .keys()
            .await
            .expect("keys")
            .try_collect()
            .await
            .expect("keys");
        bare.push(started.elapsed().as_secs_f64());
        assert_eq!(names.len(), count);
    }
    let (ours, bare) = (support::median(&mut ours), support::median(&mut bare));
    println!(
        "kv: listing {count} keys: eventscope {:.0} ms ({:.0} k keys/s, with revision/size/time), async-nats keys() {:.0} ms; ratio {:.2} ({ROUNDS} rounds, medians)",
        ours * 1e3,
        count as f64 / ours / 1e3,
        bare * 1e3,
        bare / ours
    );
    kept
}

fn frames_bench(keys: KeyList) {
    let ctx = egui::Context::default();
    let config = AppConfig {
        view: View::Kv,
        ..AppConfig::default()
    };
    let mut app = EventscopeApp::new(&ctx, None, config).expect("app");
    let total = keys.rows.len();
    let view = app.kv_view_mut();
    view.bucket = Some("bench".into());
    view.set_keys(Ok(keys));
    let mut time = 0.0;
    let typed = [
        "t",
        "te",
        "ten",
        "tenant",
        "tenant1",
        "tenant12",
        "tenant12.",
        "tenant12.orders",
    ];
    for (what, filter, typing) in [
        ("all keys", "", false),
        ("a pattern filter (tenant7.>)", "tenant7.>", false),
        ("a filter being typed", "", true),
    ] {
        app.kv_view_mut().filter = filter.into();
        let mut samples = support::time_frames(&ctx, &mut app, &mut time, |frame, app| {
            if typing && frame % 10 == 0 {
                app.kv_view_mut().filter = typed[(frame / 10) % typed.len()].into();
            }
        });
        let [median, p99, max] = support::percentiles(&mut samples);
        println!(
            "KV view, {total} keys, {what}: median {median:.2} ms, p99 {p99:.2} ms, max {max:.2} ms ({} frames)",
            samples.len()
        );
    }
}
