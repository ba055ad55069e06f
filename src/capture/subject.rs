//! NATS subject rules: validation of subjects and patterns, and wildcard
//! matching (`*` one token, `>` one or more trailing tokens).

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SubjectError {
    #[error("the subject is empty")]
    Empty,
    #[error("'{0}' contains whitespace, which NATS subjects cannot")]
    Whitespace(String),
    #[error("'{0}' has an empty token (a leading, trailing or double '.')")]
    EmptyToken(String),
    #[error("'{0}': wildcards (* and >) are only allowed when subscribing, not when publishing")]
    WildcardInSubject(String),
    #[error("'{0}': '*' and '>' must be whole tokens, and '>' only the last one")]
    MisplacedWildcard(String),
    #[error("'{0}': '+' and '#' must be whole topic levels, and '#' only the last one")]
    MisplacedTopicWildcard(String),
}

/// Whether a pattern has a `*` or `>` token (and so may match subjects
/// nobody listed: requests it turns into timeouts, several streams).
pub fn has_wildcards(pattern: &str) -> bool {
    pattern.split('.').any(|t| t == "*" || t == ">")
}

/// Check a subject that will be published to: no wildcards.
pub fn validate_subject(subject: &str) -> Result<(), SubjectError> {
    validate_tokens(subject)?;
    if has_wildcards(subject) {
        return Err(SubjectError::WildcardInSubject(subject.to_owned()));
    }
    Ok(())
}

/// Check a subscription pattern: `*` and `>` as whole tokens, `>` last.
pub fn validate_pattern(pattern: &str) -> Result<(), SubjectError> {
    validate_tokens(pattern)?;
    let tokens: Vec<&str> = pattern.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        let bad_partial = token.len() > 1 && (token.contains('*') || token.contains('>'));
        let gt_not_last = *token == ">" && i + 1 != tokens.len();
        if bad_partial || gt_not_last {
            return Err(SubjectError::MisplacedWildcard(pattern.to_owned()));
        }
    }
    Ok(())
}

fn validate_tokens(s: &str) -> Result<(), SubjectError> {
    if s.is_empty() {
        return Err(SubjectError::Empty);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(SubjectError::Whitespace(s.to_owned()));
    }
    if s.split('.').any(str::is_empty) {
        return Err(SubjectError::EmptyToken(s.to_owned()));
    }
    Ok(())
}

/// A validated subscription pattern, pre-split for fast matching: NATS's
/// (`orders.*.created`, `orders.>`) or, when it has a `/` or is `#`, an
/// MQTT topic filter (`sensors/+/temp`, `sensors/#`), so that one filter
/// bar serves every broker's names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectPattern {
    text: String,
    tokens: Vec<Token>,
    separator: char,
}

/// Whether a pattern is an MQTT topic filter rather than a NATS pattern.
pub fn is_topic_filter(pattern: &str) -> bool {
    pattern.contains('/') || pattern == "#" || pattern == "+"
}

