//! The task behind one MQTT connection: the monitoring link (subscribe to
//! the profile's topic filters, read every PUBLISH into a record, answer
//! what its QoS asks, keep the link alive), reconnection with a marked gap,
//! and the commands (subscribe, unsubscribe, send, jobs).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    Filter, Packet, PingReq, PubAck, PubComp, PubRec, RetainForwardRule, Subscribe,
    SubscribeReasonCode, Unsubscribe,
};

use super::link::{KEEP_ALIVE_SECS, MqttLink, MqttLinkError};
use super::message::parts_of;
use crate::broker::profile::ConnectionProfile;
use crate::broker::reading::Reading;
use crate::broker::retrying::{BrokerLink, Ended, LinkError, Retrying};
use crate::broker::status::SubscriptionState;
use crate::broker::{Command, JobProgress, JobSpec, SendMode, SendOutcome, WireMessage};
use crate::capture::{Incoming, now_timestamp};

/// MQTT's part of the monitoring task (`retrying.rs` has the rest).
pub(crate) struct Mqtt;

pub(crate) type MqttTask = Retrying<Mqtt>;

impl LinkError for MqttLinkError {
    fn is_configuration(&self) -> bool {
        MqttLinkError::is_configuration(self)
    }

    fn is_auth(&self) -> bool {
        MqttLinkError::is_auth(self)
    }
}

impl BrokerLink for Mqtt {
    type Link = MqttLink;
    type Error = MqttLinkError;
    const CONNECTION: &'static str = "an MQTT connection";

    async fn open(task: &MqttTask, url: &str) -> Result<MqttLink, MqttLinkError> {
        let client_id = format!("eventscope-{}", crate::broker::own_token());
        MqttLink::open(&task.profile, url, &client_id).await
    }

    async fn session(
        task: &mut MqttTask,
        link: MqttLink,
        ever_up: &mut bool,
    ) -> Ended<MqttLinkError> {
        task.session(link, ever_up).await
    }

    async fn send(profile: ConnectionProfile, message: WireMessage, mode: SendMode) -> SendOutcome {
        super::send::send(&profile, message, mode).await
    }

    async fn run_job(profile: ConnectionProfile, job: JobSpec, progress: Arc<JobProgress>) {
        super::send::run_job(profile, job, progress).await
    }
}

/// The filter that means "everything": a profile made for NATS says `>`.
fn topic_filter(pattern: &str) -> &str {
    if pattern == ">" { "#" } else { pattern }
}

impl MqttTask {
    fn show_subscriptions(&self, refused: &HashMap<String, String>) {
        let states = self
            .profile
            .subscriptions
            .iter()
            .map(|s| SubscriptionState {
                pattern: s.pattern.clone(),
                queue_group: None,
                active: !refused.contains_key(&s.pattern),
                error: refused.get(&s.pattern).cloned(),
            })
            .collect();
        self.shared.update(|s| s.subscriptions = states);
    }

