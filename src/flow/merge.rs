//! Flows that turn out to be one: a flow begun at the stream folded into
//! its publish's flow when the PubAck comes after its deliveries, and a
//! duplicate JetStream publish folded into its original.

use super::correlator::Correlator;
use super::model::{FlowId, Role, Step, StepKind, UNKNOWN_PRODUCER};

impl Correlator {
    /// A flow begun by a delivery or an answer, its publish not (yet) seen.
    pub(super) fn started_at_stream(&self, id: FlowId) -> bool {
        self.get(id).is_some_and(|f| {
            f.kind.is_stored()
                && f.detail().request_at.is_none()
                && !f.detail().steps.iter().any(|s| {
                    matches!(
                        s.kind,
                        StepKind::Publish | StepKind::Request | StepKind::PubAck { .. }
                    )
                })
        })
    }

    /// Fold a flow begun at the stream into the flow of its publish, seen
    /// after it: the same flow as when the publish came first.
    pub(super) fn absorb(&mut self, into: FlowId, early: FlowId) {
        let Some(from) = self.get_mut(early) else {
            return;
        };
        from.detail_mut().merged_into = Some(into);
        let detail = from.detail().clone();
        let Some(to) = self.get_mut(into) else {
            return;
        };
        let lanes: Vec<usize> = detail
            .lanes
            .iter()
            .map(|l| to.lane(&l.name, l.role))
            .collect();
        let lane = |i: usize| lanes.get(i).copied().unwrap_or(0);
        for step in detail.steps {
            to.step(
                step.at,
                step.record,
                step.kind,
                lane(step.from),
                lane(step.to),
                step.label,
            );
        }
        to.detail_mut().steps.sort_by_key(|s| s.at);
        let rules = super::rules::rules_for(to.broker);
        for delivery in detail.deliveries {
            let known = to
                .detail_mut()
                .deliveries
                .iter_mut()
                .find(|d| d.consumer == delivery.consumer && d.count == delivery.count);
            match known {
                Some(known) => rules.merge(known, delivery),
                None => {
                    to.detail_mut().add_delivery(delivery);
                }
            }
        }
        for consumer in detail.max_deliveries {
            if !to.detail().max_deliveries.contains(&consumer) {
                to.detail_mut().max_deliveries.push(consumer);
            }
        }
    }

    /// Fold a duplicate JetStream publish into the flow of the original.
    pub(super) fn merge_duplicate(&mut self, duplicate: FlowId, original: FlowId) {
        let Some(dup) = self.get_mut(duplicate) else {
            return;
        };
        dup.detail_mut().merged_into = Some(original);
        let steps: Vec<Step> = dup.detail().steps.clone();
        let producer = dup.producer.clone();
        let already_linked = dup.duplicate_of == Some(original);
        let Some(orig) = self.get_mut(original) else {
            return;
        };
        if !already_linked {
            orig.duplicates += 1;
        }
        let producer_lane = orig.lane(
            producer.as_deref().unwrap_or(UNKNOWN_PRODUCER),
            Role::Producer,
        );
        let stream_lane = orig.stream_lane();
        for step in steps {
            let (kind, from, to, label) = match step.kind {
                StepKind::Publish | StepKind::Request => (
                    StepKind::DuplicatePublish,
                    producer_lane,
                    stream_lane,
                    format!("publish again (same {})", "message id"),
                ),
                other => (other, stream_lane, producer_lane, step.label),
            };
            orig.step(step.at, step.record, kind, from, to, label);
        }
        orig.detail_mut().steps.sort_by_key(|s| s.at);
    }
}
