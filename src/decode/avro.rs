//! Avro payloads read with a schema file (`.avsc`), by apache-avro.
//!
//! A broker carries Avro three ways, all read here: the bare datum; the
//! Confluent Schema Registry's framing (a zero byte and a 4-byte schema
//! id before the datum, what Kafka's Avro serializers write); and Avro's
//! single-object encoding (`C3 01` and the schema's 8-byte Rabin
//! fingerprint, checked). The datum must be read whole: bytes left over
//! mean the schema is not the one the publisher used.

use std::path::Path;

use apache_avro::Schema;
use apache_avro::rabin::Rabin;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value as AvroValue;
use apache_avro::writer::datum::GenericDatumWriter;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value};

use super::{DecodeError, Decoded, DecodedBy, SchemaError};

/// The most one decode may allocate for one string, array or map: a
/// length prefix in hostile bytes would otherwise ask for gigabytes
/// (apache-avro's own default is 512 MiB).
const MAX_ALLOCATION: usize = 16 << 20;

/// A recursive schema (a record that holds itself) nests one level per
/// byte, and apache-avro reads nesting by recursion with tens of KiB of
/// stack a level (measured: a 2 MiB thread overflowed before 48 levels).
/// Such payloads are read on a thread of their own with
/// `RECURSIVE_STACK` of stack, and only up to this many bytes; longer
/// ones are refused in words.
pub(super) const RECURSIVE_PAYLOAD_LIMIT: usize = 4096;

/// Reserved, not committed: only the pages a deep payload touches are.
const RECURSIVE_STACK: usize = 1 << 30;

/// Every Avro schema loaded, by the named types it defines.
#[derive(Clone, Debug, Default)]
pub(super) struct AvroTypes {
    /// The named schemas as written, one JSON text each, so that adding a
    /// file re-parses them all together (a file may use another's types).
    texts: Vec<String>,
    parsed: Vec<Schema>,
    /// Every named type (top level or inside), by full name.
    named: Vec<NamedType>,
}

#[derive(Clone, Debug)]
pub(super) struct NamedType {
    pub name: String,
    schema: Schema,
    recursive: bool,
    /// The single-object encoding's fingerprint, little-endian.
    fingerprint: [u8; 8],
}

