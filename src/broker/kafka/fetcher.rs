//! Reading assigned partitions from one broker (their leader), on a
//! connection of its own, by Fetch from the offsets given: no group is
//! joined and nothing is committed, so a monitor moves no one's offsets.
//! Each answer's records go to the session over a bounded channel, so a
//! slow session slows the fetching and the broker keeps the backlog.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};
use tokio::sync::mpsc;

use super::link::KafkaLinkError;
use super::wire::KafkaConn;

/// How long the broker may hold a fetch open waiting for records: short
/// while records flow, growing to the longest while none come. Kafka
/// answers as soon as a record arrives, but not every broker that speaks
/// its protocol does (tansu holds a fetch for its whole wait): a 500 ms
/// wait while busy cut a live tail there from 131,000 to 36,000 records/s,
/// and 10 ms to 84,000 (each fetch costs the broker; `benches/brokers.rs`).
const BUSY_WAIT: Duration = Duration::from_millis(100);
const IDLE_WAIT: Duration = Duration::from_millis(500);
/// Bytes one answer may bring, in all and per partition.
const MAX_BYTES: i32 = 16 << 20;
const PARTITION_MAX_BYTES: i32 = 2 << 20;
/// The largest a compressed batch may grow when decompressed.
const MAX_DECOMPRESSED: u64 = 64 << 20;
/// A record batch's header, up to its record count.
const BATCH_HEADER: usize = 61;

/// One partition of a topic.
pub(crate) type TopicPartition = (Arc<str>, i32);

/// The highest offset + 1 (high watermark) of each partition read, as the
/// last fetch said (shared with the group poller: Fetch's is exact where a
/// broker's ListOffsets may not be).
pub(crate) type Ends = Arc<Mutex<HashMap<TopicPartition, i64>>>;

/// A change of what a fetcher reads.
#[derive(Debug)]
pub(crate) enum Assign {
    /// Read these partitions from these offsets.
    Add(Vec<(TopicPartition, i64)>),
    /// Stop reading every partition of this topic.
    Remove(Arc<str>),
}

/// What a fetcher tells the session.
pub(crate) enum Fetched {
    Records(Vec<(TopicPartition, Record)>),
    /// Its leader moved, or the broker no longer has it: read it from
    /// `next` wherever the metadata now says.
    Moved {
        partition: TopicPartition,
        next: i64,
    },
    /// Records gone before they were read (retention deleted them, or a
    /// batch could not be decoded): a loss, in words.
    Lost {
        count: u64,
        why: String,
    },
    /// The groups' commits, as polled.
    Commits(Vec<crate::capture::GroupCommit>),
    /// The groups cannot be read (said once until they can again).
    GroupsFailed(String),
    /// Its link to `node` broke: the partitions it read, with where it
    /// stood in each, to be read again from there.
    Failed {
        node: i32,
        error: KafkaLinkError,
        positions: Vec<(TopicPartition, i64)>,
    },
}

/// Decompress one batch's records (kafka-protocol's gzip and snappy;
/// lz4 and zstd by pure-Rust decoders), bounded in size.
fn decompress(buf: &mut Bytes, compression: Compression) -> anyhow::Result<Bytes> {
    use kafka_protocol::compression::{Decompressor, Gzip, Snappy};
    let all = |b: &mut Bytes| Ok(b.split_to(b.len()));
    let read_all = |reader: &mut dyn Read| -> anyhow::Result<Bytes> {
        let mut out = Vec::new();
        reader.take(MAX_DECOMPRESSED).read_to_end(&mut out)?;
        Ok(Bytes::from(out))
    };
    match compression {
        Compression::None => Ok(buf.split_to(buf.len())),
        Compression::Gzip => Gzip::decompress(buf, all),
        Compression::Snappy => Snappy::decompress(buf, all),
        Compression::Lz4 => read_all(&mut lz4_flex::frame::FrameDecoder::new(buf.reader())),
        Compression::Zstd => read_all(&mut ruzstd::decoding::StreamingDecoder::new(buf.reader())?),
    }
}

/// The records of a partition's record set, whole batches only (a fetch
/// may end in a partial one). A batch that does not decode is skipped and
/// counted: (records, the offset after the last batch, lost).
pub(crate) fn decode(mut set: Bytes) -> (Vec<Record>, Option<i64>, u64) {
    let mut records = Vec::new();
    let mut next = None;
    let mut lost = 0u64;
    while set.len() >= BATCH_HEADER {
        let base = (&set[0..8]).get_i64();
        let length = (&set[8..12]).get_i32();
        let last_delta = (&set[23..27]).get_i32();
        let whole = 12 + length.max(0) as usize;
        if length <= 0 || set.len() < whole {
            break;
        }
        let mut batch = set.split_to(whole);
        let after = base + i64::from(last_delta) + 1;
        match RecordBatchDecoder::decode_with_custom_compression(&mut batch, Some(decompress)) {
            Ok(decoded) => records.extend(decoded.records.into_iter().filter(|r| !r.control)),
            Err(_) => lost += u64::try_from(last_delta).unwrap_or(0) + 1,
        }
        next = Some(after);
    }
    (records, next, lost)
}

