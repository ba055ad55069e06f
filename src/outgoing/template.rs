//! A publish template: subject, reply, headers and payload with
//! placeholders and an encoding; saved by name, turned into messages.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::placeholders::expand;
use super::replay_plan::OutMessage;
use crate::capture::Record;
use crate::capture::{SubjectError, validate_subject};

/// What keeps a template from being sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("subject: {0}")]
    Subject(SubjectError),
    #[error("reply-to: {0}")]
    Reply(SubjectError),
    #[error("header name '{0}' is not valid (visible ASCII only: no spaces or colons)")]
    HeaderName(String),
    #[error("payload is not base64: {0}")]
    Base64(base64::DecodeError),
    #[error("broker fields must be a JSON object, e.g. {{\"qos\":1}}: {0}")]
    Fields(String),
    #[error("payload: {0}")]
    BoundType(#[from] crate::decode::DecodeError),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    #[default]
    Text,
    Json,
    /// Binary payloads, typed as standard base64.
    Base64,
    /// JSON (Protobuf's or Avro's JSON mapping), sent encoded as the
    /// type bound to the subject. (Saved templates call it `Protobuf`:
    /// Avro came later.)
    #[serde(rename = "Protobuf")]
    BoundType,
}

impl Encoding {
    pub const ALL: [Encoding; 4] = [
        Encoding::Text,
        Encoding::Json,
        Encoding::Base64,
        Encoding::BoundType,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Encoding::Text => "text",
            Encoding::Json => "JSON",
            Encoding::Base64 => "base64",
            Encoding::BoundType => "JSON as the bound type",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishTemplate {
    pub name: String,
    pub subject: String,
    pub reply: String,
    /// Name/value rows; a name given twice is a multi-valued header.
    pub headers: Vec<(String, String)>,
    pub payload: String,
    pub encoding: Encoding,
    /// The broker's own fields, a JSON object with placeholders (MQTT's
    /// `qos` and `retain`, AMQP's `properties`); empty for none.
    #[serde(default)]
    pub fields: String,
}

impl PublishTemplate {
    /// Fill from a captured record ("edit and resend").
    pub fn from_record(record: &Record) -> Self {
        let (payload, encoding) = match std::str::from_utf8(record.payload()) {
            Ok(text) if serde_json::from_str::<serde_json::Value>(text).is_ok() => {
                (text.to_owned(), Encoding::Json)
            }
            Ok(text) => (text.to_owned(), Encoding::Text),
            Err(_) => (BASE64.encode(record.payload()), Encoding::Base64),
        };
        Self {
            name: String::new(),
            subject: record.subject().to_string(),
            reply: record.reply().unwrap_or("").to_owned(),
            headers: record
                .headers()
                .iter()
                .flat_map(|h| h.iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect(),
            payload,
            encoding,
            fields: record.fields().unwrap_or_default().to_owned(),
        }
    }

    /// Problems that block sending (subject, reply, base64).
    pub fn check(&self) -> Result<(), TemplateError> {
        validate_subject(self.subject.trim()).map_err(TemplateError::Subject)?;
        if !self.reply.trim().is_empty() {
            validate_subject(self.reply.trim()).map_err(TemplateError::Reply)?;
        }
        for (name, _) in &self.headers {
            if name.trim().is_empty() || name.contains(|c: char| !c.is_ascii_graphic() || c == ':')
            {
                return Err(TemplateError::HeaderName(name.clone()));
            }
        }
        if self.encoding == Encoding::Base64 {
            BASE64
                .decode(self.payload.trim())
                .map_err(TemplateError::Base64)?;
        }
        if !self.fields.trim().is_empty() {
            let sample = expand(&self.fields, 1);
            match serde_json::from_str::<serde_json::Value>(&sample) {
                Ok(serde_json::Value::Object(_)) => {}
                Ok(_) => return Err(TemplateError::Fields("not an object".into())),
                Err(e) => return Err(TemplateError::Fields(e.to_string())),
            }
        }
        Ok(())
    }

    /// A warning that does not block sending: JSON that does not parse.
    pub fn json_warning(&self) -> Option<String> {
        if self.encoding != Encoding::Json {
            return None;
        }
        let sample = expand(&self.payload, 1);
        serde_json::from_str::<serde_json::Value>(&sample)
            .err()
            .map(|e| format!("the payload is not valid JSON ({e}); it will be sent as typed"))
    }

    /// Pretty-print a JSON payload in place; an error leaves it untouched.
    pub fn format_json(&mut self) -> Result<(), serde_json::Error> {
        let value: serde_json::Value = serde_json::from_str(&self.payload)?;
        self.payload = serde_json::to_string_pretty(&value)?;
        Ok(())
    }

    /// The `seq`-th message (1-based), placeholders expanded.
    pub fn message(&self, seq: u64) -> Result<OutMessage, TemplateError> {
        self.message_with(seq, &crate::decode::Schemas::default())
    }

    /// The `seq`-th message, a bound type's payload encoded with `schemas`.
    pub fn message_with(
        &self,
        seq: u64,
        schemas: &crate::decode::Schemas,
    ) -> Result<OutMessage, TemplateError> {
        self.check()?;
        let payload = match self.encoding {
            Encoding::Base64 => Bytes::from(
                BASE64
                    .decode(self.payload.trim())
                    .map_err(TemplateError::Base64)?,
            ),
            Encoding::BoundType => {
                Bytes::from(schemas.encode_bound(self.subject.trim(), &expand(&self.payload, seq))?)
            }
            _ => Bytes::from(expand(&self.payload, seq)),
        };
        let reply = self.reply.trim();
        Ok(OutMessage {
            subject: self.subject.trim().to_owned(),
            reply: (!reply.is_empty()).then(|| reply.to_owned()),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.trim().to_owned(), expand(v, seq)))
                .collect(),
            payload,
            fields: (!self.fields.trim().is_empty()).then(|| expand(self.fields.trim(), seq)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_from_a_template() {
        let t = PublishTemplate {
            subject: "orders.created".into(),
            headers: vec![
                ("ce-id".into(), "id-{{seq}}".into()),
                ("x".into(), "1".into()),
                ("x".into(), "2".into()),
            ],
            payload: r#"{"n":{{seq}}}"#.into(),
            encoding: Encoding::Json,
            ..PublishTemplate::default()
        };
        let m = t.message(3).expect("valid");
        assert_eq!(m.payload, Bytes::from_static(br#"{"n":3}"#));
        assert_eq!(m.headers[0], ("ce-id".to_owned(), "id-3".to_owned()));
        assert_eq!(m.headers.len(), 3);
        assert_eq!(t.json_warning(), None);
    }

    #[test]
    fn problems_are_named() {
        let mut t = PublishTemplate {
            subject: "a.*".into(),
            ..PublishTemplate::default()
        };
        assert!(
            t.check()
                .expect_err("wildcard")
                .to_string()
                .starts_with("subject:")
        );
        t.subject = "a".into();
        t.encoding = Encoding::Base64;
        t.payload = "!!".into();
        assert!(
            t.check()
                .expect_err("base64")
                .to_string()
                .contains("not base64")
        );
        t.encoding = Encoding::Json;
        t.payload = "{oops".into();
        assert!(t.json_warning().is_some());
        assert!(t.format_json().is_err());
        t.payload = r#"{"a":1}"#.into();
        t.format_json().expect("formats");
        assert_eq!(t.payload, "{\n  \"a\": 1\n}");
        t.encoding = Encoding::Base64;
        t.payload = "AAEC/w==".into();
        assert_eq!(
            t.message(1).expect("valid").payload.as_ref(),
            &[0, 1, 2, 255]
        );
    }
}
