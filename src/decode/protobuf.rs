//! Protobuf types for decoding: `.proto` files compiled in-process
//! (protox: no `protoc` to install) or descriptor sets (`.binpb`,
//! `.desc`, what `protoc -o` and `buf build` write).

use std::path::{Path, PathBuf};

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value};

use super::{DecodeError, Decoded, DecodedBy, SchemaError};

/// Compile every `.proto` file under `dir` into `pool` (imports resolved
/// from `dir`; Google's well-known types built in).
pub(super) fn load_proto_dir(pool: &mut DescriptorPool, dir: &Path) -> Result<usize, SchemaError> {
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
    pool.add_file_descriptor_set(set)
        .map_err(|e| compile(e.to_string()))?;
    Ok(files.len())
}

/// Add a descriptor set file's types to `pool`.
pub(super) fn load_descriptor_set(
    pool: &mut DescriptorPool,
    path: &Path,
) -> Result<usize, SchemaError> {
    let bytes = std::fs::read(path).map_err(|source| SchemaError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let before = pool.files().len();
    pool.decode_file_descriptor_set(bytes.as_slice())
        .map_err(|e| SchemaError::BadDescriptorSet {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    Ok(pool.files().len() - before)
}

/// Encode a JSON value (Protobuf's JSON mapping) as `message`.
pub(super) fn encode(message: &MessageDescriptor, json: &str) -> Result<Vec<u8>, DecodeError> {
    let wrong = |why: String| DecodeError::WrongType {
        type_name: message.full_name().to_owned(),
        why,
    };
    let mut de = serde_json::Deserializer::from_str(json);
    let dynamic =
        DynamicMessage::deserialize(message.clone(), &mut de).map_err(|e| wrong(e.to_string()))?;
    de.end().map_err(|e| wrong(e.to_string()))?;
    Ok(prost_reflect::prost::Message::encode_to_vec(&dynamic))
}

pub(super) fn decode(message: &MessageDescriptor, payload: &[u8]) -> Result<Decoded, DecodeError> {
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
