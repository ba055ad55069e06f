//! A small TCP proxy between eventscope and a server, for network faults
//! (no netem or toxiproxy here): a blackhole that stops forwarding without
//! closing anything, and a slow reader that lets the server's buffer for
//! this client fill up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
pub struct Faults {
    /// Forward nothing in either direction; sockets stay open.
    pub blackhole: AtomicBool,
    /// Bytes per second from the server to the client (0 = no limit).
    pub downstream_bytes_per_second: AtomicU64,
}

pub struct Proxy {
    pub port: u16,
    pub faults: Arc<Faults>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listen on a free loopback port; forward each connection to `upstream`.
    pub async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let faults = Arc::new(Faults::default());
        let shared = faults.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pipe(client_read, server_write, shared.clone(), false));
                tokio::spawn(pipe(server_read, client_write, shared.clone(), true));
            }
        });
        Self { port, faults, task }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Read from the server at 200 KiB/s while `client` floods `flood.x`
    /// with 20,000 messages of 1 KiB: a server with a small `max_pending`
    /// cuts the reader off as a slow consumer. Full speed again after.
    pub async fn flood_slowly(&self, client: &async_nats::Client) {
        self.faults
            .downstream_bytes_per_second
            .store(200 * 1024, Ordering::Relaxed);
        let payload = bytes::Bytes::from(vec![b'x'; 1024]);
        for _ in 0..20_000 {
            client
                .publish("flood.x", payload.clone())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
        self.faults
            .downstream_bytes_per_second
            .store(0, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    faults: Arc<Faults>,
    downstream: bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while faults.blackhole.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let limit = if downstream {
            faults.downstream_bytes_per_second.load(Ordering::Relaxed)
        } else {
            0
        };
        let chunk = if limit > 0 { 1024 } else { buf.len() };
        let n = match from.read(&mut buf[..chunk]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if faults.blackhole.load(Ordering::Relaxed) {
            // Swallowed, as a dead network would.
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        if limit > 0 {
            tokio::time::sleep(Duration::from_secs_f64(n as f64 / limit as f64)).await;
        }
    }
}
