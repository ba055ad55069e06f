//! Kafka consumer groups' lag over time, per partition: read from the
//! `__consumer_offsets` records the Kafka link writes each time a group's
//! commit or its partition's end moves. Kept incrementally (each record
//! read once, a bounded number per call, so a frame never walks the whole
//! store) and bounded: points per series and series are capped, and what
//! a cap turned away is counted, not hidden.

use std::collections::{BTreeMap, VecDeque};

use super::fields::{KAFKA_COMMITS_TOPIC, KafkaFields};
use super::record::Timestamp;
use super::store::{Seq, Store};

/// Points kept per partition (a commit moves at most once per poll, once a
/// second: an hour).
pub const POINTS_PER_SERIES: usize = 3600;
/// Partitions followed at most (group x topic x partition).
pub const MAX_SERIES: usize = 512;

/// One group's reading of one partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupPartition {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

impl std::fmt::Display for GroupPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}[{}]", self.group, self.topic, self.partition)
    }
}

/// The lag of every group on every partition, as polled.
#[derive(Debug, Default)]
pub struct GroupLagHistory {
    /// The next store sequence number to read.
    next: Seq,
    series: BTreeMap<GroupPartition, VecDeque<(Timestamp, i64)>>,
    /// Commits of partitions past `MAX_SERIES`, not followed.
    pub untracked: u64,
}

impl GroupLagHistory {
    /// Read at most `budget` new records of `store`; whether any was a
    /// commit.
    pub fn update(&mut self, store: &Store, budget: usize) -> bool {
        if self.next < store.first_seq() {
            self.next = store.first_seq();
        }
        let end = store.end_seq().min(self.next.saturating_add(budget as Seq));
        let mut changed = false;
        for seq in self.next..end {
            let Some(record) = store.get(seq) else {
                continue;
            };
            if record.subject() != KAFKA_COMMITS_TOPIC {
                continue;
            }
            let Some(commit) = KafkaFields::of_json(record.fields()).and_then(|f| f.commit) else {
                continue;
            };
            let key = GroupPartition {
                group: commit.group.clone(),
                topic: commit.topic.clone(),
                partition: commit.partition,
            };
            if !self.series.contains_key(&key) && self.series.len() >= MAX_SERIES {
                self.untracked += 1;
                continue;
            }
            let points = self.series.entry(key).or_default();
            if points.len() == POINTS_PER_SERIES {
                points.pop_front();
            }
            points.push_back((record.received_at, commit.lag()));
            changed = true;
        }
        self.next = end;
        changed
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Every followed partition with its lag points, oldest first.
    pub fn series(
        &self,
    ) -> impl Iterator<Item = (&GroupPartition, &VecDeque<(Timestamp, i64)>)> + '_ {
        self.series.iter()
    }

    /// The latest lag of each followed partition.
    pub fn latest(&self) -> impl Iterator<Item = (&GroupPartition, i64)> + '_ {
        self.series
            .iter()
            .filter_map(|(k, points)| Some((k, points.back()?.1)))
    }

    /// Forget everything (the store was cleared or replaced).
    pub fn clear(&mut self, store: &Store) {
        self.series.clear();
        self.untracked = 0;
        self.next = store.end_seq();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{GroupCommit, Record};

    fn commit(at: Timestamp, group: &str, partition: i32, committed: i64, end: i64) -> Record {
        let fields = KafkaFields {
            partition: Some(partition),
            commit: Some(GroupCommit {
                group: group.into(),
                topic: "pay".into(),
                partition,
                committed,
                end,
            }),
            ..KafkaFields::default()
        };
        let fields = serde_json::to_string(&fields).expect("json");
        crate::capture::RecordPacker::default().pack_incoming(
            at,
            0,
            &crate::capture::Incoming {
                subject: KAFKA_COMMITS_TOPIC.as_bytes(),
                reply: None,
                headers: None,
                fields: &fields,
                payload: b"{}",
            },
        )
    }

    #[test]
    fn lag_per_group_and_partition_read_once_in_bounded_steps() {
        let mut store = Store::new(usize::MAX);
        store.push(commit(1, "billing", 0, 1, 1));
        store.push(Record::new(2, 0, "pay", None, None, b"x"));
        store.push(commit(3, "billing", 0, 1, 3));
        store.push(commit(4, "audit", 1, 0, 2));
        let mut history = GroupLagHistory::default();
        assert!(history.update(&store, 2), "the first two records");
        assert!(history.update(&store, 10));
        assert!(!history.update(&store, 10), "nothing new");
        let lags: Vec<(String, Vec<i64>)> = history
            .series()
            .map(|(k, p)| (k.to_string(), p.iter().map(|(_, lag)| *lag).collect()))
            .collect();
        assert_eq!(
            lags,
            [
                ("audit pay[1]".to_owned(), vec![2]),
                ("billing pay[0]".to_owned(), vec![0, 2]),
            ]
        );
        history.clear(&store);
        assert!(history.is_empty());
    }

    #[test]
    fn series_and_points_are_capped_and_the_rest_counted() {
        let mut store = Store::new(usize::MAX);
        for i in 0..(MAX_SERIES as i32 + 3) {
            store.push(commit(1, "g", i, 0, 1));
        }
        for i in 0..(POINTS_PER_SERIES as i64 + 5) {
            store.push(commit(2, "g", 0, 0, i));
        }
        let mut history = GroupLagHistory::default();
        history.update(&store, usize::MAX);
        assert_eq!(history.series().count(), MAX_SERIES);
        assert_eq!(history.untracked, 3);
        let (_, first) = history.series().next().expect("g pay[0]");
        assert_eq!(first.len(), POINTS_PER_SERIES);
        assert_eq!(
            first.back().map(|p| p.1),
            Some(POINTS_PER_SERIES as i64 + 4)
        );
    }
}
