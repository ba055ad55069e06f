//! The sequence diagram's layout, one for the screen and the Mermaid
//! export: lanes merged across the shown flows (same name and role), a
//! row per step in each flow's order, a title row per flow when several
//! are shown, and a marker row for a request that got no reply. Flows of
//! several brokers (one event's hops across a bridge) keep each broker's
//! lanes apart, named with the broker: a lifeline per hop.

use super::model::{Flow, Lane, Step};
use crate::capture::Seq;
use crate::capture::Timestamp;

pub struct Layout<'a> {
    pub lanes: Vec<Lane>,
    pub rows: Vec<Row<'a>>,
    /// The earliest start of the shown flows: rows are timed from it.
    pub start: Timestamp,
}

/// One row of the diagram: an arrow from lane `from` to lane `to`, or a
/// marker where they are equal.
pub struct Row<'a> {
    pub at: Timestamp,
    pub record: Option<Seq>,
    pub kind: RowKind<'a>,
    pub from: usize,
    pub to: usize,
}

pub enum RowKind<'a> {
    Step(&'a Step),
    /// Where a flow begins, when several are shown; `from..=to` spans the
    /// lanes it uses.
    FlowTitle(&'a Flow),
    /// The request of this flow got no reply.
    NoReply,
}

impl<'a> Layout<'a> {
    /// `no_reply`: flows (by index) whose request went unanswered.
    pub fn new(flows: &[&'a Flow], no_reply: &[bool]) -> Self {
        let mut lanes: Vec<Lane> = Vec::new();
        let mut rows = Vec::new();
        let start = flows.iter().map(|f| f.started_at).min().unwrap_or(0);
        let brokers = flows.first().map(|f| f.broker);
        let crossing = flows.iter().any(|f| Some(f.broker) != brokers);
        // Across brokers, the next hop is published by whoever took the
        // previous one (a bridge): its arrow starts where that one ended.
        let mut previous_end: Option<usize> = None;
        for (i, flow) in flows.iter().enumerate() {
            let detail = flow.detail();
            let map: Vec<usize> = detail
                .lanes
                .iter()
                .map(|lane| {
                    if let (true, Some(end), super::model::Role::Producer) =
                        (crossing, previous_end, lane.role)
                    {
                        return end;
                    }
                    let lane = if crossing {
                        Lane {
                            name: format!("{}: {}", flow.broker, lane.name),
                            role: lane.role,
                        }
                    } else {
                        lane.clone()
                    };
                    match lanes.iter().position(|l| *l == lane) {
                        Some(x) => x,
                        None => {
                            lanes.push(lane);
                            lanes.len() - 1
                        }
                    }
                })
                .collect();
            let lane = |index: usize| map.get(index).copied().unwrap_or(0);
            previous_end = detail
                .steps
                .iter()
                .rev()
                .find(|s| s.from != s.to)
                .map(|s| lane(s.to))
                .or(previous_end);
            if flows.len() > 1 {
                let first = map.first().copied().unwrap_or(0);
                rows.push(Row {
                    at: flow.started_at,
                    record: flow.first_record,
                    kind: RowKind::FlowTitle(flow),
                    from: first,
                    to: map.last().copied().unwrap_or(first),
                });
            }
            for step in &detail.steps {
                rows.push(Row {
                    at: step.at,
                    record: step.record,
                    kind: RowKind::Step(step),
                    from: lane(step.from),
                    to: lane(step.to),
                });
            }
            if no_reply.get(i).copied().unwrap_or(false) {
                let requester = detail.steps.first().map_or(0, |s| lane(s.from));
                rows.push(Row {
                    at: flow.updated_at,
                    record: None,
                    kind: RowKind::NoReply,
                    from: requester,
                    to: requester,
                });
            }
        }
        Self { lanes, rows, start }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{FlowKind, Role, StepKind};

    fn request(id: u64, at: Timestamp, requester: &str, subject: &str) -> Flow {
        let mut flow = Flow::new(id, FlowKind::Request, subject, at);
        let from = flow.lane(requester, Role::Producer);
        let to = flow.lane(subject, Role::Subject);
        flow.step(
            at,
            Some(id),
            StepKind::Request,
            from,
            to,
            format!("request {subject}"),
        );
        flow
    }

    #[test]
    fn flows_share_lanes_and_keep_their_rows_in_order() {
        let a = request(1, 100, "web", "pricing.quote");
        let mut b = request(2, 40, "web", "inventory.check");
        b.updated_at = 90;
        let layout = Layout::new(&[&a, &b], &[false, true]);
        let names: Vec<&str> = layout.lanes.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["web", "pricing.quote", "inventory.check"]);
        assert_eq!(layout.start, 40);
        let rows: Vec<(usize, usize, &str)> = layout
            .rows
            .iter()
            .map(|r| {
                let kind = match r.kind {
                    RowKind::Step(_) => "step",
                    RowKind::FlowTitle(_) => "title",
                    RowKind::NoReply => "no reply",
                };
                (r.from, r.to, kind)
            })
            .collect();
        assert_eq!(
            rows,
            [
                (0, 1, "title"),
                (0, 1, "step"),
                (0, 2, "title"),
                (0, 2, "step"),
                (0, 0, "no reply"),
            ]
        );
        // One flow: no title row.
        assert_eq!(Layout::new(&[&a], &[]).rows.len(), 1);
    }
}
