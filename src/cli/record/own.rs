//! What `record --to-stream` leaves out of what it records: its own writes
//! to the capture stream and their acks.

use std::sync::Arc;

/// What the writer leaves out: the recorder's own writes to a capture
/// stream and the stream's acks to it, which a `>` subscription receives
/// too (kept, they would be stored, acked and received again: a loop).
/// Known by what only this recorder can know: a write by its bytes (the
/// lines it sent), an ack by its inbox and its body (this stream's
/// sequence). Another publisher on the capture subject is recorded.
pub(super) struct OwnTraffic {
    pub(super) subject: String,
    pub(super) inbox_prefix: String,
    pub(super) stream: String,
    pub(super) writes: Arc<crate::jetstream::OwnWrites>,
    pub(super) skipped: u64,
}

impl OwnTraffic {
    pub(super) fn is_own(&mut self, record: &crate::capture::Record) -> bool {
        let subject = record.subject();
        let own = if subject == self.subject {
            self.writes.take(record.payload())
        } else {
            subject
                .strip_prefix(self.inbox_prefix.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
                && self.is_ack(record.payload())
        };
        self.skipped += u64::from(own);
        own
    }

    /// `{"stream":"<ours>","seq":N}` and nothing else of note.
    fn is_ack(&self, payload: &[u8]) -> bool {
        #[derive(serde::Deserialize)]
        struct PubAck {
            stream: String,
            seq: u64,
        }
        serde_json::from_slice::<PubAck>(payload)
            .is_ok_and(|ack| ack.stream == self.stream && ack.seq > 0)
    }
}
