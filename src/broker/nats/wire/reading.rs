//! Records of one link on their way to the consumer: packed as they are
//! framed, batched, and handed over within the in-flight byte allowance.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::broker::spool::WireParts;
use crate::broker::status::ConnectionShared;
use crate::broker::{Batch, BrokerEvent, EventSink, MAX_BATCH};
use crate::capture::{ConnectionKey, Record, RecordPacker};

/// Records of one link on their way to the consumer, in batches, within
/// the in-flight allowance: a record with no room is dropped and counted
/// (reading on keeps the server from cutting us off, which would lose more).
pub(super) struct Reading {
    pub(super) key: ConnectionKey,
    pub(super) shared: Arc<ConnectionShared>,
    pub(super) packer: RecordPacker,
    pub(super) current: Vec<Record>,
    pub(super) ready: VecDeque<Batch>,
    pub(super) sink: EventSink,
    /// In-flight bytes held by `current`.
    pub(super) permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Dropping since the last record that found room (one episode).
    pub(super) dropping: bool,
    /// Records that may wait to be handed over, at most (a profile knob
    /// for tests; the byte allowance bounds it anyway).
    pub(super) limit: usize,
    /// Records read and kept but not yet handed over.
    pub(super) waiting: usize,
    /// Records went to the spool since the consumer was last woken.
    pub(super) spooled: bool,
}

impl Reading {
    pub(super) fn message(
        &mut self,
        at: crate::capture::Timestamp,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        self.shared.add_read(1);
        if crate::broker::nats::own::is_own_message(subject, reply, payload)
            || crate::broker::nats::own::is_own_event(subject, payload)
        {
            // This process's own requests and their answers (stored
            // messages read back, the cluster polls, JetStream API calls
            // and their audit advisories), known by inboxes no one else
            // can know: not the watched system's traffic. Counted, not kept.
            self.shared.add_own_skipped(1);
            return;
        }
        if self.sink.spool.is_active() {
            // Older records wait on disk: this one goes behind them.
            self.spool_pending();
            self.spool_one(at, subject, reply, headers, payload);
            return;
        }
        // Room is reserved before the bytes are copied: under overload,
        // the only time there is none, copying for nothing would cost more.
        let cost = Record::cost_for(
            subject.len()
                + reply.map_or(0, <[u8]>::len)
                + headers.map_or(0, <[u8]>::len)
                + payload.len(),
        );
        let permit = if self.waiting < self.limit {
            self.sink.try_reserve(cost)
        } else {
            None
        };
        let Some(permit) = permit else {
            if self.sink.spool.enabled() {
                // The consumer is slower than the wire: from here on,
                // records wait on disk, these first.
                self.spool_pending();
                self.spool_one(at, subject, reply, headers, payload);
            } else {
                self.dropped();
            }
            return;
        };
        self.dropping = false;
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        let record = self.pack(at, subject, reply, headers, payload);
        self.current.push(record);
        self.waiting += 1;
        if self.current.len() >= MAX_BATCH {
            self.finish_batch();
        }
    }

    fn dropped(&mut self) {
        self.shared.add_dropped(1);
        if !self.dropping {
            self.dropping = true;
            self.shared.update(|s| s.slow_consumer_events += 1);
        }
    }

    /// A record of the wire's parts, a malformed one counted.
    fn pack(
        &mut self,
        at: crate::capture::Timestamp,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Record {
        let record = self
            .packer
            .pack_wire(at, self.key, subject, reply, headers, payload);
        if record.is_malformed() {
            self.shared.add_malformed(1);
        }
        record
    }

    /// Write one message to the spool (dropped and counted when its disk
    /// budget is spent).
    fn spool_one(
        &mut self,
        at: crate::capture::Timestamp,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        let record = self.pack(at, subject, reply, headers, payload);
        if self.sink.spool.push(&WireParts::of(&record)) {
            self.dropping = false;
            self.spooled = true;
            self.shared.add_delivered(1);
        } else {
            self.dropped();
        }
    }

    /// Records held for the consumer in memory go to the spool first, so
    /// that order is kept; their in-flight bytes are given back.
    fn spool_pending(&mut self) {
        if self.current.is_empty() && self.ready.is_empty() {
            return;
        }
        let batches: Vec<Vec<Record>> = self
            .ready
            .drain(..)
            .map(|b| b.records)
            .chain(std::iter::once(std::mem::take(&mut self.current)))
            .collect();
        self.permit = None;
        for record in batches.iter().flatten() {
            self.waiting -= 1;
            if self.sink.spool.push(&WireParts::of(record)) {
                self.spooled = true;
                self.shared.add_delivered(1);
            } else {
                self.dropped();
            }
        }
    }

    /// Close the batch being filled; it waits in `ready` to be sent.
    pub(super) fn finish_batch(&mut self) {
        if std::mem::take(&mut self.spooled) {
            self.sink.wake();
        }
        if self.current.is_empty() {
            return;
        }
        let Some(permit) = self.permit.take() else {
            return;
        };
        let records = std::mem::take(&mut self.current);
        self.ready.push_back(Batch {
            session: self.sink.session(),
            connection: self.key,
            records,
            _in_flight: permit,
        });
        // Hand over at once when there is room: no waiting for the select.
        while let Some(batch) = self.ready.pop_front() {
            match self.sink.try_send(batch) {
                Ok(n) => self.handed_over(n),
                Err(batch) => {
                    self.ready.push_front(batch);
                    break;
                }
            }
        }
    }

    /// Send the oldest ready batch into the room the consumer made.
    pub(super) fn send_with(&mut self, room: tokio::sync::mpsc::Permit<'_, BrokerEvent>) {
        if let Some(batch) = self.ready.pop_front() {
            let n = batch.records.len();
            room.send(BrokerEvent::Batch(batch));
            self.sink.wake();
            self.handed_over(n);
        }
    }

    fn handed_over(&mut self, n: usize) {
        self.waiting -= n;
        self.shared.add_delivered(n as u64);
    }
}
