//! An MQTT PUBLISH in the record's terms, and back: the topic is the
//! subject, the response topic the reply, user properties the header block,
//! and everything else MQTT says of the message (QoS, retain, dup, MQTT 5
//! properties) the record's fields, a JSON object:
//!
//! ```text
//! {"qos":1,"retain":true,"content_type":"application/json","correlation_data_b64":"AQI=","message_expiry":60}
//! ```
//!
//! `qos` is always there; the others only when set. User properties whose
//! names or values the header block cannot carry (a CR, an LF, a ':' in a
//! name) are kept exactly in `user_properties` as well.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Publish, PublishProperties};
use thiserror::Error;

use crate::capture::HeaderBlock;
pub use crate::capture::MqttFields;

/// A received PUBLISH as the parts of a record.
pub(crate) struct Parts {
    pub headers: Option<Vec<u8>>,
    pub fields: String,
}

pub(crate) fn parts_of(publish: &Publish) -> Parts {
    let mut fields = MqttFields {
        qos: publish.qos as u8,
        retain: publish.retain,
        dup: publish.dup,
        ..MqttFields::default()
    };
    let mut headers = None;
    if let Some(p) = &publish.properties {
        fields.payload_format = p.payload_format_indicator;
        fields.message_expiry = p.message_expiry_interval;
        fields.content_type = p.content_type.clone();
        fields.correlation_data_b64 = p.correlation_data.as_ref().map(|c| BASE64.encode(c));
        fields.subscription_ids = p.subscription_identifiers.clone();
        if !p.user_properties.is_empty() {
            let block = HeaderBlock::build(
                None,
                p.user_properties
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str())),
            );
            let exact = p.user_properties.iter().all(|(n, v)| {
                !n.is_empty()
                    && !n.contains([':', '\r', '\n'])
                    && n.trim() == n
                    && !v.contains(['\r', '\n'])
                    && v.trim() == v
            });
            if !exact {
                fields.user_properties = p.user_properties.clone();
            }
            headers = Some(block.into_bytes());
        }
    }
    Parts {
        headers,
        // A struct of strings and numbers always serialises.
        fields: serde_json::to_string(&fields).unwrap_or_default(),
    }
}

/// Why a message cannot be published to MQTT as given.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MqttSendError {
    #[error("'{0}': an MQTT topic to publish to has no '+' or '#'")]
    WildcardTopic(String),
    #[error("the topic is empty")]
    EmptyTopic,
    #[error("QoS {0} does not exist: MQTT has 0, 1 and 2")]
    BadQos(u8),
    #[error("the MQTT fields are not valid JSON of eventscope's form: {0}")]
    BadFields(String),
}

/// What to publish: topic, payload, user properties and the MQTT fields.
pub(crate) fn publish_of(
    topic: &str,
    response_topic: Option<&str>,
    user_properties: Vec<(String, String)>,
    fields: Option<&str>,
    payload: Bytes,
) -> Result<Publish, MqttSendError> {
    if topic.is_empty() {
        return Err(MqttSendError::EmptyTopic);
    }
    if topic.contains(['+', '#']) {
        return Err(MqttSendError::WildcardTopic(topic.to_owned()));
    }
    let fields: MqttFields = match fields {
        Some(text) => {
            serde_json::from_str(text).map_err(|e| MqttSendError::BadFields(e.to_string()))?
        }
        None => MqttFields::default(),
    };
    let qos = match fields.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        other => return Err(MqttSendError::BadQos(other)),
    };
    let user_properties = if fields.user_properties.is_empty() {
        user_properties
    } else {
        fields.user_properties.clone()
    };
    let properties = PublishProperties {
        payload_format_indicator: fields.payload_format,
        message_expiry_interval: fields.message_expiry,
        topic_alias: None,
        response_topic: response_topic.map(str::to_owned),
        correlation_data: fields.correlation_data().map(Bytes::from),
        user_properties,
        subscription_identifiers: Vec::new(),
        content_type: fields.content_type.clone(),
    };
    let mut publish = Publish::new(topic, qos, payload, Some(properties));
    publish.retain = fields.retain;
    Ok(publish)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_brokers_fields_replay_into_mqtt_as_defaults() {
        let amqp = r#"{"exchange":"orders","routing_key":"a.b","properties":{"message_id":"m-1","delivery_mode":2},"headers":{"x-death":[]}}"#;
        let publish = publish_of("orders/a.b", None, Vec::new(), Some(amqp), Bytes::new())
            .expect("published with MQTT's defaults");
        assert_eq!(publish.qos, QoS::AtMostOnce);
        assert!(!publish.retain);
        assert!(matches!(
            publish_of("t", None, Vec::new(), Some("{qos"), Bytes::new()),
            Err(MqttSendError::BadFields(_))
        ));
    }

    #[test]
    fn a_publish_round_trips_through_a_records_parts() {
        let properties = PublishProperties {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(60),
            topic_alias: None,
            response_topic: Some("replies/1".into()),
            correlation_data: Some(Bytes::from_static(&[0, 1, 255])),
            user_properties: vec![("ce-id".into(), "a1".into()), ("ce-id".into(), "a2".into())],
            subscription_identifiers: vec![3],
            content_type: Some("application/json".into()),
        };
        let mut publish = Publish::new("s/1", QoS::ExactlyOnce, "x", Some(properties));
        publish.retain = true;
        let parts = parts_of(&publish);
        let fields = MqttFields::of_json(Some(&parts.fields)).expect("fields");
        assert_eq!(fields.qos, 2);
        assert!(fields.retain && !fields.dup);
        assert_eq!(fields.correlation_data(), Some(vec![0, 1, 255]));
        assert!(
            fields.user_properties.is_empty(),
            "the header block has them"
        );
        let headers = HeaderBlock::from_wire(parts.headers.expect("headers"));
        let values: Vec<&str> = headers.view().get_all("ce-id").collect();
        assert_eq!(values, ["a1", "a2"]);
        let back = publish_of(
            "s/1",
            Some("replies/1"),
            vec![("ce-id".into(), "a1".into()), ("ce-id".into(), "a2".into())],
            Some(&parts.fields),
            Bytes::from_static(b"x"),
        )
        .expect("publish");
        let mut expected = publish.clone();
        if let Some(p) = expected.properties.as_mut() {
            p.subscription_identifiers.clear();
        }
        assert_eq!(back, expected);
    }

    #[test]
    fn properties_a_header_block_cannot_carry_are_kept_exactly() {
        let properties = PublishProperties {
            user_properties: vec![("a:b".into(), "two\r\nlines".into())],
            ..PublishProperties::default()
        };
        let publish = Publish::new("t", QoS::AtMostOnce, "", Some(properties));
        let fields = MqttFields::of_json(Some(&parts_of(&publish).fields)).expect("fields");
        assert_eq!(
            fields.user_properties,
            [("a:b".to_owned(), "two\r\nlines".to_owned())]
        );
    }

    #[test]
    fn what_mqtt_cannot_publish_is_refused_in_words() {
        let publish = |topic: &str, fields: Option<&str>| {
            publish_of(topic, None, Vec::new(), fields, Bytes::new()).map(|_| ())
        };
        assert_eq!(
            publish("a/+", None),
            Err(MqttSendError::WildcardTopic("a/+".into()))
        );
        assert_eq!(publish("", None), Err(MqttSendError::EmptyTopic));
        assert_eq!(
            publish("a", Some(r#"{"qos":3}"#)),
            Err(MqttSendError::BadQos(3))
        );
    }
}
