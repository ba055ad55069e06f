//! Removing messages: one by sequence, or a purge with a preview of what
//! it would remove, counted from the server before anything is sent.

use serde_json::{Value, json};

use super::api::{Api, JsError, check_name, u64_at};
use super::messages::count_from;
use super::streams::{stream_info, stream_subjects};

/// What a purge removes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purge {
    /// Only messages on subjects matching this filter.
    pub subject: Option<String>,
    /// Keep this many of the newest (of each subject, with a filter).
    pub keep: Option<u64>,
    /// Remove only messages below this sequence.
    pub up_to_seq: Option<u64>,
}

impl Purge {
    fn body(&self) -> Value {
        let mut body = serde_json::Map::new();
        if let Some(s) = &self.subject {
            body.insert("filter".into(), json!(s));
        }
        if let Some(k) = self.keep {
            body.insert("keep".into(), json!(k));
        }
        if let Some(q) = self.up_to_seq {
            body.insert("seq".into(), json!(q));
        }
        Value::Object(body)
    }
}

/// How many messages a purge would remove now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PurgePreview {
    pub count: u64,
    /// `false`: an upper bound (a sequence bound on a stream without
    /// direct get counts the sequence span, deleted ones included).
    pub exact: bool,
}

/// Count what `purge` would remove, from the server's state (which may
/// change before the purge runs).
pub async fn purge_preview(
    api: &Api,
    stream: &str,
    purge: &Purge,
) -> Result<PurgePreview, JsError> {
    if purge.keep.is_some() && purge.up_to_seq.is_some() {
        return Err(JsError::Invalid(
            "keep and up-to-sequence cannot be combined in one purge".into(),
        ));
    }
    let info = stream_info(api, stream).await?;
    let filter = purge.subject.as_deref().unwrap_or(">");
    let subjects = match &purge.subject {
        Some(f) => stream_subjects(api, stream, f, usize::MAX).await?,
        None => Vec::new(),
    };
    let in_scope = match &purge.subject {
        Some(_) => subjects.iter().map(|(_, n)| n).sum(),
        None => info.messages,
    };
    if let Some(keep) = purge.keep {
        let count = match &purge.subject {
            Some(_) => subjects.iter().map(|(_, n)| n.saturating_sub(keep)).sum(),
            None => info.messages.saturating_sub(keep),
        };
        return Ok(PurgePreview { count, exact: true });
    }
    if let Some(up_to) = purge.up_to_seq {
        if info.allow_direct {
            let kept = count_from(api, stream, up_to, filter).await?;
            return Ok(PurgePreview {
                count: in_scope.saturating_sub(kept),
                exact: true,
            });
        }
        return Ok(PurgePreview {
            count: in_scope.min(up_to.saturating_sub(info.first_seq)),
            exact: false,
        });
    }
    Ok(PurgePreview {
        count: in_scope,
        exact: true,
    })
}

/// Purge; returns how many messages the server says it removed.
pub async fn purge(api: &Api, stream: &str, purge: &Purge) -> Result<u64, JsError> {
    check_name(stream)?;
    let answer = api
        .request(&format!("STREAM.PURGE.{stream}"), &purge.body())
        .await?;
    Ok(u64_at(&answer, &["purged"]))
}

/// Delete one message (erased from storage, not only marked).
pub async fn delete_message(api: &Api, stream: &str, seq: u64) -> Result<(), JsError> {
    check_name(stream)?;
    api.request(
        &format!("STREAM.MSG.DELETE.{stream}"),
        &json!({ "seq": seq, "no_erase": false }),
    )
    .await?;
    Ok(())
}
