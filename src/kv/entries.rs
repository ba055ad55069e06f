//! One key: its value at a revision, its history, and the changes a user
//! makes by hand (put, delete, purge, revert).

use async_nats::jetstream::kv::{Entry, Operation, Store};
use bytes::Bytes;
use futures_util::TryStreamExt;
use serde::Serialize;

use super::{KvError, check_key, nanos};
use crate::capture::Timestamp;
use crate::flow::KvOperation;

/// A key at one revision.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRevision {
    pub key: String,
    pub revision: u64,
    pub operation: KvOperation,
    pub created: Timestamp,
    pub value: Bytes,
}

/// As JSON (the CLI's `--json`): the value as text when it is UTF-8,
/// else as `value_base64`, so no byte is lost.
impl Serialize for KeyRevision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("key", &self.key)?;
        map.serialize_entry("revision", &self.revision)?;
        map.serialize_entry("operation", &self.operation)?;
        map.serialize_entry(
            "created",
            &crate::capture::timestamp_to_utc(self.created).to_rfc3339(),
        )?;
        match std::str::from_utf8(&self.value) {
            Ok(text) => map.serialize_entry("value", text)?,
            Err(_) => map.serialize_entry(
                "value_base64",
                &base64::engine::general_purpose::STANDARD.encode(&self.value),
            )?,
        }
        map.end()
    }
}

impl From<Entry> for KeyRevision {
    fn from(e: Entry) -> Self {
        KeyRevision {
            key: e.key,
            revision: e.revision,
            operation: match e.operation {
                Operation::Put => KvOperation::Put,
                Operation::Delete => KvOperation::Delete,
                Operation::Purge => KvOperation::Purge,
            },
            created: nanos(e.created.unix_timestamp_nanos()),
            value: e.value,
        }
    }
}

/// `key` now, or at `revision`; delete and purge markers included.
pub async fn get_key(
    store: &Store,
    key: &str,
    revision: Option<u64>,
) -> Result<KeyRevision, KvError> {
    check_key(key)?;
    let what = || format!("reading '{key}' in '{}'", store.name);
    let entry = match revision {
        Some(r) => store.entry_for_revision(key, r).await,
        None => store.entry(key).await,
    }
    .map_err(|e| KvError::failed(what(), e))?;
    match (entry, revision) {
        (Some(e), _) => Ok(e.into()),
        (None, Some(revision)) => Err(KvError::NoRevision {
            key: key.to_owned(),
            revision,
        }),
        (None, None) => Err(KvError::NoKey {
            bucket: store.name.clone(),
            key: key.to_owned(),
        }),
    }
}

/// Every revision the bucket keeps of `key`, oldest first.
pub async fn history(store: &Store, key: &str) -> Result<Vec<KeyRevision>, KvError> {
    check_key(key)?;
    let what = || format!("history of '{key}' in '{}'", store.name);
    let entries: Vec<Entry> = store
        .history(key)
        .await
        .map_err(|e| KvError::failed(what(), e))?
        .try_collect()
        .await
        .map_err(|e| KvError::failed(what(), e))?;
    if entries.is_empty() {
        return Err(KvError::NoKey {
            bucket: store.name.clone(),
            key: key.to_owned(),
        });
    }
    Ok(entries.into_iter().map(KeyRevision::from).collect())
}

/// Store `value` under `key`; its new revision.
pub async fn put_key(store: &Store, key: &str, value: Bytes) -> Result<u64, KvError> {
    check_key(key)?;
    store
        .put(key, value)
        .await
        .map_err(|e| KvError::failed(format!("putting '{key}' in '{}'", store.name), e))
}

/// A delete marker for `key` (its history stays).
pub async fn delete_key(store: &Store, key: &str) -> Result<(), KvError> {
    check_key(key)?;
    store
        .delete(key)
        .await
        .map_err(|e| KvError::failed(format!("deleting '{key}' in '{}'", store.name), e))
}

/// A purge marker for `key`: its history goes.
pub async fn purge_key(store: &Store, key: &str) -> Result<(), KvError> {
    check_key(key)?;
    store
        .purge(key)
        .await
        .map_err(|e| KvError::failed(format!("purging '{key}' in '{}'", store.name), e))
}

/// Make `revision` the key's current state again, as a new revision: its
/// value put back, or, when that revision was a delete or purge, a delete.
/// Only over the latest revision the user saw (`seen`; by default the one
/// read now): a write that came in between is not overwritten, the server
/// refuses (`Changed`). The new revision, or `None` for a delete.
pub async fn revert(
    store: &Store,
    key: &str,
    revision: u64,
    seen: Option<u64>,
) -> Result<Option<u64>, KvError> {
    let old = get_key(store, key, Some(revision)).await?;
    let latest = get_key(store, key, None).await?.revision;
    let seen = seen.unwrap_or(latest);
    let changed = |now| KvError::Changed {
        key: key.to_owned(),
        seen,
        now,
    };
    if latest != seen {
        return Err(changed(latest));
    }
    let written = match old.operation {
        KvOperation::Put => store
            .update(key, old.value, seen)
            .await
            .map(Some)
            .map_err(|e| e.to_string()),
        KvOperation::Delete | KvOperation::Purge => store
            .delete_expect_revision(key, Some(seen))
            .await
            .map(|()| None)
            .map_err(|e| e.to_string()),
    };
    match written {
        Ok(new) => Ok(new),
        // The server compared: someone wrote after `seen`.
        Err(detail) if detail.to_ascii_lowercase().contains("wrong last sequence") => {
            let now = get_key(store, key, None).await.map_or(0, |k| k.revision);
            Err(changed(now))
        }
        Err(detail) => Err(KvError::Failed {
            what: format!("reverting '{key}' in '{}'", store.name),
            detail,
        }),
    }
}
