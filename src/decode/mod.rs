//! Payloads read as data: JSON, Protobuf (types from `.proto` files
//! compiled in-process, or from descriptor sets), Avro (schema files),
//! MessagePack and CBOR. A payload is decoded as the user chose, or in
//! "auto" mode: JSON, then the type bound to its subject, then
//! MessagePack, then CBOR, saying which one it used. A decoder that does
//! not fit says why; a type that does not fit is never shown as data
//! (bytes read with the wrong Protobuf type would decode into nonsense:
//! fields the type does not have make it refuse; an Avro datum must be
//! read whole).
//!
//! Plain Rust over bytes: the window, the command line and the benches
//! share it.

mod avro;
mod binary;
mod protobuf;
mod schemas;

use std::fmt;

use serde_json::Value;
use thiserror::Error;

pub use schemas::{SchemaError, SchemaKind, SchemaSettings, Schemas};

/// How a payload should be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// JSON, the bound Protobuf or Avro type, MessagePack, CBOR: the first that
    /// fits whole.
    #[default]
    Auto,
    Json,
    /// The Protobuf type bound to the subject (or the one named).
    Protobuf,
    /// The Avro schema bound to the subject (or the one named).
    Avro,
    MessagePack,
    Cbor,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Auto,
        Format::Json,
        Format::Protobuf,
        Format::Avro,
        Format::MessagePack,
        Format::Cbor,
    ];

    /// The kind of schema this format reads with, if it needs one.
    pub fn schema_kind(self) -> Option<SchemaKind> {
        match self {
            Format::Protobuf => Some(SchemaKind::Protobuf),
            Format::Avro => Some(SchemaKind::Avro),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Json => "JSON",
            Format::Protobuf => "Protobuf",
            Format::Avro => "Avro",
            Format::MessagePack => "MessagePack",
            Format::Cbor => "CBOR",
        }
    }
}

/// The decoder that read a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodedBy {
    Json,
    /// The Protobuf message type, by its full name.
    Protobuf(String),
    /// The Avro schema, by its full name, and the framing the datum came
    /// in (empty for a bare datum).
    Avro {
        name: String,
        framing: String,
    },
    MessagePack,
    Cbor,
}

impl fmt::Display for DecodedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodedBy::Json => f.write_str("JSON"),
            DecodedBy::Protobuf(name) => write!(f, "Protobuf {name}"),
            DecodedBy::Avro { name, framing } if framing.is_empty() => write!(f, "Avro {name}"),
            DecodedBy::Avro { name, framing } => write!(f, "Avro {name} ({framing})"),
            DecodedBy::MessagePack => f.write_str("MessagePack"),
            DecodedBy::Cbor => f.write_str("CBOR"),
        }
    }
}

/// A payload as data, and what read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub by: DecodedBy,
    pub value: Value,
}

/// Why a payload could not be read as asked.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("no {}type is bound to '{subject}' (bind one, or choose the type)", kind.map_or(String::new(), |k| format!("{} ", k.label())))]
    NoType {
        kind: Option<SchemaKind>,
        subject: String,
    },
    #[error("not a {type_name}: {why}")]
    WrongType { type_name: String, why: String },
    #[error("not MessagePack: {0}")]
    NotMessagePack(String),
    #[error("not CBOR: {0}")]
    NotCbor(String),
    #[error("Not JSON, nor anything else eventscope reads: {0}")]
    NothingFits(String),
}

/// How the user asked one payload to be read: a format, and for Protobuf
/// or Avro a type of their choosing instead of the one bound to the
/// subject.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    pub format: Format,
    pub type_name: Option<String>,
}

impl Reading {
    pub fn read(
        &self,
        schemas: &Schemas,
        subject: &str,
        payload: &[u8],
    ) -> Result<Decoded, DecodeError> {
        match (&self.format, &self.type_name) {
            (Format::Protobuf | Format::Avro, Some(type_name)) => {
                schemas.decode_as(type_name, payload)
            }
            (format, _) => decode(schemas, subject, payload, *format),
        }
    }
}

