//! Durations and sizes as people type them (`15m`, `24h`, `512MiB`), for
//! the recorder's bounds and time seeks. By hand: two small grammars, not
//! worth a dependency each.

use std::time::Duration;

/// A duration or size that cannot be read, with examples of what can.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("{0:?} is not a duration (try 90s, 15m, 1h, 24h, 7d)")]
    Duration(String),
    #[error("{0:?} is not a size (try 512MiB, 1GiB)")]
    Size(String),
}

/// `90s`, `15m`, `1h`, `2d`, `1h30m`, or plain seconds (`30`, `0.5`).
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| bad_duration(text));
    }
    let mut total = 0.0;
    let mut number = String::new();
    let mut any = false;
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86_400.0,
            'w' => 7.0 * 86_400.0,
            _ => return Err(bad_duration(text)),
        };
        let n: f64 = number.parse().map_err(|_| bad_duration(text))?;
        total += n * unit;
        number.clear();
        any = true;
    }
    if !any || !number.is_empty() {
        return Err(bad_duration(text));
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad_duration(text))
}

fn bad_duration(text: &str) -> UnitError {
    UnitError::Duration(text.to_owned())
}

/// `1073741824`, `512MB`, `512MiB`, `1G`, `1GiB` (K/M/G/T, powers of 1024
/// with or without `i`, as nats-server reads them).
pub fn parse_bytes(text: &str) -> Result<u64, UnitError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| UnitError::Size(text.to_owned()))?;
    let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return Err(UnitError::Size(text.to_owned())),
    };
    Ok((n * scale as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_as_typed() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["", "h", "5x", "1h5", "-3"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("512MB"), Ok(512 << 20));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("lots").is_err());
    }
}
