//! The whole cluster's servers, asked over NATS: `$SYS.REQ.SERVER.PING.VARZ`
//! is answered by every server the connection can reach, but only for a
//! connection of the system account. Without it, the answer is that no one
//! answers: said as such, never an empty table.

use std::time::Duration;

use futures_util::StreamExt;
use thiserror::Error;

use crate::server_answers::ServerRow;

/// How long answers are gathered after the last one came, and at most.
const QUIET: Duration = Duration::from_millis(500);
const AT_MOST: Duration = Duration::from_secs(3);

#[derive(Debug, Error)]
pub enum ServersError {
    #[error(
        "no server answered $SYS.REQ.SERVER.PING.VARZ: the server table needs a connection of the \
         system account (give a system-account user, or the monitoring URL for one server)"
    )]
    NoSystemAccount,
    #[error("cannot ask the servers: {0}")]
    Request(String),
}

/// Every server's row, sorted by name.
pub async fn server_table(client: &async_nats::Client) -> Result<Vec<ServerRow>, ServersError> {
    let inbox = client.new_inbox();
    let mut answers = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| ServersError::Request(e.to_string()))?;
    client
        .publish_with_reply("$SYS.REQ.SERVER.PING.VARZ", inbox, bytes::Bytes::new())
        .await
        .map_err(|e| ServersError::Request(e.to_string()))?;
    client
        .flush()
        .await
        .map_err(|e| ServersError::Request(e.to_string()))?;
    let deadline = tokio::time::Instant::now() + AT_MOST;
    let mut rows = Vec::new();
    loop {
        let wait = if rows.is_empty() { AT_MOST } else { QUIET };
        let next = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + wait),
            answers.next(),
        );
        match next.await {
            Ok(Some(message)) => {
                if message.status.is_some_and(|s| s.as_u16() == 503) {
                    return Err(ServersError::NoSystemAccount);
                }
                let parsed = serde_json::from_slice::<serde_json::Value>(&message.payload)
                    .ok()
                    .as_ref()
                    .and_then(ServerRow::from_varz);
                if let Some(row) = parsed {
                    rows.push(row);
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    if rows.is_empty() {
        return Err(ServersError::NoSystemAccount);
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}
