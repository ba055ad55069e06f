//! One message as the monitor received it, kept byte-exact and compact.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::headers::{HeaderBlock, HeaderMeta, Headers};

/// Nanoseconds since the Unix epoch (UTC).
pub type Timestamp = i64;

/// Index of a connection name in the store's connection table.
pub type ConnectionKey = u16;

/// A received message. Subject, reply, header text and payload sit back to
/// back in one shared byte block: records made by one [`RecordPacker`]
/// share large blocks, so a retained record costs its wire bytes plus this
/// struct, with no allocation of its own (small allocations per record,
/// freed out of order, fragment the heap and keep RSS far above what is
/// retained). Subject and reply are UTF-8 on the wire (the protocol
/// requires it); the payload is kept as the exact bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    pub received_at: Timestamp,
    pub connection: ConnectionKey,
    /// `subject | reply | header text | payload`; the first three are UTF-8.
    data: Bytes,
    subject_end: u32,
    reply_end: u32,
    headers_end: u32,
    headers: Option<HeaderMeta>,
}

impl Record {
    /// A record with a block of its own (tests, single messages). Use a
    /// [`RecordPacker`] for many.
    pub fn new(
        received_at: Timestamp,
        connection: ConnectionKey,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderBlock>,
        payload: &[u8],
    ) -> Self {
        let mut data = Vec::with_capacity(parts_len(subject, reply, headers, payload));
        let ends = write_parts(&mut data, subject, reply, headers, payload);
        Self::from_parts(received_at, connection, data.into(), ends, headers)
    }

    fn from_parts(
        received_at: Timestamp,
        connection: ConnectionKey,
        data: Bytes,
        [subject_end, reply_end, headers_end]: [u32; 3],
        headers: Option<&HeaderBlock>,
    ) -> Self {
        Self {
            received_at,
            connection,
            data,
            subject_end,
            reply_end,
            headers_end,
            headers: headers.map(HeaderBlock::meta),
        }
    }

    pub fn subject(&self) -> &str {
        self.text(0, self.subject_end)
    }

    pub fn reply(&self) -> Option<&str> {
        (self.reply_end > self.subject_end).then(|| self.text(self.subject_end, self.reply_end))
    }

    pub fn headers(&self) -> Option<Headers<'_>> {
        let meta = self.headers?;
        Some(Headers::new(
            self.text(self.reply_end, self.headers_end),
            meta,
        ))
    }

    pub fn payload(&self) -> &[u8] {
        &self.data[self.headers_end as usize..]
    }

    /// The payload as shared bytes, for sending it again without a copy.
    pub fn payload_bytes(&self) -> Bytes {
        self.data.slice(self.headers_end as usize..)
    }

    fn text(&self, from: u32, to: u32) -> &str {
        let bytes = &self.data[from as usize..to as usize];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `data` is private and written only by `write_parts`, which
        // copies the subject, reply and header text from `&str`s and
        // records where each ends, so these ranges are whole UTF-8 strings.
        // (Checking on every read cost 12% of a max-rate replay.)
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// Bytes this record holds on to, as charged against the store budget.
    pub fn cost(&self) -> usize {
        std::mem::size_of::<Record>() + self.data.len()
    }

    /// Subject, reply, headers and payload: what the wire carried.
    pub fn wire_size(&self) -> usize {
        self.data.len()
    }

    pub fn header_count(&self) -> usize {
        self.headers.map_or(0, |h| usize::from(h.count))
    }

    /// The time as wall-clock UTC, for display and capture files.
    pub fn received_at_utc(&self) -> chrono::DateTime<chrono::Utc> {
        timestamp_to_utc(self.received_at)
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("received_at", &self.received_at)
            .field("connection", &self.connection)
            .field("subject", &self.subject())
            .field("reply", &self.reply())
            .field("headers", &self.headers().map(|h| h.as_text()))
            .field("payload", &Bytes::copy_from_slice(self.payload()))
            .finish()
    }
}

/// Packs records into shared blocks of [`BLOCK_BYTES`]; a block is freed
/// when its last record goes, which the store's oldest-first eviction makes
/// prompt.
#[derive(Default)]
pub struct RecordPacker {
    block: BytesMut,
}

/// Large enough to hold many records, small enough that one record kept
/// alive (a replay selection, say) pins little.
pub const BLOCK_BYTES: usize = 64 * 1024;

