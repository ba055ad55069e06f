//! The whole cluster's servers, asked over NATS: `$SYS.REQ.SERVER.PING.VARZ`
//! is answered by every server the connection can reach, but only for a
//! connection of the system account. Without it, the answer is that no one
//! answers: said as such, never an empty table.

use std::time::Duration;

use futures_util::StreamExt;
use thiserror::Error;

use crate::server_answers::{
    ConnectionRow, EVENT_SUBJECTS, LinkRow, MetaGroup, ServerEvent, ServerRow, StreamGroup,
};

/// How long answers are gathered after the last one came, and at most.
const QUIET: Duration = Duration::from_millis(500);
const AT_MOST: Duration = Duration::from_secs(3);

#[derive(Debug, Error)]
pub enum ServersError {
    #[error(
        "no server answered {0}: this needs a connection of the system account (give a \
         system-account user, or the monitoring URL for one server)"
    )]
    NoSystemAccount(&'static str),
    #[error(
        "no server answered {0}: the account cannot ask for its own connections (it needs the \
         system account's exports, on by default since nats-server 2.2)"
    )]
    NoAccountAccess(&'static str),
    #[error("cannot ask the servers: {0}")]
    Request(String),
}

const VARZ: &str = "$SYS.REQ.SERVER.PING.VARZ";
const SERVER_CONNZ: &str = "$SYS.REQ.SERVER.PING.CONNZ";
const ACCOUNT_CONNZ: &str = "$SYS.REQ.ACCOUNT.PING.CONNZ";
const JSZ: &str = "$SYS.REQ.SERVER.PING.JSZ";
const LINKS: [&str; 3] = [
    "$SYS.REQ.SERVER.PING.ROUTEZ",
    "$SYS.REQ.SERVER.PING.GATEWAYZ",
    "$SYS.REQ.SERVER.PING.LEAFZ",
];
/// Connections asked per server (the server's own default is 1,024).
const CONNZ_LIMIT: u64 = 4096;

