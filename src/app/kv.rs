//! The KV view's work: bucket, key and object requests on the background
//! runtime with the connection's async-nats client; answers and watch
//! entries come back on channels drained each frame. A watch's channel is
//! bounded: what the view cannot take is counted, never kept unbounded.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use super::EventscopeApp;
use crate::capture::ConnectionKey;
use crate::kv::{
    self, BucketSummary, KeyEvent, KeyFilter, KeyList, KeyRevision, ObjectBucket, ObjectRow,
};
use crate::ui::{KvAction, KvView, ObjectAction, View, WATCH_KEEP};

enum KvAnswer {
    Buckets(Result<Vec<BucketSummary>, String>),
    Keys(String, Result<KeyList, String>),
    /// A key's latest value and its history.
    Key(
        String,
        Result<KeyRevision, String>,
        Result<Vec<KeyRevision>, String>,
    ),
    /// A change was made (or refused): (what happened, the key to show).
    Changed(String, Option<String>),
    WatchEnded(Option<String>),
    ObjectBuckets(Result<Vec<ObjectBucket>, String>),
    Objects(String, Result<Vec<ObjectRow>, String>),
    ObjectWatchEnded(Option<String>),
    Notice(String),
}

/// A running watch: its task, its entries, and what did not fit.
struct Watching<T> {
    task: tokio::task::JoinHandle<()>,
    entries: mpsc::Receiver<T>,
    not_kept: Arc<AtomicU64>,
}

impl<T> Watching<T> {
    /// What came since the last frame, and what did not fit on the way.
    fn drain_into(&self, feed: &mut crate::ui::Bounded<T>) {
        feed.extend(self.entries.try_iter());
        feed.not_kept += self.not_kept.swap(0, Ordering::Relaxed);
    }
}

impl<T> Drop for Watching<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How often the bucket lists are fetched again while the view is shown.
const BUCKETS_EVERY: f64 = 5.0;

pub(super) struct KvWork {
    pub view: KvView,
    last_buckets: f64,
    answers: (mpsc::Sender<KvAnswer>, mpsc::Receiver<KvAnswer>),
    asked_of: Option<ConnectionKey>,
    watch: Option<Watching<KeyEvent>>,
    object_watch: Option<Watching<ObjectRow>>,
}

impl Default for KvWork {
    fn default() -> Self {
        Self {
            view: KvView::default(),
            last_buckets: f64::NEG_INFINITY,
            answers: mpsc::channel(),
            asked_of: None,
            watch: None,
            object_watch: None,
        }
    }
}

