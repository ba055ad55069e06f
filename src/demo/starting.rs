//! A demo started on a thread of its own, so that the window shows at once
//! while a cluster takes its ~10 s.

use super::{Demo, DemoReady};

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
                let demo = if cluster {
                    Demo::start_cluster()
                } else {
                    Demo::start()
                };
                let _ = ready_tx.send(demo.as_ref().map(Demo::ready).map_err(|e| e.to_string()));
                wake();
                // Until the app lets go (the sender is dropped).
                let _ = stop_rx.recv();
                drop(demo);
            })
            .map_err(|e| e.to_string());
        let keeper = match keeper {
            Ok(handle) => Some(handle),
            Err(e) => {
                let (tx, rx) = std::sync::mpsc::channel();
                let _ = tx.send(Err(format!("cannot start the demo's thread: {e}")));
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
    ready: std::sync::mpsc::Receiver<Result<DemoReady, String>>,
    stop: Option<std::sync::mpsc::Sender<()>>,
    keeper: Option<std::thread::JoinHandle<()>>,
}

impl DemoStarting {
    /// The demo once its servers are up (once), or why they could not
    /// start.
    pub fn poll(&self) -> Option<Result<DemoReady, String>> {
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
