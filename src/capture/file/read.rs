//! Reading capture files: line by line, each line bounded in length, every
//! bad line named with its number.

use std::fmt;
use std::io::{self, BufRead};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{
    BadLines, CaptureError, CaptureHeader, FORMAT_VERSION, LineError, StatusLine, parse_timestamp,
};
use crate::capture::headers::HeaderBlock;
use crate::capture::record::{Incoming, Record, RecordPacker};
use crate::capture::store::Store;

/// A record read from a file, with its connection still a name.
#[derive(Debug)]
pub struct LoadedRecord {
    pub connection: String,
    /// The connection's broker (NATS where the line does not say).
    pub broker: crate::capture::BrokerKind,
    pub record: Record,
    /// Stream and sequence of a message read from a stream (`browse`).
    pub stored: Option<(String, u64)>,
}

#[derive(Deserialize)]
struct LineIn {
    received_at: String,
    connection: String,
    /// Absent in every line written so far: NATS.
    #[serde(default)]
    broker: crate::capture::BrokerKind,
    subject: String,
    reply: Option<String>,
    headers: Option<HeadersIn>,
    #[serde(default)]
    status: Option<StatusLine>,
    payload_b64: String,
    #[serde(default)]
    headers_raw_b64: Option<String>,
    #[serde(default)]
    subject_b64: Option<String>,
    #[serde(default)]
    reply_b64: Option<String>,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    stream_seq: Option<u64>,
    /// The broker's own fields (absent for NATS).
    #[serde(default)]
    fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Headers in file order (serde_json's map would sort them).
struct HeadersIn(Vec<(String, Vec<String>)>);

impl<'de> Deserialize<'de> for HeadersIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = HeadersIn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object mapping header names to arrays of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeadersIn, A::Error> {
                let mut pairs = Vec::new();
                while let Some((name, values)) = map.next_entry::<String, Vec<String>>()? {
                    pairs.push((name, values));
                }
                Ok(HeadersIn(pairs))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

/// Longest line a capture file may have: a 64 MiB payload (the most
/// nats-server can be configured to carry) in base64 with its headers.
/// A longer line is refused before it is read whole.
pub const MAX_LINE_BYTES: usize = 100 << 20;

/// Reads a capture file line by line.
pub struct CaptureReader<R: BufRead> {
    input: R,
    line_no: usize,
    buf: Vec<u8>,
    packer: RecordPacker,
    pub header: CaptureHeader,
}

/// Outcome of reading one line into a buffer.
enum LineRead {
    End,
    Line { complete: bool },
    TooLong,
}

/// Read up to and including the next '\n', at most `MAX_LINE_BYTES`; the
/// rest of an over-long line is skipped.
fn read_line_bounded<R: BufRead>(input: &mut R, buf: &mut Vec<u8>) -> io::Result<LineRead> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(match (too_long, buf.is_empty()) {
                (true, _) => LineRead::TooLong,
                (false, true) => LineRead::End,
                (false, false) => LineRead::Line { complete: false },
            });
        }
        let (take, done) = match memchr::memchr(b'\n', available) {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            if buf.len() + take > MAX_LINE_BYTES {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&available[..take]);
            }
        }
        input.consume(take);
        if done {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line { complete: true }
            });
        }
    }
}

