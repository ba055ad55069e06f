//! Consumers as the server reports them, what natscli's consumer report
//! shows, and the changes a user can ask for (each one confirmed in the
//! GUI before it is sent).

use serde::Serialize;
use serde_json::{Value, json};

use super::api::{Api, JsError, all_pages, at, check_name, str_at, time_at, u64_at};

/// One consumer, read from the raw `CONSUMER.INFO`/`CONSUMER.LIST` answer.
#[derive(Clone, Debug, Serialize)]
pub struct ConsumerSummary {
    pub stream: String,
    pub name: String,
    pub durable: bool,
    /// Pull consumers have waiting pulls; push ones a deliver subject.
    pub push: bool,
    pub filter_subjects: Vec<String>,
    pub ack_policy: String,
    pub deliver_policy: String,
    /// `-1` (or 0) is unlimited.
    pub max_deliver: i64,
    pub max_ack_pending: i64,
    pub ack_wait_ns: u64,
    /// Messages of the stream this consumer has not been sent yet.
    pub num_pending: u64,
    pub num_ack_pending: u64,
    pub num_redelivered: u64,
    pub num_waiting: u64,
    pub ack_floor_stream_seq: u64,
    pub ack_floor_consumer_seq: u64,
    pub delivered_stream_seq: u64,
    pub delivered_consumer_seq: u64,
    /// RFC 3339 of the last delivery and the last ack, `null` if never.
    pub last_delivery: Option<String>,
    pub last_ack: Option<String>,
    #[serde(skip)]
    pub last_delivery_ns: Option<i64>,
    #[serde(skip)]
    pub last_ack_ns: Option<i64>,
    pub paused: bool,
    pub pause_until: Option<String>,
    #[serde(skip)]
    pub raw: Value,
}

impl ConsumerSummary {
    pub fn from_info(raw: Value) -> Self {
        let config = |key: &str| str_at(&raw, &["config", key]).unwrap_or("").to_owned();
        let mut filter_subjects: Vec<String> = at(&raw, &["config", "filter_subjects"])
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(one) = str_at(&raw, &["config", "filter_subject"]).filter(|s| !s.is_empty()) {
            filter_subjects.push(one.to_owned());
        }
        let signed = |key: &str| {
            at(&raw, &["config", key])
                .and_then(Value::as_i64)
                .unwrap_or(-1)
        };
        let last_delivery_ns = time_at(&raw, &["delivered", "last_active"]);
        let last_ack_ns = time_at(&raw, &["ack_floor", "last_active"]);
        let pause_until = time_at(&raw, &["config", "pause_until"]);
        Self {
            stream: str_at(&raw, &["stream_name"]).unwrap_or("").to_owned(),
            name: str_at(&raw, &["name"]).unwrap_or("").to_owned(),
            durable: str_at(&raw, &["config", "durable_name"]).is_some_and(|d| !d.is_empty()),
            push: str_at(&raw, &["config", "deliver_subject"]).is_some_and(|d| !d.is_empty()),
            filter_subjects,
            ack_policy: config("ack_policy"),
            deliver_policy: config("deliver_policy"),
            max_deliver: signed("max_deliver"),
            max_ack_pending: signed("max_ack_pending"),
            ack_wait_ns: u64_at(&raw, &["config", "ack_wait"]),
            num_pending: u64_at(&raw, &["num_pending"]),
            num_ack_pending: u64_at(&raw, &["num_ack_pending"]),
            num_redelivered: u64_at(&raw, &["num_redelivered"]),
            num_waiting: u64_at(&raw, &["num_waiting"]),
            ack_floor_stream_seq: u64_at(&raw, &["ack_floor", "stream_seq"]),
            ack_floor_consumer_seq: u64_at(&raw, &["ack_floor", "consumer_seq"]),
            delivered_stream_seq: u64_at(&raw, &["delivered", "stream_seq"]),
            delivered_consumer_seq: u64_at(&raw, &["delivered", "consumer_seq"]),
            last_delivery: last_delivery_ns.map(crate::capture::file::format_timestamp),
            last_ack: last_ack_ns.map(crate::capture::file::format_timestamp),
            last_delivery_ns,
            last_ack_ns,
            paused: raw.get("paused").and_then(Value::as_bool).unwrap_or(false),
            pause_until: pause_until.map(crate::capture::file::format_timestamp),
            raw,
        }
    }

