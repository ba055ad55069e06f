//! Protobuf types for decoding: `.proto` files compiled in-process
//! (protox: no `protoc` to install) or descriptor sets (`.binpb`,
//! `.desc`, what `protoc -o` and `buf build` write), and which type each
//! subject pattern carries.

use std::path::{Path, PathBuf};

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value};
use thiserror::Error;

use super::{DecodeError, Decoded, DecodedBy};
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
    #[error("no message type '{0}' in the loaded schemas")]
    UnknownType(String),
    #[error("'{pattern}' is not a subject pattern: {why}")]
    BadPattern { pattern: String, why: String },
}

/// Where the types come from and which subject carries which: what is
/// saved between runs and given on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SchemaSettings {
    /// Directories of `.proto` files.
    pub proto_dirs: Vec<PathBuf>,
    /// Descriptor set files.
    pub descriptor_sets: Vec<PathBuf>,
    /// (subject pattern, message type), first match first.
    pub bindings: Vec<(String, String)>,
}

impl SchemaSettings {
    pub fn is_empty(&self) -> bool {
        self.proto_dirs.is_empty() && self.descriptor_sets.is_empty() && self.bindings.is_empty()
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
        for (pattern, type_name) in &self.bindings {
            schemas.bind(pattern, type_name)?;
        }
        Ok(schemas)
    }
}

/// The loaded Protobuf types and their bindings to subjects.
#[derive(Clone, Debug, Default)]
pub struct Schemas {
    pool: DescriptorPool,
    /// First match wins.
    bindings: Vec<(SubjectPattern, MessageDescriptor)>,
}

impl Schemas {
    /// Compile every `.proto` file under `dir` (imports resolved from
    /// `dir`; Google's well-known types built in).
    pub fn load_proto_dir(&mut self, dir: &Path) -> Result<usize, SchemaError> {
        let mut files = Vec::new();
        collect_protos(dir, dir, &mut files)?;
        let compile = |why: String| SchemaError::Compile {
            path: dir.to_path_buf(),
            why,
        };
        let set = protox::Compiler::new([dir])
            .map_err(|e| compile(e.to_string()))?
            .include_imports(true)
            .open_files(&files)
            .map_err(|e| compile(e.to_string()))?
            .file_descriptor_set();
        self.pool
            .add_file_descriptor_set(set)
            .map_err(|e| compile(e.to_string()))?;
        Ok(files.len())
    }

    /// Add a descriptor set file's types.
    pub fn load_descriptor_set(&mut self, path: &Path) -> Result<usize, SchemaError> {
        let bytes = std::fs::read(path).map_err(|source| SchemaError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let before = self.pool.files().len();
        self.pool
            .decode_file_descriptor_set(bytes.as_slice())
            .map_err(|e| SchemaError::BadDescriptorSet {
                path: path.to_path_buf(),
                why: e.to_string(),
            })?;
        Ok(self.pool.files().len() - before)
    }

    /// Every message type loaded, by full name.
    pub fn types(&self) -> impl Iterator<Item = String> + '_ {
        self.pool.all_messages().map(|m| m.full_name().to_owned())
    }

    /// Read payloads on subjects matching `pattern` as `type_name`.
    pub fn bind(&mut self, pattern: &str, type_name: &str) -> Result<(), SchemaError> {
        let message = self
            .pool
            .get_message_by_name(type_name.trim_start_matches('.'))
            .ok_or_else(|| SchemaError::UnknownType(type_name.to_owned()))?;
        let pattern = SubjectPattern::parse(pattern).map_err(|e| SchemaError::BadPattern {
            pattern: pattern.to_owned(),
            why: e.to_string(),
        })?;
        self.bindings.push((pattern, message));
        Ok(())
    }

    /// The type bound to `subject`, if any.
    pub fn bound_type(&self, subject: &str) -> Option<&MessageDescriptor> {
        self.bindings
            .iter()
            .find(|(pattern, _)| pattern.matches(subject))
            .map(|(_, message)| message)
    }

