//! The schemas payloads are read with (Protobuf types and Avro schemas)
//! and which type each subject pattern carries.

use std::path::PathBuf;

use prost_reflect::{DescriptorPool, MessageDescriptor};
use thiserror::Error;

use super::avro::AvroTypes;
use super::{DecodeError, Decoded, protobuf};
use crate::capture::SubjectPattern;

/// Why schemas could not be loaded or bound.
#[derive(Debug, Error)]
pub enum SchemaError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {why}", .path.display())]
    Compile { path: PathBuf, why: String },
    #[error("{} is not a descriptor set: {why}", .path.display())]
    BadDescriptorSet { path: PathBuf, why: String },
    #[error("no Protobuf message type or Avro schema '{0}' is loaded")]
    UnknownType(String),
    #[error("'{pattern}' is not a subject pattern: {why}")]
    BadPattern { pattern: String, why: String },
}

/// Where the types come from and which subject carries which: what is
/// saved between runs and given on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SchemaSettings {
    /// Directories of `.proto` files.
    pub proto_dirs: Vec<PathBuf>,
    /// Descriptor set files.
    pub descriptor_sets: Vec<PathBuf>,
    /// Avro schema files (`.avsc`).
    pub avro_schemas: Vec<PathBuf>,
    /// (subject pattern, type name), first match first.
    pub bindings: Vec<(String, String)>,
}

impl SchemaSettings {
    pub fn is_empty(&self) -> bool {
        self.proto_dirs.is_empty()
            && self.descriptor_sets.is_empty()
            && self.avro_schemas.is_empty()
            && self.bindings.is_empty()
    }

    /// Every source loaded and every binding made, or the first that
    /// could not be, in words.
    pub fn load(&self) -> Result<Schemas, SchemaError> {
        let mut schemas = Schemas::default();
        for dir in &self.proto_dirs {
            schemas.load_proto_dir(dir)?;
        }
        for set in &self.descriptor_sets {
            schemas.load_descriptor_set(set)?;
        }
        for file in &self.avro_schemas {
            schemas.load_avro(file)?;
        }
        for (pattern, type_name) in &self.bindings {
            schemas.bind(pattern, type_name)?;
        }
        Ok(schemas)
    }
}

/// Which kind of schema a type is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaKind {
    Protobuf,
    Avro,
}

impl SchemaKind {
    pub fn label(self) -> &'static str {
        match self {
            SchemaKind::Protobuf => "Protobuf",
            SchemaKind::Avro => "Avro",
        }
    }
}

#[derive(Clone, Debug)]
enum BoundType {
    Protobuf(MessageDescriptor),
    /// An index into the Avro named types.
    Avro(usize),
}

/// The loaded types and their bindings to subjects.
#[derive(Clone, Debug, Default)]
pub struct Schemas {
    pool: DescriptorPool,
    avro: AvroTypes,
    /// First match wins.
    bindings: Vec<(SubjectPattern, BoundType)>,
}

impl Schemas {
    /// Compile every `.proto` file under `dir`.
    pub fn load_proto_dir(&mut self, dir: &std::path::Path) -> Result<usize, SchemaError> {
        protobuf::load_proto_dir(&mut self.pool, dir)
    }

    /// Add a descriptor set file's types.
    pub fn load_descriptor_set(&mut self, path: &std::path::Path) -> Result<usize, SchemaError> {
        protobuf::load_descriptor_set(&mut self.pool, path)
    }

    /// Add an Avro schema file (one named schema or an array of them).
    pub fn load_avro(&mut self, path: &std::path::Path) -> Result<usize, SchemaError> {
        self.avro.load_file(path)
    }

    /// Every type of `kind` loaded, by full name.
    pub fn types(&self, kind: SchemaKind) -> Vec<String> {
        match kind {
            SchemaKind::Protobuf => self
                .pool
                .all_messages()
                .map(|m| m.full_name().to_owned())
                .collect(),
            SchemaKind::Avro => self.avro.names().map(str::to_owned).collect(),
        }
    }

    /// Read payloads on subjects matching `pattern` as `type_name` (a
    /// Protobuf message type, or else an Avro named type).
    pub fn bind(&mut self, pattern: &str, type_name: &str) -> Result<(), SchemaError> {
        let bound = self
            .protobuf_type(type_name)
            .map(BoundType::Protobuf)
            .or_else(|| self.avro.index_of(type_name).map(BoundType::Avro))
            .ok_or_else(|| SchemaError::UnknownType(type_name.to_owned()))?;
        let pattern = SubjectPattern::parse(pattern).map_err(|e| SchemaError::BadPattern {
            pattern: pattern.to_owned(),
            why: e.to_string(),
        })?;
        self.bindings.push((pattern, bound));
        Ok(())
    }

    fn protobuf_type(&self, type_name: &str) -> Option<MessageDescriptor> {
        self.pool
            .get_message_by_name(type_name.trim_start_matches('.'))
    }

