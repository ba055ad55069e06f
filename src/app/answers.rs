//! The session's answers to what the views asked, taken once a frame and
//! handed to the view that asked. Nothing here waits on the network.

use super::EventscopeApp;
use crate::session::Answer;

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
