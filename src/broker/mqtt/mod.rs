//! MQTT (3.1.1 brokers answer MQTT 5 clients too: Mosquitto, EMQX,
//! HiveMQ, Solace PubSub+): the monitoring link (`link`, `connection`),
//! a PUBLISH in the record's terms (`message`), and sends on short links
//! of their own (`send`). rumqttc's codec frames the packets.

pub(crate) mod connection;
pub(crate) mod link;
pub mod message;
mod send;

pub use link::MqttLinkError;
pub use message::{MqttFields, MqttSendError};
