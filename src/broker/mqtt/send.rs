//! Sending to an MQTT broker: one message (publish, or a request that
//! waits for the PUBLISH answering it on its response topic with its
//! correlation data) and background jobs (replays), each on a short link
//! of its own, apart from the monitoring link, so that the monitor sees
//! them once, as anyone else's traffic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    Filter, Packet, PubAckReason, PubCompReason, PubRecReason, PubRel, Publish, Subscribe,
    SubscribeReasonCode,
};

use super::link::{MqttLink, MqttLinkError};
use super::message::{MqttFields, publish_of};
use crate::broker::nats::send::{JobSink, run_paced};
use crate::broker::profile::ConnectionProfile;
use crate::broker::{JobProgress, JobSpec, SendMode, SendOutcome, WireMessage};

/// The link's publish, with its packet id when its QoS needs one.
fn prepared(
    link: &mut MqttLink,
    message: &WireMessage,
    reply: Option<&str>,
) -> Result<Publish, String> {
    let mut publish = publish_of(
        &message.subject,
        reply,
        message.header_pairs(),
        message.fields.as_deref(),
        message.payload.clone(),
    )
    .map_err(|e| e.to_string())?;
    if publish.qos != QoS::AtMostOnce {
        publish.pkid = link.pkid();
    }
    Ok(publish)
}

/// Publish and wait for what its QoS promises: nothing for 0, PUBACK for
/// 1, PUBREC then PUBCOMP for 2; a refusal in the broker's words.
async fn publish(link: &mut MqttLink, publish: Publish) -> Result<(), String> {
    let (qos, pkid, topic) = (publish.qos, publish.pkid, publish.topic.clone());
    link.send(&Packet::Publish(publish))
        .await
        .map_err(|e| e.to_string())?;
    let topic = String::from_utf8_lossy(&topic).into_owned();
    if qos == QoS::AtMostOnce {
        return Ok(());
    }
    loop {
        match link.next().await.map_err(|e| e.to_string())? {
            Packet::PubAck(ack) if ack.pkid == pkid => {
                return match ack.reason {
                    PubAckReason::Success | PubAckReason::NoMatchingSubscribers => Ok(()),
                    reason => Err(format!(
                        "the broker refused the publish to {topic}: {reason:?}"
                    )),
                };
            }
            Packet::PubRec(rec) if rec.pkid == pkid => {
                if !matches!(
                    rec.reason,
                    PubRecReason::Success | PubRecReason::NoMatchingSubscribers
                ) {
                    return Err(format!(
                        "the broker refused the publish to {topic}: {:?}",
                        rec.reason
                    ));
                }
                link.send(&Packet::PubRel(PubRel::new(pkid, None)))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Packet::PubComp(comp) if comp.pkid == pkid => {
                return match comp.reason {
                    PubCompReason::Success => Ok(()),
                    reason => Err(format!(
                        "the publish to {topic} did not complete: {reason:?}"
                    )),
                };
            }
            Packet::Disconnect(d) => {
                return Err(format!("the broker disconnected: {:?}", d.reason_code));
            }
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
        SendMode::Publish => match prepared(&mut link, &message, message.reply.as_deref()) {
            Ok(p) => match publish(&mut link, p).await {
                Ok(()) => SendOutcome::Published,
                Err(e) => SendOutcome::Failed(e),
            },
            Err(e) => SendOutcome::Failed(e),
        },
        SendMode::Request { timeout } => request(&mut link, message, timeout).await,
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
async fn request(link: &mut MqttLink, mut message: WireMessage, timeout: Duration) -> SendOutcome {
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
    if let Err(e) = link.send(&Packet::Subscribe(subscribe)).await {
        return SendOutcome::Failed(e.to_string());
    }
    let started = Instant::now();
    let answer = tokio::time::timeout(timeout, async {
        loop {
            match link.next().await? {
                Packet::SubAck(ack) if ack.pkid == pkid => {
                    if let Some(code) = ack
                        .return_codes
                        .iter()
                        .find(|c| !matches!(c, SubscribeReasonCode::Success(_)))
                    {
                        return Ok(Err(format!(
                            "the broker would not let eventscope read the response topic {response_topic}: {code:?}"
                        )));
                    }
                    let request = match prepared(link, &message, Some(&response_topic)) {
                        Ok(p) => p,
                        Err(e) => return Ok(Err(e)),
                    };
                    // Its PUBACK, or PUBREC (answered below), comes back
                    // in this loop too.
                    link.send(&Packet::Publish(request)).await?;
                }
                Packet::PubRec(rec) => {
                    link.send(&Packet::PubRel(PubRel::new(rec.pkid, None))).await?;
                }
                Packet::Publish(answer)
                    if answer.topic == response_topic.as_bytes()
                        && answer.properties.as_ref().and_then(|p| p.correlation_data.as_deref())
                            == correlation.as_deref() =>
                {
                    return Ok::<_, MqttLinkError>(Ok(answer));
                }
                _ => {}
            }
        }
    })
    .await;
    match answer {
        Ok(Ok(Ok(answer))) => SendOutcome::Reply {
            headers: answer
                .properties
                .map(|p| p.user_properties)
                .unwrap_or_default(),
            status: None,
            payload: answer.payload,
            latency: started.elapsed(),
        },
        Ok(Ok(Err(refused))) => SendOutcome::Failed(refused),
        Ok(Err(e)) => SendOutcome::Failed(e.to_string()),
        Err(_) => SendOutcome::Failed(format!(
            "timeout: no answer on {response_topic} with the request's correlation data within {timeout:?}"
        )),
    }
}

impl JobSink for MqttLink {
    async fn send(&mut self, message: WireMessage) -> Result<(), String> {
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
