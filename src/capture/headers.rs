//! Headers kept as the wire's own header block instead of a map of vectors.
//!
//! A record keeps the block exactly as NATS carried it
//! (`NATS/1.0[ code description]\r\nName: value\r\n...\r\n\r\n`), in the
//! wire's order and byte for byte, even when it is malformed: nats-server
//! passes any header block through, and a monitor must show what was sent,
//! not what a client library would have accepted. The block is scanned once
//! when the record is made ([`scan`]) and parsed again only when read.

/// An owned header block in wire form (tests, capture files, the publish
/// form); records keep the same bytes packed with their other parts and
/// hand out [`Headers`] views.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HeaderBlock {
    raw: Vec<u8>,
    meta: HeaderMeta,
}

/// What a header block's bytes alone do not say cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HeaderMeta {
    pub status: Option<u16>,
    pub count: u16,
    pub flags: u8,
}

impl HeaderMeta {
    /// Not a header block a NATS client would accept (bad version or status
    /// line, a bare CR or LF, a line without ':', a name with spaces or
    /// controls, a folded line, a missing end): kept raw and flagged.
    pub const MALFORMED: u8 = 1;
    /// Some bytes are not UTF-8: pairs on such lines are not offered as
    /// text.
    pub const NOT_UTF8: u8 = 2;
    /// Well-formed, but the JSON form of a capture file (`{"name":
    /// ["value"]}`) would not give these bytes back (no space after ':',
    /// a name repeated after another one): capture files keep the raw block.
    pub const NOT_CANONICAL: u8 = 4;

    pub fn is_malformed(&self) -> bool {
        self.flags & Self::MALFORMED != 0
    }

    /// The block's bytes are needed to give back exactly what was received.
    pub fn needs_raw(&self) -> bool {
        self.flags != 0
    }
}

const VERSION: &[u8] = b"NATS/1.0";
const END: &[u8] = b"\r\n\r\n";

impl HeaderBlock {
    /// Build from a status (code, description) and name/value pairs, as a
    /// client would send them. CR and LF inside names or values become
    /// spaces: the wire form cannot carry them.
    pub fn build<'a>(
        status: Option<(u16, &str)>,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let mut raw = Vec::with_capacity(64);
        raw.extend_from_slice(VERSION);
        if let Some((code, description)) = status {
            raw.push(b' ');
            raw.extend_from_slice(code.to_string().as_bytes());
            if !description.is_empty() {
                raw.push(b' ');
                push_clean(&mut raw, description);
            }
        }
        raw.extend_from_slice(b"\r\n");
        for (name, value) in pairs {
            push_clean(&mut raw, name);
            raw.extend_from_slice(b": ");
            push_clean(&mut raw, value);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"\r\n");
        Self::from_wire(raw)
    }

    /// A block exactly as received, scanned for its meta.
    pub fn from_wire(raw: Vec<u8>) -> Self {
        let meta = scan(&raw);
        Self { raw, meta }
    }

    pub fn view(&self) -> Headers<'_> {
        Headers::new(&self.raw, self.meta)
    }

    pub fn meta(&self) -> HeaderMeta {
        self.meta
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.raw
    }
}

/// Check a wire header block once: status, pair count and what is wrong
/// with it. Never fails: whatever the bytes, the result describes them.
pub fn scan(raw: &[u8]) -> HeaderMeta {
    let mut meta = HeaderMeta::default();
    if std::str::from_utf8(raw).is_err() {
        meta.flags |= HeaderMeta::NOT_UTF8 | HeaderMeta::MALFORMED;
    }
    let Some(body) = raw.strip_suffix(END) else {
        meta.flags |= HeaderMeta::MALFORMED;
        return scan_lines(raw, meta);
    };
    // The body without its final blank line still ends in the last
    // line's CRLF (or is only the version line).
    let body = &raw[..body.len() + 2];
    scan_lines(body, meta)
}

fn scan_lines(body: &[u8], mut meta: HeaderMeta) -> HeaderMeta {
    let mut lines = Lines { rest: body };
    let first = lines.next().unwrap_or(b"");
    match parse_version_line(first) {
        Some(status) => meta.status = status,
        None => meta.flags |= HeaderMeta::MALFORMED,
    }
    let mut count: usize = 0;
    // Names seen, to tell whether the JSON form (grouped by name) keeps the
    // order; only checked for the usual handful of headers.
    let mut names: Vec<&[u8]> = Vec::new();
    const ORDER_CHECK_LIMIT: usize = 64;
    for line in lines {
        if line.is_empty() {
            // A blank line before the end: the block ended early.
            meta.flags |= HeaderMeta::MALFORMED;
            continue;
        }
        if memchr::memchr2(b'\r', b'\n', line).is_some() {
            meta.flags |= HeaderMeta::MALFORMED;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            meta.flags |= HeaderMeta::MALFORMED;
            continue;
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
            // Also a folded continuation line, which starts with a space.
            meta.flags |= HeaderMeta::MALFORMED;
        }
        if !line[colon + 1..].starts_with(b" ") {
            meta.flags |= HeaderMeta::NOT_CANONICAL;
        }
        count += 1;
        if count <= ORDER_CHECK_LIMIT {
            let last = names.last().copied();
            if last.is_some_and(|l| !l.eq_ignore_ascii_case(name)) {
                if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    meta.flags |= HeaderMeta::NOT_CANONICAL;
                }
                names.push(name);
            } else if last.is_none() {
                names.push(name);
            }
        } else {
            meta.flags |= HeaderMeta::NOT_CANONICAL;
        }
    }
    meta.count = u16::try_from(count).unwrap_or(u16::MAX);
    meta
}

