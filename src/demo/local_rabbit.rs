//! A private RabbitMQ node on free loopback ports: the demo's AMQP broker
//! and the tests'. Debian's `rabbitmq-server` runs in the foreground with a
//! home, node name, data and log folders of its own, and an Erlang port
//! mapper (epmd) of its own on a port of its own, started here so that it
//! stops with the node (the node's own would outlive it as a daemon).
//! `rabbitmqctl` with the same settings adds vhosts and users and turns
//! the firehose on.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

use super::free_port;

pub const RABBITMQ_INSTALL_HINT: &str = "install RabbitMQ: `sudo apt-get install rabbitmq-server` (Debian, Ubuntu; its service need not run), or set RABBITMQ_SERVER_BIN";

/// How long a node may take to start (about 4 s here).
const READY_WITHIN: Duration = Duration::from_secs(60);

#[derive(Debug, Error)]
pub enum LocalRabbitError {
    #[error("rabbitmq-server was not found: {RABBITMQ_INSTALL_HINT}")]
    NotFound,
    #[error("cannot start {bin}: {source}")]
    Spawn { bin: String, source: std::io::Error },
    #[error("RabbitMQ did not become ready on port {port}: {log}")]
    NotReady { port: u16, log: String },
    #[error("rabbitmqctl {args} failed: {said}")]
    Control { args: String, said: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// `RABBITMQ_SERVER_BIN`, else Debian's foreground script.
pub fn find_rabbitmq_server() -> Result<PathBuf, LocalRabbitError> {
    if let Some(bin) = std::env::var_os("RABBITMQ_SERVER_BIN").filter(|b| !b.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    [
        "/usr/lib/rabbitmq/bin/rabbitmq-server",
        "/usr/local/lib/rabbitmq/bin/rabbitmq-server",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .ok_or(LocalRabbitError::NotFound)
}

pub struct LocalRabbit {
    node: Child,
    epmd: Child,
    port: u16,
    tls_port: Option<u16>,
    name: String,
    bin: PathBuf,
    env: Vec<(&'static str, String)>,
    dir: tempfile::TempDir,
}

impl LocalRabbit {
    /// A node whose `guest` user (allowed on loopback) may do anything on
    /// vhost `/`, with the firehose on there.
    pub fn start() -> Result<Self, LocalRabbitError> {
        Self::start_inner(None)
    }

    /// The same, with a TLS listener beside the plain one (`tls_port`):
    /// the server's certificate and key (PEM files).
    pub fn start_tls(cert: &Path, key: &Path) -> Result<Self, LocalRabbitError> {
        Self::start_inner(Some((cert, key)))
    }

    fn start_inner(tls: Option<(&Path, &Path)>) -> Result<Self, LocalRabbitError> {
        let bin = find_rabbitmq_server()?;
        let dir = tempfile::Builder::new()
            .prefix("eventscope-rabbitmq-")
            .tempdir()?;
        let (port, dist, epmd_port) = (free_port()?, free_port()?, free_port()?);
        let tls_port = match tls {
            Some(_) => Some(free_port()?),
            None => None,
        };
        let config = dir.path().join("rabbitmq.conf");
        let mut conf = String::new();
        if let (Some((cert, key)), Some(tls_port)) = (tls, tls_port) {
            conf.push_str(&format!(
                "listeners.ssl.default = 127.0.0.1:{tls_port}\nssl_options.certfile = {}\nssl_options.keyfile = {}\nssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n",
                cert.display(),
                key.display()
            ));
        }
        std::fs::write(&config, conf)?;
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home)?;
        let plugins = dir.path().join("enabled_plugins");
        std::fs::write(&plugins, "[].\n")?;
        let path = |p: &Path| p.display().to_string();
        let name = format!("eventscope{port}@localhost");
        let env = vec![
            ("HOME", path(&home)),
            ("RABBITMQ_NODENAME", name.clone()),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".into()),
            ("RABBITMQ_NODE_PORT", port.to_string()),
            ("RABBITMQ_DIST_PORT", dist.to_string()),
            ("RABBITMQ_MNESIA_BASE", path(&dir.path().join("mnesia"))),
            ("RABBITMQ_LOG_BASE", path(&dir.path().join("log"))),
            ("RABBITMQ_CONFIG_FILE", path(&config)),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", path(&plugins)),
            ("RABBITMQ_PID_FILE", path(&dir.path().join("pid"))),
            ("ERL_EPMD_PORT", epmd_port.to_string()),
        ];
        let spawn_failed = |bin: &Path| {
            let bin = bin.display().to_string();
            move |source| LocalRabbitError::Spawn { bin, source }
        };
        let epmd_bin = PathBuf::from("epmd");
        let epmd = Command::new(&epmd_bin)
            .arg("-port")
            .arg(epmd_port.to_string())
            .env("HOME", &home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(spawn_failed(&epmd_bin))?;
        let log = dir.path().join("out.log");
        let node = Command::new(&bin)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::create(dir.path().join("err.log"))?)
            // Its script and the Erlang VM under it stop together.
            .process_group(0)
            .spawn()
            .map_err(spawn_failed(&bin))?;
        let mut rabbit = Self {
            node,
            epmd,
            port,
            tls_port,
            name,
            bin,
            env,
            dir,
        };
        let deadline = Instant::now() + READY_WITHIN;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = rabbit.node.try_wait().ok().flatten().is_some();
            if exited || Instant::now() > deadline {
                let said = std::fs::read_to_string(rabbit.dir.path().join("out.log"))
                    .unwrap_or_default()
                    + &std::fs::read_to_string(rabbit.dir.path().join("err.log"))
                        .unwrap_or_default();
                let tail: String = said.lines().rev().take(15).collect::<Vec<_>>().join(" / ");
                return Err(LocalRabbitError::NotReady { port, log: tail });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The port can accept a moment before the node takes commands
        // (seen once with seven nodes starting together): ask again.
        let mut tries = 0;
        while let Err(e) = rabbit.control(&["trace_on", "-p", "/"]) {
            tries += 1;
            if tries >= 40 || Instant::now() > deadline {
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(rabbit)
    }

    /// Run `rabbitmqctl` against this node.
    pub fn control(&self, args: &[&str]) -> Result<String, LocalRabbitError> {
        let ctl = self.bin.with_file_name("rabbitmqctl");
        let out = Command::new(&ctl)
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .map_err(|source| LocalRabbitError::Spawn {
                bin: ctl.display().to_string(),
                source,
            })?;
        if !out.status.success() {
            return Err(LocalRabbitError::Control {
                args: args.join(" "),
                said: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A vhost, with `user` (made if new, with `password`) allowed to
    /// configure, write and read what `read` matches there.
    pub fn vhost_for(
        &self,
        vhost: &str,
        user: &str,
        password: &str,
        read: &str,
    ) -> Result<(), LocalRabbitError> {
        if self.control(&["add_vhost", vhost]).is_err() {
            // Already there.
        }
        if user != "guest" {
            let _ = self.control(&["add_user", user, password]);
        }
        self.control(&["set_permissions", "-p", vhost, user, ".*", ".*", read])?;
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS listener's port, where started with one.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// `amqp://guest:guest@127.0.0.1:PORT/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

impl Drop for LocalRabbit {
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.node.id()) {
            // SAFETY: kill(2) on the process group this node was made
            // the leader of; no memory is touched.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.node.wait();
        let _ = self.epmd.kill();
        let _ = self.epmd.wait();
    }
}
