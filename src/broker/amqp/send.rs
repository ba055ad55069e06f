//! Sending to RabbitMQ: one message (publish with publisher confirms and
//! `mandatory`, so an unroutable message is said, not lost in silence; or
//! a request that waits on a reply queue for the answer with its
//! correlation id) and background jobs (replays), on a connection of their
//! own, apart from the monitoring one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Confirmation, Connection};
use thiserror::Error;

use super::link::{AmqpLinkError, open, refusal};
use super::message::{publish_properties, split_subject};
use crate::broker::nats::send::{JobSink, run_paced};
use crate::broker::profile::ConnectionProfile;
use crate::broker::{JobProgress, JobSpec, SendMode, SendOutcome, WireMessage};
use crate::capture::AmqpFields;

/// Why a message did not reach RabbitMQ as asked.
#[derive(Debug, Error)]
pub enum AmqpPublishError {
    #[error(transparent)]
    Link(#[from] AmqpLinkError),
    #[error(
        "'{0}' does not name an exchange and routing key: write EXCHANGE/ROUTING_KEY (amq.default/QUEUE for the default exchange)"
    )]
    BadSubject(String),
    #[error("the AMQP fields are not valid JSON of eventscope's form: {0}")]
    BadFields(String),
    #[error("RabbitMQ refused the publish to {subject}: {reason}")]
    Refused { subject: String, reason: String },
    #[error("RabbitMQ could not route {subject} to any queue: it was returned ({reason})")]
    Unroutable { subject: String, reason: String },
    #[error("RabbitMQ did not take {subject}: it answered with a nack")]
    Nacked { subject: String },
    #[error("cannot make a reply queue: {0}")]
    ReplyQueue(String),
    #[error("timeout: no answer on {queue} with the request's correlation id within {after:?}")]
    NoAnswer { queue: String, after: Duration },
}

/// A channel with publisher confirms on.
async fn confirming(connection: &Connection) -> Result<Channel, AmqpPublishError> {
    let refused = |e: lapin::Error| AmqpPublishError::Refused {
        subject: String::new(),
        reason: refusal(&e),
    };
    let channel = connection.create_channel().await.map_err(refused)?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(refused)?;
    Ok(channel)
}

/// Publish one message and wait for the broker's confirm: a return
/// (unroutable with `mandatory`) and a nack are failures in words.
async fn publish(
    channel: &Channel,
    message: &WireMessage,
    reply: Option<&str>,
) -> Result<(), AmqpPublishError> {
    let (exchange, routing_key) = split_subject(&message.subject)
        .ok_or_else(|| AmqpPublishError::BadSubject(message.subject.clone()))?;
    let fields = match message.fields.as_deref() {
        Some(json) => serde_json::from_str::<AmqpFields>(json)
            .map_err(|e| AmqpPublishError::BadFields(e.to_string()))?,
        None => AmqpFields::default(),
    };
    let properties = publish_properties(&fields, &message.header_pairs(), reply);
    let refused = |e: lapin::Error| AmqpPublishError::Refused {
        subject: message.subject.clone(),
        reason: refusal(&e),
    };
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &message.payload,
            properties,
        )
        .await
        .map_err(refused)?
        .await
        .map_err(refused)?;
    match confirm {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
            Err(AmqpPublishError::Unroutable {
                subject: message.subject.clone(),
                reason: returned.reply_text.as_str().to_owned(),
            })
        }
        Confirmation::Nack(None) => Err(AmqpPublishError::Nacked {
            subject: message.subject.clone(),
        }),
    }
}

fn own_name(what: &str) -> String {
    format!("eventscope-{what}-{}", crate::broker::own_token())
}

/// Send one message as `mode` says.
pub(crate) async fn send(
    profile: &ConnectionProfile,
    message: WireMessage,
    mode: SendMode,
) -> SendOutcome {
    let url = profile.server_list().into_iter().next().unwrap_or_default();
    let connection = match open(profile, &url, &own_name("send")).await {
        Ok(connection) => connection,
        Err(e) => return SendOutcome::Failed(e.to_string()),
    };
    let outcome = match mode {
        SendMode::Publish => match publish_once(&connection, &message).await {
            Ok(()) => SendOutcome::Published,
            Err(e) => SendOutcome::Failed(e.to_string()),
        },
        SendMode::Request { timeout } => {
            let started = Instant::now();
            match request(&connection, message, timeout).await {
                Ok((headers, payload)) => SendOutcome::Reply {
                    headers,
                    status: None,
                    payload: payload.into(),
                    latency: started.elapsed(),
                },
                Err(e) => SendOutcome::Failed(e.to_string()),
            }
        }
        SendMode::JetStream { .. } => {
            SendOutcome::Failed("a JetStream publish needs a NATS connection".into())
        }
    };
    let _ = connection.close(200, "done".into()).await;
    outcome
}

