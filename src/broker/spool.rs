//! Where messages wait, on disk, when the window applies them slower than
//! the wire brings them: like a packet capture's writer and its viewer,
//! the network side never drops because a frame was slow. While the
//! in-flight allowance (memory) has room, records go to the consumer in
//! batches; once it is spent, they and every record after them go here in
//! arrival order, and the consumer reads them back behind, at its own pace,
//! after what was already in flight. A loss happens only when the disk
//! budget is spent too, and is counted like any other drop.
//!
//! Written by hand: the format is four lengths and the bytes, read back by
//! the same process; no crate's queue keeps byte-exact wire parts in a
//! private file with a byte budget.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::capture::{ConnectionKey, Record, RecordPacker, Timestamp};

/// Bytes gathered in memory before they are written to the file.
const WRITE_CHUNK: usize = 1 << 20;
/// Bytes read back from the file at once.
const READ_CHUNK: u64 = 4 << 20;
/// `None` for a reply or a header block.
const ABSENT: u32 = u32::MAX;
/// at (8) + connection (2) + subject, reply, headers, fields, payload
/// lengths (20).
const ENTRY_HEAD: usize = 30;

/// One message's wire parts, as the spool keeps them.
pub(crate) struct WireParts<'a> {
    pub at: Timestamp,
    pub connection: ConnectionKey,
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    pub headers: Option<&'a [u8]>,
    /// The broker's own fields (empty for none).
    pub fields: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> WireParts<'a> {
    /// The parts of a record already packed (moved here from a batch).
    pub fn of(record: &'a Record) -> Self {
        let raw = record.raw_names();
        Self {
            at: record.received_at,
            connection: record.connection,
            subject: raw.map_or(record.subject().as_bytes(), |r| r.subject),
            reply: record
                .reply()
                .map(|text| raw.map_or(text.as_bytes(), |r| r.reply)),
            headers: record.headers().map(|h| h.as_bytes()),
            fields: record.fields().unwrap_or("").as_bytes(),
            payload: record.payload(),
        }
    }

    fn len(&self) -> usize {
        ENTRY_HEAD
            + self.subject.len()
            + self.reply.map_or(0, <[u8]>::len)
            + self.headers.map_or(0, <[u8]>::len)
            + self.fields.len()
            + self.payload.len()
    }

    fn write(&self, out: &mut Vec<u8>) {
        let len = |b: Option<&[u8]>| b.map_or(ABSENT, |b| u32::try_from(b.len()).unwrap_or(0));
        out.extend_from_slice(&self.at.to_le_bytes());
        out.extend_from_slice(&self.connection.to_le_bytes());
        for part in [
            Some(self.subject),
            self.reply,
            self.headers,
            Some(self.fields),
            Some(self.payload),
        ] {
            out.extend_from_slice(&len(part).to_le_bytes());
        }
        for part in [
            Some(self.subject),
            self.reply,
            self.headers,
            Some(self.fields),
            Some(self.payload),
        ] {
            out.extend_from_slice(part.unwrap_or_default());
        }
    }
}

/// Decode whole entries from `bytes`; returns the records and the bytes
/// they took (a partial entry at the end stays for the next read).
fn decode(bytes: &[u8], packer: &mut RecordPacker, out: &mut Vec<Record>) -> usize {
    let mut at = 0;
    while bytes.len() - at >= ENTRY_HEAD {
        let head = &bytes[at..at + ENTRY_HEAD];
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let received = i64::from_le_bytes(head[..8].try_into().unwrap_or([0; 8]));
        let connection = u16::from_le_bytes([head[8], head[9]]);
        let lens = [word(10), word(14), word(18), word(22), word(26)];
        let size = |l: u32| if l == ABSENT { 0 } else { l as usize };
        let body: usize = lens.iter().map(|l| size(*l)).sum();
        if bytes.len() - at < ENTRY_HEAD + body {
            break;
        }
        let mut from = at + ENTRY_HEAD;
        let mut part = |l: u32| {
            let slice = (l != ABSENT).then(|| &bytes[from..from + size(l)]);
            from += size(l);
            slice
        };
        let subject = part(lens[0]).unwrap_or_default();
        let reply = part(lens[1]);
        let headers = part(lens[2]);
        let fields = part(lens[3]).unwrap_or_default();
        let payload = part(lens[4]).unwrap_or_default();
        // The fields were a record's (UTF-8) before they were written here.
        let fields = std::str::from_utf8(fields).unwrap_or_default();
        out.push(packer.pack_incoming(
            received,
            connection,
            &crate::capture::Incoming {
                subject,
                reply,
                headers,
                fields,
                payload,
            },
        ));
        at = from;
    }
    at
}

