//! Connections: live status of each, their subscriptions with the observer
//! effects a monitor has, and the form to add one (also from saved profiles
//! and NATS CLI contexts).

pub(super) mod form;

use egui::{Color32, RichText};

use super::{format, labelled_text_edit};
use crate::broker::PendingConfirm;
use crate::broker::{ConnectionProfile, SubscriptionSpec};
use crate::broker::{ConnectionStatus, LinkState};
use crate::capture::{ConnectionKey, Store};
use crate::capture::{has_wildcards, patterns_overlap, validate_pattern};
pub use crate::ui::connections::form::{ConnectionForm, FileField};
use crate::ui::connections::form::{FormAction, form_ui};

pub const WILDCARD_WARNING: &str = "A wildcard subscription (such as '>') counts as a responder for every \
request subject it matches: while it is active, a request to a subject with no service gets no \
'503 no responders' and simply times out, for every client in the account.";

#[derive(Default)]
pub struct SubscribeInput {
    pub pattern: String,
    pub queue_group: String,
    pub error: Option<String>,
}

#[derive(Default)]
pub struct ConnectionsView {
    pub form: ConnectionForm,
    pub subscribe_inputs: std::collections::HashMap<ConnectionKey, SubscribeInput>,
    pub contexts_problems: Vec<String>,
    /// A connection whose Disconnect was clicked, waiting for a yes.
    pub confirm_disconnect: Option<ConnectionKey>,
}

/// What the user asked for.
pub enum ConnectionsAction {
    Connect(ConnectionProfile),
    Disconnect(ConnectionKey),
    Subscribe(ConnectionKey, SubscriptionSpec),
    Unsubscribe(ConnectionKey, String),
    PickFile(FileField),
    /// Answer to a literal-subscription question: (index, subscribe anyway?)
    Confirm(usize, bool),
    ForgetProfile(String),
}

/// One live connection as the view needs it.
pub struct ConnectionRow<'a> {
    pub key: ConnectionKey,
    pub profile: &'a ConnectionProfile,
    pub status: ConnectionStatus,
    pub delivered: u64,
    pub dropped: u64,
    /// Every loss by cause.
    pub losses: crate::broker::Losses,
    /// Connections in the server's list, when a monitoring URL is set.
    pub directory: Option<usize>,
    pub directory_error: Option<String>,
}

pub fn connections_ui(
    ui: &mut egui::Ui,
    view: &mut ConnectionsView,
    rows: &[ConnectionRow<'_>],
    saved: &[ConnectionProfile],
    contexts: &[ConnectionProfile],
    pending: &[PendingConfirm],
    store: &Store,
) -> Vec<ConnectionsAction> {
    let mut actions = Vec::new();
    for (i, p) in pending.iter().enumerate() {
        egui::Frame::group(ui.style()).fill(crate::ui::palette::of(ui).attention_fill).show(ui, |ui| {
            ui.label(format!(
                "'{}' is the deliver subject of push consumer {}. Subscribing to it literally makes this monitor \
                 the consumer's subscriber: it would take the consumer's messages away from its real client.",
                p.spec.pattern, p.consumer
            ));
            ui.horizontal(|ui| {
                if ui.button("Subscribe anyway").clicked() {
                    actions.push(ConnectionsAction::Confirm(i, true));
                }
                if ui.button("Don't subscribe").clicked() {
                    actions.push(ConnectionsAction::Confirm(i, false));
                }
            });
        });
    }
    ui.columns(2, |cols| {
        egui::ScrollArea::vertical()
            .id_salt("live-connections")
            .show(&mut cols[0], |ui| {
                ui.heading("Connections");
                if rows.is_empty() {
                    ui.label(RichText::new("No connection yet: add one on the right.").weak());
                }
                for row in rows {
                    connection_card_ui(ui, view, row, store, &mut actions);
                }
            });
        egui::ScrollArea::vertical()
            .id_salt("new-connection")
            .show(&mut cols[1], |ui| {
                ui.heading("New connection");
                let mut form_actions = Vec::new();
                form_ui(ui, &mut view.form, &mut form_actions);
                actions.extend(form_actions.into_iter().map(|action| match action {
                    FormAction::PickFile(field) => ConnectionsAction::PickFile(field),
                    FormAction::Connect(profile) => ConnectionsAction::Connect(*profile),
                }));
                profiles_ui(
                    ui,
                    "Saved profiles",
                    saved,
                    &mut view.form,
                    &mut actions,
                    true,
                );
                profiles_ui(
                    ui,
                    "NATS CLI contexts",
                    contexts,
                    &mut view.form,
                    &mut actions,
                    false,
                );
                for problem in &view.contexts_problems {
                    ui.label(RichText::new(problem).weak());
                }
            });
    });
    actions
}

fn state_color(ui: &egui::Ui, state: &LinkState) -> Color32 {
    let p = crate::ui::palette::of(ui);
    match state {
        LinkState::Connected => p.good,
        LinkState::Connecting { .. } | LinkState::Reconnecting { .. } => p.retry,
        LinkState::AuthError(_) | LinkState::Failed(_) => p.bad,
        LinkState::Closed => p.muted,
    }
}

fn connection_card_ui(
    ui: &mut egui::Ui,
    view: &mut ConnectionsView,
    row: &ConnectionRow<'_>,
    store: &Store,
    actions: &mut Vec<ConnectionsAction>,
) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        card_title_ui(ui, view, row, actions);
        health_ui(ui, row, store);
        ui.separator();
        subscriptions_ui(ui, view, row, actions);
    });
}

