//! A feed the views show (a watch, server events): the newest entries up
//! to a bound, and a count of the older ones let go, so a busy source can
//! neither grow memory without end nor lose entries silently.

use std::collections::VecDeque;

pub struct Bounded<T> {
    items: VecDeque<T>,
    bound: usize,
    /// Entries seen but no longer kept (or never taken in).
    pub not_kept: u64,
}

impl<T> Bounded<T> {
    pub fn new(bound: usize) -> Self {
        Self {
            items: VecDeque::new(),
            bound: bound.max(1),
            not_kept: 0,
        }
    }

    pub fn push(&mut self, item: T) {
        if self.items.len() == self.bound {
            self.items.pop_front();
            self.not_kept += 1;
        }
        self.items.push_back(item);
    }

    pub fn extend(&mut self, items: impl IntoIterator<Item = T>) {
        for item in items {
            self.push(item);
        }
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.not_kept = 0;
    }

    /// Entries kept, oldest first.
    pub fn items(&self) -> &VecDeque<T> {
        &self.items
    }

    /// Every entry seen, kept or not.
    pub fn seen(&self) -> u64 {
        self.items.len() as u64 + self.not_kept
    }

    /// "N entries (M oldest not kept)".
    pub fn summary(&self, what: &str) -> String {
        if self.not_kept > 0 {
            format!("{} {what} ({} oldest not kept)", self.seen(), self.not_kept)
        } else {
            format!("{} {what}", self.seen())
        }
    }
}
