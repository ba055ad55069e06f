//! Opening one monitoring link: TCP, the server's `INFO`, TLS when asked
//! for, and `CONNECT` with the profile's credentials.

use std::time::Duration;

use base64::Engine;
use bytes::BytesMut;
use serde_json::json;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::frame::{self, Frame, Parsed};
use crate::broker::profile::{Auth, ConnectionProfile};

pub(crate) use crate::broker::tls::Stream;
use crate::broker::tls::upgrade;

/// How long each step of opening a link may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// What the server said about itself in `INFO`.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServerInfo {
    pub server_name: String,
    pub version: String,
    pub host: String,
    pub port: u16,
    pub jetstream: bool,
    pub tls_required: bool,
    pub nonce: Option<String>,
    /// Our connection's id on the server (`cid` in its statistics).
    pub client_id: Option<u64>,
    /// Other servers of the cluster, for failover.
    pub connect_urls: Vec<String>,
    pub lame_duck: bool,
}

impl ServerInfo {
    pub fn parse(json: &[u8]) -> Result<Self, LinkError> {
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| LinkError::Protocol(format!("the server's INFO is not JSON: {e}")))?;
        let text = |key: &str| {
            value
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let flag = |key: &str| value.get(key).and_then(|v| v.as_bool()).unwrap_or(false);
        Ok(Self {
            server_name: text("server_name"),
            version: text("version"),
            host: text("host"),
            port: value
                .get("port")
                .and_then(|v| v.as_u64())
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0),
            jetstream: flag("jetstream"),
            tls_required: flag("tls_required"),
            nonce: value
                .get("nonce")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            client_id: value.get("client_id").and_then(|v| v.as_u64()),
            connect_urls: value
                .get("connect_urls")
                .and_then(|v| v.as_array())
                .map(|urls| {
                    urls.iter()
                        .filter_map(|u| u.as_str())
                        .map(|u| format!("nats://{u}"))
                        .collect()
                })
                .unwrap_or_default(),
            lame_duck: flag("ldm"),
        })
    }
}

#[derive(Debug, Error)]
pub(crate) enum LinkError {
    #[error("cannot reach {server}: {source}")]
    Io {
        server: String,
        source: std::io::Error,
    },
    #[error("{server} did not answer within {STEP_TIMEOUT:?}")]
    TimedOut { server: String },
    #[error("TLS with {server} failed: {source}")]
    Tls {
        server: String,
        source: crate::broker::tls::TlsError,
    },
    #[error("{0}")]
    Credentials(String),
    #[error("'{0}' is not a server URL")]
    BadUrl(String),
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl LinkError {
    /// Retrying cannot fix it: the configuration must change.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            LinkError::Tls { .. } | LinkError::Credentials(_) | LinkError::BadUrl(_)
        )
    }
}

/// An open link: the stream, what the server said, and bytes already read
/// past `INFO`.
pub(crate) struct Link {
    pub stream: Box<dyn Stream>,
    pub info: ServerInfo,
    pub leftover: BytesMut,
    pub server: String,
}

/// Where to connect: host, port, whether TLS is asked for in the URL.
pub(crate) struct Target {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

pub(crate) fn target(url: &str) -> Result<Target, LinkError> {
    let addr: async_nats::ServerAddr = url
        .parse()
        .map_err(|_| LinkError::BadUrl(crate::broker::profile::redact_url(url)))?;
    Ok(Target {
        host: addr.host().to_owned(),
        port: addr.port(),
        tls: addr.tls_required(),
    })
}

/// Open a link to `server`; the caller writes `SUB`s and a `PING` next.
pub(crate) async fn open(
    server: &str,
    profile: &ConnectionProfile,
    auth: &ResolvedAuth,
    name: &str,
) -> Result<Link, LinkError> {
    let target = target(server)?;
    let shown = crate::broker::profile::redact_url(server);
    let timed_out = || LinkError::TimedOut {
        server: shown.clone(),
    };
    let io = |source| LinkError::Io {
        server: shown.clone(),
        source,
    };
    let tcp = tokio::time::timeout(
        STEP_TIMEOUT,
        TcpStream::connect((target.host.as_str(), target.port)),
    )
    .await
    .map_err(|_| timed_out())?
    .map_err(io)?;
    let _ = tcp.set_nodelay(true);
    let mut stream: Box<dyn Stream> = Box::new(tcp);
    let mut buf = BytesMut::with_capacity(4096);
    let info = tokio::time::timeout(STEP_TIMEOUT, read_info(&mut stream, &mut buf))
        .await
        .map_err(|_| timed_out())??;
    let wants_tls = target.tls || info.tls_required || profile.tls.wants_tls();
    if wants_tls {
        if !buf.is_empty() {
            return Err(LinkError::Protocol(
                "the server sent data before the TLS handshake".into(),
            ));
        }
        stream = tokio::time::timeout(STEP_TIMEOUT, upgrade(stream, &target.host, profile))
            .await
            .map_err(|_| timed_out())?
            .map_err(|source| LinkError::Tls {
                server: shown.clone(),
                source,
            })?;
    }
    let connect = connect_line(auth, info.nonce.as_deref(), name, wants_tls)?;
    stream.write_all(connect.as_bytes()).await.map_err(io)?;
    Ok(Link {
        stream,
        info,
        leftover: buf,
        server: shown,
    })
}

async fn read_info(
    stream: &mut Box<dyn Stream>,
    buf: &mut BytesMut,
) -> Result<ServerInfo, LinkError> {
    loop {
        if let Parsed::Frame(frame, used) = frame::parse(buf).map_err(|e| {
            LinkError::Protocol(format!(
                "expected INFO from the server: {e} (is it a NATS server?)"
            ))
        })? {
            let info = match frame {
                Frame::Info(json) => ServerInfo::parse(json)?,
                other => {
                    return Err(LinkError::Protocol(format!(
                        "expected INFO from the server, got {other:?}"
                    )));
                }
            };
            bytes::Buf::advance(buf, used);
            return Ok(info);
        }
        buf.reserve(4096);
        let read = stream.read_buf(buf).await.map_err(|e| {
            LinkError::Protocol(format!("the server closed before sending INFO: {e}"))
        })?;
        if read == 0 {
            return Err(LinkError::Protocol(
                "the server closed the connection before sending INFO (is it a NATS server?)"
                    .into(),
            ));
        }
    }
}

/// Credentials ready for `CONNECT`, files read once per connection.
#[derive(Clone, Default)]
pub(crate) enum ResolvedAuth {
    #[default]
    None,
    Token(String),
    UserPassword(String, String),
    Nkey(String),
    Jwt {
        jwt: String,
        seed: String,
    },
}

impl ResolvedAuth {
    pub async fn from_profile(profile: &ConnectionProfile) -> Result<Self, LinkError> {
        let read = |path: &std::path::Path| {
            std::fs::read_to_string(path)
                .map_err(|e| LinkError::Credentials(format!("cannot read {}: {e}", path.display())))
        };
        Ok(match &profile.auth {
            Auth::None => Self::None,
            Auth::Token { token } => Self::Token(token.clone()),
            Auth::UserPassword { user, password } => {
                Self::UserPassword(user.clone(), password.clone())
            }
            Auth::NkeySeed { seed } => Self::Nkey(seed.trim().to_owned()),
            Auth::NkeyFile { path } => Self::Nkey(read(path)?.trim().to_owned()),
            Auth::CredsFile { path } => {
                let text = read(path)?;
                let (jwt, seed) = parse_creds(&text).ok_or_else(|| {
                    LinkError::Credentials(format!(
                        "{} is not a NATS credentials file (no JWT and seed)",
                        path.display()
                    ))
                })?;
                Self::Jwt { jwt, seed }
            }
        })
    }
}

/// The JWT and the seed of a `.creds` file: the first line inside each
/// `-----BEGIN ...-----` / `------END ...------` pair.
fn parse_creds(text: &str) -> Option<(String, String)> {
    let mut blocks = Vec::new();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with("---") {
            inside = line.contains("BEGIN");
            continue;
        }
        if inside && !line.is_empty() {
            blocks.push(line.to_owned());
            inside = false;
        }
    }
    let mut blocks = blocks.into_iter();
    Some((blocks.next()?, blocks.next()?))
}