impl<R: BufRead> CaptureReader<R> {
    /// Read and check the header line.
    pub fn new(mut input: R) -> Result<Self, CaptureError> {
        let mut buf = Vec::new();
        match read_line_bounded(&mut input, &mut buf)? {
            LineRead::End => return Err(CaptureError::Empty),
            LineRead::TooLong => {
                return Err(CaptureError::NotACapture(format!(
                    "the first line is longer than {MAX_LINE_BYTES} bytes"
                )));
            }
            LineRead::Line { .. } => {}
        }
        // Editors on some systems start UTF-8 files with a byte order mark.
        let first = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf);
        let text = std::str::from_utf8(first)
            .map_err(|e| CaptureError::NotACapture(format!("line 1 is not UTF-8: {e}")))?;
        let value: serde_json::Value = serde_json::from_str(text.trim_end())
            .map_err(|e| CaptureError::NotACapture(format!("not JSON: {e}")))?;
        let version = match value.get("eventscope_capture") {
            None => {
                return Err(CaptureError::NotACapture(
                    "no \"eventscope_capture\" version field".into(),
                ));
            }
            Some(found) => match found.as_u64() {
                Some(version) if version >= 1 => version,
                _ => {
                    return Err(CaptureError::NotACapture(format!(
                        "\"eventscope_capture\" must be a whole number from 1 up, found {found}"
                    )));
                }
            },
        };
        if version > FORMAT_VERSION {
            return Err(CaptureError::NewerVersion { found: version });
        }
        let header: CaptureHeader =
            serde_json::from_value(value).map_err(|e| CaptureError::NotACapture(e.to_string()))?;
        Ok(Self {
            input,
            line_no: 1,
            buf,
            packer: RecordPacker::default(),
            header,
        })
    }

    /// Line number of the last line read (1 is the header).
    pub fn line_no(&self) -> usize {
        self.line_no
    }

    /// The next record, `None` at the end. Blank lines are skipped.
    pub fn next_record(&mut self) -> Option<Result<LoadedRecord, CaptureError>> {
        loop {
            let read = match read_line_bounded(&mut self.input, &mut self.buf) {
                Ok(read) => read,
                Err(e) => {
                    return Some(Err(CaptureError::BadLine {
                        line: self.line_no + 1,
                        reason: LineError::Unreadable(e),
                        truncated: false,
                    }));
                }
            };
            let complete = match read {
                LineRead::End => return None,
                LineRead::TooLong => {
                    self.line_no += 1;
                    return Some(Err(CaptureError::BadLine {
                        line: self.line_no,
                        reason: LineError::TooLong,
                        truncated: false,
                    }));
                }
                LineRead::Line { complete } => complete,
            };
            self.line_no += 1;
            let line_no = self.line_no;
            let bad = |reason: LineError| CaptureError::BadLine {
                line: line_no,
                reason,
                truncated: !complete,
            };
            let text = match std::str::from_utf8(&self.buf) {
                Ok(text) => text.trim_end_matches(['\n', '\r']),
                Err(e) => return Some(Err(bad(LineError::NotUtf8(e)))),
            };
            if text.trim().is_empty() {
                continue;
            }
            return Some(parse_line(text, &mut self.packer).map_err(bad));
        }
    }
}

fn decode_b64(field: &'static str, text: &str) -> Result<Vec<u8>, LineError> {
    BASE64
        .decode(text.as_bytes())
        .map_err(|source| LineError::Base64 { field, source })
}

fn parse_line(text: &str, packer: &mut RecordPacker) -> Result<LoadedRecord, LineError> {
    let line: LineIn = serde_json::from_str(text).map_err(LineError::Invalid)?;
    let received_at = parse_timestamp(&line.received_at)?;
    let payload = decode_b64("payload_b64", &line.payload_b64)?;
    let status = line
        .status
        .as_ref()
        .map(|s| (s.code, s.description.as_str()));
    let headers = match (&line.headers_raw_b64, &line.headers, status) {
        (Some(raw), _, _) => Some(decode_b64("headers_raw_b64", raw)?),
        (None, None, None) => None,
        (None, headers, status) => {
            let pairs = headers.iter().flat_map(|h| {
                h.0.iter().flat_map(|(name, values)| {
                    values.iter().map(move |v| (name.as_str(), v.as_str()))
                })
            });
            Some(HeaderBlock::build(status, pairs).as_bytes().to_vec())
        }
    };
    let subject = match &line.subject_b64 {
        Some(raw) => decode_b64("subject_b64", raw)?,
        None => line.subject.into_bytes(),
    };
    let reply = match (&line.reply_b64, line.reply) {
        (Some(raw), _) => Some(decode_b64("reply_b64", raw)?),
        (None, reply) => reply.map(String::into_bytes),
    };
    // Written back compact, in the file's key order: as the link wrote it.
    let fields = match &line.fields {
        Some(fields) if !fields.is_empty() => {
            serde_json::to_string(fields).map_err(LineError::Invalid)?
        }
        _ => String::new(),
    };
    Ok(LoadedRecord {
        connection: line.connection,
        broker: line.broker,
        record: packer.pack_incoming(
            received_at,
            0,
            &Incoming {
                subject: &subject,
                reply: reply.as_deref(),
                headers: headers.as_deref(),
                fields: &fields,
                payload: &payload,
            },
        ),
        stored: line.stream.zip(line.stream_seq),
    })
}

