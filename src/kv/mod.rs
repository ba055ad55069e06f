//! Key-value buckets and object stores, asked of the server through
//! async-nats' own KV and object-store clients (the protocol is theirs to
//! keep right; what is ours is the listing with deleted keys and sizes,
//! the diff between revisions, and a watch that can be stopped). Every
//! change here is one the user asked for by name.

mod buckets;
mod diff;
mod entries;
mod error;
mod keys;
mod objects;
mod watch;

pub use buckets::{BucketSummary, list_buckets, open_bucket};
pub use diff::{DiffLine, DiffTag, diff_texts, diff_values, display_value};
pub use entries::{KeyRevision, delete_key, get_key, history, purge_key, put_key, revert};
pub use error::{KvError, check_key};
pub use keys::{KeyFilter, KeyList, KeyRow, list_keys};
pub use objects::{
    ObjectBucket, ObjectRow, ObjectWatch, download_object, list_object_buckets, list_objects,
    object_info, open_object_store, upload_object, watch_objects,
};
pub use watch::{KeyEvent, KeyWatch, WatchMode, watch_keys};

/// A time from async-nats (the `time` crate) as nanoseconds since the
/// epoch, the app's timestamps.
fn nanos(at: impl Into<Option<i128>>) -> crate::capture::Timestamp {
    at.into().map_or(0, |n| {
        n.clamp(0, i64::MAX as i128) as crate::capture::Timestamp
    })
}

/// A timestamp as RFC 3339 in JSON (the CLI's `--json`).
fn rfc3339<S: serde::Serializer>(at: &crate::capture::Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::capture::timestamp_to_utc(*at).to_rfc3339())
}
