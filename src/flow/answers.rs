//! Answers that do not wait their turn: replies seen before their request
//! (from another connection, a PubAck can overtake the publish), and more
//! replies to a request already answered (scatter-gather). Both bounded.

use std::collections::VecDeque;

use foldhash::HashMap;

use super::model::FlowId;
use crate::capture::{Record, Seq, Timestamp};

/// Inboxes by their hash: no allocation per answered request. A hash
/// that collides is caught by comparing the flow's own reply subject.
#[derive(Default)]
pub(super) struct RecentAnswers {
    by_inbox: HashMap<u64, FlowId>,
    order: VecDeque<(Timestamp, u64)>,
}

pub(super) fn inbox_hash(inbox: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0).hash_one(inbox)
}

impl RecentAnswers {
    pub(super) fn keep(&mut self, inbox: &str, id: FlowId, at: Timestamp, window: i64) {
        const KEPT: usize = 65_536;
        while let Some(&(first, old)) = self.order.front()
            && (first < at - window || self.order.len() >= KEPT)
        {
            self.by_inbox.remove(&old);
            self.order.pop_front();
        }
        let hash = inbox_hash(inbox);
        self.order.push_back((at, hash));
        self.by_inbox.insert(hash, id);
    }

    pub(super) fn get(&self, inbox: &str) -> Option<FlowId> {
        self.by_inbox.get(&inbox_hash(inbox)).copied()
    }
}

/// Inbox answers waiting a moment for their request, bounded in number and
/// age.
#[derive(Default)]
pub(super) struct EarlyReplies {
    by_inbox: HashMap<Box<str>, Vec<(Seq, Record)>>,
    order: VecDeque<(Timestamp, Box<str>)>,
}

/// How long an answer waits for its request (far beyond any reordering
/// between connections, short enough to keep few).
const EARLY_REPLY_WAIT_NS: i64 = 2_000_000_000;
const EARLY_REPLIES_KEPT: usize = 4096;

impl EarlyReplies {
    pub(super) fn keep(&mut self, seq: Seq, record: &Record, latest: Timestamp) {
        while let Some((at, inbox)) = self.order.front()
            && (*at < latest - EARLY_REPLY_WAIT_NS || self.order.len() >= EARLY_REPLIES_KEPT)
        {
            self.by_inbox.remove(inbox);
            self.order.pop_front();
        }
        let inbox: Box<str> = record.subject().into();
        self.order.push_back((record.received_at, inbox.clone()));
        self.by_inbox
            .entry(inbox)
            .or_default()
            .push((seq, record.detached()));
    }

    pub(super) fn take(&mut self, inbox: &str) -> Vec<(Seq, Record)> {
        self.by_inbox.remove(inbox).unwrap_or_default()
    }
}