fn sign(seed: &str, nonce: Option<&str>) -> Result<(String, String), LinkError> {
    let pair = nkeys::KeyPair::from_seed(seed)
        .map_err(|e| LinkError::Credentials(format!("the NKey seed is not valid: {e}")))?;
    let nonce = nonce.ok_or_else(|| {
        LinkError::Credentials("the server sent no nonce to sign; is NKey auth enabled?".into())
    })?;
    let signature = pair
        .sign(nonce.as_bytes())
        .map_err(|e| LinkError::Credentials(format!("cannot sign the server's nonce: {e}")))?;
    Ok((
        pair.public_key(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature),
    ))
}

/// `CONNECT {...}\r\n`: no echo (nothing is published on this link),
/// headers on, the profile's credentials.
fn connect_line(
    auth: &ResolvedAuth,
    nonce: Option<&str>,
    name: &str,
    tls: bool,
) -> Result<String, LinkError> {
    let mut options = json!({
        "verbose": false,
        "pedantic": false,
        "tls_required": tls,
        "name": name,
        "lang": "rust-eventscope",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1,
        "headers": true,
        "no_responders": true,
        "echo": false,
    });
    let fields = options
        .as_object_mut()
        .expect("a JSON object literal is an object");
    match auth {
        ResolvedAuth::None => {}
        ResolvedAuth::Token(token) => {
            fields.insert("auth_token".into(), token.clone().into());
        }
        ResolvedAuth::UserPassword(user, password) => {
            fields.insert("user".into(), user.clone().into());
            fields.insert("pass".into(), password.clone().into());
        }
        ResolvedAuth::Nkey(seed) => {
            let (public, sig) = sign(seed, nonce)?;
            fields.insert("nkey".into(), public.into());
            fields.insert("sig".into(), sig.into());
        }
        ResolvedAuth::Jwt { jwt, seed } => {
            let (_, sig) = sign(seed, nonce)?;
            fields.insert("jwt".into(), jwt.clone().into());
            fields.insert("sig".into(), sig.into());
        }
    }
    Ok(format!("CONNECT {options}\r\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creds_files_give_their_jwt_and_seed() {
        let text = "-----BEGIN NATS USER JWT-----\neyJ0eXAi.x.y\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\n\n-----BEGIN USER NKEY SEED-----\nSUAXYZ\n------END USER NKEY SEED------\n";
        assert_eq!(
            parse_creds(text),
            Some(("eyJ0eXAi.x.y".into(), "SUAXYZ".into()))
        );
        assert_eq!(parse_creds("nothing"), None);
    }

    #[test]
    fn info_is_read_leniently() {
        let info = ServerInfo::parse(
            br#"{"server_name":"n1","version":"2.15.1","port":4222,"client_id":7,"connect_urls":["10.0.0.2:4222"],"nonce":"abc"}"#,
        )
        .expect("info");
        assert_eq!(info.client_id, Some(7));
        assert_eq!(info.connect_urls, ["nats://10.0.0.2:4222"]);
        assert!(ServerInfo::parse(b"{").is_err());
    }
}
