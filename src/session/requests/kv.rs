//! KV bucket and object store requests and their answers; the watches of
//! keys and objects are feeds (`Session::watch_keys`, `watch_objects`).

use std::path::PathBuf;

use tokio::sync::oneshot;

use crate::capture::ConnectionKey;
use crate::kv::{
    self, BucketSummary, KeyEvent, KeyFilter, KeyList, KeyRevision, KvError, ObjectBucket,
    ObjectRow, WatchMode,
};

use super::{Unavailable, Watching};
use crate::broker::note_own_reads;

/// A file the user is choosing in a dialog: `None` if cancelled.
pub type ChosenPath = oneshot::Receiver<Option<PathBuf>>;

pub enum KvRequest {
    Buckets,
    Keys(String),
    /// A key's latest value and its history.
    Key {
        bucket: String,
        key: String,
    },
    Put {
        bucket: String,
        key: String,
        value: Vec<u8>,
    },
    Delete {
        bucket: String,
        key: String,
    },
    Purge {
        bucket: String,
        key: String,
    },
    /// Put an old revision's value back, if the key is still at `seen`.
    Revert {
        bucket: String,
        key: String,
        revision: u64,
        seen: Option<u64>,
    },
}

pub enum ObjectRequest {
    Buckets,
    Objects(String),
    Download {
        bucket: String,
        name: String,
        to: ChosenPath,
    },
    /// Store the chosen file under its file name.
    Upload {
        bucket: String,
        from: ChosenPath,
    },
}

pub enum KvAnswer {
    Unavailable(Unavailable),
    Buckets(Result<Vec<BucketSummary>, KvError>),
    Keys(String, Result<KeyList, KvError>),
    Key {
        key: String,
        value: Result<KeyRevision, KvError>,
        history: Result<Vec<KeyRevision>, KvError>,
    },
    /// A change was made (the key to show again) or refused, in a sentence.
    Changed(String, Option<String>),
    ObjectBuckets(Result<Vec<ObjectBucket>, KvError>),
    Objects(String, Result<Vec<ObjectRow>, KvError>),
    /// An object was stored: show the bucket again.
    Uploaded(String),
    Notice(String),
}

/// The stream a request reads, as `own` names it (`""`: the stream list).
fn stream_read(request: &KvRequest) -> String {
    match request {
        KvRequest::Buckets => String::new(),
        KvRequest::Keys(bucket)
        | KvRequest::Key { bucket, .. }
        | KvRequest::Put { bucket, .. }
        | KvRequest::Delete { bucket, .. }
        | KvRequest::Purge { bucket, .. }
        | KvRequest::Revert { bucket, .. } => format!("KV_{bucket}"),
    }
}

/// Run a KV request on the connection's read client: its reads are known
/// as the window's own while it runs; its changes are traffic like anyone's.
pub(super) async fn run(client: &async_nats::Client, request: KvRequest) -> KvAnswer {
    let _reading = note_own_reads(&stream_read(&request));
    match request {
        KvRequest::Buckets => KvAnswer::Buckets(kv::list_buckets(client).await),
        KvRequest::Keys(bucket) => {
            let keys = async {
                let store = kv::open_bucket(client, &bucket).await?;
                kv::list_keys(client, &store, &KeyFilter::default()).await
            };
            let keys = keys.await;
            KvAnswer::Keys(bucket, keys)
        }
        KvRequest::Key { bucket, key } => match kv::open_bucket(client, &bucket).await {
            Ok(store) => KvAnswer::Key {
                value: kv::get_key(&store, &key, None).await,
                history: kv::history(&store, &key).await,
                key,
            },
            Err(e) => KvAnswer::Key {
                key,
                value: Err(e.clone()),
                history: Err(e),
            },
        },
        KvRequest::Put { bucket, key, value } => {
            let done = async {
                let store = kv::open_bucket(client, &bucket).await?;
                let revision = kv::put_key(&store, &key, value.into()).await?;
                Ok(format!("'{key}' stored as revision {revision}"))
            };
            changed(done.await, key)
        }
        KvRequest::Delete { bucket, key } => {
            let done = async {
                let store = kv::open_bucket(client, &bucket).await?;
                kv::delete_key(&store, &key).await?;
                Ok(format!("'{key}' deleted (its history stays)"))
            };
            changed(done.await, key)
        }
        KvRequest::Purge { bucket, key } => {
            let done = async {
                let store = kv::open_bucket(client, &bucket).await?;
                kv::purge_key(&store, &key).await?;
                Ok(format!("'{key}' purged"))
            };
            changed(done.await, key)
        }
        KvRequest::Revert {
            bucket,
            key,
            revision,
            seen,
        } => {
            let done = async {
                let store = kv::open_bucket(client, &bucket).await?;
                Ok(match kv::revert(&store, &key, revision, seen).await? {
                    Some(new) => {
                        format!("'{key}' reverted to revision {revision}'s value as revision {new}")
                    }
                    None => format!("'{key}' deleted again (revision {revision} was a delete)"),
                })
            };
            changed(done.await, key)
        }
    }
}

