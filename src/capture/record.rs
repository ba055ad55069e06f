//! One message as the monitor received it, kept byte-exact and compact.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::headers::{HeaderBlock, HeaderMeta, Headers};

/// Nanoseconds since the Unix epoch (UTC).
pub type Timestamp = i64;

/// Index of a connection name in the store's connection table.
pub type ConnectionKey = u16;

/// A received message. Subject, reply, header block and payload sit back
/// to back in one shared byte block: records made by one [`RecordPacker`]
/// share large blocks, so a retained record costs its wire bytes plus this
/// struct, with no allocation of its own (small allocations per record,
/// freed out of order, fragment the heap and keep RSS far above what is
/// retained). The header block and payload are the exact bytes received.
/// Subject and reply are text; the rare subject or reply that is not UTF-8
/// (nats-server forwards one) is kept raw in front, beside its lossy text.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    pub received_at: Timestamp,
    pub connection: ConnectionKey,
    /// `[raw names] subject | reply | header block | fields | payload`;
    /// subject, reply and fields are UTF-8.
    data: Bytes,
    subject_end: u32,
    reply_end: u32,
    headers_end: u32,
    fields_end: u32,
    headers: Option<HeaderMeta>,
    /// Whether `data` starts with the raw subject and reply (see
    /// [`RawNames`]).
    raw_names: bool,
}

/// The parts of a message to pack, as borrowed text and bytes.
struct Parts<'a> {
    /// The raw subject and reply, when either is not UTF-8.
    raw_names: Option<(&'a [u8], &'a [u8])>,
    subject: &'a str,
    reply: Option<&'a str>,
    headers: Option<(&'a [u8], HeaderMeta)>,
    /// The broker's own fields as a JSON object (empty for none).
    fields: &'a str,
    payload: &'a [u8],
}

/// Length prefix of the raw names: two little-endian u32 lengths.
const RAW_NAMES_PREFIX: usize = 8;

impl<'a> Parts<'a> {
    /// Parts given as text (tests, capture files, single messages).
    fn text(
        subject: &'a str,
        reply: Option<&'a str>,
        headers: Option<&'a HeaderBlock>,
        payload: &'a [u8],
    ) -> Self {
        Self {
            raw_names: None,
            subject,
            reply,
            headers: headers.map(|h| (h.as_bytes(), h.meta())),
            fields: "",
            payload,
        }
    }

    fn len(&self) -> usize {
        self.raw_names
            .map_or(0, |(s, r)| RAW_NAMES_PREFIX + s.len() + r.len())
            + self.subject.len()
            + self.reply.map_or(0, str::len)
            + self.headers.map_or(0, |(h, _)| h.len())
            + self.fields.len()
            + self.payload.len()
    }

    /// Append the parts; returns where subject, reply, headers and fields
    /// end.
    fn write(&self, out: &mut impl BufMut) -> [u32; 4] {
        let offset = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let mut at = 0;
        if let Some((subject, reply)) = self.raw_names {
            out.put_u32_le(offset(subject.len()));
            out.put_u32_le(offset(reply.len()));
            out.put_slice(subject);
            out.put_slice(reply);
            at = RAW_NAMES_PREFIX + subject.len() + reply.len();
        }
        let subject_end = at + self.subject.len();
        let reply_end = subject_end + self.reply.map_or(0, str::len);
        let header_bytes = self.headers.map_or(&b""[..], |(h, _)| h);
        let headers_end = reply_end + header_bytes.len();
        let fields_end = headers_end + self.fields.len();
        out.put_slice(self.subject.as_bytes());
        out.put_slice(self.reply.unwrap_or("").as_bytes());
        out.put_slice(header_bytes);
        out.put_slice(self.fields.as_bytes());
        out.put_slice(self.payload);
        [
            offset(subject_end),
            offset(reply_end),
            offset(headers_end),
            offset(fields_end),
        ]
    }

    fn into_record(
        self,
        received_at: Timestamp,
        connection: ConnectionKey,
        data: Bytes,
        ends: [u32; 4],
    ) -> Record {
        let [subject_end, reply_end, headers_end, fields_end] = ends;
        Record {
            received_at,
            connection,
            data,
            subject_end,
            reply_end,
            headers_end,
            fields_end,
            headers: self.headers.map(|(_, meta)| meta),
            raw_names: self.raw_names.is_some(),
        }
    }

