//! The whole cluster from one connection: `eventscope servers` lists every
//! server of a three-node cluster with the system account, and says what is
//! missing without it.

use crate::common;

use std::process::Command;

use serde_json::Value;

#[test]
fn the_server_table_lists_the_cluster_with_the_system_account_and_says_why_not_without() {
    let _timed = common::timed();
    let cluster = common::cluster::with_system_account();
    let url = cluster.servers[0].url();
    let output = Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args([
            "servers",
            "--json",
            "--server",
            &url,
            "--user",
            "sys",
            "--password",
            "sys",
        ])
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["n0", "n1", "n2"],
        "every server, from one connection"
    );
    for row in &rows {
        assert_eq!(row["cluster"], "c");
        // Route pooling opens several connections per peer.
        assert!(row["routes"].as_u64() >= Some(2), "{row}");
        assert!(row["version"].as_str().is_some_and(|v| v.starts_with("2.")));
        assert!(row["in_msgs_per_s"].is_number(), "rates from two answers");
        assert!(row["jetstream_store"].is_number());
    }

    let output = Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args([
            "servers",
            "--server",
            &url,
            "--user",
            "app",
            "--password",
            "app",
        ])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("system account"),
        "says what is missing: {stderr}"
    );

    // With a monitoring URL: that one server, and a line saying so.
    let monitoring = cluster.servers[0].monitoring_url();
    let output = Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args([
            "servers",
            "--json",
            "--server",
            &url,
            "--user",
            "app",
            "--password",
            "app",
            "--monitoring-url",
            &monitoring,
        ])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("One server only"), "{stderr}");
    let rows = common::json_lines(&output);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "n0");
    assert_eq!(rows[0]["cluster"], "c");
}

#[test]
fn the_servers_view_shows_the_cluster_or_says_what_it_needs() {
    let _timed = common::timed();
    use egui_kittest::kittest::Queryable;
    let cluster = common::cluster::with_system_account();
    let url = cluster.servers[2].url();
    let mut h = common::ui::as_user(&url, "sys", eventscope::ui::View::Servers);
    common::ui::step_until(&mut h, "three servers in the table", |h| {
        h.query_by_label("n0").is_some()
            && h.query_by_label("n1").is_some()
            && h.query_by_label("n2").is_some()
    });
    let mut h = common::ui::as_user(&url, "app", eventscope::ui::View::Servers);
    common::ui::step_until(&mut h, "what is missing, said", |h| {
        h.query_by_label_contains("needs a connection of the system account")
            .is_some()
    });
}
