//! Italian civil time without a time-zone database: the instant of a
//! wall-clock time written without an offset ("2027-01-10T10:00:00" is ten
//! in the morning in Italy), the day in Italy of an instant, and the end of
//! the regulations' periods (23:59:59 of their last day). Central European
//! Time (UTC+1), and summer time (UTC+2) from 01:00 UTC on the last Sunday
//! of March to 01:00 UTC on the last Sunday of October: the EU rule Italy
//! follows since 1996. An integration test holds it to PostgreSQL's
//! `Europe/Rome` every half hour of six years, both ways.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// The last Sunday of a month.
fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let first_next =
        if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) }
            .expect("a valid month");
    let last = first_next - Duration::days(1);
    last - Duration::days(i64::from(last.weekday().num_days_from_sunday()))
}

/// Whether Italy is on summer time at an instant.
pub fn summer_time(t: DateTime<Utc>) -> bool {
    let year = t.year();
    let start = Utc.from_utc_datetime(&last_sunday(year, 3).and_hms_opt(1, 0, 0).expect("01:00"));
    let end = Utc.from_utc_datetime(&last_sunday(year, 10).and_hms_opt(1, 0, 0).expect("01:00"));
    start <= t && t < end
}

/// The instant of a wall-clock time in Italy. As PostgreSQL reads them, a
/// time of the hour that repeats in October is winter time (the second),
/// and a time of the hour skipped in March is read as winter time too.
pub fn instant(local: NaiveDateTime) -> DateTime<Utc> {
    let winter = Utc.from_utc_datetime(&(local - Duration::hours(1)));
    let summer = Utc.from_utc_datetime(&(local - Duration::hours(2)));
    if !summer_time(winter) || !summer_time(summer) { winter } else { summer }
}

/// The wall-clock time in Italy at an instant.
pub fn local(t: DateTime<Utc>) -> NaiveDateTime {
    let offset = if summer_time(t) { 2 } else { 1 };
    (t + Duration::hours(offset)).naive_utc()
}

/// The day in Italy at an instant.
pub fn date(t: DateTime<Utc>) -> NaiveDate {
    local(t).date()
}

/// The end (23:59:59 in Italy) of the `days`-th day after the day of `at`:
/// how the regulations' periods end (the day of the act excluded, the last
/// day included).
pub fn end_of_day_after(at: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    let next_midnight = (date(at) + Duration::days(days + 1)).and_hms_opt(0, 0, 0).expect("midnight");
    instant(next_midnight) - Duration::seconds(1)
}

/// An instant as people write it: RFC 3339 with an offset, or a wall-clock
/// time in Italy (`2027-01-10T10:00:00`, `2027-01-10 10:00`,
/// `10/01/2027 10:00`). The API, the CSV imports and the command line all
/// read instants so.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    const LOCAL: [&str; 6] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
    ];
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    LOCAL.iter().find_map(|f| NaiveDateTime::parse_from_str(s, f).ok()).map(instant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap()
    }

    #[test]
    fn instants_are_written_with_an_offset_or_in_italian_time() {
        let ten = "2027-01-10T09:00:00+00:00";
        for written in [
            "2027-01-10T10:00:00+01:00",
            "2027-01-10T09:00:00Z",
            "2027-01-10T10:00:00",
            "2027-01-10 10:00",
            "2027-01-10T10:00",
            "10/01/2027 10:00",
            "10/01/2027 10:00:00",
            " 2027-01-10 10:00:00.000 ",
        ] {
            assert_eq!(parse(written).map(|t| t.to_rfc3339()).as_deref(), Some(ten), "{written}");
        }
        for wrong in ["2027-01-10", "10:00", "2027-13-10 10:00", "domani"] {
            assert_eq!(parse(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn winter_and_summer_and_their_changes() {
        assert_eq!(last_sunday(2027, 3), NaiveDate::from_ymd_opt(2027, 3, 28).unwrap());
        assert_eq!(last_sunday(2027, 10), NaiveDate::from_ymd_opt(2027, 10, 31).unwrap());
        assert_eq!(instant(local("2027-01-10T10:00:00")).to_rfc3339(), "2027-01-10T09:00:00+00:00");
        assert_eq!(instant(local("2027-08-31T23:59:59")).to_rfc3339(), "2027-08-31T21:59:59+00:00");
        // 28 March 2027: 02:00 becomes 03:00.
        assert_eq!(instant(local("2027-03-28T01:59:59")).to_rfc3339(), "2027-03-28T00:59:59+00:00");
        assert_eq!(instant(local("2027-03-28T03:00:00")).to_rfc3339(), "2027-03-28T01:00:00+00:00");
        // 31 October 2027: 03:00 goes back to 02:00; 02:30 is read as winter time.
        assert_eq!(instant(local("2027-10-31T02:30:00")).to_rfc3339(), "2027-10-31T01:30:00+00:00");
        assert_eq!(instant(local("2027-10-31T01:59:59")).to_rfc3339(), "2027-10-30T23:59:59+00:00");
        // Published on 27 January: complaints until the end of 6 February, Italian time.
        let published = instant(local("2027-01-27T10:00:00"));
        assert_eq!(end_of_day_after(published, 10).to_rfc3339(), "2027-02-06T22:59:59+00:00");
        assert_eq!(
            end_of_day_after(instant(local("2027-03-20T23:30:00")), 10).to_rfc3339(),
            "2027-03-30T21:59:59+00:00"
        );
        let half_past_midnight = instant(local("2027-07-01T00:30:00"));
        assert_eq!(date(half_past_midnight), NaiveDate::from_ymd_opt(2027, 7, 1).unwrap());
        assert_eq!(half_past_midnight.date_naive(), NaiveDate::from_ymd_opt(2027, 6, 30).unwrap());
        assert_eq!(instant(local("2027-10-31T03:00:00")).to_rfc3339(), "2027-10-31T02:00:00+00:00");
    }
}
