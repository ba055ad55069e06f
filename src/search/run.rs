//! A search running on a thread of its own. The store stays with the UI
//! thread: each frame hands the worker the next slice of records (clones
//! that share the store's blocks), never waiting for it (a full channel
//! waits for the next frame); results come back through shared state the
//! view reads. Cancelling stops the worker at its next record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};

use super::Query;
use crate::capture::{Record, Seq, Store};
use crate::decode::Schemas;

/// Matches kept to show (all are counted).
pub const MATCHES_KEPT: usize = 100_000;

/// What a search found so far.
#[derive(Debug, Default)]
pub struct SearchProgress {
    pub scanned: u64,
    pub found: u64,
    /// The first `MATCHES_KEPT` matches, oldest first.
    pub matches: Vec<Seq>,
    pub by_subject: HashMap<String, u64>,
    pub done: bool,
    pub cancelled: bool,
}

impl SearchProgress {
    /// Subjects by matches, most first.
    pub fn subjects(&self) -> Vec<(&str, u64)> {
        let mut counts: Vec<(&str, u64)> = self
            .by_subject
            .iter()
            .map(|(s, n)| (s.as_str(), *n))
            .collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        counts
    }
}

pub struct SearchRun {
    slices: Option<SyncSender<Vec<(Seq, Record)>>>,
    progress: Arc<Mutex<SearchProgress>>,
    cancel: Arc<AtomicBool>,
    next: Seq,
    end: Seq,
    /// Records the search covers (what was retained when it started).
    pub total: u64,
}

impl SearchRun {
    /// Search the records `store` retains now (newer ones are not
    /// searched: the results stay put while traffic flows).
    pub fn start(query: Query, schemas: Arc<Schemas>, store: &Store) -> std::io::Result<Self> {
        let (slices, inbox) = sync_channel::<Vec<(Seq, Record)>>(2);
        let progress = Arc::new(Mutex::new(SearchProgress::default()));
        let cancel = Arc::new(AtomicBool::new(false));
        let (shared, stop) = (progress.clone(), cancel.clone());
        std::thread::Builder::new()
            .name("eventscope-search".into())
            .spawn(move || {
                for slice in inbox {
                    let mut found = Vec::new();
                    for (seq, record) in &slice {
                        if stop.load(Ordering::Relaxed) {
                            lock(&shared).cancelled = true;
                            return;
                        }
                        if query.matches(record, &schemas) {
                            found.push((*seq, record.subject().to_owned()));
                        }
                    }
                    let mut p = lock(&shared);
                    p.scanned += slice.len() as u64;
                    p.found += found.len() as u64;
                    for (seq, subject) in found {
                        if p.matches.len() < MATCHES_KEPT {
                            p.matches.push(seq);
                        }
                        *p.by_subject.entry(subject).or_default() += 1;
                    }
                }
                lock(&shared).done = true;
            })?;
        let (next, end) = (store.first_seq(), store.end_seq());
        Ok(SearchRun {
            slices: Some(slices),
            progress,
            cancel,
            next,
            end,
            total: end - next,
        })
    }

    /// Hand the worker up to `max` more records, if it has room; once all
    /// are handed over, let it finish.
    pub fn feed(&mut self, store: &Store, max: usize) {
        let Some(slices) = &self.slices else {
            return;
        };
        // Evicted before it was searched: skipped, and no longer counted.
        if self.next < store.first_seq() {
            self.total -= store.first_seq() - self.next;
            self.next = store.first_seq();
        }
        let until = self.end.min(self.next.saturating_add(max as Seq));
        if self.next < until {
            let slice: Vec<(Seq, Record)> = (self.next..until)
                .filter_map(|seq| store.get(seq).map(|r| (seq, r.clone())))
                .collect();
            match slices.try_send(slice) {
                Ok(()) => self.next = until,
                Err(TrySendError::Full(_)) => return,
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
        if self.next >= self.end {
            self.slices = None;
        }
    }

    pub fn cancel(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.slices = None;
    }

    pub fn progress(&self) -> MutexGuard<'_, SearchProgress> {
        lock(&self.progress)
    }

    pub fn is_running(&self) -> bool {
        let p = self.progress();
        !p.done && !p.cancelled
    }
}

impl Drop for SearchRun {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

fn lock(progress: &Mutex<SearchProgress>) -> MutexGuard<'_, SearchProgress> {
    progress.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::QueryInput;

    #[test]
    fn a_search_runs_beside_the_store_and_can_be_cancelled() {
        let mut store = Store::new(1 << 30);
        for i in 0..5_000u64 {
            let payload = format!(r#"{{"data":{{"n":{i}}}}}"#);
            store.push(Record::new(
                0,
                0,
                &format!("s.{}", i % 3),
                None,
                None,
                payload.as_bytes(),
            ));
        }
        let query = QueryInput {
            json: ".data.n >= 4990".into(),
            ..Default::default()
        }
        .parse(0)
        .expect("valid");
        let mut run = SearchRun::start(query, Arc::default(), &store).expect("thread");
        while run.is_running() {
            run.feed(&store, 700);
            std::thread::yield_now();
        }
        let progress = run.progress();
        assert_eq!((progress.scanned, progress.found), (5_000, 10));
        assert_eq!(progress.matches.first(), Some(&4_990));
        assert_eq!(progress.subjects()[0].1, 4);
        drop(progress);
        let mut slow = SearchRun::start(
            QueryInput::default().parse(0).expect("valid"),
            Arc::default(),
            &store,
        )
        .expect("thread");
        slow.feed(&store, 10);
        slow.cancel();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!slow.is_running(), "stopped");
    }
}