    /// Unprocessed messages as a share of the stream's (0 to 1).
    pub fn unprocessed_share(&self, stream_messages: u64) -> f64 {
        if stream_messages == 0 {
            0.0
        } else {
            (self.num_pending as f64 / stream_messages as f64).min(1.0)
        }
    }

    /// What looks wrong, for the report's filter and highlight.
    pub fn health(&self, now: i64, idle_after_ns: i64, pending_above: u64) -> Health {
        Health {
            no_waiting_pulls: !self.push && self.num_waiting == 0,
            near_max_ack_pending: self.max_ack_pending > 0
                && self.num_ack_pending as f64 >= 0.9 * self.max_ack_pending as f64,
            pending_above: self.num_pending > pending_above,
            idle: self
                .last_delivery_ns
                .max(self.last_ack_ns)
                .is_none_or(|t| now - t > idle_after_ns),
        }
    }
}

/// The report's unhealthy flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Health {
    pub no_waiting_pulls: bool,
    pub near_max_ack_pending: bool,
    pub pending_above: bool,
    pub idle: bool,
}

/// Every consumer of a stream.
pub async fn list_consumers(api: &Api, stream: &str) -> Result<Vec<ConsumerSummary>, JsError> {
    check_name(stream)?;
    let items = all_pages(api, &format!("CONSUMER.LIST.{stream}"), "consumers").await?;
    let mut consumers: Vec<ConsumerSummary> =
        items.into_iter().map(ConsumerSummary::from_info).collect();
    consumers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(consumers)
}

pub async fn consumer_info(
    api: &Api,
    stream: &str,
    consumer: &str,
) -> Result<ConsumerSummary, JsError> {
    check_name(stream)?;
    check_name(consumer)?;
    let answer = api
        .request(&format!("CONSUMER.INFO.{stream}.{consumer}"), &Value::Null)
        .await?;
    Ok(ConsumerSummary::from_info(answer))
}

/// Create a consumer, or change one (`update`), from its JSON config.
pub async fn put_consumer(
    api: &Api,
    stream: &str,
    config: Value,
    update: bool,
) -> Result<ConsumerSummary, JsError> {
    check_name(stream)?;
    let name = str_at(&config, &["durable_name"])
        .or_else(|| str_at(&config, &["name"]))
        .ok_or_else(|| JsError::Invalid("a consumer needs a name".into()))?
        .to_owned();
    check_name(&name)?;
    let body = json!({
        "stream_name": stream,
        "config": config,
        "action": if update { "update" } else { "create" },
    });
    let answer = api
        .request(&format!("CONSUMER.CREATE.{stream}.{name}"), &body)
        .await?;
    Ok(ConsumerSummary::from_info(answer))
}

pub async fn delete_consumer(api: &Api, stream: &str, consumer: &str) -> Result<(), JsError> {
    check_name(stream)?;
    check_name(consumer)?;
    api.request(
        &format!("CONSUMER.DELETE.{stream}.{consumer}"),
        &Value::Null,
    )
    .await?;
    Ok(())
}

/// Pause until a time (`Some`), or resume (`None`).
pub async fn pause_consumer(
    api: &Api,
    stream: &str,
    consumer: &str,
    until: Option<i64>,
) -> Result<bool, JsError> {
    check_name(stream)?;
    check_name(consumer)?;
    let body = match until {
        Some(t) => json!({ "pause_until": crate::capture::file::format_timestamp(t) }),
        None => Value::Null,
    };
    let answer = api
        .request(&format!("CONSUMER.PAUSE.{stream}.{consumer}"), &body)
        .await?;
    Ok(answer
        .get("paused")
        .and_then(Value::as_bool)
        .unwrap_or(false))
}