/// Read the assigned partitions from `node` until told to stop (the
/// assignment channel closes) or the link breaks.
pub(crate) async fn run(
    mut conn: KafkaConn,
    node: i32,
    mut assign: mpsc::UnboundedReceiver<Assign>,
    out: mpsc::Sender<Fetched>,
    ends: Ends,
) {
    let mut positions: HashMap<TopicPartition, i64> = HashMap::new();
    let mut wait = BUSY_WAIT;
    loop {
        while let Ok(change) = assign.try_recv() {
            apply(&mut positions, change);
        }
        if positions.is_empty() {
            match assign.recv().await {
                Some(change) => apply(&mut positions, change),
                None => return,
            }
            continue;
        }
        if assign.is_closed() && out.is_closed() {
            return;
        }
        let answer = match conn.call_within(request(&positions, wait), wait).await {
            Ok(answer) => answer,
            Err(error) => {
                let positions = positions.into_iter().collect();
                let _ = out
                    .send(Fetched::Failed {
                        node,
                        error,
                        positions,
                    })
                    .await;
                return;
            }
        };
        if let Some(error) = ResponseError::try_from_code(answer.error_code) {
            let error = KafkaLinkError::Said {
                server: conn.server.clone(),
                what: "a fetch".into(),
                error,
            };
            let positions = positions.into_iter().collect();
            let _ = out
                .send(Fetched::Failed {
                    node,
                    error,
                    positions,
                })
                .await;
            return;
        }
        let mut read: Vec<Vec<(TopicPartition, Record)>> = Vec::new();
        let mut notices = Vec::new();
        for topic in answer.responses {
            let name: Arc<str> = Arc::from(topic.topic.0.as_str());
            for p in topic.partitions {
                let key = (name.clone(), p.partition_index);
                let Some(&from) = positions.get(&key) else {
                    continue;
                };
                match ResponseError::try_from_code(p.error_code) {
                    None => {}
                    Some(ResponseError::OffsetOutOfRange) => {
                        // Deleted by retention before it was read: go on
                        // from the log's start, the gap counted.
                        let start = p.log_start_offset.max(from);
                        if p.log_start_offset > from {
                            notices.push(Fetched::Lost {
                                count: (p.log_start_offset - from) as u64,
                                why: format!(
                                    "{name}[{}] offsets {from}..{} were deleted by retention before they were read",
                                    p.partition_index, p.log_start_offset
                                ),
                            });
                        }
                        positions.insert(key, start.max(0));
                        continue;
                    }
                    Some(_) => {
                        positions.remove(&key);
                        notices.push(Fetched::Moved {
                            partition: key,
                            next: from,
                        });
                        continue;
                    }
                }
                if let Ok(mut e) = ends.lock() {
                    e.insert(key.clone(), p.high_watermark);
                }
                let Some(set) = p.records else { continue };
                let (records, next, lost) = decode(set);
                if lost > 0 {
                    notices.push(Fetched::Lost {
                        count: lost,
                        why: format!(
                            "{name}[{}]: {lost} records in batches that could not be decoded",
                            p.partition_index
                        ),
                    });
                }
                read.push(
                    records
                        .into_iter()
                        .filter(|r| r.offset >= from)
                        .map(|r| (key.clone(), r))
                        .collect(),
                );
                if let Some(next) = next {
                    positions.insert(key, next.max(from));
                }
            }
        }
        let read = in_time_order(read);
        wait = if read.is_empty() {
            (wait * 2).min(IDLE_WAIT)
        } else {
            BUSY_WAIT
        };
        if !read.is_empty() && out.send(Fetched::Records(read)).await.is_err() {
            return;
        }
        for notice in notices {
            if out.send(notice).await.is_err() {
                return;
            }
        }
    }
}

/// Whether a record says it copies another (Spring's retry and
/// dead-letter headers): at the same millisecond it goes after the others.
fn is_copy(record: &Record) -> bool {
    record.headers.keys().any(|k| {
        matches!(
            k.as_str(),
            "kafka_dlt-original-topic" | "kafka_original-topic"
        )
    })
}

/// One answer's partitions merged by record time, each partition kept in
/// offset order: a consumer's copy to a retry topic, read in the same
/// answer as the record it copies, comes after it.
fn in_time_order(partitions: Vec<Vec<(TopicPartition, Record)>>) -> Vec<(TopicPartition, Record)> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let total = partitions.iter().map(Vec::len).sum();
    let mut lists: Vec<std::vec::IntoIter<_>> =
        partitions.into_iter().map(Vec::into_iter).collect();
    let mut heads: Vec<Option<(TopicPartition, Record)>> =
        lists.iter_mut().map(Iterator::next).collect();
    let mut heap: BinaryHeap<Reverse<(i64, bool, usize)>> = heads
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            h.as_ref()
                .map(|(_, r)| Reverse((r.timestamp, is_copy(r), i)))
        })
        .collect();
    let mut out = Vec::with_capacity(total);
    while let Some(Reverse((_, _, i))) = heap.pop() {
        if let Some(head) = heads[i].take() {
            out.push(head);
        }
        heads[i] = lists[i].next();
        if let Some((_, r)) = &heads[i] {
            heap.push(Reverse((r.timestamp, is_copy(r), i)));
        }
    }
    out
}

fn apply(positions: &mut HashMap<TopicPartition, i64>, change: Assign) {
    match change {
        Assign::Add(list) => positions.extend(list),
        Assign::Remove(topic) => positions.retain(|(t, _), _| *t != topic),
    }
}

fn request(positions: &HashMap<TopicPartition, i64>, wait: Duration) -> FetchRequest {
    let mut topics: HashMap<&Arc<str>, Vec<FetchPartition>> = HashMap::new();
    for ((topic, partition), offset) in positions {
        topics.entry(topic).or_default().push(
            FetchPartition::default()
                .with_partition(*partition)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(PARTITION_MAX_BYTES),
        );
    }
    FetchRequest::default()
        .with_max_wait_ms(wait.as_millis() as i32)
        .with_min_bytes(1)
        .with_max_bytes(MAX_BYTES)
        .with_topics(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partitions(partitions)
                })
                .collect(),
        )
}
