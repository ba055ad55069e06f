//! natscli's `nats sub --dump DIR`: one JSON file per message, named by
//! its number (`7.json`; a JetStream message by its stream sequence; a
//! matched reply `7_reply.json`), each `json.Marshal` of a Go `nats.Msg`:
//! `{"Subject", "Reply", "Header": {name: [values]}, "Data": base64}`.
//! Read as records, so a dump made on a server box opens like a capture;
//! written the same way, so natscli's own tools read ours.
//!
//! natscli writes no time. A JetStream message's comes from its
//! `$JS.ACK` reply (the server's timestamp, with the stream and sequence);
//! any other's is its file's modification time (natscli writes each file
//! as the message arrives).

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::{BadLines, CaptureError, LoadedRecord, MAX_LINE_BYTES, create_private};
use crate::capture::BrokerKind;
use crate::capture::headers::HeaderBlock;
use crate::capture::record::{Incoming, Record, RecordPacker, Timestamp};

/// One dumped message, as natscli writes it (Go's field names).
#[derive(Deserialize, Serialize)]
struct DumpedMsg {
    #[serde(rename = "Subject")]
    subject: String,
    #[serde(rename = "Reply", default)]
    reply: String,
    #[serde(rename = "Header", default)]
    header: Option<indexmap_free::Headers>,
    #[serde(rename = "Data", default)]
    data: Option<String>,
    /// Always null in a dump (the Go subscription is not written).
    #[serde(rename = "Sub", default)]
    sub: Option<serde_json::Value>,
}

/// Headers as an ordered list of (name, values): serde_json keeps the
/// file's order with `preserve_order`, and a name may have many values.
mod indexmap_free {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Default)]
    pub struct Headers(pub Vec<(String, Vec<String>)>);

    impl<'de> Deserialize<'de> for Headers {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
            let mut pairs = Vec::with_capacity(map.len());
            for (name, values) in map {
                let values: Vec<String> =
                    serde_json::from_value(values).map_err(serde::de::Error::custom)?;
                pairs.push((name, values));
            }
            Ok(Headers(pairs))
        }
    }

    impl Serialize for Headers {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
        }
    }
}

/// Whether `path` is a dump directory (rather than a capture file).
pub fn is_dump_dir(path: &Path) -> bool {
    path.is_dir()
}

/// A dump's message files, in natscli's order: by number, each matched
/// reply after its request. Other files are counted, not read.
fn message_files(dir: &Path) -> Result<(Vec<PathBuf>, usize), CaptureError> {
    let mut numbered = Vec::new();
    let mut other = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(stem) = name.strip_suffix(".json") else {
            other += 1;
            continue;
        };
        let (number, reply) = match stem.strip_suffix("_reply") {
            Some(n) => (n, true),
            None => (stem, false),
        };
        match number.parse::<u64>() {
            Ok(n) => numbered.push(((n, reply), path)),
            Err(_) => other += 1,
        }
    }
    numbered.sort_by_key(|(key, _)| *key);
    Ok((numbered.into_iter().map(|(_, p)| p).collect(), other))
}

/// What reading a dump directory gave.
pub struct DumpRead {
    pub records: Vec<LoadedRecord>,
    pub bad: BadLines,
    /// Files that are not natscli's (`N.json`, `N_reply.json`).
    pub other_files: usize,
}

impl DumpRead {
    /// Skipped files and ignored ones, in words; nothing when all read.
    pub fn describe(&self) -> Option<String> {
        let other = (self.other_files > 0).then(|| {
            format!(
                "{} files not named as natscli names messages were left out",
                self.other_files
            )
        });
        match (self.bad.describe(), other) {
            (None, None) => None,
            (Some(a), None) | (None, Some(a)) => Some(a),
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        }
    }
}

