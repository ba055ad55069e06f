//! Raft groups as their leaders report them (`JSZ`): the JetStream meta
//! group and each replicated stream.

use serde::Serialize;
use serde_json::Value;

use super::{number, text};

/// One peer of a raft group (the meta group, or a stream's).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Peer {
    pub name: String,
    pub leader: bool,
    pub current: bool,
    pub offline: bool,
    /// Operations behind the leader.
    pub lag: u64,
    /// Since the leader last heard from it, as the server says it.
    pub active: String,
}

impl Peer {
    /// Behind or unreachable: what the views mark.
    pub fn unhealthy(&self) -> bool {
        !self.leader && (self.offline || !self.current)
    }

    /// `leader`, `OFFLINE`, `LAGGING (n behind)` or `current`.
    pub fn state(&self) -> String {
        if self.leader {
            "leader".into()
        } else if self.offline {
            "OFFLINE".into()
        } else if !self.current {
            format!("LAGGING ({} behind)", self.lag)
        } else {
            "current".into()
        }
    }
}

/// The JetStream meta group: who leads, and each peer's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MetaGroup {
    pub name: String,
    pub leader: String,
    pub size: u64,
    pub peers: Vec<Peer>,
}

/// A raft group's peers as its leader reports them (`cluster` of a JSZ
/// meta or stream detail): the leader first, then each replica.
fn peers_of(cluster: &Value) -> Vec<Peer> {
    let leader = text(cluster, "/leader");
    let mut peers = vec![Peer {
        name: leader,
        leader: true,
        current: true,
        ..Default::default()
    }];
    for r in cluster
        .get("replicas")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        peers.push(Peer {
            name: text(r, "/name"),
            leader: false,
            current: r.get("current").and_then(Value::as_bool).unwrap_or(false),
            offline: r.get("offline").and_then(Value::as_bool).unwrap_or(false),
            lag: number(r, "/lag"),
            active: r
                .get("active")
                .and_then(Value::as_u64)
                .map(|ns| format!("{:.1} s ago", ns as f64 / 1e9))
                .unwrap_or_default(),
        });
    }
    peers
}

/// Of several servers' reports of one group, the leader's own (the others
/// see the replicas only through the leader, and may be behind).
fn leaders_report<'a>(reports: &[(&'a str, &'a Value)]) -> Option<&'a Value> {
    reports
        .iter()
        .find(|(server, cluster)| cluster.get("leader").and_then(Value::as_str) == Some(*server))
        .or(reports.first())
        .map(|(_, cluster)| *cluster)
}

impl MetaGroup {
    /// From the `JSZ` answers of every server, as the meta leader reports it.
    pub fn from_jsz_answers(answers: &[Value]) -> Option<Self> {
        let reports: Vec<(&str, &Value)> = answers
            .iter()
            .filter_map(|a| {
                let server = a
                    .pointer("/server/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                Some((server, a.pointer("/data/meta_cluster")?))
            })
            .collect();
        let meta = leaders_report(&reports)?;
        Some(MetaGroup {
            name: text(meta, "/name"),
            leader: text(meta, "/leader"),
            size: number(meta, "/cluster_size"),
            peers: peers_of(meta),
        })
    }
}

/// A replicated stream's raft group, as its leader reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StreamGroup {
    pub account: String,
    pub stream: String,
    pub leader: String,
    pub peers: Vec<Peer>,
}

impl StreamGroup {
    /// Behind or offline replicas.
    pub fn unhealthy(&self) -> usize {
        self.peers.iter().filter(|p| p.unhealthy()).count()
    }

    /// Every replicated stream of every account, from the `JSZ` answers
    /// (asked with `accounts` and `streams`), by account and name. A
    /// stream without a leader is reported as such.
    pub fn from_jsz_answers(answers: &[Value]) -> Vec<Self> {
        let mut reports: std::collections::BTreeMap<(String, String), Vec<(&str, &Value)>> =
            Default::default();
        for a in answers {
            let server = a
                .pointer("/server/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let accounts = a.pointer("/data/account_details").and_then(Value::as_array);
            for account in accounts.into_iter().flatten() {
                let streams = account.get("stream_detail").and_then(Value::as_array);
                for stream in streams.into_iter().flatten() {
                    let Some(cluster) = stream.get("cluster") else {
                        continue;
                    };
                    if cluster.get("replicas").is_none() && text(cluster, "/leader").is_empty() {
                        continue;
                    }
                    reports
                        .entry((text(account, "/name"), text(stream, "/name")))
                        .or_default()
                        .push((server, cluster));
                }
            }
        }
        reports
            .into_iter()
            .filter_map(|((account, stream), reports)| {
                let cluster = leaders_report(&reports)?;
                Some(StreamGroup {
                    account,
                    stream,
                    leader: text(cluster, "/leader"),
                    peers: peers_of(cluster),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_meta_group_from_the_leaders_answer() {
        let answers = [
            json!({"server": {"name": "n1"}, "data": {"meta_cluster": {"name": "c", "leader": "n0", "cluster_size": 3}}}),
            json!({"server": {"name": "n0"}, "data": {"meta_cluster": {"name": "c", "leader": "n0", "cluster_size": 3,
                "replicas": [{"name": "n1", "current": true, "active": 500_000_000u64, "lag": 0},
                             {"name": "n2", "current": false, "offline": true, "lag": 12}]}}}),
        ];
        let meta = MetaGroup::from_jsz_answers(&answers).unwrap();
        assert_eq!(meta.leader, "n0");
        assert_eq!(meta.peers[0].name, "n0", "the leader's own report");
        let unhealthy: Vec<&str> = meta
            .peers
            .iter()
            .filter(|p| p.unhealthy())
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(unhealthy, ["n2"]);
        assert_eq!(meta.peers.len(), 3);
    }

    #[test]
    fn stream_groups_as_their_leader_reports_them() {
        let detail = |leader: &str, n1_current: bool| {
            json!({"account_details": [{"name": "APP",
            "stream_detail": [{"name": "ORDERS", "cluster": {"leader": leader,
                "replicas": [{"name": "n1", "current": n1_current}, {"name": "n2", "current": true}]}}]}]})
        };
        let answers = [
            json!({"server": {"name": "n1"}, "data": detail("n0", false)}),
            json!({"server": {"name": "n0"}, "data": detail("n0", true)}),
        ];
        let groups = StreamGroup::from_jsz_answers(&answers);
        assert_eq!(groups.len(), 1);
        assert_eq!(
            (groups[0].account.as_str(), groups[0].stream.as_str()),
            ("APP", "ORDERS")
        );
        assert_eq!(groups[0].unhealthy(), 0, "the leader's report, not n1's");
    }
}
