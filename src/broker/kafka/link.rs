//! A Kafka cluster as eventscope sees it: the bootstrap servers of a
//! `kafka://` URL list, the brokers and topic partitions its metadata
//! names, and a connection to each broker opened when first needed. Its
//! errors in words.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::MetadataRequest;
use thiserror::Error;

use super::wire::KafkaConn;
use crate::broker::profile::{ConnectionProfile, redact_url};

#[derive(Debug, Error)]
pub enum KafkaLinkError {
    #[error("'{0}' is not a Kafka URL (kafka://host:9092, kafkas://host:9093, a list by commas)")]
    BadUrl(String),
    #[error("cannot reach {server}: {source}")]
    Io {
        server: String,
        source: std::io::Error,
    },
    #[error("{server} did not answer within {:?}", super::wire::STEP_TIMEOUT)]
    TimedOut { server: String },
    #[error("TLS with {server} failed: {source}")]
    Tls {
        server: String,
        source: crate::broker::tls::TlsError,
    },
    #[error(
        "Kafka takes a user name and password (SASL PLAIN, in the URL or the form); {0} is not a Kafka credential"
    )]
    UnsupportedAuth(&'static str),
    #[error("{server} refused the credentials ({reason})")]
    Refused { server: String, reason: String },
    #[error("{server} broke the Kafka protocol: {reason}")]
    Protocol { server: String, reason: String },
    #[error("{server} closed the connection")]
    Closed { server: String },
    #[error("{server} does not speak a version of Kafka request {api} that eventscope can send")]
    Unsupported { server: String, api: i16 },
    /// The broker's error code for something asked of it.
    #[error("{server} refused {what}: {error}")]
    Said {
        server: String,
        what: String,
        error: ResponseError,
    },
    #[error("{topic}[{partition}] has no leader now")]
    NoLeader { topic: String, partition: i32 },
    #[error("the cluster names broker {0} as a leader but not where it is")]
    UnknownBroker(i32),
}

impl KafkaLinkError {
    /// Retrying cannot fix it: the configuration must change.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::BadUrl(_) | Self::Tls { .. } | Self::UnsupportedAuth(_) | Self::Refused { .. }
        ) || self.is_auth()
    }

    pub fn is_auth(&self) -> bool {
        match self {
            Self::Refused { .. } => true,
            Self::Said { error, .. } => matches!(
                error,
                ResponseError::SaslAuthenticationFailed
                    | ResponseError::ClusterAuthorizationFailed
                    | ResponseError::TopicAuthorizationFailed
                    | ResponseError::GroupAuthorizationFailed
            ),
            _ => false,
        }
    }
}

/// A broker's error code as an error, `Ok` for none.
pub(crate) fn said(server: &str, what: &str, code: i16) -> Result<(), KafkaLinkError> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(error) => Err(KafkaLinkError::Said {
            server: server.to_owned(),
            what: what.to_owned(),
            error,
        }),
    }
}

/// Hosts, ports and TLS of a server list: `kafka://a:9092,b:9092`
/// (entries after the first may leave out the scheme).
pub(crate) fn targets(servers: &[String]) -> Result<(Vec<(String, u16)>, bool), KafkaLinkError> {
    let mut tls = None;
    let mut out = Vec::new();
    for url in servers {
        let bad = || KafkaLinkError::BadUrl(redact_url(url));
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, url),
        };
        let this_tls = match scheme.as_deref() {
            Some("kafka") => false,
            Some("kafkas") => true,
            None => tls.unwrap_or(false),
            Some(_) => return Err(bad()),
        };
        tls.get_or_insert(this_tls);
        // Credentials were moved into the profile; drop any left.
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let rest = rest.trim_end_matches('/');
        let parsed = url::Url::parse(&format!("kafka://{rest}")).map_err(|_| bad())?;
        let host = match parsed.host().ok_or_else(bad)? {
            url::Host::Domain(name) => name.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        out.push((host, parsed.port().unwrap_or(9092)));
    }
    if out.is_empty() {
        return Err(KafkaLinkError::BadUrl(String::new()));
    }
    Ok((out, tls.unwrap_or(false)))
}

