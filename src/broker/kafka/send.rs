//! Producing to Kafka: one record (acknowledged by every in-sync replica,
//! `acks=all`, its partition and offset said), a request in the way
//! Spring's request/reply template makes them (the reply topic and a
//! correlation id in headers, the answer read off the reply topic), and
//! replays, on a cluster link of their own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};
use thiserror::Error;

use super::fetcher::decode;
use super::link::{Cluster, KafkaLinkError, said};
use super::message::{CORRELATION_HEADER, KafkaSendError, Outgoing, outgoing, partition_for_key};
use crate::broker::nats::send::{JobSink, run_paced};
use crate::broker::profile::ConnectionProfile;
use crate::broker::{JobProgress, JobSpec, SendMode, SendOutcome, WireMessage};

/// Why a record did not reach Kafka as asked.
#[derive(Debug, Error)]
pub enum KafkaPublishError {
    #[error(transparent)]
    Link(#[from] KafkaLinkError),
    #[error(transparent)]
    Message(#[from] KafkaSendError),
    #[error("the cluster has no topic '{0}' (eventscope does not create topics)")]
    UnknownTopic(String),
    #[error("topic '{topic}' has no partition {partition} (it has {count})")]
    UnknownPartition {
        topic: String,
        partition: i32,
        count: usize,
    },
    #[error("could not encode the record: {0}")]
    Encode(String),
    #[error("a Kafka request needs a reply topic for its answer (the reply field)")]
    NoReplyTopic,
    #[error("timeout: no record on {topic} with the request's correlation id within {after:?}")]
    NoAnswer { topic: String, after: Duration },
}

/// Produce one record; where it was stored.
async fn produce(cluster: &mut Cluster, out: Outgoing) -> Result<(i32, i64), KafkaPublishError> {
    if !cluster.topics.contains_key(&out.topic) {
        cluster.refresh().await?;
    }
    let count = cluster
        .topics
        .get(&out.topic)
        .map(Vec::len)
        .ok_or_else(|| KafkaPublishError::UnknownTopic(out.topic.clone()))?;
    let partition = match (out.partition, &out.record.key) {
        (Some(p), _) if p >= 0 && (p as usize) < count => p,
        (Some(p), _) => {
            return Err(KafkaPublishError::UnknownPartition {
                topic: out.topic,
                partition: p,
                count,
            });
        }
        (None, Some(key)) => partition_for_key(key, count as i32),
        (None, None) => (rand::random::<u32>() % count.max(1) as u32) as i32,
    };
    let leader = cluster
        .leader(&out.topic, partition)
        .ok_or_else(|| KafkaLinkError::NoLeader {
            topic: out.topic.clone(),
            partition,
        })?;
    let mut batch = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut batch,
        [&out.record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| KafkaPublishError::Encode(e.to_string()))?;
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(out.topic.clone())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch.freeze())),
                ]),
        ]);
    let conn = cluster.node(leader).await?;
    let answer = match conn.call_within(request, Duration::from_secs(10)).await {
        Ok(answer) => answer,
        Err(e) => {
            cluster.drop_node(leader);
            return Err(e.into());
        }
    };
    let server = conn.server.clone();
    let stored = answer
        .responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .find(|p| p.index == partition)
        .ok_or_else(|| KafkaLinkError::Protocol {
            server: server.clone(),
            reason: "answered a produce without its partition".into(),
        })?;
    let what = format!("the record for {}[{partition}]", out.topic);
    said(&server, &what, stored.error_code)?;
    Ok((partition, stored.base_offset))
}

/// Send one message as `mode` says.
pub(crate) async fn send(
    profile: &ConnectionProfile,
    message: WireMessage,
    mode: SendMode,
) -> SendOutcome {
    let url = profile.server_list().into_iter().next().unwrap_or_default();
    let mut cluster = match Cluster::open(profile, &url).await {
        Ok(cluster) => cluster,
        Err(e) => return SendOutcome::Failed(e.to_string()),
    };
    let outcome = match mode {
        SendMode::Publish => match produce_message(&mut cluster, &message).await {
            Ok(_) => Ok(SendOutcome::Published),
            Err(e) => Err(e),
        },
        SendMode::Request { timeout } => request(&mut cluster, message, timeout).await,
        SendMode::JetStream { .. } => {
            return SendOutcome::Failed("a JetStream publish needs a NATS connection".into());
        }
    };
    outcome.unwrap_or_else(|e| SendOutcome::Failed(e.to_string()))
}