    async fn session(&mut self, mut link: MqttLink, ever_up: &mut bool) -> Ended<MqttLinkError> {
        let mut watch = Watch {
            reading: Reading::new(
                self.key,
                self.shared.clone(),
                self.sink.clone(),
                self.profile.subscription_capacity.unwrap_or(usize::MAX),
            ),
            waiting_acks: HashMap::new(),
            refused: HashMap::new(),
            pings_waiting: 0,
        };
        for spec in self.profile.subscriptions.clone() {
            if let Err(e) = watch.subscribe(&mut link, &spec.pattern) {
                return Ended::Broken(e);
            }
        }
        if let Err(e) = link.flush().await {
            return Ended::Broken(e);
        }
        self.show_subscriptions(&watch.refused);
        *ever_up = true;
        self.sink.link_came_up(self.key, &self.shared).await;
        let tx = self.sink.tx.clone();
        let every = Duration::from_secs(u64::from(KEEP_ALIVE_SECS) / 2);
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let ended = loop {
            // Everything whole in the buffer, then one batch handed over.
            let now = now_timestamp();
            let mut broken = None;
            loop {
                match link.parse() {
                    Ok(Some(packet)) => {
                        if let Err(e) = self.on_packet(&mut link, &mut watch, packet, now) {
                            broken = Some(e);
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.shared.add_unparseable();
                        broken = Some(e);
                        break;
                    }
                }
            }
            watch.reading.finish_batch();
            if let Some(e) = broken {
                break Ended::Broken(e);
            }
            if let Err(e) = link.flush().await {
                break Ended::Broken(e);
            }
            tokio::select! {
                biased;
                room = tx.reserve(), if !watch.reading.ready.is_empty() => match room {
                    Ok(room) => watch.reading.send_with(room),
                    Err(_) => break Ended::Closed,
                },
                read = link.fill() => {
                    if let Err(e) = read {
                        break Ended::Broken(e);
                    }
                }
                _ = ping.tick() => {
                    if watch.pings_waiting >= 2 {
                        break Ended::Broken(MqttLinkError::Silent { server: link.server.clone() });
                    }
                    watch.pings_waiting += 1;
                    if let Err(e) = link.queue(&Packet::PingReq(PingReq)) {
                        break Ended::Broken(e);
                    }
                }
                command = self.commands.recv() => match command {
                    None | Some(Command::Close) => break Ended::Closed,
                    Some(Command::Subscribe { spec, .. }) => {
                        if self.profile.subscriptions.iter().any(|s| s.pattern == spec.pattern) {
                            continue;
                        }
                        let subscribed = watch.subscribe(&mut link, &spec.pattern);
                        self.profile.subscriptions.push(spec);
                        self.show_subscriptions(&watch.refused);
                        if let Err(e) = subscribed {
                            break Ended::Broken(e);
                        }
                    }
                    Some(Command::Unsubscribe { pattern }) => {
                        self.profile.subscriptions.retain(|s| s.pattern != pattern);
                        watch.refused.remove(&pattern);
                        self.show_subscriptions(&watch.refused);
                        let mut unsubscribe = Unsubscribe::new(topic_filter(&pattern), None);
                        unsubscribe.pkid = link.pkid();
                        if let Err(e) = link.queue(&Packet::Unsubscribe(unsubscribe)) {
                            break Ended::Broken(e);
                        }
                    }
                    Some(Command::InjectPanic) => panic!("a panic injected by a test"),
                    Some(other) => self.spawn_send(other),
                },
            }
        };
        watch.reading.finish_batch();
        while !watch.reading.ready.is_empty() {
            match tx.reserve().await {
                Ok(room) => watch.reading.send_with(room),
                Err(_) => return Ended::Closed,
            }
        }
        if matches!(ended, Ended::Closed) {
            link.close().await;
        }
        ended
    }

    /// One packet from the broker; an error ends the link.
    fn on_packet(
        &self,
        link: &mut MqttLink,
        watch: &mut Watch,
        packet: Packet,
        now: crate::capture::Timestamp,
    ) -> Result<(), MqttLinkError> {
        match packet {
            Packet::Publish(publish) => {
                let parts = parts_of(&publish);
                let reply = publish
                    .properties
                    .as_ref()
                    .and_then(|p| p.response_topic.as_deref());
                watch.reading.message(
                    now,
                    &Incoming {
                        subject: &publish.topic,
                        reply: reply.map(str::as_bytes),
                        headers: parts.headers.as_deref(),
                        fields: &parts.fields,
                        payload: &publish.payload,
                    },
                );
                match publish.qos {
                    QoS::AtMostOnce => {}
                    QoS::AtLeastOnce => {
                        link.queue(&Packet::PubAck(PubAck::new(publish.pkid, None)))?
                    }
                    QoS::ExactlyOnce => {
                        link.queue(&Packet::PubRec(PubRec::new(publish.pkid, None)))?
                    }
                }
            }
            Packet::PubRel(rel) => link.queue(&Packet::PubComp(PubComp::new(rel.pkid, None)))?,
            Packet::PingResp(_) => watch.pings_waiting = 0,
            Packet::SubAck(ack) => {
                let Some(pattern) = watch.waiting_acks.remove(&ack.pkid) else {
                    return Ok(());
                };
                let failure = ack
                    .return_codes
                    .iter()
                    .find(|c| !matches!(c, SubscribeReasonCode::Success(_)));
                if let Some(code) = failure {
                    let why = match code {
                        SubscribeReasonCode::NotAuthorized => {
                            format!("the broker does not let this user read '{pattern}'")
                        }
                        other => format!("the broker refused '{pattern}': {other:?}"),
                    };
                    self.shared.push_error(why.clone());
                    watch.refused.insert(pattern, why);
                    self.show_subscriptions(&watch.refused);
                }
            }
            Packet::Disconnect(d) => return Err(link.disconnected(d)),
            _ => {}
        }
        Ok(())
    }
}

/// What one monitoring link keeps while it runs.
struct Watch {
    reading: Reading,
    /// SUBSCRIBEs not yet answered: packet id -> pattern.
    waiting_acks: HashMap<u16, String>,
    /// Patterns the broker refused, with its reason in words.
    refused: HashMap<String, String>,
    pings_waiting: u32,
}

impl Watch {
    /// Queue a SUBSCRIBE for `pattern`, its answer awaited. The flags as
    /// the publisher set them, and every retained message on subscribing:
    /// a monitor shows what is there.
    fn subscribe(&mut self, link: &mut MqttLink, pattern: &str) -> Result<(), MqttLinkError> {
        let mut filter = Filter::new(topic_filter(pattern), QoS::ExactlyOnce);
        filter.preserve_retain = true;
        filter.retain_forward_rule = RetainForwardRule::OnEverySubscribe;
        let mut subscribe = Subscribe::new(filter, None);
        subscribe.pkid = link.pkid();
        self.waiting_acks.insert(subscribe.pkid, pattern.to_owned());
        link.queue(&Packet::Subscribe(subscribe))
    }
}
