//! Flows as Mermaid `sequenceDiagram` text and as JSON objects.

use serde::Serialize;

use super::layout::{Layout, RowKind};
use super::links::{BatchMember, StoredAt};
use super::model::{Final, Flow, FlowKind, KvOperation, ObjectPut, Outcome, Role, StepKind};
use super::settle::{Removal, ServiceError, Verdict};
use crate::capture::Timestamp;
use crate::capture::file::format_timestamp;

/// One diagram of one or more flows (several flows share participants),
/// laid out as on screen.
pub fn mermaid(flows: &[&Flow]) -> String {
    let materialized: Vec<std::borrow::Cow<'_, Flow>> =
        flows.iter().map(|f| f.materialized()).collect();
    let flows: Vec<&Flow> = materialized.iter().map(|f| f.as_ref()).collect();
    let layout = Layout::new(&flows, &[]);
    let mut out = String::from("sequenceDiagram\n");
    for (i, lane) in layout.lanes.iter().enumerate() {
        let keyword = if lane.role == Role::Producer {
            "actor"
        } else {
            "participant"
        };
        out.push_str(&format!("    {keyword} P{i} as {}\n", escape(&lane.name)));
    }
    for row in &layout.rows {
        let (from, to) = (row.from, row.to);
        let elapsed = super::format_duration(row.at - layout.start);
        let line = match row.kind {
            RowKind::FlowTitle(flow) => {
                format!("    Note over P{from},P{to}: {}", escape(&title(flow)))
            }
            RowKind::NoReply => format!("    Note over P{from}: no reply (+{elapsed})"),
            RowKind::Step(step) => {
                let label = escape(&format!("{} (+{elapsed})", step.label));
                match step.kind {
                    _ if from == to => format!("    Note over P{from}: {label}"),
                    StepKind::Advisory(_) => format!("    Note over P{to}: {label}"),
                    StepKind::Publish
                    | StepKind::Request
                    | StepKind::Deliver { .. }
                    | StepKind::Route
                    | StepKind::DeadLetter
                    | StepKind::DuplicatePublish => format!("    P{from}->>P{to}: {label}"),
                    _ => format!("    P{from}-->>P{to}: {label}"),
                }
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Mermaid treats `#`, `;`, `<` and `>` specially in messages.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            // Mermaid renders labels as HTML: `<br>` in a subject would
            // break the line.
            '<' => out.push_str("#60;"),
            '>' => out.push_str("#62;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A one-line description of a flow.
pub fn title(flow: &Flow) -> String {
    let marks = flow.detail().marks();
    let mut title = match flow.broker {
        crate::capture::BrokerKind::Nats => nats_title(flow),
        other => format!("[{other}] {}", nats_title(flow)),
    };
    if marks.retained {
        title.push_str(" (retained)");
    }
    if marks.resent {
        title.push_str(" (sent again: dup)");
    }
    title
}

fn nats_title(flow: &Flow) -> String {
    let detail = flow.detail();
    match (flow.kind, &detail.stream, detail.stream_seq) {
        (FlowKind::Object, _, _) => match detail.object() {
            Some(o) => format!(
                "object {}/{} ({} chunks)",
                o.bucket,
                o.name.as_deref().unwrap_or(&o.nuid),
                o.chunks
            ),
            None => flow.subject.clone(),
        },
        (FlowKind::Kv, _, revision) => match (detail.kv(), revision) {
            (Some(kv), Some(revision)) => format!(
                "{} {}/{} revision {revision}",
                kv.operation.label(),
                kv.bucket,
                kv.key
            ),
            (Some(kv), None) => format!("{} {}/{}", kv.operation.label(), kv.bucket, kv.key),
            (None, _) => flow.subject.clone(),
        },
        (FlowKind::Jetstream, Some(stream), Some(seq)) => {
            format!("{} -> {stream} #{seq}", flow.subject)
        }
        (FlowKind::Request, _, _) => format!("request {}", flow.subject),
        (FlowKind::Publish, _, _) => match flow.links().and_then(|l| l.republish_of.as_ref()) {
            Some(origin) => format!(
                "{} (RePublish copy of {} #{})",
                flow.subject, origin.stream, origin.seq
            ),
            None => flow.subject.clone(),
        },
        _ => flow.subject.clone(),
    }
}

#[derive(Serialize)]
pub struct DeliveryJson<'a> {
    pub consumer: &'a str,
    pub count: u64,
    pub outcome: Outcome,
    /// RFC 3339; `null` when only the answer was seen.
    pub delivered_at: Option<String>,
    /// RFC 3339; `null` while unanswered.
    pub answered_at: Option<String>,
    /// The consumer's pause this delivery waited on (RFC 3339 `from` and
    /// `until`), when the wire showed one between store and delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited_on_pause: Option<PauseJson>,
}

#[derive(Serialize)]
pub struct PauseJson {
    pub from: String,
    pub until: String,
}

/// `Option<Timestamp>` as RFC 3339 or `null`.
pub(super) fn optional_timestamp<S: serde::Serializer>(
    at: &Option<Timestamp>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&format_timestamp(*at)),
        None => serializer.serialize_none(),
    }
}

#[derive(Serialize)]
pub struct KvJson<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub operation: KvOperation,
    pub revision: Option<u64>,
}

#[derive(Serialize)]
pub struct ReplyJson {
    pub responder: Option<String>,
    pub latency_ms: Option<f64>,
    pub at: String,
}

/// The `--json` form of a flow (one object per line).
#[derive(Serialize)]
pub struct FlowJson<'a> {
    pub id: u64,
    pub kind: FlowKind,
    pub subject: &'a str,
    pub stream: Option<&'a str>,
    pub stream_seq: Option<u64>,
    pub producer: Option<&'a str>,
    pub msg_id: Option<&'a str>,
    pub duplicates: u32,
    pub duplicate_of: Option<u64>,
    pub trace_id: Option<&'a str>,
    pub deliveries: Vec<DeliveryJson<'a>>,
    #[serde(rename = "final")]
    pub final_outcome: Option<Final>,
    pub latency_ms: Option<f64>,
    pub responder: Option<&'a str>,
    /// The key-value operation of a `kv` flow: bucket, key, operation and
    /// revision (its sequence in the bucket's stream).
    pub kv: Option<KvJson<'a>>,
    /// An object store object: bucket, name, nuid, chunks published and
    /// their bytes, chunks stored, chunks read back.
    pub object: Option<&'a ObjectPut>,
    /// Every reply (a request may have several); `latency_ms` and
    /// `responder` are the first's.
    pub replies: Vec<ReplyJson>,
    pub publish_error: Option<&'a str>,
    /// For `removed`: `reason` (`ttl`, `max_age`, `deleted`, `purged`,
    /// `rolled_up`, `consumer_deleted`), `at` and the `consumer`.
    pub removed: Option<Removal>,
    /// For `service_error`: the service's `code` and `description`.
    pub service_error: Option<&'a ServiceError>,
    /// The subject its stream stored it under, when not the published one.
    pub stored_subject: Option<&'a str>,
    /// Sourced copies, RePublish, atomic batch membership.
    #[serde(flatten)]
    pub links: LinksJson<'a>,
    /// The hops the server's message trace reported (`Nats-Trace-Dest`).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub trace: &'a [crate::server_answers::TraceHop],
    pub started_at: String,
}

