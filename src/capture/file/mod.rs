//! The capture file: UTF-8 JSON Lines, one header object then one object per
//! message. Written by `eventscope record` and the GUI, read back losslessly.
//!
//! ```text
//! {"eventscope_capture":1,"created":"2026-11-23T12:00:00.000000000Z","tool":"eventscope 0.1.0","servers":["nats://127.0.0.1:4222"]}
//! {"received_at":"2026-11-23T12:00:00.123456789Z","connection":"prod","subject":"orders.created","reply":null,"headers":{"ce-id":["a1"]},"payload_b64":"eyJpZCI6MX0="}
//! ```
//!
//! Version 2 (this build): a line may say `"broker"` (`"nats"` when absent,
//! as in every version 1 file) and the broker's own fields (`"fields"`, a
//! JSON object: MQTT QoS and retain, say). Version 1 readers ignore fields
//! they do not know, so they would read a line of another broker as NATS:
//! they refuse version 2 by name instead. Version 1 files read unchanged.

use std::io::{self, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

mod dump;
mod read;

pub use dump::{DumpRead, is_dump_dir, read_dump_dir, write_dump_dir};
pub use read::{
    CaptureReader, LoadReport, LoadedRecord, MAX_LINE_BYTES, ReadAll, load_into, read_all,
    read_all_loaded, read_each,
};

use super::broker::BrokerKind;
use super::headers::Headers;
use super::record::{ConnectionKey, Record, Timestamp, timestamp_to_utc};
use super::store::Store;

/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u64 = 2;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureHeader {
    pub eventscope_capture: u64,
    pub created: String,
    pub tool: String,
    #[serde(default)]
    pub servers: Vec<String>,
}

impl CaptureHeader {
    /// Any user name, password or token in a server URL is left out: a
    /// capture file is shared, credentials are not.
    pub fn new(servers: Vec<String>) -> Self {
        Self {
            eventscope_capture: FORMAT_VERSION,
            created: format_timestamp(crate::capture::record::now_timestamp()),
            tool: concat!("eventscope ", env!("CARGO_PKG_VERSION")).to_owned(),
            servers: servers.iter().map(|s| without_credentials(s)).collect(),
        }
    }
}

fn without_credentials(server: &str) -> String {
    match url::Url::parse(server) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => server.to_owned(),
    }
}

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("cannot read the capture file: {0}")]
    Io(#[from] io::Error),
    #[error("the file is empty: no capture header")]
    Empty,
    #[error("line 1 is not an eventscope capture header ({0})")]
    NotACapture(String),
    #[error(
        "this capture is format version {found}, newer than this eventscope reads ({FORMAT_VERSION}): update eventscope"
    )]
    NewerVersion { found: u64 },
    #[error("line {line}: {reason}{}", if *.truncated { " (the file ends here: truncated?)" } else { "" })]
    BadLine {
        line: usize,
        reason: LineError,
        /// The line had no end: the file stops in the middle of it.
        truncated: bool,
    },
    /// One message file of a `nats sub --dump` directory.
    #[error("{file}: {reason}")]
    BadDumpFile {
        file: String,
        reason: dump::DumpFileError,
    },
}

impl CaptureError {
    /// Reading cannot go on (the file itself failed), as opposed to one
    /// bad line, which is skipped and counted.
    pub fn ends_reading(&self) -> bool {
        match self {
            Self::BadLine { reason, .. } => matches!(reason, LineError::Unreadable(_)),
            Self::BadDumpFile { .. } => false,
            _ => true,
        }
    }
}

/// Lines skipped while reading a capture: a foreign, malformed or cut line
/// never hides the good ones after it.
#[derive(Debug, Default)]
pub struct BadLines {
    pub count: u64,
    /// The first of them, to show with its line number.
    pub first: Option<CaptureError>,
}

impl BadLines {
    pub fn note(&mut self, error: CaptureError) {
        self.count += 1;
        self.first.get_or_insert(error);
    }

