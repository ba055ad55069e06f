//! Kafka helpers shared by the Kafka tests: a private tansu broker (or the
//! install line), a monitor reading topics, and a raw Kafka client of the
//! tests' own (kafka-protocol's messages over a socket, apart from
//! eventscope's client): producing records with keys, partitions,
//! timestamps and headers as given, reading them back, and committing a
//! group's offsets the way a consumer does.

use std::io::{Read, Write};
use std::net::TcpStream;

use bytes::{Bytes, BytesMut};
use eventscope::broker::{ConnectionProfile, ReadFrom, SubscriptionSpec};
use eventscope::capture::ConnectionKey;
use eventscope::demo::LocalTansu;
use eventscope::session::Session;
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

pub use super::amqp::{connected, monitor, wait_until};

pub fn tansu() -> LocalTansu {
    LocalTansu::start().unwrap_or_else(|e| panic!("these tests need a Kafka-API broker: {e}"))
}

/// A monitor reading `patterns` from `from`.
pub fn reading(m: &mut Session, url: &str, patterns: &[&str], from: ReadFrom) -> ConnectionKey {
    let mut profile = ConnectionProfile::new(format!("kafka-{}", patterns.join(",")), url);
    profile.subscriptions = patterns
        .iter()
        .map(|p| SubscriptionSpec {
            read_from: from,
            ..SubscriptionSpec::new(*p)
        })
        .collect();
    let key = m.connect(profile);
    connected(m, key);
    key
}

/// A record to produce.
pub struct Out<'a> {
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
    pub timestamp: i64,
}

impl<'a> Out<'a> {
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

/// The tests' own Kafka client: one socket, one request at a time, fixed
/// versions every Kafka since 2.1 (and tansu) answers.
pub struct RawKafka {
    stream: TcpStream,
    next: i32,
}

impl RawKafka {
    pub fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("the test client connects");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        Self { stream, next: 0 }
    }

    fn call<R: Request>(&mut self, request: R, version: i16) -> R::Response {
        self.next += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.next)
            .with_client_id(Some(StrBytes::from_static_str("tests")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .expect("header");
        request.encode(&mut body, version).expect("request");
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).expect("write");
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).expect("an answer");
        let mut answer = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream
            .read_exact(&mut answer)
            .expect("the whole answer");
        let mut answer = Bytes::from(answer);
        let header = ResponseHeader::decode(&mut answer, R::Response::header_version(version))
            .expect("answer header");
        assert_eq!(header.correlation_id, self.next);
        R::Response::decode(&mut answer, version).expect("an answer that decodes")
    }

    /// Produce one record to `topic[partition]`; its offset.
    pub fn produce(&mut self, topic: &str, partition: i32, out: &Out<'_>) -> i64 {
        let mut headers = IndexMap::new();
        for (name, value) in &out.headers {
            headers.insert(
                StrBytes::from_string((*name).to_owned()),
                value.map(Bytes::copy_from_slice),
            );
        }
        let record = Record {
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
        };
        let mut batch = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut batch,
            [&record],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .expect("a batch");
        let answer = self.call(
            ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(5000)
                .with_topic_data(vec![
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                        .with_partition_data(vec![
                            PartitionProduceData::default()
                                .with_index(partition)
                                .with_records(Some(batch.freeze())),
                        ]),
                ]),
            3,
        );
        let stored = &answer.responses[0].partition_responses[0];
        assert_eq!(stored.error_code, 0, "produce to {topic}[{partition}]");
        stored.base_offset
    }

    /// Every record of `topic[partition]` from `offset`.
    pub fn fetch(&mut self, topic: &str, partition: i32, offset: i64) -> Vec<Record> {
        let answer = self.call(
            FetchRequest::default()
                .with_max_wait_ms(100)
                .with_min_bytes(1)
                .with_topics(vec![
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                        .with_partitions(vec![
                            FetchPartition::default()
                                .with_partition(partition)
                                .with_fetch_offset(offset)
                                .with_partition_max_bytes(1 << 20),
                        ]),
                ]),
            4,
        );
        let mut out = Vec::new();
        for p in answer.responses.into_iter().flat_map(|t| t.partitions) {
            let Some(mut set) = p.records else { continue };
            while !set.is_empty() {
                let batch = RecordBatchDecoder::decode(&mut set).expect("a batch");
                out.extend(batch.records.into_iter().filter(|r| r.offset >= offset));
            }
        }
        out
    }

    /// Commit `group`'s next offset of `topic[partition]`, as a consumer
    /// outside a rebalance does (generation -1).
    pub fn commit(&mut self, group: &str, topic: &str, partition: i32, next: i64) {
        let answer = self.call(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
                .with_generation_id_or_member_epoch(-1)
                .with_member_id(StrBytes::from_static_str(""))
                .with_topics(vec![
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                        .with_partitions(vec![
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(partition)
                                .with_committed_offset(next),
                        ]),
                ]),
            2,
        );
        let code = answer.topics[0].partitions[0].error_code;
        assert_eq!(code, 0, "commit of {group} on {topic}[{partition}]");
    }
}
