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
use tokio::sync::mpsc;

use super::link::{KEEP_ALIVE_SECS, MqttLink, MqttLinkError};
use super::message::parts_of;
use crate::broker::profile::{ConnectionProfile, InitialConnect};
use crate::broker::reading::Reading;
use crate::broker::status::{ConnectionShared, LinkState, SubscriptionState};
use crate::broker::{ClientError, Command, EventSink, TraceError};
use crate::capture::{ConnectionKey, Incoming, now_timestamp};

pub(crate) struct MqttTask {
    pub key: ConnectionKey,
    pub profile: ConnectionProfile,
    pub mode: InitialConnect,
    pub shared: Arc<ConnectionShared>,
    pub sink: EventSink,
    pub commands: mpsc::Receiver<Command>,
}

/// Why a link ended.
enum Ended {
    /// The user closed the connection.
    Closed,
    Broken(MqttLinkError),
}

/// Longest wait between two attempts to connect.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The filter that means "everything": a profile made for NATS says `>`.
fn topic_filter(pattern: &str) -> &str {
    if pattern == ">" { "#" } else { pattern }
}

impl MqttTask {
    pub async fn run(mut self) {
        let client_id = format!("eventscope-{}", crate::broker::own_token());
        let servers = self.profile.server_list();
        let mut attempt: u32 = 0;
        let mut ever_up = false;
        loop {
            let url = servers
                .get(attempt as usize % servers.len().max(1))
                .cloned()
                .unwrap_or_default();
            match MqttLink::open(&self.profile, &url, &client_id).await {
                Ok(link) => {
                    attempt = 0;
                    match self.session(link, &mut ever_up).await {
                        Ended::Closed => break,
                        Ended::Broken(reason) => self.went_down(reason).await,
                    }
                }
                Err(e) => {
                    attempt += 1;
                    let said = e.to_string();
                    // Retrying cannot fix a refusal or a bad setting; a
                    // headless command reports the first failure.
                    if e.is_configuration() || self.mode == InitialConnect::FailFast {
                        self.shared.set_state(if e.is_auth() {
                            LinkState::AuthError(said)
                        } else {
                            LinkState::Failed(said)
                        });
                        self.idle_until_closed().await;
                        return;
                    }
                    self.shared.set_state(if ever_up {
                        LinkState::Reconnecting {
                            attempt: attempt as usize,
                        }
                    } else {
                        LinkState::Connecting {
                            attempt,
                            last_error: Some(said),
                        }
                    });
                }
            }
            let wait = Duration::from_millis(100 << attempt.min(6)).min(MAX_BACKOFF);
            let until = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    command = self.commands.recv() => {
                        if !self.obey_offline(command) {
                            self.shared.set_state(LinkState::Closed);
                            return;
                        }
                    }
                }
            }
        }
        self.shared.set_state(LinkState::Closed);
    }

    /// Without a link, commands that need none still work; false on Close.
    fn obey_offline(&mut self, command: Option<Command>) -> bool {
        match command {
            None | Some(Command::Close) => false,
            Some(Command::Subscribe { spec, .. }) => {
                if !self
                    .profile
                    .subscriptions
                    .iter()
                    .any(|s| s.pattern == spec.pattern)
                {
                    self.profile.subscriptions.push(spec);
                }
                true
            }
            Some(Command::Unsubscribe { pattern }) => {
                self.profile.subscriptions.retain(|s| s.pattern != pattern);
                true
            }
            Some(other) => {
                self.spawn_send(other);
                true
            }
        }
    }

    /// Sends go on links of their own (`send.rs`); NATS-only requests are
    /// refused in words.
    fn spawn_send(&self, command: Command) {
        let profile = self.profile.clone();
        match command {
            Command::Send {
                message,
                mode,
                reply,
            } => {
                tokio::spawn(async move {
                    let _ = reply.send(super::send::send(&profile, message, mode).await);
                });
            }
            Command::Job { job, progress } => {
                tokio::spawn(super::send::run_job(profile, job, progress));
            }
            Command::Client { reply } | Command::ReadClient { reply } => {
                let _ = reply.send(Err(ClientError::Refused(
                    "this is an MQTT connection: JetStream, KV and the cluster views need NATS"
                        .into(),
                )));
            }
            Command::Trace { reply, .. } => {
                let _ = reply.send(Err(TraceError::Ended));
            }
            Command::Subscribe { .. }
            | Command::Unsubscribe { .. }
            | Command::Close
            | Command::InjectPanic => {}
        }
    }

    async fn idle_until_closed(&mut self) {
        while let Some(command) = self.commands.recv().await {
            if !self.obey_offline(Some(command)) {
                return;
            }
        }
    }

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

    async fn session(&mut self, mut link: MqttLink, ever_up: &mut bool) -> Ended {
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

    async fn went_down(&self, reason: MqttLinkError) {
        let since = (std::time::Instant::now(), now_timestamp());
        self.sink
            .link_went_down(self.key, &self.shared, since, Some(reason.to_string()))
            .await;
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
