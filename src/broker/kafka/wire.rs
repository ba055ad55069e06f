//! One connection to one Kafka broker: TCP (TLS for `kafkas://` or when
//! the profile asks), the versions both sides speak (ApiVersions), SASL
//! PLAIN when the profile has a user, then requests answered in turn.
//! kafka-protocol encodes and decodes the messages; the framing and the
//! choice of versions are here, because they are the client's part.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::link::KafkaLinkError;
use crate::broker::profile::{Auth, ConnectionProfile};
use crate::broker::tls::{Stream, upgrade};

/// How long connecting, and each answer but a fetch's, may take.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer accepted (Kafka's own default fetch limit is 50 MiB).
const MAX_FRAME: usize = 64 << 20;

/// The highest version of each request eventscope encodes. Capped where a
/// later version changes the shape this client fills in: Fetch 13 and
/// Produce 13 name topics by id, FindCoordinator 4 batches keys, OffsetFetch
/// 9 is for the new consumer protocol (8, which batches groups, is asked
/// in its own shape: tansu answers in it whatever the version).
const CEILINGS: &[(i16, i16)] = &[
    (0, 9),  // Produce
    (1, 12), // Fetch
    (2, 7),  // ListOffsets
    (3, 12), // Metadata
    (9, 8),  // OffsetFetch
    (10, 3), // FindCoordinator
    (16, 4), // ListGroups
    (17, 1), // SaslHandshake
    (18, 3), // ApiVersions
    (36, 2), // SaslAuthenticate
];

/// An open connection to one broker.
pub(crate) struct KafkaConn {
    stream: Box<dyn Stream>,
    /// `host:port`, for messages.
    pub server: String,
    next_id: i32,
    /// API key -> (lowest, highest) version the broker speaks.
    versions: HashMap<i16, (i16, i16)>,
}

impl KafkaConn {
    /// Connect to `host:port`, agree versions and authenticate.
    pub async fn open(
        host: &str,
        port: u16,
        tls: bool,
        profile: &ConnectionProfile,
    ) -> Result<Self, KafkaLinkError> {
        let server = format!("{host}:{port}");
        let timed_out = || KafkaLinkError::TimedOut {
            server: server.clone(),
        };
        let tcp = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .map_err(|_| timed_out())?
            .map_err(|source| KafkaLinkError::Io {
                server: server.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let mut stream: Box<dyn Stream> = Box::new(tcp);
        if tls || profile.tls.wants_tls() {
            stream = tokio::time::timeout(STEP_TIMEOUT, upgrade(stream, host, profile))
                .await
                .map_err(|_| timed_out())?
                .map_err(|source| KafkaLinkError::Tls {
                    server: server.clone(),
                    source,
                })?;
        }
        let mut conn = Self {
            stream,
            server,
            next_id: 0,
            versions: HashMap::new(),
        };
        conn.agree_versions().await?;
        match &profile.auth {
            Auth::None => {}
            Auth::UserPassword { user, password } => conn.sasl_plain(user, password).await?,
            other => return Err(KafkaLinkError::UnsupportedAuth(other.label())),
        }
        Ok(conn)
    }

    /// ApiVersions at version 0, which every broker answers (a newer
    /// request a broker does not know is answered at 0 anyway).
    async fn agree_versions(&mut self) -> Result<(), KafkaLinkError> {
        self.versions.insert(ApiVersionsRequest::KEY, (0, 0));
        let answer = self.call(ApiVersionsRequest::default()).await?;
        if let Some(e) = kafka_protocol::ResponseError::try_from_code(answer.error_code) {
            return Err(self.protocol(format!("refused ApiVersions: {e}")));
        }
        self.versions = answer
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(())
    }

    /// SASL PLAIN (KIP-43, then KIP-152's framed exchange).
    async fn sasl_plain(&mut self, user: &str, password: &str) -> Result<(), KafkaLinkError> {
        let handshake = self
            .call(
                SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
            )
            .await?;
        if handshake.error_code != 0 {
            let offered: Vec<String> = handshake.mechanisms.iter().map(|m| m.to_string()).collect();
            return Err(KafkaLinkError::Refused {
                server: self.server.clone(),
                reason: format!(
                    "it does not take SASL PLAIN (it offers: {})",
                    offered.join(", ")
                ),
            });
        }
        let mut token = Vec::with_capacity(user.len() + password.len() + 2);
        token.push(0);
        token.extend_from_slice(user.as_bytes());
        token.push(0);
        token.extend_from_slice(password.as_bytes());
        let answer = self
            .call(SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)))
            .await?;
        if answer.error_code != 0 {
            let said = answer.error_message.map(|m| m.to_string());
            return Err(KafkaLinkError::Refused {
                server: self.server.clone(),
                reason: said.unwrap_or_else(|| "authentication failed".into()),
            });
        }
        Ok(())
    }