impl RecordPacker {
    pub fn pack(
        &mut self,
        received_at: Timestamp,
        connection: ConnectionKey,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderBlock>,
        payload: &[u8],
    ) -> Record {
        let size = parts_len(subject, reply, headers, payload);
        let Some(block) = self.room_for(size) else {
            return Record::new(received_at, connection, subject, reply, headers, payload);
        };
        let ends = write_parts(block, subject, reply, headers, payload);
        let data = block.split().freeze();
        Record::from_parts(received_at, connection, data, ends, headers)
    }

    /// The shared block with `size` bytes free, or `None` for a large
    /// message, which gets its own block rather than wasting most of one.
    fn room_for(&mut self, size: usize) -> Option<&mut BytesMut> {
        if size > BLOCK_BYTES / 4 {
            return None;
        }
        if self.block.capacity() - self.block.len() < size {
            self.block = BytesMut::with_capacity(BLOCK_BYTES);
        }
        Some(&mut self.block)
    }

    /// The same record in this packer's blocks. For records kept apart
    /// from the store (a replay selection): a clone would keep the store's
    /// whole block alive after the store evicted it.
    pub fn copy(&mut self, record: &Record) -> Record {
        let data = match self.room_for(record.data.len()) {
            Some(block) => {
                block.put_slice(&record.data);
                block.split().freeze()
            }
            None => Bytes::copy_from_slice(&record.data),
        };
        Record { data, ..*record }
    }
}

fn parts_len(
    subject: &str,
    reply: Option<&str>,
    headers: Option<&HeaderBlock>,
    payload: &[u8],
) -> usize {
    subject.len()
        + reply.map_or(0, str::len)
        + headers.map_or(0, |h| h.as_text().len())
        + payload.len()
}

/// Append the parts; returns where subject, reply and header text end.
fn write_parts(
    out: &mut impl BufMut,
    subject: &str,
    reply: Option<&str>,
    headers: Option<&HeaderBlock>,
    payload: &[u8],
) -> [u32; 3] {
    let offset = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let subject_end = subject.len();
    let reply_end = subject_end + reply.map_or(0, str::len);
    let header_text = headers.map_or("", HeaderBlock::as_text);
    let headers_end = reply_end + header_text.len();
    out.put_slice(subject.as_bytes());
    out.put_slice(reply.unwrap_or("").as_bytes());
    out.put_slice(header_text.as_bytes());
    out.put_slice(payload);
    [offset(subject_end), offset(reply_end), offset(headers_end)]
}

pub fn timestamp_to_utc(ts: Timestamp) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_nanos(ts)
}

pub fn now_timestamp() -> Timestamp {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_back_exactly() {
        let headers = HeaderBlock::build(None, [("a", "1"), ("a", "2")]);
        let mut packer = RecordPacker::default();
        let binary = [0u8, 255, b'\n', 13];
        let r = packer.pack(
            5,
            1,
            "orders.new",
            Some("_INBOX.x"),
            Some(&headers),
            &binary,
        );
        let bare = packer.pack(6, 1, "a", None, None, b"");
        assert_eq!(r.subject(), "orders.new");
        assert_eq!(r.reply(), Some("_INBOX.x"));
        assert_eq!(r.headers().map(|h| h.get_all("A").count()), Some(2));
        assert_eq!(r.payload(), binary);
        assert_eq!(&r.payload_bytes()[..], binary);
        assert_eq!(
            (bare.subject(), bare.reply(), bare.headers()),
            ("a", None, None)
        );
        assert!(bare.payload().is_empty());
        assert_eq!(
            r,
            Record::new(
                5,
                1,
                "orders.new",
                Some("_INBOX.x"),
                Some(&headers),
                &binary
            )
        );
        assert_eq!(r.wire_size(), 10 + 8 + headers.as_text().len() + 4);
        let copied = RecordPacker::default().copy(&r);
        assert_eq!(copied, r);
        assert!(!std::ptr::eq(
            copied.payload().as_ptr(),
            r.payload().as_ptr()
        ));
    }

    #[test]
    fn a_large_payload_gets_its_own_block() {
        let mut packer = RecordPacker::default();
        let big = vec![7u8; BLOCK_BYTES];
        let r = packer.pack(1, 0, "big", None, None, &big);
        assert_eq!(r.payload().len(), BLOCK_BYTES);
        let small = packer.pack(2, 0, "small", None, None, b"x");
        assert_eq!(small.payload(), b"x");
    }
}
