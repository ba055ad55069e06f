//! Headers kept as one compact text block instead of a map of vectors.
//!
//! A `HeaderMap` per retained message costs several allocations; a block of
//! `name: value` lines packed with the record's other bytes costs none of its
//! own and is parsed again only when read.

/// Header lines `Name: value\n`, in received order, multi-valued names
/// repeated. An optional NATS status line (`NATS/1.0 408 Request Timeout`) comes
/// first, as on the wire. Owned; records keep the same text packed with their
/// other bytes and hand out [`Headers`] views.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HeaderBlock {
    text: String,
    meta: HeaderMeta,
}

/// What a header block's text alone does not say cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HeaderMeta {
    pub status: Option<u16>,
    pub count: u16,
}

const STATUS_PREFIX: &str = "NATS/1.0 ";

impl HeaderBlock {
    /// Build from a status (code, description) and name/value pairs.
    /// Newlines inside names or values are replaced by spaces: the wire cannot
    /// carry them either.
    pub fn build<'a>(
        status: Option<(u16, &str)>,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let mut block = Self::default();
        block.rebuild(status, pairs);
        block
    }

    /// Build again in place, keeping the allocation (the ingest path reuses
    /// one block for every message).
    pub fn rebuild<'a>(
        &mut self,
        status: Option<(u16, &str)>,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        let text = &mut self.text;
        text.clear();
        if let Some((code, description)) = status {
            text.push_str(STATUS_PREFIX);
            text.push_str(&code.to_string());
            if !description.is_empty() {
                text.push(' ');
                push_clean(text, description);
            }
            text.push('\n');
        }
        let mut count: usize = 0;
        for (name, value) in pairs {
            push_clean(text, name);
            text.push_str(": ");
            push_clean(text, value);
            text.push('\n');
            count += 1;
        }
        self.meta = HeaderMeta {
            status: status.map(|(code, _)| code),
            count: u16::try_from(count).unwrap_or(u16::MAX),
        };
    }

    pub fn view(&self) -> Headers<'_> {
        Headers::new(&self.text, self.meta)
    }

    pub fn meta(&self) -> HeaderMeta {
        self.meta
    }

    pub fn as_text(&self) -> &str {
        &self.text
    }
}

/// A header block as stored in a record: the text and its meta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers<'a> {
    text: &'a str,
    meta: HeaderMeta,
}

impl<'a> Headers<'a> {
    pub(crate) fn new(text: &'a str, meta: HeaderMeta) -> Self {
        Self { text, meta }
    }

    pub fn as_text(&self) -> &'a str {
        self.text
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
        let line = self.text.lines().next()?;
        let rest = line.strip_prefix(STATUS_PREFIX)?;
        Some(rest.split_once(' ').map_or("", |(_, d)| d))
    }

    /// Name/value pairs in order; multi-valued names appear once per value.
    pub fn iter(&self) -> Pairs<'a> {
        let mut pairs = Pairs { rest: self.text };
        if self.meta.status.is_some() {
            pairs.next_line();
        }
        pairs
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
    rest: &'a str,
}

impl<'a> Pairs<'a> {
    fn next_line(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        // '\n' is ASCII, so these byte offsets are character boundaries.
        let end = memchr::memchr(b'\n', self.rest.as_bytes()).unwrap_or(self.rest.len());
        let line = &self.rest[..end];
        self.rest = self.rest.get(end + 1..).unwrap_or("");
        Some(line)
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = self.next_line()?;
            if let Some(colon) = memchr::memchr(b':', line.as_bytes()) {
                let value = &line[colon + 1..];
                return Some((&line[..colon], value.strip_prefix(' ').unwrap_or(value)));
            }
        }
    }
}

fn push_clean(out: &mut String, s: &str) {
    if memchr::memchr2(b'\n', b'\r', s.as_bytes()).is_some() {
        out.extend(
            s.chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
        );
    } else {
        out.push_str(s);
    }
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
        assert_eq!(block.as_text(), "NATS/1.0 503\n");
    }

    #[test]
    fn newlines_cannot_break_the_block() {
        let block = HeaderBlock::build(None, [("k", "line1\nline2")]);
        let h = block.view();
        assert_eq!(h.get("k"), Some("line1 line2"));
        assert_eq!(h.len(), 1);
    }
}
