//! Who is who in a flow, from the server's connection list: lanes named
//! for the requester behind an inbox, the worker behind a pull consumer,
//! the services subscribed to a subject. The wire alone cannot name them.

use super::model::{Flow, FlowKind, Role};
use crate::server_answers::{Connection, Directory};

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
