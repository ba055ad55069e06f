//! KV buckets and object stores through the headless twins (`eventscope kv`
//! and `eventscope object`), against a real nats-server: a watch sees put,
//! update, delete and purge in order; history, diff and revert; keys with
//! delete markers and a filter; objects uploaded, listed, downloaded
//! byte-exact and watched.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use common::{eventscope, json_lines};
use serde_json::Value;

async fn bucket(client: &async_nats::Client, name: &str) -> kv::Store {
    jetstream::new(client.clone())
        .create_key_value(kv::Config {
            bucket: name.into(),
            history: 10,
            ..Default::default()
        })
        .await
        .expect("create bucket")
}

/// `eventscope ARGS` as a child; its stdout lines on a channel, once it
/// said on stderr that it is watching.
fn watching(args: &[&str]) -> (std::process::Child, mpsc::Receiver<Value>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start eventscope");
    let (ready_tx, ready) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // Shown with a failure: why a watch stopped, if it did.
            eprintln!("{line}");
            let _ = ready_tx.send(line);
        }
    });
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(serde_json::from_str(&line).expect("a JSON line"));
        }
    });
    let line = ready
        .recv_timeout(Duration::from_secs(20))
        .expect("eventscope says it is watching");
    assert!(line.contains("watching"), "{line}");
    (child, rx)
}

/// The next entry the watch printed. What is asserted is what and in
/// which order, not how fast: generous for a loaded machine.
fn next(rx: &mpsc::Receiver<Value>) -> Value {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("a watch entry within 30 s")
}

#[tokio::test]
async fn a_watch_sees_put_update_delete_and_purge_in_order_after_the_current_values() {
    let _timed = common::timed();
    let server = common::server();
    let client = common::client(&server).await;
    let store = bucket(&client, "cfg").await;
    store.put("a", "one".into()).await.expect("put");
    let url = server.url();

    let (mut child, rx) = watching(&["kv", "watch", "cfg", "--server", &url]);
    store.put("b", "1".into()).await.expect("put");
    store.put("b", "2".into()).await.expect("update");
    store.delete("b").await.expect("delete");
    store.purge("a").await.expect("purge");
    let seen: Vec<Value> = (0..5).map(|_| next(&rx)).collect();
    let _ = child.kill();
    let _ = child.wait();
    let got: Vec<(&str, &str, &str, bool)> = seen
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap(),
                e["operation"].as_str().unwrap(),
                e["value"].as_str().unwrap(),
                e["initial"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a", "put", "one", true),
            ("b", "put", "1", false),
            ("b", "put", "2", false),
            ("b", "delete", "", false),
            ("a", "purge", "", false),
        ]
    );
    let revisions: Vec<u64> = seen
        .iter()
        .map(|e| e["revision"].as_u64().unwrap())
        .collect();
    assert!(revisions.is_sorted(), "{revisions:?}");

    // Updates only: nothing from before the watch.
    let (mut child, rx) = watching(&[
        "kv",
        "watch",
        "cfg",
        "b",
        "--updates-only",
        "--server",
        &url,
    ]);
    store.put("a", "ignored".into()).await.expect("put");
    store.put("b", "3".into()).await.expect("put");
    let e = next(&rx);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        (e["key"].as_str(), e["value"].as_str()),
        (Some("b"), Some("3"))
    );
    assert_eq!(e["initial"], false);
}

