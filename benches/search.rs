//! Search over a million retained records: each query side by side with
//! a plain scan of the same records (the text filter's byte search, the
//! floor any search pays), in one run. The JSON tests are the Search
//! view's: a compared string (the bytes it needs are looked for first,
//! then only candidates are parsed), and two numeric ones that read
//! every payload (along the path only: what is beside it is skipped).
//!
//! `cargo bench --bench search`

use std::time::Instant;

use eventscope::capture::{Record, RecordPacker};
use eventscope::decode::Schemas;
use eventscope::search::QueryInput;

const RECORDS: usize = 1_000_000;

fn orders() -> Vec<Record> {
    let mut packer = RecordPacker::default();
    (0..RECORDS)
        .map(|n| {
            let payload = format!(
                r#"{{"specversion":"1.0","type":"com.example.order.created","id":"evt-{n:08x}","data":{{"order_id":"ord-{n}","customer":{{"id":"cus-{}","tier":"standard"}},"items":[{{"sku":"SKU-TEA","qty":{},"unit_price":7.9}}],"total":{}.5}}}}"#,
                n % 5000,
                1 + n % 4,
                n % 1000
            );
            packer.pack(n as i64, 0, "orders.created", None, None, payload.as_bytes())
        })
        .collect()
}

fn rate(records: usize, seconds: f64) -> String {
    format!("{:.2} M records/s", records as f64 / seconds / 1e6)
}

fn time(records: &[Record], what: &str, mut matches: impl FnMut(&Record) -> bool) -> f64 {
    let started = Instant::now();
    let found = records.iter().filter(|r| matches(r)).count();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{what:<52} {found:>8} found  {:>8.1} ms  {}",
        seconds * 1e3,
        rate(records.len(), seconds)
    );
    seconds
}

fn main() {
    let records = orders();
    let schemas = Schemas::default();
    let bytes: usize = records.iter().map(|r| r.payload().len()).sum();
    println!(
        "{RECORDS} records, {} MB of JSON payloads",
        bytes / 1_000_000
    );
    let needle = b"ord-424242";
    time(&records, "baseline: plain scan for \"ord-424242\"", |r| {
        memchr::memmem::find(r.payload(), needle).is_some()
    });
    for json in [
        r#".data.order_id == "ord-424242""#,
        ".data.total > 990",
        ".data.items[].qty >= 4",
    ] {
        let query = QueryInput {
            json: json.into(),
            ..Default::default()
        }
        .parse(0)
        .expect("valid");
        time(&records, &format!("JSON test {json}"), |r| {
            query.matches(r, &schemas)
        });
    }
}
