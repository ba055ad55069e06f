//! Flows through a log broker (Kafka): a record written at an offset ->
//! each consumer group committing past it (processed) or not yet (its
//! lag), and the copies a failing consumer writes to retry and dead-letter
//! topics, each one more hop of the same flow, so `orders` ->
//! `orders-retry-1` -> `orders-retry-2` -> `orders.DLT` is one timeline.
//!
//! What the wire cannot show is not claimed: a commit is seen when the
//! poll sees it (its time is the poll's, within a second), and a group
//! that committed past a record processed it, which a consumer that
//! commits before processing makes untrue.

use std::collections::{BTreeMap, HashMap};

use super::correlator::Correlator;
use super::model::{Delivery, Flow, FlowId, FlowKind, Outcome, Role, StepKind};
use super::vocabulary::{LogEvent, Written};
use crate::capture::{GroupCommit, Record, Seq, Timestamp};

/// One partition of a topic.
type Partition = (String, i32);

/// The records and groups the correlator knows, per partition.
#[derive(Debug, Default)]
pub(crate) struct Logs {
    /// Offset -> the flow that wrote it.
    written: HashMap<Partition, BTreeMap<i64, FlowId>>,
    /// Group -> its committed offset, per partition.
    groups: HashMap<Partition, BTreeMap<String, i64>>,
    entries: usize,
}

impl Logs {
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Drop the records of flows no longer kept.
    pub fn forget_before(&mut self, first: FlowId) {
        for offsets in self.written.values_mut() {
            offsets.retain(|_, id| *id >= first);
        }
        self.written.retain(|_, offsets| !offsets.is_empty());
        self.entries = self.written.values().map(BTreeMap::len).sum();
    }

    fn record(&mut self, at: Partition, offset: i64, id: FlowId) {
        if self
            .written
            .entry(at)
            .or_default()
            .insert(offset, id)
            .is_none()
        {
            self.entries += 1;
        }
    }

    fn flow_at(&self, at: &Partition, offset: i64) -> Option<FlowId> {
        self.written.get(at)?.get(&offset).copied()
    }
}

/// A flow's writes to the log and the groups past the last one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogHops {
    /// Where it was written, in the order seen: topic, partition, offset.
    pub writes: Vec<(String, i32, i64)>,
    /// Beside each write, the write its copier named (Spring's headers).
    pub origins: Vec<Option<(String, i32, i64)>>,
    /// The last write is to a dead-letter topic.
    pub dead_lettered: bool,
    /// Groups that committed past the last write.
    pub processed_by: Vec<String>,
    /// Groups reading the last write's partition, not past it yet.
    pub waiting: Vec<String>,
}

impl LogHops {
    fn push(&mut self, written: &Written) {
        self.writes
            .push((written.topic.clone(), written.partition, written.offset));
        self.origins.push(written.origin.clone());
    }

    fn is_named(&self, index: usize) -> bool {
        self.origins
            .iter()
            .any(|o| o.as_ref() == Some(&self.writes[index]))
    }

    /// Where the record is now: the last write no copy names as its
    /// original. Copies on different topics are fetched with no order
    /// between them (a dead letter can be seen before the retry copy it
    /// names), so arrival alone cannot say.
    pub fn terminal(&self) -> Option<usize> {
        (0..self.writes.len()).rev().find(|i| !self.is_named(*i))
    }

    /// The copy made of write `index`: the one naming it, else the next
    /// seen (copies linked by an id header alone).
    fn next_of(&self, index: usize) -> Option<usize> {
        let at = &self.writes[index];
        self.origins
            .iter()
            .position(|o| o.as_ref() == Some(at))
            .or_else(|| (index + 1 < self.writes.len()).then_some(index + 1))
    }
}

fn hops_mut(flow: &mut Flow) -> &mut LogHops {
    flow.detail_mut()
        .extras_mut()
        .logged
        .get_or_insert_with(Box::default)
}

/// A consumer group's lane (and the map's box): "group NAME".
pub fn group_lane(group: &str) -> String {
    format!("group {group}")
}

impl Correlator {
    pub(super) fn on_logged(&mut self, seq: Seq, record: &Record, event: &LogEvent) {
        match event {
            LogEvent::Written(written) => self.on_written(seq, record, written),
            LogEvent::Committed(commit) => self.on_commit(seq, record.received_at, commit),
        }
    }

