//! MQTT's delivery rules. A monitor sees publishes (the broker's
//! deliveries to it); consumers' acknowledgements are per hop and never
//! reach it, so a delivery is settled when delivered. What flows get from
//! MQTT is request/response (MQTT 5: a response topic and correlation
//! data; many requests share one response topic, so the answer is the
//! PUBLISH on it with the same correlation data), retained values and
//! QoS duplicates (`flow/mqtt` marks both from the record's fields).

use std::borrow::Cow;

use super::model::{Delivery, Flow};
use super::rules::{ConsumerState, DeliveryRules, PublishMarks};
use super::vocabulary::{AckBody, Class};
use crate::capture::{BrokerKind, MqttFields, Record, Timestamp};

/// MQTT 3.1.1 and 5.
pub struct MqttRules;

/// `topic` and correlation data, the key a request waits on.
fn keyed<'a>(topic: &'a str, record: &Record) -> Cow<'a, str> {
    match MqttFields::correlation_of(record.fields()) {
        Some(correlation) => Cow::Owned(format!("{topic}\u{0}{correlation}")),
        None => Cow::Borrowed(topic),
    }
}

impl DeliveryRules for MqttRules {
    fn broker(&self) -> BrokerKind {
        BrokerKind::Mqtt
    }

    fn classify(&self, record: &Record) -> Class {
        if record.reply().is_some() {
            Class::Request
        } else {
            Class::Publish
        }
    }

    fn request_key<'r>(&self, record: &'r Record) -> Option<Cow<'r, str>> {
        Some(keyed(record.reply()?, record))
    }

    fn answer_key<'r>(&self, record: &'r Record) -> Cow<'r, str> {
        keyed(record.subject(), record)
    }

    fn marks(&self, record: &Record) -> PublishMarks {
        #[derive(serde::Deserialize)]
        struct Flags {
            #[serde(default)]
            retain: bool,
            #[serde(default)]
            dup: bool,
        }
        let Some(flags) = record
            .fields()
            .and_then(|f| serde_json::from_str::<Flags>(f).ok())
        else {
            return PublishMarks::default();
        };
        PublishMarks {
            retained: flags.retain,
            resent: flags.dup,
        }
    }

    fn answer(&self, _delivery: &mut Delivery, _body: &AckBody, _at: Timestamp) {}

    fn merge(&self, _ours: &mut Delivery, _theirs: Delivery) {}

    fn consumer_state(&self, _flow: &Flow, _consumer: &str) -> ConsumerState {
        ConsumerState::Delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(subject: &str, reply: Option<&str>, fields: &str) -> Record {
        crate::capture::RecordPacker::default().pack_incoming(
            1,
            0,
            &crate::capture::Incoming {
                subject: subject.as_bytes(),
                reply: reply.map(str::as_bytes),
                headers: None,
                fields,
                payload: b"",
            },
        )
    }

    #[test]
    fn retained_values_and_packets_sent_again_are_marked_in_the_title() {
        let mut correlator = crate::flow::Correlator::default();
        correlator.learn_brokers(&[BrokerKind::Mqtt]);
        let retained = record("devices/7/state", None, r#"{"qos":1,"retain":true}"#);
        let resent = record("devices/7/temp", None, r#"{"qos":1,"dup":true}"#);
        correlator.ingest(0, &retained);
        correlator.ingest(1, &resent);
        let titles: Vec<String> = correlator.flows().map(crate::flow::title).collect();
        assert_eq!(
            titles,
            [
                "[mqtt] devices/7/state (retained)",
                "[mqtt] devices/7/temp (sent again: dup)"
            ]
        );
    }

    #[test]
    fn a_response_answers_the_request_with_its_correlation_data() {
        let rules = MqttRules;
        let request = record(
            "svc/price",
            Some("replies/c1"),
            r#"{"qos":1,"correlation_data_b64":"AQ=="}"#,
        );
        let other = record(
            "svc/price",
            Some("replies/c1"),
            r#"{"qos":1,"correlation_data_b64":"Ag=="}"#,
        );
        let answer = record(
            "replies/c1",
            None,
            r#"{"qos":0,"correlation_data_b64":"AQ=="}"#,
        );
        assert_eq!(rules.classify(&request), Class::Request);
        assert_eq!(rules.classify(&answer), Class::Publish);
        assert_eq!(rules.request_key(&request), Some(rules.answer_key(&answer)));
        assert_ne!(rules.request_key(&other), Some(rules.answer_key(&answer)));
    }
}
