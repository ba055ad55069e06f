//! `--demo`: a private nats-server and a small simulated event-driven system,
//! so that every view has something true to show. Each service is its own
//! named NATS connection, as it would be in production:
//!
//! - `order-service` publishes CloudEvents-style `orders.created` events to
//!   JetStream (with `Nats-Msg-Id`; every 8th order is re-sent, a duplicate);
//! - `fulfillment-worker` pulls from the durable consumer `fulfillment`
//!   (max 4 deliveries, 2 s ack wait): it ACKs most orders, NAKs some until
//!   they succeed, lets one ack-wait expire, TERMs invalid ones, reports
//!   progress on slow ones, and one order NAKs until max deliveries;
//! - `pricing-service` and `pricing-canary`, two instances of the NATS
//!   micro service `pricing` (1.4.0, and 1.5.0-rc.1 mid-rollout), answer
//!   `pricing.quote` requests from `checkout-web` (a retired SKU is a
//!   service error), which also asks `inventory.check`, a service nobody
//!   runs (no reply);
//! - `shipping-1` and `shipping-2` share the queue group `shipping`;
//! - `inventory-service` publishes core `inventory.updated` events;
//! - `config-admin` edits keys of the KV bucket `config` now and then (so
//!   a key has a history to diff) and keeps a report in the object store
//!   `reports`.
//!
//! `--demo-cluster` runs the same on three routed servers with a system
//! account (the services in account `APP`, their stream replicated three
//! times), so the Cluster view has a cluster to show.

mod bridge;
mod config_admin;
mod kafka_client;
mod local_mosquitto;
mod local_rabbit;
mod local_server;
mod local_tansu;
mod shelf_scanner;
mod shop_data;
mod starting;
mod warehouse;

pub use kafka_client::{KafkaClient, KafkaClientError, KafkaOut};
pub use local_mosquitto::{
    LocalMosquitto, LocalMosquittoError, MOSQUITTO_INSTALL_HINT, MosquittoUsers, find_mosquitto,
};
pub use local_rabbit::{
    LocalRabbit, LocalRabbitError, RABBITMQ_INSTALL_HINT, find_rabbitmq_server,
};
pub use local_tansu::{LocalTansu, LocalTansuError, TANSU_INSTALL_HINT, find_tansu};
pub use shelf_scanner::{BINDING as DEMO_BINDING, PROTO_DIR as DEMO_PROTO_DIR};
pub use starting::DemoStarting;

pub use local_server::{
    INSTALL_HINT, LocalCluster, LocalServer, LocalServerError, find_server_binary, free_port,
};

use std::time::Duration;

use shop_data::{CUSTOMERS, Dice, SKUS, cloud_headers, now_rfc3339};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use bytes::Bytes;
use futures_util::StreamExt;

enum Servers {
    One(LocalServer),
    Cluster(LocalCluster),
}

pub struct Demo {
    servers: Servers,
    /// The system account's user and password (cluster only; made up for
    /// this run, never shown or saved).
    system: Option<(String, String)>,
    others: OtherServers,
}

/// The demo's other brokers, each where it is installed.
struct OtherServers {
    mosquitto: Option<LocalMosquitto>,
    rabbit: Option<LocalRabbit>,
    tansu: Option<LocalTansu>,
    /// What was skipped, and why, in words.
    skipped: Vec<String>,
}

impl OtherServers {
    /// Every broker found installed, started; the others skipped with
    /// their install line (a demo never fails for want of them).
    fn start() -> Self {
        let mut skipped = Vec::new();
        let mosquitto = LocalMosquitto::start()
            .map_err(|e| skipped.push(format!("MQTT ({e})")))
            .ok();
        let rabbit = LocalRabbit::start()
            .map_err(|e| skipped.push(format!("RabbitMQ ({e})")))
            .ok();
        let tansu = LocalTansu::start()
            .and_then(|tansu| {
                tansu.create_topic(warehouse::TOPIC, warehouse::PARTITIONS as u32)?;
                for topic in [warehouse::RETRY_TOPIC, warehouse::DEAD_LETTER_TOPIC] {
                    tansu.create_topic(topic, 1)?;
                }
                Ok(tansu)
            })
            .map_err(|e| skipped.push(format!("Kafka ({e})")))
            .ok();
        Self {
            mosquitto,
            rabbit,
            tansu,
            skipped,
        }
    }
}

impl Demo {
    pub fn start() -> Result<Self, LocalServerError> {
        Ok(Self {
            servers: Servers::One(LocalServer::start()?),
            system: None,
            others: OtherServers::start(),
        })
    }