    /// The flow a copy continues: the record it names, else an earlier
    /// record on another topic with the same id header.
    fn continued(&self, written: &Written, identity: Option<&str>) -> Option<FlowId> {
        if let Some((topic, partition, offset)) = &written.origin
            && let Some(id) = self
                .logs
                .flow_at(&(topic.clone(), *partition), *offset)
                .filter(|id| self.get(*id).is_some())
        {
            return Some(id);
        }
        let id = *self.by_msg_id.get(identity?)?;
        let flow = self.get(id)?;
        let last = flow.detail().log_hops()?.writes.last()?;
        (flow.broker == crate::capture::BrokerKind::Kafka && last.0 != written.topic).then_some(id)
    }

    fn on_written(&mut self, seq: Seq, record: &Record, written: &Written) {
        let at = record.received_at;
        let headers = self.publish_headers(record);
        let partition = (written.topic.clone(), written.partition);
        let id = match self.continued(written, headers.identity.as_deref()) {
            Some(id) => {
                if let Some(flow) = self.get_mut(id) {
                    copied(flow, seq, at, written);
                }
                if let Some(key) = headers.identity {
                    self.by_msg_id.insert(key, id);
                }
                id
            }
            None => {
                let mut flow = Flow::new(self.next_id(), FlowKind::Logged, record.subject(), at);
                flow.broker = self.broker_of(record.connection);
                flow.first_record = Some(seq);
                flow.producer = headers.producer;
                flow.trace_id = headers.trace_id;
                flow.msg_id = headers.msg_id;
                if let Some(key) = headers.identity {
                    self.on_identity(&mut flow, key);
                }
                let producer = flow
                    .producer
                    .clone()
                    .unwrap_or_else(|| super::model::UNKNOWN_PRODUCER.into());
                let p = flow.lane(&producer, Role::Producer);
                let t = flow.lane(&written.topic, Role::Stream);
                let key = written
                    .key
                    .as_deref()
                    .map(|k| format!(", key {k}"))
                    .unwrap_or_default();
                let label = format!("write [{}@{}]{key}", written.partition, written.offset);
                flow.step(at, Some(seq), StepKind::Publish, p, t, label);
                hops_mut(&mut flow).push(written);
                self.push(flow)
            }
        };
        self.logs.record(partition.clone(), written.offset, id);
        // The groups that read this partition and are not past it wait;
        // those already past it (their commit polled before the record was
        // fetched: two links, no order between them) processed it.
        let (behind, past): (Vec<_>, Vec<_>) = self
            .logs
            .groups
            .get(&partition)
            .into_iter()
            .flatten()
            .map(|(group, committed)| (group.clone(), *committed))
            .partition(|(_, committed)| *committed <= written.offset);
        if let Some(flow) = self.get_mut(id) {
            flow.updated_at = flow.updated_at.max(at);
            let write = (written.topic.as_str(), written.partition, written.offset);
            for (group, _) in behind {
                wait_for(flow, &group, at, write);
            }
            for (group, committed) in past {
                let commit = GroupCommit {
                    group,
                    topic: written.topic.clone(),
                    partition: written.partition,
                    committed,
                    end: committed,
                };
                processed(flow, seq, at, &commit, written.offset);
            }
        }
    }

    fn on_commit(&mut self, seq: Seq, at: Timestamp, commit: &GroupCommit) {
        let partition = (commit.topic.clone(), commit.partition);
        let before = self
            .logs
            .groups
            .entry(partition.clone())
            .or_default()
            .insert(commit.group.clone(), commit.committed);
        let passed: Vec<(i64, FlowId)> = self
            .logs
            .written
            .get(&partition)
            .map(|offsets| {
                offsets
                    .range(before.unwrap_or(i64::MIN)..commit.committed)
                    .map(|(o, id)| (*o, *id))
                    .collect()
            })
            .unwrap_or_default();
        for (offset, id) in passed {
            if let Some(flow) = self.get_mut(id) {
                processed(flow, seq, at, commit, offset);
            }
        }
        if before.is_none() {
            // A group first seen on this partition waits for what is past
            // its commit.
            let waiting: Vec<(i64, FlowId)> = self
                .logs
                .written
                .get(&partition)
                .map(|o| {
                    o.range(commit.committed..)
                        .map(|(o, id)| (*o, *id))
                        .collect()
                })
                .unwrap_or_default();
            for (offset, id) in waiting {
                if let Some(flow) = self.get_mut(id) {
                    let write = (commit.topic.as_str(), commit.partition, offset);
                    wait_for(flow, &commit.group, at, write);
                }
            }
        }
    }
}

