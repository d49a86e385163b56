//! The JSON envelope's timestamp: an instant in UTC, written RFC 3339.
//!
//! A newtype so that every value can be written: RFC 3339 has four-digit years, so the
//! constructor refuses instants outside years 0000-9999 and `encode` never fails.

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::WireError;

/// An instant in UTC between years 0000 and 9999, with nanosecond precision.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(OffsetDateTime::UNIX_EPOCH);

    /// The instant, converted to UTC; None outside years 0000-9999.
    pub fn new(at: OffsetDateTime) -> Option<Timestamp> {
        let utc = at.checked_to_offset(UtcOffset::UTC)?;
        (0..=9999).contains(&utc.year()).then_some(Timestamp(utc))
    }

    /// The instant `ms` milliseconds after the Unix epoch; None past year 9999.
    pub fn from_unix_millis(ms: u64) -> Option<Timestamp> {
        let nanos = i128::from(ms) * 1_000_000;
        Timestamp::new(OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?)
    }

    /// Milliseconds since the Unix epoch, rounded down (negative before 1970).
    pub fn unix_millis(&self) -> i64 {
        // Years 0000-9999 are within ±2.6e14 ms: the division result fits i64.
        i64::try_from(self.0.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
    }

    /// The instant as a `time` value (offset UTC).
    pub fn as_offset_date_time(&self) -> OffsetDateTime {
        self.0
    }

    /// Parses RFC 3339 text; any offset is accepted and converted to UTC.
    pub fn parse(text: &str) -> Result<Timestamp, WireError> {
        let bad = || WireError::FieldType {
            kind: "JsonEnvelope",
            field: "timestamp",
            expected: "an RFC 3339 timestamp",
        };
        let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| bad())?;
        Timestamp::new(at).ok_or_else(bad)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC (`2025-12-11T01:16:25Z`); fractional seconds only when non-zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = Timestamp::parse("2025-12-11T09:16:25+08:00").unwrap();
        assert_eq!(t.to_string(), "2025-12-11T01:16:25Z");
        let t = Timestamp::parse("2025-12-11T01:16:25.250Z").unwrap();
        assert_eq!(t.to_string(), "2025-12-11T01:16:25.25Z");
        assert_eq!(t.unix_millis(), 1_765_415_785_250);
    }

    #[test]
    fn millis_round_trip_and_bounds() {
        let t = Timestamp::from_unix_millis(1_765_415_785_250).unwrap();
        assert_eq!(t.unix_millis(), 1_765_415_785_250);
        assert!(Timestamp::from_unix_millis(u64::MAX).is_none());
        assert!(Timestamp::parse("2025-12-11 01:16:25").is_err());
    }
}