#[derive(Serialize)]
pub struct LinksJson<'a> {
    /// A copy another stream sourced from this stored message.
    pub source: Option<&'a StoredAt>,
    /// Copies of this message that sourcing streams stored.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub copies: &'a [StoredAt],
    pub republish_of: Option<&'a StoredAt>,
    pub batch: Option<&'a BatchMember>,
    /// The previous hop of this event, on another broker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crossed_from: Option<u64>,
    /// Its next hops, on other brokers.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub crossed_to: &'a [u64],
}

impl<'a> FlowJson<'a> {
    pub fn new(flow: &'a Flow, verdict: Verdict) -> Self {
        let links = flow.links();
        Self {
            id: flow.id,
            kind: flow.kind,
            subject: &flow.subject,
            stream: flow.detail().stream.as_deref(),
            stream_seq: flow.detail().stream_seq,
            producer: flow.producer.as_deref(),
            msg_id: flow.msg_id.as_deref(),
            duplicates: flow.duplicates,
            duplicate_of: flow.duplicate_of,
            trace_id: flow.trace_id.as_deref(),
            deliveries: flow
                .detail()
                .deliveries
                .iter()
                .map(|d| DeliveryJson {
                    consumer: &d.consumer,
                    count: d.count,
                    outcome: flow.delivery_outcome(d),
                    delivered_at: d.record.map(|_| format_timestamp(d.at)),
                    answered_at: d.answered_at.map(format_timestamp),
                    waited_on_pause: None,
                })
                .collect(),
            final_outcome: verdict.final_outcome,
            latency_ms: flow.latency().map(|ns| ns as f64 / 1e6),
            responder: flow.detail().responder.as_deref(),
            kv: flow.detail().kv().map(|kv| KvJson {
                bucket: &kv.bucket,
                key: &kv.key,
                operation: kv.operation,
                revision: flow.detail().stream_seq,
            }),
            object: flow.detail().object(),
            replies: flow
                .detail()
                .replies()
                .into_iter()
                .map(|r| ReplyJson {
                    responder: r.responder,
                    latency_ms: flow.detail().request_at.map(|at| (r.at - at) as f64 / 1e6),
                    at: format_timestamp(r.at),
                })
                .collect(),
            publish_error: flow.detail().publish_error.as_deref(),
            removed: verdict.removed,
            service_error: flow.detail().service_error(),
            stored_subject: flow.stored_subject(),
            links: LinksJson {
                source: links.and_then(|l| l.source.as_ref()),
                copies: links.map_or(&[][..], |l| &l.copies),
                republish_of: links.and_then(|l| l.republish_of.as_ref()),
                batch: links.and_then(|l| l.batch.as_ref()),
                crossed_from: links.and_then(|l| l.crossed_from),
                crossed_to: links.map_or(&[][..], |l| &l.crossed_to),
            },
            trace: flow.detail().trace(),
            started_at: format_timestamp(flow.started_at),
        }
    }
}

