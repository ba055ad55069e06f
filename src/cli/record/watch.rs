//! What the server said while `record` ran, printed as it comes, and
//! whether anything can still be recorded.

use std::time::Duration;

/// How often `record` looks at what the server said and whether anything
/// can still be recorded.
pub(super) const WATCH_EVERY: Duration = Duration::from_millis(200);

/// The server's errors and disconnect reasons, printed once each as they
/// come.
#[derive(Default)]
pub(super) struct ServerSaid {
    printed: u64,
}

impl ServerSaid {
    pub(super) fn print_new(&mut self, shared: &crate::broker::ConnectionShared) {
        let status = shared.status();
        let new = status.errors_said.saturating_sub(self.printed);
        self.printed = status.errors_said;
        let list = &status.server_errors;
        let skipped = new.saturating_sub(list.len() as u64);
        if skipped > 0 {
            eprintln!("eventscope: ({skipped} earlier messages from the server not shown)");
        }
        let first = list
            .len()
            .saturating_sub(usize::try_from(new).unwrap_or(usize::MAX));
        for said in &list[first..] {
            eprintln!("eventscope: {said}");
        }
    }
}

/// Why nothing more can be recorded, if so: the credentials were refused
/// (revoked mid-run), the connection gave up, or the server refused every
/// subscription.
pub(super) fn nothing_more(shared: &crate::broker::ConnectionShared) -> Option<String> {
    use crate::broker::LinkState;
    let status = shared.status();
    match status.state {
        LinkState::AuthError(reason) | LinkState::Failed(reason) => return Some(reason),
        _ => {}
    }
    let subs = &status.subscriptions;
    if !subs.is_empty() && subs.iter().all(|s| s.error.is_some()) {
        let each: Vec<String> = subs.iter().filter_map(|s| s.error.clone()).collect();
        return Some(format!(
            "the server refused every subscription ({})",
            each.join("; ")
        ));
    }
    None
}
