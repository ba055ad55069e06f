//! The system account's other answers, parsed: the connections report
//! (`CONNZ` from every server, like `nats top`), the JetStream meta group
//! (`JSZ`), routes, gateways and leaf nodes (`ROUTEZ`, `GATEWAYZ`,
//! `LEAFZ`), and the connect / disconnect / auth-error advisories. Each
//! `PING` answer is `{"server": {...}, "data": {...}}`.

use serde::Serialize;
use serde_json::Value;

use crate::capture::Timestamp;

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn number(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// RFC 3339 as nanoseconds since the epoch (0 when absent or unparsable).
fn time(v: &Value, pointer: &str) -> Timestamp {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}

/// One client connection of the connections report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConnectionRow {
    pub server: String,
    pub server_id: String,
    pub cid: u64,
    pub name: String,
    /// With the system account's `auth` option; the account-scoped answer
    /// names none (it is the asker's).
    pub account: String,
    pub user: String,
    pub ip: String,
    pub port: u64,
    pub lang: String,
    pub version: String,
    pub rtt: String,
    pub uptime: String,
    pub subscriptions: u64,
    pub pending_bytes: u64,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    /// From two reports a known time apart (`null` on the first).
    pub in_msgs_per_s: Option<f64>,
    pub out_msgs_per_s: Option<f64>,
    pub in_bytes_per_s: Option<f64>,
    pub out_bytes_per_s: Option<f64>,
}

impl ConnectionRow {
    /// Every connection in one server's `CONNZ` answer.
    pub fn from_connz_answer(answer: &Value) -> Vec<Self> {
        let server = text(answer, "/server/name");
        let server_id = text(answer, "/server/id");
        let Some(list) = answer
            .pointer("/data/connections")
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        list.iter()
            .map(|c| ConnectionRow {
                server: server.clone(),
                server_id: server_id.clone(),
                cid: number(c, "/cid"),
                name: text(c, "/name"),
                account: text(c, "/account"),
                user: text(c, "/authorized_user"),
                ip: text(c, "/ip"),
                port: number(c, "/port"),
                lang: text(c, "/lang"),
                version: text(c, "/version"),
                rtt: text(c, "/rtt"),
                uptime: text(c, "/uptime"),
                subscriptions: number(c, "/subscriptions"),
                pending_bytes: number(c, "/pending_bytes"),
                in_msgs: number(c, "/in_msgs"),
                out_msgs: number(c, "/out_msgs"),
                in_bytes: number(c, "/in_bytes"),
                out_bytes: number(c, "/out_bytes"),
                ..Default::default()
            })
            .collect()
    }
}

/// The report with each connection's rates against the same connection
/// (server and cid) in `before`, taken `seconds` earlier.
pub fn connection_rates(
    rows: Vec<ConnectionRow>,
    before: &[ConnectionRow],
    seconds: f64,
) -> Vec<ConnectionRow> {
    if seconds <= 0.0 {
        return rows;
    }
    let earlier: std::collections::HashMap<(&str, u64), &ConnectionRow> = before
        .iter()
        .map(|b| ((b.server_id.as_str(), b.cid), b))
        .collect();
    rows.into_iter()
        .map(|mut row| {
            if let Some(b) = earlier.get(&(row.server_id.as_str(), row.cid)) {
                let rate = |now: u64, then: u64| Some(now.saturating_sub(then) as f64 / seconds);
                row.in_msgs_per_s = rate(row.in_msgs, b.in_msgs);
                row.out_msgs_per_s = rate(row.out_msgs, b.out_msgs);
                row.in_bytes_per_s = rate(row.in_bytes, b.in_bytes);
                row.out_bytes_per_s = rate(row.out_bytes, b.out_bytes);
            }
            row
        })
        .collect()
}

/// What the connections report is sorted by (busiest first, like
/// `nats top`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionSort {
    #[default]
    InMsgsRate,
    OutMsgsRate,
    InBytesRate,
    OutBytesRate,
    Subscriptions,
    Pending,
    Name,
    Account,
    Server,
}

