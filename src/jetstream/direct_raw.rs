//! Batched direct gets over the fetch link (`broker::Fetcher`): the stored
//! header block comes back byte-exact, and a scan keeps several windows of
//! sequences in flight on the one link.

use std::collections::VecDeque;

use serde_json::{Value, json};

use super::api::{API_TIMEOUT, Api, JsError};
use super::stored::{DIRECT_GET_HEADERS, DirectBatch, MAX_PAGE_BYTES, StoredMessage};
use crate::broker::Fetcher;
use crate::capture::{HeaderBlock, Record};

/// One answer of a direct get, read.
enum Read {
    Message(StoredMessage, u64),
    /// `204 EOB` or `404`: the batch is over.
    End,
}

fn read_answer(api: &Api, stream: &str, record: &Record) -> Result<Read, JsError> {
    let subject = || api.subject(&format!("DIRECT.GET.{stream}"));
    let Some(headers) = record.headers() else {
        return Err(JsError::BadAnswer {
            subject: subject(),
            reason: "a direct get answer without headers".into(),
        });
    };
    match headers.status() {
        Some(204 | 404) => return Ok(Read::End),
        Some(503) => return Err(JsError::NoResponders { subject: subject() }),
        Some(code) => {
            return Err(JsError::Refused {
                subject: subject(),
                code: u64::from(code),
                err_code: 0,
                description: headers.status_description().unwrap_or("").to_owned(),
            });
        }
        None => {}
    }
    let seq = headers.get("Nats-Sequence").and_then(|s| s.parse().ok());
    let time = headers.get("Nats-Time-Stamp").and_then(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()?
            .timestamp_nanos_opt()
    });
    let (Some(seq), Some(time), Some(original)) = (seq, time, headers.get("Nats-Subject")) else {
        return Err(JsError::BadAnswer {
            subject: subject(),
            reason: "a direct get answer without Nats-Sequence, Nats-Time-Stamp or Nats-Subject"
                .into(),
        });
    };
    let pending = headers
        .get("Nats-Num-Pending")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let message = StoredMessage {
        stream: headers.get("Nats-Stream").unwrap_or(stream).to_owned(),
        seq,
        subject: original.to_owned(),
        time,
        headers: original_block(headers.as_bytes()),
        payload: record.payload_bytes(),
    };
    Ok(Read::Message(message, pending))
}

/// The message's own header block: the server appends its `Nats-*` lines
/// at the end of the stored block (or makes a block of only those when the
/// message had none), so taking them off the end gives back the stored
/// bytes.
pub(super) fn original_block(raw: &[u8]) -> Option<HeaderBlock> {
    let body = raw.strip_suffix(b"\r\n\r\n")?;
    let mut end = body.len();
    loop {
        let line_start = body[..end]
            .windows(2)
            .rposition(|w| w == b"\r\n")
            .map(|i| i + 2)?;
        let line = &body[line_start..end];
        let ours = DIRECT_GET_HEADERS.iter().any(|name| {
            line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && line[name.len()] == b':'
        });
        if !ours {
            break;
        }
        end = line_start - 2;
    }
    // Only the version line left: the message had no headers.
    if !body[..end].contains(&b'\n') {
        return None;
    }
    let mut block = body[..end].to_vec();
    block.extend_from_slice(b"\r\n\r\n");
    Some(HeaderBlock::from_wire(block))
}

/// One batched direct get on the fetch link.
pub(super) async fn batch(
    api: &Api,
    link: &mut Fetcher,
    stream: &str,
    body: &Value,
) -> Result<DirectBatch, JsError> {
    let subject = api.subject(&format!("DIRECT.GET.{stream}"));
    let id = send(link, &subject, body).await?;
    let mut batch = DirectBatch {
        messages: Vec::new(),
        pending: 0,
    };
    loop {
        let answer = next(link, &subject).await?;
        if answer.request != id {
            continue; // a late answer to an abandoned request
        }
        match read_answer(api, stream, &answer.record)? {
            Read::End => return Ok(batch),
            Read::Message(m, pending) => {
                batch.pending = pending;
                batch.messages.push(m);
            }
        }
    }
}