impl AvroTypes {
    /// Add a schema file: one named schema, or an array of them.
    pub fn load_file(&mut self, path: &Path) -> Result<usize, SchemaError> {
        let text = std::fs::read_to_string(path).map_err(|source| SchemaError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |why: String| SchemaError::Compile {
            path: path.to_path_buf(),
            why,
        };
        let json: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let new_texts: Vec<String> = match json {
            Value::Array(items) => items.iter().map(Value::to_string).collect(),
            one => vec![one.to_string()],
        };
        let mut texts = self.texts.clone();
        texts.extend(new_texts);
        let parsed = Schema::parse_list(&texts).map_err(|e| bad(e.to_string()))?;
        let before = self.named.len();
        let mut named = Vec::new();
        for schema in &parsed {
            collect_named(schema, &mut Vec::new(), &mut named);
        }
        let added = named.len().saturating_sub(before);
        *self = AvroTypes {
            texts,
            parsed,
            named,
        };
        Ok(added)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.named.iter().map(|t| t.name.as_str())
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        let name = name.trim_start_matches('.');
        self.named.iter().position(|t| t.name == name)
    }

    pub fn get(&self, index: usize) -> &NamedType {
        &self.named[index]
    }

    /// Read `payload` as the type at `index`, in whichever framing it
    /// carries.
    pub fn decode(&self, index: usize, payload: &[u8]) -> Result<Decoded, DecodeError> {
        let named = &self.named[index];
        let wrong = |why: DatumError| DecodeError::WrongType {
            type_name: format!("Avro {}", named.name),
            why: why.to_string(),
        };
        if named.recursive && payload.len() > RECURSIVE_PAYLOAD_LIMIT {
            return Err(wrong(DatumError::RecursiveTooLong(payload.len())));
        }
        if let Some(rest) = payload.strip_prefix(&[0xC3, 0x01])
            && rest.len() >= 8
        {
            if rest[..8] != named.fingerprint {
                return Err(wrong(DatumError::OtherFingerprint));
            }
            return self
                .datum(named, &rest[8..])
                .map(|value| decoded(named, "single-object", value))
                .map_err(wrong);
        }
        match self.datum(named, payload) {
            Ok(value) => Ok(decoded(named, "", value)),
            Err(bare) => match payload {
                [0, id @ ..] if id.len() >= 4 => {
                    let schema_id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
                    self.datum(named, &id[4..])
                        .map(|value| {
                            decoded(named, &format!("Confluent schema id {schema_id}"), value)
                        })
                        .map_err(|_| wrong(bare))
                }
                _ => Err(wrong(bare)),
            },
        }
    }

    /// The datum, read whole; a recursive schema's on a deep stack.
    fn datum(&self, named: &NamedType, bytes: &[u8]) -> Result<Value, DatumError> {
        if !named.recursive {
            return self.datum_here(named, bytes);
        }
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("avro-deep".into())
                .stack_size(RECURSIVE_STACK)
                .spawn_scoped(scope, || self.datum_here(named, bytes))
                .map_err(DatumError::NoThread)?
                .join()
                .unwrap_or(Err(DatumError::ReaderFailed))
        })
    }

    fn datum_here(&self, named: &NamedType, bytes: &[u8]) -> Result<Value, DatumError> {
        apache_avro::util::max_allocation_bytes(MAX_ALLOCATION);
        let mut rest = bytes;
        let value = GenericDatumReader::builder(&named.schema)
            .writer_schemata(self.parsed.iter().collect())
            .and_then(|b| b.build())
            .and_then(|reader| reader.read_value(&mut rest))
            .map_err(|e| DatumError::Avro(e.to_string()))?;
        if !rest.is_empty() {
            return Err(DatumError::LeftOver(rest.len()));
        }
        to_json(value, 0)
    }

    /// JSON written as the type at `index`: publishing with the bound
    /// schema (the bare datum, as a consumer with the schema file reads
    /// it).
    pub fn encode(&self, index: usize, json: &str) -> Result<Vec<u8>, DecodeError> {
        let named = &self.named[index];
        let wrong = |why: String| DecodeError::WrongType {
            type_name: format!("Avro {}", named.name),
            why,
        };
        let json: Value = serde_json::from_str(json).map_err(|e| wrong(e.to_string()))?;
        let value = AvroValue::try_from(json).map_err(|e| wrong(e.to_string()))?;
        let value = value
            .resolve_schemata(&named.schema, self.parsed.iter().collect())
            .map_err(|e| wrong(e.to_string()))?;
        GenericDatumWriter::builder(&named.schema)
            .schemata(self.parsed.iter().collect())
            .and_then(|b| b.build())
            .and_then(|writer| writer.write_value_to_vec(value))
            .map_err(|e| wrong(e.to_string()))
    }
}

/// Why a datum was not read as a schema's.
#[derive(Debug, thiserror::Error)]
enum DatumError {
    /// apache-avro's own words (its error type is not `Clone`, and only
    /// its message reaches the view).
    #[error("{0}")]
    Avro(String),
    #[error("{0} bytes left after the datum (another schema wrote it)")]
    LeftOver(usize),
    #[error("nested deeper than {} levels", super::binary::MAX_DEPTH)]
    TooDeep,
    #[error(
        "the schema holds itself, and such payloads are read only up to {RECURSIVE_PAYLOAD_LIMIT} bytes (this one has {0})"
    )]
    RecursiveTooLong(usize),
    #[error("its single-object header names another schema's fingerprint")]
    OtherFingerprint,
    #[error("no thread to read a recursive schema on: {0}")]
    NoThread(std::io::Error),
    #[error("the Avro reader failed on this payload")]
    ReaderFailed,
}

fn decoded(named: &NamedType, framing: &str, value: Value) -> Decoded {
    Decoded {
        by: DecodedBy::Avro {
            name: named.name.clone(),
            framing: framing.to_owned(),
        },
        value,
    }
}

