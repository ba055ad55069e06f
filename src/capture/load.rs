//! Loading a capture file on a background thread, in batches, with
//! progress, so a million-record file never freezes a frame.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::file::{CaptureReader, LoadedRecord};

/// Records per batch handed to the consumer.
pub const LOAD_BATCH: usize = 1_000;

pub enum LoadEvent {
    Records(Vec<LoadedRecord>),
    /// The end: `None`, or the error that stopped reading (what came
    /// before it was delivered).
    Done(Option<String>),
}

/// A load in progress.
pub struct CaptureLoad {
    pub path: PathBuf,
    pub total_bytes: u64,
    read_bytes: Arc<AtomicU64>,
    pub events: Receiver<LoadEvent>,
    pub loaded: u64,
}

impl CaptureLoad {
    /// Start reading `path` (a capture file, or a `nats sub --dump`
    /// directory) on a thread of its own.
    pub fn start(path: &Path) -> std::io::Result<Self> {
        if super::file::is_dump_dir(path) {
            return Self::start_dump(path);
        }
        let file = File::open(path)?;
        let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let read_bytes = Arc::new(AtomicU64::new(0));
        let (tx, events) = sync_channel(4);
        let counter = read_bytes.clone();
        std::thread::Builder::new()
            .name("eventscope-load".into())
            .spawn(move || read(file, counter, tx))?;
        Ok(Self {
            path: path.to_owned(),
            total_bytes,
            read_bytes,
            events,
            loaded: 0,
        })
    }

    /// A dump directory is read whole on the thread (its files are one
    /// message each), then handed over in batches.
    fn start_dump(dir: &Path) -> std::io::Result<Self> {
        let (tx, events) = sync_channel(4);
        let path = dir.to_owned();
        std::thread::Builder::new()
            .name("eventscope-load".into())
            .spawn(move || match super::file::read_dump_dir(&path) {
                Ok(read) => {
                    let said = read.describe();
                    let mut records = read.records.into_iter().peekable();
                    while records.peek().is_some() {
                        let batch: Vec<LoadedRecord> = records.by_ref().take(LOAD_BATCH).collect();
                        if tx.send(LoadEvent::Records(batch)).is_err() {
                            return;
                        }
                    }
                    let _ = tx.send(LoadEvent::Done(said));
                }
                Err(e) => {
                    let _ = tx.send(LoadEvent::Done(Some(e.to_string())));
                }
            })?;
        Ok(Self {
            path: dir.to_owned(),
            total_bytes: 0,
            read_bytes: Arc::new(AtomicU64::new(0)),
            events,
            loaded: 0,
        })
    }

    /// Fraction of the file read so far.
    pub fn progress(&self) -> f32 {
        if self.total_bytes == 0 {
            return 1.0;
        }
        self.read_bytes.load(Ordering::Relaxed) as f32 / self.total_bytes as f32
    }
}

struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn read(file: File, count: Arc<AtomicU64>, tx: SyncSender<LoadEvent>) {
    let input = BufReader::with_capacity(1 << 20, Counting { inner: file, count });
    let mut reader = match CaptureReader::new(input) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(LoadEvent::Done(Some(e.to_string())));
            return;
        }
    };
    let mut batch = Vec::with_capacity(LOAD_BATCH);
    let mut bad = super::file::BadLines::default();
    while let Some(next) = reader.next_record() {
        match next {
            Ok(record) => {
                batch.push(record);
                if batch.len() == LOAD_BATCH
                    && tx
                        .send(LoadEvent::Records(std::mem::take(&mut batch)))
                        .is_err()
                {
                    return; // the consumer went away
                }
            }
            // A bad line is skipped and counted: it never hides the good
            // ones after it.
            Err(e) => {
                let ends = e.ends_reading();
                bad.note(e);
                if ends {
                    break;
                }
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(LoadEvent::Records(batch));
    }
    let _ = tx.send(LoadEvent::Done(bad.describe()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Record;
    use crate::capture::file::{CaptureHeader, CaptureWriter};

    #[test]
    fn loads_in_batches_and_reports_the_bad_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.jsonl");
        let mut out = Vec::new();
        let mut w = CaptureWriter::new(&mut out, &CaptureHeader::new(vec![])).expect("header");
        let r = Record::new(0, 0, "a", None, None, b"x");
        for _ in 0..(LOAD_BATCH + 10) {
            w.write(&r, "c").expect("write");
        }
        out.extend_from_slice(b"garbage\n");
        // A bad line is skipped: the line after it still loads.
        let mut w = CaptureWriter::new(Vec::new(), &CaptureHeader::new(vec![])).expect("header");
        w.write(&r, "c").expect("write");
        let tail = String::from_utf8(w.into_inner()).expect("utf8");
        out.extend_from_slice(tail.lines().nth(1).expect("a record line").as_bytes());
        out.push(b'\n');
        std::fs::write(&path, out).expect("write");
        let load = CaptureLoad::start(&path).expect("starts");
        let mut total = 0;
        let mut batches = 0;
        let error = loop {
            match load.events.recv().expect("event") {
                LoadEvent::Records(b) => {
                    total += b.len();
                    batches += 1;
                }
                LoadEvent::Done(e) => break e,
            }
        };
        assert_eq!((total, batches), (LOAD_BATCH + 11, 2));
        let error = error.expect("the bad line is said");
        assert!(
            error.starts_with(&format!("skipped a bad line (line {}:", LOAD_BATCH + 12)),
            "{error}"
        );
        assert!((load.progress() - 1.0).abs() < f32::EPSILON);
    }
}
