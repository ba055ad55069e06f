//! The capture file's writer against serde's form and round trips.
use super::*;
use crate::capture::{HeaderBlock, RecordPacker};

#[test]
fn timestamp_formatter_writes_what_chrono_writes() {
    let mut stamps = TimestampFormatter::default();
    let mut cases = vec![
        0,
        1,
        -1,
        999_999_999,
        1_000_000_000,
        -1_000_000_000,
        -1_000_000_001,
        i64::MIN,
        i64::MIN + 999_999_999,
        i64::MAX,
    ];
    // Runs within a second and across seconds, as a replay sees them.
    let start = 1_795_352_350_348_894_744_i64;
    cases.extend((0..2_000).map(|i| start + i * 1_234_567));
    for ts in cases {
        assert_eq!(stamps.format(ts), format_timestamp(ts), "timestamp {ts}");
    }
}

pub(super) fn sample() -> Record {
    sample_with(&[("b", "2"), ("a", "1"), ("b", "3")])
}

fn sample_with(headers: &[(&str, &str)]) -> Record {
    Record::new(
        1_795_352_350_348_894_744,
        0,
        "orders.created",
        Some("_INBOX.x.y"),
        Some(&HeaderBlock::build(
            Some((408, "Request Timeout")),
            headers.iter().copied(),
        )),
        &[0, 159, 146, 150, 255],
    )
}

