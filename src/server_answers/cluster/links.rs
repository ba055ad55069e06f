//! Routes, gateway connections and leaf nodes (`ROUTEZ`, `GATEWAYZ`,
//! `LEAFZ`).

use serde::Serialize;
use serde_json::Value;

use super::{number, text};

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
