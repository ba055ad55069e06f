//! NATS's delivery rules (part 10's state machine, measured on
//! nats-server 2.15.1; see NATS-WIRE.md): what each record on the wire is
//! (`classify`), and how JetStream settles a delivery (`settle`). The
//! correlator's JetStream handlers (`flow/jetstream.rs`, `streams.rs`,
//! `admin.rs`, `objects.rs`) act on what these say.

mod classify;
mod settle;

pub use classify::*;

use super::model::{Delivery, Flow};
use super::rules::{ConsumerState, DeliveryRules};
use super::vocabulary::{AckBody, Class};
use crate::capture::{BrokerKind, Record, Timestamp};

/// NATS core and JetStream.
pub struct NatsRules;

impl DeliveryRules for NatsRules {
    fn broker(&self) -> BrokerKind {
        BrokerKind::Nats
    }

    fn classify(&self, record: &Record) -> Class {
        classify(record)
    }

    fn answer(&self, delivery: &mut Delivery, body: &AckBody, at: Timestamp) {
        settle::answer(delivery, body, at);
    }

    fn merge(&self, ours: &mut Delivery, theirs: Delivery) {
        settle::merge(ours, theirs);
    }

    fn consumer_state(&self, flow: &Flow, consumer: &str) -> ConsumerState {
        settle::consumer_state(flow, consumer)
    }
}
