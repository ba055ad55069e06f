//! Property tests (proptest) of the header scanner and the capture line:
//! any header block, well formed or not, with names repeated or not, is
//! read without panic and comes back from a capture file byte-exact.

use proptest::prelude::*;

use super::{CaptureHeader, CaptureReader, CaptureWriter};
use crate::capture::RecordPacker;

/// A header block: mostly well formed, sometimes not (bare LF, no colon,
/// no space, a folded line, a blank line inside, any byte).
fn block() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        "[A-Za-z-]{1,6}",
        Just("Nats-Msg-Id".to_owned()),
        Just("a".to_owned())
    ];
    let line = prop_oneof![
        4 => (name, "[ -~]{0,10}").prop_map(|(n, v)| format!("{n}: {v}").into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..12),
        1 => Just(b" folded".to_vec()),
        1 => Just(b"NoColon".to_vec()),
    ];
    let status = prop_oneof![
        Just(String::new()),
        Just(" 503".to_owned()),
        Just(" 408 Request Timeout".to_owned())
    ];
    (status, proptest::collection::vec(line, 0..10)).prop_map(|(status, lines)| {
        let mut raw = format!("NATS/1.0{status}\r\n").into_bytes();
        for line in lines {
            raw.extend_from_slice(&line);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"\r\n");
        raw
    })
}

proptest! {
    #[test]
    fn any_header_block_is_scanned_and_read_back_byte_exact(
        raw in prop_oneof![block(), proptest::collection::vec(any::<u8>(), 0..64)],
        payload in proptest::collection::vec(any::<u8>(), 0..32),
    ) {
        let record = RecordPacker::default().pack_wire(
            1_700_000_000_000_000_000, 0, b"a.b", None, Some(&raw), &payload,
        );
        let headers = record.headers().expect("a header block");
        let pairs = headers.iter().count();
        prop_assert!(pairs <= raw.len());
        let _ = (headers.status(), headers.status_description(), headers.get("a"));

        let mut file = Vec::new();
        let mut writer = CaptureWriter::new(&mut file, &CaptureHeader::new(vec![])).expect("header");
        writer.write(&record, "c").expect("write");
        drop(writer);
        let mut reader = CaptureReader::new(std::io::Cursor::new(file)).expect("reader");
        let back = reader.next_record().expect("a line").expect("a record").record;
        prop_assert_eq!(back.headers().map(|h| h.as_bytes().to_vec()), Some(raw.clone()));
        prop_assert_eq!(back.payload(), &payload[..]);
    }

    #[test]
    fn grouped_headers_keep_every_value_in_order(
        pairs in proptest::collection::vec(("[a-c]{1,2}", "[a-z0-9]{0,4}"), 0..40),
    ) {
        let block = crate::capture::HeaderBlock::build(
            None,
            pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        );
        let record = RecordPacker::default().pack(0, 0, "s", None, Some(&block), &[]);
        let mut json = Vec::new();
        super::headers_json(&mut json, record.headers().expect("headers")).expect("json");
        let grouped: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&json).expect("a JSON object");
        for (name, values) in &grouped {
            let expected: Vec<&str> = pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
            let got: Vec<&str> = values.as_array().expect("array").iter().filter_map(|v| v.as_str()).collect();
            prop_assert_eq!(got, expected);
        }
        prop_assert_eq!(grouped.values().map(|v| v.as_array().map_or(0, Vec::len)).sum::<usize>(), pairs.len());
    }
}