/// A consumer copied the record on (a retry or dead-letter topic): the
/// groups that had it failed it; one more hop from the last of them.
fn copied(flow: &mut Flow, seq: Seq, at: Timestamp, written: &Written) {
    let hops = hops_mut(flow);
    hops.push(written);
    let now_there = hops.terminal() == Some(hops.writes.len() - 1);
    let target = format!("{}: moved to {}", "failed", written.topic);
    let mut settled = Vec::new();
    // A copy seen after the copy made of it (see `terminal`) settles
    // nothing: the groups of where the record is now stay as they are.
    for d in flow
        .detail_mut()
        .deliveries
        .iter_mut()
        .filter(|_| now_there)
    {
        if matches!(d.outcome, Outcome::Pending | Outcome::Ack) && d.reason.is_none() {
            if d.outcome == Outcome::Ack {
                settled.extend(d.record);
            }
            d.outcome = Outcome::Nak;
            d.reason = Some(target.as_str().into());
        }
    }
    // A commit seen before the copy: the group was done with the record
    // by failing it on, as when the commit comes after.
    for step in &mut flow.detail_mut().steps {
        if step.record.is_some_and(|r| settled.contains(&r))
            && step.label.starts_with("committed past")
            && !step.label.contains(", moved to")
        {
            step.label
                .push_str(&format!(", moved to {}", written.topic));
        }
    }
    // A commit past the original, seen before this copy that names it,
    // said where the record went as far as was known then: here.
    if let Some((topic, partition, offset)) = &written.origin {
        let lanes = &flow.detail().lanes;
        let origin_lane = lanes.iter().position(|l| l.name == *topic);
        let said = format!("committed past [{partition}@{offset}], moved to ");
        let now = format!("{said}{}", written.topic);
        for step in &mut flow.detail_mut().steps {
            if Some(step.from) == origin_lane && step.label.starts_with(&said) {
                step.label.clone_from(&now);
            }
        }
    }
    let from = flow
        .detail()
        .lanes
        .iter()
        .rposition(|l| l.role == Role::Consumer)
        .or_else(|| {
            flow.detail()
                .lanes
                .iter()
                .rposition(|l| l.role == Role::Stream)
        });
    let to = flow.lane(&written.topic, Role::Stream);
    let place = format!("[{}@{}]", written.partition, written.offset);
    let why = written
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    let (kind, label) = if written.dead_letter {
        (
            StepKind::DeadLetter,
            format!("dead-lettered to {} {place}{why}", written.topic),
        )
    } else {
        let attempt = written
            .attempt
            .map(|a| format!(" (attempt {a})"))
            .unwrap_or_default();
        (
            StepKind::Publish,
            format!("retry to {} {place}{why}{attempt}", written.topic),
        )
    };
    flow.step(at, Some(seq), kind, from.unwrap_or(to), to, label);
    if now_there {
        let hops = hops_mut(flow);
        hops.dead_lettered = written.dead_letter;
        hops.processed_by.clear();
        hops.waiting.clear();
    }
}

/// `group` reads the partition of the flow's `write` and has not committed
/// past it: it waits, if that write is where the record is now.
fn wait_for(flow: &mut Flow, group: &str, at: Timestamp, write: (&str, i32, i64)) {
    let hops = hops_mut(flow);
    let Some(index) = hops.terminal() else {
        return;
    };
    let (topic, partition, offset) = &hops.writes[index];
    if (topic.as_str(), *partition, *offset) != write
        || hops.waiting.iter().any(|g| g == group)
        || hops.processed_by.iter().any(|g| g == group)
    {
        return;
    }
    hops.waiting.push(group.to_owned());
    let count = index as u64 + 1;
    flow.detail_mut().add_delivery(Delivery {
        consumer: group_lane(group),
        count,
        record: None,
        at,
        answered_at: None,
        settled_at: None,
        outcome: Outcome::Pending,
        reason: None,
    });
}