    /// Three routed servers with a system account; the services connect
    /// without credentials into account `APP`.
    pub fn start_cluster() -> Result<Self, LocalServerError> {
        let (system, app) = (made_up_password(), made_up_password());
        let accounts = format!(
            "accounts {{\n  SYS: {{ users: [{{ user: sys, password: \"{system}\" }}] }}\n  \
             APP: {{ jetstream: enabled, users: [{{ user: app, password: \"{app}\" }}] }}\n}}\n\
             system_account: SYS\nno_auth_user: app\n"
        );
        Ok(Self {
            servers: Servers::Cluster(LocalCluster::start_with(&accounts)?),
            system: Some(("sys".into(), system)),
            others: OtherServers::start(),
        })
    }

    /// The services' and the monitor's server(s), comma separated.
    pub fn url(&self) -> String {
        match &self.servers {
            Servers::One(s) => s.url(),
            Servers::Cluster(c) => c.urls(),
        }
    }

    /// One server's monitoring URL; none for the cluster (the names then
    /// come from every server over NATS).
    pub fn monitoring_url(&self) -> Option<String> {
        match &self.servers {
            Servers::One(s) => Some(s.monitoring_url()),
            Servers::Cluster(_) => None,
        }
    }

    /// The system account's user and password, on a cluster.
    pub fn system_user(&self) -> Option<(String, String)> {
        self.system.clone()
    }

    fn replicas(&self) -> usize {
        match self.servers {
            Servers::One(_) => 1,
            Servers::Cluster(_) => 3,
        }
    }

    /// What the app needs to watch this demo and run its services.
    pub fn ready(&self) -> DemoReady {
        DemoReady {
            url: self.url(),
            monitoring_url: self.monitoring_url(),
            system_user: self.system_user(),
            replicas: self.replicas(),
            mqtt_port: self.others.mosquitto.as_ref().map(LocalMosquitto::port),
            amqp_url: self.others.rabbit.as_ref().map(LocalRabbit::url),
            kafka_url: self.others.tansu.as_ref().map(LocalTansu::url),
            kafka_port: self.others.tansu.as_ref().map(LocalTansu::port),
            skipped: self.others.skipped.clone(),
        }
    }
}

/// Where the demo's servers are, to watch them and run its services.
#[derive(Clone, Debug)]
pub struct DemoReady {
    pub url: String,
    pub monitoring_url: Option<String>,
    /// The system account's user and password, on a cluster.
    pub system_user: Option<(String, String)>,
    replicas: usize,
    /// Mosquitto's port, where it was found installed.
    pub mqtt_port: Option<u16>,
    /// RabbitMQ's URL (guest on loopback), where it was found installed.
    pub amqp_url: Option<String>,
    /// The Kafka-API broker's URL, where tansu was found.
    pub kafka_url: Option<String>,
    kafka_port: Option<u16>,
    /// The brokers skipped, and why.
    pub skipped: Vec<String>,
}

impl DemoReady {
    /// Start the simulated services on `runtime`; they stop with it. A
    /// service that stops early is told to `stopped`.
    pub fn spawn_services(
        &self,
        runtime: &tokio::runtime::Handle,
        stopped: impl Fn(DemoStopped) + Send + Sync + 'static,
    ) {
        let url = self.url.clone();
        let replicas = self.replicas;
        let stopped: Stopped = std::sync::Arc::new(stopped);
        let others = bridge::OtherBrokers {
            nats: url.clone(),
            mqtt_port: self.mqtt_port,
            amqp: self.amqp_url.clone(),
            kafka_port: self.kafka_port,
        };
        let bridge_stopped = stopped.clone();
        runtime.spawn(async move { bridge::spawn(others, &bridge_stopped) });
        runtime.spawn(async move {
            if let Err(error) = run_services(url, replicas, stopped.clone()).await {
                stopped(DemoStopped {
                    service: "the demo's services",
                    error,
                });
            }
        });
    }
}

/// A simulated service that stopped, and why.
#[derive(Debug)]
pub struct DemoStopped {
    pub service: &'static str,
    pub error: Box<dyn std::error::Error + Send + Sync>,
}

type DemoResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A service's connection; `urls` may list several servers (the cluster).
async fn connect(urls: &str, name: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    let addrs: Vec<async_nats::ServerAddr> = urls
        .split(',')
        .filter_map(|u| u.trim().parse().ok())
        .collect();
    async_nats::ConnectOptions::new()
        .name(name)
        .connect(addrs.as_slice())
        .await
}

