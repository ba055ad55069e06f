//! Sending to an MQTT broker: one message (publish, or a request that
//! waits for the PUBLISH answering it on its response topic with its
//! correlation data) and background jobs (replays), each on a short link
//! of its own, apart from the monitoring link, so that the monitor sees
//! them once, as anyone else's traffic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    Filter, Packet, PubAckReason, PubCompReason, PubRecReason, PubRel, Publish, Subscribe,
    SubscribeReasonCode,
};

use super::link::{MqttLink, MqttLinkError};
use super::message::{MqttFields, MqttSendError, publish_of};
use crate::broker::nats::send::{JobSink, run_paced};
use crate::broker::profile::ConnectionProfile;
use crate::broker::{JobProgress, JobSpec, SendMode, SendOutcome, WireMessage};

/// Why a message did not reach the MQTT broker as asked.
#[derive(Debug, Error)]
pub enum MqttPublishError {
    #[error(transparent)]
    Message(#[from] MqttSendError),
    #[error(transparent)]
    Link(#[from] MqttLinkError),
    /// The broker's reason code, as it named it.
    #[error("the broker refused the publish to {topic}: {reason}")]
    Refused { topic: String, reason: String },
    #[error("the publish to {topic} did not complete: {reason}")]
    Incomplete { topic: String, reason: String },
    #[error("the broker would not let eventscope read the response topic {topic}: {reason}")]
    ResponseTopic { topic: String, reason: String },
    #[error("timeout: no answer on {topic} with the request's correlation data within {after:?}")]
    NoAnswer { topic: String, after: Duration },
}

/// The link's publish, with its packet id when its QoS needs one.
fn prepared(
    link: &mut MqttLink,
    message: &WireMessage,
    reply: Option<&str>,
) -> Result<Publish, MqttSendError> {
    let mut publish = publish_of(
        &message.subject,
        reply,
        message.header_pairs(),
        message.fields.as_deref(),
        message.payload.clone(),
    )?;
    if publish.qos != QoS::AtMostOnce {
        publish.pkid = link.pkid();
    }
    Ok(publish)
}

/// Publish and wait for what its QoS promises: nothing for 0, PUBACK for
/// 1, PUBREC then PUBCOMP for 2; a refusal in the broker's words.
async fn publish(link: &mut MqttLink, publish: Publish) -> Result<(), MqttPublishError> {
    let (qos, pkid) = (publish.qos, publish.pkid);
    let topic = String::from_utf8_lossy(&publish.topic).into_owned();
    link.send(&Packet::Publish(publish)).await?;
    if qos == QoS::AtMostOnce {
        return Ok(());
    }
    let refused = |reason: String| MqttPublishError::Refused {
        topic: topic.clone(),
        reason,
    };
    loop {
        match link.next().await? {
            Packet::PubAck(ack) if ack.pkid == pkid => {
                return match ack.reason {
                    PubAckReason::Success | PubAckReason::NoMatchingSubscribers => Ok(()),
                    reason => Err(refused(format!("{reason:?}"))),
                };
            }
            Packet::PubRec(rec) if rec.pkid == pkid => match rec.reason {
                PubRecReason::Success | PubRecReason::NoMatchingSubscribers => {
                    link.send(&Packet::PubRel(PubRel::new(pkid, None))).await?;
                }
                reason => return Err(refused(format!("{reason:?}"))),
            },
            Packet::PubComp(comp) if comp.pkid == pkid => {
                return match comp.reason {
                    PubCompReason::Success => Ok(()),
                    reason => Err(MqttPublishError::Incomplete {
                        topic,
                        reason: format!("{reason:?}"),
                    }),
                };
            }
            Packet::Disconnect(d) => return Err(link.disconnected(d).into()),
            _ => {}
        }
    }
}

fn own_client_id(what: &str) -> String {
    format!("eventscope-{what}-{}", crate::broker::own_token())
}

/// Send one message as `mode` says.
pub(crate) async fn send(
    profile: &ConnectionProfile,
    message: WireMessage,
    mode: SendMode,
) -> SendOutcome {
    let url = profile.server_list().into_iter().next().unwrap_or_default();
    let mut link = match MqttLink::open(profile, &url, &own_client_id("send")).await {
        Ok(link) => link,
        Err(e) => return SendOutcome::Failed(e.to_string()),
    };
    let outcome = match mode {
        SendMode::Publish => match JobSink::send(&mut link, message).await {
            Ok(()) => SendOutcome::Published,
            Err(e) => SendOutcome::Failed(e.to_string()),
        },
        SendMode::Request { timeout } => {
            let started = Instant::now();
            match request(&mut link, message, timeout).await {
                Ok(answer) => SendOutcome::Reply {
                    headers: answer
                        .properties
                        .map(|p| p.user_properties)
                        .unwrap_or_default(),
                    status: None,
                    payload: answer.payload,
                    latency: started.elapsed(),
                },
                Err(e) => SendOutcome::Failed(e.to_string()),
            }
        }
        SendMode::JetStream { .. } => {
            SendOutcome::Failed("a JetStream publish needs a NATS connection".into())
        }
    };
    link.close().await;
    outcome
}

/// MQTT 5 request/response: the request names a response topic (the
/// message's reply, or one of eventscope's own) and correlation data (its
/// own, or a fresh token); the answer is the first PUBLISH there with the
/// same correlation data.
async fn request(
    link: &mut MqttLink,
    mut message: WireMessage,
    timeout: Duration,
) -> Result<Publish, MqttPublishError> {
    let token = crate::broker::own_token();
    let response_topic = message
        .reply
        .clone()
        .unwrap_or_else(|| format!("eventscope/replies/{token}"));
    let mut fields = MqttFields::of_json(message.fields.as_deref()).unwrap_or_default();
    if fields.correlation_data_b64.is_none() {
        use base64::Engine;
        fields.correlation_data_b64 =
            Some(base64::engine::general_purpose::STANDARD.encode(token.as_bytes()));
    }
    let correlation = fields.correlation_data();
    message.fields = serde_json::to_string(&fields).ok();
    let mut filter = Filter::new(response_topic.clone(), QoS::AtLeastOnce);
    filter.nolocal = true;
    let pkid = link.pkid();
    let mut subscribe = Subscribe::new(filter, None);
    subscribe.pkid = pkid;
    link.send(&Packet::Subscribe(subscribe)).await?;
    let answer = async {
        loop {
            match link.next().await? {
                Packet::SubAck(ack) if ack.pkid == pkid => {
                    let refused = ack
                        .return_codes
                        .iter()
                        .find(|c| !matches!(c, SubscribeReasonCode::Success(_)));
                    if let Some(code) = refused {
                        return Err(MqttPublishError::ResponseTopic {
                            topic: response_topic.clone(),
                            reason: format!("{code:?}"),
                        });
                    }
                    // Its PUBACK, or PUBREC (answered below), comes back
                    // in this loop too.
                    let request = prepared(link, &message, Some(&response_topic))?;
                    link.send(&Packet::Publish(request)).await?;
                }
                Packet::PubRec(rec) => {
                    link.send(&Packet::PubRel(PubRel::new(rec.pkid, None)))
                        .await?;
                }
                Packet::Publish(answer)
                    if answer.topic == response_topic.as_bytes()
                        && answer
                            .properties
                            .as_ref()
                            .and_then(|p| p.correlation_data.as_deref())
                            == correlation.as_deref() =>
                {
                    return Ok(answer);
                }
                Packet::Disconnect(d) => return Err(link.disconnected(d).into()),
                _ => {}
            }
        }
    };
    tokio::time::timeout(timeout, answer)
        .await
        .unwrap_or_else(|_| {
            Err(MqttPublishError::NoAnswer {
                topic: response_topic.clone(),
                after: timeout,
            })
        })
}

impl JobSink for MqttLink {
    type Error = MqttPublishError;

    async fn send(&mut self, message: WireMessage) -> Result<(), MqttPublishError> {
        let p = prepared(self, &message, message.reply.as_deref())?;
        publish(self, p).await
    }
}

/// Run a job (a replay) on one link of its own, in the source's order.
pub(crate) async fn run_job(profile: ConnectionProfile, job: JobSpec, progress: Arc<JobProgress>) {
    let url = profile.server_list().into_iter().next().unwrap_or_default();
    let mut link = match MqttLink::open(&profile, &url, &own_client_id("replay")).await {
        Ok(link) => link,
        Err(e) => return progress.abandon(e.to_string()),
    };
    run_paced(job, &progress, &mut link).await;
    link.close().await;
    progress.finish();
}