    fn bound(&self, subject: &str) -> Option<&BoundType> {
        self.bindings
            .iter()
            .find(|(pattern, _)| pattern.matches(subject))
            .map(|(_, bound)| bound)
    }

    /// The type bound to `subject`, if any: its kind and full name.
    pub fn bound_type(&self, subject: &str) -> Option<(SchemaKind, &str)> {
        self.bound(subject).map(|bound| match bound {
            BoundType::Protobuf(message) => (SchemaKind::Protobuf, message.full_name()),
            BoundType::Avro(index) => (SchemaKind::Avro, self.avro.get(*index).name.as_str()),
        })
    }

    /// Read as the type bound to `subject`; with `kind`, only a type of
    /// that kind will do.
    pub(super) fn decode_bound(
        &self,
        subject: &str,
        payload: &[u8],
        kind: Option<SchemaKind>,
    ) -> Result<Decoded, DecodeError> {
        let no_type = || DecodeError::NoType {
            kind,
            subject: subject.to_owned(),
        };
        match (self.bound(subject).ok_or_else(no_type)?, kind) {
            (BoundType::Protobuf(message), None | Some(SchemaKind::Protobuf)) => {
                protobuf::decode(message, payload)
            }
            (BoundType::Avro(index), None | Some(SchemaKind::Avro)) => {
                self.avro.decode(*index, payload)
            }
            _ => Err(no_type()),
        }
    }

    /// Decode as the named type, whatever the subject.
    pub fn decode_as(&self, type_name: &str, payload: &[u8]) -> Result<Decoded, DecodeError> {
        if let Some(message) = self.protobuf_type(type_name) {
            return protobuf::decode(&message, payload);
        }
        match self.avro.index_of(type_name) {
            Some(index) => self.avro.decode(index, payload),
            None => Err(DecodeError::WrongType {
                type_name: type_name.to_owned(),
                why: "no such type is loaded".into(),
            }),
        }
    }

    /// Encode a JSON value as `subject`'s type (Protobuf's JSON mapping,
    /// or Avro's): publishing with the bound type.
    pub fn encode_bound(&self, subject: &str, json: &str) -> Result<Vec<u8>, DecodeError> {
        match self.bound(subject) {
            Some(BoundType::Protobuf(message)) => protobuf::encode(message, json),
            Some(BoundType::Avro(index)) => self.avro.encode(*index, json),
            None => Err(DecodeError::NoType {
                kind: None,
                subject: subject.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::DecodedBy;

    const SHOP: &str = r#"
syntax = "proto3";
package shop;
message Order {
  string id = 1;
  int64 cents = 2;
  repeated Line lines = 3;
}
message Line { string sku = 1; uint32 count = 2; }
"#;

    fn shop() -> (tempfile::TempDir, Schemas) {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("shop.proto"), SHOP).expect("write");
        let mut schemas = Schemas::default();
        assert_eq!(schemas.load_proto_dir(dir.path()).expect("compiles"), 1);
        schemas.bind("orders.>", "shop.Order").expect("bind");
        (dir, schemas)
    }

    #[test]
    fn a_bound_type_decodes_and_encodes_and_a_wrong_one_says_why() {
        let (_dir, schemas) = shop();
        let bytes = schemas
            .encode_bound(
                "orders.created",
                r#"{"id":"ord-42","cents":"1250","lines":[{"sku":"tea","count":2}]}"#,
            )
            .expect("encodes");
        let decoded = schemas
            .decode_bound("orders.created", &bytes, None)
            .expect("decodes");
        assert_eq!(decoded.by, DecodedBy::Protobuf("shop.Order".into()));
        assert_eq!(decoded.value["id"], "ord-42");
        assert_eq!(decoded.value["lines"][0]["sku"], "tea");
        // The same bytes read as a Line: fields 3 is not one of its.
        let said = schemas.decode_as("shop.Line", &bytes).expect_err("wrong");
        assert!(
            said.to_string().contains("not a shop.Line") && said.to_string().contains('3'),
            "{said}"
        );
        assert!(matches!(
            schemas.decode_bound("payments.x", &bytes, None),
            Err(DecodeError::NoType { .. })
        ));
        let mut other = Schemas::default();
        assert!(matches!(
            other.bind("x", "shop.Order"),
            Err(SchemaError::UnknownType(_))
        ));
    }

    #[test]
    fn a_descriptor_set_loads_the_same_types() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("shop.proto"), SHOP).expect("write");
        let set = protox::compile(["shop.proto"], [dir.path()]).expect("compiles");
        let path = dir.path().join("shop.binpb");
        std::fs::write(&path, prost_reflect::prost::Message::encode_to_vec(&set)).expect("write");
        let mut schemas = Schemas::default();
        assert!(schemas.load_descriptor_set(&path).expect("loads") >= 1);
        assert!(
            schemas
                .types(SchemaKind::Protobuf)
                .iter()
                .any(|t| t == "shop.Order")
        );
        std::fs::write(&path, b"not a descriptor set").expect("write");
        assert!(Schemas::default().load_descriptor_set(&path).is_err());
    }
}
