//! `--proto`, `--descriptor-set` and `--bind`: the Protobuf types payloads
//! are read with, for the window and the headless commands alike.

use std::path::PathBuf;

use clap::Args;

use crate::decode::{SchemaError, Schemas};

#[derive(Args, Debug, Default, Clone)]
pub struct SchemaArgs {
    /// A directory of `.proto` files, compiled in-process (repeatable)
    #[arg(long = "proto", value_name = "DIR")]
    pub proto_dirs: Vec<PathBuf>,

    /// A descriptor set (`protoc -o`, `buf build`: .binpb, .desc) (repeatable)
    #[arg(long = "descriptor-set", value_name = "FILE")]
    pub descriptor_sets: Vec<PathBuf>,

    /// Read payloads on subjects matching PATTERN as the Protobuf TYPE
    /// (repeatable; the first match wins)
    #[arg(long = "bind", value_name = "PATTERN=TYPE")]
    pub bindings: Vec<String>,
}

impl SchemaArgs {
    /// The types loaded and bound; a file that does not compile, a type
    /// not found or a binding not of the form PATTERN=TYPE, said in words.
    pub fn load(&self) -> Result<Schemas, SchemaError> {
        let mut schemas = Schemas::default();
        for dir in &self.proto_dirs {
            schemas.load_proto_dir(dir)?;
        }
        for set in &self.descriptor_sets {
            schemas.load_descriptor_set(set)?;
        }
        for binding in &self.bindings {
            let (pattern, type_name) =
                binding
                    .split_once('=')
                    .ok_or_else(|| SchemaError::BadPattern {
                        pattern: binding.clone(),
                        why: "--bind takes PATTERN=TYPE".into(),
                    })?;
            schemas.bind(pattern.trim(), type_name.trim())?;
        }
        Ok(schemas)
    }
}
