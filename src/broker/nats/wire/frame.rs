//! Framing the server-to-client side of the NATS protocol: `MSG`, `HMSG`,
//! `PING`, `PONG`, `INFO`, `+OK`, `-ERR`.
//!
//! Written by hand rather than taken from a client library: a monitor must
//! keep every message the server forwards exactly as it came, and a client
//! library parses (and may reject, or panic on) what it forwards. This
//! layer only splits frames by their byte counts; it never looks inside a
//! subject, a header block or a payload, so no content can make it fail.
//! What it refuses is a broken stream (an unknown operation, a bad count),
//! after which the connection cannot be trusted and is made again.

use thiserror::Error;

/// One frame, borrowing from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Msg {
        subject: &'a [u8],
        sid: u64,
        reply: Option<&'a [u8]>,
        /// The header block (`HMSG`), exactly as sent.
        headers: Option<&'a [u8]>,
        payload: &'a [u8],
    },
    Ping,
    Pong,
    Ok,
    Err(&'a [u8]),
    Info(&'a [u8]),
}

/// What [`parse`] found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole frame and the bytes it took.
    Frame(Frame<'a>, usize),
    /// Not all there yet; at least this many bytes make the frame (0 when
    /// the control line itself is incomplete).
    Incomplete(usize),
}

/// The stream broke the protocol: nothing after this point can be framed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("unknown protocol operation {0:?}")]
    UnknownOperation(String),
    #[error("malformed {op} line {line:?}")]
    BadArguments { op: &'static str, line: String },
    #[error("a message of {0} bytes is larger than any server sends")]
    TooLarge(usize),
    #[error("a control line longer than {MAX_CONTROL_LINE} bytes")]
    ControlLineTooLong,
    #[error("a message's bytes do not end where its length says")]
    MissingTerminator,
}

/// Longest control line accepted (the server's own default limit is 4 KiB;
/// subjects of a thousand tokens fit).
pub const MAX_CONTROL_LINE: usize = 1 << 20;
/// Largest message accepted: the most nats-server can be configured to
/// carry (`max_payload` is capped at 64 MiB).
pub const MAX_MESSAGE: usize = 64 << 20;

/// Frame the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed<'_>, FrameError> {
    let Some(newline) = memchr::memchr(b'\n', buf) else {
        return if buf.len() > MAX_CONTROL_LINE {
            Err(FrameError::ControlLineTooLong)
        } else {
            Ok(Parsed::Incomplete(0))
        };
    };
    let line = &buf[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let after_line = newline + 1;
    let (op, args) = match line.iter().position(|b| *b == b' ' || *b == b'\t') {
        Some(space) => (&line[..space], &line[space + 1..]),
        None => (line, &b""[..]),
    };
    let simple = |frame| Ok(Parsed::Frame(frame, after_line));
    if op.eq_ignore_ascii_case(b"MSG") {
        parse_msg(buf, args, after_line, false)
    } else if op.eq_ignore_ascii_case(b"HMSG") {
        parse_msg(buf, args, after_line, true)
    } else if op.eq_ignore_ascii_case(b"PING") {
        simple(Frame::Ping)
    } else if op.eq_ignore_ascii_case(b"PONG") {
        simple(Frame::Pong)
    } else if op.eq_ignore_ascii_case(b"+OK") {
        simple(Frame::Ok)
    } else if op.eq_ignore_ascii_case(b"-ERR") {
        simple(Frame::Err(trim(args)))
    } else if op.eq_ignore_ascii_case(b"INFO") {
        simple(Frame::Info(trim(args)))
    } else {
        Err(FrameError::UnknownOperation(
            String::from_utf8_lossy(&op[..op.len().min(32)]).into_owned(),
        ))
    }
}

fn parse_msg<'a>(
    buf: &'a [u8],
    args: &'a [u8],
    after_line: usize,
    with_headers: bool,
) -> Result<Parsed<'a>, FrameError> {
    let op = if with_headers { "HMSG" } else { "MSG" };
    let bad = || FrameError::BadArguments {
        op,
        line: String::from_utf8_lossy(&args[..args.len().min(200)]).into_owned(),
    };
    let mut fields: [&[u8]; 5] = [b""; 5];
    let mut count = 0;
    for field in args
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|f| !f.is_empty())
    {
        if count == fields.len() {
            return Err(bad());
        }
        fields[count] = field;
        count += 1;
    }
    // subject sid [reply] [header size] size
    let sizes = if with_headers { 2 } else { 1 };
    let reply = match count.checked_sub(2 + sizes) {
        Some(0) => None,
        Some(1) => Some(fields[2]),
        _ => return Err(bad()),
    };
    let sid = number(fields[1]).ok_or_else(bad)?;
    let total = number(fields[count - 1]).ok_or_else(bad)?;
    let header_len = if with_headers {
        number(fields[count - 2]).ok_or_else(bad)?
    } else {
        0
    };
    let total = usize::try_from(total).map_err(|_| bad())?;
    let header_len = usize::try_from(header_len).map_err(|_| bad())?;
    if header_len > total {
        return Err(bad());
    }
    if total > MAX_MESSAGE {
        return Err(FrameError::TooLarge(total));
    }
    let end = after_line + total;
    if buf.len() < end + 2 {
        return Ok(Parsed::Incomplete(end + 2));
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(FrameError::MissingTerminator);
    }
    let body = &buf[after_line..end];
    Ok(Parsed::Frame(
        Frame::Msg {
            subject: fields[0],
            sid,
            reply,
            headers: with_headers.then(|| &body[..header_len]),
            payload: &body[header_len..],
        },
        end + 2,
    ))
}

