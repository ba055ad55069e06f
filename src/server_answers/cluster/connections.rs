//! The connections report: every server's `CONNZ`, rates from two
//! reports, and its sort orders (like `nats top`).

use serde::Serialize;
use serde_json::Value;

use super::{number, text};

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
