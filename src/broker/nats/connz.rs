//! Fetching from one server's HTTP monitoring port: its connection list,
//! and its `/varz` (the server table's row when there is no system
//! account).

use std::time::Duration;

use crate::server_answers::{ClosedConnection, Directory, closed_in_connz};

/// Connections listed per request (the monitoring default is 1024).
const LIMIT: usize = 4096;

/// `GET <base>/connz?subs=detail` (blocking: call from a blocking task).
pub fn fetch(base_url: &str) -> Result<Directory, ConnzError> {
    let url = format!(
        "{}/connz?subs=detail&limit={LIMIT}",
        base_url.trim_end_matches('/')
    );
    Ok(Directory::from_connz(&get(&url)?)?)
}

/// `GET <base>/varz` as a server-table row (blocking).
pub fn varz_row(base_url: &str) -> Result<crate::server_answers::ServerRow, ConnzError> {
    let url = format!("{}/varz", base_url.trim_end_matches('/'));
    let body = get(&url)?;
    crate::server_answers::ServerRow::from_monitoring_varz(&body).ok_or(ConnzError::NotVarz(url))
}

/// One connection by its id, open or closed (blocking).
pub fn closed_connection(base_url: &str, cid: u64) -> Option<ClosedConnection> {
    let url = format!(
        "{}/connz?cid={cid}&state=any",
        base_url.trim_end_matches('/')
    );
    closed_in_connz(&get(&url).ok()?, cid)
}

/// The connection list could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnzError {
    #[error("cannot read {url}: {source}")]
    Http {
        url: String,
        source: Box<ureq::Error>,
    },
    #[error(transparent)]
    Answer(#[from] crate::server_answers::AnswerError),
    #[error(transparent)]
    OverNats(#[from] super::ServersError),
    #[error("{0} did not answer as a server's /varz")]
    NotVarz(String),
}

fn get(url: &str) -> Result<Vec<u8>, ConnzError> {
    let failed = |source| ConnzError::Http {
        url: url.to_owned(),
        source: Box::new(source),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(3)))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(failed)?;
    response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map_err(failed)
}
