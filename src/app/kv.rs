//! The KV view's work: what it asks of the session (bucket, key and object
//! requests; key and object watches) and what it does with the answers.
//! A watch hands over at most `WATCH_KEEP` entries at once: what the view
//! cannot take is counted, never kept unbounded.

use super::EventscopeApp;
use super::answers::{due, text};
use crate::capture::ConnectionKey;
use crate::kv::{KeyEvent, ObjectRow};
use crate::session::{KvAnswer, KvRequest, ObjectRequest, Request, Watching};
use crate::ui::{KvAction, KvView, ObjectAction, View, WATCH_KEEP};

/// How often the bucket lists are fetched again while the view is shown.
const BUCKETS_EVERY: f64 = 5.0;

#[derive(Default)]
pub(super) struct KvWork {
    pub view: KvView,
    last_buckets: Option<f64>,
    asked_of: Option<ConnectionKey>,
    watch: Option<Watching<KeyEvent>>,
    object_watch: Option<Watching<ObjectRow>>,
}

/// What came since the last frame, and what did not fit on the way.
fn drain_into<T>(watching: &Watching<T>, feed: &mut crate::ui::Bounded<T>) {
    let (entries, not_kept) = watching.take();
    feed.extend(entries);
    feed.not_kept += not_kept;
}

impl EventscopeApp {
    fn ask_kv(&self, request: KvRequest) {
        self.session
            .ask(self.jetstream_connection(), Request::Kv(request));
    }

    fn ask_objects(&self, request: ObjectRequest) {
        self.session
            .ask(self.jetstream_connection(), Request::Objects(request));
    }

    /// Each frame: the first bucket lists once a connection is up, and
    /// the watch entries that came.
    pub(super) fn kv_step(&mut self, ctx: &egui::Context) {
        let key = self.jetstream_connection();
        let time = ctx.input(|i| i.time);
        if self.view == View::Kv && key.is_some() {
            // The bucket lists again every few seconds while shown: buckets
            // come and go.
            if key != self.kv.asked_of || due(self.kv.last_buckets, time, BUCKETS_EVERY) {
                self.kv.asked_of = key;
                self.kv.last_buckets = Some(time);
                if !self.kv.view.buckets.loading {
                    self.on_kv_action(KvAction::RefreshBuckets);
                }
                if !self.kv.view.objects.buckets.loading {
                    self.on_kv_action(KvAction::Objects(ObjectAction::RefreshBuckets));
                }
            }
            ctx.request_repaint_after(std::time::Duration::from_secs_f64(BUCKETS_EVERY));
        }
        let view = &mut self.kv.view;
        if let Some(w) = &self.kv.watch {
            drain_into(w, &mut view.watch.events);
            if let Some(why) = w.ended() {
                view.watch.running = false;
                view.watch.error = Some(format!("The watch ended: {why}"));
                self.kv.watch = None;
            }
        }
        if let Some(w) = &self.kv.object_watch {
            drain_into(w, &mut view.objects.events);
            if let Some(why) = w.ended() {
                view.objects.watch_running = false;
                view.objects.watch_error = Some(format!("The watch ended: {why}"));
                self.kv.object_watch = None;
            }
        }
    }

    pub(super) fn on_kv_actions(&mut self, actions: Vec<KvAction>) {
        for action in actions {
            self.on_kv_action(action);
        }
    }

    fn on_kv_action(&mut self, action: KvAction) {
        let bucket = self.kv.view.bucket.clone();
        match action {
            KvAction::RefreshBuckets => {
                self.kv.view.buckets.loading = true;
                self.ask_kv(KvRequest::Buckets);
            }
            KvAction::OpenBucket(name) => {
                if bucket.as_deref() != Some(&name) {
                    self.kv.watch = None;
                    self.kv.view.watch.running = false;
                    self.kv.view.key.close();
                }
                self.kv.view.bucket = Some(name.clone());
                self.kv.view.keys.loading = true;
                self.ask_kv(KvRequest::Keys(name));
            }
            KvAction::OpenKey(key) => {
                let Some(bucket) = bucket else { return };
                self.kv.view.key.open(&bucket, key.clone());
                self.ask_kv(KvRequest::Key { bucket, key });
            }
            KvAction::Put { key, value } => {
                if let Some(bucket) = bucket {
                    self.ask_kv(KvRequest::Put { bucket, key, value });
                }
            }
            KvAction::Delete(key) => {
                if let Some(bucket) = bucket {
                    self.ask_kv(KvRequest::Delete { bucket, key });
                }
            }
            KvAction::Purge(key) => {
                if let Some(bucket) = bucket {
                    self.ask_kv(KvRequest::Purge { bucket, key });
                }
            }
            KvAction::Revert {
                key,
                revision,
                seen,
            } => {
                if let Some(bucket) = bucket {
                    self.ask_kv(KvRequest::Revert {
                        bucket,
                        key,
                        revision,
                        seen,
                    });
                }
            }
            KvAction::StartWatch { pattern, mode } => {
                let Some(bucket) = bucket else { return };
                self.kv.view.watch.running = true;
                self.kv.view.watch.error = None;
                self.kv.watch = Some(self.session.watch_keys(
                    self.jetstream_connection(),
                    bucket,
                    pattern,
                    mode,
                    WATCH_KEEP,
                ));
            }
            KvAction::StopWatch => {
                self.kv.watch = None;
                self.kv.view.watch.running = false;
            }
            KvAction::Objects(action) => self.on_object_action(action),
        }
    }

