//! The layers, held: every path into the crate (`use crate::…`, `super::…`
//! and paths written inline) from a file under `src/` must point where the
//! table below allows. A room (a folder or file at the top of `src/`) may
//! always use itself; `main.rs` and `lib.rs` are the roof.
//!
//! An entry names a room (`flow`), `*` (any room), or an item of its face
//! (`broker::LinkState`): that path and everything below it. Rooms show
//! one face: their `mod.rs` re-exports what others may use.

use crate::common;

use std::path::{Path, PathBuf};

/// Which rooms each room may import, lowest first.
const ALLOWED: &[(&str, &[&str])] = &[
    // Records, the store, capture files: the ground floor.
    ("capture", &[]),
    ("process", &[]),
    ("demo", &[]),
    // Payloads read as data (Protobuf, MessagePack, CBOR); bound to
    // subjects by capture's patterns.
    ("decode", &["capture"]),
    // Records in other tools' formats (NDJSON, CSV, JSON, send commands).
    ("formats", &["capture", "decode"]),
    // Finding records: queries, JSON tests, the search thread.
    ("search", &["capture", "decode"]),
    // Two messages or two captures compared.
    ("compare", &["capture", "decode"]),
    // What the server says of itself, parsed.
    ("server_answers", &["capture"]),
    ("flow", &["capture", "server_answers"]),
    // The map of the system: flows and subscribers as nodes and arrows.
    ("map", &["capture", "decode", "flow", "server_answers"]),
    // Outgoing-message plans.
    ("outgoing", &["capture", "decode"]),
    ("broker", &["capture", "server_answers"]),
    // JetStream's state, asked of the server; reads flows back from the
    // flight recorder.
    (
        "jetstream",
        &["capture", "flow", "broker", "server_answers"],
    ),
    // KV buckets and object stores, through async-nats' clients.
    ("kv", &["capture", "flow"]),
    // The one service the window talks to: traffic, and every request
    // beyond it (JetStream, KV, object stores, the cluster).
    (
        "session",
        &[
            "broker",
            "flow",
            "capture",
            "decode",
            "outgoing",
            "server_answers",
            "process",
            "jetstream",
            "kv",
        ],
    ),
    // Views draw plain data: no connections, no session.
    (
        "ui",
        &[
            "capture",
            "decode",
            "formats",
            "search",
            "compare",
            "flow",
            "map",
            "outgoing",
            "server_answers",
            // What a connection is and how it is doing, as data.
            "broker::Auth",
            "broker::ConnectionProfile",
            "broker::SecretStorage",
            "broker::SubscriptionSpec",
            "broker::TlsSettings",
            "broker::ConnectionStatus",
            "broker::LinkState",
            "broker::Losses",
            "broker::Backlog",
            "broker::PendingConfirm",
            "broker::Visibility",
            "broker::ConnectionScope",
            "broker::JobProgress",
            "broker::SendOutcome",
            // What JetStream holds, as data.
            "jetstream::Access",
            "jetstream::ConsumerSummary",
            "jetstream::Health",
            "jetstream::LagHistory",
            "jetstream::LagSample",
            "jetstream::Purge",
            "jetstream::PurgePreview",
            "jetstream::RecorderSettings",
            "jetstream::RecorderStatus",
            "jetstream::ResetPreview",
            "jetstream::SearchProgress",
            "jetstream::SearchRequest",
            "jetstream::Start",
            "jetstream::StoredMessage",
            "jetstream::StreamSummary",
            "jetstream::captures",
            "jetstream::parse_bytes",
            "jetstream::parse_duration",
            // Keys, revisions and objects, as data.
            "kv::BucketSummary",
            "kv::DiffLine",
            "kv::DiffTag",
            "kv::KeyEvent",
            "kv::KeyList",
            "kv::KeyRevision",
            "kv::KeyRow",
            "kv::ObjectBucket",
            "kv::ObjectRow",
            "kv::WatchMode",
            "kv::diff_texts",
            "kv::diff_values",
            "kv::display_value",
        ],
    ),
    // The app asks the session for everything beyond drawing: of the
    // broker, JetStream and KV rooms it names data only, never a request.
    (
        "app",
        &[
            "ui",
            "session",
            "flow",
            "map",
            "capture",
            "decode",
            "formats",
            "search",
            "compare",
            "outgoing",
            "server_answers",
            "process",
            "demo",
            "broker::Auth",
            "broker::BrokerError",
            "broker::ConnectionProfile",
            "broker::LinkState",
            "broker::SecretStorage",
            "broker::SendMode",
            "broker::SendOutcome",
            "broker::SubscriptionSpec",
            "broker::TraceAnswer",
            "broker::TraceError",
            "broker::Visibility",
            // natscli's context files, read from disk.
            "broker::load_contexts",
            "broker::nats_config_dir",
            "jetstream::Access",
            "jetstream::DEFAULT_RECORDER",
            "jetstream::PageRequest",
            "jetstream::RecorderRead",
            "jetstream::SearchProgress",
            "jetstream::Start",
            "kv::KeyEvent",
            "kv::ObjectRow",
        ],
    ),
    // The command line may use every room.
    ("cli", &["*"]),
];

