//! The session's answers to what the views asked, taken once a frame and
//! handed to the view that asked. Nothing here waits on the network.

use super::EventscopeApp;
use crate::session::Answer;

/// An answer's error as the sentence its view shows.
pub(super) fn text<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// Whether a view's poll is due: `every` seconds since `last` (or never
/// asked yet), at frame time `time`.
pub(super) fn due(last: Option<f64>, time: f64, every: f64) -> bool {
    last.is_none_or(|last| time - last >= every)
}

impl EventscopeApp {
    pub(super) fn take_answers(&mut self) {
        let answers: Vec<Answer> = self.session.answers().collect();
        for answer in answers {
            match answer {
                Answer::JetStream(a) => self.on_jetstream_answer(a),
                Answer::Kv(a) => self.on_kv_answer(a),
                Answer::Cluster(a) => self.on_cluster_answer(a),
            }
        }
    }
}
