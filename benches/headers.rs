//! Writing a capture line for one message with a huge header block: the
//! cost must grow with the block's size, not its square. A hostile
//! publisher can send 80,000 distinct names in 869 KB (under the server's
//! default 1 MiB limit). Side by side: the writer as it is, and the
//! grouping by linear search it had before (the baseline), on the same
//! blocks.
//!
//! `cargo bench --bench headers`

use std::time::Instant;

use eventscope::capture::file::{CaptureHeader, CaptureWriter};
use eventscope::capture::{HeaderBlock, RecordPacker};

/// The grouping the writer did before: a search of the names so far.
fn baseline_grouping<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> usize {
    let mut grouped: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, value) in pairs {
        match grouped.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => grouped.push((name, vec![value])),
        }
    }
    grouped.len()
}

fn main() {
    println!(
        "{:>8} {:>10} {:>14} {:>14}",
        "names", "block KB", "writer ms", "baseline ms"
    );
    for names in [10_000usize, 20_000, 40_000, 80_000] {
        let owned: Vec<(String, String)> = (0..names)
            .map(|i| (format!("h{i}"), "v".to_owned()))
            .collect();
        let block = HeaderBlock::build(None, owned.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let record = RecordPacker::default().pack(0, 0, "s", None, Some(&block), b"{}");
        let headers = record.headers().expect("headers");

        let started = Instant::now();
        let mut writer =
            CaptureWriter::new(std::io::sink(), &CaptureHeader::new(vec![])).expect("writer");
        writer.write(&record, "bench").expect("write");
        let written = started.elapsed();

        let started = Instant::now();
        let groups = baseline_grouping(headers.iter());
        let baseline = started.elapsed();
        assert_eq!(groups, names);
        println!(
            "{names:>8} {:>10} {:>14.1} {:>14.1}",
            block.as_bytes().len() / 1024,
            written.as_secs_f64() * 1e3,
            baseline.as_secs_f64() * 1e3
        );
    }
}
