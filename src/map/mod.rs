//! The map of the system: who publishes what, who consumes it, through
//! which subjects, streams, queues and topics, made from the flows the
//! correlator reconstructed (every broker's, the same code as the Flows
//! view) and, for NATS, the servers' own list of who subscribes to what.
//! The window draws it, `eventscope map` prints it, and `asyncapi` turns
//! it into a document.
//!
//! `layout` places it in columns, `export` writes Mermaid and SVG,
//! `asyncapi` the AsyncAPI 3 document, `json_schema` infers payload schemas.

use foldhash::HashMap;

use serde::Serialize;

use crate::capture::{BrokerKind, Timestamp};
use crate::flow::{
    AckBody, AdvisoryKind, Correlator, Flow, FlowKind, Role, StepKind, UNKNOWN_PRODUCER, group_lane,
};
use crate::server_answers::{Directory, Service};

pub mod asyncapi;
mod export;
pub mod json_schema;
mod layout;

pub use export::{edge_label, mermaid, short, svg};
pub use layout::{MapLayout, NODE_HEIGHT, NODE_WIDTH, PlacedNode, edge_curve, edge_width};

/// What a node is; the column it is drawn in follows this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A program that publishes or requests (a producer header, a client
    /// id, a connection name).
    Producer,
    /// A subject, topic or exchange.
    Channel,
    /// A stream, queue or log partition that keeps messages.
    Store,
    /// A consumer, queue subscriber, group or subscribing connection.
    Consumer,
}

