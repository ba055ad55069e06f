//! AMQP 0.9.1 (RabbitMQ) with lapin: the monitoring connection
//! (`connection`, a private queue bound where the user says, the firehose
//! read as the publishes and deliveries it describes), opening a
//! connection and its errors in words (`link`), a message in the record's
//! terms (`message`), and sends on connections of their own (`send`).

pub(crate) mod connection;
pub(crate) mod link;
pub mod message;
mod send;
mod watch;

pub use link::AmqpLinkError;
pub use send::AmqpPublishError;
pub use watch::BadBinding;
pub(crate) use watch::check_pattern;