impl ConnectionSort {
    pub const ALL: [ConnectionSort; 9] = [
        ConnectionSort::InMsgsRate,
        ConnectionSort::OutMsgsRate,
        ConnectionSort::InBytesRate,
        ConnectionSort::OutBytesRate,
        ConnectionSort::Subscriptions,
        ConnectionSort::Pending,
        ConnectionSort::Name,
        ConnectionSort::Account,
        ConnectionSort::Server,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ConnectionSort::InMsgsRate => "Msgs in/s",
            ConnectionSort::OutMsgsRate => "Msgs out/s",
            ConnectionSort::InBytesRate => "Bytes in/s",
            ConnectionSort::OutBytesRate => "Bytes out/s",
            ConnectionSort::Subscriptions => "Subs",
            ConnectionSort::Pending => "Pending",
            ConnectionSort::Name => "Name",
            ConnectionSort::Account => "Account",
            ConnectionSort::Server => "Server",
        }
    }

    /// Numbers sort busiest first, names A to Z; ties by server and cid.
    pub fn sort(self, rows: &mut [ConnectionRow]) {
        let rate = |v: Option<f64>| std::cmp::Reverse(ordered(v.unwrap_or(-1.0)));
        rows.sort_by(|a, b| {
            let by = match self {
                ConnectionSort::InMsgsRate => rate(a.in_msgs_per_s).cmp(&rate(b.in_msgs_per_s)),
                ConnectionSort::OutMsgsRate => rate(a.out_msgs_per_s).cmp(&rate(b.out_msgs_per_s)),
                ConnectionSort::InBytesRate => rate(a.in_bytes_per_s).cmp(&rate(b.in_bytes_per_s)),
                ConnectionSort::OutBytesRate => {
                    rate(a.out_bytes_per_s).cmp(&rate(b.out_bytes_per_s))
                }
                ConnectionSort::Subscriptions => b.subscriptions.cmp(&a.subscriptions),
                ConnectionSort::Pending => b.pending_bytes.cmp(&a.pending_bytes),
                ConnectionSort::Name => a.name.cmp(&b.name),
                ConnectionSort::Account => a.account.cmp(&b.account),
                ConnectionSort::Server => std::cmp::Ordering::Equal,
            };
            by.then_with(|| a.server.cmp(&b.server))
                .then(a.cid.cmp(&b.cid))
        });
    }
}

/// A rate as an orderable integer (milli-units; rates are never NaN).
fn ordered(v: f64) -> i64 {
    (v * 1000.0) as i64
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    Route,
    GatewayOut,
    GatewayIn,
    Leaf,
}

impl LinkKind {
    pub fn label(self) -> &'static str {
        match self {
            LinkKind::Route => "route",
            LinkKind::GatewayOut => "gateway out",
            LinkKind::GatewayIn => "gateway in",
            LinkKind::Leaf => "leaf node",
        }
    }
}

/// One route, gateway connection or leaf node of one server.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinkRow {
    pub server: String,
    pub kind: LinkKind,
    /// The server, gateway or leaf on the other end.
    pub remote: String,
    pub address: String,
    /// A leaf node's account.
    pub account: String,
    pub rtt: String,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub pending_bytes: u64,
}

