//! Subject remapping for replay: `orders.>=replay.orders.>` sends
//! `orders.created.eu` to `replay.orders.created.eu`. Wildcards in the
//! target take what the source's wildcards matched, in order.

use thiserror::Error;

use crate::capture::SubjectPattern;
use crate::capture::validate_pattern;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RemapError {
    #[error("'{0}': a remap is FROM=TO, e.g. orders.>=replay.orders.>")]
    Syntax(String),
    #[error("'{0}': {1}")]
    Pattern(String, String),
    #[error("'{0}': the target uses more wildcards than the source has")]
    Wildcards(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remap {
    from: SubjectPattern,
    to: Vec<String>,
}

impl Remap {
    pub fn parse(rule: &str) -> Result<Self, RemapError> {
        let (from, to) = rule
            .split_once('=')
            .ok_or_else(|| RemapError::Syntax(rule.to_owned()))?;
        let (from, to) = (from.trim(), to.trim());
        let pattern = SubjectPattern::parse(from)
            .map_err(|e| RemapError::Pattern(rule.to_owned(), e.to_string()))?;
        validate_pattern(to).map_err(|e| RemapError::Pattern(rule.to_owned(), e.to_string()))?;
        let count = |s: &str, w: &str| s.split('.').filter(|t| *t == w).count();
        if count(to, "*") > count(from, "*") || count(to, ">") > count(from, ">") {
            return Err(RemapError::Wildcards(rule.to_owned()));
        }
        Ok(Self {
            from: pattern,
            to: to.split('.').map(str::to_owned).collect(),
        })
    }

    /// The new subject, or `None` if this rule does not apply.
    pub fn apply(&self, subject: &str) -> Option<String> {
        if !self.from.matches(subject) {
            return None;
        }
        let from: Vec<&str> = self.from.as_str().split('.').collect();
        let parts: Vec<&str> = subject.split('.').collect();
        let mut stars = Vec::new();
        let mut rest = String::new();
        for (i, token) in from.iter().enumerate() {
            match *token {
                "*" => stars.push(parts[i]),
                ">" => rest = parts[i..].join("."),
                _ => {}
            }
        }
        let mut stars = stars.into_iter();
        let out: Vec<String> = self
            .to
            .iter()
            .map(|t| match t.as_str() {
                "*" => stars.next().unwrap_or("*").to_owned(),
                ">" => rest.clone(),
                literal => literal.to_owned(),
            })
            .collect();
        Some(out.join("."))
    }
}

/// Apply the first matching rule; subjects no rule matches stay as they are.
pub fn remap_subject(rules: &[Remap], subject: &str) -> String {
    rules
        .iter()
        .find_map(|r| r.apply(subject))
        .unwrap_or_else(|| subject.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_carry_over() {
        let r = Remap::parse("orders.>=replay.orders.>").expect("valid");
        assert_eq!(
            r.apply("orders.created.eu").as_deref(),
            Some("replay.orders.created.eu")
        );
        assert_eq!(r.apply("billing.x"), None);
        let r = Remap::parse("orders.*.eu=eu.*.orders").expect("valid");
        assert_eq!(r.apply("orders.paid.eu").as_deref(), Some("eu.paid.orders"));
        let r = Remap::parse("a.b=c").expect("valid");
        assert_eq!(r.apply("a.b").as_deref(), Some("c"));
        assert_eq!(remap_subject(&[r], "x.y"), "x.y");
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(matches!(
            Remap::parse("orders.>"),
            Err(RemapError::Syntax(_))
        ));
        assert!(matches!(
            Remap::parse("orders..x=y"),
            Err(RemapError::Pattern(..))
        ));
        assert!(matches!(
            Remap::parse("orders.x=y.*"),
            Err(RemapError::Wildcards(_))
        ));
    }
}
