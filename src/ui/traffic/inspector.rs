//! The selected message: its subject and actions, metadata and headers
//! (`facts.rs`), and the payload as pretty JSON, a JSON tree, text, and
//! always a hex dump; a payload that is not JSON is read by the decoders
//! (`crate::decode`: Protobuf by the type bound to its subject,
//! MessagePack, CBOR) as the user chose, saying which one read it.
//! Decoding happens once per selection and is cut to display limits.

use egui::RichText;

use std::sync::Arc;

use crate::capture::Seq;
use crate::capture::{Record, Store};
use crate::decode::{DecodedBy, Format, Reading, Schemas};

pub use super::decoded::{Decoded, MAX_HEX_BYTES, MAX_TEXT_BYTES, hex_dump};
use crate::ui::format;
use crate::ui::json_tree::json_tree_ui;

/// Payloads above this are decoded on a thread of their own: parsing and
/// pretty-printing megabytes of JSON takes longer than a frame.
pub const DECODE_IN_FRAME_BYTES: usize = 128 * 1024;
/// Text laid out at once: a page. A galley of a whole 256 KiB document
/// stalled frames and held hundreds of MiB of meshes.
pub const PAGE_BYTES: usize = 16 * 1024;
use super::facts::{MAX_HEADER_VALUE_CHARS, headers_ui, meta_ui};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PayloadTab {
    #[default]
    Pretty,
    Tree,
    Text,
    Hex,
}

#[derive(Default)]
pub struct InspectorView {
    pub tab: PayloadTab,
    /// How payloads are read (auto: JSON, the bound type, MessagePack,
    /// CBOR; or a format, and a Protobuf type, chosen).
    pub reading: Reading,
    /// The Protobuf types loaded and bound to subjects.
    pub schemas: Arc<Schemas>,
    decoded: Option<Decoded>,
    /// A large payload being decoded on a thread of its own.
    pending: Option<(Seq, std::sync::mpsc::Receiver<Decoded>)>,
    /// Which page of the text shown (see [`PAGE_BYTES`]).
    pub page: usize,
    /// The shown record's broker fields, parsed once, not every frame
    /// (`None` inside: not JSON).
    fields: Option<(Seq, Option<serde_json::Value>)>,
}

impl InspectorView {
    /// Decoded payload of `seq`: decoded now if small, else started on a
    /// thread and `None` until it is done (the caller repaints).
    pub fn decoded(&mut self, seq: Seq, record: &Record) -> Option<&Decoded> {
        if self
            .decoded
            .as_ref()
            .is_none_or(|d| d.seq != seq || d.reading != self.reading)
        {
            let ready = if record.payload().len() <= DECODE_IN_FRAME_BYTES {
                Some(Decoded::new(seq, record, &self.schemas, &self.reading))
            } else {
                self.decode_aside(seq, record)
            };
            let decoded = ready?;
            if !decoded.is_json() && matches!(self.tab, PayloadTab::Pretty | PayloadTab::Tree) {
                self.tab = if decoded.text.is_some() {
                    PayloadTab::Text
                } else {
                    PayloadTab::Hex
                };
            }
            self.page = 0;
            self.decoded = Some(decoded);
        }
        self.decoded.as_ref()
    }