async fn publish_once(
    connection: &Connection,
    message: &WireMessage,
) -> Result<(), AmqpPublishError> {
    let channel = confirming(connection).await?;
    publish(&channel, message, message.reply.as_deref()).await
}

/// RPC over RabbitMQ: a private reply queue (the message's own `reply-to`
/// is used as given), a correlation id (its own, or a fresh token), and
/// the first message there with that correlation id is the answer.
async fn request(
    connection: &Connection,
    mut message: WireMessage,
    timeout: Duration,
) -> Result<(Vec<(String, String)>, Vec<u8>), AmqpPublishError> {
    let channel = confirming(connection).await?;
    let reply_failed = |e: lapin::Error| AmqpPublishError::ReplyQueue(refusal(&e));
    let reply_queue = match &message.reply {
        Some(queue) => queue.clone(),
        None => channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(reply_failed)?
            .name()
            .as_str()
            .to_owned(),
    };
    let mut fields = match message.fields.as_deref() {
        Some(json) => serde_json::from_str::<AmqpFields>(json)
            .map_err(|e| AmqpPublishError::BadFields(e.to_string()))?,
        None => AmqpFields::default(),
    };
    let correlation = fields
        .properties
        .correlation_id
        .get_or_insert_with(crate::broker::own_token)
        .clone();
    message.fields = serde_json::to_string(&fields).ok();
    let mut answers = channel
        .basic_consume(
            reply_queue.as_str().into(),
            own_name("reply").as_str().into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(reply_failed)?;
    publish(&channel, &message, Some(&reply_queue)).await?;
    let answer = async {
        while let Some(delivery) = answers.next().await {
            let Ok(delivery) = delivery else { break };
            let properties = &delivery.properties;
            if properties.correlation_id().as_ref().map(|c| c.as_str())
                == Some(correlation.as_str())
            {
                let headers = properties
                    .headers()
                    .as_ref()
                    .map(|table| {
                        table
                            .inner()
                            .iter()
                            .map(|(k, v)| {
                                let text = match v {
                                    lapin::types::AMQPValue::LongString(s) => {
                                        String::from_utf8_lossy(s.as_bytes()).into_owned()
                                    }
                                    other => format!("{other:?}"),
                                };
                                (k.as_str().to_owned(), text)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                return Some((headers, delivery.data));
            }
        }
        None
    };
    match tokio::time::timeout(timeout, answer).await {
        Ok(Some(answer)) => Ok(answer),
        _ => Err(AmqpPublishError::NoAnswer {
            queue: reply_queue,
            after: timeout,
        }),
    }
}

/// A replay's channel: confirms on, each message confirmed before the next
/// (a replay keeps the capture's order and says what failed).
struct ReplaySink(Channel);

impl JobSink for ReplaySink {
    type Error = AmqpPublishError;

    async fn send(&mut self, message: WireMessage) -> Result<(), AmqpPublishError> {
        let reply = message.reply.clone();
        publish(&self.0, &message, reply.as_deref()).await
    }
}

/// Run a job (a replay) on a connection of its own, in the source's order.
pub(crate) async fn run_job(profile: ConnectionProfile, job: JobSpec, progress: Arc<JobProgress>) {
    let url = profile.server_list().into_iter().next().unwrap_or_default();
    let connection = match open(&profile, &url, &own_name("replay")).await {
        Ok(connection) => connection,
        Err(e) => return progress.abandon(e.to_string()),
    };
    match confirming(&connection).await {
        Ok(channel) => run_paced(job, &progress, &mut ReplaySink(channel)).await,
        Err(e) => progress.abandon(e.to_string()),
    }
    let _ = connection.close(200, "done".into()).await;
    progress.finish();
}
