//! A small Kafka client for the demo's simulated producers and consumer
//! groups, and for the tests' other side: kafka-protocol's messages over
//! one socket, one request at a time, at fixed versions every Kafka since
//! 2.1 (and tansu) answers. Apart from eventscope's monitoring client
//! (`broker::kafka`) on purpose: what the monitor reads is written by
//! someone else's code, so a fault in one does not hide in the other.
//! Written here rather than taken from a crate: rskafka has no group
//! commits and rdkafka is a C build (the README says more).

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    FetchRequest, GroupId, OffsetCommitRequest, ProduceRequest, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Error)]
pub enum KafkaClientError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the broker's answer does not decode: {0}")]
    Decode(String),
    #[error("the broker refused {what} (error code {code})")]
    Refused { what: String, code: i16 },
}

/// A record to produce.
#[derive(Clone, Debug)]
pub struct KafkaOut<'a> {
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
    /// In order; `None` is a null value.
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
}

impl<'a> KafkaOut<'a> {
    pub fn value(value: &'a [u8]) -> Self {
        Self {
            key: None,
            value,
            headers: Vec::new(),
            timestamp: chrono::Utc::now().timestamp_millis(),
        }
    }

    pub fn header(mut self, name: &'a str, value: &'a [u8]) -> Self {
        self.headers.push((name, Some(value)));
        self
    }
}

pub struct KafkaClient {
    stream: TcpStream,
    next: i32,
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

impl KafkaClient {
    pub async fn connect(port: u16) -> Result<Self, KafkaClientError> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, next: 0 })
    }

    async fn call<R: Request>(
        &mut self,
        request: R,
        version: i16,
    ) -> Result<R::Response, KafkaClientError> {
        self.next += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.next)
            .with_client_id(Some(StrBytes::from_static_str("eventscope-demo")));
        let mut body = BytesMut::new();
        let encoded = header
            .encode(&mut body, R::header_version(version))
            .and_then(|()| request.encode(&mut body, version));
        encoded.map_err(|e| KafkaClientError::Decode(e.to_string()))?;
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).await?;
        let size = self.stream.read_i32().await?;
        let mut answer = vec![0u8; usize::try_from(size).unwrap_or_default()];
        self.stream.read_exact(&mut answer).await?;
        let mut answer = Bytes::from(answer);
        let header = ResponseHeader::decode(&mut answer, R::Response::header_version(version))
            .map_err(|e| KafkaClientError::Decode(e.to_string()))?;
        if header.correlation_id != self.next {
            return Err(KafkaClientError::Decode(format!(
                "an answer to request {} where {} was asked",
                header.correlation_id, self.next
            )));
        }
        R::Response::decode(&mut answer, version)
            .map_err(|e| KafkaClientError::Decode(e.to_string()))
    }

    /// Produce one record to `topic[partition]`; its offset.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        out: &KafkaOut<'_>,
    ) -> Result<i64, KafkaClientError> {
        self.produce_batch(topic, partition, std::slice::from_ref(out))
            .await
    }

    /// Produce records as one batch to `topic[partition]`; the first's
    /// offset.
    pub async fn produce_batch(
        &mut self,
        topic: &str,
        partition: i32,
        outs: &[KafkaOut<'_>],
    ) -> Result<i64, KafkaClientError> {
        let records: Vec<Record> = outs.iter().map(record_of).collect();
        let mut batch = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut batch, records.iter(), &options)
            .map_err(|e| KafkaClientError::Decode(e.to_string()))?;
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(name(topic))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(batch.freeze())),
                    ]),
            ]);
        let answer = self.call(request, 3).await?;
        let stored = answer
            .responses
            .first()
            .and_then(|t| t.partition_responses.first())
            .ok_or_else(|| {
                KafkaClientError::Decode("a produce answer without its partition".into())
            })?;
        if stored.error_code != 0 {
            return Err(KafkaClientError::Refused {
                what: format!("records for {topic}[{partition}]"),
                code: stored.error_code,
            });
        }
        Ok(stored.base_offset)
    }

    /// The records of `topic[partition]` from `offset` the broker has now
    /// (waiting up to `wait_ms` for one).
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        wait_ms: i32,
    ) -> Result<Vec<Record>, KafkaClientError> {
        let request = FetchRequest::default()
            .with_max_wait_ms(wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(8 << 20)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(name(topic))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(4 << 20),
                    ]),
            ]);
        let answer = self.call(request, 4).await?;
        let mut out = Vec::new();
        for p in answer.responses.into_iter().flat_map(|t| t.partitions) {
            if p.error_code != 0 {
                return Err(KafkaClientError::Refused {
                    what: format!("a fetch of {topic}[{partition}]"),
                    code: p.error_code,
                });
            }
            let Some(mut set) = p.records else { continue };
            while !set.is_empty() {
                let batch = RecordBatchDecoder::decode(&mut set)
                    .map_err(|e| KafkaClientError::Decode(e.to_string()))?;
                out.extend(batch.records.into_iter().filter(|r| r.offset >= offset));
            }
        }
        Ok(out)
    }

    /// Commit `group`'s next offset of `topic[partition]`, as a consumer
    /// outside a rebalance does (generation -1).
    pub async fn commit(
        &mut self,
        group: &str,
        topic: &str,
        partition: i32,
        next: i64,
    ) -> Result<(), KafkaClientError> {
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::from_static_str(""))
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(partition)
                            .with_committed_offset(next),
                    ]),
            ]);
        let answer = self.call(request, 2).await?;
        let code = answer
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .map_or(-1, |p| p.error_code);
        if code != 0 {
            return Err(KafkaClientError::Refused {
                what: format!("{group}'s commit on {topic}[{partition}]"),
                code,
            });
        }
        Ok(())
    }
}

fn record_of(out: &KafkaOut<'_>) -> Record {
    let mut headers = IndexMap::new();
    for (name, value) in &out.headers {
        headers.insert(
            StrBytes::from_string((*name).to_owned()),
            value.map(Bytes::copy_from_slice),
        );
    }
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: out.timestamp,
        key: out.key.map(Bytes::copy_from_slice),
        value: Some(Bytes::copy_from_slice(out.value)),
        headers,
    }
}
