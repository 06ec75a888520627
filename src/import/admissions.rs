//! The school's CSV files of process 3: applications exported from the
//! national portal, and the municipal street list (stradario). Parsing is
//! pure and checks the whole file first, naming every bad line; the
//! columns are documented in `docs/admissions.md`. Separator `;` (a `,` is
//! accepted when the header uses it), UTF-8 with or without a byte-order
//! mark. Times without an offset are Italian local time.

use chrono::{DateTime, Utc};

use super::RowError;
use super::text::{date, each, yes_no};
use crate::usecases::admissions::ApplicationForm;

/// The application file's columns, in order.
pub const APPLICATION_COLUMNS: [&str; 15] = [
    "externalRef",
    "submittedAt",
    "firstName",
    "lastName",
    "taxCode",
    "birthDate",
    "sex",
    "municipality",
    "street",
    "houseNumber",
    "sitePreferences",
    "timeModelPreferences",
    "disabilityDeclared",
    "certifiedOn",
    "claims",
];

/// The street list's columns, in order.
pub const STRADARIO_COLUMNS: [&str; 5] = ["street", "from", "to", "parity", "site"];

/// One application line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationLine {
    pub line: u64,
    pub submitted: DateTime<Utc>,
    pub form: ApplicationForm,
}

/// One street-list line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreetLine {
    pub line: u64,
    pub street: String,
    pub from: Option<u32>,
    pub to: Option<u32>,
    pub parity: String,
    pub site: String,
}

fn list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn instant(v: &str) -> Result<DateTime<Utc>, String> {
    crate::rules::rome::parse(v).ok_or_else(|| "a time as 2027-01-10 10:00 (Italian time) or RFC 3339".to_owned())
}

/// `lavoro, fratelli:2`: criteria, with a quantity after a colon.
fn claims(v: &str) -> Result<Vec<(String, u32)>, String> {
    list(v)
        .into_iter()
        .map(|c| match c.split_once(':') {
            None => Ok((c, 1)),
            Some((code, n)) => n
                .trim()
                .parse::<u32>()
                .map(|n| (code.trim().to_owned(), n))
                .map_err(|_| format!("{c}: the quantity after ':' is a whole number")),
        })
        .collect()
}

/// Parses an application file; every bad line is reported.
pub fn applications(text: &str) -> Result<Vec<ApplicationLine>, Vec<RowError>> {
    each(text, &APPLICATION_COLUMNS, |line, f| {
        let bad = |field: &str, reason: String| RowError { line, field: Some(field.into()), reason };
        let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
        Ok(ApplicationLine {
            line,
            submitted: instant(&f[1]).map_err(|r| bad("submittedAt", r))?,
            form: ApplicationForm {
                external_ref: f[0].clone(),
                first_name: f[2].clone(),
                last_name: f[3].clone(),
                tax_code: f[4].clone(),
                birth_date: date(&f[5]).map_err(|r| bad("birthDate", r))?,
                sex: f[6].clone(),
                municipality: f[7].clone(),
                street: opt(&f[8]),
                house_number: opt(&f[9]),
                site_preferences: list(&f[10]).into_iter().map(|s| s.to_ascii_uppercase()).collect(),
                time_model_preferences: list(&f[11]),
                disability_declared: yes_no(&f[12]).map_err(|r| bad("disabilityDeclared", r))?,
                disability_certified_on: opt(&f[13])
                    .map(|d| date(&d))
                    .transpose()
                    .map_err(|r| bad("certifiedOn", r))?,
                claims: claims(&f[14]).map_err(|r| bad("claims", r))?,
            },
        })
    })
}

/// Parses a street list; every bad line is reported.
pub fn stradario(text: &str) -> Result<Vec<StreetLine>, Vec<RowError>> {
    each(text, &STRADARIO_COLUMNS, |line, f| {
        let number = |field: &str, v: &str| -> Result<Option<u32>, RowError> {
            if v.is_empty() {
                return Ok(None);
            }
            v.parse().map(Some).map_err(|_| RowError {
                line,
                field: Some(field.into()),
                reason: "a house number".into(),
            })
        };
        {
            let parity = match f[3].to_lowercase().as_str() {
                "" | "all" | "tutti" => "all",
                "odd" | "dispari" => "odd",
                "even" | "pari" => "even",
                _ => {
                    return Err(RowError {
                        line,
                        field: Some("parity".into()),
                        reason: "all, odd or even (tutti, dispari, pari)".into(),
                    });
                }
            };
            Ok(StreetLine {
                line,
                street: f[0].clone(),
                from: number("from", &f[1])?,
                to: number("to", &f[2])?,
                parity: parity.into(),
                site: f[4].to_ascii_uppercase(),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "externalRef;submittedAt;firstName;lastName;taxCode;birthDate;sex;municipality;street;houseNumber;sitePreferences;timeModelPreferences;disabilityDeclared;certifiedOn;claims";

    #[test]
    fn a_clean_file_parses_with_local_times_lists_and_claims() {
        let text = format!(
            "\u{feff}{HEADER}\nRM1;2027-01-10 10:00;ANNA;ROSSI;RSSNNA21A41A246X;2021-01-01;F;016008;Via Roma;13/A;bgee82101x, BGEE821021;40H,30H;no;;lavoro, fratelli:2\n"
        );
        let lines = applications(&text).unwrap();
        assert_eq!(lines[0].line, 2);
        assert_eq!(lines[0].submitted, crate::rules::rome::parse("2027-01-10 10:00").unwrap());
        assert_eq!(lines[0].form.site_preferences, ["BGEE82101X", "BGEE821021"]);
        assert_eq!(lines[0].form.claims, [("lavoro".to_owned(), 1), ("fratelli".to_owned(), 2)]);
    }

    #[test]
    fn every_bad_line_is_named_with_its_field() {
        let text = format!(
            "{HEADER}\nRM1;ieri;A;B;C;2021-01-01;F;016008;;;X;27H;no;;\nRM2;2027-01-10T10:00:00+01:00;A;B;C;2021-13-01;F;016008;;;X;27H;forse;;\nRM3;short\n"
        );
        let errors = applications(&text).unwrap_err();
        let got: Vec<(u64, Option<&str>)> = errors.iter().map(|e| (e.line, e.field.as_deref())).collect();
        assert_eq!(got, [(2, Some("submittedAt")), (3, Some("birthDate")), (4, None)]);
        assert!(applications("a;b\n").unwrap_err()[0].reason.starts_with("the header must be"));
        let streets = stradario("street;from;to;parity;site\nVia Roma;1;99;dispari;bgee82101x\nVia Po;;;ogni;X\n");
        assert_eq!(streets.unwrap_err()[0].line, 3);
    }
}
