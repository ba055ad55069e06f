//! A link of our own for requests answered by many messages (a batched
//! JetStream direct get), spoken in the protocol directly like the
//! monitoring link: the stored header blocks come back byte-exact (a
//! client library hands headers over as a map, which loses their order),
//! and a scan of a million messages does not pay for a header map each.
//! Several requests may be in flight; each answer says which it is for.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::frame::{self, Frame, Parsed};
use super::link::{self, Link, LinkError, ResolvedAuth};
use crate::broker::profile::ConnectionProfile;
use crate::capture::{Record, RecordPacker};

/// How long opening the link may take, and waiting for its first `PONG`.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("{0}")]
    Link(String),
    #[error("the server refused: {0}")]
    Refused(String),
    #[error("the connection closed")]
    Closed,
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("the stream of answers broke the protocol: {0}")]
    Protocol(String),
    #[error("cannot send: {0}")]
    Io(#[from] std::io::Error),
}

impl From<LinkError> for FetchError {
    fn from(e: LinkError) -> Self {
        Self::Link(e.to_string())
    }
}

/// An answer: the request it answers, and the message as received (its
/// subject is the reply inbox).
pub struct Answer {
    pub request: u64,
    pub record: Record,
}

pub struct Fetcher {
    link: Link,
    /// A random inbox of this link's: answers come on
    /// `<inbox>.<request id>-<random>`, each registered as ours exactly
    /// while its request lives (`broker::own`).
    inbox: String,
    next_id: u64,
    packer: RecordPacker,
    out: Vec<u8>,
}

impl Fetcher {
    /// Connect to the first of the profile's servers that answers.
    pub async fn open(profile: &ConnectionProfile) -> Result<Self, FetchError> {
        let auth = ResolvedAuth::from_profile(profile).await?;
        let name = format!("eventscope:{}:fetch", profile.name);
        let mut last = FetchError::Link("no server in the profile".into());
        for server in profile.server_list() {
            match tokio::time::timeout(OPEN_TIMEOUT, Self::open_one(&server, profile, &auth, &name))
                .await
            {
                Ok(Ok(fetcher)) => return Ok(fetcher),
                Ok(Err(e)) => last = e,
                Err(_) => last = FetchError::TimedOut(OPEN_TIMEOUT),
            }
        }
        Err(last)
    }

    async fn open_one(
        server: &str,
        profile: &ConnectionProfile,
        auth: &ResolvedAuth,
        name: &str,
    ) -> Result<Self, FetchError> {
        let mut link = link::open(server, profile, auth, name).await?;
        let inbox = format!("_INBOX.{}", crate::broker::nats::own::random_token());
        let hello = format!("SUB {inbox}.* 1\r\nPING\r\n");
        link.stream.write_all(hello.as_bytes()).await?;
        let mut fetcher = Self {
            link,
            inbox,
            next_id: 0,
            packer: RecordPacker::default(),
            out: Vec::new(),
        };
        // The first PONG says the credentials and the subscription held.
        loop {
            match fetcher.read_frame().await? {
                Some(Got::Pong) => return Ok(fetcher),
                Some(Got::Answer(_)) | None => {}
            }
        }
    }

    /// Send `payload` to `subject`; returns the id its answers carry.
    pub async fn send(&mut self, subject: &str, payload: &[u8]) -> Result<u64, FetchError> {
        self.next_id += 1;
        let id = self.next_id;
        let reply = format!(
            "{}.{id}-{}",
            self.inbox,
            crate::broker::nats::own::random_token()
        );
        crate::broker::nats::own::register(&reply);
        self.out.clear();
        self.out
            .extend_from_slice(format!("PUB {subject} {reply} {}\r\n", payload.len()).as_bytes());
        self.out.extend_from_slice(payload);
        self.out.extend_from_slice(b"\r\n");
        self.link.stream.write_all(&self.out).await?;
        Ok(id)
    }

    /// The next answer to any request sent, waiting at most `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Result<Answer, FetchError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.read_frame()).await {
                Err(_) => return Err(FetchError::TimedOut(timeout)),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Some(Got::Answer(answer)))) => return Ok(answer),
                Ok(Ok(Some(Got::Pong) | None)) => {}
            }
        }
    }

    /// One frame from the server: an answer, a `PONG`, or `None` for what
    /// needs nothing from the caller (a `PING` is answered here).
    async fn read_frame(&mut self) -> Result<Option<Got>, FetchError> {
        loop {
            let buf: &mut BytesMut = &mut self.link.leftover;
            match frame::parse(buf).map_err(|e| FetchError::Protocol(e.to_string()))? {
                Parsed::Frame(frame, used) => {
                    let got = match frame {
                        Frame::Msg {
                            subject,
                            headers,
                            payload,
                            ..
                        } => {
                            let request = subject
                                .rsplit(|b| *b == b'.')
                                .next()
                                .and_then(|token| token.split(|b| *b == b'-').next())
                                .and_then(|id| std::str::from_utf8(id).ok()?.parse().ok())
                                .unwrap_or(0);
                            let record =
                                self.packer.pack_wire(0, 0, subject, None, headers, payload);
                            Some(Got::Answer(Answer { request, record }))
                        }
                        Frame::Ping => {
                            self.link.stream.write_all(b"PONG\r\n").await?;
                            None
                        }
                        Frame::Pong => Some(Got::Pong),
                        Frame::Err(text) => {
                            return Err(FetchError::Refused(
                                String::from_utf8_lossy(text)
                                    .trim()
                                    .trim_matches('\'')
                                    .to_owned(),
                            ));
                        }
                        Frame::Ok | Frame::Info(_) => None,
                    };
                    self.link.leftover.advance(used);
                    return Ok(got);
                }
                Parsed::Incomplete(need) => {
                    let buf = &mut self.link.leftover;
                    buf.reserve(need.saturating_sub(buf.len()).max(64 * 1024));
                    if self.link.stream.read_buf(buf).await? == 0 {
                        return Err(FetchError::Closed);
                    }
                }
            }
        }
    }
}

enum Got {
    Answer(Answer),
    Pong,
}
