//! What the KV and object-store panels ask the app for: shared by the
//! panels and the view that lays them out.

use crate::kv::WatchMode;

/// A watch keeps at most this many entries on screen (the count goes on).
pub const WATCH_KEEP: usize = 10_000;

/// What the user asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum KvAction {
    RefreshBuckets,
    OpenBucket(String),
    /// The chosen key's latest value (and its history).
    OpenKey(String),
    Put {
        key: String,
        value: Vec<u8>,
    },
    Delete(String),
    Purge(String),
    Revert {
        key: String,
        revision: u64,
        /// The latest revision the user saw: a write after it is not
        /// overwritten.
        seen: Option<u64>,
    },
    StartWatch {
        pattern: String,
        mode: WatchMode,
    },
    StopWatch,
    Objects(ObjectAction),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ObjectAction {
    RefreshBuckets,
    OpenBucket(String),
    /// Ask for a file and write the object to it.
    Download(String),
    /// Ask for a file and store it in the chosen bucket.
    Upload,
    StartWatch {
        initial: bool,
    },
    StopWatch,
}
