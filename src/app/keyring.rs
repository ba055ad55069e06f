//! Remembered secrets in the desktop's keyring (the Secret Service over
//! D-Bus: GNOME Keyring, KWallet), so that a token, password or seed the
//! user asked to keep never sits in a file. Calls are local IPC but may
//! wait on an unlock prompt: the app makes them off the UI thread.

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

/// The keyring's service name for eventscope's entries.
const SERVICE: &str = "eventscope";

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("no system keyring is available ({0})")]
    Unavailable(keyring_core::Error),
    #[error("the system keyring refused the secret ({0})")]
    Refused(keyring_core::Error),
    #[error("the system keyring could not be read ({0})")]
    Unreadable(keyring_core::Error),
}

fn entry(profile: &str) -> Result<Entry, KeyringError> {
    let store: Arc<CredentialStore> =
        zbus_secret_service_keyring_store::Store::new().map_err(KeyringError::Unavailable)?;
    Entry::new_in_store(&store, SERVICE, profile).map_err(KeyringError::Unavailable)
}

/// Keep `secret` for the profile named `profile`.
pub fn keyring_store(profile: &str, secret: &str) -> Result<(), KeyringError> {
    entry(profile)?
        .set_password(secret)
        .map_err(KeyringError::Refused)
}

/// The secret kept for `profile`, if any.
pub fn keyring_load(profile: &str) -> Result<Option<String>, KeyringError> {
    match entry(profile)?.get_password() {
        Ok(secret) => Ok(Some(secret)),
        Err(keyring_core::Error::NoEntry) => Ok(None),
        Err(e) => Err(KeyringError::Unreadable(e)),
    }
}

/// Forget the secret kept for `profile` (a profile forgotten, or no longer
/// remembering its secret).
pub fn keyring_forget(profile: &str) {
    if let Ok(entry) = entry(profile) {
        let _ = entry.delete_credential();
    }
}

impl super::EventscopeApp {
    /// Keep a connected profile's secret where the user chose: the keyring
    /// now (in the background), plain text when the state is saved. A
    /// keyring that cannot take it is said, with the way out.
    pub(super) fn remember_secret(&self, profile: &crate::broker::ConnectionProfile) {
        use crate::broker::SecretStorage;
        let name = profile.name.clone();
        let secret = profile.auth.secret().unwrap_or("").to_owned();
        if profile.secret_storage != SecretStorage::Keyring || secret.is_empty() {
            return;
        }
        let notices = self.pending.notices();
        self.session.spawn(async move {
            let outcome = tokio::task::spawn_blocking(move || {
                keyring_store(&name, &secret).map_err(|e| (name, e))
            })
            .await;
            if let Ok(Err((name, error))) = outcome {
                let _ = notices.send(crate::ui::Notice::problem(format!(
                    "the secret of \"{name}\" was not remembered: {error}; it will be asked again \
                     (choose \"in plain text\" to keep it in eventscope's state file)"
                )));
            }
        });
    }

    /// Fetch the secrets of saved profiles kept in the keyring, in the
    /// background; `apply_keyring_secrets` puts them back when they come.
    pub(super) fn fetch_keyring_secrets(&mut self) {
        let names: Vec<String> = self
            .saved_profiles
            .iter()
            .filter(|p| p.secret_storage == crate::broker::SecretStorage::Keyring)
            .map(|p| p.name.clone())
            .collect();
        if names.is_empty() {
            return;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.session.spawn(async move {
            let found = tokio::task::spawn_blocking(move || {
                names
                    .into_iter()
                    .filter_map(|name| Some((name.clone(), keyring_load(&name).ok()??)))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            let _ = tx.send(found);
        });
        self.pending
            .wait(super::pending::Waiting::KeyringSecrets(rx));
    }

    pub(super) fn apply_keyring_secrets(&mut self, found: Vec<(String, String)>) {
        for (name, secret) in found {
            if let Some(profile) = self.saved_profiles.iter_mut().find(|p| p.name == name) {
                profile.auth.set_secret(secret);
            }
        }
    }

    /// A forgotten profile's secret leaves the keyring too.
    pub(super) fn forget_secret(&self, name: String) {
        self.session.spawn(async move {
            let _ = tokio::task::spawn_blocking(move || keyring_forget(&name)).await;
        });
    }
}
