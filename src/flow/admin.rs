//! JetStream management traffic that decides what happens to messages:
//! deleting a message or a consumer, purging a stream, pausing a consumer
//! (each a `$JS.API` request whose answer on the requester's inbox says
//! whether the server did it), and the advisories that say the same without
//! a request (`CONSUMER.DELETED`, `CONSUMER.PAUSE`, `BATCH_ABANDONED`).

use std::collections::VecDeque;

use foldhash::HashMap;
use serde::Deserialize;

use super::correlator::Correlator;
use super::settle::{Removal, RemovalReason};
use super::streams::StreamRemoval;
use crate::capture::file::parse_timestamp;
use crate::capture::{Record, SubjectPattern, Timestamp};

/// A management request waiting for its answer.
#[derive(Clone, Debug)]
pub(super) enum AdminRequest {
    DeleteMessage {
        stream: String,
        seq: u64,
    },
    Purge {
        stream: String,
        filter: Option<String>,
        below_seq: Option<u64>,
        keep: Option<u64>,
    },
    DeleteConsumer {
        stream: String,
        consumer: String,
    },
}

/// Requests by their reply inbox, bounded (answers come within seconds).
#[derive(Default)]
pub(super) struct AdminRequests {
    by_inbox: HashMap<Box<str>, AdminRequest>,
    order: VecDeque<Box<str>>,
}

impl AdminRequests {
    fn keep(&mut self, inbox: &str, request: AdminRequest) {
        const KEPT: usize = 1024;
        if self.order.len() >= KEPT
            && let Some(old) = self.order.pop_front()
        {
            self.by_inbox.remove(&old);
        }
        self.order.push_back(inbox.into());
        self.by_inbox.insert(inbox.into(), request);
    }

    fn take(&mut self, inbox: &str) -> Option<AdminRequest> {
        self.by_inbox.remove(inbox)
    }
}

/// `$JS.API.…` requests that remove messages or consumers.
fn parse_request(subject: &str, payload: &[u8]) -> Option<AdminRequest> {
    #[derive(Deserialize, Default)]
    struct Body {
        #[serde(default)]
        seq: Option<u64>,
        #[serde(default)]
        filter: Option<String>,
        #[serde(default)]
        keep: Option<u64>,
    }
    let body = || -> Body {
        if payload.iter().all(u8::is_ascii_whitespace) {
            Body::default()
        } else {
            serde_json::from_slice(payload).unwrap_or_default()
        }
    };
    let rest = subject.strip_prefix("$JS.API.")?;
    if let Some(stream) = rest.strip_prefix("STREAM.MSG.DELETE.") {
        return Some(AdminRequest::DeleteMessage {
            stream: stream.to_owned(),
            seq: body().seq?,
        });
    }
    if let Some(stream) = rest.strip_prefix("STREAM.PURGE.") {
        let body = body();
        return Some(AdminRequest::Purge {
            stream: stream.to_owned(),
            filter: body.filter.filter(|f| !f.is_empty()),
            below_seq: body.seq.filter(|s| *s > 0),
            keep: body.keep.filter(|k| *k > 0),
        });
    }
    let (stream, consumer) = rest.strip_prefix("CONSUMER.DELETE.")?.split_once('.')?;
    Some(AdminRequest::DeleteConsumer {
        stream: stream.to_owned(),
        consumer: consumer.to_owned(),
    })
}

#[derive(Deserialize)]
struct Success {
    #[serde(default)]
    success: bool,
}

/// `CONSUMER.DELETED`, `CONSUMER.PAUSE` and `STREAM.BATCH_ABANDONED`.
#[derive(Deserialize)]
struct Advisory {
    #[serde(default)]
    stream: String,
    #[serde(default)]
    consumer: String,
    #[serde(default)]
    paused: bool,
    #[serde(default)]
    pause_until: Option<String>,
    #[serde(default)]
    batch: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

impl Correlator {
    /// A management request: remembered until its answer says it was done.
    pub(super) fn on_admin_request(&mut self, record: &Record) {
        if let (Some(reply), Some(request)) = (
            record.reply(),
            parse_request(record.subject(), record.payload()),
        ) {
            self.admin.keep(reply, request);
            // Its answer may have come first.
            for (_, answer) in self.early_replies.take(reply) {
                self.on_admin_answer(&answer);
            }
        }
    }