async fn produce_message(
    cluster: &mut Cluster,
    message: &WireMessage,
) -> Result<(i32, i64), KafkaPublishError> {
    produce(cluster, outgoing(message)?).await
}

/// A request as Spring's `ReplyingKafkaTemplate` makes one: the reply
/// topic and a fresh correlation id in headers; the answer is the first
/// record on the reply topic, written after the request, that carries the
/// same correlation id.
async fn request(
    cluster: &mut Cluster,
    message: WireMessage,
    timeout: Duration,
) -> Result<SendOutcome, KafkaPublishError> {
    let reply_topic = message
        .reply
        .clone()
        .ok_or(KafkaPublishError::NoReplyTopic)?;
    if !cluster.topics.contains_key(&reply_topic) {
        cluster.refresh().await?;
    }
    let partitions: Vec<i32> = cluster
        .topics
        .get(&reply_topic)
        .ok_or_else(|| KafkaPublishError::UnknownTopic(reply_topic.clone()))?
        .iter()
        .map(|p| p.partition)
        .collect();
    let mut from = HashMap::new();
    for p in &partitions {
        from.insert(*p, cluster.end_offset(&reply_topic, *p).await?);
    }
    let correlation = crate::broker::own_token();
    let mut out = outgoing(&message)?;
    out.record.headers.insert(
        StrBytes::from_static_str(CORRELATION_HEADER),
        Some(Bytes::from(correlation.clone())),
    );
    let started = Instant::now();
    produce(cluster, out).await?;
    let deadline = started + timeout;
    while Instant::now() < deadline {
        for p in &partitions {
            let Some(leader) = cluster.leader(&reply_topic, *p) else {
                continue;
            };
            let offset = from[p];
            let fetch = FetchRequest::default()
                .with_max_wait_ms(100)
                .with_min_bytes(1)
                .with_topics(vec![
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(reply_topic.clone())))
                        .with_partitions(vec![
                            FetchPartition::default()
                                .with_partition(*p)
                                .with_fetch_offset(offset)
                                .with_partition_max_bytes(1 << 20),
                        ]),
                ]);
            let conn = cluster.node(leader).await?;
            let answer = conn.call_within(fetch, Duration::from_millis(100)).await?;
            for set in answer
                .responses
                .into_iter()
                .flat_map(|t| t.partitions)
                .filter_map(|part| part.records)
            {
                let (records, next, _) = decode(set);
                if let Some(next) = next {
                    from.insert(*p, next.max(offset));
                }
                let found = records.into_iter().find(|r| {
                    r.offset >= offset
                        && r.headers.iter().any(|(k, v)| {
                            k.as_str() == CORRELATION_HEADER
                                && v.as_deref() == Some(correlation.as_bytes())
                        })
                });
                if let Some(found) = found {
                    return Ok(SendOutcome::Reply {
                        headers: found
                            .headers
                            .iter()
                            .filter_map(|(k, v)| {
                                let v = String::from_utf8_lossy(v.as_deref()?).into_owned();
                                Some((k.to_string(), v))
                            })
                            .collect(),
                        status: None,
                        payload: found.value.unwrap_or_default(),
                        latency: started.elapsed(),
                    });
                }
            }
        }
    }
    Err(KafkaPublishError::NoAnswer {
        topic: reply_topic,
        after: timeout,
    })
}

/// A replay's producer: each record acknowledged before the next (a
/// replay keeps the capture's order and says what failed).
struct ReplaySink(Cluster);

impl JobSink for ReplaySink {
    type Error = KafkaPublishError;

    async fn send(&mut self, message: WireMessage) -> Result<(), KafkaPublishError> {
        produce_message(&mut self.0, &message).await.map(|_| ())
    }
}

/// Run a job (a replay) on a cluster link of its own, in order.
pub(crate) async fn run_job(profile: ConnectionProfile, job: JobSpec, progress: Arc<JobProgress>) {
    let url = profile.server_list().into_iter().next().unwrap_or_default();
    match Cluster::open(&profile, &url).await {
        Ok(cluster) => run_paced(job, &progress, &mut ReplaySink(cluster)).await,
        Err(e) => progress.abandon(e.to_string()),
    }
    progress.finish();
}