/// Name, state, and disconnecting (asked first).
fn card_title_ui(
    ui: &mut egui::Ui,
    view: &mut ConnectionsView,
    row: &ConnectionRow<'_>,
    actions: &mut Vec<ConnectionsAction>,
) {
    let status = &row.status;
    ui.horizontal(|ui| {
        ui.strong(&row.profile.name);
        ui.colored_label(
            state_color(ui, &status.state),
            format!("• {}", status.state.label()),
        );
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if view.confirm_disconnect == Some(row.key) {
                // Asked first: it stops the capture and forgets the
                // connection (what was captured stays).
                if ui.button("Keep").clicked() {
                    view.confirm_disconnect = None;
                }
                if ui.button("Yes, disconnect").clicked() {
                    view.confirm_disconnect = None;
                    actions.push(ConnectionsAction::Disconnect(row.key));
                }
                ui.colored_label(
                    crate::ui::palette::of(ui).retry,
                    "Stop capturing and remove this connection? Captured messages stay.",
                );
            } else if ui.button("Disconnect").clicked() {
                view.confirm_disconnect = Some(row.key);
            }
        });
    });
}

/// The server, what arrived, every loss, gaps, the connection list, errors.
fn health_ui(ui: &mut egui::Ui, row: &ConnectionRow<'_>, store: &Store) {
    let status = &row.status;
    ui.label(RichText::new(&row.profile.servers).monospace().weak());
    if let Some(server) = &status.server {
        ui.label(format!(
            "server {} · nats-server {} · {}{}",
            server.name,
            server.version,
            server.address,
            if server.jetstream {
                " · JetStream"
            } else {
                ""
            }
        ));
    }
    ui.label(format!(
        "delivered {} · dropped by client {} · slow-consumer events {} · auth {}",
        format::count(row.delivered),
        format::count(row.dropped),
        status.slow_consumer_events,
        row.profile.auth.label()
    ));
    let losses = &row.losses;
    let text = format!(
        "cut off by the server {}x ({} lost) · disconnected {:.1} s ({}x) · stream breaks {} · malformed kept {}",
        losses.server_cuts,
        format::count(losses.lost_in_cuts),
        losses.disconnected.as_secs_f64(),
        losses.disconnects,
        losses.unparseable,
        format::count(losses.malformed)
    );
    if losses.is_clean() {
        ui.label(text);
    } else {
        ui.colored_label(crate::ui::palette::of(ui).retry, text);
    }
    for gap in store.gaps().iter().filter(|g| g.connection == row.key) {
        let text = match gap.to {
            Some(to) => format!(
                "gap: disconnected {} -> {} ({} ms): nothing published meanwhile was seen",
                format::clock(gap.from),
                format::clock(to),
                (to - gap.from) / 1_000_000
            ),
            None => format!("gap: disconnected since {}", format::clock(gap.from)),
        };
        ui.colored_label(crate::ui::palette::of(ui).retry, text);
    }
    // Names for flows: from the monitoring URL, or every server over NATS.
    let source = match &row.profile.monitoring_url {
        Some(url) => url.clone(),
        None => "the servers ($SYS PING.CONNZ)".to_owned(),
    };
    match (&row.directory, &row.directory_error) {
        (_, Some(e)) => ui.colored_label(
            crate::ui::palette::of(ui).retry,
            format!("connection list: {e}"),
        ),
        (Some(n), None) => ui.label(format!("connection list from {source}: {n} connections")),
        (None, None) => ui.label(format!("connection list from {source}: waiting")),
    };
    for error in status.server_errors.iter().rev().take(3) {
        ui.colored_label(crate::ui::palette::of(ui).bad, error);
    }
}