    /// Start (or check on) decoding `seq` on a thread; one at a time, and a
    /// new selection abandons the old one.
    fn decode_aside(&mut self, seq: Seq, record: &Record) -> Option<Decoded> {
        if let Some((pending, rx)) = &self.pending
            && *pending == seq
        {
            return match rx.try_recv() {
                Ok(decoded) => {
                    self.pending = None;
                    Some(decoded)
                }
                Err(_) => None,
            };
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let copy = record.clone();
        let (schemas, reading) = (self.schemas.clone(), self.reading.clone());
        let started = std::thread::Builder::new()
            .name("eventscope-decode".into())
            .spawn(move || {
                let _ = tx.send(Decoded::new(seq, &copy, &schemas, &reading));
            });
        match started {
            Ok(_) => {
                self.pending = Some((seq, rx));
                None
            }
            // No thread to be had: decode here rather than not at all.
            Err(_) => Some(Decoded::new(seq, record, &self.schemas, &self.reading)),
        }
    }
}

/// What the user asked of the inspector.
pub enum InspectorAction {
    None,
    FilterSubject(String),
    Trace(Seq),
    EditAndResend(Seq),
    /// Compare with the previous message on its subject.
    CompareWithPrevious(Seq),
    /// Compare with the message marked in the table (Ctrl+click).
    CompareWithMarked(Seq),
    /// Find every message carrying this value (what it is, the value).
    Follow(String, String),
}

pub fn inspector_ui(
    ui: &mut egui::Ui,
    view: &mut InspectorView,
    store: &Store,
    selected: Option<Seq>,
) -> InspectorAction {
    let Some((seq, record)) = selected.and_then(|s| store.get(s).map(|r| (s, r))) else {
        ui.label(RichText::new("Select a message to inspect it.").weak());
        return InspectorAction::None;
    };
    let action = subject_ui(ui, seq, record, store.broker_of(record.connection));
    meta_ui(ui, store, record);
    ui.separator();
    fields_ui(ui, view, seq, record);
    headers_ui(ui, record);
    ui.separator();
    payload_ui(ui, view, seq, record);
    action
}

/// The subject, and what can be done with the message.
fn subject_ui(
    ui: &mut egui::Ui,
    seq: Seq,
    record: &Record,
    broker: crate::capture::BrokerKind,
) -> InspectorAction {
    let mut action = InspectorAction::None;
    ui.add(
        egui::Label::new(
            RichText::new(record.subject())
                .monospace()
                .strong()
                .size(15.0),
        )
        .wrap(),
    );
    ui.horizontal_wrapped(|ui| {
        if ui
            .small_button("Copy")
            .on_hover_text("Copy the subject")
            .clicked()
        {
            ui.ctx().copy_text(record.subject().to_string());
        }
        if ui
            .small_button("Filter")
            .on_hover_text("Show only this subject")
            .clicked()
        {
            action = InspectorAction::FilterSubject(record.subject().to_string());
        }
        if ui
            .small_button("Trace who receives this")
            .on_hover_text("Publish a trace-only copy (Nats-Trace-Dest, Nats-Trace-Only: nothing is delivered) and draw the server's answer")
            .clicked()
        {
            action = InspectorAction::Trace(seq);
        }
        if ui
            .small_button("Edit and resend")
            .on_hover_text("Fill the publish form from this message")
            .clicked()
        {
            action = InspectorAction::EditAndResend(seq);
        }
        let ids = follow_ids(record);
        // A widget of its own either way: an enabled-or-not child ui is
        // squeezed upright where the row wraps.
        if ids.is_empty() {
            ui.add_enabled(false, egui::Button::new("Follow"))
                .on_disabled_hover_text("No trace id or message id header to follow");
        } else {
            ui.menu_button("Follow", |ui| {
                for (what, value) in ids {
                    if ui
                        .button(format!("{what} {}", format::elide(&value, 24)))
                        .clicked()
                    {
                        action = InspectorAction::Follow(what, value);
                        ui.close();
                    }
                }
            });
        }
        ui.menu_button("Compare with", |ui| {
            if ui.button("the previous on this subject").clicked() {
                action = InspectorAction::CompareWithPrevious(seq);
                ui.close();
            }
            if ui.button("the marked message (Ctrl+click)").clicked() {
                action = InspectorAction::CompareWithMarked(seq);
                ui.close();
            }
        });
        // Built only while the menu is open.
        ui.menu_button("Copy as command", |ui| {
            for command in crate::formats::send_commands(record, broker) {
                if ui
                    .button(command.label)
                    .on_hover_text(&command.command)
                    .clicked()
                {
                    ui.ctx().copy_text(command.command);
                    ui.close();
                }
            }
        });
    });
    action
}

/// The ids one event carries from service to service: the trace id of
/// a W3C `traceparent`, CloudEvents' `ce-id`, a message id.
fn follow_ids(record: &Record) -> Vec<(String, String)> {
    let Some(headers) = record.headers() else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    if let Some(trace) = headers
        .get("traceparent")
        .and_then(|t| t.split('-').nth(1))
        .filter(|t| t.len() == 32)
    {
        ids.push(("trace id".to_owned(), trace.to_owned()));
    }
    for name in [
        "ce-id",
        "Nats-Msg-Id",
        "_watermill_message_uuid",
        "message_id",
        "kafka_correlationId",
    ] {
        if let Some(value) = headers.get(name).filter(|v| !v.is_empty()) {
            ids.push((name.to_owned(), value.to_owned()));
        }
    }
    ids
}

/// The payload's heading: how to read it, which form to show it in, and
/// copying it.
fn payload_tabs_ui(
    ui: &mut egui::Ui,
    mut tab: PayloadTab,
    reading: &mut Reading,
    schemas: &Schemas,
    record: &Record,
    has_json: bool,
    has_text: bool,
) -> PayloadTab {
    ui.horizontal_wrapped(|ui| {
        ui.strong("Payload");
        let label = ui.label("Read as");
        egui::ComboBox::from_id_salt("payload-format")
            .selected_text(reading.format.label())
            .show_ui(ui, |ui| {
                for choice in Format::ALL {
                    ui.selectable_value(&mut reading.format, choice, choice.label());
                }
            })
            .response
            .labelled_by(label.id);
        if let Some(kind) = reading.format.schema_kind() {
            let label = ui.label("Type");
            let bound = schemas
                .bound_type(record.subject())
                .filter(|(bound_kind, _)| *bound_kind == kind)
                .map(|(_, name)| format!("bound: {name}"))
                .unwrap_or_else(|| "bound to the subject (none)".into());
            egui::ComboBox::from_id_salt("payload-type")
                .selected_text(reading.type_name.clone().unwrap_or(bound.clone()))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut reading.type_name, None, bound);
                    for name in schemas.types(kind) {
                        ui.selectable_value(&mut reading.type_name, Some(name.clone()), name);
                    }
                })
                .response
                .labelled_by(label.id);
        }
        // Each its own widget, so that a narrow inspector wraps them
        // whole (an enabled-or-not group is a child ui, squeezed upright).
        for (choice, label, enabled) in [
            (PayloadTab::Pretty, "JSON", has_json),
            (PayloadTab::Tree, "Tree", has_json),
            (PayloadTab::Text, "Text", has_text),
            (PayloadTab::Hex, "Hex", true),
        ] {
            let button = egui::Button::selectable(tab == choice, label);
            if ui.add_enabled(enabled, button).clicked() {
                tab = choice;
            }
        }
        if ui.small_button("Copy payload").clicked() {
            let text = match std::str::from_utf8(record.payload()) {
                Ok(t) => t.to_owned(),
                Err(_) => hex_dump(record.payload()),
            };
            ui.ctx().copy_text(text);
        }
    });
    tab
}