/// Where a stopped service is told.
type Stopped = std::sync::Arc<dyn Fn(DemoStopped) + Send + Sync>;

/// Run a service; if it stops with an error, say so.
fn watch(
    stopped: &Stopped,
    service: &'static str,
    run: impl Future<Output = DemoResult> + Send + 'static,
) {
    let stopped = stopped.clone();
    tokio::spawn(async move {
        if let Err(error) = run.await {
            stopped(DemoStopped { service, error });
        }
    });
}

/// A password for a server that lives as long as this run.
fn made_up_password() -> String {
    use std::hash::{BuildHasher, Hasher};
    (0..2)
        .map(|_| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            format!("{:016x}", h.finish())
        })
        .collect()
}

async fn run_services(url: String, replicas: usize, stopped: Stopped) -> DemoResult {
    // Let the app's monitor subscribe first, so every flow is seen whole.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let admin = connect(&url, "demo-setup").await?;
    let js = jetstream::new(admin);
    let orders = js
        .get_or_create_stream(stream::Config {
            name: "ORDERS".into(),
            subjects: vec!["orders.>".into()],
            duplicate_window: Duration::from_secs(120),
            // As `nats stream add` makes them: read without a consumer, by
            // any replica.
            allow_direct: true,
            num_replicas: replicas,
            ..Default::default()
        })
        .await?;
    orders
        .get_or_create_consumer(
            "fulfillment",
            pull::Config {
                durable_name: Some("fulfillment".into()),
                filter_subject: "orders.created".into(),
                ack_wait: Duration::from_secs(2),
                max_deliver: 4,
                ..Default::default()
            },
        )
        .await?;

    watch(&stopped, "order-service", order_service(url.clone()));
    watch(
        &stopped,
        "fulfillment-worker",
        fulfillment_worker(url.clone()),
    );
    watch(
        &stopped,
        "pricing-service",
        pricing_service(url.clone(), "pricing-service", "1.4.0"),
    );
    // Mid-rollout: a second instance already runs the next version.
    watch(
        &stopped,
        "pricing-canary",
        pricing_service(url.clone(), "pricing-canary", "1.5.0-rc.1"),
    );
    watch(&stopped, "checkout-web", checkout_web(url.clone()));
    watch(&stopped, "shipping-1", shipping(url.clone(), "shipping-1"));
    watch(&stopped, "shipping-2", shipping(url.clone(), "shipping-2"));
    watch(
        &stopped,
        "inventory-service",
        inventory_service(url.clone()),
    );
    watch(
        &stopped,
        "shelf-scanner",
        shelf_scanner::shelf_scanner(url.clone()),
    );
    watch(
        &stopped,
        "config-admin",
        config_admin::config_admin(url, replicas),
    );
    Ok(())
}

async fn order_service(url: String) -> DemoResult {
    let client = connect(&url, "order-service").await?;
    let js = jetstream::new(client);
    let mut dice = Dice::new(0x5eed_0001);
    for n in 1u64.. {
        let order_id = format!("ord-{}", 1000 + n);
        let (customer, tier) = CUSTOMERS[dice.below(CUSTOMERS.len() as u64) as usize];
        let lines = 1 + dice.below(3);
        let items: Vec<serde_json::Value> = (0..lines)
            .map(|_| {
                let (sku, price) = SKUS[dice.below(SKUS.len() as u64) as usize];
                serde_json::json!({"sku": sku, "qty": 1 + dice.below(3), "unit_price": price})
            })
            .collect();
        let total: f64 = items
            .iter()
            .map(|i| i["qty"].as_f64().unwrap_or(0.0) * i["unit_price"].as_f64().unwrap_or(0.0))
            .sum();
        let event_id = format!("evt-{}", dice.hex(12));
        let body = serde_json::json!({
            "specversion": "1.0",
            "type": "com.example.order.created",
            "source": "/order-service",
            "id": event_id,
            "time": now_rfc3339(),
            "datacontenttype": "application/json",
            "data": {
                "order_id": order_id,
                "order_no": n,
                "customer": {"id": customer, "tier": tier},
                "items": items,
                "total": (total * 100.0).round() / 100.0,
                "currency": "EUR",
                "shipping": {"country": (["DE", "FR", "NL", "SE"][dice.below(4) as usize]), "express": dice.below(4) == 0}
            }
        });
        let mut headers = cloud_headers(
            &mut dice,
            "order-service",
            "com.example.order.created",
            &event_id,
        );
        headers.insert("Nats-Msg-Id", order_id.as_str());
        let payload = Bytes::from(serde_json::to_vec(&body)?);
        js.publish_with_headers("orders.created", headers.clone(), payload.clone())
            .await?
            .await?;
        if n % 8 == 0 {
            // A producer retry: same Nats-Msg-Id, deduplicated by the stream.
            tokio::time::sleep(Duration::from_millis(40)).await;
            js.publish_with_headers("orders.created", headers, payload)
                .await?
                .await?;
        }
        tokio::time::sleep(Duration::from_millis(700 + dice.below(500))).await;
    }
    Ok(())
}