/// Where each broker client crate may be named (a room, or a module path
/// within one: `broker::nats` and below). A crate not listed here may be
/// used anywhere; `app` and `ui` never hold a broker client.
const BROKER_CRATES: &[(&str, &[&str])] = &[
    (
        "async_nats",
        &[
            // NATS's connection, in the broker room's NATS room.
            "broker::nats",
            // JetStream and KV: NATS features, rooms of their own.
            "jetstream",
            "kv",
            // The service that runs their requests, and builds NATS messages
            // for publishing jobs.
            "session",
            // The demo's simulated NATS services.
            "demo",
            // The command line, the roof beside the window.
            "cli",
        ],
    ),
    // Each other broker's client crate in its connection's room only.
    // The demo's simulated devices, bridges and consumers use them too.
    ("rumqttc", &["broker::mqtt", "demo"]),
    ("lapin", &["broker::amqp", "demo"]),
    ("kafka_protocol", &["broker::kafka", "demo"]),
    // Kafka's record compressions, read by the Kafka link alone.
    ("lz4_flex", &["broker::kafka"]),
    ("ruzstd", &["broker::kafka"]),
];

#[test]
fn every_import_points_an_allowed_way() {
    let _timed = common::timed();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "read the sources: {}", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        let module = module_path(file.strip_prefix(&src).expect("under src"));
        let shown = file.strip_prefix(src.parent().unwrap()).unwrap();
        problems.extend(check(&module, &text).into_iter().map(|(line, path, room)| {
            format!(
                "{}:{line}: `{room}` may not import `crate::{path}`",
                shown.display()
            )
        }));
        problems.extend(
            check_crates(&module, &text)
                .into_iter()
                .map(|(line, krate, room)| {
                    format!(
                        "{}:{line}: `{room}` may not use the broker client `{krate}`",
                        shown.display()
                    )
                }),
        );
    }
    assert!(
        problems.is_empty(),
        "imports against the layers (table at the top of tests/layers.rs):\n{}",
        problems.join("\n")
    );
}