/// The payload: decoded aside, shown as JSON, a tree, text or hex, a page
/// at a time.
fn payload_ui(ui: &mut egui::Ui, view: &mut InspectorView, seq: Seq, record: &Record) {
    let Some(decoded) = view.decoded(seq, record) else {
        ui.label(
            RichText::new(format!(
                "Decoding {} of payload…",
                format::bytes(record.payload().len() as u64)
            ))
            .weak(),
        );
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(30));
        return;
    };
    let has_json = decoded.is_json();
    let has_text = decoded.text.is_some();
    let json_error = decoded.json_error.clone();
    let by = decoded.by.clone();
    let mut reading = view.reading.clone();
    let tab = payload_tabs_ui(
        ui,
        view.tab,
        &mut reading,
        &view.schemas,
        record,
        has_json,
        has_text,
    );
    view.tab = tab;
    if reading != view.reading {
        view.reading = reading;
        // The new reading's best view, decoded next frame.
        view.tab = PayloadTab::Pretty;
        ui.ctx().request_repaint();
        return;
    }
    match (by, json_error) {
        (Some(DecodedBy::Json), _) | (None, None) => {}
        (Some(by), _) => {
            ui.label(RichText::new(format!("Read as {by}")).color(crate::ui::palette::of(ui).good));
        }
        (None, Some(e)) if !record.payload().is_empty() => {
            ui.label(RichText::new(e).weak());
        }
        (None, Some(_)) => {}
    }
    let payload_len = record.payload().len();
    let limit = if tab == PayloadTab::Hex {
        MAX_HEX_BYTES
    } else {
        MAX_TEXT_BYTES
    };
    if payload_len > limit {
        ui.colored_label(
            crate::ui::palette::of(ui).warn,
            format!(
                "Showing the first {} of {} ({} bytes).",
                format::bytes(limit as u64),
                format::bytes(payload_len as u64),
                format::count(payload_len as u64)
            ),
        );
    }
    if payload_len == 0 {
        ui.label(RichText::new("(empty payload)").weak());
        return;
    }
    let mut page = view.page;
    let Some(decoded) = view.decoded(seq, record) else {
        return;
    };
    let text = match tab {
        PayloadTab::Pretty => decoded.pretty(),
        PayloadTab::Text => decoded.text.as_deref(),
        PayloadTab::Hex => Some(decoded.hex.as_str()),
        PayloadTab::Tree => None,
    };
    let pages = text.map_or(1, |t| t.len().div_ceil(PAGE_BYTES).max(1));
    page = page.min(pages - 1);
    if pages > 1 {
        ui.horizontal(|ui| {
            if ui.add_enabled(page > 0, egui::Button::new("◀")).clicked() {
                page -= 1;
            }
            ui.label(format!("page {} of {pages}", page + 1));
            if ui
                .add_enabled(page + 1 < pages, egui::Button::new("▶"))
                .clicked()
            {
                page += 1;
            }
        });
    }
    egui::ScrollArea::both()
        .id_salt(("payload-scroll", page))
        .auto_shrink([false, false])
        .show(ui, |ui| match (tab, text) {
            (PayloadTab::Tree, _) => {
                if let Some(json) = &decoded.json {
                    let id = ui.make_persistent_id(("json-tree", seq));
                    json_tree_ui(ui, json, id);
                }
            }
            (_, Some(text)) => code_ui(ui, page_of(text, page)),
            (_, None) => {}
        });
    view.page = page;
}

