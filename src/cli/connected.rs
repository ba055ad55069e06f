//! How every networked command runs: connect once from the command line's
//! connection arguments, run the work on a runtime of its own, drain the
//! client, and turn an error into a sentence and an exit code.

use std::process::ExitCode;
use std::time::Duration;

use super::ConnectArgs;
use crate::jetstream::Api;

/// Connect, run `work` with the JetStream API, report its error.
pub(super) fn with_api<T>(
    command: &str,
    connect: &ConnectArgs,
    work: impl AsyncFnOnce(Api) -> anyhow::Result<T>,
) -> Result<T, ExitCode> {
    with_client(command, connect, async |client, profile| {
        work(Api::with_profile(client, profile)).await
    })
}

/// Connect, run `work` with the client (and the profile it came from),
/// report its error.
pub(super) fn with_client<T>(
    command: &str,
    connect: &ConnectArgs,
    work: impl AsyncFnOnce(async_nats::Client, crate::broker::ConnectionProfile) -> anyhow::Result<T>,
) -> Result<T, ExitCode> {
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("eventscope {command}: {e}");
        ExitCode::FAILURE
    };
    let profile = match connect.to_profile(&[]) {
        Ok(Some(p)) => p,
        Ok(None) => return Err(fail(&"no server: give --server URL or --context NAME")),
        Err(e) => return Err(fail(&e)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fail(&e))?;
    runtime.block_on(async {
        let client = crate::broker::open_client(&profile)
            .await
            .map_err(|e| fail(&e))?;
        let result = work(client.clone(), profile.clone()).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), client.drain()).await;
        result.map_err(|e| fail(&format!("{e:#}")))
    })
}

pub(super) fn exit(result: Result<(), ExitCode>) -> ExitCode {
    result.err().unwrap_or(ExitCode::SUCCESS)
}