    fn on_object_action(&mut self, action: ObjectAction) {
        let bucket = self.kv.view.objects.bucket.clone();
        match action {
            ObjectAction::RefreshBuckets => {
                self.kv.view.objects.buckets.loading = true;
                self.ask_objects(ObjectRequest::Buckets);
            }
            ObjectAction::OpenBucket(name) => {
                if bucket.as_deref() != Some(&name) {
                    self.kv.object_watch = None;
                    self.kv.view.objects.watch_running = false;
                    self.kv.view.objects.selected = None;
                }
                self.kv.view.objects.bucket = Some(name.clone());
                self.kv.view.objects.objects.loading = true;
                self.ask_objects(ObjectRequest::Objects(name));
            }
            ObjectAction::Download(name) => {
                let Some(bucket) = bucket else { return };
                let to = self.pick_save_path(&name);
                self.ask_objects(ObjectRequest::Download { bucket, name, to });
            }
            ObjectAction::Upload => {
                let Some(bucket) = bucket else { return };
                let from = self.pick_open_path();
                self.ask_objects(ObjectRequest::Upload { bucket, from });
            }
            ObjectAction::StartWatch { initial } => {
                let Some(bucket) = bucket else { return };
                self.kv.view.objects.watch_running = true;
                self.kv.view.objects.watch_error = None;
                self.kv.object_watch = Some(self.session.watch_objects(
                    self.jetstream_connection(),
                    bucket,
                    initial,
                    WATCH_KEEP,
                ));
            }
            ObjectAction::StopWatch => {
                self.kv.object_watch = None;
                self.kv.view.objects.watch_running = false;
            }
        }
    }

    pub(super) fn on_kv_answer(&mut self, answer: KvAnswer) {
        let view = &mut self.kv.view;
        match answer {
            KvAnswer::Unavailable(why) => {
                view.buckets.loading = false;
                view.keys.loading = false;
                view.objects.buckets.loading = false;
                view.objects.objects.loading = false;
                view.notice = Some(format!("KV: {why}"));
            }
            KvAnswer::Buckets(r) => view.buckets.answer(text(r)),
            KvAnswer::Keys(bucket, r) => {
                if view.bucket.as_deref() == Some(&bucket) {
                    view.set_keys(text(r));
                }
            }
            KvAnswer::Key {
                key,
                value,
                history,
            } => {
                if view.key.key.as_deref() == Some(&key) {
                    view.key.value.answer(text(value));
                    view.key.set_history(text(history));
                }
            }
            KvAnswer::Changed(said, key) => {
                view.notice = Some(said);
                if let Some(bucket) = view.bucket.clone() {
                    self.on_kv_action(KvAction::OpenBucket(bucket));
                }
                if let Some(key) = key {
                    self.on_kv_action(KvAction::OpenKey(key));
                }
            }
            KvAnswer::ObjectBuckets(r) => view.objects.buckets.answer(text(r)),
            KvAnswer::Objects(bucket, r) => {
                if view.objects.bucket.as_deref() == Some(&bucket) {
                    view.objects.objects.answer(text(r));
                }
            }
            KvAnswer::Uploaded(said) => {
                view.notice = Some(said);
                if let Some(bucket) = view.objects.bucket.clone() {
                    self.on_object_action(ObjectAction::OpenBucket(bucket));
                }
            }
            KvAnswer::Notice(said) => view.notice = Some(said),
        }
    }
}

impl EventscopeApp {
    /// Screenshot mode on the KV view: open the bucket, then the key, and
    /// wait until its history diff can be drawn.
    pub(super) fn drive_kv_screenshot(&mut self) {
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
            self.on_kv_action(KvAction::OpenBucket(shot.bucket.clone()));
            true
        } else if let Some(key) = shot.key {
            let keys = view.keys.value.as_ref();
            if !keys.is_some_and(|k| k.rows.iter().any(|r| r.key == key)) {
                true
            } else if view.key.key.as_deref() != Some(&key) {
                self.kv.view.key.tab = crate::ui::KeyTab::History;
                self.on_kv_action(KvAction::OpenKey(key));
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
