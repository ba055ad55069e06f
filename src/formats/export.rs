//! Rows of records as NDJSON, CSV or a JSON array. Every format carries
//! the same fields; CSV keeps the columns chosen. A payload is kept as
//! text when it is UTF-8, else as base64 (`payload_b64`), and beside it
//! `payload_json`: the payload as data when a decoder read it (JSON,
//! the type bound to its subject, MessagePack, CBOR), with `decoded_by`
//! naming the decoder.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::capture::{BrokerKind, Record};
use crate::decode::{Format, Schemas};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Ndjson,
    Csv,
    Json,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 3] =
        [ExportFormat::Ndjson, ExportFormat::Csv, ExportFormat::Json];

    pub fn label(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "NDJSON (one JSON object per line)",
            ExportFormat::Csv => "CSV",
            ExportFormat::Json => "JSON (one array)",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }
}

/// A field of an exported row (a CSV column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    ReceivedAt,
    Connection,
    Broker,
    Subject,
    Reply,
    Headers,
    Size,
    Payload,
    PayloadJson,
    DecodedBy,
    Fields,
}

impl Column {
    pub const ALL: [Column; 11] = [
        Column::ReceivedAt,
        Column::Connection,
        Column::Broker,
        Column::Subject,
        Column::Reply,
        Column::Headers,
        Column::Size,
        Column::Payload,
        Column::PayloadJson,
        Column::DecodedBy,
        Column::Fields,
    ];

    /// Its name in every format (the JSON key, the CSV header).
    pub fn name(self) -> &'static str {
        match self {
            Column::ReceivedAt => "received_at",
            Column::Connection => "connection",
            Column::Broker => "broker",
            Column::Subject => "subject",
            Column::Reply => "reply",
            Column::Headers => "headers",
            Column::Size => "size",
            Column::Payload => "payload",
            Column::PayloadJson => "payload_json",
            Column::DecodedBy => "decoded_by",
            Column::Fields => "fields",
        }
    }

    pub fn parse(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// One record to write, with its connection's name and broker.
pub struct ExportItem<'a> {
    pub record: &'a Record,
    pub connection: &'a str,
    pub broker: BrokerKind,
}

/// Writes rows as they come: nothing is held but the current one.
pub struct ExportWriter<W: Write> {
    format: ExportFormat,
    columns: Vec<Column>,
    csv: Option<csv::Writer<W>>,
    out: Option<W>,
    written: u64,
}

impl<W: Write> ExportWriter<W> {
    /// `columns` is for CSV (every column when empty); NDJSON and JSON
    /// always carry every field.
    pub fn new(out: W, format: ExportFormat, columns: &[Column]) -> std::io::Result<Self> {
        let columns = if columns.is_empty() {
            Column::ALL.to_vec()
        } else {
            columns.to_vec()
        };
        let mut writer = ExportWriter {
            format,
            columns,
            csv: None,
            out: None,
            written: 0,
        };
        match format {
            ExportFormat::Csv => {
                let mut csv = csv::Writer::from_writer(out);
                csv.write_record(writer.columns.iter().map(|c| c.name()))?;
                writer.csv = Some(csv);
            }
            ExportFormat::Json => {
                let mut out = out;
                out.write_all(b"[")?;
                writer.out = Some(out);
            }
            ExportFormat::Ndjson => writer.out = Some(out),
        }
        Ok(writer)
    }

    pub fn write(&mut self, item: &ExportItem<'_>, schemas: &Schemas) -> std::io::Result<()> {
        let row = row(item, schemas);
        match (&mut self.csv, &mut self.out) {
            (Some(csv), _) => {
                csv.write_record(self.columns.iter().map(|c| cell(&row, *c)))?;
            }
            (None, Some(out)) => {
                if self.format == ExportFormat::Json && self.written > 0 {
                    out.write_all(b",")?;
                }
                if self.format == ExportFormat::Json {
                    out.write_all(b"\n")?;
                }
                serde_json::to_writer(&mut *out, &Value::Object(row))?;
                if self.format == ExportFormat::Ndjson {
                    out.write_all(b"\n")?;
                }
            }
            (None, None) => {}
        }
        self.written += 1;
        Ok(())
    }

    /// Close the array (JSON) and flush: the rows written, and the
    /// output.
    pub fn finish(self) -> std::io::Result<(u64, W)> {
        let out = match (self.csv, self.out) {
            (Some(csv), _) => csv
                .into_inner()
                .map_err(|e| std::io::Error::other(e.to_string()))?,
            (None, Some(mut out)) => {
                if self.format == ExportFormat::Json {
                    out.write_all(b"\n]\n")?;
                }
                out.flush()?;
                out
            }
            (None, None) => unreachable!("a writer has an output"),
        };
        Ok((self.written, out))
    }
}