fn number(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    text.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(buf: &[u8]) -> (Frame<'_>, usize) {
        match parse(buf) {
            Ok(Parsed::Frame(frame, used)) => (frame, used),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn frames_each_operation() {
        let (frame, used) = one(b"MSG a.b 1 5\r\nhello\r\nPING\r\n");
        assert_eq!(used, 20);
        assert_eq!(
            frame,
            Frame::Msg {
                subject: b"a.b",
                sid: 1,
                reply: None,
                headers: None,
                payload: b"hello"
            }
        );
        let raw = b"HMSG a 7 _INBOX.x 22 24\r\nNATS/1.0\r\nX-A: a\rb\r\n\r\nhi\r\n";
        let (frame, used) = one(raw);
        assert_eq!(used, raw.len());
        assert_eq!(
            frame,
            Frame::Msg {
                subject: b"a",
                sid: 7,
                reply: Some(b"_INBOX.x"),
                headers: Some(b"NATS/1.0\r\nX-A: a\rb\r\n\r\n"),
                payload: b"hi"
            }
        );
        assert_eq!(one(b"ping\r\n").0, Frame::Ping);
        assert_eq!(one(b"PONG\r\n").0, Frame::Pong);
        assert_eq!(one(b"+OK\r\n").0, Frame::Ok);
        assert_eq!(
            one(b"-ERR 'Authorization Violation'\r\n").0,
            Frame::Err(b"'Authorization Violation'")
        );
        assert_eq!(one(b"INFO {\"a\":1} \r\n").0, Frame::Info(b"{\"a\":1}"));
        let odd = b"MSG bad.\xff\t 2  1\r\n\xfe\r\n";
        assert!(matches!(
            one(odd).0,
            Frame::Msg {
                subject: b"bad.\xff",
                ..
            }
        ));
    }

    #[test]
    fn incomplete_frames_say_how_much_they_need() {
        assert_eq!(parse(b"MSG a 1 5\r\nhel"), Ok(Parsed::Incomplete(18)));
        assert_eq!(parse(b"MSG a 1"), Ok(Parsed::Incomplete(0)));
        assert_eq!(parse(b""), Ok(Parsed::Incomplete(0)));
    }

    #[test]
    fn a_broken_stream_is_an_error_not_a_panic() {
        for bad in [
            &b"XYZ\r\n"[..],
            b"MSG a\r\n",
            b"MSG a 1 2 3 4 5\r\n",
            b"MSG a x 1\r\nx\r\n",
            b"HMSG a 1 9 3\r\nabc\r\n",
            b"MSG a 1 3\r\nabcde\r\n",
            b"MSG a 1 99999999999999999999\r\n",
            b"MSG a 1 999999999\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let long = vec![b'x'; MAX_CONTROL_LINE + 1];
        assert_eq!(parse(&long), Err(FrameError::ControlLineTooLong));
    }

    /// A fuzz target run as a test: valid streams, mutated (bytes flipped,
    /// inserted, removed, cut) and fed through the framer and the record
    /// maker as the read loop does. Nothing may panic, and a frame always
    /// takes at least one byte and never more than there is. Seeded, so a
    /// failure repeats.
    #[test]
    fn fuzzed_streams_never_panic() {
        use crate::capture::RecordPacker;
        let seeds: &[&[u8]] = &[
            b"MSG a.b 1 5\r\nhello\r\nPING\r\n",
            b"HMSG a 7 _INBOX.x 22 24\r\nNATS/1.0\r\nX-A: a\rb\r\n\r\nhi\r\n",
            b"HMSG s 2 30 30\r\nNATS/1.0 503\r\nA: b\r\nC:d\r\n\r\n\r\n+OK\r\n",
            b"INFO {\"a\":1}\r\n-ERR 'x'\r\nPONG\r\nmsg x 1 r 0\r\n\r\n",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut packer = RecordPacker::default();
        for round in 0..20_000 {
            let seed = seeds[round % seeds.len()];
            let mut stream: Vec<u8> = seed.repeat(1 + (next() % 3) as usize);
            for _ in 0..(next() % 6) {
                if stream.is_empty() {
                    break;
                }
                let at = (next() as usize) % stream.len();
                match next() % 4 {
                    0 => stream[at] = next() as u8,
                    1 => stream.insert(at, next() as u8),
                    2 => {
                        stream.remove(at);
                    }
                    _ => stream.truncate(at),
                }
            }
            if round % 7 == 0 {
                stream = (0..(next() % 64)).map(|_| next() as u8).collect();
            }
            let mut at = 0;
            while at < stream.len() {
                match parse(&stream[at..]) {
                    Ok(Parsed::Frame(frame, used)) => {
                        assert!(used > 0 && at + used <= stream.len(), "round {round}");
                        if let Frame::Msg {
                            subject,
                            reply,
                            headers,
                            payload,
                            ..
                        } = frame
                        {
                            let record = packer.pack_wire(0, 0, subject, reply, headers, payload);
                            if let Some(h) = record.headers() {
                                let _ = (h.iter().count(), h.status_description());
                            }
                            let _ = (record.subject(), record.reply(), record.is_malformed());
                        }
                        at += used;
                    }
                    Ok(Parsed::Incomplete(_)) | Err(_) => break,
                }
            }
        }
    }

    /// Property tests (proptest): any bytes at all, and valid streams cut
    /// into reads at any points.
    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// One valid frame's bytes.
        fn frame() -> impl Strategy<Value = Vec<u8>> {
            let token = "[a-z0-9_$]{1,8}";
            let subject = proptest::collection::vec(token, 1..4).prop_map(|t| t.join("."));
            let payload = proptest::collection::vec(any::<u8>(), 0..40);
            let headers = proptest::collection::vec(("[A-Za-z-]{1,6}", "[ -~]{0,8}"), 0..4);
            (
                0u8..5,
                subject,
                proptest::option::of("[A-Z_]{1,8}"),
                payload,
                headers,
            )
                .prop_map(|(kind, subject, reply, payload, headers)| {
                    let reply = reply.map(|r| format!(" {r}")).unwrap_or_default();
                    match kind {
                        0 => b"PING\r\n".to_vec(),
                        1 => b"+OK\r\n".to_vec(),
                        2 => {
                            let mut out = format!("MSG {subject} 1{reply} {}\r\n", payload.len())
                                .into_bytes();
                            out.extend_from_slice(&payload);
                            out.extend_from_slice(b"\r\n");
                            out
                        }
                        _ => {
                            let mut block = b"NATS/1.0\r\n".to_vec();
                            for (name, value) in &headers {
                                block.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
                            }
                            block.extend_from_slice(b"\r\n");
                            let total = block.len() + payload.len();
                            let mut out =
                                format!("HMSG {subject} 2{reply} {} {total}\r\n", block.len())
                                    .into_bytes();
                            out.extend_from_slice(&block);
                            out.extend_from_slice(&payload);
                            out.extend_from_slice(b"\r\n");
                            out
                        }
                    }
                })
        }

        /// Frame a stream as the read loop does, fed in `cuts` pieces;
        /// the frames as owned debug strings.
        fn frames_of(stream: &[u8], cuts: &[usize]) -> Vec<String> {
            let mut buf = Vec::new();
            let mut out = Vec::new();
            let mut fed = 0;
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
            points.sort_unstable();
            points.push(stream.len());
            for point in points {
                buf.extend_from_slice(&stream[fed..point.max(fed)]);
                fed = point.max(fed);
                loop {
                    match parse(&buf) {
                        Ok(Parsed::Frame(frame, used)) => {
                            out.push(format!("{frame:?}"));
                            buf.drain(..used);
                        }
                        Ok(Parsed::Incomplete(_)) => break,
                        Err(e) => panic!("a valid stream failed to frame: {e}"),
                    }
                }
            }
            assert!(buf.is_empty(), "bytes left over");
            out
        }

        proptest! {
            #[test]
            fn any_bytes_frame_or_fail_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let mut at = 0;
                while at < bytes.len() {
                    match parse(&bytes[at..]) {
                        Ok(Parsed::Frame(_, used)) => {
                            prop_assert!(used > 0 && at + used <= bytes.len());
                            at += used;
                        }
                        Ok(Parsed::Incomplete(_)) | Err(_) => break,
                    }
                }
            }

            #[test]
            fn a_valid_stream_frames_the_same_however_it_is_read(
                frames in proptest::collection::vec(frame(), 1..12),
                cuts in proptest::collection::vec(any::<usize>(), 0..8),
            ) {
                let stream: Vec<u8> = frames.concat();
                let whole = frames_of(&stream, &[]);
                prop_assert_eq!(whole.len(), frames.len());
                prop_assert_eq!(frames_of(&stream, &cuts), whole);
            }
        }
    }
}
