//! A live watch of a bucket or a key pattern: each change as it is stored,
//! optionally after the current value of every matching key. Runs until
//! the receiver goes or its task is aborted.

use async_nats::jetstream::kv::Store;
use futures_util::StreamExt;
use serde::Serialize;

use super::{KeyRevision, KvError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum WatchMode {
    /// The current value of each matching key first, then every change.
    #[default]
    InitialThenUpdates,
    /// Only changes from now on.
    UpdatesOnly,
}

/// One entry a watch saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyEvent {
    #[serde(flatten)]
    pub entry: KeyRevision,
    /// A key's value from before the watch began (not a change seen live).
    pub initial: bool,
}

/// A watch that has begun: the server has its consumer.
pub struct KeyWatch {
    watch: async_nats::jetstream::kv::Watch,
    last_before: u64,
    what: String,
}

/// Watch `pattern` (`>` for the whole bucket); returns once the server
/// is watching, so nothing stored after this is missed.
pub async fn watch_keys(
    store: &Store,
    pattern: &str,
    mode: WatchMode,
) -> Result<KeyWatch, KvError> {
    let pattern = if pattern.trim().is_empty() {
        ">"
    } else {
        pattern.trim()
    };
    let what = format!("watching '{pattern}' in '{}'", store.name);
    // Revisions up to the bucket's last sequence now were stored before
    // the watch began: those are the initial values.
    let last_before = match mode {
        WatchMode::InitialThenUpdates => {
            let mut stream = store.stream.clone();
            let info = stream.info().await.map_err(|e| KvError::failed(&what, e))?;
            info.state.last_sequence
        }
        WatchMode::UpdatesOnly => 0,
    };
    let watch = match mode {
        WatchMode::InitialThenUpdates => store.watch_with_history(pattern).await,
        WatchMode::UpdatesOnly => store.watch(pattern).await,
    }
    .map_err(|e| KvError::failed(&what, e))?;
    Ok(KeyWatch {
        watch,
        last_before,
        what,
    })
}

impl KeyWatch {
    /// The next entry; an error when the server ends the watch.
    pub async fn next(&mut self) -> Result<KeyEvent, KvError> {
        match self.watch.next().await {
            Some(Ok(entry)) => Ok(KeyEvent {
                initial: entry.revision <= self.last_before,
                entry: entry.into(),
            }),
            Some(Err(e)) => Err(KvError::failed(&self.what, e)),
            None => Err(KvError::failed(&self.what, "the server ended the watch")),
        }
    }
}
