//! JetStream requests and their answers: streams, consumers, messages,
//! the flight recorder, capture streams, and the changes the view makes
//! (each change answered with a sentence saying what the server did).

use crate::capture::Timestamp;
use crate::jetstream::{
    self as js, Access, Api, ConsumerSummary, JsError, Page, PageRequest, Purge, PurgePreview,
    RecorderRead, RecorderSettings, RecorderStatus, ResetPreview, SearchProgress, SearchRequest,
    Start, StoredMessage, StreamSummary,
};

use super::Unavailable;

pub enum JetStreamRequest {
    Streams,
    /// The recorder of this name, if there is one.
    Recorder(String),
    Consumers(String),
    Subjects(String),
    Page {
        stream: String,
        access: Access,
        request: PageRequest,
    },
    /// A consumer's in-flight window: from `from` on, its filters only.
    InFlight {
        stream: String,
        access: Access,
        from: u64,
        filters: Vec<String>,
        count: usize,
    },
    Lag {
        stream: String,
        consumer: String,
        allow_direct: bool,
    },
    /// The recorder's flows since a time, at most `max_bytes` of them.
    History {
        recorder: String,
        since: Option<Timestamp>,
        max_bytes: u64,
    },
    /// The subjects of stored messages the flows know only by sequence.
    StoredSubjects(Vec<(String, u64)>),
    PurgePreview {
        stream: String,
        purge: Purge,
    },
    Purge {
        stream: String,
        purge: Purge,
    },
    DeleteMessage {
        stream: String,
        seq: u64,
    },
    /// Pause until a time, or resume (`None`).
    PauseConsumer {
        stream: String,
        consumer: String,
        until: Option<Timestamp>,
    },
    DeleteConsumer {
        stream: String,
        consumer: String,
    },
    ResetPreview {
        consumer: Box<ConsumerSummary>,
        seq: u64,
        allow_direct: bool,
    },
    ResetConsumer {
        stream: String,
        consumer: String,
        seq: u64,
    },
    PutConsumer {
        stream: String,
        config: serde_json::Value,
        update: bool,
    },
    StartRecorder(RecorderSettings),
    StopRecorder(String),
    /// Search a stream; `progress` holds what is found as it is found.
    Search {
        stream: String,
        access: Access,
        request: Box<SearchRequest>,
        progress: std::sync::Arc<SearchProgress>,
    },
    /// A capture stream written to a private temporary file.
    ExportCapture(String),
    /// These messages of a stream, for replay (`what` names them).
    Redrive {
        what: String,
        stream: String,
        seqs: Vec<u64>,
        access: Access,
    },
}

pub enum JetStreamAnswer {
    Unavailable(Unavailable),
    Streams(Result<Vec<StreamSummary>, JsError>),
    Consumers(String, Result<Vec<ConsumerSummary>, JsError>),
    Subjects(String, Result<Vec<(String, u64)>, JsError>),
    /// A page of a stream; `in_flight` when a consumer's window was asked.
    Page {
        stream: String,
        page: Result<Page, JsError>,
        in_flight: bool,
    },
    Lag(
        String,
        Result<Box<(ConsumerSummary, Option<Timestamp>)>, JsError>,
    ),
    Recorder(Result<Option<RecorderStatus>, JsError>),
    History(Result<RecorderRead, JsError>),
    /// (stream, sequence, subject) found, and how many were not.
    Named(Vec<(String, u64, String)>, usize),
    PurgePreview(Purge, Result<PurgePreview, JsError>),
    ResetPreview(Result<ResetPreview, JsError>),
    /// Messages read back for replay: (what, messages, no longer there).
    Redrive(String, Result<Vec<StoredMessage>, JsError>, usize),
    /// A capture stream in a temp file, and what was left out.
    Exported(
        String,
        Result<(tempfile::NamedTempFile, Option<String>), ExportError>,
    ),
    /// A search ended (its progress holds what it found).
    SearchDone,
    /// A change was made or refused, in a sentence.
    Changed(String),
}

