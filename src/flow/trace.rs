//! Message tracing (nats-server 2.11+): the server's trace events for a
//! message published with `Nats-Trace-Dest`, turned into a flow for the
//! diagram: the ingress connection, every connection that would receive
//! the message (with its subscription and queue group) and the stream that
//! would store it.

use super::model::{Flow, FlowKind, Role, StepKind};
use crate::capture::Timestamp;
use crate::server_answers::TraceEvent;

/// One flow drawing what the server said: ingress -> subject -> each
/// egress and stream.
pub fn trace_flow(subject: &str, events: &[TraceEvent], at: Timestamp) -> Flow {
    let mut flow = Flow::new(0, FlowKind::Publish, subject, at);
    let mut target = None;
    for event in events {
        for hop in &event.events {
            match hop.kind.as_str() {
                "in" => {
                    let from = flow.lane(&hop.connection(), Role::Producer);
                    let to = flow.lane(subject, Role::Subject);
                    target = Some(to);
                    let account = if hop.acc.is_empty() {
                        String::new()
                    } else {
                        format!(" in account {}", hop.acc)
                    };
                    flow.step(
                        at,
                        None,
                        StepKind::Publish,
                        from,
                        to,
                        format!("publish {}{account}", hop.subj),
                    );
                }
                "eg" => {
                    let from = target.unwrap_or_else(|| flow.lane(subject, Role::Subject));
                    let to = flow.lane(&hop.connection(), Role::Consumer);
                    let mut label = format!("would deliver (sub {})", hop.sub);
                    if !hop.queue.is_empty() {
                        label = format!("would deliver (sub {}, queue {})", hop.sub, hop.queue);
                    }
                    flow.step(at, None, StepKind::Deliver { count: 1 }, from, to, label);
                }
                "js" => {
                    let from = target.unwrap_or_else(|| flow.lane(subject, Role::Subject));
                    let to = flow.lane(&hop.stream, Role::Stream);
                    flow.step(
                        at,
                        None,
                        StepKind::Deliver { count: 1 },
                        from,
                        to,
                        format!("would store ({})", hop.subject),
                    );
                }
                _ => {}
            }
        }
    }
    if flow
        .detail()
        .steps
        .iter()
        .all(|s| !matches!(s.kind, StepKind::Deliver { .. }))
    {
        let lane = target.unwrap_or(0);
        flow.step(
            at,
            None,
            StepKind::NoReply,
            lane,
            lane,
            "no subscriber and no stream would receive it".into(),
        );
    }
    flow
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_answers::parse_trace_event;

    #[test]
    fn trace_of_a_queue_group_and_a_stream() {
        let body = br#"{"server":{"name":"n1","ver":"2.15.1"},"request":{"msgsize":10},"events":[
            {"type":"in","cid":75,"name":"order-producer","acc":"$G","subj":"orders.created"},
            {"type":"eg","cid":72,"name":"audit-sub","sub":"orders.*"},
            {"type":"eg","cid":74,"name":"billing-2","sub":"orders.created","queue":"billing"},
            {"type":"js","stream":"ORDERS","subject":"orders.created"}]}"#;
        let event = parse_trace_event(body).expect("parses");
        assert_eq!(event.server.ver, "2.15.1");
        let flow = trace_flow("orders.created", &[event], 0);
        let lanes = flow.detail().lane_names();
        assert_eq!(
            lanes,
            [
                "order-producer (cid 75)",
                "orders.created",
                "audit-sub (cid 72)",
                "billing-2 (cid 74)",
                "ORDERS"
            ]
        );
        let labels = flow.detail().step_labels();
        assert_eq!(
            labels,
            [
                "publish orders.created in account $G",
                "would deliver (sub orders.*)",
                "would deliver (sub orders.created, queue billing)",
                "would store (orders.created)"
            ]
        );
        assert!(parse_trace_event(b"nope").is_err());
    }
}
