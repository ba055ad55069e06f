//! A real server with `eventscope record` on it, and `eventscope flows` over
//! the capture it wrote: what the flow tests drive and assert on.

use serde_json::Value;

use super::recorder::Recorder;

/// A real server and `eventscope record` on it, into a capture file of a
/// temp dir.
pub struct Recording {
    _server: super::LocalServer,
    dir: tempfile::TempDir,
    recorder: Recorder,
    pub url: String,
}

impl Recording {
    /// `extra`: more arguments for `record` (subjects).
    pub fn start(extra: &[&str]) -> Self {
        let server = super::server();
        let dir = tempfile::tempdir().expect("tempdir");
        let url = server.url();
        let capture = dir.path().join("capture.jsonl");
        let mut args = vec!["--server", &url, "-o", capture.to_str().expect("utf8")];
        args.extend_from_slice(extra);
        let mut recorder = Recorder::start(&args);
        recorder.wait_line("recording");
        Self {
            _server: server,
            dir,
            recorder,
            url,
        }
    }

    /// Stop recording; the capture's path (valid while the returned dir
    /// lives) and what `record` said.
    pub async fn finish(self) -> (Capture, String) {
        self.recorder.signal("INT");
        let recorder = self.recorder;
        let (status, text) = tokio::task::spawn_blocking(move || recorder.finish())
            .await
            .expect("join");
        assert!(status.success(), "{text}");
        let path = self.dir.path().join("capture.jsonl");
        (
            Capture {
                path: path.to_str().expect("utf8").to_owned(),
                _dir: self.dir,
            },
            text,
        )
    }
}

/// A capture file and the temp dir holding it.
pub struct Capture {
    path: String,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Capture {
    type Target = str;
    fn deref(&self) -> &str {
        &self.path
    }
}

/// `flows --json`, one object per flow.
pub fn json_flows(capture: &str) -> Vec<Value> {
    flows(capture, &["--json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect()
}

pub fn flows(capture: &str, extra: &[&str]) -> String {
    let mut args = vec!["flows", capture];
    args.extend_from_slice(extra);
    String::from_utf8(super::eventscope(&args).stdout).expect("utf8")
}
