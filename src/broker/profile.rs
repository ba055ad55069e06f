//! A connection profile: which servers, how to authenticate, TLS, and what
//! to subscribe to. Profiles persist between runs without their secrets
//! unless the user asked for that.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::capture::validate_pattern;
use crate::capture::{BrokerKind, SubjectError};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionProfile {
    /// Shown in the UI and written as `connection` in capture files.
    pub name: String,
    /// Server URLs (a cluster's seed list), separated by commas or spaces.
    pub servers: String,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub tls: TlsSettings,
    #[serde(default = "default_subscriptions")]
    pub subscriptions: Vec<SubscriptionSpec>,
    /// The server's HTTP monitoring endpoint (`http://host:8222`): names the
    /// connections behind subjects and inboxes in flow diagrams.
    #[serde(default)]
    pub monitoring_url: Option<String>,
    /// Where a token, password or typed seed is remembered between runs.
    #[serde(default)]
    pub secret_storage: SecretStorage,
    /// Messages read but not yet handed to the app that the monitoring
    /// link may hold before it drops (and counts) more; unlimited by
    /// default, where the in-flight byte allowance bounds it. Small values
    /// are for tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_capacity: Option<usize>,
}

fn default_subscriptions() -> Vec<SubscriptionSpec> {
    vec![SubscriptionSpec::new(">")]
}