impl LinkRow {
    /// Routes, gateways and leaf nodes from one `ROUTEZ`, `GATEWAYZ` or
    /// `LEAFZ` answer.
    pub fn from_answer(answer: &Value) -> Vec<Self> {
        let server = text(answer, "/server/name");
        let Some(data) = answer.get("data") else {
            return Vec::new();
        };
        let row = |kind, remote: String, c: &Value| LinkRow {
            server: server.clone(),
            kind,
            remote,
            address: format!("{}:{}", text(c, "/ip"), number(c, "/port")),
            account: text(c, "/account"),
            rtt: text(c, "/rtt"),
            in_msgs: number(c, "/in_msgs"),
            out_msgs: number(c, "/out_msgs"),
            pending_bytes: number(c, "/pending_size"),
        };
        let mut rows = Vec::new();
        for r in data
            .get("routes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let remote = [text(r, "/remote_name"), text(r, "/remote_id")]
                .into_iter()
                .find(|n| !n.is_empty())
                .unwrap_or_default();
            rows.push(row(LinkKind::Route, remote, r));
        }
        for (key, kind) in [
            ("outbound_gateways", LinkKind::GatewayOut),
            ("inbound_gateways", LinkKind::GatewayIn),
        ] {
            for (name, g) in data
                .get(key)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                // Outbound: one connection; inbound: a list of them.
                let conns: Vec<&Value> = match g {
                    Value::Array(list) => list.iter().filter_map(|c| c.get("connection")).collect(),
                    other => other.get("connection").into_iter().collect(),
                };
                for c in conns {
                    rows.push(row(kind, name.clone(), c));
                }
            }
        }
        for l in data
            .get("leafs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            rows.push(row(LinkKind::Leaf, text(l, "/name"), l));
        }
        rows
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Connect,
    Disconnect,
    AuthError,
}

impl EventKind {
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Connect => "connect",
            EventKind::Disconnect => "disconnect",
            EventKind::AuthError => "auth error",
        }
    }
}

/// One connect, disconnect or authentication failure the servers told of.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerEvent {
    #[serde(serialize_with = "rfc3339")]
    pub at: Timestamp,
    pub kind: EventKind,
    pub server: String,
    pub account: String,
    pub cid: u64,
    pub name: String,
    pub user: String,
    pub host: String,
    /// Why a connection ended (`Client Closed`, `Authentication Failure`).
    pub reason: String,
}

fn rfc3339<S: serde::Serializer>(at: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::capture::timestamp_to_utc(*at).to_rfc3339())
}

impl ServerEvent {
    /// The advisory on `subject` (`$SYS.ACCOUNT.<acc>.CONNECT`,
    /// `…DISCONNECT`, `$SYS.SERVER.<id>.CLIENT.AUTH.ERR`); `None` for
    /// anything else.
    pub fn from_advisory(subject: &str, payload: &[u8]) -> Option<Self> {
        let kind = if subject.ends_with(".CLIENT.AUTH.ERR") {
            EventKind::AuthError
        } else if subject.ends_with(".DISCONNECT") {
            EventKind::Disconnect
        } else if subject.ends_with(".CONNECT") {
            EventKind::Connect
        } else {
            return None;
        };
        let v: Value = serde_json::from_slice(payload).ok()?;
        v.get("client")?;
        Some(ServerEvent {
            at: time(&v, "/timestamp"),
            kind,
            server: text(&v, "/server/name"),
            account: text(&v, "/client/acc"),
            cid: number(&v, "/client/id"),
            name: text(&v, "/client/name"),
            user: text(&v, "/client/user"),
            host: text(&v, "/client/host"),
            reason: text(&v, "/reason"),
        })
    }
}

