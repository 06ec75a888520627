//! The Ministry's pupils-per-site file: `CODICESCUOLA,NUMEROSTUDENTI,STUDENTIIRC`.

use std::collections::HashMap;

use diesel::sql_types::{Array, BigInt, Int4, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::text;
use super::{ImportOptions, ImportReport, Parsed, RowError, repeated};
use crate::rules::codes::SchoolCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PupilCount {
    pub code: String,
    /// The exact count, when published.
    pub pupils: Option<i32>,
    /// The bound of a suppressed small count (`<=3`).
    pub at_most: Option<i32>,
}

/// `"42"` → exact; `"<=3"` → at most 3.
fn count(raw: &str) -> Option<(Option<i32>, Option<i32>)> {
    let n = |s: &str| s.trim().parse::<i32>().ok().filter(|n| *n >= 0);
    match raw.strip_prefix("<=") {
        Some(bound) => Some((None, Some(n(bound)?))),
        None => Some((Some(n(raw)?), None)),
    }
}

const LAYOUT: &str =
    "unknown column layout: expected the Ministry's pupils-per-site file (CODICESCUOLA,NUMEROSTUDENTI,…)";

fn has_layout(headers: &[String]) -> bool {
    headers.iter().any(|h| h == "CODICESCUOLA") && headers.iter().any(|h| h == "NUMEROSTUDENTI")
}

/// Parses and validates the whole file; no I/O. `Err` when the file cannot
/// be read at all; otherwise the good rows and the bad ones.
pub fn parse(bytes: &[u8]) -> Result<Parsed<Vec<PupilCount>>, RowError> {
    let text = text::utf8(bytes)
        .map_err(|e| if has_layout(&text::lossy_headers(bytes, b',')) { e } else { RowError::new(1, None, LAYOUT) })?;
    let mut rdr = text::reader(text, b',');
    let headers = text::normalized_headers(&mut rdr)?;
    let (Some(c_code), Some(c_pupils)) =
        (headers.iter().position(|h| h == "CODICESCUOLA"), headers.iter().position(|h| h == "NUMEROSTUDENTI"))
    else {
        return Err(RowError::new(1, None, LAYOUT));
    };
    let mut errors = Vec::new();
    let rows = text::records(&mut rdr, &text::Lines::new(text), headers.len(), &mut errors);
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (line, r) in rows {
        let code = match SchoolCode::parse(r.get(c_code).unwrap_or("")) {
            Ok(c) => c,
            Err(e) => {
                errors.push(RowError::new(line, Some("CODICESCUOLA".into()), e.to_string()));
                continue;
            }
        };
        let raw = r.get(c_pupils).unwrap_or("").trim();
        let Some((pupils, at_most)) = count(raw) else {
            errors.push(RowError::new(
                line,
                Some("NUMEROSTUDENTI".into()),
                format!("{raw:?} is not a number of pupils"),
            ));
            continue;
        };
        if let Some(e) = repeated(&mut seen, code.as_str(), line) {
            errors.push(e);
            continue;
        }
        out.push(PupilCount { code: code.into_string(), pupils, at_most });
    }
    if out.is_empty() && errors.is_empty() {
        return Err(RowError::new(1, None, "the file has no data rows"));
    }
    Ok(Parsed { data: out, errors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exact_and_suppressed_counts() {
        let parsed = parse(b"CODICESCUOLA,NUMEROSTUDENTI,STUDENTIIRC\nBGEE82101X,160,118\nBGAA82102Q,<=3,<=3\n")
            .unwrap()
            .strict()
            .unwrap();
        assert_eq!(parsed[0], PupilCount { code: "BGEE82101X".into(), pupils: Some(160), at_most: None });
        assert_eq!(parsed[1], PupilCount { code: "BGAA82102Q".into(), pupils: None, at_most: Some(3) });
    }

    #[test]
    fn reports_bad_rows_by_line() {
        let errors =
            parse(b"CODICESCUOLA,NUMEROSTUDENTI,STUDENTIIRC\nBGEE82101X,160,118\nBGEE8210,1,1\nBGEE82101Y,-4,1\n")
                .unwrap()
                .errors;
        let lines: Vec<(u64, Option<&str>)> = errors.iter().map(|e| (e.line, e.field.as_deref())).collect();
        assert_eq!(lines, [(3, Some("CODICESCUOLA")), (4, Some("NUMEROSTUDENTI"))]);
    }
}

#[derive(diesel::QueryableByName)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    known: i64,
    #[diesel(sql_type = BigInt)]
    changed: i64,
}

/// Sets the pupil count of every listed site that is in the registry; sites
/// not in it are counted as skipped (the national file lists every site in Italy).
pub async fn write(
    conn: &mut AsyncPgConnection,
    counts: &[PupilCount],
    report: &mut ImportReport,
) -> diesel::QueryResult<()> {
    let codes: Vec<String> = counts.iter().map(|c| c.code.clone()).collect();
    let pupils: Vec<Option<i32>> = counts.iter().map(|c| c.pupils).collect();
    let at_most: Vec<Option<i32>> = counts.iter().map(|c| c.at_most).collect();
    let result: Counts = diesel::sql_query(
        "WITH input AS (SELECT * FROM unnest($1::text[], $2::int4[], $3::int4[]) AS u(code, pupils, at_most)),
              changed AS (UPDATE sites SET pupils = input.pupils, pupils_at_most = input.at_most FROM input
                          WHERE sites.code = input.code
                            AND (sites.pupils, sites.pupils_at_most) IS DISTINCT FROM (input.pupils, input.at_most)
                          RETURNING 1)
         SELECT (SELECT count(*) FROM input JOIN sites USING (code)) AS known,
                (SELECT count(*) FROM changed) AS changed",
    )
    .bind::<Array<Text>, _>(codes)
    .bind::<Array<Nullable<Int4>>, _>(pupils)
    .bind::<Array<Nullable<Int4>>, _>(at_most)
    .get_result(conn)
    .await?;
    report.rows = counts.len();
    report.updated = result.changed as u64;
    report.unchanged = (result.known - result.changed) as u64;
    report.skipped = counts.len() as u64 - result.known as u64;
    Ok(())
}

pub async fn import(
    conn: &mut AsyncPgConnection,
    file: &str,
    bytes: &[u8],
    options: ImportOptions,
) -> anyhow::Result<ImportReport> {
    super::run(conn, file, "pupil counts", parse(bytes), options, |c, d, r| Box::pin(write(c, d, r))).await
}
