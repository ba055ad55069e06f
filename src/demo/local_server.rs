//! A private `nats-server` child process on a free loopback port, with
//! JetStream in a temporary directory. Used by `--demo` and by the tests.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

pub const INSTALL_HINT: &str = "run `scripts/get-servers` in eventscope's checkout (it needs no pip), \
     or put nats-server on PATH, or set NATS_SERVER_BIN";

#[derive(Debug, Error)]
pub enum LocalServerError {
    #[error("nats-server was not found on PATH: {INSTALL_HINT}")]
    NotFound,
    #[error("cannot start {bin}: {source}")]
    Spawn { bin: String, source: std::io::Error },
    #[error("nats-server did not become ready on port {port}: {log}")]
    NotReady { port: u16, log: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Temp folders of servers started here, and the file naming their owner.
const DATA_PREFIX: &str = "eventscope-nats-";
const OWNER_FILE: &str = "owner.pid";

/// A file only its owner can read (configs hold the demo's passwords).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}

/// Remove the data of servers whose owner process is gone (killed before
/// it could clean up; its servers died with it).
fn remove_orphaned_data() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(DATA_PREFIX));
        let Some(owner) = ours
            .then(|| std::fs::read_to_string(path.join(OWNER_FILE)).ok())
            .flatten()
            .and_then(|pid| pid.trim().parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only asks whether the process exists.
        let gone = unsafe { libc::kill(owner, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// The server binary: `NATS_SERVER_BIN`, else `nats-server` on PATH, else
/// the one `scripts/get-servers` put in this checkout's `.tools/bin`.
pub fn find_server_binary() -> Result<PathBuf, LocalServerError> {
    if let Some(bin) = std::env::var_os("NATS_SERVER_BIN").filter(|b| !b.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
    });
    let fetched = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.tools/bin/nats-server"
    ));
    on_path
        .or_else(|| fetched.is_file().then_some(fetched))
        .ok_or(LocalServerError::NotFound)
}

pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running server; stopped (killed and reaped) on drop.
pub struct LocalServer {
    child: Option<Child>,
    bin: PathBuf,
    args: Vec<String>,
    pub port: u16,
    /// HTTP monitoring port (`/connz`, `/jsz`…).
    pub monitoring_port: u16,
    /// JetStream store and any config files live here; removed on drop.
    dir: tempfile::TempDir,
    log_path: PathBuf,
}

impl LocalServer {
    /// JetStream on, loopback only, free port.
    pub fn start() -> Result<Self, LocalServerError> {
        Self::start_with_config(None)
    }

    /// As `start`, plus a config file (for auth, accounts...).
    pub fn start_with_config(config: Option<&str>) -> Result<Self, LocalServerError> {
        let bin = find_server_binary()?;
        remove_orphaned_data();
        let dir = tempfile::Builder::new().prefix(DATA_PREFIX).tempdir()?;
        // Whose it is: a folder whose owner died (SIGKILL leaves it
        // behind) is removed by the next start.
        write_private(
            &dir.path().join(OWNER_FILE),
            &std::process::id().to_string(),
        )?;
        let log_path = dir.path().join("server.log");
        let mut server = Self {
            child: None,
            bin,
            args: Vec::new(),
            port: 0,
            monitoring_port: 0,
            dir,
            log_path,
        };
        // A port found free can be taken (by another process's outgoing
        // connection, say) before the server binds it: try fresh ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            server.port = free_port()?;
            server.monitoring_port = free_port()?;
            server.args = server.arguments(config)?;
            match server.spawn() {
                Err(LocalServerError::NotReady { log, .. })
                    if attempt < 5 && log.contains("address already in use") => {}
                result => return result.map(|()| server),
            }
        }
    }

    fn arguments(&self, config: Option<&str>) -> Result<Vec<String>, LocalServerError> {
        let dir = self.dir.path();
        let mut args = vec![
            "-a".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            self.port.to_string(),
            "-m".to_owned(),
            self.monitoring_port.to_string(),
            "-js".to_owned(),
            "-sd".to_owned(),
            dir.join("js").display().to_string(),
            "-l".to_owned(),
            self.log_path.display().to_string(),
        ];
        if let Some(text) = config {
            let conf = dir.join("server.conf");
            write_private(&conf, text)?;
            args.push("-c".to_owned());
            args.push(conf.display().to_string());
        }
        Ok(args)
    }