/// `NATS/1.0` or `NATS/1.0 <code>[ description]`: the status, or `None`
/// when the line is not one.
fn parse_version_line(line: &[u8]) -> Option<Option<u16>> {
    let rest = line.strip_prefix(VERSION)?;
    if rest.is_empty() {
        return Some(None);
    }
    let rest = rest.strip_prefix(b" ")?;
    let code_end = rest
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    if code_end == 0 || code_end > 5 || (code_end < rest.len() && rest[code_end] != b' ') {
        return None;
    }
    let code = std::str::from_utf8(&rest[..code_end])
        .ok()?
        .parse::<u16>()
        .ok()?;
    Some(Some(code))
}

/// Lines split at CRLF, as the wire separates them.
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        // A '\n' search with a look back for '\r': `memmem` built a
        // searcher per call, an eighth of the ingest path's time in perf. A
        // bare '\n' (malformed) stays inside its line.
        let mut from = 0;
        while let Some(at) = memchr::memchr(b'\n', &self.rest[from..]) {
            let newline = from + at;
            if newline > 0 && self.rest[newline - 1] == b'\r' {
                let line = &self.rest[..newline - 1];
                self.rest = &self.rest[newline + 1..];
                return Some(line);
            }
            from = newline + 1;
        }
        let line = self.rest;
        self.rest = b"";
        Some(line)
    }
}

/// A header block as stored in a record: the wire bytes and their meta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers<'a> {
    raw: &'a [u8],
    meta: HeaderMeta,
}

impl<'a> Headers<'a> {
    pub(crate) fn new(raw: &'a [u8], meta: HeaderMeta) -> Self {
        Self { raw, meta }
    }

    /// The block exactly as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    pub fn meta(&self) -> HeaderMeta {
        self.meta
    }

    pub fn is_malformed(&self) -> bool {
        self.meta.is_malformed()
    }

    /// Number of header values (a name with two values counts twice).
    pub fn len(&self) -> usize {
        usize::from(self.meta.count)
    }

    pub fn is_empty(&self) -> bool {
        self.meta.count == 0
    }

    /// NATS status code, if the message was a status message.
    pub fn status(&self) -> Option<u16> {
        self.meta.status
    }

    /// Status description, e.g. `Request Timeout`.
    pub fn status_description(&self) -> Option<&'a str> {
        self.meta.status?;
        let line = Lines { rest: self.raw }.next()?;
        let rest = line.strip_prefix(b"NATS/1.0 ")?;
        let description = match memchr::memchr(b' ', rest) {
            Some(space) => &rest[space + 1..],
            None => b"",
        };
        std::str::from_utf8(description).ok()
    }

    /// Name/value pairs in order; multi-valued names appear once per value.
    /// Lines that are not `name: value` text are skipped (the raw bytes
    /// still have them).
    pub fn iter(&self) -> Pairs<'a> {
        let mut lines = Lines { rest: self.raw };
        lines.next(); // the version/status line
        Pairs {
            lines,
            check_utf8: self.meta.flags & HeaderMeta::NOT_UTF8 != 0,
        }
    }

    /// All values of a name (case-insensitive, as NATS header names are).
    pub fn get_all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.get_all(name).next()
    }

    /// The value of the first of `names` present (earlier names win), in
    /// one pass over the block.
    pub fn first_of<S: AsRef<str>>(&self, names: &[S]) -> Option<&'a str> {
        let mut best: Option<(usize, &str)> = None;
        for (name, value) in self.iter() {
            let limit = best.map_or(names.len(), |(rank, _)| rank);
            if let Some(rank) = names[..limit]
                .iter()
                .position(|n| n.as_ref().eq_ignore_ascii_case(name))
            {
                best = Some((rank, value));
                if rank == 0 {
                    break;
                }
            }
        }
        best.map(|(_, value)| value)
    }
}

