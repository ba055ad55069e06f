//! Three nats-servers on loopback joined by routes on free ports, with
//! JetStream in temp dirs: a real cluster for the tests that need one.

use std::time::{Duration, Instant};

use eventscope::demo::{LocalServer, free_port};

pub struct Cluster {
    pub servers: Vec<LocalServer>,
}

impl Cluster {
    /// Start three servers and wait until JetStream can place an R3 stream.
    pub fn start() -> Self {
        let routes: Vec<u16> = (0..3).map(|_| free_port().expect("a free port")).collect();
        let servers = (0..3)
            .map(|i| {
                let others: Vec<String> = (0..3)
                    .filter(|j| *j != i)
                    .map(|j| format!("nats-route://127.0.0.1:{}", routes[j]))
                    .collect();
                let config = format!(
                    "server_name: n{i}\ncluster {{\n  name: c\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\njetstream {{}}\n",
                    routes[i],
                    others.join(", ")
                );
                super::server_with_config(Some(&config))
            })
            .collect();
        let cluster = Self { servers };
        cluster.wait_for_jetstream();
        cluster
    }

    /// Every server's client URL, comma separated.
    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(|s| s.url())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn wait_for_jetstream(&self) {
        let url = self.servers[1].url();
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let client = async_nats::connect(url).await.expect("connect");
            let js = async_nats::jetstream::new(client);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let made = js
                    .create_stream(async_nats::jetstream::stream::Config {
                        name: "PROBE".into(),
                        subjects: vec!["probe".into()],
                        num_replicas: 3,
                        ..Default::default()
                    })
                    .await;
                if made.is_ok() {
                    let _ = js.delete_stream("PROBE").await;
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster's JetStream did not come up: {made:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
}