impl ConnectionProfile {
    pub fn new(name: impl Into<String>, servers: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            servers: servers.into(),
            auth: Auth::None,
            tls: TlsSettings::default(),
            subscriptions: default_subscriptions(),
            monitoring_url: None,
            secret_storage: SecretStorage::Forget,
            subscription_capacity: None,
        }
    }

    /// The server URLs, in order.
    pub fn server_list(&self) -> Vec<String> {
        self.servers
            .split([',', ' ', '\n', '\t'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Move credentials written into server URLs (`nats://user:pw@host`,
    /// `nats://token@host`, as natscli and the other clients accept them)
    /// into `auth`, and strip them from the URLs, so that nothing that
    /// shows or saves the server list can leak them. Explicit credentials
    /// win over ones in a URL.
    pub fn take_url_credentials(&mut self) {
        let mut found: Option<Auth> = None;
        let mut name = self.name.clone();
        let servers: Vec<String> = self
            .server_list()
            .iter()
            .map(|url| {
                let (clean, credentials) = split_url_credentials(url);
                if credentials.is_some() {
                    // A name made from the URL must not carry it either.
                    name = name.replace(url.as_str(), &clean);
                }
                if found.is_none() {
                    found = credentials;
                }
                clean
            })
            .collect();
        self.name = name;
        if found.is_none() && !self.servers.contains('@') {
            return;
        }
        self.servers = servers.join(", ");
        if let (Auth::None, Some(auth)) = (&self.auth, found) {
            self.auth = auth;
        }
    }

    /// A copy fit for the state file: secrets removed unless the user chose
    /// plain text for them (the keyring keeps them otherwise).
    pub fn for_storage(&self) -> Self {
        let mut copy = self.clone();
        copy.take_url_credentials();
        if self.secret_storage != SecretStorage::PlainText {
            copy.auth.set_secret(String::new());
        }
        copy
    }

    /// The broker the first server URL's scheme picks; an unknown scheme
    /// is refused by name.
    pub fn broker(&self) -> Result<BrokerKind, ProfileError> {
        let servers = self.server_list();
        let first = servers.first().ok_or(ProfileError::NoServers)?;
        BrokerKind::from_url(first).ok_or_else(|| ProfileError::UnknownScheme(redact_url(first)))
    }

    /// Check everything that can be checked before touching the network.
    pub fn validate(&self) -> Result<(), ProfileError> {
        if self.name.trim().is_empty() {
            return Err(ProfileError::NoName);
        }
        let servers = self.server_list();
        if servers.is_empty() {
            return Err(ProfileError::NoServers);
        }
        let broker = self.broker()?;
        for server in &servers {
            // A Kafka list names its scheme once: kafka://a:9092,b:9092.
            let bare = broker == BrokerKind::Kafka && !server.contains("://");
            if !bare && BrokerKind::from_url(server) != Some(broker) {
                return Err(ProfileError::MixedBrokers(redact_url(server)));
            }
            match broker {
                BrokerKind::Nats => super::nats::options::check_server(server)
                    .map_err(|e| ProfileError::BadServer(redact_url(server), e.to_string()))?,
                BrokerKind::Mqtt => {
                    super::mqtt::link::target(server)
                        .map_err(|e| ProfileError::BadServer(redact_url(server), e.to_string()))?;
                }
                BrokerKind::Amqp => super::amqp::link::check_url(server)
                    .map_err(|e| ProfileError::BadServer(redact_url(server), e.to_string()))?,
                BrokerKind::Kafka => {
                    super::kafka::link::targets(std::slice::from_ref(server))
                        .map_err(|e| ProfileError::BadServer(redact_url(server), e.to_string()))?;
                }
            }
        }
        for sub in &self.subscriptions {
            match broker {
                BrokerKind::Nats => validate_pattern(&sub.pattern)?,
                // `>` (every profile's default) means `#` there.
                BrokerKind::Mqtt if sub.pattern == ">" => {}
                BrokerKind::Mqtt => crate::capture::validate_topic_filter(&sub.pattern)?,
                BrokerKind::Amqp => super::amqp::check_pattern(&sub.pattern)?,
                BrokerKind::Kafka => super::kafka::check_pattern(&sub.pattern)?,
            }
        }
        if let Some(url) = &self.monitoring_url
            && !url.starts_with("http://")
        {
            return Err(ProfileError::BadMonitoringUrl(url.clone()));
        }
        match &self.auth {
            Auth::CredsFile { path } | Auth::NkeyFile { path } if !path.is_file() => {
                Err(ProfileError::MissingFile(path.clone()))
            }
            _ => Ok(()),
        }?;
        for path in [
            &self.tls.ca_file,
            &self.tls.client_cert,
            &self.tls.client_key,
        ]
        .into_iter()
        .flatten()
        {
            if !path.is_file() {
                return Err(ProfileError::MissingFile(path.clone()));
            }
        }
        if self.tls.client_cert.is_some() != self.tls.client_key.is_some() {
            return Err(ProfileError::HalfClientCert);
        }
        Ok(())
    }
}

/// Where a profile's secret is kept between runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretStorage {
    /// Asked for again after a restart.
    #[default]
    Forget,
    /// In the desktop's keyring (Secret Service).
    Keyring,
    /// In eventscope's state file, in plain text (a directory only the
    /// user can read): the labelled fallback where no keyring runs.
    PlainText,
}

impl Auth {
    /// The secret part of the credentials, if they have one.
    pub fn secret(&self) -> Option<&str> {
        match self {
            Auth::Token { token } => Some(token),
            Auth::UserPassword { password, .. } => Some(password),
            Auth::NkeySeed { seed } => Some(seed),
            _ => None,
        }
    }

    /// Put a remembered secret back.
    pub fn set_secret(&mut self, secret: String) {
        match self {
            Auth::Token { token } => *token = secret,
            Auth::UserPassword { password, .. } => *password = secret,
            Auth::NkeySeed { seed } => *seed = secret,
            _ => {}
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Auth {
    #[default]
    None,
    Token {
        token: String,
    },
    UserPassword {
        user: String,
        password: String,
    },
    /// A `.creds` file (JWT + NKey seed); only its path is kept.
    CredsFile {
        path: PathBuf,
    },
    /// A file holding an NKey seed (as the NATS CLI's contexts have it).
    NkeyFile {
        path: PathBuf,
    },
    /// An NKey seed typed in (a secret).
    NkeySeed {
        seed: String,
    },
}

impl Auth {
    pub fn label(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Token { .. } => "token",
            Auth::UserPassword { .. } => "user/password",
            Auth::CredsFile { .. } => "creds file",
            Auth::NkeyFile { .. } => "NKey seed file",
            Auth::NkeySeed { .. } => "NKey seed",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsSettings {
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    #[serde(default)]
    pub require_tls: bool,
}

impl TlsSettings {
    /// TLS is asked for by the profile (the URL or the server may ask too).
    pub fn wants_tls(&self) -> bool {
        self.require_tls || self.ca_file.is_some() || self.client_cert.is_some()
    }
}

/// `scheme://[userinfo@]host...`: the URL without its userinfo, and the
/// credentials it held (`user:password`, or a lone token).
fn split_url_credentials(url: &str) -> (String, Option<Auth>) {
    let (scheme, rest) = match url.find("://") {
        Some(at) => (&url[..at + 3], &url[at + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_owned(), None);
    };
    let userinfo = &rest[..at];
    let clean = format!("{scheme}{}", &rest[at + 1..]);
    let auth = match userinfo.split_once(':') {
        Some((user, password)) => Auth::UserPassword {
            user: percent_decode(user),
            password: percent_decode(password),
        },
        None if userinfo.is_empty() => return (clean, None),
        None => Auth::Token {
            token: percent_decode(userinfo),
        },
    };
    (clean, Some(auth))
}

/// A server URL fit to show: any credentials in it replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match split_url_credentials(url) {
        (clean, Some(_)) => match clean.find("://") {
            Some(at) => format!("{}***@{}", &clean[..at + 3], &clean[at + 3..]),
            None => format!("***@{clean}"),
        },
        (clean, None) => clean,
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionSpec {
    pub pattern: String,
    /// Off by default: a monitor in a queue group would take messages away
    /// from the group's real members.
    #[serde(default)]
    pub queue_group: Option<String>,
    /// Where a Kafka subscription starts reading; other brokers deliver
    /// only what comes after subscribing.
    #[serde(default, skip_serializing_if = "ReadFrom::is_end")]
    pub read_from: ReadFrom,
}

impl SubscriptionSpec {
    pub fn new(pattern: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
            queue_group: None,
            read_from: ReadFrom::End,
        }
    }
}

/// Where reading a Kafka partition starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    /// Only records written from now on.
    #[default]
    End,
    /// Every record the partition still has.
    Beginning,
    /// From this offset of each partition; a negative one counts back from
    /// its end (-10: its last ten records).
    Offset(i64),
    /// From the first record at or after this time (milliseconds since
    /// the epoch).
    Since(i64),
}

impl ReadFrom {
    pub fn is_end(&self) -> bool {
        *self == Self::End
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("give the connection a name")]
    NoName,
    #[error("give at least one server URL, e.g. nats://127.0.0.1:4222")]
    NoServers,
    #[error("'{0}' is not a server URL: {1}")]
    BadServer(String, String),
    #[error(
        "'{0}': no broker this build speaks has that scheme (NATS: nats://, tls://, ws://, wss://; MQTT: mqtt://, mqtts://; RabbitMQ: amqp://, amqps://; Kafka: kafka://, kafkas://)"
    )]
    UnknownScheme(String),
    #[error(
        "'{0}' is not on the same broker as the first server: one connection speaks to one broker"
    )]
    MixedBrokers(String),
    #[error("file not found: {}", .0.display())]
    MissingFile(PathBuf),
    #[error(transparent)]
    BadBinding(#[from] super::amqp::BadBinding),
    #[error(transparent)]
    BadTopicPattern(#[from] super::kafka::BadTopicPattern),
    #[error("cannot use credentials file {}: {reason}", .path.display())]
    BadCredentials { path: PathBuf, reason: String },
    #[error("'{0}': the monitoring URL must look like http://host:8222")]
    BadMonitoringUrl(String),
    #[error("a TLS client certificate needs both the certificate and its key")]
    HalfClientCert,
    #[error(transparent)]
    Subject(#[from] SubjectError),
}

/// How a connection behaves when it cannot connect at first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialConnect {
    /// Keep trying (the GUI: a server may come up later).
    Retry,
    /// Give up on the first failure (headless commands: report and exit).
    FailFast,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URL scheme picks the broker; one this build does not speak is
    /// refused by name (credentials left out), and so is a list that mixes.
    #[test]
    fn the_url_scheme_picks_the_broker_and_an_unknown_one_is_named() {
        let p = ConnectionProfile::new("prod", "tls://a:4222, b:4222");
        assert_eq!(p.broker(), Ok(BrokerKind::Nats));
        assert_eq!(p.validate(), Ok(()));
        let mut p = ConnectionProfile::new("rabbit", "amqp://me:secret@a:5672/shop");
        assert_eq!(p.broker(), Ok(BrokerKind::Amqp));
        p.subscriptions = vec![SubscriptionSpec::new("orders/#")];
        assert_eq!(p.validate(), Ok(()));
        p.subscriptions = vec![SubscriptionSpec::new("orders")];
        let said = p.validate().expect_err("no binding key").to_string();
        assert!(said.contains("EXCHANGE/BINDING_KEY"), "{said}");
        let p = ConnectionProfile::new("kafka", "kafka://a:9092, b:9092");
        assert_eq!(p.broker(), Ok(BrokerKind::Kafka));
        assert_eq!(p.validate(), Ok(()));
        let p = ConnectionProfile::new("pulsar", "pulsar://me:secret@a:6650");
        let said = p.validate().expect_err("refused").to_string();
        assert!(
            said.contains("pulsar://") && said.contains("kafka://"),
            "{said}"
        );
        assert!(!said.contains("secret"), "{said}");
        let p = ConnectionProfile::new("mixed", "nats://a:4222, mqtt://b:1883");
        assert!(matches!(p.validate(), Err(ProfileError::MixedBrokers(_))));
    }

    #[test]
    fn secrets_are_not_stored_unless_asked() {
        let mut p = ConnectionProfile::new("prod", "nats://a:4222, nats://b:4222");
        p.auth = Auth::UserPassword {
            user: "me".into(),
            password: "hunter2".into(),
        };
        assert_eq!(p.server_list(), ["nats://a:4222", "nats://b:4222"]);
        let stored = serde_json::to_string(&p.for_storage()).expect("json");
        assert!(!stored.contains("hunter2"));
        assert!(stored.contains("\"me\""));
        // The keyring keeps it, not the file.
        p.secret_storage = SecretStorage::Keyring;
        let stored = serde_json::to_string(&p.for_storage()).expect("json");
        assert!(!stored.contains("hunter2"));
        p.secret_storage = SecretStorage::PlainText;
        let stored = serde_json::to_string(&p.for_storage()).expect("json");
        assert!(stored.contains("hunter2"));
    }

    #[test]
    fn url_credentials_become_auth_and_leave_the_urls() {
        let mut p = ConnectionProfile::new("x", "nats://me:s%40cret@a:4222, nats://b:4222");
        p.take_url_credentials();
        assert_eq!(p.servers, "nats://a:4222, nats://b:4222");
        assert_eq!(
            p.auth,
            Auth::UserPassword {
                user: "me".into(),
                password: "s@cret".into()
            }
        );
        let mut t = ConnectionProfile::new("x", "tls://tok123@host:4443");
        t.take_url_credentials();
        assert_eq!(t.servers, "tls://host:4443");
        assert_eq!(
            t.auth,
            Auth::Token {
                token: "tok123".into()
            }
        );
        assert_eq!(redact_url("nats://u:p@h:1"), "nats://***@h:1");
        assert_eq!(redact_url("nats://h:1"), "nats://h:1");
        let stored = ConnectionProfile::new("x", "nats://u:pw@h:1").for_storage();
        assert!(!serde_json::to_string(&stored).expect("json").contains("pw"));
    }

    #[test]
    fn validation_names_the_problem() {
        let mut p = ConnectionProfile::new("x", "");
        assert_eq!(p.validate(), Err(ProfileError::NoServers));
        p.servers = "nats://127.0.0.1:4222".into();
        p.subscriptions = vec![SubscriptionSpec::new("a.>.b")];
        assert!(matches!(p.validate(), Err(ProfileError::Subject(_))));
        p.subscriptions = vec![SubscriptionSpec::new(">")];
        p.auth = Auth::CredsFile {
            path: "/nonexistent/user.creds".into(),
        };
        let err = p.validate().expect_err("missing file");
        assert_eq!(err.to_string(), "file not found: /nonexistent/user.creds");
    }
}
