//! Limited mode as seed 004 describes it, as pure rules: which account
//! functions a period stops, which period is in force at an instant, which
//! flows in progress each function ends at the start, and what the users
//! concerned are told. Storage and the clock live elsewhere.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Timelike, Utc};

/// Account functions a period can stop (the menu items of seed 004's
/// "Gestione Utenza", plus registration and recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountFunction {
    /// Self-registration of new accounts.
    Registration,
    /// Password recovery for addresses outside the institutional domains.
    ExternalPasswordRecovery,
    /// Changing an account's e-mail address.
    EmailChange,
    /// Revoking one's own account.
    Revocation,
    /// Asking for a new personal code.
    PersonalCodeRegeneration,
    /// Confirming an address by its e-mailed link (of a registration or an
    /// address change).
    EmailValidation,
}

impl AccountFunction {
    pub const ALL: [AccountFunction; 6] = [
        AccountFunction::Registration,
        AccountFunction::ExternalPasswordRecovery,
        AccountFunction::EmailChange,
        AccountFunction::Revocation,
        AccountFunction::PersonalCodeRegeneration,
        AccountFunction::EmailValidation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountFunction::Registration => "registration",
            AccountFunction::ExternalPasswordRecovery => "external-password-recovery",
            AccountFunction::EmailChange => "email-change",
            AccountFunction::Revocation => "revocation",
            AccountFunction::PersonalCodeRegeneration => "personal-code-regeneration",
            AccountFunction::EmailValidation => "email-validation",
        }
    }

    /// What the function is, for people.
    pub fn describe(self) -> &'static str {
        match self {
            AccountFunction::Registration => "registration",
            AccountFunction::ExternalPasswordRecovery => "password recovery for non-institutional addresses",
            AccountFunction::EmailChange => "e-mail change",
            AccountFunction::Revocation => "account revocation",
            AccountFunction::PersonalCodeRegeneration => "personal code regeneration",
            AccountFunction::EmailValidation => "e-mail address validation",
        }
    }

    /// Parses a comma-separated list, refusing unknown names and an empty list.
    pub fn parse_list(s: &str) -> Result<Vec<AccountFunction>, String> {
        let mut out: Vec<AccountFunction> =
            s.split(',').filter(|p| !p.trim().is_empty()).map(str::parse).collect::<Result<_, _>>()?;
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err("name at least one account function".into());
        }
        Ok(out)
    }
}

impl fmt::Display for AccountFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccountFunction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AccountFunction::ALL.into_iter().find(|f| f.as_str() == s.trim()).ok_or_else(|| {
            let all: Vec<&str> = AccountFunction::ALL.iter().map(|f| f.as_str()).collect();
            format!("unknown account function {s:?}: one of {}", all.join(", "))
        })
    }
}

/// A period of limited mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub id: i64,
    pub functions: Vec<AccountFunction>,
    pub from: DateTime<Utc>,
    /// None: until the operator ends it.
    pub until: Option<DateTime<Utc>>,
    pub message: String,
}

impl Period {
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.from <= now && self.until.is_none_or(|u| now < u)
    }

    pub fn stops(&self, f: AccountFunction) -> bool {
        self.functions.contains(&f)
    }
}

/// The period in force at `now`, if any (periods never overlap).
pub fn in_force(periods: &[Period], now: DateTime<Utc>) -> Option<&Period> {
    periods.iter().find(|p| p.in_force(now))
}

/// The periods still to come, soonest first.
pub fn planned(periods: &[Period], now: DateTime<Utc>) -> Vec<&Period> {
    let mut out: Vec<&Period> = periods.iter().filter(|p| p.from > now).collect();
    out.sort_by_key(|p| p.from);
    out
}

/// A flow in progress that a period can end: one started by a link that has
/// not been used yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flow {
    /// A registration whose address is not confirmed yet.
    Registration,
    /// A change of private address not validated yet.
    AddressChange,
    /// A personal code regeneration not confirmed yet.
    CodeRegeneration,
    /// A password recovery by a non-institutional address.
    ExternalRecovery,
}

impl Flow {
    pub const ALL: [Flow; 4] =
        [Flow::Registration, Flow::AddressChange, Flow::CodeRegeneration, Flow::ExternalRecovery];

