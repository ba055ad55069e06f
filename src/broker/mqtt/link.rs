//! One MQTT 5 link: TCP (TLS for `mqtts://` or when the profile asks),
//! CONNECT with the profile's user and password, CONNACK read and refused
//! in words, then packets both ways. rumqttc's codec frames the packets;
//! the session around it is ours, because a monitor must see each PUBLISH
//! exactly as it came (its dup and retain flags, its properties), keep its
//! own reading pace, and put TLS over rustls with ring as the rest of
//! eventscope does (rumqttc's own TLS brings aws-lc, a C build).

use std::time::Duration;

use bytes::BytesMut;
use rumqttc::v5::mqttbytes::v5::{
    ConnAck, Connect, ConnectProperties, ConnectReturnCode, Disconnect, DisconnectReasonCode,
    Login, Packet,
};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::broker::profile::{Auth, ConnectionProfile, redact_url};
use crate::broker::tls::{Stream, upgrade};

/// How long each step of opening a link may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// Seconds between keep-alive pings the server expects at least.
pub(crate) const KEEP_ALIVE_SECS: u16 = 30;
/// Largest packet eventscope accepts (MQTT's own limit is 256 MiB).
pub(crate) const MAX_PACKET: u32 = 64 << 20;
/// Bytes read from the socket at once.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Error)]
pub enum MqttLinkError {
    #[error("'{0}' is not an MQTT URL (mqtt://host:1883, mqtts://host:8883)")]
    BadUrl(String),
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
    #[error(
        "MQTT takes a user name and password (in the URL or the form); {0} is not an MQTT credential"
    )]
    UnsupportedAuth(&'static str),
    #[error("{server} refused the credentials ({reason})")]
    Refused { server: String, reason: String },
    #[error("{server} refused the connection: {reason}")]
    Rejected { server: String, reason: String },
    #[error("{server} broke the MQTT protocol: {reason}")]
    Protocol { server: String, reason: String },
    #[error("{server} closed the connection")]
    Closed { server: String },
    #[error("{server} did not answer two pings: the link is dead")]
    Silent { server: String },
    /// The broker's DISCONNECT: its reason code, and its words if any.
    #[error("{server} disconnected: {reason}")]
    Disconnected { server: String, reason: String },
}

impl MqttLinkError {
    /// Retrying cannot fix it: the configuration must change.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::BadUrl(_) | Self::Tls { .. } | Self::UnsupportedAuth(_) | Self::Refused { .. }
        )
    }

    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}

