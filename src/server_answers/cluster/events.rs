//! Connect, disconnect and authentication-failure advisories.

use serde::Serialize;
use serde_json::Value;

use super::{number, text, time};
use crate::capture::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Connect,
    Disconnect,
    AuthError,
}

impl EventKind {
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Connect => "connect",
            EventKind::Disconnect => "disconnect",
            EventKind::AuthError => "auth error",
        }
    }
}

/// One connect, disconnect or authentication failure the servers told of.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerEvent {
    #[serde(serialize_with = "rfc3339")]
    pub at: Timestamp,
    pub kind: EventKind,
    pub server: String,
    pub account: String,
    pub cid: u64,
    pub name: String,
    pub user: String,
    pub host: String,
    /// Why a connection ended (`Client Closed`, `Authentication Failure`).
    pub reason: String,
}

fn rfc3339<S: serde::Serializer>(at: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::capture::timestamp_to_utc(*at).to_rfc3339())
}

impl ServerEvent {
    /// The advisory on `subject` (`$SYS.ACCOUNT.<acc>.CONNECT`,
    /// `…DISCONNECT`, `$SYS.SERVER.<id>.CLIENT.AUTH.ERR`); `None` for
    /// anything else.
    pub fn from_advisory(subject: &str, payload: &[u8]) -> Option<Self> {
        let kind = if subject.ends_with(".CLIENT.AUTH.ERR") {
            EventKind::AuthError
        } else if subject.ends_with(".DISCONNECT") {
            EventKind::Disconnect
        } else if subject.ends_with(".CONNECT") {
            EventKind::Connect
        } else {
            return None;
        };
        let v: Value = serde_json::from_slice(payload).ok()?;
        v.get("client")?;
        Some(ServerEvent {
            at: time(&v, "/timestamp"),
            kind,
            server: text(&v, "/server/name"),
            account: text(&v, "/client/acc"),
            cid: number(&v, "/client/id"),
            name: text(&v, "/client/name"),
            user: text(&v, "/client/user"),
            host: text(&v, "/client/host"),
            reason: text(&v, "/reason"),
        })
    }
}

/// The subjects of the advisories above (the system account's).
pub const EVENT_SUBJECTS: [&str; 3] = [
    "$SYS.ACCOUNT.*.CONNECT",
    "$SYS.ACCOUNT.*.DISCONNECT",
    "$SYS.SERVER.*.CLIENT.AUTH.ERR",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn advisories_become_events() {
        let payload = json!({"type": "io.nats.server.advisory.v1.client_disconnect",
            "timestamp": "2026-11-30T08:40:16.462616509Z",
            "server": {"name": "n1"},
            "client": {"id": 9, "acc": "$G", "user": "app", "name": "badguy", "host": "127.0.0.1"},
            "reason": "Authentication Failure"});
        let bytes = serde_json::to_vec(&payload).unwrap();
        let e = ServerEvent::from_advisory("$SYS.SERVER.NABC.CLIENT.AUTH.ERR", &bytes).unwrap();
        assert_eq!(e.kind, EventKind::AuthError);
        assert_eq!(
            (e.cid, e.name.as_str(), e.server.as_str()),
            (9, "badguy", "n1")
        );
        assert_eq!(e.reason, "Authentication Failure");
        assert!(e.at > 0);
        let e = ServerEvent::from_advisory("$SYS.ACCOUNT.APP.DISCONNECT", &bytes).unwrap();
        assert_eq!(e.kind, EventKind::Disconnect);
        assert!(ServerEvent::from_advisory("$SYS.ACCOUNT.APP.CONNECT", b"not json").is_none());
    }
}
