//! What a stream holds, as read back: the message, how it was read, and a
//! batch of direct-get answers.

use bytes::Bytes;

use crate::capture::{ConnectionKey, HeaderBlock, Record, Timestamp};

/// A message as the stream stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub stream: String,
    pub seq: u64,
    pub subject: String,
    /// When the stream stored it.
    pub time: Timestamp,
    pub headers: Option<HeaderBlock>,
    pub payload: Bytes,
}

impl StoredMessage {
    /// As a record received at its stored time, for the inspector, the
    /// flow view, publish and replay.
    pub fn to_record(&self, connection: ConnectionKey) -> Record {
        Record::new(
            self.time,
            connection,
            &self.subject,
            None,
            self.headers.as_ref(),
            &self.payload,
        )
    }

    pub(super) fn bytes(&self) -> usize {
        self.subject.len()
            + self.payload.len()
            + self.headers.as_ref().map_or(0, |h| h.as_bytes().len())
    }
}

/// How messages were read; shown as a badge beside them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Batched direct get: one request per page, served by any replica.
    Direct,
    /// `STREAM.MSG.GET`: one request per message, served by the leader.
    MsgGet,
}

impl Access {
    pub fn of(allow_direct: bool) -> Self {
        if allow_direct {
            Self::Direct
        } else {
            Self::MsgGet
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Direct => "direct get",
            Self::MsgGet => "STREAM.MSG.GET",
        }
    }
}

/// The answers to one batched direct get.
pub(super) struct DirectBatch {
    pub(super) messages: Vec<StoredMessage>,
    /// Matching messages after the last one sent (`Nats-Num-Pending`).
    pub(super) pending: u64,
}

/// The caps a page may not exceed, whatever is asked.
pub const MAX_PAGE_COUNT: usize = 10_000;
pub const MAX_PAGE_BYTES: usize = 64 << 20;

/// Headers the server adds to a direct get answer, not the message's own.
pub(super) const DIRECT_GET_HEADERS: [&str; 7] = [
    "Nats-Stream",
    "Nats-Sequence",
    "Nats-Subject",
    "Nats-Time-Stamp",
    "Nats-Num-Pending",
    "Nats-Last-Sequence",
    "Nats-UpTo-Sequence",
];
