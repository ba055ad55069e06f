//! The KV & objects view with egui_kittest against a real server: the
//! bucket list, the key filter, a key's history diff and a revert that
//! happens only after the confirmation names key and revision, a live
//! watch, and the object store list.

use crate::common;

use common::runtime;
use common::ui::{replace_text, step_until};

use async_nats::jetstream::{self, kv};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventscope::app::EventscopeApp;
use eventscope::ui::View;

fn shown_keys(h: &Harness<'static, EventscopeApp>) -> usize {
    h.state()
        .kv_view()
        .keys
        .value
        .as_ref()
        .map_or(0, |k| k.rows.len())
}

#[test]
fn the_kv_browser_filters_keys_diffs_revisions_and_reverts_only_after_confirming() {
    let _timed = common::timed();
    let server = common::server();
    let rt = runtime();
    let store = rt.block_on(async {
        let store = jetstream::new(common::client(&server).await)
            .create_key_value(kv::Config {
                bucket: "cfg".into(),
                history: 10,
                ..Default::default()
            })
            .await
            .expect("bucket");
        store
            .put("orders.limit", r#"{"limit":1,"name":"x"}"#.into())
            .await
            .unwrap();
        store
            .put("orders.limit", r#"{"limit":2,"name":"x"}"#.into())
            .await
            .unwrap();
        store.put("orders.owner", "ann".into()).await.unwrap();
        store.put("users.max", "9".into()).await.unwrap();
        store
    });
    let mut h = common::ui::connected(&server, View::Kv, false);
    step_until(&mut h, "the bucket list", |h| {
        h.query_by_label_contains("cfg  (3 keys").is_some()
    });
    h.get_by_label_contains("cfg  (3 keys").click();
    step_until(&mut h, "the keys", |h| shown_keys(h) == 3);
    h.run_steps(3);
    assert!(h.query_by_label("3 of 3 keys").is_some());
    replace_text(&mut h, "Filter", "orders.*");
    assert!(
        h.query_by_label("2 of 3 keys").is_some(),
        "a pattern filter"
    );
    assert!(h.query_by_label("users.max").is_none());
    replace_text(&mut h, "Filter", "OWN");
    assert!(h.query_by_label("1 of 3 keys").is_some(), "a text filter");
    replace_text(&mut h, "Filter", "limit");

    h.get_by_label("orders.limit").click();
    step_until(&mut h, "the key's history", |h| {
        h.state().kv_view().key.history.value.is_some()
    });
    h.get_by_label("History").click();
    h.run_steps(3);
    assert!(h.query_by_label("Diff: revision 1 to revision 2").is_some());
    assert!(
        h.query_by_label(r#"-   "limit": 1,"#).is_some(),
        "the removed line"
    );
    assert!(
        h.query_by_label(r#"+   "limit": 2,"#).is_some(),
        "the added line"
    );
    assert!(
        h.query_by_label(r#"    "name": "x""#).is_some(),
        "an unchanged line"
    );

    // Compare the newest with the first: choose revision 1 as 'to'.
    h.get_by_label("rev 1").click();
    h.run_steps(2);
    h.get_by_label("Revert to revision 1…").click();
    step_until(&mut h, "the confirmation", |h| {
        h.query_by_label("Revert 'orders.limit' to revision 1")
            .is_some()
    });
    let unchanged = rt.block_on(store.entry("orders.limit")).unwrap().unwrap();
    assert_eq!(
        unchanged.revision, 2,
        "nothing changes before the confirmation"
    );
    h.get_by_label("Revert 'orders.limit' to revision 1")
        .click();
    step_until(&mut h, "the revert's notice", |h| {
        h.state()
            .kv_view()
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("reverted"))
    });
    let now = rt.block_on(store.entry("orders.limit")).unwrap().unwrap();
    assert_eq!(&now.value[..], br#"{"limit":1,"name":"x"}"#);
    assert_eq!(now.revision, 5, "a new revision");

    // A watch of the bucket: the current values, then a live put.
    h.get_by_label("Start watch").click();
    step_until(&mut h, "the current values", |h| {
        h.state().kv_view().watch.events.items().len() == 3
    });
    rt.block_on(store.put("users.max", "10".into())).unwrap();
    step_until(&mut h, "a live update", |h| {
        h.state().kv_view().watch.events.items().len() == 4
    });
    let last = h
        .state()
        .kv_view()
        .watch
        .events
        .items()
        .back()
        .cloned()
        .unwrap();
    assert!(!last.initial);
    assert_eq!(&last.entry.value[..], b"10");
    h.get_by_label("Stop watch").click();
    h.run_steps(2);
    assert!(!h.state().kv_view().watch.running);
}

/// A KV bucket of that name (5 revisions kept) and an object store
/// `files` holding `report.csv`.
async fn bucket_and_files(
    server: &common::LocalServer,
    bucket: &str,
) -> (kv::Store, jetstream::object_store::ObjectStore) {
    let js = jetstream::new(common::client(server).await);
    let store = js
        .create_key_value(kv::Config {
            bucket: bucket.into(),
            history: 5,
            ..Default::default()
        })
        .await
        .expect("bucket");
    let objects = js
        .create_object_store(jetstream::object_store::Config {
            bucket: "files".into(),
            ..Default::default()
        })
        .await
        .expect("object store");
    objects
        .put("report.csv", &mut &b"a,b\n1,2\n"[..])
        .await
        .expect("object");
    (store, objects)
}

/// The Object stores tab, the `files` store opened and its one object listed.
fn open_files_store(h: &mut Harness<'static, EventscopeApp>) {
    h.get_by_label("Object stores").click();
    step_until(h, "the object stores", |h| {
        h.query_by_label_contains("files  (").is_some()
    });
    h.get_by_label_contains("files  (").click();
    step_until(h, "the objects", |h| {
        h.state()
            .kv_view()
            .objects
            .objects
            .value
            .as_ref()
            .is_some_and(|o| o.len() == 1)
    });
}

#[test]
fn a_delete_asks_first_and_the_object_store_lists_its_objects() {
    let _timed = common::timed();
    let server = common::server();
    let rt = runtime();
    let (store, _objects) = rt.block_on(bucket_and_files(&server, "cfg"));
    rt.block_on(store.put("k", "v".into())).unwrap();
    let mut h = common::ui::connected(&server, View::Kv, false);
    step_until(&mut h, "the bucket list", |h| {
        h.query_by_label_contains("cfg  (1 keys").is_some()
    });
    h.get_by_label_contains("cfg  (1 keys").click();
    step_until(&mut h, "the keys", |h| shown_keys(h) == 1);
    h.run_steps(3);
    h.get_by_label("k").click();
    step_until(&mut h, "the value", |h| {
        h.state().kv_view().key.value.value.is_some()
    });
    h.get_by_label("Current value").click();
    h.run_steps(2);
    h.get_by_label("Delete key…").click();
    step_until(&mut h, "the confirmation", |h| {
        h.query_by_label("Delete 'k'").is_some()
    });
    assert!(
        rt.block_on(store.get("k")).unwrap().is_some(),
        "not before the confirmation"
    );
    h.get_by_label("Delete 'k'").click();
    step_until(&mut h, "the delete", |h| {
        h.state()
            .kv_view()
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("deleted"))
    });
    assert_eq!(rt.block_on(store.get("k")).unwrap(), None);
    // The deleted key leaves the list unless deleted keys are shown.
    step_until(&mut h, "the keys again", |h| {
        h.state().kv_view().keys.value.as_ref().is_some_and(|k| {
            k.rows
                .first()
                .is_some_and(|r| r.operation != eventscope::flow::KvOperation::Put)
        })
    });
    h.run_steps(2);
    assert!(h.query_by_label("0 of 1 keys").is_some());
    h.get_by_label("Show deleted").click();
    h.run_steps(2);
    assert!(h.query_by_label("1 of 1 keys").is_some());

    open_files_store(&mut h);
    h.run_steps(3);
    h.get_by_label("report.csv").click();
    h.run_steps(2);
    assert!(h.query_by_label("Download…").is_some());
    assert!(
        h.query_by_label_contains("\"name\": \"report.csv\"")
            .is_some()
    );
}

/// Browsing KV and object stores with a `>` monitor running: the view's
/// own reads (bucket lists and info, key listing, history, a watch, the
/// object listing) are never stored as traffic; what someone else wrote
/// is.
#[test]
fn the_kv_views_own_reads_are_never_stored() {
    let _timed = common::timed();
    let server = common::server();
    let rt = runtime();
    let (store, _objects) = rt.block_on(bucket_and_files(&server, "own"));
    let mut h = common::ui::connected(&server, View::Kv, true);
    rt.block_on(store.put("a.key", "by someone else".into()))
        .expect("put");
    step_until(&mut h, "the bucket list", |h| {
        h.query_by_label_contains("own  (1 keys").is_some()
    });
    h.get_by_label_contains("own  (1 keys").click();
    step_until(&mut h, "the keys", |h| shown_keys(h) == 1);
    h.get_by_label("a.key").click();
    step_until(&mut h, "the key's history", |h| {
        h.state().kv_view().key.history.value.is_some()
    });
    h.get_by_label("Start watch").click();
    open_files_store(&mut h);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < until {
        h.run_steps(1);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let stored: Vec<(String, Option<String>)> = h
        .state()
        .session
        .store
        .iter()
        .map(|(_, r)| (r.subject().to_owned(), r.reply().map(str::to_owned)))
        .collect();
    assert!(
        stored.iter().any(|(s, _)| s == "$KV.own.a.key"),
        "someone else's write is traffic: {stored:?}"
    );
    // What is left must be someone else's: their write and the answer to
    // it. Our API calls, their audits, our consumers' deliveries and
    // advisories, and answers to us are not.
    let asked: Vec<&str> = stored.iter().filter_map(|(_, r)| r.as_deref()).collect();
    let own: Vec<&(String, Option<String>)> = stored
        .iter()
        .filter(|(s, reply)| {
            s.starts_with("$JS.API")
                || s.starts_with("$JS.EVENT.ADVISORY")
                || reply.as_deref().is_some_and(|r| r.starts_with("$JS.ACK."))
                || (s.starts_with("_INBOX.") && !asked.contains(&s.as_str()))
        })
        .collect();
    assert!(own.is_empty(), "the view's own reads were stored: {own:?}");
}
