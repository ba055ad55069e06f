//! A bucket's keys, each with its last revision: an ordered consumer
//! delivering only headers, last message per subject. Written here rather
//! than with async-nats' `Store::keys()` because that hides deleted and
//! purged keys and gives names only; the browser shows revision, size,
//! time and delete markers too. The consumer is ephemeral and ordered (a
//! KV bucket keeps every message until its limits, so reading moves
//! nothing).

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, ReplayPolicy, push::OrderedConfig};
use async_nats::jetstream::kv::Store;
use futures_util::StreamExt;
use serde::Serialize;

use super::{KvError, nanos};
use crate::capture::Timestamp;
use crate::flow::KvOperation;

/// Without a message this long while the server still says some are
/// pending, the listing ends and says it is incomplete.
const STALL: Duration = Duration::from_secs(5);

/// One key's latest state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyRow {
    pub key: String,
    pub revision: u64,
    pub operation: KvOperation,
    /// When the revision was stored (nanoseconds since the epoch).
    #[serde(serialize_with = "super::rfc3339")]
    pub updated: Timestamp,
    /// The value's size in bytes (0 for a delete or purge marker).
    pub size: u64,
}

/// Which keys to list, and how many at most.
#[derive(Debug, Clone)]
pub struct KeyFilter {
    /// A subject pattern over keys (`orders.*`, `>`), applied by the server.
    pub pattern: String,
    /// Keys beyond this are counted, not kept.
    pub limit: usize,
}

impl Default for KeyFilter {
    fn default() -> Self {
        Self {
            pattern: ">".into(),
            limit: 1_000_000,
        }
    }
}

/// What a listing found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KeyList {
    pub rows: Vec<KeyRow>,
    /// Keys the server has beyond the limit.
    pub not_kept: u64,
    /// False when the listing stalled before the server's count was reached.
    pub complete: bool,
}

/// The keys of `store` matching `filter`, in the server's order (by
/// revision), deleted and purged keys included and marked.
pub async fn list_keys(
    client: &async_nats::Client,
    store: &Store,
    filter: &KeyFilter,
) -> Result<KeyList, KvError> {
    let failed =
        |e: &dyn std::fmt::Display| KvError::failed(format!("listing keys of '{}'", store.name), e);
    let pattern = if filter.pattern.trim().is_empty() {
        ">"
    } else {
        filter.pattern.trim()
    };
    let consumer = store
        .stream
        .create_consumer(OrderedConfig {
            deliver_subject: client.new_inbox(),
            description: Some("eventscope key listing".into()),
            filter_subject: format!("{}{pattern}", store.prefix),
            headers_only: true,
            replay_policy: ReplayPolicy::Instant,
            deliver_policy: DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await
        .map_err(|e| failed(&e))?;
    let mut list = KeyList {
        complete: true,
        ..Default::default()
    };
    if consumer.cached_info().num_pending == 0 {
        return Ok(list);
    }
    let mut messages = consumer.messages().await.map_err(|e| failed(&e))?;
    loop {
        let message = match tokio::time::timeout(STALL, messages.next()).await {
            Ok(Some(m)) => m.map_err(|e| failed(&e))?,
            Ok(None) | Err(_) => {
                list.complete = false;
                return Ok(list);
            }
        };
        let info = message.info().map_err(|e| failed(&e))?;
        let pending = info.pending;
        let row = KeyRow {
            key: message
                .subject
                .strip_prefix(store.prefix.as_str())
                .unwrap_or(&message.subject)
                .to_owned(),
            revision: info.stream_sequence,
            operation: operation(message.headers.as_ref()),
            updated: nanos(info.published.unix_timestamp_nanos()),
            size: message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Size"))
                .and_then(|v| v.as_str().parse().ok())
                .unwrap_or(0),
        };
        if list.rows.len() < filter.limit {
            list.rows.push(row);
        } else {
            list.not_kept += 1;
        }
        if pending == 0 {
            return Ok(list);
        }
    }
}

/// A stored message's KV operation, from its `KV-Operation` header.
pub(super) fn operation(headers: Option<&async_nats::HeaderMap>) -> KvOperation {
    match headers
        .and_then(|h| h.get("KV-Operation"))
        .map(|v| v.as_str())
    {
        Some("DEL") => KvOperation::Delete,
        Some("PURGE") => KvOperation::Purge,
        _ => KvOperation::Put,
    }
}
