//! Login throttling, as a pure rule: failures slow the next attempt down,
//! then lock the key (an account or a client address) for a while. Failures
//! are forgotten after a quiet period. Storage lives elsewhere.

use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures before an account is locked.
    pub account_lock_after: u32,
    /// Failures before a client address is locked (many accounts share an office's address).
    pub address_lock_after: u32,
    /// How long a lock lasts.
    pub lock_for: Duration,
    /// Failures older than this are forgotten.
    pub forget_after: Duration,
    /// Failures that cost nothing; each further one adds `step` of delay, up to `max_delay`.
    pub free_failures: u32,
    pub step: Duration,
    pub max_delay: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            account_lock_after: 10,
            address_lock_after: 100,
            lock_for: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(15 * 60),
            free_failures: 3,
            step: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
        }
    }
}

/// What is stored per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub failures: u32,
    pub last_failure: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try, after waiting this long.
    Allow(Duration),
    Locked(DateTime<Utc>),
}

/// Whether an attempt may go ahead now.
pub fn decide(policy: &ThrottlePolicy, record: Option<&Record>, now: DateTime<Utc>) -> Decision {
    let Some(r) = record else { return Decision::Allow(Duration::ZERO) };
    if let Some(until) = r.locked_until.filter(|u| *u > now) {
        return Decision::Locked(until);
    }
    let failures = live_failures(policy, r, now);
    let extra = failures.saturating_sub(policy.free_failures);
    Decision::Allow((policy.step * extra).min(policy.max_delay))
}

fn live_failures(policy: &ThrottlePolicy, r: &Record, now: DateTime<Utc>) -> u32 {
    let quiet = (now - r.last_failure).to_std().unwrap_or_default();
    let lock_over = r.locked_until.is_some_and(|u| u <= now);
    if quiet > policy.forget_after || lock_over { 0 } else { r.failures }
}

/// One attempt, counted before it is tried: the decision on the record as
/// it stood, and the record that counts this attempt as a failure (left as
/// it was when the key is locked). Counting first means that attempts made
/// in parallel each see the ones before them, so N attempts count N and no
/// more than `lock_after` of them are ever tried; a success is uncounted
/// afterwards ([`after_success`]).
pub fn attempt(policy: &ThrottlePolicy, record: Option<&Record>, lock_after: u32, now: DateTime<Utc>) -> Attempt {
    match decide(policy, record, now) {
        Decision::Locked(until) => Attempt { decision: Decision::Locked(until), record: record.copied() },
        allow => Attempt { decision: allow, record: Some(after_failure(policy, record, lock_after, now)) },
    }
}

/// What [`attempt`] decided, and the record to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub decision: Decision,
    pub record: Option<Record>,
}

/// The record once an attempt counted by [`attempt`] turned out right: that
/// attempt no longer counts, and a lock it set is lifted.
pub fn after_success(record: Option<&Record>) -> Option<Record> {
    let r = record?;
    let failures = r.failures.saturating_sub(1);
    (failures > 0).then_some(Record { failures, last_failure: r.last_failure, locked_until: None })
}

/// The record after one more failure, locked when it reaches `lock_after`.
pub fn after_failure(policy: &ThrottlePolicy, record: Option<&Record>, lock_after: u32, now: DateTime<Utc>) -> Record {
    let failures = record.map_or(0, |r| live_failures(policy, r, now)) + 1;
    let locked_until = (failures >= lock_after).then(|| now + policy.lock_for);
    Record { failures, last_failure: now, locked_until }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn failures_slow_down_then_lock_then_are_forgotten() {
        let p = ThrottlePolicy::default();
        let mut r: Option<Record> = None;
        let mut delays = Vec::new();
        for i in 0..10 {
            match decide(&p, r.as_ref(), at(i)) {
                Decision::Allow(d) => delays.push(d.as_millis()),
                Decision::Locked(_) => panic!("locked too early at {i}"),
            }
            r = Some(after_failure(&p, r.as_ref(), p.account_lock_after, at(i)));
        }
        assert_eq!(delays, [0, 0, 0, 0, 250, 500, 750, 1000, 1250, 1500]);
        assert_eq!(decide(&p, r.as_ref(), at(10)), Decision::Locked(at(9) + p.lock_for));
        // Once the lock is over the slate is clean.
        let later = at(9) + p.lock_for + chrono::Duration::seconds(1);
        assert_eq!(decide(&p, r.as_ref(), later), Decision::Allow(Duration::ZERO));
        assert_eq!(after_failure(&p, r.as_ref(), p.account_lock_after, later).failures, 1);
    }

    #[test]
    fn attempts_counted_first_never_try_more_than_the_limit() {
        // Every attempt counted before it is tried, none of them succeeding:
        // exactly `lock_after` are tried, whatever their number.
        let p = ThrottlePolicy::default();
        let mut r: Option<Record> = None;
        let mut tried = 0;
        for i in 0..40 {
            let a = attempt(&p, r.as_ref(), p.account_lock_after, at(i % 3));
            if matches!(a.decision, Decision::Allow(_)) {
                tried += 1;
            }
            r = a.record;
        }
        assert_eq!(tried, p.account_lock_after);
        assert_eq!(r.unwrap().failures, p.account_lock_after);
        // A locked key is left as it is.
        let locked = attempt(&p, r.as_ref(), p.account_lock_after, at(5));
        assert_eq!(locked.record, r);
    }

    #[test]
    fn a_success_uncounts_its_attempt_and_lifts_the_lock_it_set() {
        let p = ThrottlePolicy::default();
        let mut r: Option<Record> = None;
        for i in 0..p.account_lock_after {
            r = attempt(&p, r.as_ref(), p.account_lock_after, at(i.into())).record;
        }
        assert!(r.unwrap().locked_until.is_some());
        let after = after_success(r.as_ref()).unwrap();
        assert_eq!((after.failures, after.locked_until), (p.account_lock_after - 1, None));
        let one = attempt(&p, None, 3, at(0)).record;
        assert_eq!(after_success(one.as_ref()), None);
    }

    #[test]
    fn a_quiet_period_forgets_failures() {
        let p = ThrottlePolicy::default();
        let r = Record { failures: 8, last_failure: at(0), locked_until: None };
        assert_eq!(decide(&p, Some(&r), at(60)), Decision::Allow(Duration::from_millis(1250)));
        assert_eq!(decide(&p, Some(&r), at(16 * 60)), Decision::Allow(Duration::ZERO));
    }

    #[test]
    fn delays_are_capped() {
        let p = ThrottlePolicy { account_lock_after: 1000, ..Default::default() };
        let r = Record { failures: 500, last_failure: at(0), locked_until: None };
        assert_eq!(decide(&p, Some(&r), at(1)), Decision::Allow(p.max_delay));
    }
}
