//! The bounded store: a ring of records under a byte budget. The oldest
//! records are evicted when the budget is exceeded, and every eviction is
//! counted so the UI can say exactly what is no longer retained.

use std::collections::VecDeque;
use std::sync::Arc;

use super::broker::BrokerKind;
use super::record::{ConnectionKey, Record, Timestamp};
use super::subject_tree::SubjectTree;

/// Default byte budget: 512 MiB.
pub const DEFAULT_BUDGET_BYTES: usize = 512 * 1024 * 1024;

/// Sequence number of a record: stable for the record's lifetime, never
/// reused until `clear`.
pub type Seq = u64;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreCounters {
    /// Records ever added since the last clear.
    pub captured: u64,
    /// Records evicted by the byte budget.
    pub evicted: u64,
    pub evicted_bytes: u64,
}

/// A period in which a connection was not connected: nothing could be seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub connection: ConnectionKey,
    pub from: Timestamp,
    /// `None` while the connection is still down.
    pub to: Option<Timestamp>,
}

#[derive(Debug)]
pub struct Store {
    records: VecDeque<Record>,
    first_seq: Seq,
    bytes_used: usize,
    budget: usize,
    counters: StoreCounters,
    connections: Vec<Arc<str>>,
    /// The broker of each connection, by key.
    brokers: Vec<BrokerKind>,
    tree: SubjectTree,
    gaps: Vec<Gap>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(DEFAULT_BUDGET_BYTES)
    }
}