    fn alone(self, received_at: Timestamp, connection: ConnectionKey) -> Record {
        let mut data = Vec::with_capacity(self.len());
        let ends = self.write(&mut data);
        self.into_record(received_at, connection, data.into(), ends)
    }
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
        Parts::text(subject, reply, headers, payload).alone(received_at, connection)
    }

    /// The same record in an allocation of its own: keeping it does not
    /// keep the block it was packed in, and the records around it, alive.
    pub fn detached(&self) -> Record {
        let mut copy = self.clone();
        copy.data = Bytes::copy_from_slice(&self.data);
        copy
    }

    fn subject_start(&self) -> u32 {
        if !self.raw_names {
            return 0;
        }
        let (subject, reply) = self.raw_lengths();
        (RAW_NAMES_PREFIX + subject + reply) as u32
    }

    fn raw_lengths(&self) -> (usize, usize) {
        let le = |at: usize| {
            let mut four = [0u8; 4];
            four.copy_from_slice(&self.data[at..at + 4]);
            u32::from_le_bytes(four) as usize
        };
        (le(0), le(4))
    }

    /// The subject as text. Not UTF-8 on the wire: a lossy copy (U+FFFD for
    /// bad bytes), and [`Record::raw_names`] has the bytes.
    pub fn subject(&self) -> &str {
        self.text(self.subject_start(), self.subject_end)
    }

    pub fn reply(&self) -> Option<&str> {
        (self.reply_end > self.subject_end).then(|| self.text(self.subject_end, self.reply_end))
    }

    /// The raw subject and reply bytes when either was not UTF-8.
    pub fn raw_names(&self) -> Option<RawNames<'_>> {
        if !self.raw_names {
            return None;
        }
        let (subject, reply) = self.raw_lengths();
        let subject_at = RAW_NAMES_PREFIX;
        let reply_at = subject_at + subject;
        Some(RawNames {
            subject: &self.data[subject_at..reply_at],
            reply: &self.data[reply_at..reply_at + reply],
        })
    }

    pub fn headers(&self) -> Option<Headers<'_>> {
        let meta = self.headers?;
        Some(Headers::new(
            &self.data[self.reply_end as usize..self.headers_end as usize],
            meta,
        ))
    }

    /// Something in the message was not what the protocol allows (a
    /// malformed header block, a subject that is not UTF-8): it is kept as
    /// received and flagged.
    pub fn is_malformed(&self) -> bool {
        self.raw_names || self.headers.is_some_and(|h| h.is_malformed())
    }

    pub fn payload(&self) -> &[u8] {
        &self.data[self.fields_end as usize..]
    }

    /// The payload as shared bytes, for sending it again without a copy.
    pub fn payload_bytes(&self) -> Bytes {
        self.data.slice(self.fields_end as usize..)
    }

    /// The broker's own fields of the message, as a JSON object: what a
    /// NATS message has no room for (an AMQP exchange and properties, MQTT
    /// QoS and retain, a Kafka partition and offset). `None` for NATS.
    pub fn fields(&self) -> Option<&str> {
        (self.fields_end > self.headers_end).then(|| self.text(self.headers_end, self.fields_end))
    }

    fn text(&self, from: u32, to: u32) -> &str {
        let bytes = &self.data[from as usize..to as usize];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `data` is private and written only by `Parts::write`,
        // which copies the subject and reply from `&str`s and records where
        // each ends, so these ranges are whole UTF-8 strings. (Checking on
        // every read cost 12% of a max-rate replay.)
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// Bytes this record holds on to, as charged against the store budget.
    pub fn cost(&self) -> usize {
        Self::cost_for(self.data.len())
    }

    /// What a record of `bytes` bytes will cost, before it is made.
    pub fn cost_for(bytes: usize) -> usize {
        std::mem::size_of::<Record>() + bytes
    }

    /// Subject, reply, headers and payload: what the wire carried.
    pub fn wire_size(&self) -> usize {
        let names = self.raw_names().map_or(self.reply_end as usize, |raw| {
            raw.subject.len() + raw.reply.len()
        });
        names + self.data.len() - self.reply_end as usize
    }

    pub fn header_count(&self) -> usize {
        self.headers.map_or(0, |h| usize::from(h.count))
    }

    /// The time as wall-clock UTC, for display and capture files.
    pub fn received_at_utc(&self) -> chrono::DateTime<chrono::Utc> {
        timestamp_to_utc(self.received_at)
    }
}

