//! One server's row of the server table, from its `$SYS.REQ.SERVER.PING.VARZ`
//! answer (and its `JSZ`, for JetStream usage).

use serde::Serialize;
use serde_json::Value;

/// What the server table shows of one server.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServerRow {
    pub name: String,
    pub id: String,
    pub version: String,
    pub cluster: Option<String>,
    pub host: String,
    pub connections: u64,
    pub subscriptions: u64,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub mem: u64,
    pub cpu: f64,
    pub slow_consumers: u64,
    pub routes: u64,
    pub leafnodes: u64,
    /// JetStream storage in use (file and memory), `null` without JetStream.
    pub jetstream_store: Option<u64>,
    pub jetstream_memory: Option<u64>,
    /// Messages and bytes per second, from two answers a known time apart
    /// (`null` on the first).
    pub in_msgs_per_s: Option<f64>,
    pub out_msgs_per_s: Option<f64>,
    pub in_bytes_per_s: Option<f64>,
    pub out_bytes_per_s: Option<f64>,
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

impl ServerRow {
    /// From one `PING.VARZ` answer: `{"server": {...}, "data": {varz}}`.
    pub fn from_varz(answer: &Value) -> Option<Self> {
        let server = answer.get("server")?;
        let data = answer.get("data")?;
        let text =
            |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
        let jetstream = data.get("jetstream");
        let js_stat = |key: &str| {
            jetstream
                .and_then(|j| j.get("stats"))
                .and_then(|s| s.get(key))
                .and_then(Value::as_u64)
        };
        Some(Self {
            name: text(server, "name"),
            id: text(server, "id"),
            version: text(server, "ver"),
            cluster: server
                .get("cluster")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
            host: text(server, "host"),
            connections: u64_of(data, "connections"),
            subscriptions: u64_of(data, "subscriptions"),
            in_msgs: u64_of(data, "in_msgs"),
            out_msgs: u64_of(data, "out_msgs"),
            in_bytes: u64_of(data, "in_bytes"),
            out_bytes: u64_of(data, "out_bytes"),
            mem: u64_of(data, "mem"),
            cpu: data.get("cpu").and_then(Value::as_f64).unwrap_or(0.0),
            slow_consumers: u64_of(data, "slow_consumers"),
            routes: u64_of(data, "routes"),
            leafnodes: u64_of(data, "leafnodes"),
            jetstream_store: js_stat("storage"),
            jetstream_memory: js_stat("memory"),
            ..Self::default()
        })
    }

    /// From a monitoring port's `/varz` (one server, no system account
    /// needed): the same fields, named as that endpoint names them.
    pub fn from_monitoring_varz(body: &[u8]) -> Option<Self> {
        let varz: Value = serde_json::from_slice(body).ok()?;
        let text = |key: &str| varz.get(key).cloned().unwrap_or(Value::Null);
        let answer = serde_json::json!({
            "server": {
                "name": text("server_name"),
                "id": text("server_id"),
                "ver": text("version"),
                "host": text("host"),
                "cluster": varz.pointer("/cluster/name").cloned().unwrap_or(Value::Null),
            },
            "data": varz,
        });
        Self::from_varz(&answer).filter(|row| !row.id.is_empty())
    }

    /// Rates against the same server's earlier row, `seconds` before.
    pub fn with_rates(mut self, before: &ServerRow, seconds: f64) -> Self {
        if seconds > 0.0 {
            let rate = |now: u64, then: u64| Some(now.saturating_sub(then) as f64 / seconds);
            self.in_msgs_per_s = rate(self.in_msgs, before.in_msgs);
            self.out_msgs_per_s = rate(self.out_msgs, before.out_msgs);
            self.in_bytes_per_s = rate(self.in_bytes, before.in_bytes);
            self.out_bytes_per_s = rate(self.out_bytes, before.out_bytes);
        }
        self
    }
}

/// A new table with each server's rates against its row in `before`
/// (matched by server id), taken `seconds` earlier.
pub fn with_rates_from(rows: Vec<ServerRow>, before: &[ServerRow], seconds: f64) -> Vec<ServerRow> {
    rows.into_iter()
        .map(|row| match before.iter().find(|b| b.id == row.id) {
            Some(b) => row.with_rates(b, seconds),
            None => row,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_from_a_varz_answer_and_rates_from_two() {
        let answer = serde_json::json!({
            "server": {"name": "n1", "id": "NABC", "ver": "2.15.1", "cluster": "c", "host": "127.0.0.1"},
            "data": {"connections": 4, "subscriptions": 40, "in_msgs": 1000, "out_msgs": 2000,
                     "in_bytes": 10_000, "out_bytes": 20_000, "mem": 12_345_678, "cpu": 2.5,
                     "slow_consumers": 1, "routes": 2, "leafnodes": 0,
                     "jetstream": {"stats": {"memory": 0, "storage": 4096}}}
        });
        let before = ServerRow::from_varz(&answer).expect("row");
        assert_eq!(
            (before.name.as_str(), before.cluster.as_deref()),
            ("n1", Some("c"))
        );
        assert_eq!(before.jetstream_store, Some(4096));
        let mut later = answer.clone();
        later["data"]["in_msgs"] = 1500.into();
        let row = ServerRow::from_varz(&later)
            .expect("row")
            .with_rates(&before, 2.0);
        assert_eq!(row.in_msgs_per_s, Some(250.0));
        assert!(ServerRow::from_varz(&serde_json::json!({"data": {}})).is_none());
    }
}
