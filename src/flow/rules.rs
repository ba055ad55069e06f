//! A broker's delivery rules, behind one interface. The flow engine (the
//! model, the correlator's bookkeeping, selection, layout, the verdict,
//! export) is broker-neutral; what a record means and how a consumer's
//! answers settle a message are the broker's own, and differ: JetStream
//! honours the earliest ACK or TERM by its time, RabbitMQ settles on the
//! first ack or reject of a delivery tag and requeues on a nack, Kafka
//! settles by a committed offset passing the message.
//!
//! Each broker implements `DeliveryRules` in a room of `flow/` of its own
//! (`nats/` first) and is chosen by the broker of the record's connection
//! (`rules_for`). They speak the words of `vocabulary.rs` (names from
//! JetStream, the first broker): a new broker maps its terms onto them
//! (a queue or a topic partition is the stream, the delivery count or
//! `x-death` count is `delivered`, the offset is the stream sequence); see
//! docs/adding-a-broker.md.

use std::borrow::Cow;

use super::amqp::AmqpRules;
use super::kafka::KafkaRules;
use super::model::{Delivery, Flow};
use super::mqtt::MqttRules;
use super::nats::NatsRules;
use super::vocabulary::{AckBody, Class};
use crate::capture::{BrokerKind, Record, Timestamp};

/// Where one consumer stands with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumerState {
    Acked,
    Terminated,
    MaxDeliveries,
    /// Delivered; the consumer expects no answer.
    Delivered,
    /// Not delivered yet, or delivered and not settled.
    Waiting,
    /// Deleted before it settled the message.
    Deleted(Timestamp),
}

/// What a broker's server does with its messages, as far as flows need.
pub trait DeliveryRules: Sync {
    fn broker(&self) -> BrokerKind;

    /// What one record is, from the wire alone.
    fn classify(&self, record: &Record) -> Class;

    /// The key a request's answer will come under: its reply subject for
    /// NATS (an inbox of its own), the response topic and correlation data
    /// for MQTT (many requests share one response topic).
    fn request_key<'r>(&self, record: &'r Record) -> Option<Cow<'r, str>> {
        record.reply().map(Cow::Borrowed)
    }

    /// The key under which a record would answer a request.
    fn answer_key<'r>(&self, record: &'r Record) -> Cow<'r, str> {
        Cow::Borrowed(record.subject())
    }

    /// What the broker said of a publish beyond its class: a retained
    /// value, a packet sent again (MQTT's dup flag).
    fn marks(&self, _record: &Record) -> PublishMarks {
        PublishMarks::default()
    }

    /// Apply one consumer answer to a delivery as the server does.
    fn answer(&self, delivery: &mut Delivery, body: &AckBody, at: Timestamp);

    /// The same delivery seen twice (two flows merged): keep what each
    /// saw, settled as the server settles.
    fn merge(&self, ours: &mut Delivery, theirs: Delivery);

    /// Where `consumer` stands with the message of `flow`.
    fn consumer_state(&self, flow: &Flow, consumer: &str) -> ConsumerState;
}

/// What a broker said of one publish, for the flow's title.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishMarks {
    /// A retained value (MQTT): the broker's last known one, sent on
    /// subscribing, maybe long after it was published.
    pub retained: bool,
    /// The same packet sent again (MQTT QoS 1 or 2 with its dup flag): a
    /// duplicate a consumer may see twice.
    pub resent: bool,
}

/// The rules of a broker.
pub fn rules_for(broker: BrokerKind) -> &'static dyn DeliveryRules {
    match broker {
        BrokerKind::Nats => &NatsRules,
        BrokerKind::Mqtt => &MqttRules,
        BrokerKind::Amqp => &AmqpRules,
        BrokerKind::Kafka => &KafkaRules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_broker_has_its_rules() {
        for broker in BrokerKind::ALL {
            assert_eq!(rules_for(*broker).broker(), *broker);
        }
    }
}
