//! NATS micro services, asked: `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS`
//! at once, every instance the account can reach answering each (across
//! the cluster: the requests go wherever the services subscribe). No
//! answer at all is an empty list; the views say what that means.

use crate::server_answers::{Service, services_from};

use super::servers::{ServersError, ping_all};

const PING: &str = "$SRV.PING";
const INFO: &str = "$SRV.INFO";
const STATS: &str = "$SRV.STATS";

/// Every service the connection's account can reach, with its instances
/// and their endpoints' counters.
pub async fn services(client: &async_nats::Client) -> Result<Vec<Service>, ServersError> {
    let empty = serde_json::Value::Null;
    let (ping, info, stats) = tokio::join!(
        ping_all(client, PING, &empty),
        ping_all(client, INFO, &empty),
        ping_all(client, STATS, &empty),
    );
    Ok(services_from(&ping?, &info?, &stats?))
}