    /// "skipped 3 bad lines (the first: line 7: ...)", or nothing.
    pub fn describe(&self) -> Option<String> {
        let first = self.first.as_ref()?;
        Some(match self.count {
            1 => format!("skipped a bad line ({first})"),
            n => format!("skipped {n} bad lines (the first: {first})"),
        })
    }
}

/// What is wrong with one line of a capture file.
#[derive(Debug, Error)]
pub enum LineError {
    #[error("cannot read: {0}")]
    Unreadable(io::Error),
    #[error("longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    #[error("not UTF-8: {0}")]
    NotUtf8(std::str::Utf8Error),
    #[error("invalid record: {0}")]
    Invalid(serde_json::Error),
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
    #[error("{field} is not base64: {source}")]
    Base64 {
        field: &'static str,
        source: base64::DecodeError,
    },
}

/// A `received_at` that is not a time eventscope can keep.
#[derive(Debug, Error)]
pub enum TimestampError {
    #[error("received_at '{text}' is not RFC 3339: {source}")]
    NotRfc3339 {
        text: String,
        source: chrono::ParseError,
    },
    #[error("received_at '{0}' is out of range")]
    OutOfRange(String),
}

/// RFC 3339 in UTC with nanoseconds: `2026-11-23T17:06:56.776086752Z`.
pub fn format_timestamp(ts: Timestamp) -> String {
    timestamp_to_utc(ts).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// `format_timestamp` for runs of close timestamps (a capture being saved,
/// a replay's marks): chrono formats the date and time once per second and
/// only the nine fraction digits are written per call: 16 ns a call instead
/// of chrono's 82 (release build, a million timestamps 1 µs apart), paid
/// once per replayed message and per saved capture line.
#[derive(Default)]
pub struct TimestampFormatter {
    /// The second formatted last.
    second: Option<i64>,
    /// The last timestamp's text; it ends in the nine digits and 'Z'.
    text: String,
}

/// The part of the text written per call: nine fraction digits and 'Z'.
const FRACTION_LEN: usize = "000000000Z".len();

impl TimestampFormatter {
    pub fn format(&mut self, ts: Timestamp) -> &str {
        let second = ts.div_euclid(NANOS_PER_SECOND);
        if self.second != Some(second) {
            let Some(whole) = second.checked_mul(NANOS_PER_SECOND) else {
                // Only timestamps within a second of the range's start.
                self.second = None;
                self.text = format_timestamp(ts);
                return &self.text;
            };
            self.text = format_timestamp(whole);
            self.second = Some(second);
        }
        let mut digits = [b'0'; 9];
        let mut nanos = ts.rem_euclid(NANOS_PER_SECOND);
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (nanos % 10) as u8;
            nanos /= 10;
        }
        self.text.truncate(self.text.len() - FRACTION_LEN);
        self.text
            .push_str(std::str::from_utf8(&digits).unwrap_or("000000000"));
        self.text.push('Z');
        &self.text
    }
}

pub fn parse_timestamp(text: &str) -> Result<Timestamp, TimestampError> {
    let t = chrono::DateTime::parse_from_rfc3339(text).map_err(|source| {
        TimestampError::NotRfc3339 {
            text: text.to_owned(),
            source,
        }
    })?;
    t.timestamp_nanos_opt()
        .ok_or_else(|| TimestampError::OutOfRange(text.to_owned()))
}

// ---------------------------------------------------------------------------
// Writing

/// Writes records as capture lines. Wrap the sink in a `BufWriter`.
pub struct CaptureWriter<W: Write> {
    out: W,
    written: u64,
    stamps: TimestampFormatter,
    /// Reused for every base64 field.
    b64: String,
    /// The last connection name and its JSON text (with its broker's,
    /// when not NATS); none yet.
    connection: Option<(String, Vec<u8>)>,
    /// Connections of a broker other than NATS (`note_broker`).
    brokers: Vec<(String, BrokerKind)>,
}