#[tokio::test]
async fn history_diff_and_revert_make_an_old_revision_current_again() {
    let _timed = common::timed();
    let server = common::server();
    let client = common::client(&server).await;
    let store = bucket(&client, "cfg").await;
    let first = store
        .put("k", r#"{"limit":1,"name":"x"}"#.into())
        .await
        .unwrap();
    let second = store
        .put("k", r#"{"limit":2,"name":"x"}"#.into())
        .await
        .unwrap();
    let url = server.url();

    let history = json_lines(&eventscope(&[
        "kv", "history", "cfg", "k", "--json", "--server", &url,
    ]));
    let revisions: Vec<u64> = history
        .iter()
        .map(|h| h["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revisions, [first, second]);

    let diff = eventscope(&[
        "kv",
        "diff",
        "cfg",
        "k",
        &first.to_string(),
        "--server",
        &url,
    ]);
    let diff = String::from_utf8_lossy(&diff.stdout);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect();
    assert_eq!(
        changed,
        [r#"-  "limit": 1,"#, r#"+  "limit": 2,"#],
        "{diff}"
    );

    // Values no JSON reader reads are diffed as their decoder reads them:
    // {"limit": 1} and {"limit": 2} in MessagePack.
    let packed_first = store
        .put(
            "m",
            vec![0x81, 0xa5, b'l', b'i', b'm', b'i', b't', 0x01].into(),
        )
        .await
        .unwrap();
    store
        .put(
            "m",
            vec![0x81, 0xa5, b'l', b'i', b'm', b'i', b't', 0x02].into(),
        )
        .await
        .unwrap();
    let diff = eventscope(&[
        "kv",
        "diff",
        "cfg",
        "m",
        &packed_first.to_string(),
        "--server",
        &url,
    ]);
    let diff = String::from_utf8_lossy(&diff.stdout);
    assert!(diff.contains(" read as MessagePack:"), "{diff}");
    assert!(diff.contains(r#"+  "limit": 2"#), "{diff}");

    let out = eventscope(&[
        "kv",
        "revert",
        "cfg",
        "k",
        &first.to_string(),
        "--server",
        &url,
    ]);
    let reverted: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a revision");
    assert!(reverted > second);
    let now = store.entry("k").await.unwrap().expect("entry");
    assert_eq!(now.revision, reverted);
    assert_eq!(&now.value[..], br#"{"limit":1,"name":"x"}"#);

    // Reverting to a delete marker deletes again.
    store.delete("k").await.unwrap();
    let deleted = store.entry("k").await.unwrap().unwrap().revision;
    store.put("k", "back".into()).await.unwrap();
    eventscope(&[
        "kv",
        "revert",
        "cfg",
        "k",
        &deleted.to_string(),
        "--server",
        &url,
    ]);
    assert_eq!(store.get("k").await.unwrap(), None);
    let got = eventscope(&[
        "kv",
        "get",
        "cfg",
        "k",
        "--revision",
        &first.to_string(),
        "--server",
        &url,
    ]);
    assert_eq!(got.stdout, br#"{"limit":1,"name":"x"}"#);
}

#[tokio::test]
async fn keys_are_listed_with_delete_markers_and_filtered_by_pattern() {
    let _timed = common::timed();
    let server = common::server();
    let client = common::client(&server).await;
    let store = bucket(&client, "cfg").await;
    for key in ["orders.1", "orders.2", "users.1"] {
        store.put(key, "v".into()).await.unwrap();
    }
    store.delete("orders.2").await.unwrap();
    let url = server.url();
    let keys = json_lines(&eventscope(&[
        "kv", "keys", "cfg", "--json", "--server", &url,
    ]));
    let got: Vec<(&str, &str)> = keys
        .iter()
        .map(|k| (k["key"].as_str().unwrap(), k["operation"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("orders.1", "put"),
            ("users.1", "put"),
            ("orders.2", "delete")
        ]
    );
    assert_eq!(keys[0]["size"], 1);
    let keys = json_lines(&eventscope(&[
        "kv", "keys", "cfg", "--filter", "orders.*", "--json", "--server", &url,
    ]));
    assert_eq!(keys.len(), 2);
    let buckets = json_lines(&eventscope(&["kv", "buckets", "--json", "--server", &url]));
    assert_eq!(buckets[0]["name"], "cfg");
    assert_eq!(buckets[0]["keys"], 3);
    assert_eq!(buckets[0]["history"], 10);
}

#[tokio::test]
async fn objects_are_uploaded_listed_downloaded_byte_exact_and_watched() {
    let _timed = common::timed();
    let server = common::server();
    let (_, js) = common::jetstream(&server).await;
    let store = js
        .create_object_store(jetstream::object_store::Config {
            bucket: "files".into(),
            ..Default::default()
        })
        .await
        .expect("object store");
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("blob.bin");
    // Several chunks (128 KiB each), not a multiple of the chunk size.
    let bytes: Vec<u8> = (0..400_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&original, &bytes).unwrap();

    let (mut child, rx) = watching(&["object", "watch", "files", "--server", &url]);
    let put = json_lines(&eventscope(&[
        "object",
        "put",
        "files",
        original.to_str().unwrap(),
        "--server",
        &url,
    ]));
    assert_eq!(put[0]["name"], "blob.bin");
    assert_eq!(put[0]["size"], 400_000);
    let listed = json_lines(&eventscope(&[
        "object", "ls", "files", "--json", "--server", &url,
    ]));
    assert_eq!(listed.len(), 1);
    assert!(listed[0]["chunks"].as_u64() > Some(1));
    let info = eventscope(&["object", "info", "files", "blob.bin", "--server", &url]);
    let info: Value = serde_json::from_slice(&info.stdout).expect("info is JSON");
    assert!(
        info["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("SHA-256="))
    );

    let copy = dir.path().join("copy.bin");
    eventscope(&[
        "object",
        "get",
        "files",
        "blob.bin",
        "-o",
        copy.to_str().unwrap(),
        "--server",
        &url,
    ]);
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        bytes,
        "downloaded byte-exact"
    );

    store.delete("blob.bin").await.expect("delete");
    let first = next(&rx);
    let second = next(&rx);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        (first["name"].as_str(), first["deleted"].as_bool()),
        (Some("blob.bin"), Some(false))
    );
    assert_eq!(
        (second["name"].as_str(), second["deleted"].as_bool()),
        (Some("blob.bin"), Some(true))
    );
}

#[tokio::test]
async fn revert_never_overwrites_a_newer_write_and_bad_keys_and_deleted_keys_are_said() {
    let _timed = common::timed();
    let server = common::server();
    let client = common::client(&server).await;
    let store = bucket(&client, "race").await;
    let first = store.put("k", "one".into()).await.unwrap();
    let seen = store.put("k", "two".into()).await.unwrap();
    // Someone else writes after the user looked at revision `seen`.
    let theirs = store.put("k", "theirs".into()).await.unwrap();
    let refused = eventscope::kv::revert(&store, "k", first, Some(seen))
        .await
        .expect_err("the newer write is not overwritten");
    assert!(
        matches!(refused, eventscope::kv::KvError::Changed { now, .. } if now == theirs),
        "{refused}"
    );
    assert_eq!(
        store.get("k").await.unwrap().as_deref(),
        Some(&b"theirs"[..])
    );

    let url = server.url();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_eventscope"))
            .args(args)
            .output()
            .expect("eventscope runs")
    };
    let bad = run(&["kv", "get", "race", "a b", "--server", &url]);
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("'a b' is not a valid key"), "{said}");

    store.delete("k").await.unwrap();
    let gone = run(&["kv", "get", "race", "k", "--server", &url]);
    assert!(!gone.status.success(), "a deleted key has no value");
    let said = String::from_utf8_lossy(&gone.stderr);
    assert!(said.contains("'k' was deleted at revision"), "{said}");
}