/// The subjects of the advisories above (the system account's).
pub const EVENT_SUBJECTS: [&str; 3] = [
    "$SYS.ACCOUNT.*.CONNECT",
    "$SYS.ACCOUNT.*.DISCONNECT",
    "$SYS.SERVER.*.CLIENT.AUTH.ERR",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_busiest_connection_first() {
        let row = |cid, rate: Option<f64>, name: &str| ConnectionRow {
            cid,
            name: name.into(),
            in_msgs_per_s: rate,
            ..Default::default()
        };
        let mut rows = vec![
            row(1, Some(5.0), "b"),
            row(2, None, "a"),
            row(3, Some(50.0), "c"),
        ];
        ConnectionSort::InMsgsRate.sort(&mut rows);
        assert_eq!(rows.iter().map(|r| r.cid).collect::<Vec<_>>(), [3, 1, 2]);
        ConnectionSort::Name.sort(&mut rows);
        assert_eq!(rows.iter().map(|r| r.cid).collect::<Vec<_>>(), [2, 1, 3]);
    }

    #[test]
    fn advisories_become_events() {
        let payload = json!({"type": "io.nats.server.advisory.v1.client_disconnect",
            "timestamp": "2026-11-30T08:40:16.462616509Z",
            "server": {"name": "n1"},
            "client": {"id": 9, "acc": "$G", "user": "app", "name": "badguy", "host": "127.0.0.1"},
            "reason": "Authentication Failure"});
        let bytes = serde_json::to_vec(&payload).unwrap();
        let e = ServerEvent::from_advisory("$SYS.SERVER.NABC.CLIENT.AUTH.ERR", &bytes).unwrap();
        assert_eq!(e.kind, EventKind::AuthError);
        assert_eq!(
            (e.cid, e.name.as_str(), e.server.as_str()),
            (9, "badguy", "n1")
        );
        assert_eq!(e.reason, "Authentication Failure");
        assert!(e.at > 0);
        let e = ServerEvent::from_advisory("$SYS.ACCOUNT.APP.DISCONNECT", &bytes).unwrap();
        assert_eq!(e.kind, EventKind::Disconnect);
        assert!(ServerEvent::from_advisory("$SYS.ACCOUNT.APP.CONNECT", b"not json").is_none());
    }

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

    #[test]
    fn routes_gateways_and_leaf_nodes_from_their_answers() {
        let routes = json!({"server": {"name": "n0"}, "data": {"routes": [
            {"rid": 1, "remote_name": "n1", "ip": "127.0.0.1", "port": 6201, "rtt": "1ms", "in_msgs": 5, "out_msgs": 7, "pending_size": 0}]}});
        let gateways = json!({"server": {"name": "n0"}, "data": {
            "outbound_gateways": {"east": {"connection": {"ip": "10.0.0.2", "port": 7222, "rtt": "20ms", "in_msgs": 1}}},
            "inbound_gateways": {"west": [{"connection": {"ip": "10.0.0.3", "port": 5555, "out_msgs": 2}}]}}});
        let leafs = json!({"server": {"name": "n0"}, "data": {"leafs": [
            {"name": "edge-1", "account": "APP", "ip": "10.0.0.9", "port": 40000, "rtt": "5ms", "in_msgs": 3}]}});
        let rows: Vec<LinkRow> = [routes, gateways, leafs]
            .iter()
            .flat_map(LinkRow::from_answer)
            .collect();
        let got: Vec<(LinkKind, &str, &str)> = rows
            .iter()
            .map(|r| (r.kind, r.remote.as_str(), r.address.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (LinkKind::Route, "n1", "127.0.0.1:6201"),
                (LinkKind::GatewayOut, "east", "10.0.0.2:7222"),
                (LinkKind::GatewayIn, "west", "10.0.0.3:5555"),
                (LinkKind::Leaf, "edge-1", "10.0.0.9:40000"),
            ]
        );
        assert_eq!(rows[3].account, "APP");
    }

    #[test]
    fn connection_rates_match_server_and_cid() {
        let answer = json!({"server": {"name": "n0", "id": "A"}, "data": {"connections": [
            {"cid": 5, "name": "w", "in_msgs": 100, "account": "APP"},
            {"cid": 6, "name": "x", "in_msgs": 10}]}});
        let before = ConnectionRow::from_connz_answer(&answer);
        let mut later = answer.clone();
        later["data"]["connections"][0]["in_msgs"] = 300.into();
        let rows = connection_rates(ConnectionRow::from_connz_answer(&later), &before, 2.0);
        assert_eq!(rows[0].in_msgs_per_s, Some(100.0));
        assert_eq!(rows[0].account, "APP");
        assert_eq!(rows[1].in_msgs_per_s, Some(0.0));
    }
}
