//! A table's payload column: text as it is; a payload that is not text
//! (or whose subject has a Protobuf type bound) as its decoder read it,
//! named (`[Protobuf shop.Order] {...}`). Decoded only when its row is
//! drawn, never for rows off screen, and kept per record, bounded.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::capture::{Record, Seq};
use crate::decode::{DecodedBy, Format, Schemas};
use crate::ui::format;

/// Decoded previews kept at most; past it the cache starts over (the rows
/// on screen are read again, a few dozen).
const KEPT: usize = 4096;

#[derive(Default)]
pub struct Previews {
    schemas: Arc<Schemas>,
    cache: HashMap<Seq, String>,
}

/// Whether a payload reads as text as it is: UTF-8 with no control
/// characters but line breaks and tabs.
fn is_plain_text(payload: &[u8]) -> bool {
    std::str::from_utf8(payload).is_ok_and(|t| {
        !t.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    })
}

impl Previews {
    /// Read with these types from now on.
    pub fn set_schemas(&mut self, schemas: Arc<Schemas>) {
        self.schemas = schemas;
        self.cache.clear();
    }

    pub fn schemas(&self) -> &Arc<Schemas> {
        &self.schemas
    }

    pub fn clear(&mut self) {
        self.cache.clear();
    }

    /// The preview of `record` (`seq` in its store), `max_chars` long.
    pub fn get(&mut self, seq: Seq, record: &Record, max_chars: usize) -> Cow<'_, str> {
        let payload = record.payload();
        let bound = self.schemas.bound_type(record.subject()).is_some();
        if payload.is_empty() || (!bound && is_plain_text(payload)) {
            return Cow::Owned(format::payload_preview(payload, max_chars));
        }
        if self.cache.len() >= KEPT {
            self.cache.clear();
        }
        let schemas = &self.schemas;
        let text = self.cache.entry(seq).or_insert_with(|| {
            match crate::decode::decode(schemas, record.subject(), payload, Format::Auto) {
                Ok(d) if d.by != DecodedBy::Json => {
                    let shown = format!("[{}] {}", d.by, d.value);
                    format::payload_preview(shown.as_bytes(), max_chars)
                }
                _ => format::payload_preview(payload, max_chars),
            }
        });
        Cow::Borrowed(text.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_shown_as_it_is_and_binary_as_its_decoder_read_it() {
        let mut previews = Previews::default();
        let text = Record::new(1, 0, "a", None, None, b"plain {\"x\":1}");
        assert_eq!(previews.get(0, &text, 40), "plain {\"x\":1}");
        // {"id": 1} in MessagePack.
        let packed = Record::new(1, 0, "a", None, None, &[0x81, 0xa2, b'i', b'd', 0x01]);
        assert_eq!(previews.get(1, &packed, 40), "[MessagePack] {\"id\":1}");
        assert_eq!(previews.cache.len(), 1, "only the decoded one is kept");
        let noise = Record::new(1, 0, "a", None, None, &[0xff, 0x00, 0x13]);
        let shown = previews.get(2, &noise, 40).into_owned();
        assert_eq!(
            shown,
            format::payload_preview(&[0xff, 0x00, 0x13], 40),
            "nothing read it"
        );
    }
}
