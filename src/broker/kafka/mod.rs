//! Kafka, by kafka-protocol's messages under a client of our own: the
//! cluster and its errors in words (`link`), one connection to a broker
//! (`wire`), reading assigned partitions without joining a group
//! (`fetcher`, from offsets `offsets` finds), the monitoring task
//! (`connection`, with the groups' commits polled), which topics a pattern
//! reads (`watch`), a record in the record's terms (`message`), and
//! producing (`send`).

pub(crate) mod connection;
mod fetcher;
pub(crate) mod link;
pub mod message;
mod offsets;
mod send;
mod watch;
mod wire;

pub use link::KafkaLinkError;
pub use message::KafkaSendError;
pub use send::KafkaPublishError;
pub use watch::BadTopicPattern;
pub(crate) use watch::check_pattern;
