//! Records of one link on their way to the consumer, whatever its broker:
//! packed as they are read, batched, and handed over within the in-flight
//! byte allowance, spooled to disk or dropped and counted beyond it.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::broker::spool::WireParts;
use crate::broker::status::ConnectionShared;
use crate::broker::{Batch, BrokerEvent, EventSink, MAX_BATCH};
use crate::capture::{ConnectionKey, Incoming, Record, RecordPacker};

/// Records of one link on their way to the consumer, in batches, within
/// the in-flight allowance: a record with no room is dropped and counted
/// (reading on keeps the server from cutting us off, which would lose more).
pub(crate) struct Reading {
    pub(crate) key: ConnectionKey,
    pub(crate) shared: Arc<ConnectionShared>,
    pub(crate) packer: RecordPacker,
    pub(crate) current: Vec<Record>,
    pub(crate) ready: VecDeque<Batch>,
    pub(crate) sink: EventSink,
    /// In-flight bytes held by `current`.
    pub(crate) permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Dropping since the last record that found room (one episode).
    pub(crate) dropping: bool,
    /// Records that may wait to be handed over, at most (a profile knob
    /// for tests; the byte allowance bounds it anyway).
    pub(crate) limit: usize,
    /// Records read and kept but not yet handed over.
    pub(crate) waiting: usize,
    /// Records went to the spool since the consumer was last woken.
    pub(crate) spooled: bool,
    /// The last record's time: each one is later than the one before.
    last_at: crate::capture::Timestamp,
}

impl Reading {
    pub(crate) fn new(
        key: ConnectionKey,
        shared: Arc<ConnectionShared>,
        sink: EventSink,
        limit: usize,
    ) -> Self {
        Self {
            key,
            shared,
            packer: RecordPacker::default(),
            current: Vec::new(),
            ready: VecDeque::new(),
            sink,
            permit: None,
            dropping: false,
            limit,
            waiting: 0,
            spooled: false,
            last_at: 0,
        }
    }

    /// A message the link read that is this process's own (known by
    /// inboxes no one else can know): counted, not kept, as it is not the
    /// watched system's traffic.
    pub(crate) fn own(&mut self) {
        self.shared.add_read(1);
        self.shared.add_own_skipped(1);
    }

    /// A message the link read: kept, spooled, or dropped and counted.
    pub(crate) fn message(&mut self, at: crate::capture::Timestamp, incoming: &Incoming<'_>) {
        self.shared.add_read(1);
        // A link stamps everything one read brought with that read's time;
        // a nanosecond apart, they keep the wire's order in time too (a
        // consumer created after a publish in the same read is not alive
        // when that message was stored).
        let at = at.max(self.last_at + 1);
        self.last_at = at;
        if self.sink.spool.is_active() {
            // Older records wait on disk: this one goes behind them.
            self.spool_pending();
            self.spool_one(at, incoming);
            return;
        }
        // Room is reserved before the bytes are copied: under overload,
        // the only time there is none, copying for nothing would cost more.
        let cost = Record::cost_for(
            incoming.subject.len()
                + incoming.reply.map_or(0, <[u8]>::len)
                + incoming.headers.map_or(0, <[u8]>::len)
                + incoming.fields.len()
                + incoming.payload.len(),
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
                self.spool_one(at, incoming);
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
        let record = self.pack(at, incoming);
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
    fn pack(&mut self, at: crate::capture::Timestamp, incoming: &Incoming<'_>) -> Record {
        let record = self.packer.pack_incoming(at, self.key, incoming);
        if record.is_malformed() {
            self.shared.add_malformed(1);
        }
        record
    }

    /// Write one message to the spool (dropped and counted when its disk
    /// budget is spent).
    fn spool_one(&mut self, at: crate::capture::Timestamp, incoming: &Incoming<'_>) {
        let record = self.pack(at, incoming);
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
    pub(crate) fn finish_batch(&mut self) {
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
    pub(crate) fn send_with(&mut self, room: tokio::sync::mpsc::Permit<'_, BrokerEvent>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything one read brought has one time; the records keep the
    /// wire's order in time too (a consumer created right after a publish,
    /// in the same read, was taken as alive when that message was stored).
    #[test]
    fn records_of_one_read_are_a_nanosecond_apart_in_wire_order() {
        let (broker, mut events) = crate::broker::Broker::new(Arc::new(|| {})).expect("broker");
        let mut reading = Reading::new(0, Arc::default(), broker.sink.clone(), usize::MAX);
        let incoming = |subject: &'static str| Incoming {
            subject: subject.as_bytes(),
            reply: None,
            headers: None,
            fields: "",
            payload: b"",
        };
        for subject in ["i.early", "$JS.API.CONSUMER.CREATE.I", "i.later"] {
            reading.message(1_000, &incoming(subject));
        }
        reading.message(900, &incoming("a clock that stepped back"));
        reading.finish_batch();
        let Some(BrokerEvent::Batch(batch)) = events.try_recv().ok() else {
            panic!("a batch")
        };
        let times: Vec<_> = batch.records.iter().map(|r| r.received_at).collect();
        assert_eq!(times, [1_000, 1_001, 1_002, 1_003]);
    }
}