/// Every record of a capture file that `keep` accepts; bad lines are
/// skipped and said.
#[derive(Debug)]
pub struct ReadAll {
    pub records: Vec<Record>,
    /// What was skipped, in words.
    pub skipped: Option<String>,
}

/// Read a whole capture file, or a `nats sub --dump` directory (replay
/// selections, the headless commands).
pub fn read_all(
    path: &std::path::Path,
    mut keep: impl FnMut(&Record) -> bool,
) -> Result<ReadAll, CaptureError> {
    let mut records = Vec::new();
    let skipped = read_each(path, |loaded| {
        if keep(&loaded.record) {
            records.push(loaded.record);
        }
        Ok(())
    })?;
    Ok(ReadAll { records, skipped })
}

/// Every record of a capture file or a dump directory, with its
/// connection's name and broker; what was skipped, in words.
pub fn read_all_loaded(
    path: &std::path::Path,
) -> Result<(Vec<LoadedRecord>, Option<String>), CaptureError> {
    let mut records = Vec::new();
    let skipped = read_each(path, |loaded| {
        records.push(loaded);
        Ok(())
    })?;
    Ok((records, skipped))
}

/// Hand each record of a capture file (streamed) or a dump directory to
/// `each`, in order; a bad line or file is skipped and counted, an error
/// of `each` stops the reading. What was skipped, in words.
pub fn read_each(
    path: &std::path::Path,
    mut each: impl FnMut(LoadedRecord) -> io::Result<()>,
) -> Result<Option<String>, CaptureError> {
    if super::is_dump_dir(path) {
        let read = super::read_dump_dir(path)?;
        let said = read.describe();
        for loaded in read.records {
            each(loaded)?;
        }
        return Ok(said);
    }
    let file = std::fs::File::open(path)?;
    let mut reader = CaptureReader::new(io::BufReader::new(file))?;
    let mut bad = BadLines::default();
    while let Some(next) = reader.next_record() {
        match next {
            Ok(loaded) => each(loaded)?,
            Err(e) => {
                let ends = e.ends_reading();
                bad.note(e);
                if ends {
                    break;
                }
            }
        }
    }
    Ok(bad.describe())
}

/// What loading a file into a store did.
#[derive(Debug)]
pub struct LoadReport {
    pub loaded: u64,
    pub bad: BadLines,
}

