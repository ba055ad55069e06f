//! Reads the raw protocol logs in `tests/fixtures/*.raw_wire.log` (captured
//! from nats-server 2.15 by a raw-socket monitor, see ../shared/nats-captures)
//! into records, so classifier and correlator tests run on real traffic.

use eventscope::capture::{HeaderBlock, Record};

/// Python-repr string content: `\r`, `\n`, `\t`, `\\`, `\'`, `\xNN`.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'x' if i + 3 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).expect("hex");
                    out.push(u8::from_str_radix(hex, 16).expect("hex byte"));
                    i += 2;
                }
                other => out.push(other),
            }
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn quoted(line: &str, key: &str) -> Option<Vec<u8>> {
    let rest = line.trim_start().strip_prefix(key)?.strip_prefix("='")?;
    let end = rest.rfind('\'')?;
    Some(unescape(&rest[..end]))
}

fn header_block(raw: &[u8]) -> HeaderBlock {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let status = first
        .strip_prefix("NATS/1.0")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (code, description) = s.split_once(' ').unwrap_or((s, ""));
            (
                code.parse::<u16>().expect("status code"),
                description.to_owned(),
            )
        });
    let pairs: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HeaderBlock::build(
        status.as_ref().map(|(c, d)| (*c, d.as_str())),
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// Every MSG/HMSG of a log, as records stamped with the log's clock.
pub fn records(log: &str) -> Vec<Record> {
    // (time, subject, reply, headers, payload): headers and payload come on
    // the log's lines after the MSG line.
    type Parts = (i64, String, Option<String>, Option<HeaderBlock>, Vec<u8>);
    let mut out: Vec<Parts> = Vec::new();
    for line in log.lines() {
        if let Some(payload) = quoted(line, "payload") {
            if let Some(last) = out.last_mut() {
                last.4 = payload;
            }
            continue;
        }
        if let Some(headers) = quoted(line, "headers") {
            if let Some(last) = out.last_mut() {
                last.3 = Some(header_block(&headers));
            }
            continue;
        }
        let Some((stamp, rest)) = line.strip_prefix('[').and_then(|l| l.split_once(']')) else {
            continue;
        };
        let tokens: Vec<&str> = rest.split_whitespace().collect();
        let (verb, args) = match tokens.split_first() {
            Some((verb, args)) if *verb == "MSG" || *verb == "HMSG" => (*verb, args),
            _ => continue,
        };
        // MSG subject sid [reply] len / HMSG subject sid [reply] hlen total
        let numbers = if verb == "MSG" { 1 } else { 2 };
        let reply = (args.len() == 2 + numbers + 1).then(|| args[2].into());
        let seconds: f64 = stamp.trim().parse().expect("timestamp");
        out.push((
            1_795_353_284_000_000_000 + (seconds * 1e9) as i64,
            args[0].to_owned(),
            reply,
            None,
            Vec::new(),
        ));
    }
    out.into_iter()
        .map(|(at, subject, reply, headers, payload)| {
            Record::new(
                at,
                0,
                &subject,
                reply.as_deref(),
                headers.as_ref(),
                &payload,
            )
        })
        .collect()
}
