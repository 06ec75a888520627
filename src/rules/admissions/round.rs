//! A round's state and the checks on its configuration (spec §3.1, §6),
//! as pure functions of the round's dates, its recorded acts and "now".

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum State {
    Draft,
    Open,
    Closed,
    Provisional,
    Final,
    Ended,
}

/// The dates and acts a state depends on.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    pub window_opens_at: DateTime<Utc>,
    pub window_closes_at: DateTime<Utc>,
    pub waiting_list_closes_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
}

/// DRAFT → OPEN → CLOSED → PROVISIONAL → FINAL → ENDED.
pub fn state(t: &Timeline, now: DateTime<Utc>) -> State {
    if now > t.waiting_list_closes_at {
        State::Ended
    } else if t.approved_at.is_some() {
        State::Final
    } else if t.published_at.is_some() {
        State::Provisional
    } else if now > t.window_closes_at {
        State::Closed
    } else if now >= t.window_opens_at {
        State::Open
    } else {
        State::Draft
    }
}

/// The minimum of pupils for a time model by order (R-TM-2, RT preamble).
pub fn default_min_pupils(order: &str) -> u32 {
    match order {
        "primaria" => 15,
        _ => 18,
    }
}

/// Age (R-APP-1): None when eligible, with whether the pupil is early
/// (anticipatario); Err when born after the early cut-off.
pub fn age_check(birth: NaiveDate, mandatory_born_by: NaiveDate, early_born_by: NaiveDate) -> Result<bool, String> {
    if birth > early_born_by {
        return Err(format!("born on {birth}, after {early_born_by}: not of age for this round"));
    }
    Ok(birth > mandatory_born_by)
}

/// Public codes (§3.2): 8 characters of Crockford's base32 from 40 random
/// bits, derived from nothing about the pupil.
pub fn public_code(random: [u8; 5]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut n = random.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut out = [0u8; 8];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n & 31) as usize];
        n >>= 5;
    }
    String::from_utf8(out.to_vec()).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_round_moves_through_its_states_by_date_and_act() {
        let day = |d: u32, m: u32| Utc.with_ymd_and_hms(2021, m, d, 12, 0, 0).unwrap();
        let mut t = Timeline {
            window_opens_at: day(4, 1),
            window_closes_at: day(25, 1),
            waiting_list_closes_at: day(31, 8),
            published_at: None,
            approved_at: None,
        };
        assert_eq!(state(&t, day(1, 1)), State::Draft);
        assert_eq!(state(&t, day(4, 1)), State::Open);
        assert_eq!(state(&t, day(26, 1)), State::Closed);
        t.published_at = Some(day(20, 2));
        assert_eq!(state(&t, day(21, 2)), State::Provisional);
        t.approved_at = Some(day(15, 3));
        assert_eq!(state(&t, day(16, 3)), State::Final);
        assert_eq!(state(&t, Utc.with_ymd_and_hms(2021, 9, 1, 0, 0, 0).unwrap()), State::Ended);
    }

    #[test]
    fn age_and_public_codes() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(age_check(d(2015, 5, 1), d(2015, 12, 31), d(2016, 4, 30)), Ok(false));
        assert_eq!(age_check(d(2016, 4, 30), d(2015, 12, 31), d(2016, 4, 30)), Ok(true));
        assert!(age_check(d(2016, 5, 1), d(2015, 12, 31), d(2016, 4, 30)).is_err());
        assert_eq!(public_code([0; 5]), "00000000");
        assert_eq!(public_code([255; 5]), "ZZZZZZZZ");
        assert_eq!(public_code([1, 2, 3, 4, 5]).len(), 8);
    }
}
