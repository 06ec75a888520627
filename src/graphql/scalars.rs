//! Scalars of the schema besides the built-in ones.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

/// A calendar date, `YYYY-MM-DD` (ISO 8601), with no time or zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) if s.len() == 10 => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("must be a date such as \"2026-06-22\"")),
            _ => Err(InputValueError::custom("must be a date such as \"2026-06-22\"")),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// An instant as an argument: RFC 3339 with an offset
/// (`2027-01-10T10:00:00+01:00`, `…Z`), or a wall-clock time in Italy
/// without one (`2027-01-10T10:00:00`). Answers always carry the offset.
/// It shares the name `DateTime` with the answers' type (the schema is
/// built to allow it), so documents declare `$t: DateTime!` either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(pub chrono::DateTime<chrono::Utc>);

#[Scalar(name = "DateTime", specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339")]
impl ScalarType for Instant {
    fn parse(value: Value) -> InputValueResult<Self> {
        let instant = match &value {
            Value::String(s) => crate::rules::rome::parse(s),
            _ => None,
        };
        instant.map(Instant).ok_or_else(|| {
            InputValueError::custom(
                "must be a date and time such as \"2027-01-10T10:00:00\" (Italian time) or with an offset",
            )
        })
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339())
    }
}