#[test]
fn round_trip_is_exact() {
    let mut buf = Vec::new();
    let mut w =
        CaptureWriter::new(&mut buf, &CaptureHeader::new(vec!["nats://x".into()])).expect("header");
    w.write(&sample(), "prod").expect("write");
    let text = String::from_utf8(buf).expect("utf8");
    assert!(text.contains(r#""received_at":"2029-"#) || text.contains(r#""received_at":"20"#));
    assert!(
        text.contains(r#""headers":{"b":["2","3"],"a":["1"]}"#),
        "{text}"
    );
    let mut r = CaptureReader::new(text.as_bytes()).expect("reader");
    assert_eq!(r.header.servers, ["nats://x"]);
    let back = r.next_record().expect("one").expect("valid");
    assert_eq!(back.connection, "prod");
    // The grouped form would put b's values together: the raw block
    // keeps the wire's order.
    assert!(text.contains("headers_raw_b64"), "{text}");
    assert_eq!(back.record, sample());
    assert!(r.next_record().is_none());
}

#[test]
fn malformed_messages_round_trip_byte_exact() {
    let mut packer = RecordPacker::default();
    let block = b"NATS/1.0\r\nX-A: a\rb\r\nbad name: \xff\r\n\r\n";
    let record = packer.pack_wire(7, 0, b"odd.\xc3", Some(b"r.\xff"), Some(block), b"\x00x");
    let mut buf = Vec::new();
    let mut w = CaptureWriter::new(&mut buf, &CaptureHeader::new(vec![])).expect("header");
    w.write(&record, "c").expect("write");
    let text = String::from_utf8(buf).expect("utf8");
    assert!(text.contains("\"malformed\":true"), "{text}");
    let mut r = CaptureReader::new(text.as_bytes()).expect("reader");
    let back = r.next_record().expect("one").expect("valid").record;
    assert_eq!(back, record);
    assert_eq!(back.raw_names().map(|n| n.subject), Some(&b"odd.\xc3"[..]));
}

/// The line as serde would write it: `CaptureWriter::write` must match it.
#[derive(Serialize)]
struct LineOut<'a> {
    received_at: &'a str,
    connection: &'a str,
    subject: &'a str,
    reply: Option<&'a str>,
    headers: Option<HeadersOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusLine>,
    payload_b64: String,
    /// The header block exactly as received, when `headers` cannot give it
    /// back (malformed, not UTF-8, or in an order the grouped form loses).
    #[serde(skip_serializing_if = "Option::is_none")]
    headers_raw_b64: Option<String>,
    /// Subject and reply bytes when they were not UTF-8 (`subject` then
    /// holds a lossy copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    subject_b64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_b64: Option<String>,
    /// Something in the message broke the protocol's rules; kept as sent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    malformed: bool,
    /// Read from a stream (`browse`): where it is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<serde_json::Value>,
}

fn serde_line(record: &Record, connection: &str, stored: Option<(&str, u64)>) -> String {
    let raw = record.raw_names();
    let line = LineOut {
        received_at: &format_timestamp(record.received_at),
        connection,
        subject: record.subject(),
        reply: record.reply(),
        headers: record.headers().map(HeadersOut),
        status: record.headers().and_then(StatusLine::of),
        payload_b64: BASE64.encode(record.payload()),
        headers_raw_b64: record
            .headers()
            .filter(|h| h.meta().needs_raw())
            .map(|h| BASE64.encode(h.as_bytes())),
        subject_b64: raw.map(|r| BASE64.encode(r.subject)),
        reply_b64: raw
            .filter(|r| !r.reply.is_empty())
            .map(|r| BASE64.encode(r.reply)),
        malformed: record.is_malformed(),
        stream: stored.map(|(s, _)| s),
        stream_seq: stored.map(|(_, q)| q),
        fields: record
            .fields()
            .map(|f| serde_json::from_str(f).expect("fields are JSON")),
    };
    serde_json::to_string(&line).expect("serialise") + "\n"
}

#[test]
fn hand_written_lines_are_what_serde_writes() {
    let mut packer = RecordPacker::default();
    let records = [
        sample(),
        sample_with(&[("a", "1")]),
        Record::new(5, 0, "a.\"quoted\"\\.\u{7}", None, None, b""),
        packer.pack_wire(
            7,
            0,
            b"odd.\xc3",
            Some(b"r.\xff"),
            Some(b"NATS/1.0\r\nX-A: a\rb\r\n\r\n"),
            b"\x00x",
        ),
        packer.pack_wire(8, 0, b"s", None, Some(b"NATS/1.0 503\r\n\r\n"), b"{}"),
        packer.pack_wire(9, 0, b"\xff", None, None, &[7; 1000]),
        sample_with(&[("x\"q", "v\\w\t"), ("k", "")]),
        sample_with(&[("a", "1"), ("a", "2")]),
        sample_with(
            &(0..20)
                .map(|i| {
                    (
                        ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"][i % 10],
                        "v",
                    )
                })
                .collect::<Vec<_>>(),
        ),
        sample_with(
            &[
                "h00", "h01", "h02", "h03", "h04", "h05", "h06", "h07", "h08", "h09", "h10", "h11",
                "h12", "h13", "h14", "h15", "h16", "h17",
            ]
            .map(|n| (n, "v")),
        ),
    ];
    // One writer for all, the connection changing now and then (its
    // JSON text is kept between records), as well as the empty name.
    let mut buf = Vec::new();
    let mut w = CaptureWriter {
        out: &mut buf,
        written: 0,
        stamps: TimestampFormatter::default(),
        b64: String::new(),
        connection: None,
        brokers: Vec::new(),
    };
    let mut expected = String::new();
    for (i, record) in records.iter().enumerate() {
        let connection = ["", "prod \"east\"", "prod \"east\"", "b"][i % 4];
        if i % 3 == 2 {
            let stored = ("ORDERS \"x\"", i as u64 * 1000);
            w.write_stored(record, connection, stored.0, stored.1)
                .expect("write");
            expected.push_str(&serde_line(record, connection, Some(stored)));
        } else {
            w.write(record, connection).expect("write");
            expected.push_str(&serde_line(record, connection, None));
        }
    }
    let written = String::from_utf8(buf).expect("utf8");
    for (line, (got, want)) in written.lines().zip(expected.lines()).enumerate() {
        assert_eq!(got, want, "line {line}");
    }
    assert_eq!(written, expected);
}

#[test]
fn a_capture_header_keeps_no_credentials() {
    let header = CaptureHeader::new(vec![
        "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
        "nats://s3cret-token@n1:4222".into(),
        "nats://n2:4222".into(),
    ]);
    assert_eq!(
        header.servers,
        [
            "amqp://127.0.0.1:5672/%2f",
            "nats://n1:4222",
            "nats://n2:4222"
        ]
    );
}
