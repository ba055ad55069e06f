//! Which sequences of a capture stream its recorder wrote: kept by the
//! recorder from its publish acks and written, every few seconds and at
//! the end, to the stream's metadata (`eventscope_own`). Anyone who may
//! publish on the capture subject can add a line to the stream; only who
//! may update the stream's configuration can change this list. Readers
//! skip and count a line whose sequence is not in it.

/// Sorted, disjoint, inclusive sequence ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqRanges(Vec<(u64, u64)>);

/// Ranges kept at most in the metadata (foreign lines split them): past
/// this, the list says it is incomplete and readers cannot tell.
pub const MAX_RANGES: usize = 4096;

impl SeqRanges {
    pub fn insert(&mut self, seq: u64) {
        if let Some(last) = self.0.last_mut() {
            if seq == last.1 + 1 {
                last.1 = seq;
                return;
            }
            if seq > last.1 + 1 {
                self.0.push((seq, seq));
                return;
            }
        } else {
            self.0.push((seq, seq));
            return;
        }
        // Out of order (a retry after a failover): the general case.
        let at = self.0.partition_point(|(_, end)| *end + 1 < seq);
        match self.0.get_mut(at) {
            Some((start, end)) if *start <= seq + 1 => {
                *start = (*start).min(seq);
                *end = (*end).max(seq);
            }
            _ => self.0.insert(at, (seq, seq)),
        }
        // Merge with the next range if they now touch.
        if at + 1 < self.0.len() && self.0[at].1 + 1 >= self.0[at + 1].0 {
            self.0[at].1 = self.0[at].1.max(self.0[at + 1].1);
            self.0.remove(at + 1);
        }
    }

    pub fn contains(&self, seq: u64) -> bool {
        let at = self.0.partition_point(|(_, end)| *end < seq);
        self.0.get(at).is_some_and(|(start, _)| *start <= seq)
    }

    /// The highest sequence in the list (0 when empty).
    pub fn last(&self) -> u64 {
        self.0.last().map_or(0, |r| r.1)
    }

    /// How many of the sequences from `first` on are in the list.
    pub fn count_from(&self, first: u64) -> u64 {
        self.0
            .iter()
            .filter(|(_, end)| *end >= first)
            .map(|(start, end)| end - (*start).max(first) + 1)
            .sum()
    }

    /// `1-500,502-1000`; `None` past `MAX_RANGES`.
    pub fn to_text(&self) -> Option<String> {
        (self.0.len() <= MAX_RANGES).then(|| {
            self.0
                .iter()
                .map(|(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut ranges = Self::default();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            if a > b || ranges.last() >= a && !ranges.0.is_empty() {
                return None;
            }
            ranges.0.push((a, b));
        }
        Some(ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_what_was_inserted_in_any_order() {
        let mut r = SeqRanges::default();
        for seq in [1, 2, 3, 5, 6, 10, 4, 8, 9] {
            r.insert(seq);
        }
        assert_eq!(r.to_text().as_deref(), Some("1-6,8-10"));
        assert!(r.contains(4) && !r.contains(7) && !r.contains(11) && !r.contains(0));
        assert_eq!(r.count_from(5), 5);
        assert_eq!(SeqRanges::parse("1-6,8-10"), Some(r));
        assert_eq!(SeqRanges::parse("5-3"), None);
        assert_eq!(SeqRanges::parse("x"), None);
    }
}
