//! Filters over the store, and an index of the matching records that is
//! kept up to date incrementally so no frame scans the whole store.

use std::collections::VecDeque;

use memchr::memmem;

use super::record::{ConnectionKey, Record};
use super::store::{Seq, Store};
use super::subject::{SubjectError, SubjectPattern};

/// What the user narrowed the view to. An empty filter matches everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub subject: Option<SubjectPattern>,
    /// Substring searched (case-sensitive) in the payload bytes and headers.
    pub text: Option<String>,
    pub connection: Option<ConnectionKey>,
}

impl Filter {
    /// Build from the filter bar's text fields; an empty field means "any".
    pub fn from_inputs(subject: &str, text: &str) -> Result<Self, SubjectError> {
        let subject = subject.trim();
        let subject = if subject.is_empty() || subject == ">" {
            None
        } else {
            Some(SubjectPattern::parse(subject)?)
        };
        let text = (!text.is_empty()).then(|| text.to_owned());
        Ok(Self {
            subject,
            text,
            connection: None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.subject.is_none() && self.text.is_none() && self.connection.is_none()
    }

    pub fn matches(&self, record: &Record) -> bool {
        if let Some(conn) = self.connection
            && record.connection != conn
        {
            return false;
        }
        if let Some(pattern) = &self.subject
            && !pattern.matches(record.subject())
        {
            return false;
        }
        if let Some(text) = &self.text {
            let needle = text.as_bytes();
            let in_payload = memmem::find(record.payload(), needle).is_some();
            let in_headers = record
                .headers()
                .as_ref()
                .is_some_and(|h| memmem::find(h.as_bytes(), needle).is_some());
            if !in_payload && !in_headers {
                return false;
            }
        }
        true
    }
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.subject == other.subject
            && self.text == other.text
            && self.connection == other.connection
    }
}

/// Sequence numbers of the records that match a filter, oldest first.
///
/// `update` scans at most a given number of new records per call, so a new
/// filter over a million records is applied over a few frames instead of
/// freezing one.
#[derive(Debug, Default)]
pub struct FilteredIndex {
    filter: Filter,
    matches: VecDeque<Seq>,
    scanned_to: Seq,
}

impl FilteredIndex {
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Replace the filter; matching restarts from the oldest record.
    pub fn set_filter(&mut self, filter: Filter) {
        if filter != self.filter {
            self.filter = filter;
            self.matches.clear();
            self.scanned_to = 0;
        }
    }

    /// Forget evicted records and scan up to `max_scan` new ones.
    /// Returns true when the index covers the whole store.
    pub fn update(&mut self, store: &Store, max_scan: usize) -> bool {
        let first = store.first_seq();
        while self.matches.front().is_some_and(|&s| s < first) {
            self.matches.pop_front();
        }
        let start = self.scanned_to.max(first);
        // Saturating: `usize::MAX` asks for everything.
        let end = store.end_seq().min(start.saturating_add(max_scan as Seq));
        for seq in start..end {
            if let Some(record) = store.get(seq)
                && self.filter.matches(record)
            {
                self.matches.push_back(seq);
            }
        }
        self.scanned_to = end;
        self.scanned_to >= store.end_seq()
    }

    /// How far a rebuild has come: (scanned, total) retained records.
    pub fn progress(&self, store: &Store) -> (u64, u64) {
        let first = store.first_seq();
        (
            self.scanned_to.saturating_sub(first),
            store.end_seq() - first,
        )
    }

    pub fn len(&self) -> usize {
        self.matches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.matches.is_empty()
    }

    /// The sequence number of the `row`-th match.
    pub fn seq_at(&self, row: usize) -> Option<Seq> {
        self.matches.get(row).copied()
    }

    /// Row of a sequence number, if it matches (binary search: rows are sorted).
    pub fn row_of(&self, seq: Seq) -> Option<usize> {
        let (a, b) = self.matches.as_slices();
        match a.binary_search(&seq) {
            Ok(i) => Some(i),
            Err(_) => b.binary_search(&seq).ok().map(|i| a.len() + i),
        }
    }

    /// How many matches have a sequence number below `seq`.
    pub fn count_below(&self, seq: Seq) -> usize {
        let (a, b) = self.matches.as_slices();
        let in_a = a.partition_point(|&s| s < seq);
        if in_a < a.len() {
            in_a
        } else {
            a.len() + b.partition_point(|&s| s < seq)
        }
    }

    pub fn seqs(&self) -> impl Iterator<Item = Seq> + '_ {
        self.matches.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::HeaderBlock;

    fn rec(subject: &str, payload: &str, header: Option<(&str, &str)>) -> Record {
        let headers = header.map(|h| HeaderBlock::build(None, [h]));
        Record::new(0, 0, subject, None, headers.as_ref(), payload.as_bytes())
    }

    #[test]
    fn subject_and_text_filters() {
        let f = Filter::from_inputs("orders.*", "gold").expect("valid");
        assert!(f.matches(&rec("orders.created", r#"{"tier":"gold"}"#, None)));
        assert!(f.matches(&rec("orders.created", "{}", Some(("tier", "gold")))));
        assert!(!f.matches(&rec("orders.created", "{}", None)));
        assert!(!f.matches(&rec("orders.created.eu", "gold", None)));
        assert!(Filter::from_inputs(">", "").expect("valid").is_empty());
        assert!(Filter::from_inputs("a..b", "").is_err());
    }

    #[test]
    fn index_is_incremental_and_follows_eviction() {
        let cost = rec("a.1", "x", None).cost();
        let mut store = Store::new(cost * 50);
        let mut index = FilteredIndex::default();
        index.set_filter(Filter::from_inputs("a.*", "").expect("valid"));
        for i in 0..40 {
            store.push(rec(if i % 2 == 0 { "a.1" } else { "b.1" }, "x", None));
        }
        assert!(!index.update(&store, 10));
        assert_eq!(index.len(), 5);
        assert!(index.update(&store, 1000));
        assert_eq!(index.len(), 20);
        for _ in 0..30 {
            store.push(rec("a.2", "x", None));
        }
        index.update(&store, 1000);
        // 20 evicted (the first 10 "a.1" among them), 30 new matches
        assert_eq!(store.first_seq(), 20);
        assert_eq!(index.len(), 10 + 30);
        assert_eq!(index.seq_at(0), Some(20));
        assert_eq!(index.row_of(40), Some(10));
        assert_eq!(index.row_of(21), None);
        // "Everything" (an export, a replay of the filter) scans it all:
        // it used to overflow, and wrap to scanning nothing in release.
        let mut all = FilteredIndex::default();
        all.set_filter(Filter::from_inputs("a.*", "").expect("valid"));
        assert!(all.update(&store, usize::MAX));
        assert_eq!(all.len(), 40);
    }
}
