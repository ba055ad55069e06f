//! Which broker a connection speaks, and so each record read on it: a
//! record names its connection (`Record::connection`), the store knows that
//! connection's broker (`Store::broker_of`), and a capture line says it
//! (`"broker"`, absent for NATS, which every file written so far holds).
//! The flow engine chooses the broker's delivery rules by it.
//!
//! A new broker adds its variant here (with its URL schemes), its rules in
//! `flow/`, and its connection in `broker/` (see docs/adding-a-broker.md).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrokerKind {
    /// NATS core and JetStream.
    #[default]
    Nats,
    /// MQTT 3.1.1 and 5 (Mosquitto, EMQX, HiveMQ, Solace PubSub+).
    Mqtt,
    /// AMQP 0.9.1 (RabbitMQ). A record's subject is `EXCHANGE/ROUTING_KEY`
    /// (the default exchange is `amq.default`, the name RabbitMQ also
    /// accepts for it).
    Amqp,
    /// Kafka (and the brokers that speak its protocol: Redpanda, tansu,
    /// WarpStream). A record's subject is its topic.
    Kafka,
}

impl BrokerKind {
    /// Every broker this build speaks.
    pub const ALL: &[BrokerKind] = &[
        BrokerKind::Nats,
        BrokerKind::Mqtt,
        BrokerKind::Amqp,
        BrokerKind::Kafka,
    ];

    /// The name a capture line and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Nats => "nats",
            Self::Mqtt => "mqtt",
            Self::Amqp => "amqp",
            Self::Kafka => "kafka",
        }
    }

    /// What separates the levels of its subjects (topics).
    pub fn separator(self) -> char {
        match self {
            // Topics are often dotted (`orders.v1.created`).
            Self::Nats | Self::Kafka => '.',
            // The exchange, then the routing key whole: its dots mean
            // something only to a topic exchange's bindings.
            Self::Mqtt | Self::Amqp => '/',
        }
    }

    /// The subject tree's root of this broker's names (NATS's are at the
    /// top, as they always were). A space: no NATS subject token has one.
    pub fn tree_root(self) -> Option<&'static str> {
        match self {
            Self::Nats => None,
            Self::Mqtt => Some("MQTT topics"),
            Self::Amqp => Some("RabbitMQ exchanges"),
            Self::Kafka => Some("Kafka topics"),
        }
    }

    /// The URL schemes that pick this broker.
    pub fn schemes(self) -> &'static [&'static str] {
        match self {
            Self::Nats => &["nats", "tls", "ws", "wss"],
            Self::Mqtt => &["mqtt", "mqtts"],
            Self::Amqp => &["amqp", "amqps"],
            Self::Kafka => &["kafka", "kafkas"],
        }
    }

    /// The broker a URL's scheme picks (no scheme: NATS, as `nats` and
    /// natscli take `host:port`); `None` for a scheme no broker here has.
    pub fn from_url(url: &str) -> Option<Self> {
        let Some((scheme, _)) = url.trim().split_once("://") else {
            return Some(Self::Nats);
        };
        let scheme = scheme.to_ascii_lowercase();
        Self::ALL
            .iter()
            .copied()
            .find(|b| b.schemes().contains(&scheme.as_str()))
    }
}

impl std::fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_scheme_picks_the_broker() {
        for url in ["nats://a:4222", "TLS://a", "ws://a", "wss://a", "a:4222"] {
            assert_eq!(BrokerKind::from_url(url), Some(BrokerKind::Nats), "{url}");
        }
        assert_eq!(BrokerKind::from_url("gopher://a"), None);
        for url in ["amqp://u:p@a:5672/%2f", "AMQPS://a"] {
            assert_eq!(BrokerKind::from_url(url), Some(BrokerKind::Amqp), "{url}");
        }
        for url in ["mqtt://a:1883", "MQTTS://a:8883"] {
            assert_eq!(BrokerKind::from_url(url), Some(BrokerKind::Mqtt), "{url}");
        }
    }

    #[test]
    fn its_name_round_trips_through_a_capture_line() {
        for broker in BrokerKind::ALL {
            let json = serde_json::to_string(broker).expect("json");
            assert_eq!(json, format!("\"{}\"", broker.name()));
            let back: BrokerKind = serde_json::from_str(&json).expect("back");
            assert_eq!(back, *broker);
        }
        assert!(serde_json::from_str::<BrokerKind>("\"carrier-pigeon\"").is_err());
    }
}