/// The subscriptions with their warnings, and a new one.
fn subscriptions_ui(
    ui: &mut egui::Ui,
    view: &mut ConnectionsView,
    row: &ConnectionRow<'_>,
    actions: &mut Vec<ConnectionsAction>,
) {
    let status = &row.status;
    ui.label("Subscriptions");
    for (i, sub) in status.subscriptions.iter().enumerate() {
        ui.horizontal(|ui| {
            let text = match &sub.queue_group {
                Some(q) => format!("{} (queue {q})", sub.pattern),
                None => sub.pattern.clone(),
            };
            ui.label(RichText::new(text).monospace());
            if let Some(e) = &sub.error {
                ui.colored_label(crate::ui::palette::of(ui).bad, e);
            }
            if ui
                .small_button("Remove")
                .on_hover_text(format!("Unsubscribe from {}", sub.pattern))
                .clicked()
            {
                actions.push(ConnectionsAction::Unsubscribe(row.key, sub.pattern.clone()));
            }
        });
        if has_wildcards(&sub.pattern) {
            ui.label(
                RichText::new(format!("⚠ {WILDCARD_WARNING}"))
                    .small()
                    .color(crate::ui::palette::of(ui).warn),
            );
        }
        for other in status.subscriptions.iter().skip(i + 1) {
            if patterns_overlap(&sub.pattern, &other.pattern) {
                ui.label(
                    RichText::new(format!(
                        "⚠ '{}' and '{}' overlap: a message matching both is received twice",
                        sub.pattern, other.pattern
                    ))
                    .small()
                    .color(crate::ui::palette::of(ui).warn),
                );
            }
        }
    }
    let input = view.subscribe_inputs.entry(row.key).or_default();
    ui.horizontal(|ui| {
        labelled_text_edit(ui, "Pattern", &mut input.pattern, 160.0);
        labelled_text_edit(ui, "Queue group (optional)", &mut input.queue_group, 100.0)
            .on_hover_text("Off by default: a monitor in a queue group takes messages away from the group's members");
        if ui.button("Subscribe").clicked() {
            match validate_pattern(input.pattern.trim()) {
                Ok(()) => {
                    let queue = input.queue_group.trim();
                    let spec = SubscriptionSpec {
                        pattern: input.pattern.trim().to_owned(),
                        queue_group: (!queue.is_empty()).then(|| queue.to_owned()),
                        read_from: Default::default(),
                    };
                    actions.push(ConnectionsAction::Subscribe(row.key, spec));
                    input.pattern.clear();
                    input.error = None;
                }
                Err(e) => input.error = Some(e.to_string()),
            }
        }
    });
    if let Some(e) = &input.error {
        ui.colored_label(crate::ui::palette::of(ui).bad, e);
    }
}

fn profiles_ui(
    ui: &mut egui::Ui,
    title: &str,
    profiles: &[ConnectionProfile],
    form: &mut ConnectionForm,
    actions: &mut Vec<ConnectionsAction>,
    can_forget: bool,
) {
    if profiles.is_empty() {
        return;
    }
    ui.separator();
    ui.strong(title);
    for p in profiles {
        ui.horizontal(|ui| {
            ui.label(&p.name);
            ui.label(RichText::new(&p.servers).monospace().weak());
            if ui.small_button("Connect").clicked() {
                actions.push(ConnectionsAction::Connect(p.clone()));
            }
            if ui.small_button("Edit").clicked() {
                form.load(p);
            }
            if can_forget && ui.small_button("Forget").clicked() {
                actions.push(ConnectionsAction::ForgetProfile(p.name.clone()));
            }
        });
    }
}
