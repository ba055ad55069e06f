//! Connections: live status of each, their subscriptions with the observer
//! effects a monitor has, and the form to add one (also from saved profiles
//! and NATS CLI contexts).

use std::path::PathBuf;

use egui::{Color32, RichText};

use super::{format, labelled_text_edit};
use crate::broker::status::{ConnectionStatus, LinkState};
use crate::broker::{Auth, ConnectionProfile, SubscriptionSpec, TlsSettings};
use crate::capture::subject::{has_wildcards, patterns_overlap, validate_pattern};
use crate::capture::{ConnectionKey, Store};
use crate::monitor::PendingConfirm;

pub const WILDCARD_WARNING: &str = "A wildcard subscription (such as '>') counts as a responder for every \
request subject it matches: while it is active, a request to a subject with no service gets no \
'503 no responders' and simply times out, for every client in the account.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    None,
    Token,
    UserPassword,
    CredsFile,
    NkeyFile,
    NkeySeed,
}

impl AuthKind {
    const ALL: [AuthKind; 6] = [
        AuthKind::None,
        AuthKind::Token,
        AuthKind::UserPassword,
        AuthKind::CredsFile,
        AuthKind::NkeyFile,
        AuthKind::NkeySeed,
    ];

    fn label(self) -> &'static str {
        match self {
            AuthKind::None => "none",
            AuthKind::Token => "token",
            AuthKind::UserPassword => "user/password",
            AuthKind::CredsFile => "creds file",
            AuthKind::NkeyFile => "NKey seed file",
            AuthKind::NkeySeed => "NKey seed",
        }
    }
}

/// Which form field a file dialog fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileField {
    Creds,
    NkeyFile,
    TlsCa,
    TlsCert,
    TlsKey,
}

/// The "new connection" form.
pub struct ConnectionForm {
    pub name: String,
    pub servers: String,
    pub auth: AuthKind,
    pub token: String,
    pub user: String,
    pub password: String,
    pub creds: String,
    pub nkey_file: String,
    pub nkey_seed: String,
    pub tls_ca: String,
    pub tls_cert: String,
    pub tls_key: String,
    pub require_tls: bool,
    pub subjects: String,
    pub monitoring_url: String,
    pub save_secrets: bool,
    pub error: Option<String>,
}

impl Default for ConnectionForm {
    fn default() -> Self {
        Self {
            name: String::new(),
            servers: "nats://127.0.0.1:4222".into(),
            auth: AuthKind::None,
            token: String::new(),
            user: String::new(),
            password: String::new(),
            creds: String::new(),
            nkey_file: String::new(),
            nkey_seed: String::new(),
            tls_ca: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            require_tls: false,
            subjects: ">".into(),
            monitoring_url: String::new(),
            save_secrets: false,
            error: None,
        }
    }
}

impl ConnectionForm {
    pub fn set_file(&mut self, field: FileField, path: PathBuf) {
        let text = path.display().to_string();
        match field {
            FileField::Creds => self.creds = text,
            FileField::NkeyFile => self.nkey_file = text,
            FileField::TlsCa => self.tls_ca = text,
            FileField::TlsCert => self.tls_cert = text,
            FileField::TlsKey => self.tls_key = text,
        }
    }