    fn spawn(&mut self) -> Result<(), LocalServerError> {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id();
        let mut command = Command::new(&self.bin);
        // SAFETY: between fork and exec only async-signal-safe calls
        // (prctl, getppid, _exit).
        unsafe {
            command.pre_exec(move || {
                // The server dies with the thread that started it, however
                // that ends (SIGKILL included): no server outlives the app.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the line above.
                if libc::getppid() != parent as libc::pid_t {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let child = command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| LocalServerError::Spawn {
                bin: self.bin.display().to_string(),
                source,
            })?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), LocalServerError> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(LocalServerError::NotReady {
                    port: self.port,
                    log: format!("exited with {status}; {}", self.log_tail()),
                });
            }
            // Ours, not another test's server that took the port first: the
            // log line is stamped with this child's pid.
            if self.listening()
                && let Ok(stream) = TcpStream::connect(("127.0.0.1", self.port))
            {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut line = String::new();
                if BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("INFO") {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(LocalServerError::NotReady {
            port: self.port,
            log: self.log_tail(),
        })
    }

    /// This process has logged that it listens for clients.
    fn listening(&self) -> bool {
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return false;
        };
        let stamp = format!("[{pid}]");
        self.log_text()
            .lines()
            .any(|l| l.starts_with(&stamp) && l.contains("Listening for client connections"))
    }

    /// What the server has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server process's id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Where its JetStream store, config and log live.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn monitoring_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitoring_port)
    }

    /// Kill the process (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Write a new config file and have the running server reload it
    /// (SIGHUP): users removed there are disconnected.
    pub fn reconfigure(&self, config: &str) -> Result<(), LocalServerError> {
        write_private(&self.dir.path().join("server.conf"), config)?;
        if let Some(child) = &self.child {
            let pid = libc::pid_t::try_from(child.id()).map_err(std::io::Error::other)?;
            // SAFETY: signalling our own child by its pid.
            if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
                return Err(std::io::Error::last_os_error().into());
            }
        }
        Ok(())
    }

    /// Start again on the same port with the same JetStream store.
    pub fn restart(&mut self) -> Result<(), LocalServerError> {
        self.kill();
        self.spawn()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three servers on loopback joined by routes on free ports, JetStream in
/// temp dirs: a real cluster for tests and benchmarks.
pub struct LocalCluster {
    pub servers: Vec<LocalServer>,
}

impl LocalCluster {
    /// Start three servers named `n0`..`n2` in cluster `c`, and wait until
    /// JetStream has elected its leaders (it can place an R3 stream).
    pub fn start() -> Result<Self, LocalServerError> {
        Self::start_with("")
    }

    /// As `start`, with more configuration for every server (accounts, a
    /// system account). Anonymous connections must still reach JetStream
    /// (`no_auth_user`), which the wait for leaders uses.
    pub fn start_with(extra: &str) -> Result<Self, LocalServerError> {
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect::<Result<_, _>>()?;
        let servers = (0..3)
            .map(|i| {
                let others: Vec<String> = (0..3)
                    .filter(|j| *j != i)
                    .map(|j| format!("nats-route://127.0.0.1:{}", routes[j]))
                    .collect();
                let config = format!(
                    "server_name: n{i}\ncluster {{\n  name: c\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\njetstream {{}}\n{extra}\n",
                    routes[i],
                    others.join(", ")
                );
                LocalServer::start_with_config(Some(&config))
            })
            .collect::<Result<_, _>>()?;
        let cluster = Self { servers };
        cluster.wait_for_jetstream()?;
        Ok(cluster)
    }

    fn wait_for_jetstream(&self) -> Result<(), LocalServerError> {
        let url = self.servers[0].url();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let not_ready = |log: String| LocalServerError::NotReady {
                port: self.servers[0].port,
                log,
            };
            let client = async_nats::connect(url)
                .await
                .map_err(|e| not_ready(e.to_string()))?;
            let js = async_nats::jetstream::new(client);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let made = js
                    .create_stream(async_nats::jetstream::stream::Config {
                        name: "PROBE".into(),
                        subjects: vec!["eventscope.probe".into()],
                        num_replicas: 3,
                        ..Default::default()
                    })
                    .await;
                match made {
                    Ok(_) => {
                        let _ = js.delete_stream("PROBE").await;
                        return Ok(());
                    }
                    Err(e) if Instant::now() >= deadline => {
                        return Err(not_ready(format!(
                            "the cluster's JetStream did not come up: {e}"
                        )));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        })
    }

    /// Every server's client URL, comma separated.
    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(LocalServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}
