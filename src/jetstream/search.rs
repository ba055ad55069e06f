//! Searching a stream's payloads and headers over a sequence or time
//! range, not only the page on screen: read page by page without a
//! consumer, within a budget of messages, bytes and time, with progress
//! that the caller watches and a cancel it can pull.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::api::Api;
use super::messages::{
    Access, PageRequest, Start, StoredMessage, fetch_page, scan_direct, seq_at_time,
};
use super::streams::stream_info;

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
    let why = match access {
        Access::Direct => search_direct(api, stream, request, progress).await,
        Access::MsgGet => search_paged(api, stream, request, progress).await,
    };
    progress.end(why);
}

/// Why the search should stop now, if it should.
fn over_budget(
    request: &SearchRequest,
    progress: &SearchProgress,
    started: Instant,
) -> Option<String> {
    if progress.cancelled.load(Ordering::Relaxed) {
        return Some("cancelled".to_owned());
    }
    if started.elapsed() >= request.max_time {
        return Some(format!("time budget of {:?} spent", request.max_time));
    }
    if progress.scanned() >= request.max_messages {
        return Some(format!("message budget of {} spent", request.max_messages));
    }
    if progress.bytes() >= request.max_bytes {
        return Some(format!("byte budget of {} spent", request.max_bytes));
    }
    None
}

/// Look at one message: count it, keep it if it holds the needle.
fn look(
    message: StoredMessage,
    request: &SearchRequest,
    progress: &SearchProgress,
    finder: &memchr::memmem::Finder<'_>,
) {
    progress.scanned.fetch_add(1, Ordering::Relaxed);
    let size = message.payload.len() + message.headers.as_ref().map_or(0, |h| h.as_bytes().len());
    progress.bytes.fetch_add(size as u64, Ordering::Relaxed);
    progress.last_seq.store(message.seq, Ordering::Relaxed);
    if matches(&message, finder) {
        progress.hit_count.fetch_add(1, Ordering::Relaxed);
        let mut hits = progress.hits.lock().unwrap_or_else(|e| e.into_inner());
        if hits.len() < request.max_hits {
            hits.push(message);
        }
    }
}

/// Direct get: windows of sequences read ahead (see `scan_direct`).
async fn search_direct(
    api: &Api,
    stream: &str,
    request: &SearchRequest,
    progress: &SearchProgress,
) -> String {
    let finder = memchr::memmem::Finder::new(request.needle.as_bytes());
    let started = Instant::now();
    let info = match stream_info(api, stream).await {
        Ok(info) => info,
        Err(e) => return e.to_string(),
    };
    let from = match &request.start {
        Start::Seq(seq) => *seq,
        Start::Time(at) => match seq_at_time(api, stream, Access::Direct, *at).await {
            Ok(seq) => seq,
            Err(e) => return e.to_string(),
        },
        Start::LastPerSubject(_) => {
            return "a search runs over a range, not the last of each subject".into();
        }
    };
    let to = request
        .up_to_seq
        .unwrap_or(info.last_seq)
        .min(info.last_seq);
    let filter = request.subject.as_deref().unwrap_or(">");
    let mut stopped = None;
    let result = scan_direct(api, stream, from, to, filter, |message| {
        // Counts are looked at every message; the clock and the cancel
        // every 256 (soon enough, and cheaper).
        let scanned = progress.scanned();
        let due = scanned.is_multiple_of(256)
            || scanned >= request.max_messages
            || progress.bytes() >= request.max_bytes;
        if due && let Some(why) = over_budget(request, progress, started) {
            stopped = Some(why);
            return false;
        }
        look(message, request, progress, &finder);
        true
    })
    .await;
    match (result, stopped) {
        (Err(e), _) => e.to_string(),
        (Ok(()), Some(why)) => why,
        (Ok(()), None) => over_budget(request, progress, started).unwrap_or_else(|| {
            if request.up_to_seq.is_some_and(|end| end < info.last_seq) {
                "end of the range".to_owned()
            } else {
                "end of the stream".to_owned()
            }
        }),
    }
}

/// `STREAM.MSG.GET`, one message after another.
async fn search_paged(
    api: &Api,
    stream: &str,
    request: &SearchRequest,
    progress: &SearchProgress,
) -> String {
    let finder = memchr::memmem::Finder::new(request.needle.as_bytes());
    let started = Instant::now();
    let mut start = request.start.clone();
    loop {
        if let Some(why) = over_budget(request, progress, started) {
            return why;
        }
        let count = (request.max_messages - progress.scanned()).min(SEARCH_PAGE as u64) as usize;
        let page = match fetch_page(
            api,
            stream,
            Access::MsgGet,
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
            Err(e) => return e.to_string(),
        };
        let Some(last) = page.messages.last().map(|m| m.seq) else {
            return "end of the stream".to_owned();
        };
        for message in page.messages {
            if request.up_to_seq.is_some_and(|end| message.seq > end) {
                return "end of the range".to_owned();
            }
            look(message, request, progress, &finder);
        }
        if !page.more {
            return "end of the stream".to_owned();
        }
        start = Start::Seq(last + 1);
    }
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
