//! A private Mosquitto child process on a free loopback port: the demo's
//! MQTT broker and the tests'. Optionally with users (a password file made
//! by `mosquitto_passwd`) and an ACL.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

pub const MOSQUITTO_INSTALL_HINT: &str =
    "install Mosquitto: `sudo apt-get install mosquitto` (Debian, Ubuntu), or set MOSQUITTO_BIN";

#[derive(Debug, Error)]
pub enum LocalMosquittoError {
    #[error("mosquitto was not found: {MOSQUITTO_INSTALL_HINT}")]
    NotFound,
    #[error("cannot start {bin}: {source}")]
    Spawn { bin: String, source: std::io::Error },
    #[error("mosquitto_passwd failed: {0}")]
    Passwords(String),
    #[error("mosquitto did not become ready on port {port}: {log}")]
    NotReady { port: u16, log: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Users and what they may read (`topic read sensors/#` lines per user).
#[derive(Clone, Debug, Default)]
pub struct MosquittoUsers {
    pub users: Vec<(String, String)>,
    /// Mosquitto ACL text; empty: every user reads and writes everything.
    pub acl: String,
}

/// `MOSQUITTO_BIN`, else `mosquitto` on PATH or in /usr/sbin (Debian's
/// package puts it there, off a normal user's PATH).
pub fn find_mosquitto() -> Result<PathBuf, LocalMosquittoError> {
    if let Some(bin) = std::env::var_os("MOSQUITTO_BIN").filter(|b| !b.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("mosquitto"))
        .find(|candidate| candidate.is_file())
        .ok_or(LocalMosquittoError::NotFound)
}

pub struct LocalMosquitto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl LocalMosquitto {
    /// Anonymous clients may do anything.
    pub fn start() -> Result<Self, LocalMosquittoError> {
        Self::start_with(None)
    }

    pub fn start_with(users: Option<&MosquittoUsers>) -> Result<Self, LocalMosquittoError> {
        Self::start_inner(users, None)
    }

    /// Anonymous clients, over TLS only: the server's certificate and key
    /// (PEM files).
    pub fn start_tls(cert: &Path, key: &Path) -> Result<Self, LocalMosquittoError> {
        Self::start_inner(None, Some((cert, key)))
    }

    fn start_inner(
        users: Option<&MosquittoUsers>,
        tls: Option<(&Path, &Path)>,
    ) -> Result<Self, LocalMosquittoError> {
        let bin = find_mosquitto()?;
        let dir = tempfile::Builder::new()
            .prefix("eventscope-mosquitto-")
            .tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut config = format!("listener {port} 127.0.0.1\n");
        // Started as root, Mosquitto becomes user `mosquitto`, who may not
        // read our private folder's files (the TLS key): stay who we are.
        // SAFETY: geteuid(2) reads the process's id and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            config.push_str("user root\n");
        }
        if let Some((cert, key)) = tls {
            config.push_str(&format!(
                "certfile {}\nkeyfile {}\n",
                cert.display(),
                key.display()
            ));
        }
        match users {
            None => config.push_str("allow_anonymous true\n"),
            Some(users) => {
                let passwords = dir.path().join("passwords");
                std::fs::write(&passwords, "")?;
                for (user, password) in &users.users {
                    let sibling = bin.with_file_name("mosquitto_passwd");
                    let tool = if sibling.is_file() {
                        sibling
                    } else {
                        PathBuf::from("mosquitto_passwd")
                    };
                    let out = Command::new(tool)
                        .arg("-b")
                        .arg(&passwords)
                        .arg(user)
                        .arg(password)
                        .output()
                        .map_err(|e| LocalMosquittoError::Passwords(e.to_string()))?;
                    if !out.status.success() {
                        return Err(LocalMosquittoError::Passwords(
                            String::from_utf8_lossy(&out.stderr).into_owned(),
                        ));
                    }
                }
                config.push_str("allow_anonymous false\n");
                config.push_str(&format!("password_file {}\n", passwords.display()));
                if !users.acl.is_empty() {
                    let acl = dir.path().join("acl");
                    std::fs::write(&acl, &users.acl)?;
                    config.push_str(&format!("acl_file {}\n", acl.display()));
                }
            }
        }
        let config_path = dir.path().join("mosquitto.conf");
        std::fs::write(&config_path, config)?;
        let log_path = dir.path().join("log");
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log_path)?)
            .stderr(std::fs::File::create(dir.path().join("err"))?)
            .spawn()
            .map_err(|source| LocalMosquittoError::Spawn {
                bin: bin.display().to_string(),
                source,
            })?;
        let mut server = Self {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = server.child.try_wait().ok().flatten().is_some();
            if exited || Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(server._dir.path().join("err")).unwrap_or_default();
                return Err(LocalMosquittoError::NotReady { port, log });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for LocalMosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