/// `commit` passed the flow's record at `offset`.
fn processed(flow: &mut Flow, seq: Seq, at: Timestamp, commit: &GroupCommit, offset: i64) {
    let hops = hops_mut(flow);
    let Some(index) = hops
        .writes
        .iter()
        .position(|(t, p, o)| *t == commit.topic && *p == commit.partition && *o == offset)
    else {
        return;
    };
    if hops.terminal() != Some(index) {
        // A group done with a write it had already copied on (Spring
        // commits after forwarding to the retry topic): it failed it.
        let next = hops
            .next_of(index)
            .map(|n| hops.writes[n].0.clone())
            .unwrap_or_default();
        moved_on(flow, seq, at, commit, offset, index as u64 + 1, &next);
        return;
    }
    if hops.processed_by.contains(&commit.group) {
        return;
    }
    hops.processed_by.push(commit.group.clone());
    hops.waiting.retain(|g| *g != commit.group);
    let count = index as u64 + 1;
    let t = flow.lane(&commit.topic, Role::Stream);
    let g = flow.lane(&group_lane(&commit.group), Role::Consumer);
    let label = format!("committed past [{}@{offset}]", commit.partition);
    flow.step(at, Some(seq), StepKind::Deliver { count }, t, g, label);
    settle(flow, &commit.group, count, seq, at, None);
}

/// `group`'s delivery `count` settled by its commit (`seq`): acked, or with
/// `failed`, the reason it was failed on.
fn settle(
    flow: &mut Flow,
    group: &str,
    count: u64,
    seq: Seq,
    at: Timestamp,
    failed: Option<String>,
) {
    let consumer = group_lane(group);
    let outcome = if failed.is_some() {
        Outcome::Nak
    } else {
        Outcome::Ack
    };
    let reason: Option<Box<str>> = failed.map(String::into_boxed_str);
    let deliveries = &mut flow.detail_mut().deliveries;
    match deliveries
        .iter_mut()
        .find(|d| d.consumer == consumer && d.count == count)
    {
        Some(d) => {
            d.outcome = outcome;
            d.settled_at = Some(at);
            d.answered_at = Some(at);
            d.record = Some(seq);
            if reason.is_some() {
                d.reason = reason;
            }
        }
        None => {
            flow.detail_mut().add_delivery(Delivery {
                consumer,
                count,
                record: Some(seq),
                at,
                answered_at: Some(at),
                settled_at: Some(at),
                outcome,
                reason,
            });
        }
    }
}

/// `commit` passed the flow's `count`th write, which was copied on to
/// `next` before: the group failed it and says it is done with it.
fn moved_on(
    flow: &mut Flow,
    seq: Seq,
    at: Timestamp,
    commit: &GroupCommit,
    offset: i64,
    count: u64,
    next: &str,
) {
    let t = flow.lane(&commit.topic, Role::Stream);
    let g = flow.lane(&group_lane(&commit.group), Role::Consumer);
    let label = format!(
        "committed past [{}@{offset}], moved to {next}",
        commit.partition
    );
    flow.step(at, Some(seq), StepKind::Deliver { count }, t, g, label);
    settle(
        flow,
        &commit.group,
        count,
        seq,
        at,
        Some(format!("failed: moved to {next}")),
    );
}

