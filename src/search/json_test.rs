//! A test on a payload read as JSON, in jq's path syntax:
//! `.data.order_id == "ord-42"`, `.lines[].count >= 2`, `.items[0].sku`,
//! `.["odd key"] != null`; a path alone tests that the value is there
//! (and not null). Any JSON the payload's decoder gives is tested, so a
//! Protobuf message bound to its subject is searched like JSON.
//!
//! The syntax is ours (a small subset of jq's, which users already type),
//! so it is parsed here; the JSON is serde_json's.

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum JsonTestError {
    #[error("a JSON test starts with a path, such as .data.order_id")]
    NoPath,
    #[error("unexpected '{0}' in the path")]
    BadPath(String),
    #[error("'{0}' is not a JSON value (strings are quoted: \"ord-42\")")]
    BadValue(String),
    #[error("unknown comparison '{0}' (==, !=, <, <=, >, >=)")]
    BadOp(String),
}

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    /// `[]`: any element.
    Each,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed test.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonTest {
    path: Vec<Step>,
    compare: Option<(Op, Value)>,
}

impl JsonTest {
    pub fn parse(text: &str) -> Result<JsonTest, JsonTestError> {
        let text = text.trim();
        if !text.starts_with('.') {
            return Err(JsonTestError::NoPath);
        }
        let (path_text, rest) = split_path(text);
        let path = parse_path(path_text)?;
        let rest = rest.trim();
        if rest.is_empty() {
            return Ok(JsonTest {
                path,
                compare: None,
            });
        }
        let op_len = rest
            .find(|c: char| !matches!(c, '=' | '!' | '<' | '>'))
            .unwrap_or(rest.len());
        let op = match &rest[..op_len] {
            "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            other => return Err(JsonTestError::BadOp(other.to_owned())),
        };
        let literal = rest[op_len..].trim();
        let value: Value = serde_json::from_str(literal)
            .map_err(|_| JsonTestError::BadValue(literal.to_owned()))?;
        Ok(JsonTest {
            path,
            compare: Some((op, value)),
        })
    }

    /// Bytes every payload that passes must hold, whatever its format: a
    /// compared string's text (Protobuf, MessagePack, CBOR and Avro carry
    /// strings verbatim too). `None` when no such bytes are known.
    pub fn required_bytes(&self) -> Option<&[u8]> {
        match &self.compare {
            Some((Op::Eq, Value::String(s))) if !s.is_empty() => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// Bytes a JSON text that passes must hold: the last key named.
    pub fn required_in_json_text(&self) -> Option<&[u8]> {
        match self.path.last() {
            Some(Step::Key(k)) if !k.is_empty() => Some(k.as_bytes()),
            _ => None,
        }
    }

    pub fn test(&self, value: &Value) -> bool {
        self.test_at(value, &self.path)
    }

    /// The test on a JSON text, read along the path only: what is beside
    /// it is skipped, never built (twice to four times as fast as
    /// reading the whole value). `Err` when the text is not JSON.
    pub fn test_text(&self, text: &[u8]) -> Result<bool, serde_json::Error> {
        use serde::de::DeserializeSeed;
        let mut de = serde_json::Deserializer::from_slice(text);
        let found = Along {
            test: self,
            steps: &self.path,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(found)
    }

    fn test_at(&self, value: &Value, path: &[Step]) -> bool {
        let Some((step, rest)) = path.split_first() else {
            return self.holds(value);
        };
        match (step, value) {
            (Step::Key(k), Value::Object(map)) => map.get(k).is_some_and(|v| self.test_at(v, rest)),
            (Step::Index(i), Value::Array(items)) => {
                items.get(*i).is_some_and(|v| self.test_at(v, rest))
            }
            (Step::Each, Value::Array(items)) => items.iter().any(|v| self.test_at(v, rest)),
            (Step::Each, Value::Object(map)) => map.values().any(|v| self.test_at(v, rest)),
            _ => false,
        }
    }

    fn holds(&self, value: &Value) -> bool {
        let Some((op, wanted)) = &self.compare else {
            return !value.is_null();
        };
        let order = match (value, wanted) {
            (Value::Number(a), Value::Number(b)) => a
                .as_f64()
                .zip(b.as_f64())
                .and_then(|(a, b)| a.partial_cmp(&b)),
            // Protobuf's JSON writes 64-bit integers as text: compared
            // with a number, text that is a number counts as one.
            (Value::String(a), Value::Number(b)) => a
                .parse::<f64>()
                .ok()
                .zip(b.as_f64())
                .and_then(|(a, b)| a.partial_cmp(&b)),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            _ => None,
        };
        match op {
            Op::Eq => order.map_or(value == wanted, |o| o.is_eq()),
            Op::Ne => order.map_or(value != wanted, |o| o.is_ne()),
            Op::Lt => order.is_some_and(|o| o.is_lt()),
            Op::Le => order.is_some_and(|o| o.is_le()),
            Op::Gt => order.is_some_and(|o| o.is_gt()),
            Op::Ge => order.is_some_and(|o| o.is_ge()),
        }
    }
}

/// Reads a JSON value along `steps`, testing what is at their end.
struct Along<'a> {
    test: &'a JsonTest,
    steps: &'a [Step],
}

impl<'de> serde::de::DeserializeSeed<'de> for Along<'_> {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        if self.steps.is_empty() {
            let value = Value::deserialize(d)?;
            return Ok(self.test.holds(&value));
        }
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Along<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let (step, rest) = self.steps.split_first().expect("not at the end");
        let mut found = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let follows = match step {
                Step::Key(k) => *k == key,
                Step::Each => true,
                Step::Index(_) => false,
            };
            if follows && !found {
                found = map.next_value_seed(Along {
                    test: self.test,
                    steps: rest,
                })?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let (step, rest) = self.steps.split_first().expect("not at the end");
        let mut found = false;
        let mut index = 0;
        loop {
            let follows = match step {
                Step::Index(i) => *i == index,
                Step::Each => true,
                Step::Key(_) => false,
            };
            let more = if follows && !found {
                seq.next_element_seed(Along {
                    test: self.test,
                    steps: rest,
                })?
                .map(|hit| found = hit)
            } else {
                seq.next_element::<serde::de::IgnoredAny>()?.map(|_| ())
            };
            if more.is_none() {
                return Ok(found);
            }
            index += 1;
        }
    }

