//! async-nats options from a connection profile: the auth forms, TLS,
//! pings and reconnect backoff of the client that publishes, requests and
//! asks the JetStream API.

use std::time::Duration;

use super::profile::{Auth, ConnectionProfile, ProfileError};

/// Whether async-nats takes `url` as a server address; why not, if not.
pub(crate) fn check_server(url: &str) -> Result<(), std::io::Error> {
    url.parse::<async_nats::ServerAddr>().map(|_| ())
}

/// How often the publishing client pings (the monitoring link has its own
/// watchdog, see `wire::session`).
pub const PING_INTERVAL: Duration = Duration::from_secs(2);

/// Build async-nats options for the publishing connection from a profile.
/// Reads the creds/seed files.
pub async fn connect_options(
    profile: &ConnectionProfile,
) -> Result<async_nats::ConnectOptions, ProfileError> {
    profile.validate()?;
    let mut options = match &profile.auth {
        Auth::None => async_nats::ConnectOptions::new(),
        Auth::Token { token } => async_nats::ConnectOptions::with_token(token.clone()),
        Auth::UserPassword { user, password } => {
            async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
        }
        Auth::CredsFile { path } => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| ProfileError::BadCredentials {
                path: path.clone(),
                reason: e.to_string(),
            })?,
        Auth::NkeyFile { path } => {
            let seed = tokio::fs::read_to_string(path)
                .await
                .map_err(|_| ProfileError::MissingFile(path.clone()))?;
            async_nats::ConnectOptions::with_nkey(seed.trim().to_owned())
        }
        Auth::NkeySeed { seed } => async_nats::ConnectOptions::with_nkey(seed.trim().to_owned()),
    };
    if let Some(ca) = &profile.tls.ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&profile.tls.client_cert, &profile.tls.client_key) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    if profile.tls.require_tls {
        options = options.require_tls(true);
    }
    Ok(options
        .name(format!("eventscope:{}", profile.name))
        .no_echo()
        .ping_interval(PING_INTERVAL)
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None)
        .reconnect_delay_callback(reconnect_delay()))
}

/// The wait before each reconnect of an async-nats client: the monitoring
/// link's backoff with jitter (`backoff`). async-nats counts attempts from
/// the last connection that came up, so a server that accepts and breaks
/// the link at once (`PONG`, then garbage) would be reconnected to with no
/// wait, thousands of times a second; here, reconnects that come within
/// a few seconds of the last one count as one streak.
fn reconnect_delay() -> impl Fn(usize) -> Duration + Send + Sync + 'static {
    const STREAK_ENDS_AFTER: Duration = Duration::from_secs(5);
    let streak = std::sync::Mutex::new((std::time::Instant::now(), 0u32));
    move |_attempts| {
        let Ok(mut streak) = streak.lock() else {
            return Duration::from_secs(1);
        };
        let (last, count) = &mut *streak;
        *count = if last.elapsed() < STREAK_ENDS_AFTER {
            count.saturating_add(1)
        } else {
            1
        };
        *last = std::time::Instant::now();
        // As the monitoring link: the first retry at once, then doubling.
        super::wire::session::backoff(*count)
    }
}