/// How the worker treats an order, by its number: a fixed script so every
/// kind of retry shows up within the first minute.
fn worker_decision(order_no: u64, delivery: i64) -> AckKind {
    match order_no % 12 {
        4 if order_no == 4 || order_no % 48 == 4 => AckKind::Nak(None), // never succeeds: max deliveries
        1 if delivery < 3 => AckKind::Nak(Some(Duration::from_millis(300))), // flaky payment, then OK
        6 => AckKind::Term,                                                  // invalid address
        9 => AckKind::Progress, // slow: progress, then ACK
        _ => AckKind::Ack,
    }
}

async fn fulfillment_worker(url: String) -> DemoResult {
    let client = connect(&url, "fulfillment-worker").await?;
    let js = jetstream::new(client.clone());
    let consumer: jetstream::consumer::PullConsumer =
        js.get_consumer_from_stream("fulfillment", "ORDERS").await?;
    let mut shipping_dice = Dice::new(0x5eed_0002);
    loop {
        let mut batch = consumer
            // A waiting pull keeps its inbox subscribed, so the server's
            // connection list can name this worker behind the consumer.
            .batch()
            .max_messages(5)
            .expires(Duration::from_secs(2))
            .messages()
            .await?;
        while let Some(message) = batch.next().await {
            let message = message?;
            let delivery = message.info().map(|i| i.delivered).unwrap_or(1);
            let order: serde_json::Value =
                serde_json::from_slice(&message.payload).unwrap_or_default();
            let order_no = order["data"]["order_no"].as_u64().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(20)).await;
            // One order is simply forgotten once: its ack wait expires.
            if order_no % 12 == 11 && delivery == 1 {
                continue;
            }
            match worker_decision(order_no, delivery) {
                AckKind::Term => {
                    if let Some(reply) = &message.reply {
                        client
                            .publish(
                                reply.clone(),
                                Bytes::from_static(b"+TERM invalid shipping address"),
                            )
                            .await?;
                    }
                }
                AckKind::Progress => {
                    message.ack_with(AckKind::Progress).await?;
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    message.ack().await?;
                    request_shipping(&client, &mut shipping_dice, &order).await?;
                }
                AckKind::Ack => {
                    message.ack().await?;
                    request_shipping(&client, &mut shipping_dice, &order).await?;
                }
                other => message.ack_with(other).await?,
            }
        }
    }
}

async fn request_shipping(
    client: &async_nats::Client,
    dice: &mut Dice,
    order: &serde_json::Value,
) -> DemoResult {
    let event_id = format!("evt-{}", dice.hex(12));
    let headers = cloud_headers(
        dice,
        "fulfillment-worker",
        "com.example.shipment.requested",
        &event_id,
    );
    let body = serde_json::json!({
        "order_id": order["data"]["order_id"],
        "address_country": order["data"]["shipping"]["country"],
        "express": order["data"]["shipping"]["express"],
        "requested_at": now_rfc3339(),
    });
    client
        .publish_with_headers(
            "shipments.requested",
            headers,
            Bytes::from(serde_json::to_vec(&body)?),
        )
        .await?;
    Ok(())
}

async fn shipping(url: String, name: &'static str) -> DemoResult {
    let client = connect(&url, name).await?;
    let mut requests = client
        .queue_subscribe("shipments.requested", "shipping".into())
        .await?;
    let mut dice = Dice::new(if name.ends_with('1') { 11 } else { 22 });
    while let Some(message) = requests.next().await {
        let request: serde_json::Value =
            serde_json::from_slice(&message.payload).unwrap_or_default();
        tokio::time::sleep(Duration::from_millis(50 + dice.below(200))).await;
        let event_id = format!("evt-{}", dice.hex(12));
        let headers = cloud_headers(&mut dice, name, "com.example.shipment.scheduled", &event_id);
        let body = serde_json::json!({
            "order_id": request["order_id"],
            "carrier": (["DHL", "UPS", "PostNL"][dice.below(3) as usize]),
            "tracking": format!("TRK{}", dice.hex(10).to_uppercase()),
            "scheduled_by": name,
        });
        client
            .publish_with_headers(
                "shipments.scheduled",
                headers,
                Bytes::from(serde_json::to_vec(&body)?),
            )
            .await?;
    }
    Ok(())
}

