//! The KV room's one error type: what the user asked, and why it failed,
//! in a sentence (async-nats' error kinds are many and change between
//! versions; the views need only the sentence and whether a bucket is
//! missing).

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("no key '{key}' in bucket '{bucket}'")]
    NoKey { bucket: String, key: String },
    #[error("no revision {revision} of '{key}'")]
    NoRevision { key: String, revision: u64 },
    #[error("{what}: {detail}")]
    Failed { what: String, detail: String },
}

impl KvError {
    pub(super) fn failed(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        KvError::Failed {
            what: what.into(),
            detail: e.to_string(),
        }
    }
}
