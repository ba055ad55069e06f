//! Object stores (`OBJ_<bucket>` streams): list, info, download to a file,
//! upload a file, watch. Chunking, digests and metadata are async-nats'
//! (its reader checks the SHA-256 digest at the end of a download).

use std::path::Path;

use async_nats::jetstream::{
    self,
    object_store::{ObjectInfo, ObjectMetadata, ObjectStore},
};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::{KvError, nanos};
use crate::capture::Timestamp;

/// One object store bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectBucket {
    pub name: String,
    pub bytes: u64,
    pub replicas: usize,
    pub sealed: bool,
    pub description: Option<String>,
}

/// One object, as the object list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectRow {
    pub name: String,
    pub size: u64,
    pub chunks: u64,
    /// Nanoseconds since the epoch; 0 when the server gave none.
    #[serde(serialize_with = "super::rfc3339")]
    pub modified: Timestamp,
    pub digest: Option<String>,
    pub description: Option<String>,
    pub deleted: bool,
    /// The whole object info as the server keeps it (metadata, headers,
    /// link), pretty-printed.
    #[serde(skip)]
    pub info_json: String,
}

impl From<ObjectInfo> for ObjectRow {
    fn from(info: ObjectInfo) -> Self {
        ObjectRow {
            info_json: serde_json::to_string_pretty(&info).unwrap_or_default(),
            name: info.name,
            size: info.size as u64,
            chunks: info.chunks as u64,
            modified: nanos(info.modified.map(|m| m.unix_timestamp_nanos())),
            digest: info.digest,
            description: info.description,
            deleted: info.deleted,
        }
    }
}

/// Every object store bucket of the account, by name.
pub async fn list_object_buckets(
    client: &async_nats::Client,
) -> Result<Vec<ObjectBucket>, KvError> {
    let infos: Vec<jetstream::stream::Info> = jetstream::new(client.clone())
        .streams()
        .try_collect()
        .await
        .map_err(|e| KvError::failed("listing object stores", e))?;
    let mut buckets: Vec<ObjectBucket> = infos
        .into_iter()
        .filter_map(|info| {
            Some(ObjectBucket {
                name: info.config.name.strip_prefix("OBJ_")?.to_owned(),
                bytes: info.state.bytes,
                replicas: info.config.num_replicas,
                sealed: info.config.sealed,
                description: info.config.description,
            })
        })
        .collect();
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(buckets)
}

pub async fn open_object_store(
    client: &async_nats::Client,
    bucket: &str,
) -> Result<ObjectStore, KvError> {
    jetstream::new(client.clone())
        .get_object_store(bucket)
        .await
        .map_err(|e| KvError::failed(format!("opening object store '{bucket}'"), e))
}

/// The bucket's objects (deleted ones left out), by name.
pub async fn list_objects(store: &ObjectStore) -> Result<Vec<ObjectRow>, KvError> {
    let mut rows: Vec<ObjectRow> = store
        .list()
        .await
        .map_err(|e| KvError::failed("listing objects", e))?
        .map_ok(ObjectRow::from)
        .try_collect()
        .await
        .map_err(|e| KvError::failed("listing objects", e))?;
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

pub async fn object_info(store: &ObjectStore, name: &str) -> Result<ObjectRow, KvError> {
    store
        .info(name)
        .await
        .map(ObjectRow::from)
        .map_err(|e| KvError::failed(format!("info of object '{name}'"), e))
}

/// Write object `name` to `path` (created or truncated); the bytes
/// written. A digest mismatch fails the download.
pub async fn download_object(store: &ObjectStore, name: &str, path: &Path) -> Result<u64, KvError> {
    let what = || format!("downloading '{name}' to {}", path.display());
    let mut object = store
        .get(name)
        .await
        .map_err(|e| KvError::failed(what(), e))?;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| KvError::failed(what(), e))?;
    let written = tokio::io::copy(&mut object, &mut file)
        .await
        .map_err(|e| KvError::failed(what(), e))?;
    tokio::io::AsyncWriteExt::flush(&mut file)
        .await
        .map_err(|e| KvError::failed(what(), e))?;
    Ok(written)
}

/// Store the file at `path` as object `name` (replacing one of that name).
pub async fn upload_object(
    store: &ObjectStore,
    path: &Path,
    name: &str,
) -> Result<ObjectRow, KvError> {
    let what = || format!("uploading {} as '{name}'", path.display());
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| KvError::failed(what(), e))?;
    store
        .put(
            ObjectMetadata {
                name: name.to_owned(),
                ..Default::default()
            },
            &mut file,
        )
        .await
        .map(ObjectRow::from)
        .map_err(|e| KvError::failed(what(), e))
}

/// A watch of a bucket's objects that has begun.
pub struct ObjectWatch(async_nats::jetstream::object_store::Watch);

/// Watch the bucket's objects (each put or delete as it is stored; with
/// `initial`, the current ones first); returns once the server watches.
pub async fn watch_objects(store: &ObjectStore, initial: bool) -> Result<ObjectWatch, KvError> {
    if initial {
        store.watch_with_history().await
    } else {
        store.watch().await
    }
    .map(ObjectWatch)
    .map_err(|e| KvError::failed("watching objects", e))
}

impl ObjectWatch {
    /// The next change; an error when the server ends the watch.
    pub async fn next(&mut self) -> Result<ObjectRow, KvError> {
        match self.0.next().await {
            Some(Ok(info)) => Ok(info.into()),
            Some(Err(e)) => Err(KvError::failed("watching objects", e)),
            None => Err(KvError::failed(
                "watching objects",
                "the server ended the watch",
            )),
        }
    }
}