    /// The functions whose stop ends this flow. An address change waits on
    /// two: the change itself and the validation of the new address (seed
    /// 004 lists "validazione dell'indirizzo email privato modificato").
    pub fn ended_by(self) -> &'static [AccountFunction] {
        match self {
            Flow::Registration => &[AccountFunction::Registration],
            Flow::AddressChange => &[AccountFunction::EmailChange, AccountFunction::EmailValidation],
            Flow::CodeRegeneration => &[AccountFunction::PersonalCodeRegeneration],
            Flow::ExternalRecovery => &[AccountFunction::ExternalPasswordRecovery],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Registration => "registration",
            Flow::AddressChange => "address-change",
            Flow::CodeRegeneration => "code-regeneration",
            Flow::ExternalRecovery => "external-recovery",
        }
    }

    /// The flow, in the warning: what to finish.
    fn to_finish(self) -> (&'static str, &'static str) {
        match self {
            Flow::Registration => ("la registrazione al servizio", "your registration"),
            Flow::AddressChange => ("la validazione del nuovo indirizzo e-mail", "the validation of your new address"),
            Flow::CodeRegeneration => {
                ("la rigenerazione del codice personale", "the regeneration of your personal code")
            }
            Flow::ExternalRecovery => ("il recupero della password", "the recovery of your password"),
        }
    }

    /// What happens to the flow at the start (seed 004, points 4 and 5 and
    /// the registration paragraph): announced, or done.
    fn consequence(self, institutional: bool, done: bool) -> (&'static str, &'static str) {
        match (self, institutional, done) {
            (Flow::Registration, _, false) => (
                "la registrazione in corso sarà annullata: alla riapertura ne avvii una nuova",
                "the registration will be cancelled: start a new one when the service reopens",
            ),
            (Flow::Registration, _, true) => (
                "è stata annullata: alla riapertura ne avvii una nuova",
                "it was cancelled: start a new one when the service reopens",
            ),
            (Flow::AddressChange, false, false) => (
                "il cambio di indirizzo decadrà e, alla riapertura, l'account dovrà essere abilitato di nuovo di \
                 persona presso una segreteria scolastica o l'ufficio",
                "the address change will lapse and the account will have to be enabled again in person",
            ),
            (Flow::AddressChange, false, true) => (
                "è decaduta: alla riapertura l'account dovrà essere abilitato di nuovo di persona presso una \
                 segreteria scolastica o l'ufficio",
                "it lapsed: the account must be enabled again in person when the service reopens",
            ),
            (Flow::AddressChange, true, false) => (
                "il cambio di indirizzo decadrà: alla riapertura lo richieda di nuovo",
                "the address change will lapse: ask again when the service reopens",
            ),
            (Flow::AddressChange, true, true) => (
                "è decaduta: alla riapertura richieda di nuovo il cambio di indirizzo",
                "it lapsed: ask for the address change again when the service reopens",
            ),
            (Flow::CodeRegeneration, _, false) => (
                "la rigenerazione decadrà e occorrerà attendere la riapertura del servizio",
                "the regeneration will lapse until the service reopens",
            ),
            (Flow::CodeRegeneration, _, true) => (
                "è decaduta: occorre attendere la riapertura del servizio",
                "it lapsed: wait for the service to reopen",
            ),
            (Flow::ExternalRecovery, _, false) => (
                "il collegamento per il recupero smetterà di funzionare fino alla riapertura",
                "the recovery link will stop working until the service reopens",
            ),
            (Flow::ExternalRecovery, _, true) => (
                "il collegamento ricevuto non funziona più fino alla riapertura",
                "the link you received no longer works until the service reopens",
            ),
        }
    }
}

/// The flows that stopping `functions` ends.
pub fn flows_ended(functions: &[AccountFunction]) -> Vec<Flow> {
    Flow::ALL.into_iter().filter(|f| f.ended_by().iter().any(|g| functions.contains(g))).collect()
}

/// Whether an account whose address change lapses must be enabled in person
/// again: when it has no institutional address to be reached at (seed 004,
/// point 4).
pub fn lapse_withdraws_enabling(flow: Flow, institutional: bool) -> bool {
    flow == Flow::AddressChange && !institutional
}

/// The Ministry's institutional mail domains: their holders can always
/// recover access (seed 004, point 3).
pub fn is_institutional(email: &str) -> bool {
    email.ends_with("@istruzione.it") || email.ends_with("@pec.istruzione.it")
}

/// Whether a period stopping the flow's functions concerns this holder: a
/// recovery by an institutional address goes on working.
pub fn affects(flow: Flow, institutional: bool) -> bool {
    flow != Flow::ExternalRecovery || !institutional
}

/// The flows in progress, (flow, address) pairs, grouped into one message
/// per address, with whether the address is institutional; the flows that
/// the period does not stop for that holder are left out.
pub fn by_address<'a>(flows: impl IntoIterator<Item = (Flow, &'a str)>) -> BTreeMap<String, BTreeMap<Flow, bool>> {
    let mut out: BTreeMap<String, BTreeMap<Flow, bool>> = BTreeMap::new();
    for (flow, email) in flows {
        let institutional = is_institutional(email);
        if affects(flow, institutional) {
            out.entry(email.to_owned()).or_default().insert(flow, institutional);
        }
    }
    out
}

