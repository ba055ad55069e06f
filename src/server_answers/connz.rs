//! The server's connection list (`/connz?subs=detail`, or the system
//! account's `CONNZ` answer): which connections subscribe to a subject
//! (and in which queue group), whose inbox a reply subject is, and what
//! the server remembers of a connection it closed.

use serde::Deserialize;

use super::AnswerError;
use crate::capture::SubjectPattern;

/// Our own monitor connections are named so; they are left out.
const OWN_PREFIX: &str = "eventscope:";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Connection {
    pub cid: u64,
    pub name: String,
    pub subscriptions: Vec<Subscription>,
    /// The server it is on, when the list came from several (a cid is
    /// only unique per server).
    pub server: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub pattern: SubjectPattern,
    pub queue: Option<String>,
}

impl Connection {
    pub fn label(&self) -> String {
        let name = if self.name.is_empty() {
            "unnamed"
        } else {
            &self.name
        };
        match &self.server {
            Some(server) => format!("{name} (cid {} on {server})", self.cid),
            None => format!("{name} (cid {})", self.cid),
        }
    }
}

/// A snapshot of the server's connections and their subscriptions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directory {
    pub connections: Vec<Connection>,
}

#[derive(Deserialize)]
struct ConnzBody {
    #[serde(default)]
    connections: Vec<ConnzConnection>,
}

#[derive(Deserialize)]
struct ConnzConnection {
    cid: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    subscriptions_list_detail: Vec<ConnzSub>,
}

#[derive(Deserialize)]
struct ConnzSub {
    subject: String,
    #[serde(default)]
    qgroup: Option<String>,
}

impl Directory {
    /// The connections of every server's `PING.CONNZ` answer (system or
    /// account-scoped, with `subscriptions_detail`), each named with its
    /// server.
    pub fn from_connz_answers(answers: &[serde_json::Value]) -> Self {
        let mut connections = Vec::new();
        for answer in answers {
            let server = answer
                .pointer("/server/name")
                .and_then(|n| n.as_str())
                .map(str::to_owned);
            let Some(data) = answer.get("data") else {
                continue;
            };
            let Ok(body) = ConnzBody::deserialize(data) else {
                continue;
            };
            connections.extend(Self::from_body(body).connections.into_iter().map(|mut c| {
                c.server = server.clone();
                c
            }));
        }
        Self { connections }
    }

    /// Parse the JSON of `/connz?subs=detail`.
    pub fn from_connz(json: &[u8]) -> Result<Self, AnswerError> {
        let body: ConnzBody = serde_json::from_slice(json).map_err(AnswerError::NotConnz)?;
        Ok(Self::from_body(body))
    }

    fn from_body(body: ConnzBody) -> Self {
        Self {
            connections: body
                .connections
                .into_iter()
                .filter(|c| !c.name.starts_with(OWN_PREFIX))
                .map(|c| Connection {
                    cid: c.cid,
                    name: c.name,
                    subscriptions: c
                        .subscriptions_list_detail
                        .into_iter()
                        .filter_map(|s| {
                            Some(Subscription {
                                pattern: SubjectPattern::parse(&s.subject).ok()?,
                                queue: s.qgroup.filter(|q| !q.is_empty()),
                            })
                        })
                        .collect(),
                    server: None,
                })
                .collect(),
        }
    }

    /// Connections subscribed to `subject` (not via an inbox), with the
    /// matching subscription.
    pub fn subscribers(&self, subject: &str) -> Vec<(&Connection, &Subscription)> {
        self.connections
            .iter()
            .filter_map(|c| {
                c.subscriptions
                    .iter()
                    .find(|s| {
                        !s.pattern.as_str().starts_with("_INBOX") && s.pattern.matches(subject)
                    })
                    .map(|s| (c, s))
            })
            .collect()
    }

    /// The connection whose subscription receives `inbox` (a requester, or
    /// the worker behind a pull request).
    pub fn owner_of(&self, inbox: &str) -> Option<&Connection> {
        self.connections
            .iter()
            .find(|c| c.subscriptions.iter().any(|s| s.pattern.matches(inbox)))
    }
}

/// What the server remembers of one connection after it closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosedConnection {
    pub reason: String,
    /// Messages the server sent (or queued) to it.
    pub out_msgs: u64,
}

/// A connection by its id in a `/connz?cid=N&state=any` answer.
pub fn closed_in_connz(body: &[u8], cid: u64) -> Option<ClosedConnection> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    closed_in(&value, cid)
}

/// The account's own counters (`$SYS.REQ.ACCOUNT.PING.STATZ`, answered
/// for the asking account without the system account).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountCounters {
    /// Connections of the account the server cut off as slow consumers.
    pub slow_consumers: u64,
    /// Messages the account's clients published.
    pub received_msgs: u64,
}

/// The first account in a STATZ answer.
pub fn account_counters(body: &[u8]) -> Option<AccountCounters> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let account = value.pointer("/data/account_statz/0")?;
    Some(AccountCounters {
        slow_consumers: account.get("slow_consumers")?.as_u64()?,
        received_msgs: account.pointer("/received/msgs")?.as_u64()?,
    })
}

fn closed_in(connz: &serde_json::Value, cid: u64) -> Option<ClosedConnection> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Directory {
        Directory::from_connz(include_bytes!(
            "../../tests/fixtures/06_http_connz_subs-detail.json"
        ))
        .expect("fixture parses")
    }

    #[test]
    fn subscribers_and_inbox_owners_from_real_connz() {
        let dir = fixture();
        assert_eq!(dir.connections.len(), 50);
        let subs = dir.subscribers("orders.created");
        assert_eq!(subs.len(), 30, "20 audit subscribers and 10 billing");
        assert!(
            dir.subscribers("shipments.3.sent")
                .iter()
                .any(|(c, _)| c.name == "audit-sub-3")
        );
        let owner = dir
            .owner_of("_INBOX.k9FNgbzd49lGqXWDPZyoNJ")
            .expect("an owner");
        assert_eq!(owner.label(), "order-worker-0 (cid 113)");
        assert!(dir.owner_of("_INBOX.nobody").is_none());
    }
}