/// Page `page` of `text`, cut at line ends where one is near (and always at
/// a character boundary).
fn page_of(text: &str, page: usize) -> &str {
    let boundary = |mut at: usize| {
        at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let start = boundary(page * PAGE_BYTES);
    let end = boundary(start + PAGE_BYTES);
    &text[start..end]
}

fn code_ui(ui: &mut egui::Ui, text: &str) {
    ui.add(
        egui::Label::new(RichText::new(text).monospace())
            .wrap_mode(egui::TextWrapMode::Extend)
            .selectable(true),
    );
}

/// The broker's own fields of the message (MQTT's QoS and properties,
/// AMQP's exchange, properties and typed headers, what RabbitMQ's firehose
/// said), as a tree; none for NATS.
fn fields_ui(ui: &mut egui::Ui, view: &mut InspectorView, seq: Seq, record: &Record) {
    let Some(fields) = record.fields() else {
        return;
    };
    ui.strong("Broker fields");
    if view.fields.as_ref().is_none_or(|(shown, _)| *shown != seq) {
        view.fields = Some((seq, serde_json::from_str(fields).ok()));
    }
    match view.fields.as_ref().and_then(|(_, value)| value.as_ref()) {
        Some(value) => {
            let id = ui.make_persistent_id(("fields", seq));
            crate::ui::json_tree::json_tree_ui(ui, value, id);
        }
        None => {
            let shown: String = fields.chars().take(MAX_HEADER_VALUE_CHARS).collect();
            ui.add(egui::Label::new(RichText::new(shown).monospace()).wrap());
        }
    }
    ui.separator();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_dump_has_offsets_and_ascii() {
        let dump = hex_dump(b"ABCDEFGHIJKLMNOPQ\x00");
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("00000000  41 42"));
        assert!(lines[0].ends_with("ABCDEFGHIJKLMNOP"));
        assert!(lines[1].starts_with("00000010  51 00"));
        assert!(lines[1].ends_with("Q."));
    }

    #[test]
    fn json_keeps_the_payload_key_order() {
        let record = Record::new(
            0,
            0,
            "s",
            None,
            None,
            br#"{"zeta":1,"alpha":{"y":2,"b":3}}"#,
        );
        let d = Decoded::new(1, &record, &Schemas::default(), &Reading::default());
        let pretty = d.pretty().expect("json");
        let zeta = pretty.find("zeta").expect("zeta");
        let alpha = pretty.find("alpha").expect("alpha");
        assert!(zeta < alpha, "{pretty}");
        assert!(pretty.find("\"y\"") < pretty.find("\"b\""), "{pretty}");
    }

    #[test]
    fn pages_cut_at_character_boundaries() {
        let text = "é".repeat(PAGE_BYTES);
        let first = page_of(&text, 0);
        assert!(first.len() <= PAGE_BYTES && !first.is_empty());
        let all: usize = (0..4).map(|p| page_of(&text, p).len()).sum();
        assert!(all <= text.len());
        assert_eq!(page_of("short", 3), "");
    }

    #[test]
    fn large_payloads_decode_aside() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(DECODE_IN_FRAME_BYTES * 2));
        let record = Record::new(0, 0, "s", None, None, big.as_bytes());
        let mut view = InspectorView::default();
        assert!(
            view.decoded(7, &record).is_none(),
            "not decoded in the frame"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while view.decoded(7, &record).is_none() {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(view.decoded(7, &record).is_some_and(Decoded::is_json));
    }

    #[test]
    fn decoding_is_bounded() {
        let big = vec![b'a'; MAX_TEXT_BYTES * 3];
        let record = Record::new(0, 0, "s", None, None, &big);
        let d = Decoded::new(1, &record, &Schemas::default(), &Reading::default());
        assert_eq!(d.text.as_ref().map(String::len), Some(MAX_TEXT_BYTES));
        assert!(d.hex.lines().count() <= MAX_HEX_BYTES / 16);
        assert!(!d.is_json());
    }
}
