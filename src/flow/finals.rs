//! How a flow ended, as far as the wire shows: one word per ending, the
//! list's label for it, and whether it is a failure.

use serde::Serialize;

/// How a flow ended, as far as the wire shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Final {
    Acked,
    Terminated,
    MaxDeliveries,
    Pending,
    Replied,
    NoReply,
    /// The server refused the publish (the error is in `publish_error`).
    PublishFailed,
    /// Stored, and nothing more expected (a key-value revision).
    Stored,
    /// Delivered to every consumer that saw it, none expected to answer.
    Delivered,
    /// Stored, but no consumer's filter matches it (every consumer of its
    /// stream was seen being created).
    Unmatched,
    /// An interest stream let it go: no consumer wanted it when it came.
    NotRetained,
    /// The server removed it before every consumer that expects an answer
    /// settled it: expired (`Nats-TTL`, `MaxAge`), deleted, purged, rolled
    /// up, or its consumer deleted (`Removal` says which, and when).
    Removed,
    /// A service answered the request with an error
    /// (`Nats-Service-Error`, `Nats-Service-Error-Code`).
    ServiceError,
    /// Dead-lettered last (rejected, over a queue's length or delivery
    /// limit), and not delivered since.
    DeadLettered,
    /// Expired in a queue (its TTL or the queue's), dead-lettered as such,
    /// and not delivered since.
    Expired,
    /// No queue was bound to take it: dropped, or returned to a publisher
    /// that asked for `mandatory`.
    Unroutable,
    /// Written to a log, and every consumer group that reads it has
    /// committed past it (Kafka).
    Processed,
}

impl Final {
    pub fn label(self) -> &'static str {
        match self {
            Final::Acked => "acked",
            Final::Terminated => "terminated",
            Final::MaxDeliveries => "max deliveries",
            Final::Pending => "pending",
            Final::Replied => "replied",
            Final::NoReply => "no reply",
            Final::PublishFailed => "publish failed",
            Final::Stored => "stored",
            Final::Delivered => "delivered",
            Final::Unmatched => "unmatched",
            Final::NotRetained => "not retained",
            Final::Removed => "removed",
            Final::ServiceError => "service error",
            Final::DeadLettered => "dead-lettered",
            Final::Expired => "expired",
            Final::Unroutable => "unroutable",
            Final::Processed => "processed",
        }
    }

    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Final::Terminated
                | Final::MaxDeliveries
                | Final::NoReply
                | Final::PublishFailed
                | Final::Unmatched
                | Final::NotRetained
                | Final::Removed
                | Final::ServiceError
                | Final::DeadLettered
                | Final::Expired
                | Final::Unroutable
        )
    }
}
