//! The Services view: every NATS micro service the connection's account
//! reaches, as the services describe themselves (`$SRV.PING`, `INFO`,
//! `STATS`): versions, instances, endpoints with their subjects and queue
//! groups, requests, errors, processing time, the last error. A request
//! to an endpoint is one click from its row. It draws what the app
//! fetched; the app polls while it is shown.

use egui::RichText;

use super::format;
use super::loaded::Loaded;
use crate::capture::ConnectionKey;
use crate::server_answers::{Endpoint, Service, ServiceInstance};

#[derive(Default)]
pub struct ServicesView {
    pub services: Loaded<Vec<Service>>,
    /// The service whose instances and endpoints are shown, by name.
    pub selected: Option<String>,
    /// The NATS connections up, to ask through.
    pub through: Vec<(ConnectionKey, String)>,
    pub using: Option<ConnectionKey>,
}

/// What the user asked of the view.
pub enum ServicesAction {
    Refresh,
    LookThrough(ConnectionKey),
    /// Fill the publish form with a request to this subject.
    Request(String),
    /// Filter the traffic to this subject.
    ShowTraffic(String),
}

pub fn services_view_ui(ui: &mut egui::Ui, view: &mut ServicesView) -> Option<ServicesAction> {
    let mut action = None;
    ui.horizontal(|ui| {
        ui.heading("Services");
        if view.through.len() > 1 {
            let label = ui.label("through");
            let name = |key| {
                view.through
                    .iter()
                    .find(|(k, _)| Some(*k) == key)
                    .map_or("-", |(_, n)| n.as_str())
                    .to_owned()
            };
            egui::ComboBox::from_id_salt("services-through")
                .selected_text(name(view.using))
                .show_ui(ui, |ui| {
                    for (key, name) in &view.through {
                        if ui
                            .selectable_label(view.using == Some(*key), name)
                            .clicked()
                        {
                            action = Some(ServicesAction::LookThrough(*key));
                        }
                    }
                })
                .response
                .labelled_by(label.id);
        }
        if ui.button("Refresh").clicked() {
            action = Some(ServicesAction::Refresh);
        }
        view.services.first_status_ui(ui);
    });
    if view.through.is_empty() {
        ui.label("Services answer on NATS: connect to a NATS server to see them.");
        return action;
    }
    let Some(services) = &view.services.value else {
        return action;
    };
    if services.is_empty() {
        ui.label(
            "No micro service answered $SRV.PING in this connection's account. Services built with \
             a NATS micro library (Go's micro, async-nats' service, nats.py's micro...) answer it.",
        );
        return action;
    }
    let instances: usize = services.iter().map(|s| s.instances.len()).sum();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    ui.label(
        RichText::new(format!(
            "{}, {} (asked $SRV.PING, $SRV.INFO and $SRV.STATS)",
            plural(services.len(), "service", "services"),
            plural(instances, "instance", "instances")
        ))
        .weak(),
    );
    ui.separator();
    service_table_ui(ui, services, &mut view.selected);
    let chosen = view
        .selected
        .as_deref()
        .and_then(|name| services.iter().find(|s| s.name == name));
    if let Some(service) = chosen {
        ui.separator();
        if let Some(a) = service_detail_ui(ui, service) {
            action = Some(a);
        }
    }
    action
}

fn service_table_ui(ui: &mut egui::Ui, services: &[Service], selected: &mut Option<String>) {
    egui::ScrollArea::vertical()
        .id_salt("services-table")
        .max_height(ui.available_height() * 0.45)
        .show(ui, |ui| {
            egui::Grid::new("services-grid")
                .striped(true)
                .num_columns(8)
                .show(ui, |ui| {
                    for title in [
                        "Service",
                        "Version",
                        "Instances",
                        "Endpoints",
                        "Requests",
                        "Errors",
                        "Average",
                        "Last error",
                    ] {
                        ui.strong(title);
                    }
                    ui.end_row();
                    for service in services {
                        let is_selected = selected.as_deref() == Some(service.name.as_str());
                        if ui.selectable_label(is_selected, &service.name).clicked() {
                            *selected = Some(service.name.clone());
                        }
                        ui.label(service.versions.join(", "));
                        ui.label(service.instances.len().to_string());
                        ui.label(service.endpoints().len().to_string());
                        ui.label(format::count(service.requests()));
                        errors_label(ui, service.errors());
                        ui.label(duration(service.average_ns()));
                        match service.last_error() {
                            Some((_, e)) => ui.colored_label(
                                crate::ui::palette::of(ui).bad,
                                format::elide(e, 60),
                            ),
                            None => ui.label("-"),
                        };
                        ui.end_row();
                    }
                });
        });
}