/// How a logged flow ended, as far as the wire shows.
pub(super) fn logged_final(flow: &Flow) -> super::model::Final {
    use super::model::Final;
    let Some(hops) = flow.detail().log_hops() else {
        return Final::Pending;
    };
    if hops.dead_lettered && hops.waiting.is_empty() {
        Final::DeadLettered
    } else if !hops.waiting.is_empty() {
        Final::Pending
    } else if !hops.processed_by.is_empty() {
        Final::Processed
    } else {
        Final::Stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{BrokerKind, Incoming, KafkaFields, RecordPacker};
    use crate::flow::Final;

    fn record(at: Timestamp, topic: &str, fields: &KafkaFields, headers: &[u8]) -> Record {
        let fields = serde_json::to_string(fields).expect("json");
        RecordPacker::default().pack_incoming(
            at,
            0,
            &Incoming {
                subject: topic.as_bytes(),
                reply: None,
                headers: (!headers.is_empty()).then_some(headers),
                fields: &fields,
                payload: b"order-1",
            },
        )
    }

    fn written(at: Timestamp, topic: &str, offset: i64, headers: &[u8]) -> Record {
        let fields = KafkaFields {
            partition: Some(0),
            offset: Some(offset),
            ..KafkaFields::default()
        };
        record(at, topic, &fields, headers)
    }

    fn commit(at: Timestamp, group: &str, topic: &str, committed: i64) -> Record {
        let fields = KafkaFields {
            partition: Some(0),
            commit: Some(GroupCommit {
                group: group.into(),
                topic: topic.into(),
                partition: 0,
                committed,
                end: committed,
            }),
            ..KafkaFields::default()
        };
        record(at, crate::capture::KAFKA_COMMITS_TOPIC, &fields, b"")
    }

    /// The commit poll and the record's fetch are two links with no order
    /// between them: a commit seen first still passes the record, and a
    /// copy seen after it still says the group failed it on.
    #[test]
    fn a_commit_seen_before_its_record_or_its_copy_tells_the_same_story() {
        let mut flows = Correlator::default();
        flows.learn_brokers(&[BrokerKind::Kafka]);
        flows.ingest(0, &commit(10, "billing", "pay", 1));
        flows.ingest(1, &written(20, "pay", 0, b""));
        let flow = flows.flows().next().expect("a flow").clone();
        assert_eq!(flows.final_of(&flow, 30), Some(Final::Processed));
        let copy = b"NATS/1.0\r\nkafka_original-topic: pay\r\nkafka_original-partition: 0\r\nkafka_original-offset: 0\r\n\r\n";
        flows.ingest(2, &written(30, "pay-retry-1", 0, copy));
        let flow = flows.flows().next().expect("a flow").clone();
        assert_eq!(flows.flows().count(), 1, "the copy is the same flow");
        let labels = flow.detail().step_labels();
        assert!(
            labels.contains(&"committed past [0@0], moved to pay-retry-1"),
            "{labels:?}"
        );
        assert_eq!(flows.final_of(&flow, 40), Some(Final::Stored));
    }

    /// The dead letter (naming the retry copy) fetched before the retry
    /// copy itself: the record still ends dead-lettered, and the retry
    /// group's commit past the copy is that group failing it on.
    #[test]
    fn a_dead_letter_seen_before_the_retry_it_names_still_ends_the_chain() {
        let mut flows = Correlator::default();
        flows.learn_brokers(&[BrokerKind::Kafka]);
        let id = b"NATS/1.0\r\nce-id: A\r\nce-source: /shop\r\n";
        let plain = [&id[..], b"\r\n"].concat();
        flows.ingest(0, &written(10, "pay", 0, &plain));
        let dead = [
            &id[..],
            b"kafka_dlt-original-topic: pay-retry-1\r\nkafka_dlt-original-partition: 0\r\nkafka_dlt-original-offset: 0\r\n\r\n",
        ]
        .concat();
        flows.ingest(1, &written(20, "pay.DLT", 0, &dead));
        // Billing's commit past the original, before the retry copy.
        flows.ingest(2, &commit(25, "billing", "pay", 1));
        let retry = [
            &id[..],
            b"kafka_original-topic: pay\r\nkafka_original-partition: 0\r\nkafka_original-offset: 0\r\n\r\n",
        ]
        .concat();
        flows.ingest(3, &written(30, "pay-retry-1", 0, &retry));
        flows.ingest(4, &commit(40, "billing-retry", "pay-retry-1", 1));
        assert_eq!(flows.flows().count(), 1, "one chain");
        let flow = flows.flows().next().expect("a flow").clone();
        assert_eq!(flows.final_of(&flow, 50), Some(Final::DeadLettered));
        let labels = flow.detail().step_labels();
        for step in [
            "committed past [0@0], moved to pay-retry-1",
            "committed past [0@0], moved to pay.DLT",
        ] {
            assert!(labels.contains(&step), "{step} in {labels:?}");
        }
    }
}