/// Host, port and TLS of an `mqtt://` or `mqtts://` URL.
pub(crate) fn target(url: &str) -> Result<(String, u16, bool), MqttLinkError> {
    let bad = || MqttLinkError::BadUrl(redact_url(url));
    let parsed = url::Url::parse(url.trim()).map_err(|_| bad())?;
    let tls = match parsed.scheme() {
        "mqtt" => false,
        "mqtts" => true,
        _ => return Err(bad()),
    };
    let host = match parsed.host().ok_or_else(bad)? {
        url::Host::Domain(name) => name.to_owned(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    };
    let port = parsed.port().unwrap_or(if tls { 8883 } else { 1883 });
    Ok((host, port, tls))
}

/// An open MQTT link.
pub(crate) struct MqttLink {
    stream: Box<dyn Stream>,
    buf: BytesMut,
    out: BytesMut,
    pub server: String,
    next_pkid: u16,
}

impl MqttLink {
    /// Connect to `url` as `client_id`, with a clean session that ends
    /// with the link (a monitor leaves nothing queued on the broker).
    pub async fn open(
        profile: &ConnectionProfile,
        url: &str,
        client_id: &str,
    ) -> Result<Self, MqttLinkError> {
        let server = redact_url(url);
        let (host, port, url_tls) = target(url)?;
        let login = match &profile.auth {
            Auth::None => None,
            Auth::UserPassword { user, password } => Some(Login::new(user, password)),
            other => return Err(MqttLinkError::UnsupportedAuth(other.label())),
        };
        let timed_out = || MqttLinkError::TimedOut {
            server: server.clone(),
        };
        let tcp = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect((host.as_str(), port)))
            .await
            .map_err(|_| timed_out())?
            .map_err(|source| MqttLinkError::Io {
                server: server.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let mut stream: Box<dyn Stream> = Box::new(tcp);
        if url_tls || profile.tls.wants_tls() {
            stream = tokio::time::timeout(STEP_TIMEOUT, upgrade(stream, &host, profile))
                .await
                .map_err(|_| timed_out())?
                .map_err(|source| MqttLinkError::Tls {
                    server: server.clone(),
                    source,
                })?;
        }
        let mut link = Self {
            stream,
            buf: BytesMut::with_capacity(READ_CHUNK),
            out: BytesMut::new(),
            server: server.clone(),
            next_pkid: 0,
        };
        let properties = ConnectProperties {
            // The session ends with the link.
            session_expiry_interval: Some(0),
            max_packet_size: Some(MAX_PACKET),
            // Topic aliases would make the broker send empty topics.
            topic_alias_max: Some(0),
            request_problem_info: Some(1),
            ..ConnectProperties::new()
        };
        let connect = Connect {
            keep_alive: KEEP_ALIVE_SECS,
            client_id: client_id.to_owned(),
            clean_start: true,
            properties: Some(properties),
        };
        link.send(&Packet::Connect(connect, None, login)).await?;
        let answer = tokio::time::timeout(STEP_TIMEOUT, link.next())
            .await
            .map_err(|_| MqttLinkError::TimedOut { server })??;
        match answer {
            Packet::ConnAck(ConnAck {
                code, properties, ..
            }) => {
                if code == ConnectReturnCode::Success {
                    return Ok(link);
                }
                let said = properties.and_then(|p| p.reason_string);
                let reason = match said {
                    Some(text) => format!("{code:?}: {text}"),
                    None => format!("{code:?}"),
                };
                let server = link.server.clone();
                Err(match code {
                    ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized => {
                        MqttLinkError::Refused { server, reason }
                    }
                    _ => MqttLinkError::Rejected { server, reason },
                })
            }
            other => Err(MqttLinkError::Protocol {
                server: link.server.clone(),
                reason: format!("answered CONNECT with {other:?}"),
            }),
        }
    }

    /// The broker's DISCONNECT as an error naming it.
    pub fn disconnected(&self, disconnect: Disconnect) -> MqttLinkError {
        let code = disconnect.reason_code;
        MqttLinkError::Disconnected {
            server: self.server.clone(),
            reason: match disconnect.properties.and_then(|p| p.reason_string) {
                Some(text) => format!("{code:?}: {text}"),
                None => format!("{code:?}"),
            },
        }
    }

    /// A packet id for a packet that needs one (never 0).
    pub fn pkid(&mut self) -> u16 {
        self.next_pkid = self.next_pkid.wrapping_add(1).max(1);
        self.next_pkid
    }

    pub async fn send(&mut self, packet: &Packet) -> Result<(), MqttLinkError> {
        self.queue(packet)?;
        self.flush().await
    }

    /// Add a packet to what `flush` writes.
    pub fn queue(&mut self, packet: &Packet) -> Result<(), MqttLinkError> {
        packet
            .write(&mut self.out, None)
            .map_err(|e| MqttLinkError::Protocol {
                server: self.server.clone(),
                reason: format!("cannot write {packet:?}: {e}"),
            })?;
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<(), MqttLinkError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = self.out.split();
        self.stream
            .write_all(&out)
            .await
            .map_err(|source| MqttLinkError::Io {
                server: self.server.clone(),
                source,
            })
    }

    /// The next whole packet in what was read, if any.
    pub fn parse(&mut self) -> Result<Option<Packet>, MqttLinkError> {
        match Packet::read(&mut self.buf, Some(MAX_PACKET)) {
            Ok(packet) => Ok(Some(packet)),
            Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(needed)) => {
                self.buf.reserve(needed.max(READ_CHUNK));
                Ok(None)
            }
            Err(e) => Err(MqttLinkError::Protocol {
                server: self.server.clone(),
                reason: e.to_string(),
            }),
        }
    }

    /// Read more from the socket (cancel-safe: what was read stays in the
    /// buffer).
    pub async fn fill(&mut self) -> Result<(), MqttLinkError> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(MqttLinkError::Closed {
                server: self.server.clone(),
            }),
            Ok(_) => Ok(()),
            Err(source) => Err(MqttLinkError::Io {
                server: self.server.clone(),
                source,
            }),
        }
    }

    /// The next packet, reading as needed.
    pub async fn next(&mut self) -> Result<Packet, MqttLinkError> {
        loop {
            if let Some(packet) = self.parse()? {
                return Ok(packet);
            }
            self.fill().await?;
        }
    }

    pub async fn close(mut self) {
        let disconnect = Disconnect::new(DisconnectReasonCode::NormalDisconnection);
        let _ = self.queue(&Packet::Disconnect(disconnect));
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            let _ = self.flush().await;
            let _ = self.stream.shutdown().await;
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_and_tls() {
        let t = |url| target(url).expect(url);
        assert_eq!(t("mqtt://a"), ("a".into(), 1883, false));
        assert_eq!(t("mqtts://a"), ("a".into(), 8883, true));
        assert_eq!(t("mqtt://u:p@b:1884"), ("b".into(), 1884, false));
        assert_eq!(t("mqtt://[::1]:1884"), ("::1".into(), 1884, false));
        assert_eq!(t("mqtt://[::1]"), ("::1".into(), 1883, false));
        assert!(target("mqtt://a:port").is_err());
        assert!(target("nats://a").is_err());
    }
}
