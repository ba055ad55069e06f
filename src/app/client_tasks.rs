//! Work on the chosen connection's async-nats client, run on the
//! background runtime; its answer comes back on the view's channel, which
//! the view drains each frame. Nothing here waits on the network.

use std::sync::mpsc;

use super::EventscopeApp;

impl EventscopeApp {
    /// Run `work` with the client of connection `key` on the background
    /// runtime and send its answer on `tx`; without a connection, or when
    /// the client cannot be had, `unavailable` says why.
    pub(super) fn spawn_on<A, F, Fut>(
        &self,
        key: Option<crate::capture::ConnectionKey>,
        tx: &mpsc::Sender<A>,
        unavailable: fn(String) -> A,
        work: F,
    ) where
        A: Send + 'static,
        F: FnOnce(async_nats::Client) -> Fut + Send + 'static,
        Fut: Future<Output = A> + Send,
    {
        let tx = tx.clone();
        let Some(key) = key else {
            let _ = tx.send(unavailable(
                "no connection is up; connect to a server first".into(),
            ));
            return;
        };
        let client = self.session.nats_client(key);
        self.session.spawn(async move {
            let answer = match client.await {
                Ok(client) => work(client).await,
                Err(e) => unavailable(e.to_string()),
            };
            let _ = tx.send(answer);
        });
    }
}
