//! Object store objects: thousands of chunks (`$O.<bucket>.C.<nuid>`) and
//! their metadata (`$O.<bucket>.M.<name>`) made into one flow per object.

use super::correlator::Correlator;
use super::model::{Flow, FlowId, FlowKind, ObjectPut, Role, StepKind, UNKNOWN_PRODUCER};
use crate::capture::{Record, Seq, Timestamp};

impl Correlator {
    /// A chunk's PubAck (or error), counted in its object's flow.
    pub(super) fn on_object_answer(
        &mut self,
        id: FlowId,
        seq: Seq,
        at: Timestamp,
        stored: bool,
        error: Option<String>,
    ) {
        if let Some(flow) = self.get_mut(id) {
            object_answer(flow, seq, at, stored, error);
        }
    }

    /// The flow of an object store object, made at its first chunk.
    pub(super) fn object_flow(&mut self, bucket: &str, nuid: &str, at: Timestamp) -> FlowId {
        let key = (bucket.to_owned(), nuid.to_owned());
        if let Some(&id) = self.objects.get(&key)
            && self.get(id).is_some()
        {
            return id;
        }
        let mut flow = Flow::new(
            self.next_id(),
            FlowKind::Object,
            &format!("$O.{bucket}.C.{nuid}"),
            at,
        );
        flow.detail_mut().stream = Some(format!("OBJ_{bucket}"));
        flow.detail_mut().extras_mut().object = Some(ObjectPut {
            bucket: bucket.to_owned(),
            nuid: nuid.to_owned(),
            ..Default::default()
        });
        let id = self.push(flow);
        self.objects.insert(key, id);
        id
    }

    /// One chunk of an object: counted in its object's flow, not a flow of
    /// its own (an object is thousands of chunks).
    pub(super) fn on_object_chunk(&mut self, seq: Seq, record: &Record, bucket: &str, nuid: &str) {
        let at = record.received_at;
        let id = self.object_flow(bucket, nuid, at);
        if let Some(reply) = record.reply() {
            self.by_reply.insert(reply.into(), id);
        }
        let producer = self.header_value(record, &self.config.producer_headers);
        let Some(flow) = self.get_mut(id) else {
            return;
        };
        if flow.producer.is_none() {
            flow.producer = producer;
        }
        let Some(object) = flow.detail_mut().extras_mut().object.as_mut() else {
            return;
        };
        object.chunks += 1;
        object.bytes += record.payload().len() as u64;
        let label = format!("put {} chunks ({} bytes)", object.chunks, object.bytes);
        match flow
            .detail_mut()
            .steps
            .iter_mut()
            .find(|s| s.kind == StepKind::Publish)
        {
            Some(step) => step.label = label,
            None => {
                flow.first_record = Some(seq);
                let producer = flow
                    .producer
                    .clone()
                    .unwrap_or_else(|| UNKNOWN_PRODUCER.into());
                let from = flow.lane(&producer, Role::Producer);
                let to = flow.stream_lane();
                flow.step(at, Some(seq), StepKind::Publish, from, to, label);
            }
        }
        flow.updated_at = flow.updated_at.max(at);
    }

    /// An object's metadata (`$O.<bucket>.M.<name>`, JSON with its name
    /// and nuid) names the object of those chunks. False if it is not one.
    pub(super) fn on_object_meta(&mut self, record: &Record) -> bool {
        #[derive(serde::Deserialize)]
        struct Meta {
            name: String,
            nuid: String,
        }
        let Some(bucket) = record
            .subject()
            .strip_prefix("$O.")
            .and_then(|rest| rest.split_once(".M."))
            .map(|(bucket, _)| bucket)
        else {
            return false;
        };
        let Ok(meta) = serde_json::from_slice::<Meta>(record.payload()) else {
            return false;
        };
        let Some(&id) = self.objects.get(&(bucket.to_owned(), meta.nuid)) else {
            return false;
        };
        let Some(flow) = self.get_mut(id) else {
            return false;
        };
        if let Some(object) = flow.detail_mut().extras_mut().object.as_mut() {
            object.name = Some(meta.name);
        }
        true
    }
}

/// A chunk's PubAck (or error) counted in its object's flow.
fn object_answer(flow: &mut Flow, seq: Seq, at: Timestamp, stored: bool, error: Option<String>) {
    let Some(object) = flow.detail_mut().extras_mut().object.as_mut() else {
        return;
    };
    if stored {
        object.stored += 1;
    }
    let label = format!("stored {} of {} chunks", object.stored, object.chunks);
    if let Some(error) = error {
        flow.detail_mut().publish_error = Some(error);
    }
    match flow
        .detail_mut()
        .steps
        .iter_mut()
        .find(|s| matches!(s.kind, StepKind::PubAck { .. }))
    {
        Some(step) => step.label = label,
        None => {
            let stream = flow.stream_lane();
            let producer = flow
                .detail()
                .lanes
                .iter()
                .position(|l| l.role == Role::Producer)
                .unwrap_or(0);
            flow.step(
                at,
                Some(seq),
                StepKind::PubAck { duplicate: false },
                stream,
                producer,
                label,
            );
        }
    }
    flow.updated_at = flow.updated_at.max(at);
}