/// Every named type under `schema`; `open` is the chain of named types
/// being defined, so a reference back to one of them marks recursion.
fn collect_named(schema: &Schema, open: &mut Vec<String>, out: &mut Vec<NamedType>) -> bool {
    let push = |out: &mut Vec<NamedType>, name: String, recursive: bool| {
        if !out.iter().any(|t| t.name == name) {
            let fingerprint = schema.fingerprint::<Rabin>().bytes;
            let mut le = [0u8; 8];
            le.copy_from_slice(&fingerprint[..8]);
            out.push(NamedType {
                name,
                schema: schema.clone(),
                recursive,
                fingerprint: le,
            });
        }
    };
    match schema {
        Schema::Record(record) => {
            let name = record.name.to_string();
            open.push(name.clone());
            let mut recursive = false;
            for field in &record.fields {
                recursive |= collect_named(&field.schema, open, out);
            }
            open.pop();
            push(out, name, recursive);
            recursive
        }
        Schema::Enum(e) => {
            push(out, e.name.to_string(), false);
            false
        }
        Schema::Fixed(f) => {
            push(out, f.name.to_string(), false);
            false
        }
        Schema::Array(array) => collect_named(&array.items, open, out),
        Schema::Map(map) => collect_named(&map.types, open, out),
        Schema::Union(union) => union
            .variants()
            .iter()
            .fold(false, |acc, v| collect_named(v, open, out) | acc),
        Schema::Ref { name } => {
            let name = name.to_string();
            open.contains(&name) || out.iter().any(|t| t.name == name && t.recursive)
        }
        _ => false,
    }
}

/// Avro's values as JSON, the way the other decoders write theirs: bytes
/// and fixed as base64 under `"$bytes"`, enums and UUIDs as their text,
/// logical types as the number they carry; unions as the chosen branch.
/// Nesting past the other decoders' bound is refused as theirs is.
fn to_json(value: AvroValue, depth: usize) -> Result<Value, DatumError> {
    use AvroValue as A;
    if depth > super::binary::MAX_DEPTH {
        return Err(DatumError::TooDeep);
    }
    let inner = |v| to_json(v, depth + 1);
    let bytes = |b: &[u8]| serde_json::json!({ "$bytes": BASE64.encode(b) });
    Ok(match value {
        A::Null => Value::Null,
        A::Boolean(b) => Value::Bool(b),
        A::Int(i) | A::Date(i) | A::TimeMillis(i) => Value::from(i),
        A::Long(i)
        | A::TimeMicros(i)
        | A::TimestampMillis(i)
        | A::TimestampMicros(i)
        | A::TimestampNanos(i)
        | A::LocalTimestampMillis(i)
        | A::LocalTimestampMicros(i)
        | A::LocalTimestampNanos(i) => Value::from(i),
        A::Float(f) => float(f64::from(f)),
        A::Double(f) => float(f),
        A::Bytes(b) | A::Fixed(_, b) => bytes(&b),
        A::String(s) | A::Enum(_, s) => Value::String(s),
        A::Uuid(u) => Value::String(u.hyphenated().to_string()),
        A::Union(_, branch) => to_json(*branch, depth)?,
        A::Array(items) => Value::Array(items.into_iter().map(inner).collect::<Result<_, _>>()?),
        A::Map(entries) => {
            let mut sorted: Vec<_> = entries.into_iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| inner(v).map(|v| (k, v)))
                    .collect::<Result<Map<_, _>, _>>()?,
            )
        }
        A::Record(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| inner(v).map(|v| (k, v)))
                .collect::<Result<Map<_, _>, _>>()?,
        ),
        A::Decimal(d) => <Vec<u8>>::try_from(&d)
            .map(|b| bytes(&b))
            .unwrap_or(Value::Null),
        A::BigDecimal(d) => Value::String(d.to_string()),
        A::Duration(d) => bytes(&<[u8; 12]>::from(d)),
    })
}