fn text<T>(r: Result<T, kv::KvError>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

impl EventscopeApp {
    /// Run `work` with the chosen connection's client; its answer comes
    /// back to `kv_step`.
    fn kv_spawn<F, Fut>(&self, work: F)
    where
        F: FnOnce(async_nats::Client) -> Fut + Send + 'static,
        Fut: Future<Output = KvAnswer> + Send,
    {
        self.spawn_on(
            self.jetstream_connection(),
            &self.kv.answers.0,
            |e| KvAnswer::Notice(format!("KV: {e}")),
            work,
        );
    }

    /// Each frame: the first bucket lists once a connection is up, the
    /// answers and watch entries that came.
    pub(super) fn kv_step(&mut self, ctx: &egui::Context) {
        let key = self.jetstream_connection();
        let time = ctx.input(|i| i.time);
        if self.view == View::Kv && key.is_some() {
            // The bucket lists again every few seconds while shown: buckets
            // come and go.
            if key != self.kv.asked_of || time - self.kv.last_buckets >= BUCKETS_EVERY {
                self.kv.asked_of = key;
                self.kv.last_buckets = time;
                if !self.kv.view.buckets.loading {
                    self.on_kv_action(KvAction::RefreshBuckets, ctx);
                }
                if !self.kv.view.objects.buckets.loading {
                    self.on_kv_action(KvAction::Objects(ObjectAction::RefreshBuckets), ctx);
                }
            }
            ctx.request_repaint_after(std::time::Duration::from_secs_f64(BUCKETS_EVERY));
        }
        while let Ok(answer) = self.kv.answers.1.try_recv() {
            self.on_kv_answer(answer, ctx);
        }
        let view = &mut self.kv.view;
        if let Some(w) = &self.kv.watch {
            w.drain_into(&mut view.watch.events);
        }
        if let Some(w) = &self.kv.object_watch {
            w.drain_into(&mut view.objects.events);
        }
    }

    pub(super) fn on_kv_actions(&mut self, actions: Vec<KvAction>, ctx: &egui::Context) {
        for action in actions {
            self.on_kv_action(action, ctx);
        }
    }

    fn on_kv_action(&mut self, action: KvAction, ctx: &egui::Context) {
        let bucket = self.kv.view.bucket.clone();
        match action {
            KvAction::RefreshBuckets => {
                self.kv.view.buckets.loading = true;
                self.kv_spawn(|client| async move {
                    KvAnswer::Buckets(text(kv::list_buckets(&client).await))
                });
            }
            KvAction::OpenBucket(name) => {
                if bucket.as_deref() != Some(&name) {
                    self.kv.watch = None;
                    self.kv.view.watch.running = false;
                    self.kv.view.key = Default::default();
                }
                self.kv.view.bucket = Some(name.clone());
                self.kv.view.keys.loading = true;
                self.kv_spawn(|client| async move {
                    let keys = async {
                        let store = kv::open_bucket(&client, &name).await?;
                        kv::list_keys(&client, &store, &KeyFilter::default()).await
                    };
                    let keys = text(keys.await);
                    KvAnswer::Keys(name, keys)
                });
            }
            KvAction::OpenKey(key) => {
                let Some(bucket) = bucket else { return };
                self.kv.view.key.open(key.clone());
                self.kv_spawn(|client| async move {
                    match kv::open_bucket(&client, &bucket).await {
                        Ok(store) => KvAnswer::Key(
                            key.clone(),
                            text(kv::get_key(&store, &key, None).await),
                            text(kv::history(&store, &key).await),
                        ),
                        Err(e) => KvAnswer::Key(key, Err(e.to_string()), Err(e.to_string())),
                    }
                });
            }
            KvAction::Put { key, value } => {
                self.kv_change(bucket, key.clone(), move |store| async move {
                    let revision = kv::put_key(&store, &key, value.into()).await?;
                    Ok(format!("'{key}' stored as revision {revision}"))
                })
            }
            KvAction::Delete(key) => self.kv_change(bucket, key.clone(), move |store| async move {
                kv::delete_key(&store, &key).await?;
                Ok(format!("'{key}' deleted (its history stays)"))
            }),
            KvAction::Purge(key) => self.kv_change(bucket, key.clone(), move |store| async move {
                kv::purge_key(&store, &key).await?;
                Ok(format!("'{key}' purged"))
            }),
            KvAction::Revert {
                key,
                revision,
                seen,
            } => self.kv_change(bucket, key.clone(), move |store| async move {
                Ok(match kv::revert(&store, &key, revision, seen).await? {
                    Some(new) => {
                        format!("'{key}' reverted to revision {revision}'s value as revision {new}")
                    }
                    None => format!("'{key}' deleted again (revision {revision} was a delete)"),
                })
            }),
            KvAction::StartWatch { pattern, mode } => {
                let Some(bucket) = bucket else { return };
                self.kv.view.watch.running = true;
                let watch =
                    self.spawn_watch(ctx, KvAnswer::WatchEnded, move |client, sink| async move {
                        let store = kv::open_bucket(&client, &bucket)
                            .await
                            .map_err(|e| e.to_string())?;
                        let mut watch = kv::watch_keys(&store, &pattern, mode)
                            .await
                            .map_err(|e| e.to_string())?;
                        loop {
                            sink.offer(watch.next().await.map_err(|e| e.to_string())?)?;
                        }
                    });
                self.kv.watch = Some(watch);
            }
            KvAction::StopWatch => {
                self.kv.watch = None;
                self.kv.view.watch.running = false;
            }
            KvAction::Objects(action) => self.on_object_action(action, ctx),
        }
    }
}

impl EventscopeApp {
    /// A change to the chosen bucket, then its keys and the key fetched
    /// again so the view shows what the server now holds.
    fn kv_change<F, Fut>(&self, bucket: Option<String>, key: String, change: F)
    where
        F: FnOnce(async_nats::jetstream::kv::Store) -> Fut + Send + 'static,
        Fut: Future<Output = Result<String, kv::KvError>> + Send,
    {
        let Some(bucket) = bucket else { return };
        self.kv_spawn(|client| async move {
            let done = async {
                let store = kv::open_bucket(&client, &bucket).await?;
                change(store).await
            };
            match done.await {
                Ok(said) => KvAnswer::Changed(said, Some(key)),
                Err(e) => KvAnswer::Changed(e.to_string(), None),
            }
        });
    }

    /// Run a watch on the background runtime: `run` gets the client and
    /// a sink for its entries, and ends only with why it stopped.
    fn spawn_watch<T, F, Fut>(
        &self,
        ctx: &egui::Context,
        ended: fn(Option<String>) -> KvAnswer,
        run: F,
    ) -> Watching<T>
    where
        T: Send + 'static,
        F: FnOnce(async_nats::Client, Sink<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send,
    {
        let (tx, entries) = mpsc::sync_channel(WATCH_KEEP);
        let not_kept = Arc::new(AtomicU64::new(0));
        let sink = Sink {
            tx,
            not_kept: not_kept.clone(),
            ctx: ctx.clone(),
        };
        let answers = self.kv.answers.0.clone();
        let client = self
            .jetstream_connection()
            .map(|k| self.session.nats_client(k));
        let task = self.session.spawn(async move {
            let watched = async {
                let client = client
                    .ok_or("no connection is up")?
                    .await
                    .map_err(|e| e.to_string())?;
                run(client, sink).await
            };
            let _ = answers.send(ended(watched.await.err()));
        });
        Watching {
            task,
            entries,
            not_kept,
        }
    }

    fn on_object_action(&mut self, action: ObjectAction, ctx: &egui::Context) {
        let bucket = self.kv.view.objects.bucket.clone();
        match action {
            ObjectAction::RefreshBuckets => {
                self.kv.view.objects.buckets.loading = true;
                self.kv_spawn(|client| async move {
                    KvAnswer::ObjectBuckets(text(kv::list_object_buckets(&client).await))
                });
            }
            ObjectAction::OpenBucket(name) => {
                if bucket.as_deref() != Some(&name) {
                    self.kv.object_watch = None;
                    self.kv.view.objects.watch_running = false;
                    self.kv.view.objects.selected = None;
                }
                self.kv.view.objects.bucket = Some(name.clone());
                self.kv.view.objects.objects.loading = true;
                self.kv_spawn(|client| async move {
                    let rows = async {
                        let store = kv::open_object_store(&client, &name).await?;
                        kv::list_objects(&store).await
                    };
                    let rows = text(rows.await);
                    KvAnswer::Objects(name, rows)
                });
            }
            ObjectAction::Download(name) => {
                let Some(bucket) = bucket else { return };
                let path = self.pick_save_path(&name);
                self.kv_spawn(|client| async move {
                    let Ok(Some(path)) = path.await else {
                        return KvAnswer::Notice("Download cancelled".into());
                    };
                    let done = async {
                        let store = kv::open_object_store(&client, &bucket).await?;
                        kv::download_object(&store, &name, &path).await
                    };
                    KvAnswer::Notice(match done.await {
                        Ok(bytes) => {
                            format!("'{name}' downloaded: {bytes} bytes to {}", path.display())
                        }
                        Err(e) => e.to_string(),
                    })
                });
            }
            ObjectAction::Upload => {
                let Some(bucket) = bucket else { return };
                let path = self.pick_open_path();
                self.kv_spawn(|client| async move {
                    let Ok(Some(path)) = path.await else {
                        return KvAnswer::Notice("Upload cancelled".into());
                    };
                    upload(&client, &bucket, path).await
                });
            }
            ObjectAction::StartWatch { initial } => {
                let Some(bucket) = bucket else { return };
                self.kv.view.objects.watch_running = true;
                let watch = self.spawn_watch(
                    ctx,
                    KvAnswer::ObjectWatchEnded,
                    move |client, sink| async move {
                        let store = kv::open_object_store(&client, &bucket)
                            .await
                            .map_err(|e| e.to_string())?;
                        let mut watch = kv::watch_objects(&store, initial)
                            .await
                            .map_err(|e| e.to_string())?;
                        loop {
                            sink.offer(watch.next().await.map_err(|e| e.to_string())?)?;
                        }
                    },
                );
                self.kv.object_watch = Some(watch);
            }
            ObjectAction::StopWatch => {
                self.kv.object_watch = None;
                self.kv.view.objects.watch_running = false;
            }
        }
    }

    fn on_kv_answer(&mut self, answer: KvAnswer, ctx: &egui::Context) {
        let view = &mut self.kv.view;
        match answer {
            KvAnswer::Buckets(r) => view.buckets.answer(r),
            KvAnswer::Keys(bucket, r) => {
                if view.bucket.as_deref() == Some(&bucket) {
                    view.set_keys(r);
                }
            }
            KvAnswer::Key(key, value, history) => {
                if view.key.key.as_deref() == Some(&key) {
                    view.key.value.answer(value);
                    view.key.set_history(history);
                }
            }
            KvAnswer::Changed(said, key) => {
                view.notice = Some(said);
                if let Some(bucket) = view.bucket.clone() {
                    self.on_kv_action(KvAction::OpenBucket(bucket), ctx);
                }
                if let Some(key) = key {
                    self.on_kv_action(KvAction::OpenKey(key), ctx);
                }
            }
            KvAnswer::WatchEnded(why) => {
                view.watch.running = false;
                view.watch.error = why.map(|e| format!("The watch ended: {e}"));
                self.kv.watch = None;
            }
            KvAnswer::ObjectBuckets(r) => view.objects.buckets.answer(r),
            KvAnswer::Objects(bucket, r) => {
                if view.objects.bucket.as_deref() == Some(&bucket) {
                    view.objects.objects.answer(r);
                }
            }
            KvAnswer::ObjectWatchEnded(why) => {
                view.objects.watch_running = false;
                view.objects.watch_error = why.map(|e| format!("The watch ended: {e}"));
                self.kv.object_watch = None;
            }
            KvAnswer::Notice(said) => {
                let refresh = said.starts_with("Uploaded");
                view.notice = Some(said);
                if refresh && let Some(bucket) = view.objects.bucket.clone() {
                    self.on_object_action(ObjectAction::OpenBucket(bucket), ctx);
                }
            }
        }
    }
}

/// Where a watch hands its entries: a bounded channel to the view.
struct Sink<T> {
    tx: mpsc::SyncSender<T>,
    not_kept: Arc<AtomicU64>,
    ctx: egui::Context,
}

impl<T> Sink<T> {
    /// Hand an entry to the view without ever blocking the watch: what
    /// does not fit is counted. `Err` once the view is gone.
    fn offer(&self, entry: T) -> Result<(), String> {
        match self.tx.try_send(entry) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => {
                self.not_kept.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err("the view is gone".into()),
        }
        self.ctx.request_repaint();
        Ok(())
    }
}

/// Store the file at `path` under its file name.
async fn upload(client: &async_nats::Client, bucket: &str, path: PathBuf) -> KvAnswer {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload".into());
    let done = async {
        let store = kv::open_object_store(client, bucket).await?;
        kv::upload_object(&store, &path, &name).await
    };
    KvAnswer::Notice(match done.await {
        Ok(row) => format!(
            "Uploaded '{}': {} bytes in {} chunks",
            row.name, row.size, row.chunks
        ),
        Err(e) => e.to_string(),
    })
}

impl EventscopeApp {
    /// Screenshot mode on the KV view: open the bucket, then the key, and
    /// wait until its history diff can be drawn.
    pub(super) fn drive_kv_screenshot(&mut self, ctx: &egui::Context) {
        if self.view != View::Kv {
            return;
        }
        let Some(shot) = self.screenshot.as_ref().and_then(|p| p.kv.clone()) else {
            return;
        };
        let view = &self.kv.view;
        let has_bucket = view
            .buckets
            .value
            .as_ref()
            .is_some_and(|b| b.iter().any(|b| b.name == shot.bucket));
        let waiting = if !has_bucket {
            true
        } else if view.bucket.as_deref() != Some(&shot.bucket) {
            self.on_kv_action(KvAction::OpenBucket(shot.bucket.clone()), ctx);
            true
        } else if let Some(key) = shot.key {
            let keys = view.keys.value.as_ref();
            if !keys.is_some_and(|k| k.rows.iter().any(|r| r.key == key)) {
                true
            } else if view.key.key.as_deref() != Some(&key) {
                self.kv.view.key.tab = crate::ui::KeyTab::History;
                self.on_kv_action(KvAction::OpenKey(key), ctx);
                true
            } else {
                view.key.history.value.as_ref().is_none_or(|h| h.len() < 2)
            }
        } else {
            view.keys.value.is_none()
        };
        if let Some(plan) = &mut self.screenshot {
            plan.app_waiting = waiting;
        }
    }
}