/// Ask every server `subject` and gather their answers until they stop
/// coming. No answer, or "no responders", is `Ok(empty)`: the caller says
/// what that means.
pub(super) async fn ping_all(
    client: &async_nats::Client,
    subject: &'static str,
    body: &serde_json::Value,
) -> Result<Vec<serde_json::Value>, ServersError> {
    let failed = |e: &dyn std::fmt::Display| ServersError::Request(e.to_string());
    // A fresh inbox of our own: a `>` capture leaves the poll and its
    // answers out (counted as own reads).
    let inbox = super::own::fresh_inbox();
    let mut answers = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| failed(&e))?;
    client
        .publish_with_reply(
            subject,
            inbox,
            // Null: an empty request (what micro services are sent).
            if body.is_null() {
                Vec::new()
            } else {
                serde_json::to_vec(body).unwrap_or_default()
            }
            .into(),
        )
        .await
        .map_err(|e| failed(&e))?;
    client.flush().await.map_err(|e| failed(&e))?;
    let deadline = tokio::time::Instant::now() + AT_MOST;
    let mut got = Vec::new();
    loop {
        let wait = if got.is_empty() { AT_MOST } else { QUIET };
        let next = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + wait),
            answers.next(),
        );
        match next.await {
            Ok(Some(message)) => {
                if message.status.is_some_and(|s| s.as_u16() == 503) {
                    return Ok(Vec::new());
                }
                if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&message.payload) {
                    got.push(value);
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    Ok(got)
}

/// Every server's row, sorted by name.
pub async fn server_table(client: &async_nats::Client) -> Result<Vec<ServerRow>, ServersError> {
    let answers = ping_all(client, VARZ, &serde_json::json!({})).await?;
    let mut rows: Vec<ServerRow> = answers.iter().filter_map(ServerRow::from_varz).collect();
    if rows.is_empty() {
        return Err(ServersError::NoSystemAccount(VARZ));
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// The server table, or, without the system account but with a
/// monitoring URL, that one server's row from its `/varz`, with a line
/// saying so.
pub async fn server_table_or_one(
    client: &async_nats::Client,
    monitoring_url: Option<String>,
) -> Result<(Vec<ServerRow>, Option<String>), ServersError> {
    match server_table(client).await {
        Ok(rows) => Ok((rows, None)),
        Err(ServersError::NoSystemAccount(subject)) => {
            let Some(url) = monitoring_url else {
                return Err(ServersError::NoSystemAccount(subject));
            };
            let base = url.clone();
            let row = tokio::task::spawn_blocking(move || super::connz::varz_row(&base))
                .await
                .map_err(|e| ServersError::Request(e.to_string()))?
                .map_err(|e| ServersError::Request(e.to_string()))?;
            let said = format!(
                "One server only, from its monitoring URL ({}): the whole cluster needs the system account.",
                super::redact_url(&url)
            );
            Ok((vec![row], Some(said)))
        }
        Err(e) => Err(e),
    }
}

/// Which connections a report covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionScope {
    /// Every account's (the system account asked).
    AllAccounts,
    /// The asking account's own (`$SYS.REQ.ACCOUNT.PING.CONNZ`).
    OwnAccount,
}

/// Every server's `CONNZ` answers: the system account's (all accounts,
/// with their names) or, without it, the asking account's own. `detail`
/// adds each connection's subscriptions (for naming flows).
pub async fn connz_answers(
    client: &async_nats::Client,
    detail: bool,
) -> Result<(ConnectionScope, Vec<serde_json::Value>), ServersError> {
    let body =
        serde_json::json!({"auth": true, "limit": CONNZ_LIMIT, "subscriptions_detail": detail});
    let answers = ping_all(client, SERVER_CONNZ, &body).await?;
    if !answers.is_empty() {
        return Ok((ConnectionScope::AllAccounts, answers));
    }
    let answers = ping_all(client, ACCOUNT_CONNZ, &body).await?;
    if answers.is_empty() {
        return Err(ServersError::NoAccountAccess(ACCOUNT_CONNZ));
    }
    Ok((ConnectionScope::OwnAccount, answers))
}

/// The connections report of the whole cluster (or the account's part of
/// it), busiest first.
pub async fn connections_report(
    client: &async_nats::Client,
) -> Result<(ConnectionScope, Vec<ConnectionRow>), ServersError> {
    let (scope, answers) = connz_answers(client, false).await?;
    let rows = answers
        .iter()
        .flat_map(ConnectionRow::from_connz_answer)
        .collect();
    Ok((scope, rows))
}

/// The JetStream meta group and every account's replicated streams, as
/// their leaders report them (system account).
pub async fn replica_groups(
    client: &async_nats::Client,
) -> Result<(Option<MetaGroup>, Vec<StreamGroup>), ServersError> {
    let body = serde_json::json!({"accounts": true, "streams": true});
    let answers = ping_all(client, JSZ, &body).await?;
    if answers.is_empty() {
        return Err(ServersError::NoSystemAccount(JSZ));
    }
    Ok((
        MetaGroup::from_jsz_answers(&answers),
        StreamGroup::from_jsz_answers(&answers),
    ))
}

/// Every server's routes, gateway connections and leaf nodes (system
/// account).
pub async fn links(client: &async_nats::Client) -> Result<Vec<LinkRow>, ServersError> {
    let mut rows = Vec::new();
    let mut answered = false;
    for subject in LINKS {
        let answers = ping_all(client, subject, &serde_json::json!({})).await?;
        answered |= !answers.is_empty();
        rows.extend(answers.iter().flat_map(LinkRow::from_answer));
    }
    if !answered {
        return Err(ServersError::NoSystemAccount(LINKS[0]));
    }
    rows.sort_by(|a, b| {
        (&a.server, a.kind as u8, &a.remote).cmp(&(&b.server, b.kind as u8, &b.remote))
    });
    Ok(rows)
}

/// The connection's own view of the connect, disconnect and auth-error
/// advisories (they flow in the system account only: without it, nothing
/// ever arrives, which `access` says beforehand).
pub async fn server_events(
    client: &async_nats::Client,
) -> Result<impl futures_util::Stream<Item = ServerEvent> + use<>, ServersError> {
    let mut subscribers = Vec::new();
    for subject in EVENT_SUBJECTS {
        subscribers.push(
            client
                .subscribe(subject)
                .await
                .map_err(|e| ServersError::Request(e.to_string()))?,
        );
    }
    client
        .flush()
        .await
        .map_err(|e| ServersError::Request(e.to_string()))?;
    Ok(
        futures_util::stream::select_all(subscribers).filter_map(|m| {
            std::future::ready(ServerEvent::from_advisory(m.subject.as_str(), &m.payload))
        }),
    )
}

/// What this connection can see of the servers, each asked once.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Visibility {
    /// `$SYS.REQ.SERVER.PING.*` answered: every server, every account.
    pub system_account: bool,
    /// `$SYS.REQ.ACCOUNT.PING.CONNZ` answered: the account's connections.
    pub account_connz: bool,
    /// `$JS.API.INFO` answered: JetStream on this account.
    pub jetstream: bool,
    /// A monitoring URL is configured (one server's `/varz`, `/connz`).
    pub monitoring_url: bool,
}

impl Visibility {
    /// What is missing and why, one sentence each.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut said = Vec::new();
        if !self.system_account {
            said.push(
                "Not the system account: servers, every account's connections, routes, gateways, \
                 leaf nodes, the meta group and connect/disconnect events are not visible.",
            );
        }
        if !self.system_account && !self.account_connz {
            said.push("The account cannot list its own connections ($SYS.REQ.ACCOUNT.PING.CONNZ).");
        }
        if !self.jetstream {
            said.push("No JetStream on this account ($JS.API.INFO).");
        }
        if !self.monitoring_url && !self.system_account {
            said.push("No monitoring URL: no single-server view either.");
        }
        said
    }
}

/// Ask what the connection can see.
pub async fn visibility(client: &async_nats::Client, monitoring_url: bool) -> Visibility {
    let answered = |subject: &'static str| async move {
        ping_all(client, subject, &serde_json::json!({}))
            .await
            .is_ok_and(|a| !a.is_empty())
    };
    let jetstream = client
        .request("$JS.API.INFO", bytes::Bytes::new())
        .await
        .ok()
        .and_then(|m| serde_json::from_slice::<serde_json::Value>(&m.payload).ok())
        .is_some_and(|v| v.get("error").is_none());
    Visibility {
        system_account: answered(VARZ).await,
        account_connz: answered(ACCOUNT_CONNZ).await,
        jetstream,
        monitoring_url,
    }
}
