//! Import the NATS CLI's contexts (`~/.config/nats/context/*.json`) as
//! connection profiles, so `nats` users start with their servers and
//! credentials already there.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::profile::{Auth, ConnectionProfile, TlsSettings};

/// The fields of a NATS CLI context that matter for connecting.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CliContext {
    url: String,
    token: String,
    user: String,
    password: String,
    creds: String,
    nkey: String,
    cert: String,
    key: String,
    ca: String,
}

/// `$XDG_CONFIG_HOME/nats` or `~/.config/nats`.
pub fn nats_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("nats"));
    }
    std::env::home_dir().map(|home| home.join(".config").join("nats"))
}

/// Every context in `dir/context/*.json`, sorted by name. Unreadable files
/// are reported, not fatal.
pub fn load_contexts(dir: &Path) -> (Vec<ConnectionProfile>, Vec<String>) {
    let mut profiles = Vec::new();
    let mut problems = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir.join("context")) else {
        return (profiles, problems);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<CliContext>(&text).map_err(|e| e.to_string()))
        {
            Ok(context) => profiles.push(to_profile(&name, context)),
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    (profiles, problems)
}

/// The selected context: `NATS_CONTEXT`, else `dir/context.txt`.
pub fn selected_context(dir: &Path) -> Option<String> {
    if let Some(name) = std::env::var("NATS_CONTEXT").ok().filter(|n| !n.is_empty()) {
        return Some(name);
    }
    std::fs::read_to_string(dir.join("context.txt"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// One context by name, from the default location.
pub fn find_context(name: &str) -> Result<ConnectionProfile, ContextError> {
    let dir = nats_config_dir().ok_or(ContextError::NoHome)?;
    let (profiles, _) = load_contexts(&dir);
    profiles
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ContextError::NotFound {
            name: name.to_owned(),
            dir,
        })
}

/// A NATS CLI context that cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot find the home directory")]
    NoHome,
    #[error("no NATS context named '{name}' in {}/context", dir.display())]
    NotFound {
        name: String,
        dir: std::path::PathBuf,
    },
}

fn to_profile(name: &str, c: CliContext) -> ConnectionProfile {
    let servers = if c.url.is_empty() {
        "nats://127.0.0.1:4222".to_owned()
    } else {
        c.url
    };
    let auth = if !c.creds.is_empty() {
        Auth::CredsFile {
            path: expand_home(&c.creds),
        }
    } else if !c.nkey.is_empty() {
        Auth::NkeyFile {
            path: expand_home(&c.nkey),
        }
    } else if !c.token.is_empty() {
        Auth::Token { token: c.token }
    } else if !c.user.is_empty() {
        Auth::UserPassword {
            user: c.user,
            password: c.password,
        }
    } else {
        Auth::None
    };
    let path = |s: &str| (!s.is_empty()).then(|| expand_home(s));
    let mut profile = ConnectionProfile::new(name, servers);
    profile.auth = auth;
    profile.tls = TlsSettings {
        ca_file: path(&c.ca),
        client_cert: path(&c.cert),
        client_key: path(&c.key),
        require_tls: false,
    };
    profile
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cli_contexts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = dir.path().join("context");
        std::fs::create_dir(&ctx).expect("mkdir");
        std::fs::write(
            ctx.join("prod.json"),
            r#"{"description":"","url":"nats://a:4222,nats://b:4222","creds":"/etc/nats/prod.creds","ca":"/etc/ca.pem"}"#,
        )
        .expect("write");
        std::fs::write(
            ctx.join("dev.json"),
            r#"{"url":"nats://dev:4222","user":"u","password":"p"}"#,
        )
        .expect("write");
        std::fs::write(ctx.join("broken.json"), "{").expect("write");
        std::fs::write(dir.path().join("context.txt"), "prod\n").expect("write");
        let (profiles, problems) = load_contexts(dir.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(profiles.len(), 2);
        assert_eq!(profiles[0].name, "dev");
        assert_eq!(
            profiles[0].auth,
            Auth::UserPassword {
                user: "u".into(),
                password: "p".into()
            }
        );
        assert_eq!(
            profiles[1].server_list(),
            ["nats://a:4222", "nats://b:4222"]
        );
        assert_eq!(
            profiles[1].auth,
            Auth::CredsFile {
                path: "/etc/nats/prod.creds".into()
            }
        );
        assert_eq!(profiles[1].tls.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        if std::env::var_os("NATS_CONTEXT").is_none() {
            assert_eq!(selected_context(dir.path()).as_deref(), Some("prod"));
        }
    }
}
