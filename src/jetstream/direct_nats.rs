//! Batched direct gets through async-nats: for an `Api` without a
//! connection profile (the fetch link needs one). Headers come back grouped
//! by name, as async-nats keeps them in a map.

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

use super::api::{API_TIMEOUT, Api, JsError};
use super::stored::{DIRECT_GET_HEADERS, DirectBatch, StoredMessage};
use crate::capture::HeaderBlock;

/// One batched direct get: replies arrive on an inbox of our own and end
/// with a `204 EOB` status (or `404` when nothing matches).
pub(super) async fn batch(api: &Api, stream: &str, body: &Value) -> Result<DirectBatch, JsError> {
    let subject = api.subject(&format!("DIRECT.GET.{stream}"));
    let send_error = |e: &dyn std::fmt::Display| JsError::Send {
        subject: subject.clone(),
        reason: e.to_string(),
    };
    let inbox = api.client.new_inbox();
    let mut replies = api
        .client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| send_error(&e))?;
    api.client
        .publish_with_reply(subject.clone(), inbox, Bytes::from(body.to_string()))
        .await
        .map_err(|e| send_error(&e))?;
    api.client.flush().await.map_err(|e| send_error(&e))?;
    let mut batch = DirectBatch {
        messages: Vec::new(),
        pending: 0,
    };
    let deadline = tokio::time::Instant::now() + API_TIMEOUT;
    loop {
        let next = tokio::time::timeout_at(deadline, replies.next()).await;
        let message = match next {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(_) => {
                return Err(JsError::Timeout {
                    subject,
                    seconds: API_TIMEOUT.as_secs(),
                });
            }
        };
        if let Some(status) = message.status {
            match status.as_u16() {
                // End of batch; 404: nothing (more) matches.
                204 | 404 => break,
                503 => return Err(JsError::NoResponders { subject }),
                code => {
                    return Err(JsError::Refused {
                        subject,
                        code: u64::from(code),
                        err_code: 0,
                        description: message.description.unwrap_or_default(),
                    });
                }
            }
        }
        let Some(headers) = message.headers else {
            return Err(JsError::BadAnswer {
                subject,
                reason: "a direct get answer without headers".into(),
            });
        };
        let text = |name: &str| headers.get(name).map(|v| v.as_str());
        let seq = text("Nats-Sequence").and_then(|s| s.parse().ok());
        let time = text("Nats-Time-Stamp").and_then(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .ok()?
                .timestamp_nanos_opt()
        });
        let (Some(seq), Some(time), Some(original)) = (seq, time, text("Nats-Subject")) else {
            return Err(JsError::BadAnswer {
                subject,
                reason:
                    "a direct get answer without Nats-Sequence, Nats-Time-Stamp or Nats-Subject"
                        .into(),
            });
        };
        batch.pending = text("Nats-Num-Pending")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let from = text("Nats-Stream").filter(|s| *s != stream);
        batch.messages.push(StoredMessage {
            stream: from.unwrap_or(stream).to_owned(),
            seq,
            subject: original.to_owned(),
            time,
            headers: original_headers(&headers),
            payload: message.payload,
        });
    }
    Ok(batch)
}

/// The message's own headers from a direct get answer. async-nats hands
/// headers over as a map, so names come back grouped (each name's values
/// in their order); `STREAM.MSG.GET` keeps the exact block.
fn original_headers(headers: &async_nats::HeaderMap) -> Option<HeaderBlock> {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(name, _)| !DIRECT_GET_HEADERS.contains(&name.as_ref()))
        .flat_map(|(name, values)| values.iter().map(move |v| (name.as_ref(), v.as_str())))
        .collect();
    (!pairs.is_empty()).then(|| HeaderBlock::build(None, pairs))
}
