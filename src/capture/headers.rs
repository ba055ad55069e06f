//! Headers kept as one compact text block instead of a map of vectors.
//!
//! A `HeaderMap` per retained message costs several allocations; one string
//! of `name: value` lines costs one and is parsed again only for display.

/// Header lines `Name: value\n`, in received order, multi-valued names
/// repeated. An optional NATS status line (`NATS/1.0 408 Request Timeout`) comes
/// first, as on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HeaderBlock {
    text: Box<str>,
    status: Option<u16>,
    count: u16,
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
        let pairs = pairs.into_iter();
        let mut text = String::with_capacity(64 * pairs.size_hint().0.max(1));
        if let Some((code, description)) = status {
            text.push_str(STATUS_PREFIX);
            text.push_str(&code.to_string());
            if !description.is_empty() {
                text.push(' ');
                push_clean(&mut text, description);
            }
            text.push('\n');
        }
        let mut count: usize = 0;
        for (name, value) in pairs {
            push_clean(&mut text, name);
            text.push_str(": ");
            push_clean(&mut text, value);
            text.push('\n');
            count += 1;
        }
        Self {
            text: text.into_boxed_str(),
            status: status.map(|(code, _)| code),
            count: u16::try_from(count).unwrap_or(u16::MAX),
        }
    }

    pub fn as_text(&self) -> &str {
        &self.text
    }

    /// Number of header values (a name with two values counts twice).
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// NATS status code, if the message was a status message.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Status description, e.g. `Request Timeout`.
    pub fn status_description(&self) -> Option<&str> {
        self.status?;
        let line = self.text.lines().next()?;
        let rest = line.strip_prefix(STATUS_PREFIX)?;
        Some(rest.split_once(' ').map_or("", |(_, d)| d))
    }

    /// Name/value pairs in order; multi-valued names appear once per value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let skip = usize::from(self.status.is_some());
        self.text
            .lines()
            .skip(skip)
            .filter_map(|line| line.split_once(": "))
    }

    /// All values of a name (case-insensitive, as NATS header names are).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn get<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.get_all(name).next()
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
        let h = HeaderBlock::build(None, [("a", "1"), ("B", "x: y"), ("a", "2")]);
        assert_eq!(h.len(), 3);
        assert_eq!(h.get_all("A").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(h.get("b"), Some("x: y"));
        assert_eq!(h.status(), None);
    }

    #[test]
    fn status_line_is_separate_from_pairs() {
        let h = HeaderBlock::build(
            Some((408, "Request Timeout")),
            [("Nats-Pending-Messages", "1")],
        );
        assert_eq!(h.status(), Some(408));
        assert_eq!(h.status_description(), Some("Request Timeout"));
        assert_eq!(h.iter().count(), 1);
        let bare = HeaderBlock::build(Some((503, "")), []);
        assert_eq!(bare.status_description(), Some(""));
        assert!(bare.is_empty());
    }

    #[test]
    fn newlines_cannot_break_the_block() {
        let h = HeaderBlock::build(None, [("k", "line1\nline2")]);
        assert_eq!(h.get("k"), Some("line1 line2"));
        assert_eq!(h.len(), 1);
    }
}