/// The checker itself finds a forbidden import, in every form a path takes.
#[test]
fn a_forbidden_import_is_named_with_its_line() {
    let _timed = common::timed();
    let capture = vec!["capture".to_owned(), "store".to_owned()];
    let text = "//! use crate::ui::View; in a comment is fine\n\
                use super::record::Record;\n\
                use crate::{flow::Flow, capture::Timestamp};\n\
                fn f() -> crate::ui::View {\n    todo!()\n}\n\
                use super::super::session::Session;\n";
    let found: Vec<(usize, String)> = check(&capture, text)
        .into_iter()
        .map(|(line, path, _)| (line, path))
        .collect();
    assert_eq!(
        found,
        [
            (3, "flow::Flow".to_owned()),
            (4, "ui::View".to_owned()),
            (7, "session::Session".to_owned()),
        ]
    );
    let ui = vec!["ui".to_owned(), "status_bar".to_owned()];
    let found = check(
        &ui,
        "use crate::broker::Losses;\nuse crate::broker::{JobProgress, WireMessage};\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, "broker::WireMessage");
}

/// The checker finds a broker client crate outside its rooms, in a `use`
/// and inline, and not in a comment or a string.
#[test]
fn a_broker_client_outside_its_rooms_is_named() {
    let _timed = common::timed();
    let app = vec!["app".to_owned(), "kv".to_owned()];
    let text = "//! async_nats::Client in a comment is fine\n\
                use async_nats::Client;\n\
                let s = \"async_nats::x\";\n\
                fn f(c: ::async_nats::Client) {}\n";
    let found: Vec<usize> = check_crates(&app, text)
        .into_iter()
        .map(|(line, _, _)| line)
        .collect();
    assert_eq!(found, [2, 4]);
    let kv = vec!["kv".to_owned()];
    assert!(check_crates(&kv, text).is_empty());
    let nats = vec!["broker".to_owned(), "nats".to_owned(), "send".to_owned()];
    assert!(check_crates(&nats, text).is_empty());
    let status = vec!["broker".to_owned(), "status".to_owned()];
    assert_eq!(check_crates(&status, text).len(), 2);
}

/// Every use of a broker client crate in a room not allowed it:
/// (line, crate, room).
fn check_crates(module: &[String], text: &str) -> Vec<(usize, String, String)> {
    let Some(room) = module.first() else {
        return Vec::new();
    };
    let code = code_only(text);
    let mut found = Vec::new();
    let here = module.join("::");
    for (krate, places) in BROKER_CRATES {
        if places.iter().any(|place| within(&here, place)) {
            continue;
        }
        let needle = format!("{krate}::");
        for (at, _) in code.match_indices(&needle) {
            let before = code[..at].bytes().last();
            if before.is_some_and(is_ident) {
                continue;
            }
            let line = code[..at].matches('\n').count() + 1;
            found.push((line, (*krate).to_owned(), room.clone()));
        }
    }
    found.sort();
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
}

/// `app/pending.rs` -> [app, pending]; `app/mod.rs` -> [app]; `lib.rs` -> [].
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Every crate path of `text` (in module `module`) that its room may not
/// use: (line, path, room).
fn check(module: &[String], text: &str) -> Vec<(usize, String, String)> {
    let Some(room) = module.first() else {
        return Vec::new(); // the roof
    };
    let allowed = ALLOWED
        .iter()
        .find(|(r, _)| r == room)
        .map(|(_, a)| *a)
        .unwrap_or_else(|| panic!("room `{room}` is not in the table of tests/layers.rs"));
    crate_paths(module, text)
        .into_iter()
        .filter(|(_, path)| {
            let first = path.split("::").next().unwrap_or("");
            first != room && !allowed.iter().any(|a| *a == "*" || within(path, a))
        })
        .map(|(line, path)| (line, path, room.clone()))
        .collect()
}

/// `path` is `entry` or below it.
fn within(path: &str, entry: &str) -> bool {
    path == entry || path.starts_with(&format!("{entry}::"))
}

/// Code without comments, string contents and char literals, so that
/// what they say is not read as a path; lines are kept.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    in_string = false;
                    out.push('"');
                }
                '\n' => out.push('\n'),
                _ => {}
            }
            continue;
        }
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                in_string = true;
                out.push('"');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path into the crate, made absolute: (line, `room::…`).
fn crate_paths(module: &[String], text: &str) -> Vec<(usize, String)> {
    let code = code_only(text);
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let starts_word = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        let start = if !starts_word {
            None
        } else if rest.starts_with(b"crate::") {
            Some((Vec::new(), "crate::".len()))
        } else if rest.starts_with(b"super::") {
            let mut base: Vec<String> = module.to_vec();
            let mut len = 0;
            while bytes[i + len..].starts_with(b"super::") {
                base.pop();
                len += "super::".len();
            }
            Some((base, len))
        } else {
            None
        };
        let Some((base, len)) = start else {
            i += 1;
            continue;
        };
        let line = code[..i].matches('\n').count() + 1;
        let (paths, used) = use_tree(&code[i + len..]);
        for path in paths {
            let mut full = base.clone();
            full.extend(path.into_iter().filter(|s| s != "self"));
            if !full.is_empty() {
                found.push((line, full.join("::")));
            }
        }
        i += len + used.max(1);
    }
    found
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A path or a `use` tree (`a::b::{c, d::{e, f as g}, *}`): each leaf's
/// segments, and how many bytes were read.
fn use_tree(text: &str) -> (Vec<Vec<String>>, usize) {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut prefix = Vec::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            i += 1;
            let mut leaves = Vec::new();
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    i += 1;
                    break;
                }
                let (inner, used) = use_tree(&text[i..]);
                for leaf in inner {
                    let mut path = prefix.clone();
                    path.extend(leaf);
                    leaves.push(path);
                }
                i += used.max(1);
            }
            return (leaves, i);
        }
        let start = i;
        while i < bytes.len() && (is_ident(bytes[i]) || bytes[i] == b'*') {
            i += 1;
        }
        if i == start {
            return (vec![prefix], i);
        }
        let segment = &text[start..i];
        if segment != "*" {
            prefix.push(segment.to_owned());
        }
        if text[i..].starts_with("::") && !text[i + 2..].starts_with('<') {
            i += 2;
        } else {
            // `as alias`, `;`, `(`, `<`…: the path ends here.
            return (vec![prefix], i);
        }
    }
}
