//! What the Cluster and Services views ask: what a connection can see,
//! the server table, connections, replica groups, route/gateway/leaf
//! links, the micro services; the
//! server event feed is a feed (`Session::server_events`).

use futures_util::StreamExt;

use crate::broker::{ConnectionProfile, ConnectionScope, ServersError, Visibility};
use crate::capture::ConnectionKey;
use crate::jetstream::ReplicasError;
use crate::server_answers::{
    ConnectionRow, LinkRow, MetaGroup, ServerEvent, ServerRow, Service, StreamGroup,
};

use super::{FeedEnded, Unavailable, Watching};

pub enum ClusterRequest {
    /// What this connection can see (to choose the one to look through).
    Visibility,
    Servers,
    Connections,
    Replicas,
    Links,
    /// The micro services the connection's account reaches.
    Services,
}

pub enum ClusterAnswer {
    Unavailable(Unavailable),
    SeenFrom(ConnectionKey, Visibility),
    /// The server table, and a line when it is one server's only.
    Servers(Result<(Vec<ServerRow>, Option<String>), ServersError>),
    Connections(Result<(ConnectionScope, Vec<ConnectionRow>), ServersError>),
    Replicas(Result<(Option<MetaGroup>, Vec<StreamGroup>), ReplicasError>),
    Links(Result<Vec<LinkRow>, ServersError>),
    Services(Result<Vec<Service>, ServersError>),
}

pub(super) async fn run(
    client: &async_nats::Client,
    key: ConnectionKey,
    profile: &ConnectionProfile,
    request: ClusterRequest,
) -> ClusterAnswer {
    let monitoring = profile.monitoring_url.clone();
    match request {
        ClusterRequest::Visibility => ClusterAnswer::SeenFrom(
            key,
            crate::broker::visibility(client, monitoring.is_some()).await,
        ),
        ClusterRequest::Servers => {
            ClusterAnswer::Servers(crate::broker::server_table_or_one(client, monitoring).await)
        }
        ClusterRequest::Connections => {
            ClusterAnswer::Connections(crate::broker::connections_report(client).await)
        }
        ClusterRequest::Replicas => {
            ClusterAnswer::Replicas(crate::jetstream::replica_groups(client).await)
        }
        ClusterRequest::Links => ClusterAnswer::Links(crate::broker::links(client).await),
        ClusterRequest::Services => ClusterAnswer::Services(crate::broker::services(client).await),
    }
}

impl crate::session::Session {
    /// The connect, disconnect and auth-error advisories as they come
    /// (system account only: without it, the feed ends saying so).
    pub fn server_events(&self, key: Option<ConnectionKey>, keep: usize) -> Watching<ServerEvent> {
        self.watch(key, false, keep, |client, _, sink| async move {
            if !crate::broker::visibility(&client, false)
                .await
                .system_account
            {
                return Err(FeedEnded::NoSystemAccount);
            }
            let mut events = crate::broker::server_events(&client).await?;
            while let Some(event) = events.next().await {
                sink.offer(event)?;
            }
            Err(FeedEnded::ServerEnded)
        })
    }
}