/// Why a capture stream could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot make a temporary file: {0}")]
    TempFile(#[from] std::io::Error),
    #[error(transparent)]
    Read(#[from] JsError),
}

pub(super) async fn run(api: &Api, request: JetStreamRequest) -> JetStreamAnswer {
    use JetStreamAnswer as A;
    use JetStreamRequest as R;
    match request {
        R::Streams => A::Streams(js::list_streams(api).await),
        R::Recorder(name) => A::Recorder(js::recorder_status(api, &name).await),
        R::Consumers(stream) => {
            let result = js::list_consumers(api, &stream).await;
            A::Consumers(stream, result)
        }
        R::Subjects(stream) => {
            let result = js::stream_subjects(api, &stream, ">", 100_000).await;
            A::Subjects(stream, result)
        }
        R::Page {
            stream,
            access,
            request,
        } => {
            let page = js::fetch_page(api, &stream, access, &request).await;
            A::Page {
                stream,
                page,
                in_flight: false,
            }
        }
        R::InFlight {
            stream,
            access,
            from,
            filters,
            count,
        } => {
            let page = js::fetch_filtered(api, &stream, access, from, &filters, count).await;
            A::Page {
                stream,
                page,
                in_flight: true,
            }
        }
        R::Lag {
            stream,
            consumer,
            allow_direct,
        } => {
            let result = js::poll_lag(api, &stream, &consumer, allow_direct).await;
            A::Lag(consumer, result.map(Box::new))
        }
        R::History {
            recorder,
            since,
            max_bytes,
        } => A::History(js::read_recorder(api, &recorder, since, 0, max_bytes).await),
        R::StoredSubjects(wanted) => {
            let (named, unnamed) = js::stored_subjects(api, wanted).await;
            A::Named(named, unnamed)
        }
        R::PurgePreview { stream, purge } => {
            let result = js::purge_preview(api, &stream, &purge).await;
            A::PurgePreview(purge, result)
        }
        R::Purge { stream, purge } => A::Changed(match js::purge(api, &stream, &purge).await {
            Ok(n) => format!("purged {n} messages from {stream}"),
            Err(e) => format!("purge of {stream} failed: {e}"),
        }),
        R::DeleteMessage { stream, seq } => {
            A::Changed(match js::delete_message(api, &stream, seq).await {
                Ok(()) => format!("message {seq} deleted from {stream}"),
                Err(e) => format!("delete of {stream} #{seq} failed: {e}"),
            })
        }
        R::PauseConsumer {
            stream,
            consumer,
            until,
        } => A::Changed(
            match js::pause_consumer(api, &stream, &consumer, until).await {
                Ok(true) => format!("{consumer} paused for an hour"),
                Ok(false) => format!("{consumer} resumed"),
                Err(e) => format!("pause of {consumer} failed: {e}"),
            },
        ),
        R::DeleteConsumer { stream, consumer } => {
            A::Changed(match js::delete_consumer(api, &stream, &consumer).await {
                Ok(()) => format!("consumer {consumer} deleted from {stream}"),
                Err(e) => format!("delete of {consumer} failed: {e}"),
            })
        }
        R::ResetPreview {
            consumer,
            seq,
            allow_direct,
        } => A::ResetPreview(js::reset_preview(api, &consumer, seq, allow_direct).await),
        R::ResetConsumer {
            stream,
            consumer,
            seq,
        } => A::Changed(
            match js::reset_consumer(api, &stream, &consumer, seq).await {
                Ok(()) => format!("{consumer} reset to sequence {seq}"),
                Err(e) => format!("reset of {consumer} failed: {e}"),
            },
        ),
        R::PutConsumer {
            stream,
            config,
            update,
        } => A::Changed(match js::put_consumer(api, &stream, config, update).await {
            Ok(c) if update => format!("consumer {} changed", c.name),
            Ok(c) => format!("consumer {} created", c.name),
            Err(e) => format!("the server refused the consumer: {e}"),
        }),
        R::StartRecorder(settings) => {
            A::Recorder(js::start_recorder(api, &settings).await.map(Some))
        }
        R::StopRecorder(name) => match js::stop_recorder(api, &name).await {
            Ok(_) => A::Recorder(Ok(None)),
            Err(e) => A::Changed(format!("removing {name} failed: {e}")),
        },
        R::Search {
            stream,
            access,
            request,
            progress,
        } => {
            js::search(api, &stream, access, &request, &progress).await;
            A::SearchDone
        }
        R::ExportCapture(name) => {
            let exported = export_capture(api, &name).await;
            A::Exported(name, exported)
        }
        R::Redrive {
            what,
            stream,
            seqs,
            access,
        } => {
            let (found, gone) = match read_each(api, &stream, access, seqs).await {
                Ok(read) => read,
                Err((e, gone)) => return A::Redrive(what, Err(e), gone),
            };
            A::Redrive(what, Ok(found), gone)
        }
    }
}

async fn export_capture(
    api: &Api,
    name: &str,
) -> Result<(tempfile::NamedTempFile, Option<String>), ExportError> {
    let file = tempfile::Builder::new()
        .prefix("eventscope-stream-")
        .suffix(".jsonl")
        .tempfile()?;
    let mut out = std::io::BufWriter::new(file.as_file());
    let read = js::export_capture(api, name, &mut out).await?;
    drop(out);
    Ok((file, read.describe()))
}

/// Each message by its sequence: those found, and how many are gone.
async fn read_each(
    api: &Api,
    stream: &str,
    access: Access,
    seqs: Vec<u64>,
) -> Result<(Vec<StoredMessage>, usize), (JsError, usize)> {
    let mut found = Vec::new();
    let mut gone = 0;
    for seq in seqs {
        let request = PageRequest {
            start: Start::Seq(seq),
            subject: None,
            count: 1,
            max_bytes: 8 << 20,
        };
        match js::fetch_page(api, stream, access, &request).await {
            Ok(page) => match page.messages.into_iter().next() {
                Some(m) if m.seq == seq => found.push(m),
                _ => gone += 1,
            },
            Err(e) => return Err((e, gone)),
        }
    }
    Ok((found, gone))
}
