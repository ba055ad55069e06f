//! `--demo` and `--demo-cluster` in the window: the servers start on a
//! thread of their own while the window shows at once and says what is
//! starting; once they are up, the monitor connects (profiles never saved:
//! their ports are this run's) and the simulated services start.

use crate::broker::{ConnectionProfile, SubscriptionSpec};
use crate::demo::{DemoReady, DemoStarting, DemoStopped};

use super::EventscopeApp;

/// A demo whose servers are starting.
pub(crate) struct PendingDemo {
    pub starting: DemoStarting,
    /// `--demo-subject` patterns (none: `>`).
    pub subjects: Vec<String>,
}

/// The monitor's profiles for a demo: its server(s), and on a cluster the
/// system account (the Cluster view's events).
pub fn demo_profiles(ready: &DemoReady, subjects: &[String]) -> Vec<ConnectionProfile> {
    let mut profile = ConnectionProfile::new("demo", ready.url.clone());
    profile.monitoring_url = ready.monitoring_url.clone();
    if !subjects.is_empty() {
        profile.subscriptions = subjects.iter().map(SubscriptionSpec::new).collect();
    }
    let mut profiles = vec![profile];
    if let Some((user, password)) = ready.system_user.clone() {
        let mut system = ConnectionProfile::new("demo-system", ready.url.clone());
        system.subscriptions.clear();
        system.auth = crate::broker::Auth::UserPassword { user, password };
        profiles.push(system);
    }
    if let Some(port) = ready.mqtt_port {
        profiles.push(ConnectionProfile::new(
            "demo-mqtt",
            format!("mqtt://127.0.0.1:{port}"),
        ));
    }
    if let Some(url) = &ready.amqp_url {
        let mut rabbit = ConnectionProfile::new("demo-rabbitmq", url.clone());
        // The firehose: every publish and delivery.
        rabbit.subscriptions = vec![SubscriptionSpec::new("amq.rabbitmq.trace/#")];
        profiles.push(rabbit);
    }
    if let Some(url) = &ready.kafka_url {
        // Every topic, and the groups' commits.
        profiles.push(ConnectionProfile::new("demo-kafka", url.clone()));
    }
    profiles
}

/// What the demo runs beside NATS, and what it skipped, in words.
pub fn demo_brokers_said(ready: &DemoReady) -> String {
    let mut said = Vec::new();
    if let Some(port) = ready.mqtt_port {
        said.push(format!("MQTT on 127.0.0.1:{port}"));
    }
    if ready.amqp_url.is_some() {
        said.push("RabbitMQ".to_owned());
    }
    if ready.kafka_url.is_some() {
        said.push("Kafka".to_owned());
    }
    let mut text = if said.is_empty() {
        "no other broker".to_owned()
    } else {
        format!("bridged to {}", said.join(", "))
    };
    if !ready.skipped.is_empty() {
        text.push_str(&format!("; skipped: {}", ready.skipped.join("; ")));
    }
    text
}

impl EventscopeApp {
    /// Watch a demo starting in the background (see `Demo::start_in_background`).
    pub fn watch_demo_start(&mut self, starting: DemoStarting, subjects: Vec<String>, what: &str) {
        self.notice(crate::ui::Notice::info(format!("demo: starting {what}…")));
        self.demo = Some(PendingDemo { starting, subjects });
    }

    /// Once the demo's servers are up: connect and start the services.
    pub(super) fn demo_step(&mut self) {
        let Some(result) = self.demo.as_ref().and_then(|d| d.starting.poll()) else {
            return;
        };
        let Some(pending) = self.demo.take() else {
            return;
        };
        match result {
            Ok(ready) => {
                for profile in demo_profiles(&ready, &pending.subjects) {
                    self.connect_unsaved(profile);
                }
                self.run_demo_services(&ready);
                if self.view == crate::ui::View::Connections {
                    self.view = crate::ui::View::Traffic;
                }
                self.notice(crate::ui::Notice::info(format!(
                    "demo: running on {}",
                    ready.url
                )));
            }
            Err(e) => self.notice(crate::ui::Notice::problem(format!(
                "demo: the servers could not start: {e}"
            ))),
        }
        // Stops the servers (and removes their data) when the app ends.
        self.keep(Box::new(pending.starting));
    }

    /// Start the simulated services; one that stops says so.
    pub fn run_demo_services(&mut self, ready: &DemoReady) {
        self.notice(crate::ui::Notice::info(format!(
            "demo: {}",
            demo_brokers_said(ready)
        )));
        self.read_demo_protobuf();
        let notices = self.pending.notices();
        ready.spawn_services(
            &self.session.runtime_handle(),
            move |stopped: DemoStopped| {
                let _ = notices.send(crate::ui::Notice::problem(format!(
                    "demo: {} stopped: {}",
                    stopped.service, stopped.error
                )));
            },
        );
    }

    fn notice(&self, notice: crate::ui::Notice) {
        eprintln!("eventscope: {}", notice.text);
        let _ = self.pending.notices().send(notice);
    }

    /// The demo's shelf scanner publishes Protobuf: read it with the
    /// demo's schema (for this run only: the user's saved schemas are not
    /// changed), unless the user's own already bind its subjects.
    fn read_demo_protobuf(&mut self) {
        let (pattern, type_name) = crate::demo::DEMO_BINDING;
        if self
            .inspector
            .schemas
            .bound_type("warehouse.shelf.1")
            .is_some()
        {
            return;
        }
        let mut settings = self.schema_settings.clone();
        settings.proto_dirs.push(crate::demo::DEMO_PROTO_DIR.into());
        settings
            .bindings
            .push((pattern.to_owned(), type_name.to_owned()));
        match settings.load() {
            Ok(schemas) => self.hand_out(std::sync::Arc::new(schemas)),
            Err(e) => self.notice(crate::ui::Notice::problem(format!(
                "demo: its Protobuf schema: {e}"
            ))),
        }
    }
}