    /// Fill the form from a profile (to edit or reconnect it).
    pub fn load(&mut self, p: &ConnectionProfile) {
        *self = Self {
            name: p.name.clone(),
            servers: p.servers.clone(),
            subjects: p
                .subscriptions
                .iter()
                .map(|s| s.pattern.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            save_secrets: p.save_secrets,
            monitoring_url: p.monitoring_url.clone().unwrap_or_default(),
            require_tls: p.tls.require_tls,
            tls_ca: path_text(&p.tls.ca_file),
            tls_cert: path_text(&p.tls.client_cert),
            tls_key: path_text(&p.tls.client_key),
            ..Self::default()
        };
        match &p.auth {
            Auth::None => self.auth = AuthKind::None,
            Auth::Token { token } => (self.auth, self.token) = (AuthKind::Token, token.clone()),
            Auth::UserPassword { user, password } => {
                (self.auth, self.user, self.password) =
                    (AuthKind::UserPassword, user.clone(), password.clone())
            }
            Auth::CredsFile { path } => {
                (self.auth, self.creds) = (AuthKind::CredsFile, path.display().to_string())
            }
            Auth::NkeyFile { path } => {
                (self.auth, self.nkey_file) = (AuthKind::NkeyFile, path.display().to_string())
            }
            Auth::NkeySeed { seed } => {
                (self.auth, self.nkey_seed) = (AuthKind::NkeySeed, seed.clone())
            }
        }
    }

    /// The profile the form describes, validated.
    pub fn to_profile(&self) -> Result<ConnectionProfile, String> {
        let mut profile = ConnectionProfile::new("", self.servers.trim());
        // Credentials typed into a URL move to `auth` before anything (the
        // default name, the state file) is made from the URLs.
        profile.take_url_credentials();
        profile.name = if self.name.trim().is_empty() {
            profile
                .server_list()
                .first()
                .map_or("nats", |s| s.as_str())
                .trim_start_matches("nats://")
                .to_owned()
        } else {
            self.name.trim().to_owned()
        };
        profile.auth = match self.auth {
            AuthKind::None => std::mem::take(&mut profile.auth),
            AuthKind::Token => Auth::Token {
                token: self.token.clone(),
            },
            AuthKind::UserPassword => Auth::UserPassword {
                user: self.user.clone(),
                password: self.password.clone(),
            },
            AuthKind::CredsFile => Auth::CredsFile {
                path: required_path(&self.creds, "a creds file")?,
            },
            AuthKind::NkeyFile => Auth::NkeyFile {
                path: required_path(&self.nkey_file, "an NKey seed file")?,
            },
            AuthKind::NkeySeed => Auth::NkeySeed {
                seed: self.nkey_seed.clone(),
            },
        };
        profile.tls = TlsSettings {
            ca_file: optional_path(&self.tls_ca),
            client_cert: optional_path(&self.tls_cert),
            client_key: optional_path(&self.tls_key),
            require_tls: self.require_tls,
        };
        let patterns: Vec<&str> = self
            .subjects
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .collect();
        profile.subscriptions = if patterns.is_empty() {
            vec![SubscriptionSpec::new(">")]
        } else {
            patterns.into_iter().map(SubscriptionSpec::new).collect()
        };
        profile.save_secrets = self.save_secrets;
        let monitoring = self.monitoring_url.trim();
        profile.monitoring_url = (!monitoring.is_empty()).then(|| monitoring.to_owned());
        profile.validate().map_err(|e| e.to_string())?;
        Ok(profile)
    }
}

fn path_text(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn optional_path(text: &str) -> Option<PathBuf> {
    let t = text.trim();
    (!t.is_empty()).then(|| PathBuf::from(t))
}

fn required_path(text: &str, what: &str) -> Result<PathBuf, String> {
    optional_path(text).ok_or_else(|| format!("choose {what}"))
}

/// Per-connection "add subscription" inputs.
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
        egui::Frame::group(ui.style()).fill(Color32::from_rgb(80, 50, 20)).show(ui, |ui| {
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
                form_ui(ui, &mut view.form, &mut actions);
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

fn state_color(state: &LinkState) -> Color32 {
    match state {
        LinkState::Connected => Color32::from_rgb(110, 190, 110),
        LinkState::Connecting { .. } | LinkState::Reconnecting { .. } => {
            Color32::from_rgb(230, 150, 60)
        }
        LinkState::AuthError(_) | LinkState::Failed(_) => Color32::from_rgb(230, 90, 80),
        LinkState::Closed => Color32::GRAY,
    }
}

fn connection_card_ui(
    ui: &mut egui::Ui,
    view: &mut ConnectionsView,
    row: &ConnectionRow<'_>,
    store: &Store,
    actions: &mut Vec<ConnectionsAction>,
) {
    let status = &row.status;
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            ui.strong(&row.profile.name);
            ui.colored_label(state_color(&status.state), format!("• {}", status.state.label()));
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button("Disconnect").clicked() {
                    actions.push(ConnectionsAction::Disconnect(row.key));
                }
            });
        });
        ui.label(RichText::new(&row.profile.servers).monospace().weak());
        if let Some(server) = &status.server {
            ui.label(format!(
                "server {} · nats-server {} · {}{}",
                server.name,
                server.version,
                server.address,
                if server.jetstream { " · JetStream" } else { "" }
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
            ui.colored_label(Color32::from_rgb(230, 150, 60), text);
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
            ui.colored_label(Color32::from_rgb(230, 150, 60), text);
        }
        if let Some(url) = &row.profile.monitoring_url {
            match (&row.directory, &row.directory_error) {
                (_, Some(e)) => ui.colored_label(Color32::from_rgb(230, 150, 60), format!("connection list: {e}")),
                (Some(n), None) => ui.label(format!("connection list from {url}: {n} connections")),
                (None, None) => ui.label(format!("connection list from {url}: waiting")),
            };
        }
        for error in status.server_errors.iter().rev().take(3) {
            ui.colored_label(Color32::from_rgb(230, 90, 80), error);
        }
        ui.separator();
        ui.label("Subscriptions");
        for (i, sub) in status.subscriptions.iter().enumerate() {
            ui.horizontal(|ui| {
                let text = match &sub.queue_group {
                    Some(q) => format!("{} (queue {q})", sub.pattern),
                    None => sub.pattern.clone(),
                };
                ui.label(RichText::new(text).monospace());
                if let Some(e) = &sub.error {
                    ui.colored_label(Color32::from_rgb(230, 90, 80), e);
                }
                if ui.small_button("Remove").on_hover_text(format!("Unsubscribe from {}", sub.pattern)).clicked() {
                    actions.push(ConnectionsAction::Unsubscribe(row.key, sub.pattern.clone()));
                }
            });
            if has_wildcards(&sub.pattern) {
                ui.label(RichText::new(format!("⚠ {WILDCARD_WARNING}")).small().color(Color32::from_rgb(220, 170, 60)));
            }
            for other in status.subscriptions.iter().skip(i + 1) {
                if patterns_overlap(&sub.pattern, &other.pattern) {
                    ui.label(
                        RichText::new(format!(
                            "⚠ '{}' and '{}' overlap: a message matching both is received twice",
                            sub.pattern, other.pattern
                        ))
                        .small()
                        .color(Color32::from_rgb(220, 170, 60)),
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
            ui.colored_label(Color32::from_rgb(230, 90, 80), e);
        }
    });
}

fn file_row_ui(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    field: FileField,
    actions: &mut Vec<ConnectionsAction>,
) {
    ui.horizontal(|ui| {
        labelled_text_edit(ui, label, value, 220.0);
        if ui
            .button("Browse…")
            .on_hover_text(format!("Choose the {label}"))
            .clicked()
        {
            actions.push(ConnectionsAction::PickFile(field));
        }
    });
}

fn form_ui(ui: &mut egui::Ui, form: &mut ConnectionForm, actions: &mut Vec<ConnectionsAction>) {
    labelled_text_edit(ui, "Name", &mut form.name, 220.0);
    labelled_text_edit(ui, "Servers", &mut form.servers, 300.0)
        .on_hover_text("One or more URLs (a cluster's seed list), separated by commas");
    labelled_text_edit(ui, "Subjects", &mut form.subjects, 220.0)
        .on_hover_text("Patterns to subscribe to, separated by spaces; '>' is everything");
    egui::ComboBox::from_label("Authentication")
        .selected_text(form.auth.label())
        .show_ui(ui, |ui| {
            for kind in AuthKind::ALL {
                ui.selectable_value(&mut form.auth, kind, kind.label());
            }
        });
    match form.auth {
        AuthKind::None => {}
        AuthKind::Token => {
            ui.horizontal(|ui| {
                super::labelled(
                    ui,
                    "Token",
                    egui::TextEdit::singleline(&mut form.token).password(true),
                );
            });
        }
        AuthKind::UserPassword => {
            labelled_text_edit(ui, "User", &mut form.user, 160.0);
            ui.horizontal(|ui| {
                super::labelled(
                    ui,
                    "Password",
                    egui::TextEdit::singleline(&mut form.password).password(true),
                );
            });
        }
        AuthKind::CredsFile => {
            file_row_ui(ui, "Creds file", &mut form.creds, FileField::Creds, actions)
        }
        AuthKind::NkeyFile => file_row_ui(
            ui,
            "NKey seed file",
            &mut form.nkey_file,
            FileField::NkeyFile,
            actions,
        ),
        AuthKind::NkeySeed => {
            ui.horizontal(|ui| {
                super::labelled(
                    ui,
                    "NKey seed",
                    egui::TextEdit::singleline(&mut form.nkey_seed).password(true),
                );
            });
        }
    }
    if matches!(
        form.auth,
        AuthKind::Token | AuthKind::UserPassword | AuthKind::NkeySeed
    ) {
        ui.checkbox(
            &mut form.save_secrets,
            "Remember the secret (saved in plain text)",
        );
    }
    labelled_text_edit(ui, "Monitoring URL (optional)", &mut form.monitoring_url, 220.0)
        .on_hover_text("The server's HTTP monitoring port, e.g. http://127.0.0.1:8222: flow diagrams then name the connections behind subjects and inboxes");
    ui.collapsing("TLS", |ui| {
        file_row_ui(
            ui,
            "CA certificate",
            &mut form.tls_ca,
            FileField::TlsCa,
            actions,
        );
        file_row_ui(
            ui,
            "Client certificate",
            &mut form.tls_cert,
            FileField::TlsCert,
            actions,
        );
        file_row_ui(
            ui,
            "Client key",
            &mut form.tls_key,
            FileField::TlsKey,
            actions,
        );
        ui.checkbox(&mut form.require_tls, "Require TLS");
    });
    if ui.button("Connect").clicked() {
        match form.to_profile() {
            Ok(profile) => {
                form.error = None;
                actions.push(ConnectionsAction::Connect(profile));
            }
            Err(e) => form.error = Some(e),
        }
    }
    if let Some(e) = &form.error {
        ui.colored_label(Color32::from_rgb(230, 90, 80), e);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_round_trips_a_profile() {
        let mut p = ConnectionProfile::new("prod", "nats://a:4222,nats://b:4222");
        p.auth = Auth::UserPassword {
            user: "u".into(),
            password: "p".into(),
        };
        p.subscriptions = vec![
            SubscriptionSpec::new("orders.>"),
            SubscriptionSpec::new("billing.*"),
        ];
        let mut form = ConnectionForm::default();
        form.load(&p);
        assert_eq!(form.to_profile(), Ok(p));
    }

    #[test]
    fn form_names_what_is_missing() {
        let form = ConnectionForm {
            auth: AuthKind::CredsFile,
            ..ConnectionForm::default()
        };
        assert_eq!(form.to_profile(), Err("choose a creds file".to_owned()));
        let form = ConnectionForm {
            subjects: "a..b".into(),
            ..ConnectionForm::default()
        };
        assert!(
            form.to_profile()
                .expect_err("bad subject")
                .contains("empty token")
        );
    }
}