#[derive(Default)]
struct Files {
    /// A private folder (0700) of its own, removed with the spool.
    dir: Option<tempfile::TempDir>,
    file: Option<File>,
    /// Entries not yet written to the file (the newest).
    tail: Vec<u8>,
    /// Bytes in the file, and how far the consumer has read.
    written: u64,
    read: u64,
    /// A partial entry read from the file, waiting for its rest.
    carry: Vec<u8>,
    /// The file could not be written (disk full): nothing more is taken.
    failed: bool,
}

/// The disk queue of one broker's consumer.
pub(crate) struct Spool {
    files: Mutex<Files>,
    /// Set while anything waits here: every new record must come here too,
    /// to stay behind those.
    active: AtomicBool,
    /// The disk budget in bytes (0: no spool, drop when memory is spent).
    budget: AtomicU64,
    /// Bytes waiting (file unread + tail), for the budget and the status.
    waiting_bytes: AtomicU64,
    /// Records waiting.
    waiting: AtomicU64,
    /// The most that ever waited, in bytes.
    peak_bytes: AtomicU64,
}

impl Default for Spool {
    fn default() -> Self {
        Self {
            files: Mutex::default(),
            active: AtomicBool::new(false),
            budget: AtomicU64::new(0),
            waiting_bytes: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            peak_bytes: AtomicU64::new(0),
        }
    }
}

impl Spool {
    pub fn set_budget(&self, bytes: u64) {
        self.budget.store(bytes, Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.budget.load(Ordering::Relaxed) > 0
    }

    /// Records wait here: new ones must come here too.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Records waiting, and their bytes.
    pub fn waiting(&self) -> (u64, u64) {
        (
            self.waiting.load(Ordering::Relaxed),
            self.waiting_bytes.load(Ordering::Relaxed),
        )
    }

    pub fn peak_bytes(&self) -> u64 {
        self.peak_bytes.load(Ordering::Relaxed)
    }

    /// Keep one message; false when the disk budget is spent (or the file
    /// cannot be written): the caller counts it as dropped.
    pub fn push(&self, parts: &WireParts<'_>) -> bool {
        let size = parts.len() as u64;
        let waiting = self.waiting_bytes.load(Ordering::Relaxed);
        if waiting + size > self.budget.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(mut files) = self.files.lock() else {
            return false;
        };
        if files.failed {
            return false;
        }
        parts.write(&mut files.tail);
        if files.tail.len() >= WRITE_CHUNK && files.flush_tail().is_err() {
            // What is in memory is still read back; nothing more comes in.
            files.failed = true;
        }
        self.active.store(true, Ordering::Release);
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let now = self.waiting_bytes.fetch_add(size, Ordering::Relaxed) + size;
        self.peak_bytes.fetch_max(now, Ordering::Relaxed);
        true
    }

    /// The oldest waiting records, about `bytes` of them (fewer when fewer
    /// wait). When none is left, the spool is idle again: new records go
    /// to the consumer directly.
    pub fn take(&self, bytes: u64, packer: &mut RecordPacker) -> Vec<Record> {
        let mut records = Vec::new();
        let Ok(mut files) = self.files.lock() else {
            return records;
        };
        let files = &mut *files;
        let used = if files.read < files.written {
            let want = bytes.clamp(1, READ_CHUNK).min(files.written - files.read);
            let mut chunk = std::mem::take(&mut files.carry);
            let start = chunk.len();
            chunk.resize(start + usize::try_from(want).unwrap_or(0), 0);
            let read = files.file.as_mut().map(|f| {
                f.seek(SeekFrom::Start(files.read))
                    .and_then(|_| f.read_exact(&mut chunk[start..]))
            });
            if !matches!(read, Some(Ok(()))) {
                // Unreadable: what waits in the file is lost, counted by
                // the caller from `waiting` before and after.
                files.written = 0;
                files.read = 0;
                files.carry.clear();
                return records;
            }
            files.read += want;
            let used = decode(&chunk, packer, &mut records);
            files.carry = chunk[used..].to_vec();
            used
        } else {
            let tail = std::mem::take(&mut files.tail);
            let mut bytes = std::mem::take(&mut files.carry);
            bytes.extend_from_slice(&tail);
            let used = decode(&bytes, packer, &mut records);
            files.carry = bytes[used..].to_vec();
            used
        };
        self.waiting
            .fetch_sub(records.len() as u64, Ordering::Relaxed);
        self.waiting_bytes.fetch_sub(used as u64, Ordering::Relaxed);
        if files.read >= files.written && files.tail.is_empty() && files.carry.is_empty() {
            // All read: the file starts again from nothing.
            files.read = 0;
            files.written = 0;
            if let Some(file) = files.file.as_mut() {
                let _ = file.set_len(0);
            }
            self.active.store(false, Ordering::Release);
        }
        records
    }

    /// Forget everything waiting (the consumer cleared its capture).
    pub fn clear(&self) {
        if let Ok(mut files) = self.files.lock() {
            files.failed = false;
            files.tail.clear();
            files.carry.clear();
            files.read = 0;
            files.written = 0;
            if let Some(file) = files.file.as_mut() {
                let _ = file.set_len(0);
            }
            self.waiting.store(0, Ordering::Relaxed);
            self.waiting_bytes.store(0, Ordering::Relaxed);
            self.active.store(false, Ordering::Release);
        }
    }
}

impl Files {
    fn flush_tail(&mut self) -> std::io::Result<()> {
        if self.file.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("eventscope-spool-")
                .tempdir()?;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(dir.path().join("spool"))?;
            self.dir = Some(dir);
            self.file = Some(file);
        }
        let file = self.file.as_mut().ok_or(std::io::ErrorKind::NotFound)?;
        file.seek(SeekFrom::Start(self.written))?;
        file.write_all(&self.tail)?;
        self.written += self.tail.len() as u64;
        self.tail.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(i: u32) -> (String, Vec<u8>) {
        (format!("s.{i}"), vec![b'x'; (i % 700) as usize])
    }