/// A change's sentence; the key is shown again only when it was made.
fn changed(done: Result<String, KvError>, key: String) -> KvAnswer {
    match done {
        Ok(said) => KvAnswer::Changed(said, Some(key)),
        Err(e) => KvAnswer::Changed(e.to_string(), None),
    }
}

pub(super) async fn run_objects(client: &async_nats::Client, request: ObjectRequest) -> KvAnswer {
    let _reading = note_own_reads(&match &request {
        ObjectRequest::Buckets => String::new(),
        ObjectRequest::Objects(bucket)
        | ObjectRequest::Download { bucket, .. }
        | ObjectRequest::Upload { bucket, .. } => format!("OBJ_{bucket}"),
    });
    match request {
        ObjectRequest::Buckets => KvAnswer::ObjectBuckets(kv::list_object_buckets(client).await),
        ObjectRequest::Objects(bucket) => {
            let rows = async {
                let store = kv::open_object_store(client, &bucket).await?;
                kv::list_objects(&store).await
            };
            let rows = rows.await;
            KvAnswer::Objects(bucket, rows)
        }
        ObjectRequest::Download { bucket, name, to } => {
            let Ok(Some(path)) = to.await else {
                return KvAnswer::Notice("Download cancelled".into());
            };
            let done = async {
                let store = kv::open_object_store(client, &bucket).await?;
                kv::download_object(&store, &name, &path).await
            };
            KvAnswer::Notice(match done.await {
                Ok(bytes) => format!("'{name}' downloaded: {bytes} bytes to {}", path.display()),
                Err(e) => e.to_string(),
            })
        }
        ObjectRequest::Upload { bucket, from } => {
            let Ok(Some(path)) = from.await else {
                return KvAnswer::Notice("Upload cancelled".into());
            };
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "upload".into());
            let done = async {
                let store = kv::open_object_store(client, &bucket).await?;
                kv::upload_object(&store, &path, &name).await
            };
            match done.await {
                Ok(row) => KvAnswer::Uploaded(format!(
                    "Uploaded '{}': {} bytes in {} chunks",
                    row.name, row.size, row.chunks
                )),
                Err(e) => KvAnswer::Notice(e.to_string()),
            }
        }
    }
}

impl crate::session::Session {
    /// Watch the keys of `bucket` matching `pattern`; at most `keep`
    /// entries wait for the window, the rest are counted.
    pub fn watch_keys(
        &self,
        key: Option<ConnectionKey>,
        bucket: String,
        pattern: String,
        mode: WatchMode,
        keep: usize,
    ) -> Watching<KeyEvent> {
        self.watch(key, true, keep, move |client, _, sink| async move {
            let _reading = note_own_reads(&format!("KV_{bucket}"));
            let store = kv::open_bucket(&client, &bucket).await?;
            let mut watch = kv::watch_keys(&store, &pattern, mode).await?;
            loop {
                sink.offer(watch.next().await?)?;
            }
        })
    }

    /// Watch the objects of `bucket` (the current ones first if `initial`).
    pub fn watch_objects(
        &self,
        key: Option<ConnectionKey>,
        bucket: String,
        initial: bool,
        keep: usize,
    ) -> Watching<ObjectRow> {
        self.watch(key, true, keep, move |client, _, sink| async move {
            let _reading = note_own_reads(&format!("OBJ_{bucket}"));
            let store = kv::open_object_store(&client, &bucket).await?;
            let mut watch = kv::watch_objects(&store, initial).await?;
            loop {
                sink.offer(watch.next().await?)?;
            }
        })
    }
}
