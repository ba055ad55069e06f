//! Searching a stream's payloads and headers over a sequence or time
//! range, not only the page on screen: read page by page without a
//! consumer, within a budget of messages, bytes and time, with progress
//! that the caller watches and a cancel it can pull.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::api::Api;
use super::messages::{Access, PageRequest, Start, StoredMessage, fetch_page};

/// What to look for, where, and how much it may cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchRequest {
    pub start: Start,
    /// Stop after this sequence (inclusive).
    pub up_to_seq: Option<u64>,
    /// Only messages on subjects matching this pattern.
    pub subject: Option<String>,
    /// Found in the payload or in a header name or value.
    pub needle: String,
    pub max_messages: u64,
    pub max_bytes: u64,
    pub max_time: Duration,
    /// Hits kept at most (the count goes on).
    pub max_hits: usize,
}

/// Shared between the search and whoever shows it.
#[derive(Debug, Default)]
pub struct SearchProgress {
    scanned: AtomicU64,
    bytes: AtomicU64,
    hit_count: AtomicU64,
    last_seq: AtomicU64,
    cancelled: AtomicBool,
    finished: AtomicBool,
    hits: Mutex<Vec<StoredMessage>>,
    ended: Mutex<Option<String>>,
}

impl SearchProgress {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn scanned(&self) -> u64 {
        self.scanned.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn hit_count(&self) -> u64 {
        self.hit_count.load(Ordering::Relaxed)
    }

    /// The last sequence read (where a search that stopped could go on).
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Relaxed)
    }

    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// The hits so far (at most `max_hits`).
    pub fn hits(&self) -> Vec<StoredMessage> {
        self.hits.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Why it stopped: the end of the range, a budget, a cancel, an error.
    pub fn ended(&self) -> Option<String> {
        self.ended.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn end(&self, why: String) {
        *self.ended.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
        self.finished.store(true, Ordering::Release);
    }
}

/// Messages read per request while searching.
const SEARCH_PAGE: usize = 1000;

/// Whether a message holds the needle in its payload or headers.
pub fn matches(message: &StoredMessage, finder: &memchr::memmem::Finder<'_>) -> bool {
    finder.find(&message.payload).is_some()
        || message
            .headers
            .as_ref()
            .is_some_and(|h| finder.find(h.as_bytes()).is_some())
}

/// Run a search to its end; progress and hits are in `progress`.
pub async fn search(
    api: &Api,
    stream: &str,
    access: Access,
    request: &SearchRequest,
    progress: &SearchProgress,
) {
    let finder = memchr::memmem::Finder::new(request.needle.as_bytes()).into_owned();
    let started = Instant::now();
    let mut start = request.start.clone();
    let why = loop {
        if progress.cancelled.load(Ordering::Relaxed) {
            break "cancelled".to_owned();
        }
        if started.elapsed() >= request.max_time {
            break format!("time budget of {:?} spent", request.max_time);
        }
        let scanned = progress.scanned();
        if scanned >= request.max_messages {
            break format!("message budget of {} spent", request.max_messages);
        }
        if progress.bytes() >= request.max_bytes {
            break format!("byte budget of {} spent", request.max_bytes);
        }
        let count = (request.max_messages - scanned).min(SEARCH_PAGE as u64) as usize;
        let page = match fetch_page(
            api,
            stream,
            access,
            &PageRequest {
                start: start.clone(),
                subject: request.subject.clone(),
                count,
                max_bytes: 8 << 20,
            },
        )
        .await
        {
            Ok(page) => page,
            Err(e) => break e.to_string(),
        };
        let Some(last) = page.messages.last().map(|m| m.seq) else {
            break "end of the stream".to_owned();
        };
        let mut past_end = false;
        for message in page.messages {
            if request.up_to_seq.is_some_and(|end| message.seq > end) {
                past_end = true;
                break;
            }
            progress.scanned.fetch_add(1, Ordering::Relaxed);
            let size =
                message.payload.len() + message.headers.as_ref().map_or(0, |h| h.as_bytes().len());
            progress.bytes.fetch_add(size as u64, Ordering::Relaxed);
            progress.last_seq.store(message.seq, Ordering::Relaxed);
            if matches(&message, &finder) {
                progress.hit_count.fetch_add(1, Ordering::Relaxed);
                let mut hits = progress.hits.lock().unwrap_or_else(|e| e.into_inner());
                if hits.len() < request.max_hits {
                    hits.push(message);
                }
            }
        }
        if past_end {
            break "end of the range".to_owned();
        }
        if !page.more {
            break "end of the stream".to_owned();
        }
        start = Start::Seq(last + 1);
    };
    progress.end(why);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::HeaderBlock;

    #[test]
    fn payloads_and_headers_are_searched() {
        let message = |payload: &str, header: Option<(&str, &str)>| StoredMessage {
            stream: "S".into(),
            seq: 1,
            subject: "s".into(),
            time: 0,
            headers: header.map(|h| HeaderBlock::build(None, [h])),
            payload: bytes::Bytes::from(payload.to_owned()),
        };
        let finder = memchr::memmem::Finder::new("ord-42");
        assert!(matches(&message("{\"id\":\"ord-42\"}", None), &finder));
        assert!(matches(&message("{}", Some(("ce-id", "ord-42"))), &finder));
        assert!(!matches(&message("ord-4", Some(("x", "y"))), &finder));
    }
}
