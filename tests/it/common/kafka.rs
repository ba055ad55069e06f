//! Kafka helpers shared by the Kafka tests: a private tansu broker (or the
//! install line), a monitor reading topics, and the other side: the demo's
//! small Kafka client (apart from eventscope's monitoring client), here
//! blocking, producing records with keys, partitions, timestamps and
//! headers as given, reading them back, and committing a group's offsets
//! the way a consumer does.

use eventscope::broker::{ConnectionProfile, ReadFrom, SubscriptionSpec};
use eventscope::capture::ConnectionKey;
use eventscope::demo::{KafkaClient, LocalTansu};
use eventscope::session::Session;
use kafka_protocol::records::Record;

pub use super::amqp::{connected, monitor, wait_until};
pub use eventscope::demo::KafkaOut as Out;
pub fn tansu() -> LocalTansu {
    LocalTansu::start().unwrap_or_else(|e| panic!("these tests need a Kafka-API broker: {e}"))
}

/// A monitor reading `patterns` from `from`.
pub fn reading(m: &mut Session, url: &str, patterns: &[&str], from: ReadFrom) -> ConnectionKey {
    let mut profile = ConnectionProfile::new(format!("kafka-{}", patterns.join(",")), url);
    profile.subscriptions = patterns
        .iter()
        .map(|p| SubscriptionSpec {
            read_from: from,
            ..SubscriptionSpec::new(*p)
        })
        .collect();
    let key = m.connect(profile);
    connected(m, key);
    key
}

/// The demo's client, blocking, failing the test on a refusal.
pub struct RawKafka {
    runtime: tokio::runtime::Runtime,
    client: KafkaClient,
}

impl RawKafka {
    pub fn connect(port: u16) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let client = runtime
            .block_on(KafkaClient::connect(port))
            .expect("the test client connects");
        Self { runtime, client }
    }

    /// Produce one record to `topic[partition]`; its offset.
    pub fn produce(&mut self, topic: &str, partition: i32, out: &Out<'_>) -> i64 {
        self.runtime
            .block_on(self.client.produce(topic, partition, out))
            .unwrap_or_else(|e| panic!("produce to {topic}[{partition}]: {e}"))
    }

    /// Every record of `topic[partition]` from `offset` there is now.
    pub fn fetch(&mut self, topic: &str, partition: i32, offset: i64) -> Vec<Record> {
        self.runtime
            .block_on(self.client.fetch(topic, partition, offset, 100))
            .unwrap_or_else(|e| panic!("fetch {topic}[{partition}]: {e}"))
    }

    /// Commit `group`'s next offset of `topic[partition]`.
    pub fn commit(&mut self, group: &str, topic: &str, partition: i32, next: i64) {
        self.runtime
            .block_on(self.client.commit(group, topic, partition, next))
            .unwrap_or_else(|e| panic!("commit of {group} on {topic}[{partition}]: {e}"));
    }
}
