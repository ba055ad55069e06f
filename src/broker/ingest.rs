//! From async-nats messages to records, and the per-subscription task that
//! hands them over in batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{FutureExt, StreamExt};

use super::status::ConnectionShared;
use super::{Batch, BrokerEvent, EventSink, MAX_BATCH};
use crate::capture::record::now_timestamp;
use crate::capture::{ConnectionKey, HeaderBlock, Record, RecordPacker, Timestamp};

/// Turns client messages into compact records: header text built in one
/// reused block, everything packed into shared blocks (see [`Record`]).
#[derive(Default)]
pub struct RecordMaker {
    packer: RecordPacker,
    headers: HeaderBlock,
}

impl RecordMaker {
    pub fn make(
        &mut self,
        message: &async_nats::Message,
        connection: ConnectionKey,
        at: Timestamp,
    ) -> Record {
        let has_headers = message.headers.is_some() || message.status.is_some();
        if has_headers {
            let status = message
                .status
                .map(|s| (s.as_u16(), message.description.as_deref().unwrap_or("")));
            let pairs = message.headers.iter().flat_map(|map| {
                map.iter().flat_map(|(name, values)| {
                    let name: &str = name.as_ref();
                    values.iter().map(move |v| (name, v.as_str()))
                })
            });
            self.headers.rebuild(status, pairs);
        }
        self.packer.pack(
            at,
            connection,
            message.subject.as_str(),
            message.reply.as_ref().map(|r| r.as_str()),
            has_headers.then_some(&self.headers),
            &message.payload,
        )
    }
}

/// Counts subscription tasks that hold unread messages; when none does,
/// the connection's drop count can be measured exactly.
#[derive(Default)]
pub(crate) struct BusyPumps(AtomicUsize);

impl BusyPumps {
    pub(crate) fn all_idle(&self) -> bool {
        self.0.load(Ordering::Acquire) == 0
    }
}

/// Drain one subscription into batches until it ends or the consumer goes.
pub(crate) async fn pump(
    mut subscriber: async_nats::Subscriber,
    connection: ConnectionKey,
    shared: Arc<ConnectionShared>,
    busy: Arc<BusyPumps>,
    sink: EventSink,
) {
    let mut maker = RecordMaker::default();
    let mut guard = BusyGuard {
        busy,
        is_busy: false,
    };
    while let Some(first) = subscriber.next().await {
        guard.set(true);
        let mut records = Vec::with_capacity(64);
        records.push(maker.make(&first, connection, now_timestamp()));
        let mut read_when_emptied = None;
        while records.len() < MAX_BATCH {
            let read = shared.messages_read();
            // Unconstrained: with tokio's cooperative budget spent, `next`
            // says "not ready" while messages wait, and an empty buffer
            // must really be empty before drops are measured.
            match tokio::task::unconstrained(subscriber.next()).now_or_never() {
                Some(Some(message)) => {
                    records.push(maker.make(&message, connection, now_timestamp()))
                }
                Some(None) => break,
                None => {
                    read_when_emptied = Some(read);
                    break;
                }
            }
        }
        shared.add_delivered(records.len() as u64);
        if let Some(read) = read_when_emptied
            && guard.set(false)
        {
            shared.measure_drops(read);
        }
        let bytes = records.iter().map(Record::cost).sum();
        let batch = Batch {
            _in_flight: sink.reserve(bytes).await,
            session: sink.session(),
            connection,
            records,
        };
        if !sink.send(BrokerEvent::Batch(batch)).await {
            break;
        }
    }
}

struct BusyGuard {
    busy: Arc<BusyPumps>,
    is_busy: bool,
}

impl BusyGuard {
    /// Mark this pump busy or idle; returns true if now no pump is busy.
    fn set(&mut self, busy: bool) -> bool {
        if busy != self.is_busy {
            self.is_busy = busy;
            if busy {
                self.busy.0.fetch_add(1, Ordering::AcqRel);
            } else {
                return self.busy.0.fetch_sub(1, Ordering::AcqRel) == 1;
            }
        }
        self.busy.0.load(Ordering::Acquire) == 0
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.set(false);
    }
}
