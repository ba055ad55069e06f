//! The account's KV buckets: the streams named `KV_<bucket>`, read in one
//! paged stream list (not one request per bucket).

use futures_util::TryStreamExt;
use serde::Serialize;

use super::KvError;
use async_nats::jetstream::{self, kv::Store};

/// One bucket, as the bucket list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketSummary {
    pub name: String,
    /// Keys with a value or a delete marker (the stream's subjects).
    pub keys: u64,
    /// Every stored revision, history included.
    pub values: u64,
    pub bytes: u64,
    /// Revisions kept per key.
    pub history: i64,
    /// How long a value lives; 0 is for ever.
    pub ttl_secs: u64,
    pub replicas: usize,
    pub storage: String,
    pub description: Option<String>,
}

/// Every KV bucket of the account, by name.
pub async fn list_buckets(client: &async_nats::Client) -> Result<Vec<BucketSummary>, KvError> {
    let js = jetstream::new(client.clone());
    let infos: Vec<jetstream::stream::Info> = js
        .streams()
        .try_collect()
        .await
        .map_err(|e| KvError::failed("listing buckets", e))?;
    let mut buckets: Vec<BucketSummary> = infos
        .into_iter()
        .filter_map(|info| {
            let name = info.config.name.strip_prefix("KV_")?.to_owned();
            Some(BucketSummary {
                name,
                keys: info.state.subjects_count,
                values: info.state.messages,
                bytes: info.state.bytes,
                history: info.config.max_messages_per_subject,
                ttl_secs: info.config.max_age.as_secs(),
                replicas: info.config.num_replicas,
                storage: format!("{:?}", info.config.storage).to_lowercase(),
                description: info.config.description,
            })
        })
        .collect();
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(buckets)
}

/// A bucket's async-nats handle (one `STREAM.INFO`).
pub async fn open_bucket(client: &async_nats::Client, bucket: &str) -> Result<Store, KvError> {
    jetstream::new(client.clone())
        .get_key_value(bucket)
        .await
        .map_err(|e| KvError::failed(format!("opening bucket '{bucket}'"), e))
}