/// The period that a new one from `from` until `until` would overlap.
pub fn overlapping(periods: &[Period], from: DateTime<Utc>, until: Option<DateTime<Utc>>) -> Option<&Period> {
    periods.iter().find(|p| p.until.is_none_or(|u| from < u) && until.is_none_or(|u| p.from < u))
}

const MONTHS: [&str; 12] = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];

fn italian_date(d: chrono::NaiveDate) -> String {
    format!("{} {} {}", d.day(), MONTHS[d.month0() as usize], d.year())
}

/// The deadline as people say it, from the start in Italian local time: a
/// period starting at midnight on 1 December is finished "entro il 30
/// novembre 2026"; one starting at 14:00 "entro le 14:00 del 1 dicembre 2026".
pub fn deadline(start_local: NaiveDateTime) -> String {
    if start_local.time().num_seconds_from_midnight() == 0 {
        format!("entro il {}", italian_date(start_local.date() - Duration::days(1)))
    } else {
        format!("entro le {} del {}", start_local.format("%H:%M"), italian_date(start_local.date()))
    }
}

/// One warning e-mail to one address: each of its flows, by when to finish
/// it, and what happens if it is not finished.
pub fn warning(flows: &BTreeMap<Flow, bool>, start_local: NaiveDateTime, message: &str) -> (String, String) {
    let by = deadline(start_local);
    let mut it = String::new();
    let mut en = String::new();
    for (flow, institutional) in flows {
        let (finish_it, finish_en) = flow.to_finish();
        let (then_it, then_en) = flow.consequence(*institutional, false);
        it.push_str(&format!("- completi {finish_it} {by}; altrimenti {then_it}.\n"));
        en.push_str(&format!("- finish {finish_en} before the start; otherwise {then_en}.\n"));
    }
    let body = format!(
        "Gentile utente,\n\n\
         dal {} il servizio funzionerà in modalità limitata.{}\n\n{it}\n\
         L'accesso, l'archivio dei documenti e le istanze aperte restano disponibili.\n\n\
         From {} (Italian time) Ambito runs in limited mode:\n{en}\
         Sign-in, your documents and open applications keep working.\n",
        start_words(start_local),
        message_line(message),
        start_local.format("%Y-%m-%d %H:%M"),
    );
    (format!("Ambito: da completare {by}"), body)
}

/// One e-mail to one address at the start: what ended, and what to do.
pub fn ended(flows: &BTreeMap<Flow, bool>, message: &str) -> (String, String) {
    let mut it = String::new();
    let mut en = String::new();
    for (flow, institutional) in flows {
        let (what_it, what_en) = flow.to_finish();
        let (then_it, then_en) = flow.consequence(*institutional, true);
        it.push_str(&format!("- {what_it}: {then_it}.\n"));
        en.push_str(&format!("- {what_en}: {then_en}.\n"));
    }
    let body = format!(
        "Gentile utente,\n\n\
         il servizio è ora in modalità limitata e le operazioni seguenti, non completate, sono terminate:{}\n\n{it}\n\
         L'accesso, l'archivio dei documenti e le istanze aperte restano disponibili.\n\n\
         Ambito now runs in limited mode; what you had not finished has ended:\n{en}",
        message_line(message),
    );
    ("Ambito: operazioni in corso terminate".into(), body)
}

fn start_words(start_local: NaiveDateTime) -> String {
    if start_local.time().num_seconds_from_midnight() == 0 {
        italian_date(start_local.date())
    } else {
        format!("{} alle {}", italian_date(start_local.date()), start_local.format("%H:%M"))
    }
}