impl Store {
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            records: VecDeque::new(),
            first_seq: 0,
            bytes_used: 0,
            budget: budget_bytes,
            counters: StoreCounters::default(),
            connections: Vec::new(),
            brokers: Vec::new(),
            tree: SubjectTree::new(),
            gaps: Vec::new(),
        }
    }

    /// The key for a NATS connection's name, adding it on first use.
    pub fn intern_connection(&mut self, name: &str) -> ConnectionKey {
        self.intern_connection_of(name, BrokerKind::Nats)
    }

    /// The key for a connection name on `broker`, adding it on first use
    /// (a name seen again says its broker anew: a profile can change).
    pub fn intern_connection_of(&mut self, name: &str, broker: BrokerKind) -> ConnectionKey {
        if let Some(pos) = self.connections.iter().position(|n| &**n == name) {
            self.brokers[pos] = broker;
            return pos as ConnectionKey;
        }
        self.connections.push(name.into());
        self.brokers.push(broker);
        (self.connections.len() - 1) as ConnectionKey
    }

    /// The broker of each connection, by key.
    pub fn brokers(&self) -> &[BrokerKind] {
        &self.brokers
    }

    /// The broker a connection (and every record read on it) speaks.
    pub fn broker_of(&self, key: ConnectionKey) -> BrokerKind {
        self.brokers
            .get(usize::from(key))
            .copied()
            .unwrap_or_default()
    }

    pub fn connection_name(&self, key: ConnectionKey) -> &str {
        self.connections.get(usize::from(key)).map_or("?", |n| n)
    }

    pub fn connection_names(&self) -> &[Arc<str>] {
        &self.connections
    }

    /// Add a record, evicting the oldest ones while over budget.
    pub fn push(&mut self, record: Record) {
        let broker = self.broker_of(record.connection);
        self.tree.record_under(
            broker.tree_root(),
            record.subject(),
            broker.separator(),
            record.wire_size(),
            record.received_at,
        );
        self.bytes_used += record.cost();
        self.records.push_back(record);
        self.counters.captured += 1;
        self.evict_to_budget();
    }

    pub fn extend(&mut self, records: impl IntoIterator<Item = Record>) {
        for record in records {
            self.push(record);
        }
    }

    fn evict_to_budget(&mut self) {
        // Keep at least the newest record, however large: showing it beats
        // showing nothing, and it is evicted by the next one.
        while self.bytes_used > self.budget && self.records.len() > 1 {
            if let Some(old) = self.records.pop_front() {
                let cost = old.cost();
                self.bytes_used -= cost;
                self.first_seq += 1;
                self.counters.evicted += 1;
                self.counters.evicted_bytes += cost as u64;
            }
        }
    }

    /// Change the budget; shrinking evicts at once.
    pub fn set_budget(&mut self, budget_bytes: usize) {
        self.budget = budget_bytes;
        self.evict_to_budget();
    }

    pub fn budget(&self) -> usize {
        self.budget
    }

    pub fn bytes_used(&self) -> usize {
        self.bytes_used
    }

    pub fn counters(&self) -> StoreCounters {
        self.counters
    }

    /// Number of records retained.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Sequence number of the oldest retained record.
    pub fn first_seq(&self) -> Seq {
        self.first_seq
    }

    /// One past the sequence number of the newest record.
    pub fn end_seq(&self) -> Seq {
        self.first_seq + self.records.len() as Seq
    }

    pub fn get(&self, seq: Seq) -> Option<&Record> {
        let index = seq.checked_sub(self.first_seq)?;
        self.records.get(usize::try_from(index).ok()?)
    }

    /// Retained records with their sequence numbers, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (Seq, &Record)> + ExactSizeIterator {
        let first = self.first_seq;
        self.records
            .iter()
            .enumerate()
            .map(move |(i, r)| (first + i as Seq, r))
    }

    /// Retained records received at or after `since` (records arrive in
    /// time order, so this is a binary search).
    pub fn count_since(&self, since: Timestamp) -> usize {
        self.records.len() - self.records.partition_point(|r| r.received_at < since)
    }

    /// Sequence numbers of the records received at or after `since`.
    pub fn seqs_since(&self, since: Timestamp) -> std::ops::Range<Seq> {
        let skip = self.records.partition_point(|r| r.received_at < since);
        self.first_seq + skip as Seq..self.end_seq()
    }

    pub fn latest(&self) -> Option<&Record> {
        self.records.back()
    }

    pub fn subjects(&self) -> &SubjectTree {
        &self.tree
    }

    /// Forget all records, counts and gaps; connection names stay.
    pub fn clear(&mut self) {
        let end = self.end_seq();
        self.records.clear();
        self.first_seq = end; // sequence numbers stay unique across a clear
        self.bytes_used = 0;
        self.counters = StoreCounters::default();
        self.tree.clear();
        self.gaps.clear();
    }

    pub fn note_disconnected(&mut self, connection: ConnectionKey, at: Timestamp) {
        let open = self
            .gaps
            .iter()
            .any(|g| g.connection == connection && g.to.is_none());
        if !open {
            self.gaps.push(Gap {
                connection,
                from: at,
                to: None,
            });
        }
    }

    pub fn note_connected(&mut self, connection: ConnectionKey, at: Timestamp) {
        for gap in &mut self.gaps {
            if gap.connection == connection && gap.to.is_none() {
                gap.to = Some(at);
            }
        }
    }

    /// Put back gaps taken before a clear (a history inserted under the
    /// live records keeps the marks of when nothing could be seen).
    pub fn restore_gaps(&mut self, gaps: Vec<Gap>) {
        self.gaps = gaps;
    }

    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(subject: &str, payload: usize) -> Record {
        Record::new(0, 0, subject, None, None, &vec![7u8; payload])
    }

    #[test]
    fn evicts_oldest_and_counts() {
        let one = rec("a", 1000).cost();
        let mut store = Store::new(one * 10);
        for i in 0..25 {
            store.push(rec("a", 1000));
            assert!(store.bytes_used() <= store.budget(), "after push {i}");
        }
        assert_eq!(store.len(), 10);
        let c = store.counters();
        assert_eq!((c.captured, c.evicted), (25, 15));
        assert_eq!(c.evicted_bytes, 15 * one as u64);
        assert_eq!(store.first_seq(), 15);
        assert!(store.get(14).is_none());
        assert!(store.get(15).is_some());
        assert_eq!(store.subjects().node(0).messages, 25);
    }

    #[test]
    fn shrinking_the_budget_evicts_now() {
        let mut store = Store::new(usize::MAX);
        store.extend((0..100).map(|_| rec("a.b", 100)));
        store.set_budget(rec("a.b", 100).cost() * 3);
        assert_eq!(store.len(), 3);
        assert_eq!(store.counters().evicted, 97);
    }

    #[test]
    fn clear_keeps_sequence_numbers_unique() {
        let mut store = Store::new(usize::MAX);
        store.extend((0..5).map(|_| rec("a", 1)));
        store.clear();
        store.push(rec("b", 1));
        assert_eq!(store.first_seq(), 5);
        assert_eq!(store.get(5).map(|r| r.subject()), Some("b"));
        assert_eq!(store.counters().captured, 1);
    }

    #[test]
    fn gaps_open_and_close() {
        let mut store = Store::default();
        let c = store.intern_connection("demo");
        assert_eq!(store.intern_connection("demo"), c);
        store.note_disconnected(c, 10);
        store.note_disconnected(c, 11);
        store.note_connected(c, 20);
        assert_eq!(
            store.gaps(),
            &[Gap {
                connection: c,
                from: 10,
                to: Some(20)
            }]
        );
    }
}