/// Decode `payload`, published on `subject`, as `format` says.
pub fn decode(
    schemas: &Schemas,
    subject: &str,
    payload: &[u8],
    format: Format,
) -> Result<Decoded, DecodeError> {
    match format {
        Format::Json => json(payload),
        Format::Protobuf | Format::Avro => {
            schemas.decode_bound(subject, payload, format.schema_kind())
        }
        Format::MessagePack => binary::message_pack(payload),
        Format::Cbor => binary::cbor(payload),
        Format::Auto => auto(schemas, subject, payload),
    }
}

/// A payload that only a decoder other than JSON reads (a bound type,
/// MessagePack, CBOR), as pretty JSON under the name of what read it:
/// how a KV value is shown and diffed, in the window and headless.
pub fn read_as_text(schemas: &Schemas, subject: &str, payload: &[u8]) -> Option<String> {
    match decode(schemas, subject, payload, Format::Auto) {
        Ok(d) if d.by != DecodedBy::Json => Some(format!(
            "read as {}:\n{}",
            d.by,
            serde_json::to_string_pretty(&d.value).unwrap_or_default()
        )),
        _ => None,
    }
}

fn json(payload: &[u8]) -> Result<Decoded, DecodeError> {
    serde_json::from_slice(payload)
        .map(|value| Decoded {
            by: DecodedBy::Json,
            value,
        })
        .map_err(|e| DecodeError::NotJson(e.to_string()))
}

/// The first decoder that reads the whole payload. MessagePack and CBOR
/// are tried only for a map or an array at the top: any byte is some
/// MessagePack or CBOR scalar, which would read every text as a number.
fn auto(schemas: &Schemas, subject: &str, payload: &[u8]) -> Result<Decoded, DecodeError> {
    let mut tried = Vec::new();
    match json(payload) {
        Ok(decoded) => return Ok(decoded),
        Err(e) => tried.push(e),
    }
    if schemas.bound_type(subject).is_some() {
        match schemas.decode_bound(subject, payload, None) {
            Ok(decoded) => return Ok(decoded),
            Err(e) => tried.push(e),
        }
    }
    for (structured, decoder) in [
        (
            binary::is_message_pack_container as fn(&[u8]) -> bool,
            binary::message_pack as fn(&[u8]) -> Result<Decoded, DecodeError>,
        ),
        (binary::is_cbor_container, binary::cbor),
    ] {
        if structured(payload) {
            match decoder(payload) {
                Ok(decoded) => return Ok(decoded),
                Err(e) => tried.push(e),
            }
        }
    }
    let said: Vec<String> = tried.iter().map(ToString::to_string).collect();
    Err(DecodeError::NothingFits(said.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_says_which_decoder_it_used_and_text_is_never_a_number() {
        let schemas = Schemas::default();
        let json = decode(&schemas, "a", br#"{"id":1}"#, Format::Auto).expect("json");
        assert_eq!(json.by, DecodedBy::Json);
        // {"id": 1, "ok": true} in MessagePack.
        let packed = [0x82, 0xa2, b'i', b'd', 0x01, 0xa2, b'o', b'k', 0xc3];
        let decoded = decode(&schemas, "a", &packed, Format::Auto).expect("msgpack");
        assert_eq!(decoded.by, DecodedBy::MessagePack);
        assert_eq!(decoded.value, serde_json::json!({"id": 1, "ok": true}));
        // {"id": 1} in CBOR (a map of one: 0xa1, which MessagePack reads
        // as a string of one byte, not the whole).
        let cbor = [0xa1, 0x62, b'i', b'd', 0x01];
        let decoded = decode(&schemas, "a", &cbor, Format::Auto).expect("cbor");
        assert_eq!(decoded.by, DecodedBy::Cbor);
        assert_eq!(decoded.value, serde_json::json!({"id": 1}));
        let said = decode(&schemas, "a", b"hello", Format::Auto).expect_err("text");
        assert!(matches!(said, DecodeError::NothingFits(_)), "{said}");
        let said = decode(&schemas, "a", &packed, Format::Cbor).expect_err("not cbor");
        assert!(said.to_string().starts_with("not CBOR"), "{said}");
        let said = decode(&schemas, "orders", &packed, Format::Protobuf).expect_err("no type");
        assert_eq!(
            said,
            DecodeError::NoType {
                kind: Some(SchemaKind::Protobuf),
                subject: "orders".into()
            }
        );
    }
}
