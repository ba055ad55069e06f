//! Where a partition's records start and end, and which offset a time
//! falls at; and the consumer groups' committed offsets. The end is taken
//! from a Fetch's high watermark, which every broker gets right (tansu's
//! ListOffsets(latest) can lag behind batched produces).

use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    FetchRequest, GroupId, ListGroupsRequest, ListOffsetsRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::link::{Cluster, KafkaLinkError, said};
use crate::capture::GroupCommit;

/// ListOffsets' timestamp for "the log's start".
const EARLIEST: i64 = -2;

impl Cluster {
    /// The offset of the first record at or after `timestamp_ms` (the
    /// log's start for `EARLIEST`), or `None` when no record is that late.
    pub async fn offset_at(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp_ms: i64,
    ) -> Result<Option<i64>, KafkaLinkError> {
        let leader = self
            .leader(topic, partition)
            .ok_or_else(|| no_leader(topic, partition))?;
        let request = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(partition)
                            .with_timestamp(timestamp_ms),
                    ]),
            ]);
        let conn = self.node(leader).await?;
        let answer = conn.call_within(request, Duration::ZERO).await?;
        let server = conn.server.clone();
        let found = answer
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| no_leader(topic, partition))?;
        said(
            &server,
            &format!("the offsets of {topic}[{partition}]"),
            found.error_code,
        )?;
        Ok((found.offset >= 0).then_some(found.offset))
    }

    /// The partition's end: the offset its next record will get.
    pub async fn end_offset(&mut self, topic: &str, partition: i32) -> Result<i64, KafkaLinkError> {
        let start = self
            .offset_at(topic, partition, EARLIEST)
            .await?
            .unwrap_or(0);
        let leader = self
            .leader(topic, partition)
            .ok_or_else(|| no_leader(topic, partition))?;
        let request = FetchRequest::default()
            .with_max_wait_ms(10)
            .with_min_bytes(1)
            // A byte would do for Kafka; tansu answers nothing below a
            // record batch.
            .with_max_bytes(64 << 10)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(start)
                            .with_partition_max_bytes(64 << 10),
                    ]),
            ]);
        let conn = self.node(leader).await?;
        let answer = conn.call_within(request, Duration::ZERO).await?;
        let server = conn.server.clone();
        let found = answer
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| no_leader(topic, partition))?;
        said(
            &server,
            &format!("a read of {topic}[{partition}]"),
            found.error_code,
        )?;
        Ok(found.high_watermark.max(start))
    }

    /// Every consumer group the brokers know (each broker lists the groups
    /// it coordinates).
    pub async fn groups(&mut self) -> Result<Vec<String>, KafkaLinkError> {
        let mut groups = Vec::new();
        let nodes: Vec<i32> = self.brokers.keys().copied().collect();
        for node in nodes {
            let conn = self.node(node).await?;
            let answer = conn
                .call_within(ListGroupsRequest::default(), Duration::ZERO)
                .await?;
            let server = conn.server.clone();
            said(&server, "the list of consumer groups", answer.error_code)?;
            groups.extend(answer.groups.iter().map(|g| g.group_id.0.to_string()));
        }
        groups.sort();
        groups.dedup();
        Ok(groups)
    }

    /// A group's committed offsets: (topic, partition, next offset).
    pub async fn committed(
        &mut self,
        group: &str,
    ) -> Result<Vec<(String, i32, i64)>, KafkaLinkError> {
        let found = self
            .main
            .call_within(
                FindCoordinatorRequest::default()
                    .with_key(StrBytes::from_string(group.to_owned()))
                    .with_key_type(0),
                Duration::ZERO,
            )
            .await?;
        let server = self.main.server.clone();
        said(
            &server,
            &format!("the coordinator of group {group}"),
            found.error_code,
        )?;
        let conn = self.node(found.node_id.0).await?;
        let id = GroupId(StrBytes::from_string(group.to_owned()));
        let batched = conn.version::<OffsetFetchRequest>()? >= 8;
        let request = if batched {
            OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(id)
                    .with_topics(None),
            ])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(id)
                .with_topics(None)
        };
        let answer = conn.call_within(request, Duration::ZERO).await?;
        let server = conn.server.clone();
        let what = format!("the offsets of group {group}");
        said(&server, &what, answer.error_code)?;
        let mut out = Vec::new();
        if batched {
            for g in &answer.groups {
                said(&server, &what, g.error_code)?;
                for t in &g.topics {
                    for p in t
                        .partitions
                        .iter()
                        .filter(|p| p.error_code == 0 && p.committed_offset >= 0)
                    {
                        out.push((t.name.0.to_string(), p.partition_index, p.committed_offset));
                    }
                }
            }
        } else {
            for t in &answer.topics {
                for p in t
                    .partitions
                    .iter()
                    .filter(|p| p.error_code == 0 && p.committed_offset >= 0)
                {
                    out.push((t.name.0.to_string(), p.partition_index, p.committed_offset));
                }
            }
        }
        Ok(out)
    }

    /// Every group's commits with each partition's end now.
    pub async fn commits(
        &mut self,
        ends: &super::fetcher::Ends,
    ) -> Result<Vec<GroupCommit>, KafkaLinkError> {
        let mut out = Vec::new();
        for group in self.groups().await? {
            for (topic, partition, committed) in self.committed(&group).await? {
                let known = ends
                    .lock()
                    .ok()
                    .and_then(|e| e.get(&(topic.as_str().into(), partition)).copied());
                let end = match known {
                    Some(end) => end,
                    None => self.end_offset(&topic, partition).await?,
                };
                out.push(GroupCommit {
                    group: group.clone(),
                    topic,
                    partition,
                    committed,
                    end: end.max(committed),
                });
            }
        }
        Ok(out)
    }
}

fn no_leader(topic: &str, partition: i32) -> KafkaLinkError {
    KafkaLinkError::NoLeader {
        topic: topic.to_owned(),
        partition,
    }
}
