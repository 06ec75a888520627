//! Importers for the official open-data files, read exactly as published.
//!
//! Each importer first parses and validates the whole file without touching
//! the database, reporting every bad row with its line number; only a clean
//! file is written, in one transaction. Writes are upserts that leave equal
//! rows alone, so a second run of the same file changes nothing.

pub mod admissions;
pub mod istat;
pub mod mobility;
pub mod pupils;
pub mod schools;
mod text;

use std::collections::HashMap;
use std::fmt;

use diesel::sql_types::Bool;
use diesel::{QueryResult, QueryableByName};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::future::BoxFuture;

/// A bad row: where it is and why. Never carries more of the row than the field's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub field: Option<String>,
    pub reason: String,
}

impl RowError {
    /// `file:line: field: reason`, as compilers print errors, so editors can jump to it.
    pub fn located(&self, file: &str) -> String {
        match &self.field {
            Some(field) => format!("{file}:{}: {field}: {}", self.line, self.reason),
            None => format!("{file}:{}: {}", self.line, self.reason),
        }
    }

    pub fn new(line: u64, field: impl Into<Option<String>>, reason: impl Into<String>) -> RowError {
        RowError { line, field: field.into(), reason: reason.into() }
    }
}

/// A file that cannot be imported, with every bad row found.
#[derive(Debug)]
pub struct ImportError {
    pub file: String,
    pub errors: Vec<RowError>,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 50;
        writeln!(f, "{}: {} bad row(s); nothing was imported", self.file, self.errors.len())?;
        for e in self.errors.iter().take(SHOWN) {
            writeln!(f, "{}", e.located(&self.file))?;
        }
        if self.errors.len() > SHOWN {
            writeln!(f, "… and {} more", self.errors.len() - SHOWN)?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportError {}

/// A parsed file: the valid rows, and the bad ones with their reasons.
#[derive(Debug)]
pub struct Parsed<T> {
    pub data: T,
    pub errors: Vec<RowError>,
}

impl<T> Parsed<T> {
    /// The data only if every row was good.
    pub fn strict(self) -> Result<T, Vec<RowError>> {
        if self.errors.is_empty() { Ok(self.data) } else { Err(self.errors) }
    }
}

/// How to treat bad rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Import the good rows and report the bad ones, instead of refusing the file.
    pub skip_bad_rows: bool,
}

/// Applies the all-or-nothing rule (or its explicit exception) to a parse.
/// A file that cannot be read at all (`Err`) is refused either way.
pub fn accept<T>(
    file: &str,
    parsed: Result<Parsed<T>, RowError>,
    options: ImportOptions,
) -> Result<(T, Vec<RowError>), ImportError> {
    match parsed {
        Err(fatal) => Err(ImportError { file: file.to_owned(), errors: vec![fatal] }),
        Ok(p) if !p.errors.is_empty() && !options.skip_bad_rows => {
            Err(ImportError { file: file.to_owned(), errors: p.errors })
        }
        Ok(p) => Ok((p.data, p.errors)),
    }
}

/// Writes a parsed file's rows: one shape for every importer, so that
/// [`run`] can hold the transaction.
pub(crate) type Writer<T> =
    for<'a> fn(&'a mut AsyncPgConnection, &'a T, &'a mut ImportReport) -> BoxFuture<'a, QueryResult<()>>;

/// Applies the all-or-nothing rule to a parse, then writes the file in one transaction.
pub(crate) async fn run<T: Sync>(
    conn: &mut AsyncPgConnection,
    file: &str,
    kind: &str,
    parsed: Result<Parsed<T>, RowError>,
    options: ImportOptions,
    write: Writer<T>,
) -> anyhow::Result<ImportReport> {
    let (data, rejected) = accept(file, parsed, options)?;
    let mut report = ImportReport { file: file.to_owned(), kind: kind.to_owned(), rejected, ..Default::default() };
    conn.transaction::<_, diesel::result::Error, _>(async |conn| write(conn, &data, &mut report).await).await?;
    Ok(report)
}

/// A second row with the same code: the first one wins.
pub(crate) fn repeated(seen: &mut HashMap<String, u64>, code: &str, line: u64) -> Option<RowError> {
    let first = seen.insert(code.to_owned(), line)?;
    seen.insert(code.to_owned(), first);
    Some(RowError::new(line, Some("CODICESCUOLA".into()), format!("{code} already appears on line {first}")))
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    pub file: String,
    pub kind: String,
    /// Data rows read from the file.
    pub rows: usize,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Rows that were valid but had nothing to apply to (e.g. a site not in the registry).
    pub skipped: u64,
    /// Institutions inserted or updated along with the sites.
    pub institutions_changed: u64,
    /// Bad rows left out under `--skip-bad-rows`.
    #[serde(skip)]
    pub rejected: Vec<RowError>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} rows of {}: {} inserted, {} updated, {} unchanged",
            self.file, self.rows, self.kind, self.inserted, self.updated, self.unchanged
        )?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        if self.institutions_changed > 0 {
            write!(f, " ({} institutions inserted or updated)", self.institutions_changed)?;
        }
        if !self.rejected.is_empty() {
            write!(f, "; {} bad rows skipped:", self.rejected.len())?;
            for e in &self.rejected {
                write!(f, "\n  {}", e.located(&self.file))?;
            }
        }
        Ok(())
    }
}

/// One row returned by an upsert's `RETURNING (xmax = 0) AS inserted`:
/// PostgreSQL marks a freshly inserted tuple with `xmax = 0`.
#[derive(QueryableByName)]
pub(crate) struct Upserted {
    #[diesel(sql_type = Bool)]
    pub inserted: bool,
}

/// Adds the outcome of one upsert statement to the report.
pub(crate) fn tally(report: &mut ImportReport, upserted: &[Upserted], offered: usize) {
    let inserted = upserted.iter().filter(|u| u.inserted).count() as u64;
    let updated = upserted.len() as u64 - inserted;
    report.inserted += inserted;
    report.updated += updated;
    report.unchanged += offered as u64 - inserted - updated;
}

/// The file name shown in messages: as the user typed it.
pub fn display_name(path: &std::path::Path) -> String {
    path.display().to_string()
}
