//! NATS micro services, as they describe themselves: every instance
//! answers `$SRV.PING` (that it runs), `$SRV.INFO` (its description and
//! endpoints) and `$SRV.STATS` (each endpoint's requests, errors and
//! processing time). The three answers are joined by instance id and the
//! instances grouped by service name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One running instance of a service.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServiceInstance {
    pub name: String,
    pub id: String,
    pub version: String,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// When the instance started (RFC 3339, as it says), from STATS.
    pub started: Option<String>,
    pub endpoints: Vec<Endpoint>,
    /// Which of the three questions it answered: one that answered PING
    /// but not STATS has no counts to show, and says so.
    pub answered: Answered,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Answered {
    pub ping: bool,
    pub info: bool,
    pub stats: bool,
}

/// One endpoint of an instance, with its counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Endpoint {
    pub name: String,
    pub subject: String,
    pub queue_group: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub requests: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    /// Total and average processing time, nanoseconds.
    pub processing_ns: u64,
    pub average_ns: u64,
}

/// A service: every instance running under one name.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Service {
    pub name: String,
    /// The versions its instances run (more than one mid-rollout).
    pub versions: Vec<String>,
    pub instances: Vec<ServiceInstance>,
}

impl Service {
    pub fn requests(&self) -> u64 {
        self.endpoints().iter().map(|e| e.requests).sum()
    }

    pub fn errors(&self) -> u64 {
        self.endpoints().iter().map(|e| e.errors).sum()
    }

    /// The average processing time over every request of every instance.
    pub fn average_ns(&self) -> u64 {
        let requests = self.requests();
        let total: u64 = self.endpoints().iter().map(|e| e.processing_ns).sum();
        total.checked_div(requests).unwrap_or(0)
    }

    /// The last error any instance reports, and which instance said it.
    pub fn last_error(&self) -> Option<(&str, &str)> {
        self.instances.iter().find_map(|i| {
            i.endpoints
                .iter()
                .find_map(|e| e.last_error.as_deref())
                .map(|e| (i.id.as_str(), e))
        })
    }

    /// Its endpoints summed over the instances (by name and subject).
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let mut merged: Vec<Endpoint> = Vec::new();
        for endpoint in self.instances.iter().flat_map(|i| &i.endpoints) {
            match merged
                .iter_mut()
                .find(|m| m.name == endpoint.name && m.subject == endpoint.subject)
            {
                Some(m) => {
                    m.requests += endpoint.requests;
                    m.errors += endpoint.errors;
                    m.processing_ns += endpoint.processing_ns;
                    m.average_ns = m.processing_ns.checked_div(m.requests).unwrap_or(0);
                    if endpoint.last_error.is_some() {
                        m.last_error.clone_from(&endpoint.last_error);
                    }
                }
                None => merged.push(endpoint.clone()),
            }
        }
        merged
    }
}

/// The fields every micro answer carries.
#[derive(Deserialize)]
struct Identity {
    name: String,
    id: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct InfoAnswer {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    endpoints: Vec<InfoEndpoint>,
}

#[derive(Deserialize)]
struct InfoEndpoint {
    name: String,
    subject: String,
    #[serde(default)]
    queue_group: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct StatsAnswer {
    #[serde(default)]
    started: Option<String>,
    #[serde(default)]
    endpoints: Vec<StatsEndpoint>,
}

#[derive(Deserialize)]
struct StatsEndpoint {
    name: String,
    subject: String,
    #[serde(default)]
    queue_group: Option<String>,
    #[serde(default)]
    num_requests: u64,
    #[serde(default)]
    num_errors: u64,
    #[serde(default)]
    last_error: Option<String>,
    #[serde(default)]
    processing_time: u64,
    #[serde(default)]
    average_processing_time: u64,
}

/// Join the three answers by instance id; an answer that is not a micro
/// service's is left out. Grouped by service name, sorted.
pub fn services_from(ping: &[Value], info: &[Value], stats: &[Value]) -> Vec<Service> {
    let mut instances: BTreeMap<String, ServiceInstance> = BTreeMap::new();
    for answer in ping {
        if let Some(i) = instance_for(&mut instances, answer) {
            i.answered.ping = true;
        }
    }
    for answer in info {
        let Ok(said) = InfoAnswer::deserialize(answer) else {
            continue;
        };
        if let Some(i) = instance_for(&mut instances, answer) {
            i.answered.info = true;
            i.description = said.description.filter(|d| !d.is_empty());
            for e in said.endpoints {
                let endpoint = endpoint_of(i, &e.name, &e.subject);
                endpoint.queue_group = e.queue_group;
                endpoint.metadata = e.metadata.unwrap_or_default();
            }
        }
    }
    for answer in stats {
        let Ok(said) = StatsAnswer::deserialize(answer) else {
            continue;
        };
        if let Some(i) = instance_for(&mut instances, answer) {
            i.answered.stats = true;
            i.started = said.started;
            for e in said.endpoints {
                let endpoint = endpoint_of(i, &e.name, &e.subject);
                if e.queue_group.is_some() {
                    endpoint.queue_group = e.queue_group;
                }
                endpoint.requests = e.num_requests;
                endpoint.errors = e.num_errors;
                endpoint.last_error = e.last_error.filter(|s| !s.is_empty());
                endpoint.processing_ns = e.processing_time;
                endpoint.average_ns = e.average_processing_time;
            }
        }
    }
    let mut services: Vec<Service> = Vec::new();
    for mut instance in instances.into_values() {
        // Services list their endpoints in no set order (a map, in
        // async-nats): by name, so rows stay put between polls.
        instance
            .endpoints
            .sort_by(|a, b| (&a.name, &a.subject).cmp(&(&b.name, &b.subject)));
        let service = match services.iter_mut().find(|s| s.name == instance.name) {
            Some(s) => s,
            None => {
                services.push(Service {
                    name: instance.name.clone(),
                    ..Service::default()
                });
                services.last_mut().expect("just pushed")
            }
        };
        if !service.versions.contains(&instance.version) {
            service.versions.push(instance.version.clone());
        }
        service.instances.push(instance);
    }
    services.sort_by(|a, b| a.name.cmp(&b.name));
    for s in &mut services {
        s.versions.sort();
    }
    services
}

/// The instance an answer is from, met first now or before.
fn instance_for<'a>(
    instances: &'a mut BTreeMap<String, ServiceInstance>,
    answer: &Value,
) -> Option<&'a mut ServiceInstance> {
    let who = Identity::deserialize(answer).ok()?;
    Some(
        instances
            .entry(who.id.clone())
            .or_insert_with(|| ServiceInstance {
                name: who.name,
                id: who.id,
                version: who.version,
                metadata: who.metadata.unwrap_or_default(),
                ..ServiceInstance::default()
            }),
    )
}

