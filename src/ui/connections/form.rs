//! The form that adds a connection: servers, authentication, TLS,
//! subscriptions, monitoring URL; filled from a saved profile or a NATS CLI
//! context, and turned into a validated profile.

use std::path::PathBuf;

use crate::broker::{Auth, ConnectionProfile, SecretStorage, SubscriptionSpec, TlsSettings};
use crate::ui::labelled_text_edit;

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
    pub secret_storage: SecretStorage,
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
            secret_storage: SecretStorage::Forget,
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
            secret_storage: p.secret_storage,
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
        profile.secret_storage = self.secret_storage;
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

/// What the form asks of the app.
pub enum FormAction {
    PickFile(FileField),
    Connect(Box<crate::broker::ConnectionProfile>),
}

fn file_row_ui(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    field: FileField,
    actions: &mut Vec<FormAction>,
) {
    ui.horizontal(|ui| {
        labelled_text_edit(ui, label, value, 220.0);
        if ui
            .button("Browse…")
            .on_hover_text(format!("Choose the {label}"))
            .clicked()
        {
            actions.push(FormAction::PickFile(field));
        }
    });
}

/// How to authenticate, and whether to remember the secret.
fn auth_ui(ui: &mut egui::Ui, form: &mut ConnectionForm, actions: &mut Vec<FormAction>) {
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
                crate::ui::labelled(
                    ui,
                    "Token",
                    egui::TextEdit::singleline(&mut form.token).password(true),
                );
            });
        }
        AuthKind::UserPassword => {
            labelled_text_edit(ui, "User", &mut form.user, 160.0);
            ui.horizontal(|ui| {
                crate::ui::labelled(
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
                crate::ui::labelled(
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
        ui.label("Remember the secret");
        ui.horizontal(|ui| {
            ui.radio_value(
                &mut form.secret_storage,
                SecretStorage::Forget,
                "no, ask again",
            );
            ui.radio_value(
                &mut form.secret_storage,
                SecretStorage::Keyring,
                "in the system keyring",
            );
            ui.radio_value(
                &mut form.secret_storage,
                SecretStorage::PlainText,
                "in plain text (no keyring here)",
            )
            .on_hover_text(
                "Saved in eventscope's state file, readable only by you: for machines where no \
                 keyring (Secret Service) runs",
            );
        });
    }
}

/// Certificates and whether TLS is required.
fn tls_ui(ui: &mut egui::Ui, form: &mut ConnectionForm, actions: &mut Vec<FormAction>) {
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
}

pub(super) fn form_ui(ui: &mut egui::Ui, form: &mut ConnectionForm, actions: &mut Vec<FormAction>) {
    labelled_text_edit(ui, "Name", &mut form.name, 220.0);
    labelled_text_edit(ui, "Servers", &mut form.servers, 300.0)
        .on_hover_text("One or more URLs (a cluster's seed list), separated by commas");
    labelled_text_edit(ui, "Subjects", &mut form.subjects, 220.0)
        .on_hover_text("Patterns to subscribe to, separated by spaces; '>' is everything");
    auth_ui(ui, form, actions);
    labelled_text_edit(ui, "Monitoring URL (optional)", &mut form.monitoring_url, 220.0)
        .on_hover_text("The server's HTTP monitoring port, e.g. http://127.0.0.1:8222: flow diagrams then name the connections behind subjects and inboxes");
    tls_ui(ui, form, actions);
    if ui.button("Connect").clicked() {
        match form.to_profile() {
            Ok(profile) => {
                form.error = None;
                actions.push(FormAction::Connect(Box::new(profile)));
            }
            Err(e) => form.error = Some(e),
        }
    }
    if let Some(e) = &form.error {
        ui.colored_label(crate::ui::palette::of(ui).bad, e);
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
