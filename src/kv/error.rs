//! The KV room's one error type: what the user asked, and why it failed,
//! in a sentence (async-nats' error kinds are many and change between
//! versions; the views need only the sentence and whether a bucket is
//! missing).

#[derive(Debug, Clone, thiserror::Error)]
pub enum KvError {
    #[error("no key '{key}' in bucket '{bucket}'")]
    NoKey { bucket: String, key: String },
    #[error("no revision {revision} of '{key}'")]
    NoRevision { key: String, revision: u64 },
    #[error("'{key}' is not a valid key: {why}")]
    InvalidKey { key: String, why: &'static str },
    #[error(
        "'{key}' changed meanwhile (revision {now}, not {seen} as read); nothing was written: look again and retry"
    )]
    Changed { key: String, seen: u64, now: u64 },
    #[error("{what}: {detail}")]
    Failed { what: String, detail: String },
}

/// A key as the server accepts one (`[-/_=.a-zA-Z0-9]+`, no dot at either
/// end, no empty token): said before asking, so a bad key is named as such
/// instead of as a missing one.
pub fn check_key(key: &str) -> Result<(), KvError> {
    let invalid = |why| {
        Err(KvError::InvalidKey {
            key: key.to_owned(),
            why,
        })
    };
    if key.is_empty() {
        return invalid("it is empty");
    }
    if key.starts_with('.') || key.ends_with('.') || key.contains("..") {
        return invalid("a dot at either end or two in a row");
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
    {
        return invalid("only letters, digits and - / _ = . are allowed");
    }
    Ok(())
}

impl KvError {
    pub(super) fn failed(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        KvError::Failed {
            what: what.into(),
            detail: e.to_string(),
        }
    }
}