async fn send(link: &mut Fetcher, subject: &str, body: &Value) -> Result<u64, JsError> {
    link.send(subject, body.to_string().as_bytes())
        .await
        .map_err(|e| JsError::Send {
            subject: subject.to_owned(),
            reason: e.to_string(),
        })
}

async fn next(link: &mut Fetcher, subject: &str) -> Result<crate::broker::FetchAnswer, JsError> {
    link.next(API_TIMEOUT).await.map_err(|e| match e {
        crate::broker::FetchError::TimedOut(_) => JsError::Timeout {
            subject: subject.to_owned(),
            seconds: API_TIMEOUT.as_secs(),
        },
        e => JsError::Send {
            subject: subject.to_owned(),
            reason: e.to_string(),
        },
    })
}

/// A window of sequences being read.
struct Window {
    id: u64,
    end: u64,
    /// How many were asked for in the request now running.
    asked: u64,
    got: u64,
    pending: u64,
    messages: Vec<StoredMessage>,
    done: bool,
}

/// See `messages::scan_direct`: the same windows, several in flight on the
/// one link, handed over in order.
pub(super) async fn scan(
    api: &Api,
    link: &mut Fetcher,
    stream: &str,
    windows: impl Iterator<Item = (u64, u64)>,
    in_flight: usize,
    filter: &str,
    mut each: impl FnMut(StoredMessage) -> bool,
) -> Result<(), JsError> {
    let subject = api.subject(&format!("DIRECT.GET.{stream}"));
    let ask = |start: u64, end: u64| {
        json!({ "seq": start, "next_by_subj": filter, "batch": end - start + 1,
                "max_bytes": MAX_PAGE_BYTES })
    };
    let mut windows = windows.peekable();
    let mut running: VecDeque<Window> = VecDeque::new();
    loop {
        while running.len() < in_flight
            && let Some((start, end)) = windows.next()
        {
            let id = send(link, &subject, &ask(start, end)).await?;
            running.push_back(Window {
                id,
                end,
                asked: end - start + 1,
                got: 0,
                pending: 0,
                messages: Vec::new(),
                done: false,
            });
        }
        // Hand over every finished window at the front, in order.
        while running.front().is_some_and(|w| w.done) {
            let window = running.pop_front().expect("checked");
            for message in window.messages {
                if !each(message) {
                    return Ok(());
                }
            }
        }
        if running.is_empty() {
            if windows.peek().is_none() {
                return Ok(());
            }
            continue;
        }
        let answer = next(link, &subject).await?;
        let Some(window) = running.iter_mut().find(|w| w.id == answer.request) else {
            continue; // a late answer to an abandoned request
        };
        match read_answer(api, stream, &answer.record)? {
            Read::Message(m, pending) => {
                window.got += 1;
                window.pending = pending;
                if m.seq <= window.end {
                    window.messages.push(m);
                }
            }
            Read::End => {
                let last = window.messages.last().map(|m| m.seq);
                let cut_short = window.got < window.asked
                    && window.pending > 0
                    && last.is_some_and(|l| l < window.end);
                if cut_short {
                    // The server's byte cap ended the batch: ask for the rest.
                    let start = last.expect("checked") + 1;
                    window.id = send(link, &subject, &ask(start, window.end)).await?;
                    window.asked = window.end - start + 1;
                    window.got = 0;
                } else {
                    window.done = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_lines_come_off_and_the_stored_block_stays() {
        let stored = b"NATS/1.0\r\nB: 2\r\nA: 1\r\nB: 3\r\n\r\n";
        let mut answer = stored[..stored.len() - 2].to_vec();
        answer.extend_from_slice(
            b"Nats-Stream: S\r\nNats-Subject: s.x\r\nNats-Sequence: 4\r\nNats-Time-Stamp: 2026-11-30T06:00:00Z\r\nNats-Num-Pending: 9\r\nNats-Last-Sequence: 3\r\n\r\n",
        );
        let block = original_block(&answer).expect("a block");
        assert_eq!(block.as_bytes(), stored);
        // A message without headers: only the server's lines.
        let bare = b"NATS/1.0\r\nNats-Stream: S\r\nNats-Subject: s\r\nNats-Sequence: 1\r\nNats-Time-Stamp: 2026-11-30T06:00:00Z\r\n\r\n";
        assert!(original_block(bare).is_none());
    }
}