/// A subject and reply exactly as received, for messages where one of them
/// was not UTF-8 (an empty reply means none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawNames<'a> {
    pub subject: &'a [u8],
    pub reply: &'a [u8],
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("received_at", &self.received_at)
            .field("connection", &self.connection)
            .field("subject", &self.subject())
            .field("reply", &self.reply())
            .field("raw_names", &self.raw_names())
            .field(
                "headers",
                &self
                    .headers()
                    .map(|h| String::from_utf8_lossy(h.as_bytes())),
            )
            .field("fields", &self.fields())
            .field("payload", &Bytes::copy_from_slice(self.payload()))
            .finish()
    }
}

/// One message's parts as a broker's link read them: subject and reply as
/// bytes, a header block in NATS's form (another broker's headers or user
/// properties written as one), the broker's own fields as a JSON object
/// (empty for none), the payload.
#[derive(Clone, Copy, Debug, Default)]
pub struct Incoming<'a> {
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    pub headers: Option<&'a [u8]>,
    pub fields: &'a str,
    pub payload: &'a [u8],
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
        self.pack_parts(
            received_at,
            connection,
            Parts::text(subject, reply, headers, payload),
        )
    }

    /// A NATS message as the wire carried it: subject and reply as bytes
    /// (kept raw beside a lossy copy when not UTF-8), the header block
    /// exactly as received (scanned and flagged, never rejected).
    pub fn pack_wire(
        &mut self,
        received_at: Timestamp,
        connection: ConnectionKey,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Record {
        self.pack_incoming(
            received_at,
            connection,
            &Incoming {
                subject,
                reply,
                headers,
                fields: "",
                payload,
            },
        )
    }

    /// A message of any broker as its link read it (see [`Incoming`]).
    pub fn pack_incoming(
        &mut self,
        received_at: Timestamp,
        connection: ConnectionKey,
        incoming: &Incoming<'_>,
    ) -> Record {
        let &Incoming {
            subject,
            reply,
            headers,
            fields,
            payload,
        } = incoming;
        let headers = headers.map(|h| (h, super::headers::scan(h)));
        let (Ok(subject_text), Ok(reply_text)) = (
            std::str::from_utf8(subject),
            reply.map(std::str::from_utf8).transpose(),
        ) else {
            let subject_text = String::from_utf8_lossy(subject);
            let reply_text = reply.map(String::from_utf8_lossy);
            return self.pack_parts(
                received_at,
                connection,
                Parts {
                    raw_names: Some((subject, reply.unwrap_or(b""))),
                    subject: &subject_text,
                    reply: reply_text.as_deref(),
                    headers,
                    fields,
                    payload,
                },
            );
        };
        self.pack_parts(
            received_at,
            connection,
            Parts {
                raw_names: None,
                subject: subject_text,
                reply: reply_text,
                headers,
                fields,
                payload,
            },
        )
    }

    fn pack_parts(
        &mut self,
        received_at: Timestamp,
        connection: ConnectionKey,
        parts: Parts<'_>,
    ) -> Record {
        let Some(block) = self.room_for(parts.len()) else {
            return parts.alone(received_at, connection);
        };
        let ends = parts.write(block);
        let data = block.split().freeze();
        parts.into_record(received_at, connection, data, ends)
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
        assert_eq!(r.wire_size(), 10 + 8 + headers.as_bytes().len() + 4);
        let copied = RecordPacker::default().copy(&r);
        assert_eq!(copied, r);
        assert!(!std::ptr::eq(
            copied.payload().as_ptr(),
            r.payload().as_ptr()
        ));
    }

    #[test]
    fn wire_parts_keep_bad_names_and_blocks_exactly() {
        let mut packer = RecordPacker::default();
        let block = b"NATS/1.0\r\nX-A: a\rb\r\n\r\n";
        let r = packer.pack_wire(1, 0, b"bad.\xff", Some(b"_INBOX.\xfe"), Some(block), b"p");
        assert_eq!(r.subject(), "bad.\u{fffd}");
        assert_eq!(r.reply(), Some("_INBOX.\u{fffd}"));
        let raw = r.raw_names().expect("raw names");
        assert_eq!(
            (raw.subject, raw.reply),
            (&b"bad.\xff"[..], &b"_INBOX.\xfe"[..])
        );
        assert_eq!(r.headers().map(|h| h.as_bytes()), Some(&block[..]));
        assert!(r.is_malformed());
        assert_eq!(r.payload(), b"p");
        assert_eq!(r.wire_size(), 5 + 8 + block.len() + 1);
        let fine = packer.pack_wire(2, 0, b"ok", None, None, b"");
        assert!(fine.raw_names().is_none() && !fine.is_malformed());
        assert_eq!(RecordPacker::default().copy(&r), r);
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
