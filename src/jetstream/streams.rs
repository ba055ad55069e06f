//! Streams as the server reports them: the list, one stream's detail and
//! the subjects it holds.

use serde::Serialize;
use serde_json::{Value, json};

use super::api::{Api, JsError, all_pages, at, check_name, str_at, time_at, u64_at};

/// One stream, read from the raw `STREAM.INFO`/`STREAM.LIST` answer.
#[derive(Clone, Debug, Serialize)]
pub struct StreamSummary {
    pub name: String,
    pub subjects: Vec<String>,
    /// `limits`, `interest` or `workqueue`.
    pub retention: String,
    /// `file` or `memory`.
    pub storage: String,
    pub replicas: u64,
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// RFC 3339; `null` when the stream never held a message.
    pub last_ts: Option<String>,
    #[serde(skip)]
    pub last_ns: Option<i64>,
    pub consumers: u64,
    /// Sequences removed inside the stream (deletes, acked work-queue
    /// messages).
    pub deleted: u64,
    pub allow_direct: bool,
    pub cluster: Option<ClusterState>,
    /// Mirror and sources with their lag and last error.
    pub upstreams: Vec<Upstream>,
    /// The whole answer, for the detail panel.
    #[serde(skip)]
    pub raw: Value,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClusterState {
    pub name: Option<String>,
    pub leader: Option<String>,
    pub replicas: Vec<Replica>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Replica {
    pub name: String,
    pub current: bool,
    pub offline: bool,
    /// Operations behind the leader.
    pub lag: u64,
    /// Nanoseconds since the leader last heard of it.
    pub active_ns: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Upstream {
    /// `mirror` or `source`.
    pub role: &'static str,
    pub name: String,
    pub lag: u64,
    pub active_ns: u64,
    pub error: Option<String>,
}

impl StreamSummary {
    /// From the JSON of a stream info (also one item of `STREAM.LIST`).
    pub fn from_info(raw: Value) -> Self {
        let config = |key: &str| str_at(&raw, &["config", key]).unwrap_or("").to_owned();
        let subjects = at(&raw, &["config", "subjects"])
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let last_ns = time_at(&raw, &["state", "last_ts"]);
        let upstream = |role, v: &Value| Upstream {
            role,
            name: str_at(v, &["name"]).unwrap_or("").to_owned(),
            lag: u64_at(v, &["lag"]),
            active_ns: u64_at(v, &["active"]),
            error: str_at(v, &["error", "description"]).map(str::to_owned),
        };
        let mut upstreams: Vec<Upstream> = raw
            .get("mirror")
            .map(|m| upstream("mirror", m))
            .into_iter()
            .collect();
        if let Some(sources) = raw.get("sources").and_then(Value::as_array) {
            upstreams.extend(sources.iter().map(|s| upstream("source", s)));
        }
        let cluster = raw.get("cluster").map(|c| ClusterState {
            name: str_at(c, &["name"]).map(str::to_owned),
            leader: str_at(c, &["leader"]).map(str::to_owned),
            replicas: c
                .get("replicas")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|r| Replica {
                            name: str_at(r, &["name"]).unwrap_or("").to_owned(),
                            current: r.get("current").and_then(Value::as_bool).unwrap_or(false),
                            offline: r.get("offline").and_then(Value::as_bool).unwrap_or(false),
                            lag: u64_at(r, &["lag"]),
                            active_ns: u64_at(r, &["active"]),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        });
        Self {
            name: config("name"),
            subjects,
            retention: config("retention"),
            storage: config("storage"),
            replicas: u64_at(&raw, &["config", "num_replicas"]).max(1),
            messages: u64_at(&raw, &["state", "messages"]),
            bytes: u64_at(&raw, &["state", "bytes"]),
            first_seq: u64_at(&raw, &["state", "first_seq"]),
            last_seq: u64_at(&raw, &["state", "last_seq"]),
            last_ts: last_ns.map(crate::capture::file::format_timestamp),
            last_ns,
            consumers: u64_at(&raw, &["state", "consumer_count"]),
            deleted: u64_at(&raw, &["state", "num_deleted"]),
            allow_direct: at(&raw, &["config", "allow_direct"])
                .and_then(Value::as_bool)
                .unwrap_or(false),
            cluster,
            upstreams,
            raw,
        }
    }

    /// Replicas that are behind or unreachable.
    /// The stream's raft group in the cluster table's terms (the account
    /// is the asker's: left empty).
    pub fn replica_group(&self) -> Option<crate::server_answers::StreamGroup> {
        use crate::server_answers::{Peer, StreamGroup};
        let cluster = self.cluster.as_ref()?;
        let leader = cluster.leader.clone().unwrap_or_default();
        let mut peers = vec![Peer {
            name: leader.clone(),
            leader: !leader.is_empty(),
            current: !leader.is_empty(),
            ..Default::default()
        }];
        peers.extend(cluster.replicas.iter().map(|r| Peer {
            name: r.name.clone(),
            leader: false,
            current: r.current,
            offline: r.offline,
            lag: r.lag,
            active: format!("{:.1} s ago", r.active_ns as f64 / 1e9),
        }));
        Some(StreamGroup {
            account: String::new(),
            stream: self.name.clone(),
            leader,
            peers,
        })
    }

    pub fn unhealthy_replicas(&self) -> usize {
        self.cluster.as_ref().map_or(0, |c| {
            c.replicas
                .iter()
                .filter(|r| r.offline || !r.current)
                .count()
        })
    }
}

/// Every stream of the account, page by page as the server hands them out.
pub async fn list_streams(api: &Api) -> Result<Vec<StreamSummary>, JsError> {
    let items = all_pages(api, "STREAM.LIST", "streams").await?;
    Ok(items.into_iter().map(StreamSummary::from_info).collect())
}

/// One stream's info, with the raw answer kept for the detail panel.
pub async fn stream_info(api: &Api, stream: &str) -> Result<StreamSummary, JsError> {
    check_name(stream)?;
    let answer = api
        .request(&format!("STREAM.INFO.{stream}"), &Value::Null)
        .await?;
    Ok(StreamSummary::from_info(answer))
}

/// The subjects a stream holds, with their message counts, most first.
/// The server hands out at most 100,000 per answer; this asks for pages
/// until it has them all or `limit`.
pub async fn stream_subjects(
    api: &Api,
    stream: &str,
    filter: &str,
    limit: usize,
) -> Result<Vec<(String, u64)>, JsError> {
    check_name(stream)?;
    let mut subjects: Vec<(String, u64)> = Vec::new();
    loop {
        let answer = api
            .request(
                &format!("STREAM.INFO.{stream}"),
                &json!({ "subjects_filter": filter, "offset": subjects.len() }),
            )
            .await?;
        let page: Vec<(String, u64)> = at(&answer, &["state", "subjects"])
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        let total = u64_at(&answer, &["total"]) as usize;
        let got = page.len();
        subjects.extend(page);
        if got == 0 || subjects.len() >= total.min(limit) {
            break;
        }
    }
    subjects.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    subjects.truncate(limit);
    Ok(subjects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summary_reads_cluster_and_upstreams_from_the_raw_answer() {
        let raw = json!({
            "config": {"name": "ORDERS", "subjects": ["orders.>"], "retention": "workqueue",
                       "storage": "file", "num_replicas": 3, "allow_direct": true},
            "state": {"messages": 5, "bytes": 500, "first_seq": 3, "last_seq": 9,
                      "last_ts": "2026-01-02T03:04:05Z", "consumer_count": 2, "num_deleted": 2},
            "cluster": {"name": "c", "leader": "n1", "replicas": [
                {"name": "n2", "current": true, "active": 1000, "lag": 0},
                {"name": "n3", "current": false, "offline": true, "active": 9, "lag": 7}]},
            "mirror": {"name": "UP", "lag": 4, "active": 10, "error": {"code": 503, "description": "no route"}}
        });
        let s = StreamSummary::from_info(raw);
        assert_eq!((s.name.as_str(), s.replicas, s.messages), ("ORDERS", 3, 5));
        assert_eq!(s.deleted, 2);
        assert!(s.allow_direct);
        assert_eq!(s.unhealthy_replicas(), 1);
        assert_eq!(s.upstreams[0].error.as_deref(), Some("no route"));
        assert_eq!(s.last_ts.as_deref(), Some("2026-01-02T03:04:05.000000000Z"));
    }
}

/// Why the replica groups could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ReplicasError {
    #[error(transparent)]
    Servers(#[from] crate::broker::ServersError),
    #[error(transparent)]
    JetStream(#[from] super::JsError),
}

/// The meta group and every replicated stream, as their leaders report
/// them: every account's with the system account (`JSZ`), else the
/// connection's own account's streams (no meta group: only the system
/// account sees it).
pub async fn replica_groups(
    client: &async_nats::Client,
) -> Result<
    (
        Option<crate::server_answers::MetaGroup>,
        Vec<crate::server_answers::StreamGroup>,
    ),
    ReplicasError,
> {
    match crate::broker::replica_groups(client).await {
        Ok(groups) => Ok(groups),
        Err(crate::broker::ServersError::NoSystemAccount(_)) => {
            let streams = list_streams(&super::Api::new(client.clone())).await?;
            Ok((
                None,
                streams
                    .iter()
                    .filter_map(StreamSummary::replica_group)
                    .collect(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}
