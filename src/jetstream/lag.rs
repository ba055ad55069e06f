//! A consumer's figures polled over time into a bounded history: what is
//! left to do, how fast it goes, and how old the oldest unprocessed
//! message is.

use std::collections::VecDeque;

use serde::Serialize;

use super::api::{Api, JsError};
use super::consumers::{ConsumerSummary, consumer_info};
use super::messages::{Access, PageRequest, Start, fetch_page};
use crate::capture::Timestamp;

/// One poll of a consumer.
#[derive(Clone, Debug, Serialize)]
pub struct LagSample {
    /// RFC 3339 of the poll.
    pub at: String,
    #[serde(skip)]
    pub at_ns: Timestamp,
    pub num_pending: u64,
    pub num_ack_pending: u64,
    pub num_redelivered: u64,
    pub num_waiting: u64,
    pub delivered_consumer_seq: u64,
    pub ack_floor_consumer_seq: u64,
    /// Messages delivered and acked per second since the previous poll.
    pub delivered_per_s: Option<f64>,
    pub acked_per_s: Option<f64>,
    /// Seconds since the oldest message not yet acked was stored; `null`
    /// when nothing is left.
    pub oldest_unprocessed_age_s: Option<f64>,
    /// Seconds to finish what is left at the acked rate; `null` when it is
    /// not going down.
    pub time_to_drain_s: Option<f64>,
}

/// The newest samples, at most `capacity`.
#[derive(Clone, Debug)]
pub struct LagHistory {
    samples: VecDeque<LagSample>,
    capacity: usize,
}

impl LagHistory {
    pub fn new(capacity: usize) -> Self {
        Self {
            samples: VecDeque::new(),
            capacity: capacity.max(2),
        }
    }

    pub fn samples(&self) -> &VecDeque<LagSample> {
        &self.samples
    }

    pub fn latest(&self) -> Option<&LagSample> {
        self.samples.back()
    }

    /// Add a poll; rates come from the difference with the previous one.
    pub fn push(
        &mut self,
        info: &ConsumerSummary,
        at: Timestamp,
        oldest_unprocessed: Option<Timestamp>,
    ) -> &LagSample {
        let previous = self.samples.back();
        let rate =
            |now: u64, before: u64, seconds: f64| (now.saturating_sub(before)) as f64 / seconds;
        let (delivered_per_s, acked_per_s) = match previous {
            Some(p) if at > p.at_ns => {
                let seconds = (at - p.at_ns) as f64 / 1e9;
                (
                    Some(rate(
                        info.delivered_consumer_seq,
                        p.delivered_consumer_seq,
                        seconds,
                    )),
                    Some(rate(
                        info.ack_floor_consumer_seq,
                        p.ack_floor_consumer_seq,
                        seconds,
                    )),
                )
            }
            _ => (None, None),
        };
        let left = info.num_pending + info.num_ack_pending;
        let time_to_drain_s = match acked_per_s {
            _ if left == 0 => Some(0.0),
            Some(r) if r > 0.0 => Some(left as f64 / r),
            _ => None,
        };
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(LagSample {
            at: crate::capture::file::format_timestamp(at),
            at_ns: at,
            num_pending: info.num_pending,
            num_ack_pending: info.num_ack_pending,
            num_redelivered: info.num_redelivered,
            num_waiting: info.num_waiting,
            delivered_consumer_seq: info.delivered_consumer_seq,
            ack_floor_consumer_seq: info.ack_floor_consumer_seq,
            delivered_per_s,
            acked_per_s,
            oldest_unprocessed_age_s: oldest_unprocessed.map(|t| (at - t).max(0) as f64 / 1e9),
            time_to_drain_s,
        });
        self.samples.back().expect("just pushed")
    }
}

/// Poll a consumer once: its info, and the stored time of the first
/// message after its ack floor that its filter takes.
pub async fn poll(
    api: &Api,
    stream: &str,
    consumer: &str,
    allow_direct: bool,
) -> Result<(ConsumerSummary, Option<Timestamp>), JsError> {
    let info = consumer_info(api, stream, consumer).await?;
    if info.num_pending + info.num_ack_pending == 0 {
        return Ok((info, None));
    }
    // With several filters, the oldest of their first messages.
    let filters = if info.filter_subjects.is_empty() {
        vec![">".to_owned()]
    } else {
        info.filter_subjects.clone()
    };
    let mut oldest: Option<Timestamp> = None;
    for filter in filters {
        let page = fetch_page(
            api,
            stream,
            Access::of(allow_direct),
            &PageRequest {
                start: Start::Seq(info.ack_floor_stream_seq + 1),
                subject: Some(filter),
                count: 1,
                max_bytes: 1024,
            },
        )
        .await?;
        if let Some(m) = page.messages.first() {
            oldest = Some(oldest.map_or(m.time, |o: Timestamp| o.min(m.time)));
        }
    }
    Ok((info, oldest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pending: u64, ack_pending: u64, delivered: u64, acked: u64) -> ConsumerSummary {
        ConsumerSummary::from_info(serde_json::json!({
            "num_pending": pending, "num_ack_pending": ack_pending,
            "delivered": {"consumer_seq": delivered}, "ack_floor": {"consumer_seq": acked},
        }))
    }

    #[test]
    fn rates_and_drain_time_come_from_consecutive_polls() {
        let mut h = LagHistory::new(3);
        let s = h.push(&info(100, 10, 0, 0), 0, Some(-5_000_000_000));
        assert_eq!((s.acked_per_s, s.time_to_drain_s), (None, None));
        assert_eq!(s.oldest_unprocessed_age_s, Some(5.0));
        let s = h.push(&info(80, 10, 20, 10), 2_000_000_000, None);
        assert_eq!((s.delivered_per_s, s.acked_per_s), (Some(10.0), Some(5.0)));
        assert_eq!(s.time_to_drain_s, Some(18.0));
        h.push(&info(0, 0, 20, 20), 3_000_000_000, None);
        let s = h.push(&info(0, 0, 20, 20), 4_000_000_000, None);
        assert_eq!(s.time_to_drain_s, Some(0.0));
        assert_eq!(h.samples().len(), 3, "bounded");
    }
}