/// The name/value pairs of a header block. Hand-rolled over `memchr`: this
/// runs several times per record in the flow correlator and once per
/// message in a replay, where `str::split` and `split_once` showed up as a
/// quarter of the time in `perf`.
pub struct Pairs<'a> {
    lines: Lines<'a>,
    check_utf8: bool,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = self.lines.next()?;
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let text = if self.check_utf8 {
                match std::str::from_utf8(line) {
                    Ok(text) => text,
                    Err(_) => continue,
                }
            } else {
                // SAFETY: without the NOT_UTF8 flag, `scan` found the whole
                // block to be UTF-8, and CRLF and ':' are ASCII, so this
                // line is a whole UTF-8 string. (Checking again on every
                // read cost the correlator noticeably.)
                unsafe { std::str::from_utf8_unchecked(line) }
            };
            let value = &text[colon + 1..];
            return Some((&text[..colon], value.strip_prefix(' ').unwrap_or(value)));
        }
    }
}

fn push_clean(out: &mut Vec<u8>, s: &str) {
    out.extend(
        s.bytes()
            .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_multi_values_and_order() {
        let block = HeaderBlock::build(None, [("a", "1"), ("B", "x: y"), ("a", "2")]);
        let h = block.view();
        assert_eq!(h.len(), 3);
        assert_eq!(h.get_all("A").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(h.get("b"), Some("x: y"));
        assert_eq!(h.first_of(&["c", "b", "a"]), Some("x: y"));
        assert_eq!(h.first_of(&["a", "b"]), Some("1"));
        assert_eq!(h.first_of(&["c"]), None);
        assert_eq!(h.status(), None);
        assert!(!h.is_malformed());
        // "a" comes back after "B": the grouped JSON form would reorder it.
        assert!(h.meta().needs_raw());
        let grouped = HeaderBlock::build(None, [("a", "1"), ("a", "2"), ("B", "x")]);
        assert!(!grouped.meta().needs_raw());
    }

    #[test]
    fn status_line_is_separate_from_pairs() {
        let block = HeaderBlock::build(
            Some((408, "Request Timeout")),
            [("Nats-Pending-Messages", "1")],
        );
        let h = block.view();
        assert_eq!(h.status(), Some(408));
        assert_eq!(h.status_description(), Some("Request Timeout"));
        assert_eq!(h.iter().count(), 1);
        let block = HeaderBlock::build(Some((503, "")), []);
        let bare = block.view();
        assert_eq!(bare.status_description(), Some(""));
        assert!(bare.is_empty());
        assert_eq!(block.as_bytes(), b"NATS/1.0 503\r\n\r\n");
    }

    #[test]
    fn newlines_cannot_break_a_built_block() {
        let block = HeaderBlock::build(None, [("k", "line1\nline2")]);
        let h = block.view();
        assert_eq!(h.get("k"), Some("line1 line2"));
        assert_eq!(h.len(), 1);
        assert!(!h.is_malformed());
    }

    #[test]
    fn malformed_blocks_are_flagged_and_read_as_far_as_they_go() {
        let cases: &[&[u8]] = &[
            b"NATS/1.0\r\nX-A: a\rb\r\n\r\n",
            b"NATS/1.0\r\nX-A: a\nb\r\n\r\n",
            b"NATS/1.0\r\nbad name: v\r\n\r\n",
            b"NATS/1.0\r\nno colon here\r\n\r\n",
            b"NATS/1.0\r\nX-U: \xff\xfe\r\n\r\n",
            b"NATS/1.0 99999 Odd\r\n\r\n",
            b"NATS/2.0\r\nA: b\r\n\r\n",
            b"NATS/1.0\r\nX-D: a\r\n  continued\r\n\r\n",
            b"NATS/1.0\r\nA: b\r\n",
            b"",
            b"\r\n\r\n",
        ];
        for raw in cases {
            let block = HeaderBlock::from_wire(raw.to_vec());
            let h = block.view();
            assert!(h.is_malformed(), "{:?}", String::from_utf8_lossy(raw));
            assert_eq!(h.as_bytes(), *raw);
            let _ = (h.iter().count(), h.status_description(), h.get("A"));
        }
        let utf8 = HeaderBlock::from_wire(b"NATS/1.0\r\nX-U: \xff\r\nA: b\r\n\r\n".to_vec());
        assert_eq!(utf8.view().get("A"), Some("b"));
        assert_eq!(utf8.view().get("X-U"), None);
        let cr = HeaderBlock::from_wire(b"NATS/1.0\r\nX-A: a\rb\r\n\r\n".to_vec());
        assert_eq!(cr.view().get("x-a"), Some("a\rb"));
    }

    #[test]
    fn odd_but_valid_forms_are_not_malformed() {
        let tight = HeaderBlock::from_wire(b"NATS/1.0\r\nA:b\r\n\r\n".to_vec());
        assert!(!tight.view().is_malformed());
        assert!(tight.meta().needs_raw());
        assert_eq!(tight.view().get("a"), Some("b"));
        let status = HeaderBlock::from_wire(b"NATS/1.0 100 Idle Heartbeat\r\n\r\n".to_vec());
        assert_eq!(status.meta().status, Some(100));
        assert!(!status.meta().needs_raw());
    }
}