/// One partition as the metadata names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PartitionMeta {
    pub partition: i32,
    /// -1 while it has none.
    pub leader: i32,
}

/// The cluster behind a profile.
pub(crate) struct Cluster {
    profile: ConnectionProfile,
    tls: bool,
    bootstrap: Vec<(String, u16)>,
    /// Node id -> host and port.
    pub brokers: HashMap<i32, (String, u16)>,
    /// Every topic the cluster lists (internal ones left out).
    pub topics: BTreeMap<String, Vec<PartitionMeta>>,
    /// The connection metadata and the group APIs go on.
    pub main: KafkaConn,
    nodes: HashMap<i32, KafkaConn>,
}

impl Cluster {
    /// Connect to the first bootstrap server that answers (starting with
    /// `first`) and read the metadata.
    pub async fn open(profile: &ConnectionProfile, first: &str) -> Result<Self, KafkaLinkError> {
        let servers = profile.server_list();
        let (bootstrap, tls) = targets(&servers)?;
        let start = servers.iter().position(|s| s == first).unwrap_or(0);
        let mut last = None;
        for i in 0..bootstrap.len() {
            let (host, port) = &bootstrap[(start + i) % bootstrap.len()];
            match KafkaConn::open(host, *port, tls, profile).await {
                Ok(main) => {
                    let mut cluster = Self {
                        profile: profile.clone(),
                        tls,
                        bootstrap,
                        brokers: HashMap::new(),
                        topics: BTreeMap::new(),
                        main,
                        nodes: HashMap::new(),
                    };
                    cluster.refresh().await?;
                    return Ok(cluster);
                }
                Err(e) if e.is_configuration() => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(KafkaLinkError::BadUrl(String::new())))
    }

    /// The bootstrap servers, as `host:port`.
    pub fn bootstrap(&self) -> impl Iterator<Item = String> + '_ {
        self.bootstrap.iter().map(|(h, p)| format!("{h}:{p}"))
    }

    /// Read the brokers and every topic's partitions and leaders again.
    pub async fn refresh(&mut self) -> Result<(), KafkaLinkError> {
        let request = MetadataRequest::default()
            .with_topics(None)
            .with_allow_auto_topic_creation(false);
        let answer = self.main.call_within(request, Default::default()).await?;
        self.brokers = answer
            .brokers
            .iter()
            .map(|b| (b.node_id.0, (b.host.to_string(), b.port as u16)))
            .collect();
        self.topics = answer
            .topics
            .iter()
            .filter(|t| !t.is_internal && t.error_code == 0)
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.to_string();
                let mut partitions: Vec<PartitionMeta> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionMeta {
                        partition: p.partition_index,
                        leader: if p.error_code == 0 { p.leader_id.0 } else { -1 },
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Some((name, partitions))
            })
            .collect();
        // Connections to brokers that left are closed.
        self.nodes
            .retain(|id, _| answer.brokers.iter().any(|b| b.node_id.0 == *id));
        Ok(())
    }

    /// The leader of a topic's partition, if it has one now.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.topics
            .get(topic)?
            .iter()
            .find(|p| p.partition == partition)
            .map(|p| p.leader)
            .filter(|l| *l >= 0)
    }

    /// A new connection of its own to broker `node` (a fetcher's).
    pub async fn open_node(&self, node: i32) -> Result<KafkaConn, KafkaLinkError> {
        let (host, port) = self
            .brokers
            .get(&node)
            .ok_or(KafkaLinkError::UnknownBroker(node))?;
        KafkaConn::open(host, *port, self.tls, &self.profile).await
    }

    /// The shared connection to broker `node`, opened when first asked.
    pub async fn node(&mut self, node: i32) -> Result<&mut KafkaConn, KafkaLinkError> {
        if !self.nodes.contains_key(&node) {
            let conn = self.open_node(node).await?;
            self.nodes.insert(node, conn);
        }
        self.nodes
            .get_mut(&node)
            .ok_or(KafkaLinkError::UnknownBroker(node))
    }

    /// Forget a broken connection to `node` (opened again when next asked).
    pub fn drop_node(&mut self, node: i32) {
        self.nodes.remove(&node);
    }
}