    // Anything else where the path goes on: not there.
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// The path, and what follows it (the first space or comparison sign
/// outside brackets and quotes).
fn split_path(text: &str) -> (&str, &str) {
    let mut depth = 0;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth -= 1,
            ' ' | '=' | '!' | '<' | '>' if !quoted && depth == 0 => {
                return (&text[..i], &text[i..]);
            }
            _ => {}
        }
    }
    (text, "")
}

fn parse_path(text: &str) -> Result<Vec<Step>, JsonTestError> {
    let mut steps = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end =
                closing_bracket(after).ok_or_else(|| JsonTestError::BadPath(rest.to_owned()))?;
            let inside = after[..end].trim();
            steps.push(if inside.is_empty() {
                Step::Each
            } else if let Ok(i) = inside.parse::<usize>() {
                Step::Index(i)
            } else {
                let key: String = serde_json::from_str(inside)
                    .map_err(|_| JsonTestError::BadPath(inside.to_owned()))?;
                Step::Key(key)
            });
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('.') {
            if after.is_empty() {
                break; // `.` alone: the whole payload
            }
            if after.starts_with('[') {
                rest = after;
                continue;
            }
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            if key.is_empty() {
                return Err(JsonTestError::BadPath(rest.to_owned()));
            }
            steps.push(Step::Key(key.to_owned()));
            rest = &after[end..];
        } else {
            return Err(JsonTestError::BadPath(rest.to_owned()));
        }
    }
    Ok(steps)
}

fn closing_bracket(text: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ']' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Both readings, which must agree.
    fn passes(test: &str, value: Value) -> bool {
        let parsed = JsonTest::parse(test).expect(test);
        let on_value = parsed.test(&value);
        let on_text = parsed
            .test_text(value.to_string().as_bytes())
            .expect("JSON");
        assert_eq!(on_value, on_text, "{test} on {value}");
        on_value
    }

    #[test]
    fn paths_and_comparisons() {
        let order = json!({"data": {"order_id": "ord-42", "n": 3},
            "lines": [{"sku": "tea", "count": 2}, {"sku": "cup", "count": 5}],
            "odd key": true});
        assert!(passes(r#".data.order_id == "ord-42""#, order.clone()));
        assert!(!passes(r#".data.order_id == "ord-43""#, order.clone()));
        assert!(passes(".data.n >= 3", order.clone()));
        assert!(passes(".data.n == 3.0", order.clone()), "numbers by value");
        assert!(
            passes(".big > 10", json!({"big": "9007199254740993"})),
            "int64 as text"
        );
        assert!(!passes(".data.n > 3", order.clone()));
        assert!(passes(r#".lines[].sku == "cup""#, order.clone()));
        assert!(passes(".lines[1].count > 4", order.clone()));
        assert!(!passes(".lines[2].count", order.clone()));
        assert!(passes(r#".["odd key"]"#, order.clone()));
        assert!(passes(".data", order.clone()));
        assert!(!passes(".missing", order.clone()));
        assert!(passes(r#".data.order_id != "x""#, order));
        assert_eq!(JsonTest::parse("data.x"), Err(JsonTestError::NoPath));
        assert!(matches!(
            JsonTest::parse(".a == ord"),
            Err(JsonTestError::BadValue(_))
        ));
        assert!(matches!(
            JsonTest::parse(".a =~ 1"),
            Err(JsonTestError::BadOp(_))
        ));
        assert_eq!(
            JsonTest::parse(r#".data.order_id == "ord-42""#)
                .unwrap()
                .required_bytes(),
            Some(&b"ord-42"[..])
        );
    }
}
