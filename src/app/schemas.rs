//! The Protobuf types and Avro schemas the window reads payloads with: loaded at start
//! from the command line or the last run's settings, changed in the
//! payload schemas window (sources picked with a file dialog), and handed
//! to the table and the inspector.

use std::path::PathBuf;
use std::sync::Arc;

use super::EventscopeApp;
use super::pending::Waiting;
use crate::decode::{SchemaSettings, Schemas};
use crate::ui::{SchemasAction, schemas_window_ui};

pub(super) const SCHEMAS_KEY: &str = "eventscope.payload_schemas";

/// Which kind of source a picked file is.
#[derive(Clone, Copy, Debug)]
pub(super) enum SchemaSource {
    /// A `.proto` file: its directory is loaded.
    Proto,
    DescriptorSet,
    Avro,
}

/// The types `settings` name; what could not be loaded, in words.
pub(super) fn load(settings: &SchemaSettings) -> (Arc<Schemas>, Option<String>) {
    match settings.load() {
        Ok(schemas) => (Arc::new(schemas), None),
        Err(e) => (Arc::default(), Some(format!("payload schemas: {e}"))),
    }
}

impl EventscopeApp {
    /// Read payloads with `settings` from now on, if they load; else keep
    /// what was and say why.
    fn use_schemas(&mut self, settings: SchemaSettings) {
        match settings.load() {
            Ok(schemas) => {
                self.hand_out(Arc::new(schemas));
                self.schema_settings = settings;
            }
            Err(e) => self.say(crate::ui::Notice::problem(format!("payload schemas: {e}"))),
        }
    }

    /// Every view that shows payloads reads with `schemas`.
    pub(super) fn hand_out(&mut self, schemas: Arc<Schemas>) {
        self.traffic.previews.set_schemas(schemas.clone());
        let browser = &mut self.jetstream.view.browser;
        browser.previews.set_schemas(schemas.clone());
        browser.inspector.schemas = schemas.clone();
        self.kv.view.key.schemas = schemas.clone();
        self.inspector.schemas = schemas;
    }

    pub(super) fn schemas_window(&mut self, ctx: &egui::Context) {
        if !self.schemas_view.open {
            return;
        }
        let action = schemas_window_ui(
            ctx,
            &mut self.schemas_view,
            &self.schema_settings,
            &self.inspector.schemas,
        );
        let mut settings = self.schema_settings.clone();
        match action {
            None => return,
            Some(SchemasAction::LoadProto) => {
                let rx = self.file_dialogs.ask(&self.session, None);
                self.pending
                    .wait(Waiting::SchemaFile(SchemaSource::Proto, rx));
                return;
            }
            Some(SchemasAction::LoadDescriptorSet) => {
                let rx = self.file_dialogs.ask(&self.session, None);
                self.pending
                    .wait(Waiting::SchemaFile(SchemaSource::DescriptorSet, rx));
                return;
            }
            Some(SchemasAction::LoadAvro) => {
                let rx = self.file_dialogs.ask(&self.session, None);
                self.pending
                    .wait(Waiting::SchemaFile(SchemaSource::Avro, rx));
                return;
            }
            Some(SchemasAction::Bind(pattern, type_name)) => {
                settings.bindings.push((pattern, type_name));
                self.schemas_view.pattern.clear();
            }
            Some(SchemasAction::Unbind(i)) => {
                settings.bindings.remove(i);
            }
            Some(SchemasAction::RemoveProtoDir(i)) => {
                settings.proto_dirs.remove(i);
            }
            Some(SchemasAction::RemoveDescriptorSet(i)) => {
                settings.descriptor_sets.remove(i);
            }
            Some(SchemasAction::RemoveAvro(i)) => {
                settings.avro_schemas.remove(i);
            }
        }
        self.use_schemas(settings);
    }

    /// A source picked in the file dialog.
    pub(super) fn on_schema_file(&mut self, source: SchemaSource, path: PathBuf) {
        self.load_schema_source(source, path);
    }

    /// Add a source (a `.proto` file stands for its directory).
    pub(super) fn load_schema_source(&mut self, source: SchemaSource, path: PathBuf) {
        let mut settings = self.schema_settings.clone();
        match source {
            SchemaSource::Proto => {
                let dir = if path.is_dir() {
                    path
                } else {
                    path.parent().map(PathBuf::from).unwrap_or(path)
                };
                if !settings.proto_dirs.contains(&dir) {
                    settings.proto_dirs.push(dir);
                }
            }
            SchemaSource::DescriptorSet => {
                if !settings.descriptor_sets.contains(&path) {
                    settings.descriptor_sets.push(path);
                }
            }
            SchemaSource::Avro => {
                if !settings.avro_schemas.contains(&path) {
                    settings.avro_schemas.push(path);
                }
            }
        }
        self.use_schemas(settings);
    }
}
