//! Fetching the server's connection list from its HTTP monitoring port.

use std::time::Duration;

use crate::flow::identity::Directory;

/// Connections listed per request (the monitoring default is 1024).
const LIMIT: usize = 4096;

/// `GET <base>/connz?subs=detail` (blocking: call from a blocking task).
pub fn fetch(base_url: &str) -> Result<Directory, String> {
    let url = format!(
        "{}/connz?subs=detail&limit={LIMIT}",
        base_url.trim_end_matches('/')
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(3)))
        .build()
        .into();
    let mut response = agent
        .get(&url)
        .call()
        .map_err(|e| format!("cannot read {url}: {e}"))?;
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| format!("cannot read {url}: {e}"))?;
    Directory::from_connz(&body)
}
