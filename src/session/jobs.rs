//! Background jobs built from outgoing-message plans: a template sent
//! again and again, a capture replayed with its timing. Each becomes a
//! `JobSpec`, a source of messages that `broker::send` runs.

use std::time::Duration;

use crate::broker::{HeaderError, HeaderNames};
use crate::broker::{JobSpec, WireMessage};
use crate::capture::Record;
use crate::outgoing::PublishTemplate;
use crate::outgoing::remap_subject;
use crate::outgoing::{OutMessage, REPLAY_HEADER, ReplayOptions, kept_headers, send_offset};

/// An outgoing message in the client's terms.
pub fn wire_message(message: OutMessage) -> Result<WireMessage, HeaderError> {
    Ok(WireMessage {
        headers: HeaderNames::default().map(
            message
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        )?,
        subject: message.subject,
        reply: message.reply,
        payload: message.payload,
        fields: message.fields,
    })
}

/// Replay captured records in order, with the options' timing.
pub fn replay_job(records: Vec<Record>, options: ReplayOptions) -> JobSpec {
    let first = records.first().map_or(0, |r| r.received_at);
    let mut header_maps = ReplayHeaderMaps::default();
    JobSpec {
        total: records.len() as u64,
        next: Box::new(move |i| {
            let index = i as usize;
            let record = records.get(index).ok_or("no such record")?;
            let headers = header_maps.for_record(&records, index, &options)?;
            let message = WireMessage {
                subject: remap_subject(&options.remaps, record.subject()),
                reply: None,
                headers,
                payload: record.payload_bytes(),
                fields: record.fields().map(str::to_owned),
            };
            Ok((
                message,
                send_offset(options.timing, first, record.received_at, i as usize),
            ))
        }),
        deadline: None,
    }
}

/// The client's header map for each replayed record. Building one (a
/// `HashMap` with SipHash, a `Vec` and a `String` per value) was a third of
/// a max-rate replay; while records repeat the previous one's header text
/// (one producer's static headers), the map is cloned instead, which costs
/// about half. The map kept holds a mark too, replaced per message: adding
/// a fourth header to a clone of three would regrow and rehash its table.
#[derive(Default)]
struct ReplayHeaderMaps {
    names: HeaderNames,
    marks: crate::capture::file::TimestampFormatter,
    /// The map of the current run of records with the same header text.
    repeated: Option<async_nats::HeaderMap>,
}

impl ReplayHeaderMaps {
    fn for_record(
        &mut self,
        records: &[Record],
        index: usize,
        options: &ReplayOptions,
    ) -> Result<async_nats::HeaderMap, HeaderError> {
        fn header_text(record: &Record) -> Option<&[u8]> {
            record.headers().map(|h| h.as_bytes())
        }
        let record = &records[index];
        let repeats = index
            .checked_sub(1)
            .and_then(|previous| records.get(previous))
            .is_some_and(|previous| header_text(previous) == header_text(record));
        let original_time = options.mark.then(|| self.marks.format(record.received_at));
        if let Some(map) = &self.repeated
            && repeats
        {
            let mut map = map.clone();
            if let Some(time) = original_time {
                self.names.set(&mut map, REPLAY_HEADER, time)?;
            }
            return Ok(map);
        }
        let mut map = self.names.build(|add| kept_headers(record, options, add))?;
        if let Some(time) = original_time {
            self.names.append(&mut map, REPLAY_HEADER, time)?;
        }
        self.repeated = repeats.then(|| map.clone());
        Ok(map)
    }
}

/// Send a template `count` times, at `rate` per second (or as fast as
/// possible), stopping after `duration` if given.
pub fn repeat_job(
    template: PublishTemplate,
    count: u64,
    rate: Option<f64>,
    duration: Option<Duration>,
    schemas: std::sync::Arc<crate::decode::Schemas>,
) -> JobSpec {
    JobSpec {
        total: count,
        next: Box::new(move |i| {
            let offset = match rate {
                Some(r) if r > 0.0 => Duration::from_secs_f64(i as f64 / r),
                _ => Duration::ZERO,
            };
            Ok((
                wire_message(template.message_with(i + 1, &schemas)?)?,
                offset,
            ))
        }),
        deadline: duration,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::HeaderBlock;

    fn record(at: i64, headers: &[(&str, &str)]) -> Record {
        let block = HeaderBlock::build(None, headers.iter().copied());
        Record::new(at, 0, "orders.created", None, Some(&block), b"{}")
    }

    /// Runs of records with the same header text reuse one header map; each
    /// message must still carry its own headers and its own mark.
    #[test]
    fn replayed_headers_follow_each_record_through_repeats() {
        let same = [("ce-type", "created"), ("X-Multi", "a"), ("X-Multi", "b")];
        let records = vec![
            record(1_000, &same),
            record(2_000, &same),
            record(3_000, &same),
            record(4_000, &[("ce-type", "deleted")]),
            record(5_000, &same),
            record(6_000, &same),
        ];
        let expected_types = [
            "created", "created", "created", "deleted", "created", "created",
        ];
        let mut job = replay_job(records.clone(), ReplayOptions::default());
        for (i, record) in records.iter().enumerate() {
            let (message, _) = (job.next)(i as u64).expect("message");
            let h = &message.headers;
            assert_eq!(
                h.get("ce-type").map(|v| v.as_str()),
                Some(expected_types[i])
            );
            let multi: Vec<&str> = h.get_all("X-Multi").map(|v| v.as_str()).collect();
            let expected_multi: &[&str] = if i == 3 { &[] } else { &["a", "b"] };
            assert_eq!(multi, expected_multi, "message {i}");
            let mark: Vec<&str> = h.get_all(REPLAY_HEADER).map(|v| v.as_str()).collect();
            assert_eq!(
                mark,
                [crate::capture::file::format_timestamp(record.received_at).as_str()],
                "one mark, this record's time, on message {i}"
            );
        }
    }
}
