//! RabbitMQ's delivery rules (AMQP 0.9.1).

use super::model::{Delivery, Flow};
use super::rules::{ConsumerState, DeliveryRules};
use super::vocabulary::{AckBody, Class};
use crate::capture::{BrokerKind, Record, Timestamp};

/// RabbitMQ.
pub struct AmqpRules;

impl DeliveryRules for AmqpRules {
    fn broker(&self) -> BrokerKind {
        BrokerKind::Amqp
    }

    fn classify(&self, record: &Record) -> Class {
        if record.reply().is_some() {
            Class::Request
        } else {
            Class::Publish
        }
    }

    fn answer(&self, _delivery: &mut Delivery, _body: &AckBody, _at: Timestamp) {}

    fn merge(&self, _ours: &mut Delivery, _theirs: Delivery) {}

    fn consumer_state(&self, _flow: &Flow, _consumer: &str) -> ConsumerState {
        ConsumerState::Delivered
    }
}
