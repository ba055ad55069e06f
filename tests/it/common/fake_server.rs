//! A misbehaving NATS server for what a real one will not do: it sends
//! `INFO`, reads the client's `CONNECT`, then plays a script (bytes to
//! send, then close or stall). It counts the connections it took.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const INFO: &[u8] =
    b"INFO {\"server_name\":\"fake\",\"version\":\"2.15.1\",\"headers\":true,\"max_payload\":1048576}\r\n";

/// What the fake server does after reading `CONNECT`.
#[derive(Clone)]
pub struct Script {
    /// Sent first instead of the usual `INFO` (a broken greeting).
    pub greeting: Vec<u8>,
    /// Sent after `CONNECT` was read.
    pub then: Vec<u8>,
    /// Keep the socket open (silent) after sending, rather than closing.
    pub stall: bool,
}

impl Script {
    /// `INFO`, then `then`, then close.
    pub fn after_connect(then: &[u8]) -> Self {
        Self {
            greeting: INFO.to_vec(),
            then: then.to_vec(),
            stall: false,
        }
    }
}

pub struct FakeServer {
    pub port: u16,
    accepted: Arc<AtomicU64>,
}

impl FakeServer {
    pub fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            let mut stalled = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                count.fetch_add(1, Ordering::Relaxed);
                let _ = stream.write_all(&script.greeting);
                // All the client says first (CONNECT, its SUBs, a PING), as
                // a server reads it: closing with bytes unread would reset
                // the connection and lose what the script sends.
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut said = Vec::new();
                let mut buf = [0u8; 4096];
                while !said.windows(6).any(|w| w == b"PING\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => said.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(&script.then);
                if script.stall {
                    stalled.push(stream);
                }
            }
        });
        Self { port, accepted }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Connections taken so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}
