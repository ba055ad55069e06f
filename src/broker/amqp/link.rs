//! Opening an AMQP 0.9.1 connection with lapin: the URL's host, port and
//! vhost, the profile's user and password, TLS for `amqps://` (lapin's
//! rustls with ring, the profile's CA file or the system's roots), and
//! lapin's errors said in words (refused credentials, a vhost that does not
//! exist or is not allowed, a refused exchange or queue).

use std::time::Duration;

use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{Connect, Connection, ConnectionProperties, ErrorKind};
use thiserror::Error;

use crate::broker::profile::{Auth, ConnectionProfile, redact_url};

/// How long opening a connection may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(8);
/// Seconds between heartbeats both sides send.
const HEARTBEAT_SECS: u16 = 15;

#[derive(Debug, Error)]
pub enum AmqpLinkError {
    #[error("'{0}' is not an AMQP URL (amqp://user:password@host:5672/vhost, amqps://…)")]
    BadUrl(String),
    #[error(
        "AMQP takes a user name and password (in the URL or the form); {0} is not an AMQP credential"
    )]
    UnsupportedAuth(&'static str),
    #[error("cannot read {}: {source}", .path.display())]
    TlsFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot reach {server}: {reason}")]
    Io { server: String, reason: String },
    #[error("TLS with {server} failed: {reason}")]
    Tls { server: String, reason: String },
    #[error("{server} did not answer within {OPEN_TIMEOUT:?}")]
    TimedOut { server: String },
    #[error("{server} refused the credentials ({reason})")]
    Refused { server: String, reason: String },
    #[error(
        "{server} refused the virtual host '{vhost}' ({reason}): it does not exist, or this user has no permissions on it"
    )]
    Vhost {
        server: String,
        vhost: String,
        reason: String,
    },
    #[error(
        "{server} would not let this user make or read the monitor's own queue ({reason}): allow configure, write and read on ^eventscope\\.monitor\\. in vhost '{vhost}'"
    )]
    OwnQueue {
        server: String,
        vhost: String,
        reason: String,
    },
    #[error("{server} closed the connection: {reason}")]
    Closed { server: String, reason: String },
    #[error("{server}: {reason}")]
    Protocol { server: String, reason: String },
}

impl AmqpLinkError {
    /// Retrying cannot fix it: the configuration must change.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::BadUrl(_)
                | Self::UnsupportedAuth(_)
                | Self::TlsFile { .. }
                | Self::Refused { .. }
                | Self::Vhost { .. }
                | Self::OwnQueue { .. }
                | Self::Tls { .. }
        )
    }

    /// A refusal of who the user is or what it may do.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            Self::Refused { .. } | Self::Vhost { .. } | Self::OwnQueue { .. }
        )
    }
}

/// What a refusal of one operation on a channel says (a missing exchange,
/// a refused queue or binding), in the broker's words.
pub fn refusal(error: &lapin::Error) -> String {
    match error.kind() {
        ErrorKind::ProtocolError(e) => {
            let what = match e.kind() {
                AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED) => "not allowed",
                AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND) => "not found",
                AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED) => "precondition failed",
                AMQPErrorKind::Soft(AMQPSoftError::RESOURCELOCKED) => "in use",
                _ => "refused",
            };
            format!("{what}: {}", e.get_message().as_str())
        }
        _ => error.to_string(),
    }
}

/// The URL parsed, with the profile's credentials in it.
pub(crate) fn target(url: &str, auth: &Auth) -> Result<AMQPUri, AmqpLinkError> {
    let mut uri: AMQPUri = url
        .trim()
        .parse()
        .map_err(|_| AmqpLinkError::BadUrl(redact_url(url)))?;
    match auth {
        Auth::None => {}
        Auth::UserPassword { user, password } => {
            uri.authority.userinfo.username = user.clone();
            uri.authority.userinfo.password = password.clone();
        }
        other => return Err(AmqpLinkError::UnsupportedAuth(other.label())),
    }
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(HEARTBEAT_SECS);
    }
    Ok(uri)
}

/// Only the syntax of a URL (for the profile's check).
pub(crate) fn check_url(url: &str) -> Result<(), AmqpLinkError> {
    target(url, &Auth::None).map(|_| ())
}

/// Open a connection to `url`, named `name` in the broker's views.
pub(crate) async fn open(
    profile: &ConnectionProfile,
    url: &str,
    name: &str,
) -> Result<Connection, AmqpLinkError> {
    let server = redact_url(url);
    let mut uri = target(url, &profile.auth)?;
    let vhost = uri.vhost.clone();
    let tls = &profile.tls;
    if tls.wants_tls() {
        uri.scheme = AMQPScheme::AMQPS;
    }
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|source| AmqpLinkError::TlsFile {
            path: path.to_path_buf(),
            source,
        })
    };
    let config = OwnedTLSConfig {
        cert_chain: match &tls.ca_file {
            Some(path) => Some(String::from_utf8_lossy(&read(path)?).into_owned()),
            None => None,
        },
        identity: match (&tls.client_cert, &tls.client_key) {
            (Some(cert), Some(key)) => Some(OwnedIdentity::PKCS8 {
                pem: read(cert)?,
                key: read(key)?,
            }),
            _ => None,
        },
    };
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let runtime = lapin::runtime::default_runtime().map_err(|e| AmqpLinkError::Io {
        server: server.clone(),
        reason: e.to_string(),
    })?;
    let connect = uri.connect_with_config(properties, config, runtime);
    match tokio::time::timeout(OPEN_TIMEOUT, connect).await {
        Err(_) => Err(AmqpLinkError::TimedOut { server }),
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(said(&server, &vhost, &e)),
    }
}

/// A connection-level error in words.
pub(crate) fn said(server: &str, vhost: &str, error: &lapin::Error) -> AmqpLinkError {
    let server = server.to_owned();
    match error.kind() {
        ErrorKind::IOError(e) => {
            let said = e.to_string();
            // rustls's own names for what is wrong with the certificate.
            let words = if said.contains("UnknownIssuer") {
                Some("the server's certificate is not signed by a trusted CA; give the CA file")
            } else if said.contains("NotValidForName") {
                Some("the server's certificate is not valid for this host name")
            } else if said.contains("certificate") || said.contains("InvalidContentType") {
                Some("the handshake failed (is this port TLS?)")
            } else {
                None
            };
            match words {
                Some(words) => AmqpLinkError::Tls {
                    server,
                    reason: format!("{words} ({said})"),
                },
                None => AmqpLinkError::Io {
                    server,
                    reason: said,
                },
            }
        }
        ErrorKind::ProtocolError(e) => {
            let reason = e.get_message().as_str().to_owned();
            match e.kind() {
                AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED)
                    if reason.contains("vhost") || reason.contains("virtual host") =>
                {
                    AmqpLinkError::Vhost {
                        server,
                        vhost: vhost.to_owned(),
                        reason,
                    }
                }
                AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)
                | AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => {
                    AmqpLinkError::Refused { server, reason }
                }
                AMQPErrorKind::Hard(AMQPHardError::CONNECTIONFORCED) => {
                    AmqpLinkError::Closed { server, reason }
                }
                _ => AmqpLinkError::Protocol { server, reason },
            }
        }
        _ => AmqpLinkError::Protocol {
            server,
            reason: error.to_string(),
        },
    }
}