/// A record as a JSON object with every field.
fn row(item: &ExportItem<'_>, schemas: &Schemas) -> Map<String, Value> {
    let record = item.record;
    let mut row = Map::new();
    row.insert(
        "received_at".into(),
        json!(crate::capture::file::format_timestamp(record.received_at)),
    );
    row.insert("connection".into(), json!(item.connection));
    row.insert("broker".into(), json!(item.broker.name()));
    row.insert("subject".into(), json!(record.subject()));
    row.insert("reply".into(), json!(record.reply()));
    let headers = record.headers().map(|h| {
        let mut map = Map::new();
        for (name, value) in h.iter() {
            match map
                .entry(name.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(values) => values.push(json!(value)),
                _ => unreachable!("only arrays are inserted"),
            }
        }
        Value::Object(map)
    });
    row.insert("headers".into(), headers.unwrap_or(Value::Null));
    row.insert("size".into(), json!(record.payload().len()));
    match std::str::from_utf8(record.payload()) {
        Ok(text) => {
            row.insert("payload".into(), json!(text));
        }
        Err(_) => {
            row.insert("payload".into(), Value::Null);
            row.insert("payload_b64".into(), json!(BASE64.encode(record.payload())));
        }
    }
    match crate::decode::decode(schemas, record.subject(), record.payload(), Format::Auto) {
        Ok(decoded) => {
            row.insert("payload_json".into(), decoded.value);
            row.insert("decoded_by".into(), json!(decoded.by.to_string()));
        }
        Err(_) => {
            row.insert("payload_json".into(), Value::Null);
            row.insert("decoded_by".into(), Value::Null);
        }
    }
    let fields = record
        .fields()
        .and_then(|f| serde_json::from_str::<Value>(f).ok());
    row.insert("fields".into(), fields.unwrap_or(Value::Null));
    row
}

/// A row's field as a CSV cell: text as it is, structures as their JSON,
/// nothing for null; a binary payload as `base64:...`.
fn cell(row: &Map<String, Value>, column: Column) -> String {
    if column == Column::Payload
        && let Some(Value::String(b64)) = row.get("payload_b64")
    {
        return format!("base64:{b64}");
    }
    match row.get(column.name()) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<Record> {
        let headers = crate::capture::HeaderBlock::build(None, [("a", "1"), ("a", "2")]);
        vec![
            Record::new(
                5,
                0,
                "orders.created",
                Some("_INBOX.1"),
                Some(&headers),
                br#"{"id":"ord-1","n":2}"#,
            ),
            Record::new(6, 0, "bin.x", None, None, &[0xff, 0x00, b',', b'"']),
        ]
    }

    #[test]
    fn every_format_reads_back_with_decoded_payloads() {
        let schemas = Schemas::default();
        let records = records();
        let write = |format, columns: &[Column]| {
            let mut writer = ExportWriter::new(Vec::new(), format, columns).expect("new");
            for record in &records {
                let item = ExportItem {
                    record,
                    connection: "local",
                    broker: BrokerKind::Nats,
                };
                writer.write(&item, &schemas).expect("write");
            }
            writer.finish().expect("finish").1
        };
        let ndjson = String::from_utf8(write(ExportFormat::Ndjson, &[])).expect("utf8");
        let rows: Vec<Value> = ndjson
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(rows[0]["payload_json"]["id"], "ord-1");
        assert_eq!(rows[0]["decoded_by"], "JSON");
        assert_eq!(rows[0]["headers"]["a"], json!(["1", "2"]));
        assert_eq!(
            rows[1]["payload_b64"],
            BASE64.encode([0xff, 0x00, b',', b'"'])
        );
        assert_eq!(rows[1]["payload_json"], Value::Null);
        let array: Vec<Value> =
            serde_json::from_slice(&write(ExportFormat::Json, &[])).expect("one array");
        assert_eq!(array, rows);
        let csv_bytes = write(
            ExportFormat::Csv,
            &[Column::Subject, Column::Payload, Column::PayloadJson],
        );
        let mut reader = csv::Reader::from_reader(csv_bytes.as_slice());
        assert_eq!(
            reader
                .headers()
                .expect("headers")
                .iter()
                .collect::<Vec<_>>(),
            ["subject", "payload", "payload_json"]
        );
        let cells: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(&cells[0][1], r#"{"id":"ord-1","n":2}"#);
        assert_eq!(&cells[0][2], r#"{"id":"ord-1","n":2}"#);
        assert!(cells[1][1].starts_with("base64:"));
    }
}