    /// The answer to a management request seen earlier; false if the
    /// record answers none.
    pub(super) fn on_admin_answer(&mut self, record: &Record) -> bool {
        let Some(request) = self.admin.take(record.subject()) else {
            return false;
        };
        let done = serde_json::from_slice::<Success>(record.payload()).is_ok_and(|s| s.success);
        if !done {
            return true;
        }
        let at = record.received_at;
        match request {
            AdminRequest::DeleteMessage { stream, seq } => {
                self.stream_state(&stream).message_deleted(seq, at)
            }
            AdminRequest::Purge {
                stream,
                filter,
                below_seq,
                keep,
            } => {
                let filter = filter.and_then(|f| SubjectPattern::parse(&f).ok());
                match keep {
                    Some(keep) => self.purge_keeping(&stream, filter.as_ref(), keep, at),
                    None => self.stream_state(&stream).removal(StreamRemoval::Purge {
                        at,
                        filter,
                        below_seq,
                    }),
                }
            }
            AdminRequest::DeleteConsumer { stream, consumer } => {
                self.stream_state(&stream).consumer_deleted(&consumer, at)
            }
        }
        true
    }

    /// A purge that keeps the newest `keep` messages: the messages seen
    /// before it with at least `keep` newer ones beside them are surely
    /// gone; of the others this cannot tell (the stream may hold messages
    /// the capture never saw), so they are left as they are.
    fn purge_keeping(
        &mut self,
        stream: &str,
        filter: Option<&SubjectPattern>,
        keep: u64,
        at: Timestamp,
    ) {
        let mut stored: Vec<(u64, usize)> = self
            .flows
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.detail().stream.as_deref() == Some(stream)
                    && f.started_at <= at
                    && filter.is_none_or(|p| p.matches(f.stored_subject().unwrap_or(&f.subject)))
            })
            .filter_map(|(i, f)| Some((f.detail().stream_seq?, i)))
            .collect();
        stored.sort_unstable();
        let keep = usize::try_from(keep).unwrap_or(usize::MAX);
        let purged = stored.len().saturating_sub(keep);
        for &(_, i) in &stored[..purged] {
            if let Some(flow) = self.flows.get_mut(i) {
                flow.detail_mut()
                    .extras_mut()
                    .removed
                    .get_or_insert(Removal {
                        reason: RemovalReason::Purged,
                        at: Some(at),
                        consumer: None,
                    });
            }
        }
    }

    /// Advisories that change what happens to messages. True if the
    /// record was one.
    pub(super) fn on_stream_advisory(&mut self, record: &Record) -> bool {
        let subject = record.subject();
        let Some(rest) = subject.strip_prefix("$JS.EVENT.ADVISORY.") else {
            return false;
        };
        let kind = if rest.starts_with("CONSUMER.DELETED.") {
            AdvisoryEvent::ConsumerDeleted
        } else if rest.starts_with("CONSUMER.PAUSE.") {
            AdvisoryEvent::Pause
        } else if rest.starts_with("STREAM.BATCH_ABANDONED.") {
            AdvisoryEvent::BatchAbandoned
        } else {
            return false;
        };
        let Ok(advisory) = serde_json::from_slice::<Advisory>(record.payload()) else {
            return true;
        };
        let at = record.received_at;
        match kind {
            AdvisoryEvent::ConsumerDeleted => self
                .stream_state(&advisory.stream)
                .consumer_deleted(&advisory.consumer, at),
            AdvisoryEvent::Pause => {
                let until = advisory
                    .paused
                    .then(|| {
                        advisory
                            .pause_until
                            .as_deref()
                            .and_then(|t| parse_timestamp(t).ok())
                    })
                    .map(|until| until.unwrap_or(i64::MAX));
                self.stream_state(&advisory.stream)
                    .paused(&advisory.consumer, at, until)
            }
            AdvisoryEvent::BatchAbandoned => {
                let reason = advisory.reason.unwrap_or_else(|| "abandoned".into());
                if let Some(batch) = advisory.batch {
                    let error = format!(
                        "atomic batch {batch} abandoned by stream {}: {reason}",
                        advisory.stream
                    );
                    self.batch_failed(&batch, error, at);
                }
            }
        }
        true
    }
}

enum AdvisoryEvent {
    ConsumerDeleted,
    Pause,
    BatchAbandoned,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn management_requests_as_the_clients_send_them() {
        assert!(matches!(
            parse_request("$JS.API.STREAM.MSG.DELETE.D", br#"{"seq":2}"#),
            Some(AdminRequest::DeleteMessage { seq: 2, .. })
        ));
        assert!(matches!(
            parse_request("$JS.API.STREAM.PURGE.D", b""),
            Some(AdminRequest::Purge {
                filter: None,
                below_seq: None,
                keep: None,
                ..
            })
        ));
        assert!(matches!(
            parse_request("$JS.API.STREAM.PURGE.D", br#"{"filter":"d.3","keep":2}"#),
            Some(AdminRequest::Purge { keep: Some(2), .. })
        ));
        assert!(matches!(
            parse_request("$JS.API.CONSUMER.DELETE.D.only", b""),
            Some(AdminRequest::DeleteConsumer { ref consumer, .. }) if consumer == "only"
        ));
        assert!(parse_request("$JS.API.STREAM.INFO.D", b"").is_none());
    }
}
