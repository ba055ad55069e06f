//! Human-readable numbers, sizes, rates and times for display.

use crate::capture::Timestamp;
use crate::capture::timestamp_to_utc;

/// `text` cut to `max` characters with an ellipsis, for a label that must
/// not push its neighbours off screen (a 250-character subject token); the
/// whole text goes on hover.
pub fn elide(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => text.into(),
        Some((end, _)) => format!("{}…", &text[..end]).into(),
    }
}

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn rate(per_second: f64) -> String {
    if per_second >= 10_000.0 {
        format!("{:.0}k/s", per_second / 1000.0)
    } else if per_second >= 10.0 {
        format!("{per_second:.0}/s")
    } else if per_second > 0.0 {
        format!("{per_second:.1}/s")
    } else {
        "0/s".to_owned()
    }
}

thread_local! {
    /// Times read in UTC rather than local time (`Look::utc`). Per thread:
    /// the window draws on one, and each UI test on its own.
    static UTC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Read times in UTC (true) or local time from now on, on this thread.
pub fn set_utc(utc: bool) {
    UTC.with(|u| u.set(utc));
}

fn shown(ts: Timestamp, format: &str) -> String {
    let utc = timestamp_to_utc(ts);
    if UTC.with(|u| u.get()) {
        utc.format(format).to_string()
    } else {
        utc.with_timezone(&chrono::Local).format(format).to_string()
    }
}

/// Wall-clock time with milliseconds, e.g. `14:03:07.412` (local or UTC,
/// as set).
pub fn clock(ts: Timestamp) -> String {
    shown(ts, "%H:%M:%S%.3f")
}

/// Date and time with nanoseconds and the offset, for the inspector.
pub fn full_time(ts: Timestamp) -> String {
    shown(ts, "%Y-%m-%d %H:%M:%S%.9f %:z")
}

/// A span of seconds: "42 s", "12 min", "3.5 h".
pub fn seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.0} s")
    } else if s < 3600.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// "3 s ago" style age.
pub fn age(ts: Timestamp, now: Timestamp) -> String {
    let secs = (now - ts).max(0) / 1_000_000_000;
    match secs {
        0 => "now".into(),
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s => format!("{} h ago", s / 3600),
    }
}

/// One line of payload for the table: text if it is text, else hex.
pub fn payload_preview(payload: &[u8], max_chars: usize) -> String {
    if payload.is_empty() {
        return "(empty)".to_owned();
    }
    let head = &payload[..payload.len().min(max_chars * 4)];
    let text = match std::str::from_utf8(head) {
        Ok(t) => Some(t),
        // A multi-byte character cut at the end is still text.
        Err(e)
            if e.valid_up_to() > 0
                && head.len() - e.valid_up_to() < 4
                && e.error_len().is_none() =>
        {
            std::str::from_utf8(&head[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    match text {
        Some(text) => {
            let mut out: String = text
                .chars()
                .take(max_chars)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            if payload.len() > out.len() {
                out.push('…');
            }
            out
        }
        None => {
            let shown = payload.len().min(max_chars / 3);
            let mut out: String = payload[..shown]
                .iter()
                .map(|b| format!("{b:02x} "))
                .collect();
            if payload.len() > shown {
                out.push('…');
            }
            format!("[binary] {out}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_utc_when_asked() {
        set_utc(true);
        assert_eq!(clock(1_500_000_000), "00:00:01.500");
        assert_eq!(full_time(0), "1970-01-01 00:00:00.000000000 +00:00");
        set_utc(false);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(rate(12345.0), "12k/s");
        assert_eq!(rate(2.5), "2.5/s");
    }

    #[test]
    fn previews_never_break_on_binary() {
        assert_eq!(payload_preview(b"", 10), "(empty)");
        assert_eq!(payload_preview(b"{\"a\":\n1}", 20), "{\"a\": 1}");
        assert!(payload_preview(&[0xff, 0x00, 0x12], 30).starts_with("[binary] ff 00 12"));
        assert_eq!(payload_preview("ééé".as_bytes(), 2), "éé…");
    }
}

#[cfg(test)]
mod elide_tests {
    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        assert_eq!(super::elide("short", 10), "short");
        assert_eq!(super::elide("ééééé", 3), "ééé…");
    }
}
