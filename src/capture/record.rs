//! One message as the monitor received it, kept byte-exact.

use bytes::Bytes;

use super::headers::HeaderBlock;

/// Nanoseconds since the Unix epoch (UTC).
pub type Timestamp = i64;

/// Index of a connection name in the store's connection table.
pub type ConnectionKey = u16;

/// A received message. Subject and reply are UTF-8 on the wire (the protocol
/// requires it); the payload is kept as the exact bytes, shared with the
/// client's read buffer (no copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub received_at: Timestamp,
    pub connection: ConnectionKey,
    pub subject: Box<str>,
    pub reply: Option<Box<str>>,
    pub headers: Option<HeaderBlock>,
    pub payload: Bytes,
}

/// Rough per-allocation overhead of the system allocator; counted so that the
/// byte budget tracks real memory, not only payload bytes.
const ALLOC_OVERHEAD: usize = 16;

impl Record {
    /// Bytes this record holds on to, as charged against the store budget.
    pub fn cost(&self) -> usize {
        let mut cost = std::mem::size_of::<Record>() + self.subject.len() + ALLOC_OVERHEAD;
        if let Some(reply) = &self.reply {
            cost += reply.len() + ALLOC_OVERHEAD;
        }
        if let Some(headers) = &self.headers {
            cost += headers.as_text().len() + ALLOC_OVERHEAD;
        }
        if !self.payload.is_empty() {
            cost += self.payload.len() + ALLOC_OVERHEAD;
        }
        cost
    }

    /// Subject, reply, headers and payload: what the wire carried.
    pub fn wire_size(&self) -> usize {
        self.subject.len()
            + self.reply.as_ref().map_or(0, |r| r.len())
            + self.headers.as_ref().map_or(0, |h| h.as_text().len())
            + self.payload.len()
    }

    pub fn header_count(&self) -> usize {
        self.headers.as_ref().map_or(0, |h| h.len())
    }

    /// The time as wall-clock UTC, for display and capture files.
    pub fn received_at_utc(&self) -> chrono::DateTime<chrono::Utc> {
        timestamp_to_utc(self.received_at)
    }
}

pub fn timestamp_to_utc(ts: Timestamp) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_nanos(ts)
}

pub fn now_timestamp() -> Timestamp {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}
