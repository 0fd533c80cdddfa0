//! Event times as text: RFC 3339 with nanoseconds (alerts), and Falco's time of day
//! (`evt.time`).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

fn datetime(ts_ns: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ts_ns as i128).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2024-05-01T12:00:00.123456789Z`: always nine fractional digits, UTC.
pub fn format_rfc3339(ts_ns: u64) -> String {
    let f = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
    datetime(ts_ns).format(f).unwrap_or_default()
}

/// `12:00:00.123456789`, UTC: Falco's `evt.time`.
pub fn format_time_of_day(ts_ns: u64) -> String {
    let f = format_description!("[hour]:[minute]:[second].[subsecond digits:9]");
    datetime(ts_ns).format(f).unwrap_or_default()
}

/// Parses RFC 3339 text into nanoseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanoseconds_round_trip() {
        let ts = 1_700_000_000_123_456_789;
        assert_eq!(format_rfc3339(ts), "2023-11-14T22:13:20.123456789Z");
        assert_eq!(format_rfc3339(1_700_000_000_000_000_000), "2023-11-14T22:13:20.000000000Z");
        assert_eq!(parse_rfc3339(&format_rfc3339(ts)), Some(ts));
        assert_eq!(format_time_of_day(ts), "22:13:20.123456789");
    }
}
