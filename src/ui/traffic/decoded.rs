//! The selected payload's forms for display, made once per selection:
//! read as data (JSON, or what a decoder read), pretty-printed, as text,
//! and a hex dump, each cut to display limits.

use crate::capture::{Record, Seq};
use crate::decode::{DecodedBy, Reading, Schemas};

/// Bytes of a payload decoded as text/JSON for display.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
/// Bytes of a payload shown in the hex dump.
pub const MAX_HEX_BYTES: usize = 16 * 1024;
/// Payloads above this are not parsed as JSON at all.
const MAX_JSON_PARSE_BYTES: usize = 8 * 1024 * 1024;

/// Decoded forms of the selected payload, made once per selection.
pub struct Decoded {
    pub(super) seq: Seq,
    pub(super) reading: Reading,
    pub(super) json: Option<serde_json::Value>,
    pub(super) json_error: Option<String>,
    /// What read the payload as data (JSON, a Protobuf type, …).
    pub(super) by: Option<DecodedBy>,
    pub(super) pretty: Option<String>,
    pub(super) text: Option<String>,
    pub(super) hex: String,
}

impl Decoded {
    pub fn new(seq: Seq, record: &Record, schemas: &Schemas, reading: &Reading) -> Self {
        let payload = record.payload();
        let (json, json_error, by) = if payload.len() <= MAX_JSON_PARSE_BYTES && !payload.is_empty()
        {
            match reading.read(schemas, record.subject(), payload) {
                Ok(d) => (Some(d.value), None, Some(d.by)),
                Err(e) => (None, Some(e.to_string()), None),
            }
        } else {
            (None, None, None)
        };
        let pretty = json
            .as_ref()
            .and_then(|v| serde_json::to_string_pretty(v).ok())
            .map(|mut s| {
                truncate_text(&mut s, MAX_TEXT_BYTES);
                s
            });
        let text = decode_text(payload);
        Self {
            seq,
            reading: reading.clone(),
            json,
            json_error,
            by,
            pretty,
            text,
            hex: hex_dump(&payload[..payload.len().min(MAX_HEX_BYTES)]),
        }
    }

    pub fn is_json(&self) -> bool {
        self.json.is_some()
    }

    pub fn pretty(&self) -> Option<&str> {
        self.pretty.as_deref()
    }
}

/// UTF-8 text of the payload's head, if it is text.
fn decode_text(payload: &[u8]) -> Option<String> {
    let head = &payload[..payload.len().min(MAX_TEXT_BYTES)];
    match std::str::from_utf8(head) {
        Ok(t) => Some(t.to_owned()),
        Err(e) if head.len() < payload.len() && e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()])
                .ok()
                .map(str::to_owned)
        }
        Err(_) => None,
    }
}

fn truncate_text(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// Classic 16-bytes-per-line dump with offsets and ASCII.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 + 16);
    for (line, chunk) in bytes.chunks(16).enumerate() {
        out.push_str(&format!("{:08x}  ", line * 16));
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
            if i == 7 {
                out.push(' ');
            }
        }
        out.push(' ');
        out.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    out
}