/// What resetting a consumer to a sequence would deliver again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResetPreview {
    pub seq: u64,
    /// Messages its filter takes from `seq` up to what it has delivered:
    /// delivered again.
    pub again: u64,
    /// Stored times of the first and last of them.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Count what a reset to `seq` would deliver again, from the stream
/// (exact with direct get; the stream may change before the reset runs).
pub async fn reset_preview(
    api: &Api,
    consumer: &ConsumerSummary,
    seq: u64,
    allow_direct: bool,
) -> Result<ResetPreview, JsError> {
    use super::messages::{Access, PageRequest, Start, count_from, fetch_page};
    let filters = if consumer.filter_subjects.is_empty() {
        vec![">".to_owned()]
    } else {
        consumer.filter_subjects.clone()
    };
    let delivered = consumer.delivered_stream_seq;
    let mut preview = ResetPreview {
        seq,
        again: 0,
        from: None,
        to: None,
    };
    if seq > delivered {
        return Ok(preview);
    }
    if !allow_direct {
        return Err(JsError::Invalid(
            "a reset preview counts by direct get; this stream does not allow it".into(),
        ));
    }
    for filter in &filters {
        let from = count_from(api, &consumer.stream, seq, filter).await?;
        let after = count_from(api, &consumer.stream, delivered + 1, filter).await?;
        preview.again += from.saturating_sub(after);
        let first = fetch_page(
            api,
            &consumer.stream,
            Access::Direct,
            &PageRequest {
                start: Start::Seq(seq),
                subject: Some(filter.clone()),
                count: 1,
                max_bytes: 1024,
            },
        )
        .await?;
        if let Some(m) = first.messages.first().filter(|m| m.seq <= delivered) {
            preview.from = Some(preview.from.map_or(m.time, |t| t.min(m.time)));
        }
    }
    // The last delivered message's time closes the span.
    let last = fetch_page(
        api,
        &consumer.stream,
        Access::Direct,
        &PageRequest {
            start: Start::Seq(delivered),
            subject: None,
            count: 1,
            max_bytes: 1024,
        },
    )
    .await?;
    preview.to = last
        .messages
        .first()
        .filter(|m| m.seq == delivered)
        .map(|m| m.time);
    Ok(preview)
}

/// Reset a consumer to a sequence: what it delivered from there on is
/// delivered again (nats-server 2.14 and later).
pub async fn reset_consumer(
    api: &Api,
    stream: &str,
    consumer: &str,
    seq: u64,
) -> Result<(), JsError> {
    check_name(stream)?;
    check_name(consumer)?;
    api.request(
        &format!("CONSUMER.RESET.{stream}.{consumer}"),
        &json!({ "seq": seq }),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_fields_and_health_come_from_the_raw_answer() {
        let raw = json!({
            "stream_name": "ORDERS", "name": "worker",
            "config": {"durable_name": "worker", "ack_policy": "explicit", "max_deliver": 5,
                       "max_ack_pending": 10, "filter_subject": "orders.>", "ack_wait": 30_000_000_000u64},
            "delivered": {"consumer_seq": 12, "stream_seq": 40, "last_active": "2026-01-01T00:00:10Z"},
            "ack_floor": {"consumer_seq": 3, "stream_seq": 30, "last_active": "0001-01-01T00:00:00Z"},
            "num_ack_pending": 9, "num_redelivered": 4, "num_waiting": 0, "num_pending": 50
        });
        let c = ConsumerSummary::from_info(raw);
        assert_eq!(c.filter_subjects, ["orders.>"]);
        assert_eq!((c.ack_floor_stream_seq, c.delivered_stream_seq), (30, 40));
        assert_eq!(c.last_ack, None);
        assert!((c.unprocessed_share(100) - 0.5).abs() < 1e-9);
        let now = c.last_delivery_ns.expect("time") + 5_000_000_000;
        let h = c.health(now, 60_000_000_000, 10);
        assert!(h.no_waiting_pulls && h.near_max_ack_pending && h.pending_above && !h.idle);
    }
}
