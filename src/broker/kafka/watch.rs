//! Which topics a Kafka subscription reads: a pattern that is a topic
//! name reads that topic; anything else is a regular expression over whole
//! topic names (`orders.*`, `orders(-retry-\d+|\.DLT)?`); `>` or `#` (a
//! profile made for NATS or MQTT) reads every topic but Kafka's internal
//! ones.

use regex::Regex;
use thiserror::Error;

use super::message::check_topic;

/// A Kafka subscription pattern that is neither a topic nor a regular
/// expression.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "'{pattern}' is neither a Kafka topic name nor a regular expression over topic names: {reason}"
)]
pub struct BadTopicPattern {
    pub pattern: String,
    pub reason: String,
}

/// The topics one pattern reads.
#[derive(Clone, Debug)]
pub(crate) enum TopicMatcher {
    All,
    Exact(String),
    Regex(Regex),
}

impl TopicMatcher {
    pub fn new(pattern: &str) -> Result<Self, BadTopicPattern> {
        let pattern = pattern.trim();
        if matches!(pattern, ">" | "#" | "*" | ".*") {
            return Ok(Self::All);
        }
        // A name with a dot is a topic name first (`orders.v1`), as
        // Kafka's own tools read it.
        if check_topic(pattern).is_ok() {
            return Ok(Self::Exact(pattern.to_owned()));
        }
        Regex::new(&format!("^(?:{pattern})$"))
            .map(Self::Regex)
            .map_err(|e| BadTopicPattern {
                pattern: pattern.to_owned(),
                reason: e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            })
    }

    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Self::All => !topic.starts_with("__"),
            Self::Exact(name) => name == topic,
            Self::Regex(re) => re.is_match(topic),
        }
    }
}

/// A pattern's syntax (for the profile's check).
pub(crate) fn check_pattern(pattern: &str) -> Result<(), BadTopicPattern> {
    TopicMatcher::new(pattern).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_is_a_topic_or_a_regular_expression() {
        let exact = TopicMatcher::new("orders.v1").unwrap();
        assert!(exact.matches("orders.v1") && !exact.matches("ordersXv1"));
        let chain = TopicMatcher::new(r"orders(-retry-\d+|\.DLT)?").unwrap();
        for t in ["orders", "orders-retry-1", "orders.DLT"] {
            assert!(chain.matches(t), "{t}");
        }
        assert!(!chain.matches("orders-archive"));
        let all = TopicMatcher::new(">").unwrap();
        assert!(all.matches("a") && !all.matches("__consumer_offsets"));
        let bad = TopicMatcher::new("orders(").unwrap_err();
        assert!(bad.to_string().contains("orders("), "{bad}");
    }
}