/// A NATS micro service (async-nats' service API): it answers
/// `$SRV.PING`, `INFO` and `STATS`, so the Services view has it; a quote
/// for a SKU it does not price is a service error (`Nats-Service-Error`).
async fn pricing_service(url: String, name: &'static str, version: &'static str) -> DemoResult {
    use async_nats::service::ServiceExt;
    let client = connect(&url, name).await?;
    let service = client
        .service_builder()
        .description("Prices SKUs for checkout")
        .metadata([("team".to_owned(), "shop".to_owned())].into())
        .start("pricing", version)
        .await
        .map_err(|e| e.to_string())?;
    let mut quotes = service
        .endpoint_builder()
        .name("quote")
        .add("pricing.quote")
        .await
        .map_err(|e| e.to_string())?;
    let mut dice = Dice::new(0x5eed_0003 ^ version.len() as u64);
    while let Some(request) = quotes.next().await {
        let asked: serde_json::Value =
            serde_json::from_slice(&request.message.payload).unwrap_or_default();
        let sku = asked["sku"].as_str().unwrap_or("?").to_owned();
        // Now and then the service is slow.
        let delay = if dice.below(10) == 0 {
            250 + dice.below(400)
        } else {
            3 + dice.below(25)
        };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let Some(base) = SKUS.iter().find(|(s, _)| *s == sku).map(|(_, p)| *p) else {
            let said = async_nats::service::error::Error {
                code: 404,
                status: format!("no price for {sku}"),
            };
            request.respond(Err(said)).await?;
            continue;
        };
        let mut headers = HeaderMap::new();
        headers.insert("ce-source", name);
        headers.insert("content-type", "application/json");
        let body = serde_json::json!({"sku": sku, "price": base, "currency": "EUR", "discount_pct": dice.below(3) * 5});
        request
            .respond_with_headers(Ok(Bytes::from(serde_json::to_vec(&body)?)), headers)
            .await?;
    }
    Ok(())
}

async fn checkout_web(url: String) -> DemoResult {
    let client = connect(&url, "checkout-web").await?;
    let mut dice = Dice::new(0x5eed_0004);
    for n in 1u64.. {
        // One quote in twelve asks for a SKU no longer priced.
        let sku = if n % 12 == 5 {
            "SKU-RETIRED"
        } else {
            SKUS[dice.below(SKUS.len() as u64) as usize].0
        };
        let body = serde_json::json!({"sku": sku, "qty": 1 + dice.below(4), "customer": CUSTOMERS[dice.below(5) as usize].0});
        let request = async_nats::Request::new()
            .payload(Bytes::from(serde_json::to_vec(&body)?))
            .timeout(Some(Duration::from_secs(2)));
        // A timeout is part of the story, not a failure of the demo.
        let _ = client.send_request("pricing.quote", request).await;
        if n % 10 == 0 {
            let check = async_nats::Request::new()
                .payload(Bytes::from(serde_json::to_vec(
                    &serde_json::json!({"sku": sku}),
                )?))
                .timeout(Some(Duration::from_secs(1)));
            let _ = client.send_request("inventory.check", check).await;
        }
        tokio::time::sleep(Duration::from_millis(800 + dice.below(400))).await;
    }
    Ok(())
}

async fn inventory_service(url: String) -> DemoResult {
    let client = connect(&url, "inventory-service").await?;
    let mut dice = Dice::new(0x5eed_0005);
    loop {
        let (sku, _) = SKUS[dice.below(SKUS.len() as u64) as usize];
        let event_id = format!("evt-{}", dice.hex(12));
        let headers = cloud_headers(
            &mut dice,
            "inventory-service",
            "com.example.inventory.updated",
            &event_id,
        );
        let body = serde_json::json!({
            "sku": sku,
            "warehouse": (["BER-1", "AMS-2"][dice.below(2) as usize]),
            "on_hand": dice.below(500),
            "reserved": dice.below(40),
            "time": now_rfc3339(),
        });
        client
            .publish_with_headers(
                "inventory.updated",
                headers,
                Bytes::from(serde_json::to_vec(&body)?),
            )
            .await?;
        tokio::time::sleep(Duration::from_millis(1200 + dice.below(800))).await;
    }
}
