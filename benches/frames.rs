//! Frame cost of the real UI, headless (egui context without a GPU, as
//! egui_kittest runs it): 1,000,000 records in the store, 10,000 distinct
//! subjects, a live flow diagram, and 50,000 msg/s arriving (833 records
//! a frame at 60 Hz). CPU time per frame (logic + UI + tessellation),
//! median and p99, for each view. Then the traffic view again with every
//! payload Protobuf (`tests/fixtures/proto`, bound to every subject): the
//! table decodes the rows it draws, each new frame's rows new.
//!
//! `cargo bench --bench frames` (EVENTSCOPE_BENCH_COUNT to change 1,000,000).

#[path = "support.rs"]
mod support;

use std::time::Instant;

use bytes::Bytes;
use eventscope::app::{AppConfig, EventscopeApp};
use eventscope::capture::{HeaderBlock, Record, RecordPacker};
use eventscope::decode::SchemaSettings;
use eventscope::ui::View;

const RATE: usize = 50_000;
const FPS: usize = 60;
const FRAMES: usize = 240;

struct Feed {
    i: u64,
    payload: Bytes,
    packer: RecordPacker,
}

impl Feed {
    /// The next record: 10,000 subjects round-robin, and every 50th message
    /// part of a JetStream flow that is NAKed once, then ACKed.
    fn next(&mut self, at: i64) -> Vec<Record> {
        self.i += 1;
        let i = self.i;
        let headers = HeaderBlock::build(
            None,
            [("ce-source", "bench"), ("ce-type", "t"), ("ce-id", "x")],
        );
        let packer = &mut self.packer;
        let mut rec = |subject: String, reply: Option<String>, payload: Bytes| {
            packer.pack(at, 0, &subject, reply.as_deref(), Some(&headers), &payload)
        };
        if !i.is_multiple_of(50) {
            return vec![rec(
                format!("s{}.e{}", i % 100, (i / 100) % 100),
                None,
                self.payload.clone(),
            )];
        }
        let seq = i / 50;
        let inbox = format!("_INBOX.b.{seq}");
        let ack = |n: u64| format!("$JS.ACK.ORDERS.w.{n}.{seq}.{seq}.1.0");
        vec![
            rec(
                "orders.created".into(),
                Some(inbox.clone()),
                self.payload.clone(),
            ),
            rec(
                inbox,
                None,
                Bytes::from(format!(r#"{{"stream":"ORDERS","seq":{seq}}}"#)),
            ),
            rec("orders.created".into(), Some(ack(1)), self.payload.clone()),
            rec(ack(1), None, Bytes::from_static(b"-NAK")),
            rec("orders.created".into(), Some(ack(2)), self.payload.clone()),
            rec(ack(2), None, Bytes::from_static(b"+ACK")),
        ]
    }
}

fn main() {
    let count = support::message_count(1_000_000) as usize;
    let json = Bytes::from(format!(
        r#"{{"order_id":"ord-1","note":"{}"}}"#,
        "x".repeat(220)
    ));
    let all_views = [View::Traffic, View::Flows, View::Publish, View::Connections];
    run(count, json, SchemaSettings::default(), &all_views, "");
    let protos = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proto");
    let settings = SchemaSettings {
        proto_dirs: vec![protos.into()],
        bindings: vec![(">".into(), "shop.Order".into())],
        ..SchemaSettings::default()
    };
    let order = format!(
        r#"{{"id":"ord-1","cents":"1250","lines":[{{"sku":"{}","count":2}}]}}"#,
        "x".repeat(200)
    );
    let protobuf = settings
        .load()
        .expect("the fixture compiles")
        .encode_bound("orders.created", &order)
        .expect("encodes");
    run(
        count,
        Bytes::from(protobuf),
        settings,
        &[View::Traffic],
        " (Protobuf)",
    );
}

fn run(count: usize, payload: Bytes, schemas: SchemaSettings, views: &[View], label: &str) {
    let ctx = egui::Context::default();
    let config = AppConfig {
        budget_mib: 8192,
        schemas,
        ..AppConfig::default()
    };
    let mut app = EventscopeApp::new(&ctx, None, config).expect("app");
    app.session.store.intern_connection("bench");
    let mut feed = Feed {
        i: 0,
        packer: RecordPacker::default(),
        payload,
    };
    let mut now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) - 60_000_000_000;
    let fill = Instant::now();
    while app.session.store.len() < count {
        let batch: Vec<Record> = (0..1000).flat_map(|_| feed.next(now)).collect();
        now += 20_000_000;
        app.session.add_records(batch);
    }
    println!(
        "frames{label}: {} records, {} subject tree nodes, {} flows (filled in {:.1} s)",
        app.session.store.len(),
        app.session.store.subjects().len(),
        app.session.flows.len(),
        fill.elapsed().as_secs_f64()
    );
    app.traffic.selected = Some(app.session.store.end_seq() - 1);
    app.flows.selected = app
        .session
        .flows
        .flows()
        .rev()
        .find(|f| f.detail().deliveries.len() == 2)
        .map(|f| f.id);
    let per_frame = RATE / FPS;
    let mut time = 0.0;
    for view in views {
        app.view = *view;
        let mut samples = Vec::with_capacity(FRAMES);
        for frame in 0..(FRAMES + 20) {
            let arriving: Vec<Record> = (0..per_frame)
                .flat_map(|_| feed.next(now))
                .take(per_frame)
                .collect();
            now += 1_000_000_000 / FPS as i64;
            time += 1.0 / FPS as f64;
            let start = Instant::now();
            // What arrives between two frames, then one frame of the app.
            app.session.add_records(arriving);
            support::headless_frame(&ctx, &mut app, time);
            if frame >= 20 {
                samples.push(start.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let [median, p99, max] = support::percentiles(&mut samples);
        println!(
            "{:<16} median {median:6.2} ms   p99 {p99:6.2} ms   max {max:6.2} ms   ({} frames, {} msg/s arriving){label}",
            view.label(),
            samples.len(),
            RATE
        );
    }
}