fn service_detail_ui(ui: &mut egui::Ui, service: &Service) -> Option<ServicesAction> {
    let mut action = None;
    ui.strong(&service.name);
    if let Some(description) = service
        .instances
        .iter()
        .find_map(|i| i.description.as_deref())
    {
        ui.label(description);
    }
    egui::ScrollArea::vertical()
        .id_salt("service-detail")
        .show(ui, |ui| {
            ui.label(RichText::new("Endpoints (summed over the instances)").strong());
            egui::Grid::new("service-endpoints")
                .striped(true)
                .num_columns(8)
                .show(ui, |ui| {
                    for title in [
                        "Endpoint",
                        "Subject",
                        "Queue group",
                        "Requests",
                        "Errors",
                        "Average",
                        "Last error",
                        "",
                    ] {
                        ui.strong(title);
                    }
                    ui.end_row();
                    for endpoint in service.endpoints() {
                        if let Some(a) = endpoint_row_ui(ui, &endpoint) {
                            action = Some(a);
                        }
                    }
                });
            ui.add_space(8.0);
            ui.label(RichText::new("Instances").strong());
            egui::Grid::new("service-instances")
                .striped(true)
                .num_columns(6)
                .show(ui, |ui| {
                    for title in [
                        "Instance", "Version", "Started", "Requests", "Errors", "Metadata",
                    ] {
                        ui.strong(title);
                    }
                    ui.end_row();
                    for instance in &service.instances {
                        instance_row_ui(ui, instance);
                    }
                });
        });
    action
}

fn endpoint_row_ui(ui: &mut egui::Ui, endpoint: &Endpoint) -> Option<ServicesAction> {
    let mut action = None;
    ui.label(&endpoint.name);
    ui.monospace(&endpoint.subject);
    ui.label(endpoint.queue_group.as_deref().unwrap_or("-"));
    ui.label(format::count(endpoint.requests));
    errors_label(ui, endpoint.errors);
    ui.label(duration(endpoint.average_ns));
    match &endpoint.last_error {
        Some(e) => ui.colored_label(crate::ui::palette::of(ui).bad, format::elide(e, 60)),
        None => ui.label("-"),
    };
    ui.horizontal(|ui| {
        // A wildcard endpoint has no one subject to send to.
        let concrete = !endpoint.subject.split('.').any(|t| t == "*" || t == ">");
        if ui
            .add_enabled(concrete, egui::Button::new("Request…").small())
            .on_hover_text(format!("Send a request to {}", endpoint.subject))
            .clicked()
        {
            action = Some(ServicesAction::Request(endpoint.subject.clone()));
        }
        if ui
            .small_button("Traffic")
            .on_hover_text(format!("Show the traffic on {}", endpoint.subject))
            .clicked()
        {
            action = Some(ServicesAction::ShowTraffic(endpoint.subject.clone()));
        }
    });
    ui.end_row();
    action
}

fn instance_row_ui(ui: &mut egui::Ui, instance: &ServiceInstance) {
    ui.monospace(&instance.id);
    ui.label(&instance.version);
    ui.label(instance.started.as_deref().map_or("-".into(), started));
    if instance.answered.stats {
        let requests: u64 = instance.endpoints.iter().map(|e| e.requests).sum();
        let errors: u64 = instance.endpoints.iter().map(|e| e.errors).sum();
        ui.label(format::count(requests));
        errors_label(ui, errors);
    } else {
        ui.label("no STATS answer");
        ui.label("-");
    }
    let metadata: Vec<String> = instance
        .metadata
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    ui.label(if metadata.is_empty() {
        "-".to_owned()
    } else {
        metadata.join(", ")
    });
    ui.end_row();
}

fn errors_label(ui: &mut egui::Ui, errors: u64) {
    if errors > 0 {
        ui.colored_label(crate::ui::palette::of(ui).bad, format::count(errors));
    } else {
        ui.label("0");
    }
}

/// An instance's start, to the second (services say it to the
/// nanosecond, in RFC 3339).
fn started(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.to_utc().format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// Nanoseconds, in the unit that reads best.
fn duration(ns: u64) -> String {
    match ns {
        0 => "-".into(),
        n if n < 1_000_000 => format!("{:.1} µs", n as f64 / 1e3),
        n if n < 1_000_000_000 => format!("{:.2} ms", n as f64 / 1e6),
        n => format!("{:.2} s", n as f64 / 1e9),
    }
}