/// Check an MQTT topic filter: `+` and `#` whole levels, `#` last.
pub fn validate_topic_filter(filter: &str) -> Result<(), SubjectError> {
    if filter.is_empty() {
        return Err(SubjectError::Empty);
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        let bad_partial = level.len() > 1 && (level.contains('+') || level.contains('#'));
        let hash_not_last = *level == "#" && i + 1 != levels.len();
        if bad_partial || hash_not_last {
            return Err(SubjectError::MisplacedTopicWildcard(filter.to_owned()));
        }
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(String),
    AnyOne,
    Rest,
}

impl SubjectPattern {
    pub fn parse(pattern: &str) -> Result<Self, SubjectError> {
        let (separator, one, rest) = if is_topic_filter(pattern) {
            validate_topic_filter(pattern)?;
            ('/', "+", "#")
        } else {
            validate_pattern(pattern)?;
            ('.', "*", ">")
        };
        let tokens = pattern
            .split(separator)
            .map(|t| match t {
                t if t == one => Token::AnyOne,
                t if t == rest => Token::Rest,
                literal => Token::Literal(literal.to_owned()),
            })
            .collect();
        Ok(Self {
            text: pattern.to_owned(),
            tokens,
            separator,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn has_wildcards(&self) -> bool {
        self.tokens.iter().any(|t| !matches!(t, Token::Literal(_)))
    }

    /// Whether `subject` is matched: `*` (`+`) matches exactly one token,
    /// `>` one or more; MQTT's `#` also matches its parent level
    /// (`a/#` matches `a`).
    pub fn matches(&self, subject: &str) -> bool {
        let mut parts = subject.split(self.separator);
        for token in &self.tokens {
            match (token, parts.next()) {
                (Token::Rest, Some(_)) => return true,
                (Token::Rest, None) => return self.separator == '/',
                (Token::AnyOne, Some(_)) => {}
                (Token::Literal(lit), Some(part)) if lit == part => {}
                _ => return false,
            }
        }
        parts.next().is_none()
    }
}

impl std::fmt::Display for SubjectPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether some subject matches both patterns (so a connection subscribed
/// to both receives such a message twice).
pub fn patterns_overlap(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    let mut i = 0;
    loop {
        match (a.get(i), b.get(i)) {
            (Some(&">"), Some(_)) | (Some(_), Some(&">")) => return true,
            (Some(x), Some(y)) if *x == "*" || *y == "*" || x == y => i += 1,
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_of_patterns() {
        assert!(patterns_overlap(">", "orders.*"));
        assert!(patterns_overlap("orders.*", "*.created"));
        assert!(patterns_overlap("a.b", "a.b"));
        assert!(!patterns_overlap("orders.*", "billing.>"));
        assert!(!patterns_overlap("a.*", "a.*.c"));
        assert!(patterns_overlap("a.>", "a.*.c"));
        assert!(!patterns_overlap("a.>", "a"));
    }

    fn m(p: &str, s: &str) -> bool {
        SubjectPattern::parse(p).expect("valid pattern").matches(s)
    }

    #[test]
    fn wildcard_semantics() {
        assert!(m(">", "a"));
        assert!(m(">", "a.b.c"));
        assert!(m("orders.*", "orders.created"));
        assert!(!m("orders.*", "orders"));
        assert!(!m("orders.*", "orders.created.eu"));
        assert!(m("orders.>", "orders.created.eu"));
        assert!(!m("orders.>", "orders"));
        assert!(m("*.created", "orders.created"));
        assert!(!m("orders.created", "orders.created.x"));
        assert!(m("$JS.ACK.*.*.>", "$JS.ACK.ORDERS.worker.1.1.1.179.0"));
    }

    #[test]
    fn mqtt_topic_filters_match_as_mqtt_does() {
        assert!(m("#", "sensors/1/temp"));
        assert!(m("sensors/+/temp", "sensors/1/temp"));
        assert!(!m("sensors/+/temp", "sensors/1/2/temp"));
        assert!(m("sensors/#", "sensors/1/temp"));
        assert!(m("sensors/#", "sensors"), "'#' matches its parent level");
        assert!(!m("sensors/+", "sensors"));
        // A NATS pattern never matches across '/' levels.
        assert!(!m("sensors.>", "sensors/1"));
        assert!(matches!(
            SubjectPattern::parse("a/#/b"),
            Err(SubjectError::MisplacedTopicWildcard(_))
        ));
        assert!(matches!(
            SubjectPattern::parse("a/b+"),
            Err(SubjectError::MisplacedTopicWildcard(_))
        ));
    }

    #[test]
    fn rejects_bad_patterns_and_subjects() {
        assert_eq!(validate_pattern(""), Err(SubjectError::Empty));
        assert!(matches!(
            validate_pattern("a..b"),
            Err(SubjectError::EmptyToken(_))
        ));
        assert!(matches!(
            validate_pattern("a b"),
            Err(SubjectError::Whitespace(_))
        ));
        assert!(matches!(
            validate_pattern("a.>.b"),
            Err(SubjectError::MisplacedWildcard(_))
        ));
        assert!(matches!(
            validate_pattern("a.b*"),
            Err(SubjectError::MisplacedWildcard(_))
        ));
        assert!(validate_pattern("a.*.>").is_ok());
        assert!(matches!(
            validate_subject("a.*"),
            Err(SubjectError::WildcardInSubject(_))
        ));
        assert!(validate_subject("orders.created").is_ok());
        assert!(matches!(
            validate_subject(".a"),
            Err(SubjectError::EmptyToken(_))
        ));
    }
}