/// Load records into a store to the end; bad lines are skipped and
/// counted.
pub fn load_into<R: BufRead>(reader: &mut CaptureReader<R>, store: &mut Store) -> LoadReport {
    let mut loaded = 0;
    let mut bad = BadLines::default();
    while let Some(next) = reader.next_record() {
        match next {
            Ok(mut item) => {
                item.record.connection = store.intern_connection_of(&item.connection, item.broker);
                store.push(item.record);
                loaded += 1;
            }
            Err(error) => {
                let ends = error.ends_reading();
                bad.note(error);
                if ends {
                    break;
                }
            }
        }
    }
    LoadReport { loaded, bad }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::BrokerKind;
    use crate::capture::file::CaptureWriter;
    use crate::capture::file::tests::sample;

    #[test]
    fn reader_edge_cases_are_named() {
        let header = "{\"eventscope_capture\":1,\"created\":\"x\",\"tool\":\"y\"}\n";
        let bom = format!("\u{feff}{header}");
        assert!(CaptureReader::new(bom.as_bytes()).is_ok());
        for version in ["0", "-1", "\"1\"", "1.0"] {
            let text = header.replace(":1,", &format!(":{version},"));
            let err = CaptureReader::new(text.as_bytes()).err().expect("refused");
            assert!(err.to_string().contains("whole number"), "{version}: {err}");
        }
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(b"\n{\"bad\xff\"}\n");
        let mut r = CaptureReader::new(&bytes[..]).expect("reader");
        let err = r.next_record().expect("line").expect_err("bad");
        assert!(err.to_string().starts_with("line 3: not UTF-8"), "{err}");
        let mut long = header.as_bytes().to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        long.extend_from_slice(b"\n");
        let mut r = CaptureReader::new(&long[..]).expect("reader");
        let err = r.next_record().expect("line").expect_err("long");
        assert!(err.to_string().starts_with("line 2: longer than"), "{err}");
        assert!(r.next_record().is_none());
    }

    #[test]
    fn bad_lines_name_the_line_and_keep_the_rest() {
        let mut buf = Vec::new();
        let mut w = CaptureWriter::new(&mut buf, &CaptureHeader::new(vec![])).expect("header");
        w.write(&sample(), "c").expect("write");
        w.write(&sample(), "c").expect("write");
        let mut text = String::from_utf8(buf).expect("utf8");
        text.push_str("{\"received_at\":\"2026-11-23T12:00:00Z\",\"conn");
        let mut store = Store::default();
        let mut r = CaptureReader::new(text.as_bytes()).expect("reader");
        let report = load_into(&mut r, &mut store);
        assert_eq!(report.loaded, 2);
        assert_eq!(report.bad.count, 1);
        let msg = report.bad.first.expect("error").to_string();
        assert!(msg.starts_with("line 4:"), "{msg}");
        assert!(msg.contains("truncated"), "{msg}");
        assert_eq!(store.len(), 2);
    }

    /// Lines written so far say no broker and are NATS's; a line may say
    /// it; a broker this build does not know is a bad line, named and
    /// skipped, never read as NATS.
    #[test]
    fn a_line_says_its_broker_and_an_unknown_one_is_not_read_as_nats() {
        let mut buf = Vec::new();
        let mut w = CaptureWriter::new(&mut buf, &CaptureHeader::new(vec![])).expect("header");
        w.write(&sample(), "old").expect("write");
        let mut text = String::from_utf8(buf).expect("utf8");
        let line = text.lines().nth(1).expect("a line").to_owned();
        assert!(
            !line.contains("\"broker\""),
            "NATS lines stay as before: {line}"
        );
        text.push_str(&line.replace(
            "\"connection\":\"old\"",
            "\"connection\":\"said\",\"broker\":\"nats\"",
        ));
        text.push('\n');
        text.push_str(&line.replace(
            "\"connection\":\"old\"",
            "\"connection\":\"pigeon\",\"broker\":\"pigeon\"",
        ));
        text.push('\n');
        let mut store = Store::default();
        let mut r = CaptureReader::new(text.as_bytes()).expect("reader");
        let report = load_into(&mut r, &mut store);
        assert_eq!(report.loaded, 2);
        assert_eq!(report.bad.count, 1);
        let said = report.bad.describe().expect("named");
        assert!(said.contains("line 4") && said.contains("pigeon"), "{said}");
        for name in ["old", "said"] {
            let key = store.intern_connection_of(name, BrokerKind::Nats);
            assert_eq!(store.broker_of(key), BrokerKind::Nats);
        }
        assert!(!store.connection_names().iter().any(|n| &**n == "pigeon"));
    }

    #[test]
    fn newer_and_foreign_files_are_refused() {
        let newer = "{\"eventscope_capture\":3,\"created\":\"x\",\"tool\":\"y\"}\n";
        assert!(matches!(
            CaptureReader::new(newer.as_bytes()),
            Err(CaptureError::NewerVersion { found: 3 })
        ));
        assert!(matches!(
            CaptureReader::new("hello\n".as_bytes()),
            Err(CaptureError::NotACapture(_))
        ));
        assert!(matches!(
            CaptureReader::new("".as_bytes()),
            Err(CaptureError::Empty)
        ));
    }
}
