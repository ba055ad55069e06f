//! A stream's subject transform (`subject_transform: {src, dest}`), as
//! nats-server applies it before storing: consumer filters match the
//! *stored* subject, so a flow must know it to say who wants a message.
//! Written here because no crate implements NATS's transform language; only
//! the wildcard mappings (`{{wildcard(n)}}`, `$n`) and the token functions
//! that need no hashing are supported: any other makes `apply` say "cannot
//! tell" (`None`) rather than guess.

use crate::capture::SubjectPattern;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SubjectTransform {
    source: Option<SubjectPattern>,
    dest: Vec<DestToken>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DestToken {
    Literal(String),
    /// The n-th wildcard of the source (1-based).
    Wildcard(usize),
    /// The source's `>` tail.
    Rest,
    /// A function this module does not reproduce.
    Unsupported,
}

impl SubjectTransform {
    /// `src` empty means every subject of the stream.
    pub(super) fn new(src: &str, dest: &str) -> Self {
        let source = (!src.is_empty())
            .then(|| SubjectPattern::parse(src).ok())
            .flatten();
        let dest = dest.split('.').map(parse_dest_token).collect();
        Self { source, dest }
    }

    /// The subject stored for `subject`; the subject itself when the
    /// source does not match it; `None` when this cannot tell.
    pub(super) fn apply(&self, subject: &str) -> Option<String> {
        let tokens: Vec<&str> = subject.split('.').collect();
        let (wildcards, rest): (Vec<&str>, Option<String>) = match &self.source {
            None => (Vec::new(), Some(subject.to_owned())),
            Some(source) => {
                if !source.matches(subject) {
                    return Some(subject.to_owned());
                }
                let pattern: Vec<&str> = source.as_str().split('.').collect();
                let mut wildcards = Vec::new();
                let mut rest = None;
                for (i, p) in pattern.iter().enumerate() {
                    match *p {
                        "*" => wildcards.push(tokens[i]),
                        ">" => rest = Some(tokens[i..].join(".")),
                        _ => {}
                    }
                }
                (wildcards, rest)
            }
        };
        let mut out = Vec::with_capacity(self.dest.len());
        for token in &self.dest {
            match token {
                DestToken::Literal(text) => out.push(text.clone()),
                DestToken::Wildcard(n) => out.push((*wildcards.get(n.checked_sub(1)?)?).to_owned()),
                DestToken::Rest => out.push(rest.clone()?),
                DestToken::Unsupported => return None,
            }
        }
        Some(out.join("."))
    }
}

fn parse_dest_token(token: &str) -> DestToken {
    if token == ">" {
        return DestToken::Rest;
    }
    if let Some(n) = token.strip_prefix('$')
        && let Ok(n) = n.parse()
    {
        return DestToken::Wildcard(n);
    }
    let Some(inner) = token
        .trim()
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
    else {
        return DestToken::Literal(token.to_owned());
    };
    let inner = inner.trim();
    let call = |name: &str| {
        let lower = inner.to_ascii_lowercase();
        lower
            .strip_prefix(name)
            .and_then(|t| t.trim().strip_prefix('('))
            .and_then(|t| t.strip_suffix(')'))
            .map(|args| args.trim().to_owned())
    };
    match call("wildcard").and_then(|n| n.parse().ok()) {
        Some(n) => DestToken::Wildcard(n),
        None => DestToken::Unsupported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_move_as_the_server_moves_them() {
        let t = SubjectTransform::new("in.*", "stored.{{wildcard(1)}}");
        assert_eq!(t.apply("in.c").as_deref(), Some("stored.c"));
        assert_eq!(t.apply("other.c").as_deref(), Some("other.c"));
        let swap = SubjectTransform::new("a.*.*", "b.$2.{{ Wildcard( 1 ) }}");
        assert_eq!(swap.apply("a.x.y").as_deref(), Some("b.y.x"));
        let tail = SubjectTransform::new("in.>", "out.>");
        assert_eq!(tail.apply("in.x.y").as_deref(), Some("out.x.y"));
        let all = SubjectTransform::new("", "mirror.>");
        assert_eq!(all.apply("x.y").as_deref(), Some("mirror.x.y"));
        let hashed = SubjectTransform::new("in.*", "p.{{partition(3,1)}}");
        assert_eq!(hashed.apply("in.c"), None, "cannot tell, not a guess");
    }
}