impl NodeKind {
    fn of(role: Role) -> Self {
        match role {
            Role::Producer => NodeKind::Producer,
            Role::Subject => NodeKind::Channel,
            Role::Stream => NodeKind::Store,
            Role::Consumer => NodeKind::Consumer,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            NodeKind::Producer => "producer",
            NodeKind::Channel => "subject / topic / exchange",
            NodeKind::Store => "stream / queue",
            NodeKind::Consumer => "consumer",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    /// The broker it was first seen on.
    pub broker: BrokerKind,
    /// A producer or consumer seen on other brokers too (a bridge, a
    /// service that publishes on two): one program, one box.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_on: Vec<BrokerKind>,
    /// Messages through it (in and out, the larger).
    pub messages: u64,
}

impl Node {
    /// "nats", or "nats + mqtt" for a program on several brokers.
    pub fn brokers_label(&self) -> String {
        std::iter::once(self.broker)
            .chain(self.also_on.iter().copied())
            .map(BrokerKind::name)
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// An arrow between two nodes, with what travelled it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// Publishes, deliveries, routings, requests along it.
    pub messages: u64,
    /// Messages a second over the span of what was read.
    pub rate: f64,
    /// Deliveries after the first, and NAKs.
    pub retries: u64,
    /// TERMs, max deliveries, refused publishes, unanswered requests,
    /// service errors.
    pub failures: u64,
    pub dead_letters: u64,
    /// Deliveries not answered yet, or (Kafka) messages a group has not
    /// committed past: the consumer's lag as the wire shows it.
    pub pending: u64,
    /// A queue group, when the servers say subscribers share one.
    pub queue: Option<String>,
}

impl Edge {
    /// The worst thing seen on it, for its colour.
    pub fn health(&self) -> Health {
        if self.failures > 0 || self.dead_letters > 0 {
            Health::Failing
        } else if self.retries > 0 {
            Health::Retrying
        } else if self.pending > 0 {
            Health::Waiting
        } else {
            Health::Fine
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Fine,
    Waiting,
    Retrying,
    Failing,
}

/// The map, and what was left out to keep it readable.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SystemMap {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Flows read to make it.
    pub flows: u64,
    /// The time they span (first start to last update), in seconds.
    pub span_seconds: f64,
    /// Edges left out (the least used) beyond `MAX_EDGES`.
    pub edges_left_out: usize,
}

/// At most this many arrows are drawn: the busiest. A map of thousands of
/// per-id subjects is read by no one; the count of those left out is said.
pub const MAX_EDGES: usize = 300;

impl SystemMap {
    /// The map of every flow the correlator keeps (each broker's rules
    /// applied), plus, for NATS, who subscribes to each subject seen.
    pub fn from_flows(correlator: &Correlator, directory: Option<&Directory>) -> Self {
        Self::from_flows_and_services(correlator, directory, &[])
    }

    /// The same, with the NATS micro services that described themselves
    /// (`$SRV.INFO`, `$SRV.STATS`): each a consumer of its endpoints'
    /// subjects, with the requests and errors it counted.
    pub fn from_flows_and_services(
        correlator: &Correlator,
        directory: Option<&Directory>,
        services: &[Service],
    ) -> Self {
        let mut builder = Builder::default();
        for flow in correlator.flows().filter(|f| f.is_visible()) {
            builder.add_flow(flow);
        }
        if let Some(directory) = directory {
            builder.add_subscribers(directory);
        }
        builder.add_services(services);
        builder.finish()
    }

    pub fn node_named(&self, kind: NodeKind, name: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.kind == kind && n.name == name)
    }

    pub fn edges_between(&self, from: &str, to: &str) -> Option<&Edge> {
        self.edges
            .iter()
            .find(|e| self.nodes[e.from].name == from && self.nodes[e.to].name == to)
    }
}

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    /// Boxes by kind, broker and name (looked up by `&str`, without a
    /// copy: the map is made again each second from every flow). A
    /// subject or a stream belongs to its broker ("readings" on Kafka is
    /// not "readings" on NATS); a program is one box on every broker, so
    /// producers and consumers are filed under no broker (`None`).
    index: HashMap<(NodeKind, Option<BrokerKind>), HashMap<String, usize>>,
    edges: HashMap<(usize, usize), Edge>,
    flows: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl Builder {
    fn node(&mut self, kind: NodeKind, name: &str, broker: BrokerKind) -> usize {
        let program = matches!(kind, NodeKind::Producer | NodeKind::Consumer);
        let names = self
            .index
            .entry((kind, (!program).then_some(broker)))
            .or_default();
        if let Some(&i) = names.get(name) {
            let node = &mut self.nodes[i];
            if node.broker != broker && !node.also_on.contains(&broker) {
                node.also_on.push(broker);
            }
            return i;
        }
        let i = self.nodes.len();
        names.insert(name.to_owned(), i);
        self.nodes.push(Node {
            name: name.to_owned(),
            kind,
            broker,
            also_on: Vec::new(),
            messages: 0,
        });
        i
    }

    fn edge(&mut self, from: usize, to: usize) -> &mut Edge {
        self.edges.entry((from, to)).or_insert_with(|| Edge {
            from,
            to,
            ..Edge::default()
        })
    }

    fn add_flow(&mut self, flow: &Flow) {
        self.flows += 1;
        self.first = Some(
            self.first
                .map_or(flow.started_at, |f| f.min(flow.started_at)),
        );
        self.last = Some(
            self.last
                .map_or(flow.updated_at, |l| l.max(flow.updated_at)),
        );
        // A core publish, by far the most common flow, keeps its one step
        // implicit: one arrow from its producer, without the copy that
        // `materialized` makes to draw it.
        if flow.kind == FlowKind::Publish && flow.detail().steps.is_empty() {
            let producer = flow.producer.as_deref().unwrap_or(UNKNOWN_PRODUCER);
            let from = self.node(NodeKind::Producer, producer, flow.broker);
            let to = self.node(NodeKind::Channel, &flow.subject, flow.broker);
            self.edge(from, to).messages += 1;
            return;
        }
        let flow = flow.materialized();
        let detail = flow.detail();
        // A request's subject lane is named with who answered
        // ("pricing.quote (pricing-service)"): on the map the subject is
        // one box and the responder another, beside it.
        let lanes: Vec<usize> = detail
            .lanes
            .iter()
            .map(|lane| {
                let name = match lane.name.strip_prefix(flow.subject.as_str()) {
                    Some(rest) if lane.role == Role::Subject && rest.starts_with(" (") => {
                        flow.subject.as_str()
                    }
                    _ => lane.name.as_str(),
                };
                self.node(NodeKind::of(lane.role), name, flow.broker)
            })
            .collect();
        let responder = detail
            .responder
            .as_deref()
            .map(|name| self.node(NodeKind::Consumer, name, flow.broker));
        // A stored message's flow draws the producer straight into the
        // stream; the map keeps the subject it was published on between.
        let published_on = flow.stored_subject().unwrap_or(&flow.subject);
        let subject = self.node(NodeKind::Channel, published_on, flow.broker);
        let through_subject = |builder: &mut Self, from: usize, to: usize| -> (usize, usize) {
            // (A log whose topic is its own name, Kafka's, needs no box
            // of the same name before it.)
            let into_store = builder.nodes[from].kind == NodeKind::Producer
                && builder.nodes[to].kind == NodeKind::Store
                && builder.nodes[to].name != builder.nodes[subject].name;
            if into_store {
                builder.edge(from, subject).messages += 1;
                (subject, to)
            } else {
                (from, to)
            }
        };
        let mut first_edge = None;
        for step in &detail.steps {
            let (Some(&from), Some(&to)) = (lanes.get(step.from), lanes.get(step.to)) else {
                continue;
            };
            match &step.kind {
                StepKind::Publish | StepKind::Request if from != to => {
                    let (from, to) = through_subject(self, from, to);
                    self.edge(from, to).messages += 1;
                    first_edge.get_or_insert((from, to));
                    if step.kind == StepKind::Request
                        && let Some(responder) = responder
                    {
                        self.edge(to, responder).messages += 1;
                    }
                }
                // A reply comes from the responder when the wire named it;
                // one that came back "from the subject" says nothing the
                // request did not.
                StepKind::Reply if from != to => {
                    let from = match (self.nodes[from].kind, responder) {
                        (NodeKind::Channel, Some(responder)) => responder,
                        (NodeKind::Channel, None) => continue,
                        _ => from,
                    };
                    self.edge(from, to).messages += 1;
                }
                StepKind::Route | StepKind::Deliver { count: 1 } if from != to => {
                    self.edge(from, to).messages += 1;
                    first_edge.get_or_insert((from, to));
                }
                StepKind::DuplicatePublish if from != to => {
                    let (from, to) = through_subject(self, from, to);
                    let edge = self.edge(from, to);
                    edge.messages += 1;
                    edge.retries += 1;
                }
                StepKind::Deliver { .. } if from != to => {
                    let edge = self.edge(from, to);
                    edge.messages += 1;
                    edge.retries += 1;
                }
                StepKind::DeadLetter if from != to => {
                    let edge = self.edge(from, to);
                    edge.messages += 1;
                    edge.dead_letters += 1;
                }
                // An answer goes back along the delivery's arrow.
                StepKind::Answer(AckBody::Nak { .. }) => self.edge(to, from).retries += 1,
                StepKind::Answer(AckBody::Term { .. }) => self.edge(to, from).failures += 1,
                StepKind::Advisory(AdvisoryKind::MaxDeliveries) => {
                    self.edge(from, to).failures += 1
                }
                StepKind::PublishError | StepKind::NoReply => {
                    if let Some((f, t)) = first_edge {
                        self.edge(f, t).failures += 1;
                    }
                }
                _ => {}
            }
        }
        if detail.service_error().is_some()
            && let Some((f, t)) = first_edge
        {
            self.edge(f, t).failures += 1;
        }
        // Kafka: the groups reading the partition of the last write and not
        // past it yet: their lag, on the arrow from that topic to them.
        if let Some(hops) = detail.log_hops()
            && let Some((topic, _, _)) = hops.writes.last()
        {
            let log = self.node(NodeKind::Store, topic, flow.broker);
            for group in &hops.waiting {
                let reader = self.node(NodeKind::Consumer, &group_lane(group), flow.broker);
                self.edge(log, reader).pending += 1;
            }
        }
        // Unanswered deliveries count on the arrow that delivered them.
        for delivery in &detail.deliveries {
            if delivery.outcome != crate::flow::Outcome::Pending {
                continue;
            }
            let delivered_by = detail.steps.iter().rev().find(|s| {
                matches!(s.kind, StepKind::Deliver { .. })
                    && detail
                        .lanes
                        .get(s.to)
                        .is_some_and(|l| l.name == delivery.consumer)
            });
            if let Some(step) = delivered_by
                && let (Some(&from), Some(&to)) = (lanes.get(step.from), lanes.get(step.to))
            {
                self.edge(from, to).pending += 1;
            }
        }
    }

    /// NATS: each subject node gets an arrow to every connection the
    /// servers say subscribes to it (core subscribers are not on the wire
    /// a monitor sees).
    fn add_subscribers(&mut self, directory: &Directory) {
        let channels: Vec<(usize, String, u64)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.kind == NodeKind::Channel && n.broker == BrokerKind::Nats)
            .map(|(i, n)| {
                let into: u64 = self
                    .edges
                    .values()
                    .filter(|e| e.to == i)
                    .map(|e| e.messages)
                    .sum();
                (i, n.name.clone(), into)
            })
            .collect();
        for (channel, subject, messages) in channels {
            for (connection, sub) in directory.subscribers(&subject) {
                let name = if connection.name.is_empty() {
                    format!("unnamed (cid {})", connection.cid)
                } else {
                    connection.name.clone()
                };
                let node = self.node(NodeKind::Consumer, &name, BrokerKind::Nats);
                let edge = self.edge(channel, node);
                edge.messages = edge.messages.max(messages);
                edge.queue = sub.queue.clone();
            }
        }
    }

    /// Each service a consumer of its endpoints' subjects; the arrow
    /// carries the requests and errors its instances counted (since they
    /// started: the services' own figures, not the wire's).
    fn add_services(&mut self, services: &[Service]) {
        for service in services {
            let mut by_subject: Vec<(&str, u64, u64)> = Vec::new();
            for endpoint in service.instances.iter().flat_map(|i| &i.endpoints) {
                match by_subject
                    .iter_mut()
                    .find(|(s, _, _)| *s == endpoint.subject)
                {
                    Some((_, requests, errors)) => {
                        *requests += endpoint.requests;
                        *errors += endpoint.errors;
                    }
                    None => {
                        by_subject.push((&endpoint.subject, endpoint.requests, endpoint.errors))
                    }
                }
            }
            let consumer = self.node(NodeKind::Consumer, &service.name, BrokerKind::Nats);
            for (subject, requests, errors) in by_subject {
                let channel = self.node(NodeKind::Channel, subject, BrokerKind::Nats);
                let edge = self.edge(channel, consumer);
                edge.messages = edge.messages.max(requests);
                edge.failures = edge.failures.max(errors);
            }
        }
    }

    fn finish(self) -> SystemMap {
        let span_ns = match (self.first, self.last) {
            (Some(f), Some(l)) => (l - f).max(0),
            _ => 0,
        };
        let span_seconds = (span_ns as f64 / 1e9).max(1.0);
        let mut edges: Vec<Edge> = self.edges.into_values().collect();
        // The busiest first; ties by the nodes' order (a stable map).
        edges.sort_by(|a, b| {
            b.messages
                .cmp(&a.messages)
                .then(a.from.cmp(&b.from))
                .then(a.to.cmp(&b.to))
        });
        let edges_left_out = edges.len().saturating_sub(MAX_EDGES);
        edges.truncate(MAX_EDGES);
        let mut nodes = self.nodes;
        for edge in &mut edges {
            edge.rate = edge.messages as f64 / span_seconds;
            nodes[edge.from].messages = nodes[edge.from].messages.max(edge.messages);
            nodes[edge.to].messages = nodes[edge.to].messages.max(edge.messages);
        }
        // Keep only nodes an arrow still touches, renumbered.
        let mut renumber = vec![None; nodes.len()];
        let mut kept = Vec::new();
        for (i, node) in nodes.into_iter().enumerate() {
            if edges.iter().any(|e| e.from == i || e.to == i) {
                renumber[i] = Some(kept.len());
                kept.push(node);
            }
        }
        for edge in &mut edges {
            edge.from = renumber[edge.from].unwrap_or_default();
            edge.to = renumber[edge.to].unwrap_or_default();
        }
        SystemMap {
            nodes: kept,
            edges,
            flows: self.flows,
            span_seconds,
            edges_left_out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A program is one box whichever broker it uses; a subject or a
    /// stream is its broker's own.
    #[test]
    fn programs_span_brokers_and_channels_do_not() {
        let mut builder = Builder::default();
        let nats = builder.node(NodeKind::Producer, "bridge", BrokerKind::Nats);
        let mqtt = builder.node(NodeKind::Producer, "bridge", BrokerKind::Mqtt);
        assert_eq!(nats, mqtt);
        assert_eq!(builder.nodes[nats].brokers_label(), "nats + mqtt");
        let on_nats = builder.node(NodeKind::Channel, "readings", BrokerKind::Nats);
        let on_kafka = builder.node(NodeKind::Channel, "readings", BrokerKind::Kafka);
        assert_ne!(on_nats, on_kafka);
        assert_eq!(builder.nodes[on_kafka].brokers_label(), "kafka");
    }
}
