//! A real three-node cluster for the tests (`demo::LocalCluster`, ready
//! once JetStream can place an R3 stream).

pub use eventscope::demo::LocalCluster as Cluster;

/// Start it, or fail saying how to install nats-server.
pub fn start() -> Cluster {
    Cluster::start().unwrap_or_else(|e| panic!("these tests need a real nats-server: {e}"))
}

/// Accounts for the system-account tests: `sys`/`sys` in the system
/// account, `app`/`app` (and anyone without credentials) in `APP`.
const ACCOUNTS: &str = r#"
accounts {
  SYS: { users: [{ user: sys, password: sys }] }
  APP: { jetstream: enabled, users: [{ user: app, password: app }] }
}
system_account: SYS
no_auth_user: app
"#;

/// A cluster with a system account (see `ACCOUNTS`).
pub fn with_system_account() -> Cluster {
    Cluster::start_with(ACCOUNTS)
        .unwrap_or_else(|e| panic!("these tests need a real nats-server: {e}"))
}
