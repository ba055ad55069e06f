//! Who is who, from the server's connection list (`/connz?subs=detail`):
//! which connections subscribe to a subject (and in which queue group), and
//! whose inbox a reply subject is. The wire alone cannot name them; this
//! is the server's own account, refreshed every few seconds.

use serde::Deserialize;

use super::correlate::{Flow, FlowKind, Role};
use crate::capture::SubjectPattern;

/// Our own monitor connections are named so; they are left out.
const OWN_PREFIX: &str = "eventscope:";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Connection {
    pub cid: u64,
    pub name: String,
    pub subscriptions: Vec<Subscription>,
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
        format!("{name} (cid {})", self.cid)
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
    /// Parse the JSON of `/connz?subs=detail`.
    pub fn from_connz(json: &[u8]) -> Result<Self, String> {
        let body: ConnzBody =
            serde_json::from_slice(json).map_err(|e| format!("not a connz answer: {e}"))?;
        Ok(Self {
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
                })
                .collect(),
        })
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

/// A copy of `flow` with lanes named from the directory: the requester
/// behind a reply inbox, the worker behind a pull consumer, the services
/// subscribed to a request subject. `pull_inboxes` gives the recent
/// `MSG.NEXT` inboxes of a (stream, consumer), newest first.
pub fn annotate(
    flow: &Flow,
    directory: &Directory,
    pull_inboxes: impl Fn(&str, &str) -> Vec<String>,
) -> Flow {
    let mut flow = flow.clone();
    let reply = flow.reply_subject().map(str::to_owned);
    let stream = flow.detail().stream.clone();
    let subject = flow.subject.clone();
    let kind = flow.kind;
    for lane in &mut flow.detail_mut().lanes {
        match lane.role {
            Role::Producer if lane.name.ends_with("(unknown)") && kind != FlowKind::Publish => {
                if let Some(owner) = reply.as_deref().and_then(|r| directory.owner_of(r)) {
                    lane.name = owner.label();
                }
            }
            Role::Consumer => {
                let owner = stream.as_deref().and_then(|s| {
                    pull_inboxes(s, &lane.name)
                        .iter()
                        .find_map(|inbox| directory.owner_of(inbox).map(Connection::label))
                });
                if let Some(owner) = owner {
                    lane.name = format!("{} · {owner}", lane.name);
                }
            }
            Role::Subject if kind == FlowKind::Request && !lane.name.contains('(') => {
                let names: Vec<String> = directory
                    .subscribers(&subject)
                    .iter()
                    .map(|(c, _)| c.label())
                    .collect();
                if !names.is_empty() {
                    lane.name = format!("{} ({})", lane.name, names.join(", "));
                }
            }
            _ => {}
        }
    }
    flow
}

/// "Who would get this publish": subscribers grouped by queue group.
pub fn audience(directory: &Directory, subject: &str) -> Vec<String> {
    let mut plain = Vec::new();
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (connection, sub) in directory.subscribers(subject) {
        match &sub.queue {
            Some(q) => match groups.iter_mut().find(|(g, _)| g == q) {
                Some((_, members)) => members.push(connection.label()),
                None => groups.push((q.clone(), vec![connection.label()])),
            },
            None => plain.push(format!("{} via {}", connection.label(), sub.pattern)),
        }
    }
    plain.extend(
        groups
            .into_iter()
            .map(|(q, members)| format!("one of queue {q}: {}", members.join(", "))),
    );
    plain
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
