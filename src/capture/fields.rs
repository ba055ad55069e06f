//! A broker's own fields of a message, as a record keeps them (a JSON
//! object, `Record::fields`): typed here for the brokers that have them,
//! so that the flow engine, the views and the links read one form.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// The fields of one MQTT message, as a record keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttFields {
    pub qos: u8,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dup: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format: Option<u8>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_expiry: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_data_b64: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscription_ids: Vec<usize>,
    /// Only when the header block could not carry them exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_properties: Vec<(String, String)>,
}

impl MqttFields {
    /// The fields of a record (`None` when it has none, or not these).
    pub fn of_json(fields: Option<&str>) -> Option<Self> {
        serde_json::from_str(fields?).ok()
    }

    /// Only the correlation data's base64 of a record's fields: the flow
    /// engine asks for it per record, and the rest need not be built.
    pub fn correlation_of(fields: Option<&str>) -> Option<String> {
        #[derive(Deserialize)]
        struct Correlation {
            correlation_data_b64: Option<String>,
        }
        serde_json::from_str::<Correlation>(fields?)
            .ok()?
            .correlation_data_b64
    }

    pub fn correlation_data(&self) -> Option<Vec<u8>> {
        BASE64.decode(self.correlation_data_b64.as_deref()?).ok()
    }
}