impl<W: Write> CaptureWriter<W> {
    pub fn new(mut out: W, header: &CaptureHeader) -> io::Result<Self> {
        serde_json::to_writer(&mut out, header)?;
        out.write_all(b"\n")?;
        Ok(Self {
            out,
            written: 0,
            stamps: TimestampFormatter::default(),
            b64: String::new(),
            connection: None,
            brokers: Vec::new(),
        })
    }

    /// Lines of `connection` say `broker` from now on (NATS when never
    /// noted, and says nothing).
    pub fn note_broker(&mut self, connection: &str, broker: BrokerKind) {
        self.brokers.retain(|(name, _)| name != connection);
        if broker != BrokerKind::Nats {
            self.brokers.push((connection.to_owned(), broker));
        }
        // The cached JSON text may have been made without it.
        self.connection = None;
    }

    /// Note the broker of every connection of a store.
    pub fn note_brokers_of(&mut self, store: &Store) {
        for (key, broker) in store.brokers().iter().enumerate() {
            if let Ok(key) = ConnectionKey::try_from(key)
                && *broker != BrokerKind::Nats
            {
                let name = store.connection_name(key).to_owned();
                self.note_broker(&name, *broker);
            }
        }
    }

    /// One line, written field by field in `LineOut`'s order and form
    /// (a test holds the two byte-equal). By hand because serde_json
    /// scans every byte of a string for escapes, and base64 (two thirds
    /// of a typical line) never has any: serialising the whole line with
    /// serde was half of `record`'s writer thread in perf.
    pub fn write(&mut self, record: &Record, connection: &str) -> io::Result<()> {
        self.write_line(record, connection, None)
    }

    /// A line for a message read from a stream: `stream` and `stream_seq`
    /// follow the other fields.
    pub fn write_stored(
        &mut self,
        record: &Record,
        connection: &str,
        stream: &str,
        stream_seq: u64,
    ) -> io::Result<()> {
        self.write_line(record, connection, Some((stream, stream_seq)))
    }