/// A short text line per flow, for terminals.
pub fn summary_line(flow: &Flow, final_outcome: Option<Final>, start: Timestamp) -> String {
    let deliveries: Vec<String> = flow
        .detail()
        .deliveries
        .iter()
        .map(|d| format!("{}#{}:{:?}", d.consumer, d.count, d.outcome).to_lowercase())
        .collect();
    let mut line = format!(
        "+{:>9}  {:<9}  {:<40}  {}",
        super::format_duration(flow.started_at - start),
        format!("{:?}", flow.kind).to_lowercase(),
        title(flow),
        final_outcome.map_or("-", Final::label)
    );
    if let Some(latency) = flow.latency() {
        line.push_str(&format!("  {}", super::format_duration(latency)));
    }
    if !deliveries.is_empty() {
        line.push_str(&format!("  [{}]", deliveries.join(" ")));
    }
    if flow.duplicates > 0 || flow.duplicate_of.is_some() {
        line.push_str("  DUPLICATE id");
    }
    line
}

impl super::correlator::Correlator {
    /// The `--json` form of a flow, with what only the correlator knows:
    /// its final by the server's rules, and the pauses its deliveries
    /// waited on.
    pub fn json<'a>(&self, flow: &'a Flow, now: Timestamp) -> FlowJson<'a> {
        let mut json = FlowJson::new(flow, self.verdict(flow, now));
        let stream = flow
            .detail()
            .stream
            .as_deref()
            .and_then(|s| self.streams.get(s));
        if let Some(stream) = stream {
            for (out, delivery) in json.deliveries.iter_mut().zip(&flow.detail().deliveries) {
                if delivery.record.is_none() {
                    continue;
                }
                out.waited_on_pause = stream
                    .pause_between(&delivery.consumer, flow.started_at, delivery.at)
                    .map(|p| PauseJson {
                        from: format_timestamp(p.from),
                        until: if p.until == i64::MAX {
                            "never".to_owned()
                        } else {
                            format_timestamp(p.until.min(delivery.at))
                        },
                    });
            }
        }
        json
    }
}
