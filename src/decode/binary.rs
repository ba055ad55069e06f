//! MessagePack (rmpv) and CBOR (ciborium) read whole into JSON values.
//! The mapping to JSON is ours, so it is written here: map keys that are
//! not strings become their JSON text, bytes become base64 under
//! `"$bytes"`, MessagePack extensions `{"$ext": type, "$bytes": ...}`,
//! CBOR tags `{"$tag": n, "value": ...}`; numbers JSON cannot hold (NaN,
//! infinities, integers past 64 bits) become strings.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value, json};

use super::{DecodeError, Decoded, DecodedBy};

/// Nesting past this is refused (a hostile payload could nest deep
/// enough to exhaust the stack while it is converted).
pub(super) const MAX_DEPTH: usize = 128;

/// A MessagePack map or array at the top.
pub(super) fn is_message_pack_container(payload: &[u8]) -> bool {
    matches!(payload.first(), Some(0x80..=0x9f | 0xdc..=0xdf))
}

/// A CBOR map or array (major types 4 and 5), or a tagged one, at the top.
pub(super) fn is_cbor_container(payload: &[u8]) -> bool {
    matches!(payload.first(), Some(b) if matches!(b >> 5, 4..=6))
}

pub(super) fn message_pack(payload: &[u8]) -> Result<Decoded, DecodeError> {
    let mut rest = payload;
    let value = rmpv::decode::read_value_with_max_depth(&mut rest, MAX_DEPTH)
        .map_err(|e| DecodeError::NotMessagePack(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::NotMessagePack(format!(
            "{} bytes left after the first value",
            rest.len()
        )));
    }
    Ok(Decoded {
        by: DecodedBy::MessagePack,
        value: from_message_pack(value),
    })
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn from_message_pack(value: rmpv::Value) -> Value {
    use rmpv::Value as M;
    match value {
        M::Nil => Value::Null,
        M::Boolean(b) => Value::Bool(b),
        M::Integer(i) => i
            .as_i64()
            .map(Value::from)
            .or_else(|| i.as_u64().map(Value::from))
            .unwrap_or(Value::Null),
        M::F32(f) => float(f64::from(f)),
        M::F64(f) => float(f),
        M::String(s) => match s.into_str() {
            Some(text) => Value::String(text),
            None => json!({"$bytes": "not UTF-8"}),
        },
        M::Binary(bytes) => json!({"$bytes": BASE64.encode(bytes)}),
        M::Array(items) => Value::Array(items.into_iter().map(from_message_pack).collect()),
        M::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (key_text(&from_message_pack(k)), from_message_pack(v)))
                .collect::<Map<_, _>>(),
        ),
        M::Ext(kind, bytes) => json!({"$ext": kind, "$bytes": BASE64.encode(bytes)}),
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

pub(super) fn cbor(payload: &[u8]) -> Result<Decoded, DecodeError> {
    let mut rest = payload;
    let value: ciborium::Value =
        ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_DEPTH)
            .map_err(|e| DecodeError::NotCbor(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::NotCbor(format!(
            "{} bytes left after the first value",
            rest.len()
        )));
    }
    Ok(Decoded {
        by: DecodedBy::Cbor,
        value: from_cbor(value),
    })
}

fn from_cbor(value: ciborium::Value) -> Value {
    use ciborium::Value as C;
    match value {
        C::Null => Value::Null,
        C::Bool(b) => Value::Bool(b),
        C::Integer(i) => {
            let wide = i128::from(i);
            i64::try_from(wide)
                .map(Value::from)
                .or_else(|_| u64::try_from(wide).map(Value::from))
                .unwrap_or_else(|_| Value::String(wide.to_string()))
        }
        C::Float(f) => float(f),
        C::Text(s) => Value::String(s),
        C::Bytes(bytes) => json!({"$bytes": BASE64.encode(bytes)}),
        C::Array(items) => Value::Array(items.into_iter().map(from_cbor).collect()),
        C::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (key_text(&from_cbor(k)), from_cbor(v)))
                .collect::<Map<_, _>>(),
        ),
        C::Tag(tag, inner) => json!({"$tag": tag, "value": from_cbor(*inner)}),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_values_keys_and_extensions_are_kept_readable() {
        // {1: h'00ff', "t": 1(1700000000)} in CBOR.
        let cbor_bytes = [
            0xa2, 0x01, 0x42, 0x00, 0xff, 0x61, b't', 0xc1, 0x1a, 0x65, 0x53, 0xf1, 0x00,
        ];
        let decoded = cbor(&cbor_bytes).expect("cbor");
        assert_eq!(
            decoded.value,
            json!({"1": {"$bytes": "AP8="}, "t": {"$tag": 1, "value": 1_700_000_000}})
        );
        // [ext(-1, 4 bytes), bin(2)] in MessagePack.
        let packed = [0x92, 0xd6, 0xff, 0, 0, 0, 1, 0xc4, 0x02, 0xde, 0xad];
        let decoded = message_pack(&packed).expect("msgpack");
        assert_eq!(
            decoded.value,
            json!([{"$ext": -1, "$bytes": "AAAAAQ=="}, {"$bytes": "3q0="}])
        );
        let said = message_pack(&[0x92, 0x01]).expect_err("cut short");
        assert!(said.to_string().starts_with("not MessagePack"), "{said}");
    }

    #[test]
    fn deep_nesting_is_refused_not_followed() {
        let deep = vec![0x91; 10_000];
        assert!(message_pack(&deep).is_err());
        let deep = vec![0x81; 10_000];
        assert!(cbor(&deep).is_err());
    }
}