    /// The version to send request `R` at: the highest both sides speak,
    /// within the ceiling; or why there is none.
    pub fn version<R: Request>(&self) -> Result<i16, KafkaLinkError> {
        let ceiling = CEILINGS
            .iter()
            .find(|(k, _)| *k == R::KEY)
            .map_or(0, |(_, v)| *v)
            .min(R::VERSIONS.max);
        match self.versions.get(&R::KEY) {
            Some(&(low, high)) if low.max(R::VERSIONS.min) <= high.min(ceiling) => {
                Ok(high.min(ceiling))
            }
            _ => Err(KafkaLinkError::Unsupported {
                server: self.server.clone(),
                api: R::KEY,
            }),
        }
    }

    /// Send `request` and read its answer, within `STEP_TIMEOUT` plus
    /// `extra` (a fetch's wait).
    pub async fn call_within<R: Request>(
        &mut self,
        request: R,
        extra: Duration,
    ) -> Result<R::Response, KafkaLinkError> {
        tokio::time::timeout(STEP_TIMEOUT + extra, self.call(request))
            .await
            .map_err(|_| KafkaLinkError::TimedOut {
                server: self.server.clone(),
            })?
    }

    /// Send `request` and read its answer (no time limit: see
    /// `call_within`).
    pub async fn call<R: Request>(&mut self, request: R) -> Result<R::Response, KafkaLinkError> {
        let version = self.version::<R>()?;
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_static_str("eventscope")));
        let mut frame = BytesMut::with_capacity(256);
        frame.put_i32(0);
        let encoded = header
            .encode(&mut frame, R::header_version(version))
            .and_then(|()| request.encode(&mut frame, version));
        encoded.map_err(|e| self.protocol(format!("could not encode a request: {e}")))?;
        let size = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        self.write(&frame).await?;
        let mut body = self.read_frame().await?;
        let answer = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(|e| self.protocol(format!("sent an unreadable header: {e}")))?;
        if answer.correlation_id != id {
            return Err(self.protocol(format!(
                "answered request {id} as {}",
                answer.correlation_id
            )));
        }
        R::Response::decode(&mut body, version)
            .map_err(|e| self.protocol(format!("sent an unreadable answer (key {}): {e}", R::KEY)))
    }

    async fn write(&mut self, frame: &[u8]) -> Result<(), KafkaLinkError> {
        let written = async {
            self.stream.write_all(frame).await?;
            self.stream.flush().await
        };
        written.await.map_err(|source| KafkaLinkError::Io {
            server: self.server.clone(),
            source,
        })
    }

    async fn read_frame(&mut self) -> Result<Bytes, KafkaLinkError> {
        let io = |server: &str, source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                KafkaLinkError::Closed {
                    server: server.to_owned(),
                }
            } else {
                KafkaLinkError::Io {
                    server: server.to_owned(),
                    source,
                }
            }
        };
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .await
            .map_err(|e| io(&self.server, e))?;
        let size = (&size[..]).get_i32();
        if size < 0 || size as usize > MAX_FRAME {
            return Err(self.protocol(format!("announced an answer of {size} bytes")));
        }
        let mut body = vec![0u8; size as usize];
        self.stream
            .read_exact(&mut body)
            .await
            .map_err(|e| io(&self.server, e))?;
        Ok(Bytes::from(body))
    }

    fn protocol(&self, reason: String) -> KafkaLinkError {
        KafkaLinkError::Protocol {
            server: self.server.clone(),
            reason,
        }
    }
}