/// NaN and the infinities as text: JSON has no number for them.
fn float(f: f64) -> Value {
    Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(f.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const READING: &str = r#"{
      "type": "record", "name": "Reading", "namespace": "plant",
      "fields": [
        {"name": "sensor", "type": "string"},
        {"name": "celsius", "type": "double"},
        {"name": "unit", "type": {"type": "enum", "name": "Unit", "symbols": ["C", "F"]}},
        {"name": "note", "type": ["null", "string"], "default": null}
      ]
    }"#;

    fn loaded(text: &str) -> (tempfile::TempDir, AvroTypes) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("schema.avsc");
        std::fs::write(&path, text).expect("write");
        let mut types = AvroTypes::default();
        types.load_file(&path).expect("loads");
        (dir, types)
    }

    #[test]
    fn every_framing_reads_and_a_wrong_schema_says_why() {
        let (_dir, types) = loaded(READING);
        let reading = types.index_of("plant.Reading").expect("named");
        assert!(types.index_of("plant.Unit").is_some(), "inner types named");
        let bytes = types
            .encode(
                reading,
                r#"{"sensor":"t-1","celsius":21.5,"unit":"C","note":"ok"}"#,
            )
            .expect("encodes");
        let bare = types.decode(reading, &bytes).expect("bare");
        assert_eq!(bare.value["sensor"], "t-1");
        assert_eq!(bare.value["note"], "ok");
        assert_eq!(bare.by.to_string(), "Avro plant.Reading");
        let mut confluent = vec![0, 0, 0, 0, 7];
        confluent.extend(&bytes);
        let read = types.decode(reading, &confluent).expect("confluent");
        assert_eq!(
            read.by.to_string(),
            "Avro plant.Reading (Confluent schema id 7)"
        );
        let mut single = vec![0xC3, 0x01];
        single.extend(types.get(reading).fingerprint);
        single.extend(&bytes);
        assert_eq!(
            types.decode(reading, &single).expect("single").value,
            bare.value
        );
        single[3] ^= 1;
        let said = types
            .decode(reading, &single)
            .expect_err("other fingerprint");
        assert!(said.to_string().contains("fingerprint"), "{said}");
        let said = types.decode(reading, b"hello, world").expect_err("text");
        assert!(
            said.to_string().starts_with("not a Avro plant.Reading"),
            "{said}"
        );
    }

    #[test]
    fn a_recursive_schema_is_read_only_within_the_stack_safe_bound() {
        let (_dir, types) = loaded(
            r#"{"type":"record","name":"Node","fields":[
                {"name":"next","type":["null","Node"]}]}"#,
        );
        let node = types.index_of("Node").expect("named");
        assert!(types.get(node).recursive);
        // Each 0x02 picks the "Node" branch: one level per byte, then null.
        let mut deep = vec![0x02; RECURSIVE_PAYLOAD_LIMIT - 1];
        deep.push(0x00);
        // From a test thread's 2 MiB stack: read on the deep one, then
        // refused as nested past what the views draw, not crashed.
        let said = types.decode(node, &deep).expect_err("too deep to show");
        assert!(said.to_string().contains("nested deeper"), "{said}");
        let mut shallow = vec![0x02; 100];
        shallow.push(0x00);
        types.decode(node, &shallow).expect("a hundred levels");
        let mut deeper = vec![0x02; RECURSIVE_PAYLOAD_LIMIT * 100];
        deeper.push(0x00);
        let said = types.decode(node, &deeper).expect_err("refused");
        assert!(said.to_string().contains("holds itself"), "{said}");
        let (_dir, flat) = loaded(READING);
        assert!(!flat.get(flat.index_of("plant.Reading").unwrap()).recursive);
    }

    #[test]
    fn a_huge_length_is_refused_not_allocated() {
        let (_dir, types) =
            loaded(r#"{"type":"record","name":"B","fields":[{"name":"b","type":"bytes"}]}"#);
        // A length of 2^62 (zigzag varint), then nothing.
        let hostile = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(types.decode(0, &hostile).is_err());
    }
}