fn message_line(message: &str) -> String {
    match message.trim() {
        "" => String::new(),
        m => format!("\n\n{m}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()
    }

    fn period(id: i64, from: u32, until: Option<u32>) -> Period {
        Period {
            id,
            functions: vec![AccountFunction::Registration],
            from: at(from),
            until: until.map(at),
            message: String::new(),
        }
    }

    #[test]
    fn names_round_trip_and_lists_parse() {
        for f in AccountFunction::ALL {
            assert_eq!(f.as_str().parse::<AccountFunction>(), Ok(f));
        }
        assert!("everything".parse::<AccountFunction>().is_err());
        assert_eq!(
            AccountFunction::parse_list("revocation, registration,revocation"),
            Ok(vec![AccountFunction::Registration, AccountFunction::Revocation])
        );
        assert!(AccountFunction::parse_list(" , ").is_err());
        assert!(AccountFunction::parse_list("registration,nothing").is_err());
    }

    #[test]
    fn a_period_is_in_force_from_its_start_to_before_its_end() {
        let periods = [period(1, 8, Some(10)), period(2, 12, None)];
        assert_eq!(in_force(&periods, at(7)), None);
        assert_eq!(in_force(&periods, at(8)).map(|p| p.id), Some(1));
        assert_eq!(in_force(&periods, at(10)), None);
        assert_eq!(in_force(&periods, at(23)).map(|p| p.id), Some(2));
        assert_eq!(planned(&periods, at(9)).iter().map(|p| p.id).collect::<Vec<_>>(), vec![2]);
        assert_eq!(planned(&periods, at(0)).iter().map(|p| p.id).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn each_function_ends_its_flows_and_only_those() {
        use AccountFunction as F;
        assert_eq!(flows_ended(&[F::Revocation]), vec![]);
        assert_eq!(flows_ended(&[F::Registration]), vec![Flow::Registration]);
        assert_eq!(flows_ended(&[F::EmailValidation]), vec![Flow::AddressChange]);
        assert_eq!(flows_ended(&AccountFunction::ALL), Flow::ALL.to_vec());
        for flow in Flow::ALL {
            assert_eq!(lapse_withdraws_enabling(flow, false), flow == Flow::AddressChange);
            assert!(!lapse_withdraws_enabling(flow, true));
        }
    }

    #[test]
    fn institutional_recoveries_are_never_stopped_and_each_address_gets_one_message() {
        assert!(is_institutional("bgic82100t@istruzione.it"));
        assert!(is_institutional("bgic82100t@pec.istruzione.it"));
        assert!(!is_institutional("famiglia.rossi@gmail.com"));
        assert!(!is_institutional("x@istruzione.it.example.com"));
        let grouped = by_address([
            (Flow::ExternalRecovery, "mario.rossi@istruzione.it"),
            (Flow::AddressChange, "mario.rossi@istruzione.it"),
            (Flow::ExternalRecovery, "anna@example.org"),
            (Flow::CodeRegeneration, "anna@example.org"),
        ]);
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped["mario.rossi@istruzione.it"], BTreeMap::from([(Flow::AddressChange, true)]));
        assert_eq!(
            grouped["anna@example.org"],
            BTreeMap::from([(Flow::CodeRegeneration, false), (Flow::ExternalRecovery, false)])
        );
    }

    #[test]
    fn periods_overlap_unless_one_ends_before_the_other_starts() {
        let periods = [period(1, 8, Some(10))];
        assert_eq!(overlapping(&periods, at(10), None), None);
        assert_eq!(overlapping(&periods, at(6), Some(at(8))), None);
        assert_eq!(overlapping(&periods, at(9), Some(at(11))).map(|p| p.id), Some(1));
        assert_eq!(overlapping(&periods, at(6), None).map(|p| p.id), Some(1));
        let open = [period(2, 8, None)];
        assert_eq!(overlapping(&open, at(20), Some(at(21))).map(|p| p.id), Some(2));
    }

    #[test]
    fn the_deadline_reads_as_the_seed_writes_it() {
        let midnight = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        assert_eq!(deadline(midnight), "entro il 30 novembre 2026");
        let afternoon = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap().and_hms_opt(14, 30, 0).unwrap();
        assert_eq!(deadline(afternoon), "entro le 14:30 del 1 gennaio 2027");
        let new_year = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        assert_eq!(deadline(new_year), "entro il 31 dicembre 2026");
    }

    #[test]
    fn a_warning_names_each_flow_its_deadline_and_consequence() {
        let start = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        let flows = BTreeMap::from([(Flow::AddressChange, false), (Flow::CodeRegeneration, false)]);
        let (subject, body) = warning(&flows, start, "Aggiornamento del servizio");
        assert_eq!(subject, "Ambito: da completare entro il 30 novembre 2026");
        assert!(body.contains("dal 1 dicembre 2026 il servizio funzionerà in modalità limitata"));
        assert!(body.contains("Aggiornamento del servizio"));
        assert!(body.contains("validazione del nuovo indirizzo e-mail entro il 30 novembre 2026"));
        assert!(body.contains("abilitato di nuovo di persona"));
        assert!(body.contains("rigenerazione del codice personale entro il 30 novembre 2026"));
        assert!(!body.contains("registrazione al servizio"));
        let institutional = BTreeMap::from([(Flow::AddressChange, true)]);
        assert!(!warning(&institutional, start, "").1.contains("di persona"));
        let (_, body) = ended(&flows, "");
        assert!(body.contains("la validazione del nuovo indirizzo e-mail: è decaduta"));
    }
}
