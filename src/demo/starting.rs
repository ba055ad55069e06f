//! A demo started on a thread of its own, so that the window shows at once
//! while a cluster takes its ~10 s.

use super::{Demo, DemoReady, LocalServerError};

impl Demo {
    /// Start the server(s) on a thread of their own and return at once:
    /// the window shows while a cluster takes its ~10 s. The thread keeps
    /// the servers (their parent: they die with it, see `LocalServer`)
    /// until the returned handle is dropped, then stops them and removes
    /// their data. `wake` is called when they are ready or failed.
    pub fn start_in_background(cluster: bool, wake: impl Fn() + Send + 'static) -> DemoStarting {
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let (stop, stop_rx) = std::sync::mpsc::channel::<()>();
        let keeper = std::thread::Builder::new()
            .name("eventscope-demo".into())
            .spawn(move || {
                let started = if cluster {
                    Demo::start_cluster()
                } else {
                    Demo::start()
                };
                let demo = match started {
                    Ok(demo) => {
                        let _ = ready_tx.send(Ok(demo.ready()));
                        demo
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        wake();
                        return;
                    }
                };
                wake();
                // Until the app lets go (the sender is dropped).
                let _ = stop_rx.recv();
                drop(demo);
            });
        let keeper = match keeper {
            Ok(handle) => Some(handle),
            Err(e) => {
                let (tx, rx) = std::sync::mpsc::channel();
                let _ = tx.send(Err(LocalServerError::Io(e)));
                return DemoStarting {
                    ready: rx,
                    stop: None,
                    keeper: None,
                };
            }
        };
        DemoStarting {
            ready,
            stop: Some(stop),
            keeper,
        }
    }
}

/// A demo starting (or started) in the background.
pub struct DemoStarting {
    ready: std::sync::mpsc::Receiver<Result<DemoReady, LocalServerError>>,
    stop: Option<std::sync::mpsc::Sender<()>>,
    keeper: Option<std::thread::JoinHandle<()>>,
}

impl DemoStarting {
    /// The demo once its servers are up (once), or why they could not
    /// start.
    pub fn poll(&self) -> Option<Result<DemoReady, LocalServerError>> {
        self.ready.try_recv().ok()
    }
}

impl Drop for DemoStarting {
    /// Stop the servers and wait until they are gone with their data.
    fn drop(&mut self) {
        self.stop.take();
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}