    pub(super) fn decode_bound(
        &self,
        subject: &str,
        payload: &[u8],
    ) -> Result<Decoded, DecodeError> {
        let message = self
            .bound_type(subject)
            .ok_or_else(|| DecodeError::NoType(subject.to_owned()))?;
        decode_as(message, payload)
    }

    /// Decode as the named type, whatever the subject.
    pub fn decode_as(&self, type_name: &str, payload: &[u8]) -> Result<Decoded, DecodeError> {
        let message = self
            .pool
            .get_message_by_name(type_name.trim_start_matches('.'))
            .ok_or_else(|| DecodeError::WrongType {
                type_name: type_name.to_owned(),
                why: "no such type is loaded".into(),
            })?;
        decode_as(&message, payload)
    }

    /// Encode a JSON value (Protobuf's JSON mapping) as `subject`'s type:
    /// publishing with the bound type.
    pub fn encode_bound(&self, subject: &str, json: &str) -> Result<Vec<u8>, DecodeError> {
        let message = self
            .bound_type(subject)
            .ok_or_else(|| DecodeError::NoType(subject.to_owned()))?;
        let wrong = |why: String| DecodeError::WrongType {
            type_name: message.full_name().to_owned(),
            why,
        };
        let mut de = serde_json::Deserializer::from_str(json);
        let dynamic = DynamicMessage::deserialize(message.clone(), &mut de)
            .map_err(|e| wrong(e.to_string()))?;
        de.end().map_err(|e| wrong(e.to_string()))?;
        Ok(prost_reflect::prost::Message::encode_to_vec(&dynamic))
    }
}

fn decode_as(message: &MessageDescriptor, payload: &[u8]) -> Result<Decoded, DecodeError> {
    let type_name = message.full_name().to_owned();
    let wrong = |why: String| DecodeError::WrongType {
        type_name: type_name.clone(),
        why,
    };
    let dynamic =
        DynamicMessage::decode(message.clone(), payload).map_err(|e| wrong(e.to_string()))?;
    let mut unknown = Vec::new();
    unknown_fields(&dynamic, &mut unknown, 0);
    if !unknown.is_empty() {
        unknown.sort_unstable();
        unknown.dedup();
        let numbers: Vec<String> = unknown.iter().map(u32::to_string).collect();
        return Err(wrong(format!(
            "it has field numbers the type does not: {}",
            numbers.join(", ")
        )));
    }
    let value = serde_json::to_value(&dynamic).map_err(|e| wrong(e.to_string()))?;
    Ok(Decoded {
        by: DecodedBy::Protobuf(type_name),
        value,
    })
}

/// Field numbers the message (or one inside it) has and its type does not.
fn unknown_fields(message: &DynamicMessage, out: &mut Vec<u32>, depth: usize) {
    out.extend(message.unknown_fields().map(|f| f.number()));
    if depth > 64 {
        return;
    }
    for (_, value) in message.fields() {
        let mut inner = |v: &Value| {
            if let Value::Message(m) = v {
                unknown_fields(m, out, depth + 1);
            }
        };
        match value {
            Value::List(items) => items.iter().for_each(&mut inner),
            Value::Map(entries) => entries.values().for_each(&mut inner),
            other => inner(other),
        }
    }
}

fn collect_protos(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SchemaError> {
    let read = |source| SchemaError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_protos(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            // Relative to the include root, as imports name them.
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .decode_bound("orders.created", &bytes)
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
            schemas.decode_bound("payments.x", &bytes),
            Err(DecodeError::NoType(_))
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
        assert!(schemas.types().any(|t| t == "shop.Order"));
        std::fs::write(&path, b"not a descriptor set").expect("write");
        assert!(Schemas::default().load_descriptor_set(&path).is_err());
    }
}