/// Read every message file of a dump directory.
pub fn read_dump_dir(dir: &Path) -> Result<DumpRead, CaptureError> {
    let (files, other_files) = message_files(dir)?;
    let connection = format!(
        "dump:{}",
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let mut packer = RecordPacker::default();
    let mut records = Vec::with_capacity(files.len());
    let mut bad = BadLines::default();
    for path in &files {
        match read_one(path, &mut packer) {
            Ok((record, stored)) => records.push(LoadedRecord {
                connection: connection.clone(),
                broker: BrokerKind::Nats,
                record,
                stored,
            }),
            Err(reason) => bad.note(CaptureError::BadDumpFile {
                file: path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                reason,
            }),
        }
    }
    Ok(DumpRead {
        records,
        bad,
        other_files,
    })
}

/// What is wrong with one message file of a dump.
#[derive(Debug, thiserror::Error)]
pub enum DumpFileError {
    #[error("cannot read it: {0}")]
    Unreadable(#[from] std::io::Error),
    #[error("{0} bytes, more than a message can be")]
    TooLong(u64),
    #[error("not a dumped message: {0}")]
    NotAMessage(#[from] serde_json::Error),
    #[error("Data is not base64: {0}")]
    NotBase64(#[from] base64::DecodeError),
}

fn read_one(
    path: &Path,
    packer: &mut RecordPacker,
) -> Result<(Record, Option<(String, u64)>), DumpFileError> {
    let meta = std::fs::metadata(path)?;
    if meta.len() > MAX_LINE_BYTES as u64 {
        return Err(DumpFileError::TooLong(meta.len()));
    }
    let text = std::fs::read(path)?;
    let msg: DumpedMsg = serde_json::from_slice(&text)?;
    let payload = match &msg.data {
        Some(data) => BASE64.decode(data)?,
        None => Vec::new(),
    };
    let headers = msg.header.as_ref().filter(|h| !h.0.is_empty()).map(|h| {
        let pairs =
            h.0.iter()
                .flat_map(|(name, values)| values.iter().map(move |v| (name.as_str(), v.as_str())));
        HeaderBlock::build(None, pairs).as_bytes().to_vec()
    });
    let acked = jetstream_ack(&msg.reply);
    let received_at = match &acked {
        Some(ack) => ack.time,
        None => meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as Timestamp),
    };
    let reply = (!msg.reply.is_empty()).then_some(msg.reply.as_bytes());
    let record = packer.pack_incoming(
        received_at,
        0,
        &Incoming {
            subject: msg.subject.as_bytes(),
            reply,
            headers: headers.as_deref(),
            fields: "",
            payload: &payload,
        },
    );
    Ok((record, acked.map(|a| (a.stream, a.sequence))))
}

/// What a JetStream delivery's `$JS.ACK` reply says of the message.
struct Ack {
    stream: String,
    sequence: u64,
    time: Timestamp,
}

/// `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<nanos>.<pending>`,
/// or the newer form with a domain and account hash after `ACK` (and a
/// trailing token).
fn jetstream_ack(reply: &str) -> Option<Ack> {
    let tokens: Vec<&str> = reply.strip_prefix("$JS.ACK.")?.split('.').collect();
    let (stream, sseq, nanos) = match tokens.len() {
        7 => (tokens[0], tokens[3], tokens[5]),
        9.. => (tokens[2], tokens[5], tokens[7]),
        _ => return None,
    };
    Some(Ack {
        stream: stream.to_owned(),
        sequence: sseq.parse().ok()?,
        time: nanos.parse().ok()?,
    })
}

/// Write `records` as a dump directory natscli's format: `1.json`,
/// `2.json`, ... in order, each readable by its owner only (as natscli
/// writes them). The directory is made if need be; one that already holds
/// message files is refused (the two sets would mix).
pub fn write_dump_dir<'a>(
    dir: &Path,
    records: impl IntoIterator<Item = &'a Record>,
) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let (existing, _) = message_files(dir).map_err(|e| std::io::Error::other(e.to_string()))?;
    if !existing.is_empty() {
        return Err(std::io::Error::other(format!(
            "{} already holds {} dumped messages: choose an empty directory",
            dir.display(),
            existing.len()
        )));
    }
    let mut written = 0;
    for record in records {
        written += 1;
        let header = record.headers().filter(|h| !h.is_empty()).map(|h| {
            let mut pairs: Vec<(String, Vec<String>)> = Vec::new();
            for (name, value) in h.iter() {
                match pairs.iter_mut().find(|(n, _)| n == name) {
                    Some((_, values)) => values.push(value.to_owned()),
                    None => pairs.push((name.to_owned(), vec![value.to_owned()])),
                }
            }
            indexmap_free::Headers(pairs)
        });
        let msg = DumpedMsg {
            subject: record.subject().to_owned(),
            reply: record.reply().unwrap_or_default().to_owned(),
            header,
            data: (!record.payload().is_empty()).then(|| BASE64.encode(record.payload())),
            sub: None,
        };
        let mut file = create_private(&dir.join(format!("{written}.json")))?;
        serde_json::to_writer(&mut file, &msg)?;
        file.flush()?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ack_forms_give_stream_sequence_and_time() {
        let old = jetstream_ack("$JS.ACK.ORDERS.worker.1.42.7.1733580000000000000.3").expect("v1");
        assert_eq!((old.stream.as_str(), old.sequence), ("ORDERS", 42));
        assert_eq!(old.time, 1_733_580_000_000_000_000);
        let new =
            jetstream_ack("$JS.ACK.hub.ACCHASH.ORDERS.worker.1.43.8.1733580000000000001.2.xyz")
                .expect("v2");
        assert_eq!((new.stream.as_str(), new.sequence), ("ORDERS", 43));
        assert!(jetstream_ack("_INBOX.abc").is_none());
        assert!(jetstream_ack("$JS.ACK.too.few").is_none());
    }
}