    fn write_line(
        &mut self,
        record: &Record,
        connection: &str,
        stored: Option<(&str, u64)>,
    ) -> io::Result<()> {
        let out = &mut self.out;
        let raw = record.raw_names();
        let headers = record.headers();
        out.write_all(b"{\"received_at\":\"")?;
        out.write_all(self.stamps.format(record.received_at).as_bytes())?;
        out.write_all(b"\",\"connection\":")?;
        // One connection name for a whole run of records: escaped once.
        let cached = match &mut self.connection {
            Some((name, text)) if name == connection => text,
            slot => {
                let mut text = Vec::new();
                json_str(&mut text, connection)?;
                if let Some((_, broker)) = self.brokers.iter().find(|(n, _)| n == connection) {
                    text.extend_from_slice(b",\"broker\":\"");
                    text.extend_from_slice(broker.name().as_bytes());
                    text.push(b'"');
                }
                &mut slot.insert((connection.to_owned(), text)).1
            }
        };
        out.write_all(cached)?;
        out.write_all(b",\"subject\":")?;
        json_str(out, record.subject())?;
        out.write_all(b",\"reply\":")?;
        match record.reply() {
            Some(reply) => json_str(out, reply)?,
            None => out.write_all(b"null")?,
        }
        out.write_all(b",\"headers\":")?;
        match headers {
            Some(h) => headers_json(out, h)?,
            None => out.write_all(b"null")?,
        }
        if let Some(status) = headers.and_then(StatusLine::of) {
            out.write_all(b",\"status\":")?;
            serde_json::to_writer(&mut *out, &status)?;
        }
        let b64 = &mut self.b64;
        let mut base64_field = |name: &[u8], bytes: &[u8]| -> io::Result<()> {
            b64.clear();
            BASE64.encode_string(bytes, b64);
            out.write_all(b",\"")?;
            out.write_all(name)?;
            out.write_all(b"\":\"")?;
            out.write_all(b64.as_bytes())?;
            out.write_all(b"\"")
        };
        base64_field(b"payload_b64", record.payload())?;
        if let Some(h) = headers.filter(|h| h.meta().needs_raw()) {
            base64_field(b"headers_raw_b64", h.as_bytes())?;
        }
        if let Some(r) = raw {
            base64_field(b"subject_b64", r.subject)?;
            if !r.reply.is_empty() {
                base64_field(b"reply_b64", r.reply)?;
            }
        }
        if record.is_malformed() {
            out.write_all(b",\"malformed\":true")?;
        }
        if let Some((stream, seq)) = stored {
            out.write_all(b",\"stream\":")?;
            json_str(out, stream)?;
            write!(out, ",\"stream_seq\":{seq}")?;
        }
        if let Some(fields) = record.fields() {
            // A JSON object the link wrote with serde_json.
            out.write_all(b",\"fields\":")?;
            out.write_all(fields.as_bytes())?;
        }
        out.write_all(b"}\n")?;
        self.written += 1;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A new capture file readable by its owner only: captures hold whatever
/// the watched system sent, secrets included.
pub fn create_private(path: &std::path::Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Write every retained record of a store.
pub fn save_store<W: Write>(store: &Store, out: W, servers: Vec<String>) -> io::Result<u64> {
    let mut writer = CaptureWriter::new(out, &CaptureHeader::new(servers))?;
    writer.note_brokers_of(store);
    for (_, record) in store.iter() {
        writer.write(record, store.connection_name(record.connection))?;
    }
    writer.flush()?;
    Ok(writer.written())
}

#[derive(Serialize, Deserialize)]
pub(super) struct StatusLine {
    pub(super) code: u16,
    #[serde(default)]
    pub(super) description: String,
}

impl StatusLine {
    fn of(headers: Headers<'_>) -> Option<Self> {
        Some(Self {
            code: headers.status()?,
            description: headers.status_description().unwrap_or("").to_owned(),
        })
    }
}

/// `text` as a JSON string. Subjects, names and header values rarely hold
/// anything to escape: those are written as they are, the rest by serde.
fn json_str(out: &mut impl Write, text: &str) -> io::Result<()> {
    if text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        return Ok(serde_json::to_writer(out, text)?);
    }
    out.write_all(b"\"")?;
    out.write_all(text.as_bytes())?;
    out.write_all(b"\"")
}

/// Most blocks hold each name once, with no more than a few names: those
/// are written in order without grouping; the rest go through `HeadersOut`.
const FAST_HEADERS: usize = 16;

fn headers_json(out: &mut impl Write, headers: Headers<'_>) -> io::Result<()> {
    let mut names = [""; FAST_HEADERS];
    for (count, (name, _)) in headers.iter().enumerate() {
        if count == FAST_HEADERS || names[..count].contains(&name) {
            return Ok(serde_json::to_writer(out, &HeadersOut(headers))?);
        }
        names[count] = name;
    }
    out.write_all(b"{")?;
    for (i, (name, value)) in headers.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        json_str(out, name)?;
        out.write_all(b":[")?;
        json_str(out, value)?;
        out.write_all(b"]")?;
    }
    out.write_all(b"}")
}

/// Headers as `{"name": ["v1", "v2"]}`, names in first-seen order.
struct HeadersOut<'a>(Headers<'a>);

impl Serialize for HeadersOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Grouped through an index by name: linear in the block's size. A
        // search of the names so far cost the square of their number (80,000
        // names in a 869 KB block, under the server's 1 MiB limit: 6.9 s).
        let mut grouped: Vec<(&str, Vec<&str>)> = Vec::new();
        let mut index: foldhash::HashMap<&str, usize> = foldhash::HashMap::default();
        for (name, value) in self.0.iter() {
            match index.entry(name) {
                std::collections::hash_map::Entry::Occupied(at) => grouped[*at.get()].1.push(value),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(grouped.len());
                    grouped.push((name, vec![value]));
                }
            }
        }
        let mut map = serializer.serialize_map(Some(grouped.len()))?;
        for (name, values) in &grouped {
            map.serialize_entry(name, values)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests;
