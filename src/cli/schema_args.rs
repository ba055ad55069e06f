//! `--proto`, `--descriptor-set`, `--avro` and `--bind`: the Protobuf
//! types and Avro schemas payloads are read with, for the window and the headless commands alike.

use std::path::PathBuf;

use clap::Args;

use crate::decode::{SchemaError, SchemaSettings};

#[derive(Args, Debug, Default, Clone)]
pub struct SchemaArgs {
    /// A directory of `.proto` files, compiled in-process (repeatable)
    #[arg(long = "proto", value_name = "DIR")]
    pub proto_dirs: Vec<PathBuf>,

    /// A descriptor set (`protoc -o`, `buf build`: .binpb, .desc) (repeatable)
    #[arg(long = "descriptor-set", value_name = "FILE")]
    pub descriptor_sets: Vec<PathBuf>,

    /// An Avro schema file (.avsc: one named schema or an array of them)
    /// (repeatable)
    #[arg(long = "avro", value_name = "FILE")]
    pub avro_schemas: Vec<PathBuf>,

    /// Read payloads on subjects matching PATTERN as TYPE, a Protobuf
    /// message type or an Avro named type (repeatable; the first match
    /// wins)
    #[arg(long = "bind", value_name = "PATTERN=TYPE")]
    pub bindings: Vec<String>,
}

impl SchemaArgs {
    /// The sources and bindings as settings; a binding not of the form
    /// PATTERN=TYPE said in words.
    pub fn settings(&self) -> Result<SchemaSettings, SchemaError> {
        let bindings = self
            .bindings
            .iter()
            .map(|binding| {
                binding
                    .split_once('=')
                    .map(|(p, t)| (p.trim().to_owned(), t.trim().to_owned()))
                    .ok_or_else(|| SchemaError::BadPattern {
                        pattern: binding.clone(),
                        why: "--bind takes PATTERN=TYPE".into(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(SchemaSettings {
            proto_dirs: self.proto_dirs.clone(),
            descriptor_sets: self.descriptor_sets.clone(),
            avro_schemas: self.avro_schemas.clone(),
            bindings,
        })
    }
}