fn endpoint_of<'a>(
    instance: &'a mut ServiceInstance,
    name: &str,
    subject: &str,
) -> &'a mut Endpoint {
    let at = instance
        .endpoints
        .iter()
        .position(|e| e.name == name && e.subject == subject);
    match at {
        Some(at) => &mut instance.endpoints[at],
        None => {
            instance.endpoints.push(Endpoint {
                name: name.to_owned(),
                subject: subject.to_owned(),
                ..Endpoint::default()
            });
            instance.endpoints.last_mut().expect("just pushed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Two instances of one service (one mid-upgrade) and a third that
    /// answers PING only; the shapes are the micro protocol's (ADR-32).
    #[test]
    fn answers_join_by_instance_and_group_by_service() {
        let ping = [
            json!({"type":"io.nats.micro.v1.ping_response","name":"orders","id":"A","version":"1.0.0","metadata":{}}),
            json!({"type":"io.nats.micro.v1.ping_response","name":"orders","id":"B","version":"1.1.0","metadata":null}),
            json!({"type":"io.nats.micro.v1.ping_response","name":"billing","id":"C","version":"2.0.0"}),
            json!({"something":"else"}),
        ];
        let info = [json!({
            "type":"io.nats.micro.v1.info_response","name":"orders","id":"A","version":"1.0.0",
            "description":"takes orders",
            "endpoints":[{"name":"create","subject":"orders.create","queue_group":"q","metadata":{"kind":"cmd"}}]
        })];
        let stats = [
            json!({"type":"io.nats.micro.v1.stats_response","name":"orders","id":"A","version":"1.0.0",
                "started":"2026-12-07T10:00:00Z",
                "endpoints":[{"name":"create","subject":"orders.create","queue_group":"q",
                    "num_requests":10,"num_errors":2,"last_error":"400:bad sku",
                    "processing_time":10_000_000,"average_processing_time":1_000_000}]}),
            json!({"type":"io.nats.micro.v1.stats_response","name":"orders","id":"B","version":"1.1.0",
                "endpoints":[{"name":"create","subject":"orders.create","queue_group":"q",
                    "num_requests":30,"num_errors":0,"last_error":"",
                    "processing_time":90_000_000,"average_processing_time":3_000_000}]}),
        ];
        let services = services_from(&ping, &info, &stats);
        assert_eq!(services.len(), 2);
        let billing = &services[0];
        assert_eq!(billing.name, "billing");
        assert!(billing.instances[0].answered.ping && !billing.instances[0].answered.stats);
        let orders = &services[1];
        assert_eq!(orders.versions, ["1.0.0", "1.1.0"]);
        assert_eq!(orders.instances.len(), 2);
        assert_eq!(orders.requests(), 40);
        assert_eq!(orders.errors(), 2);
        assert_eq!(orders.average_ns(), 2_500_000);
        assert_eq!(orders.last_error(), Some(("A", "400:bad sku")));
        let a = &orders.instances[0];
        assert_eq!(a.description.as_deref(), Some("takes orders"));
        assert_eq!(a.endpoints[0].queue_group.as_deref(), Some("q"));
        assert_eq!(a.endpoints[0].metadata["kind"], "cmd");
        let merged = orders.endpoints();
        assert_eq!(merged.len(), 1);
        assert_eq!((merged[0].requests, merged[0].average_ns), (40, 2_500_000));
        assert_eq!(orders.instances[1].endpoints[0].last_error, None);
    }
}
