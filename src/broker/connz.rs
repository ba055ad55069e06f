//! Fetching the server's connection list from its HTTP monitoring port.

use std::time::Duration;

use crate::flow::identity::Directory;

/// Connections listed per request (the monitoring default is 1024).
const LIMIT: usize = 4096;

/// `GET <base>/connz?subs=detail` (blocking: call from a blocking task).
pub fn fetch(base_url: &str) -> Result<Directory, String> {
    let url = format!(
        "{}/connz?subs=detail&limit={LIMIT}",
        base_url.trim_end_matches('/')
    );
    Directory::from_connz(&get(&url)?)
}

/// What the server remembers of one connection after it closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosedConnection {
    pub reason: String,
    /// Messages the server sent (or queued) to it.
    pub out_msgs: u64,
}

/// One connection by its id, open or closed (blocking).
pub fn closed_connection(base_url: &str, cid: u64) -> Option<ClosedConnection> {
    let url = format!(
        "{}/connz?cid={cid}&state=any",
        base_url.trim_end_matches('/')
    );
    let body = get(&url).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&body).ok()?;
    closed_from_connz(&value, cid)
}

/// The answer of `$SYS.REQ.ACCOUNT.PING.CONNZ`, if it is from the server
/// the link was on and names the connection.
pub fn closed_from_system_answer(
    body: &[u8],
    cid: u64,
    server_name: &str,
) -> Option<ClosedConnection> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let name = value.pointer("/server/name").and_then(|n| n.as_str());
    if !server_name.is_empty() && name.is_some_and(|n| n != server_name) {
        return None;
    }
    closed_from_connz(value.get("data")?, cid)
}

fn closed_from_connz(connz: &serde_json::Value, cid: u64) -> Option<ClosedConnection> {
    connz
        .get("connections")?
        .as_array()?
        .iter()
        .find(|c| c.get("cid").and_then(|v| v.as_u64()) == Some(cid))
        .map(|c| ClosedConnection {
            reason: c
                .get("reason")
                .and_then(|r| r.as_str())
                .unwrap_or("")
                .to_owned(),
            out_msgs: c.get("out_msgs").and_then(|v| v.as_u64()).unwrap_or(0),
        })
}

fn get(url: &str) -> Result<Vec<u8>, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(3)))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| format!("cannot read {url}: {e}"))?;
    response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| format!("cannot read {url}: {e}"))
}
