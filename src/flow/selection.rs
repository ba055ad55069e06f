//! Which flows the list shows: the filters, their counts, and the
//! selection over a correlator's flows.

use serde::Serialize;

use super::correlator::Correlator;
use super::model::{Final, Flow, FlowId};
use crate::capture::{SubjectPattern, Timestamp};

/// Which flows the list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowFilter {
    #[default]
    All,
    Retries,
    Failed,
    Slow,
}

impl FlowFilter {
    pub const ALL: [FlowFilter; 4] = [
        FlowFilter::All,
        FlowFilter::Retries,
        FlowFilter::Failed,
        FlowFilter::Slow,
    ];

    pub fn label(self) -> &'static str {
        match self {
            FlowFilter::All => "All",
            FlowFilter::Retries => "With retries",
            FlowFilter::Failed => "Failed",
            FlowFilter::Slow => "Slow",
        }
    }
}

/// What the list's filters look at, worked out once per flow.
#[derive(Clone, Copy)]
struct FlowTraits {
    retries: bool,
    failed: bool,
    slow: bool,
}

impl FlowFilter {
    fn accepts(self, traits: FlowTraits) -> bool {
        match self {
            FlowFilter::All => true,
            FlowFilter::Retries => traits.retries,
            FlowFilter::Failed => traits.failed,
            FlowFilter::Slow => traits.slow,
        }
    }
}

/// Only the flows of one stream's messages delivered to one consumer: where
/// a consumer's counters (redelivered, ack pending) lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerScope {
    pub stream: String,
    pub consumer: String,
}

impl ConsumerScope {
    pub fn contains(&self, flow: &Flow) -> bool {
        let detail = flow.detail();
        detail.stream.as_deref() == Some(self.stream.as_str())
            && detail
                .deliveries
                .iter()
                .any(|d| d.consumer == self.consumer)
    }
}

/// Counts of each kind of flow, for the list's header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounts {
    pub all: usize,
    pub retries: usize,
    pub failed: usize,
    pub slow: usize,
}

impl Correlator {
    /// Which of the list's filters a flow passes.
    fn traits(&self, flow: &Flow, now: Timestamp) -> FlowTraits {
        FlowTraits {
            retries: flow.has_retries(),
            failed: self.final_of(flow, now).is_some_and(Final::is_failure),
            slow: flow.latency().is_some_and(|l| l > self.config.slow_ns),
        }
    }

    pub fn matches(&self, flow: &Flow, filter: FlowFilter, now: Timestamp) -> bool {
        filter.accepts(self.traits(flow, now))
    }

    /// Flows passing a filter and an optional subject pattern.
    pub fn select<'a>(
        &'a self,
        filter: FlowFilter,
        subject: Option<&'a SubjectPattern>,
        now: Timestamp,
    ) -> impl DoubleEndedIterator<Item = &'a Flow> + 'a {
        self.flows()
            .filter(move |f| self.matches(f, filter, now))
            .filter(move |f| subject.is_none_or(|p| p.matches(&f.subject)))
    }

    /// The ids passing a filter and subject pattern, and the counts of each
    /// kind, in one walk over the flows (call a few times a second, not per
    /// frame).
    pub fn select_and_count(
        &self,
        filter: FlowFilter,
        subject: Option<&SubjectPattern>,
        scope: Option<&ConsumerScope>,
        now: Timestamp,
    ) -> (Vec<FlowId>, FlowCounts) {
        let mut counts = FlowCounts::default();
        let mut list = Vec::new();
        for flow in self.flows() {
            if scope.is_some_and(|s| !s.contains(flow)) {
                continue;
            }
            let traits = self.traits(flow, now);
            counts.all += 1;
            counts.retries += usize::from(traits.retries);
            counts.failed += usize::from(traits.failed);
            counts.slow += usize::from(traits.slow);
            if filter.accepts(traits) && subject.is_none_or(|p| p.matches(&flow.subject)) {
                list.push(flow.id);
            }
        }
        (list, counts)
    }
}