    #[test]
    fn records_come_back_in_order_byte_exact_through_the_file() {
        let spool = Spool::default();
        spool.set_budget(1 << 30);
        let mut packer = RecordPacker::default();
        let headers = b"NATS/1.0\r\nA: b\r\n\r\n";
        for i in 0..20_000u32 {
            let (subject, payload) = parts(i);
            assert!(spool.push(&WireParts {
                at: i64::from(i),
                connection: 3,
                subject: subject.as_bytes(),
                reply: (i % 2 == 0).then_some(&b"_INBOX.r"[..]),
                headers: (i % 3 == 0).then_some(&headers[..]),
                fields: if i % 5 == 0 { br#"{"qos":1}"# } else { b"" },
                payload: &payload,
            }));
        }
        assert!(spool.is_active());
        let mut got = Vec::new();
        while spool.is_active() {
            got.extend(spool.take(1 << 20, &mut packer));
        }
        assert_eq!(got.len(), 20_000);
        for (i, record) in got.iter().enumerate() {
            let i = u32::try_from(i).expect("small");
            let (subject, payload) = parts(i);
            assert_eq!(record.received_at, i64::from(i));
            assert_eq!(record.connection, 3);
            assert_eq!(record.subject(), subject);
            assert_eq!(record.reply().is_some(), i % 2 == 0);
            assert_eq!(record.headers().is_some(), i % 3 == 0);
            assert_eq!(record.fields(), (i % 5 == 0).then_some(r#"{"qos":1}"#));
            assert_eq!(record.payload(), &payload[..]);
        }
        assert_eq!(spool.waiting(), (0, 0));
    }

    #[test]
    fn past_the_budget_nothing_is_taken() {
        let spool = Spool::default();
        spool.set_budget(1000);
        let part = WireParts {
            at: 0,
            connection: 0,
            subject: b"a",
            reply: None,
            headers: None,
            fields: b"",
            payload: &[0; 400],
        };
        assert!(spool.push(&part));
        assert!(spool.push(&part));
        assert!(!spool.push(&part));
    }
}
