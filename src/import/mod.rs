//! Importers for the official open-data files, read exactly as published.
//!
//! Each importer first parses and validates the whole file without touching
//! the database, reporting every bad row with its line number; only a clean
//! file is written, in one transaction. Writes are upserts that leave equal
//! rows alone, so a second run of the same file changes nothing.

pub mod istat;
pub mod pupils;
pub mod schools;
mod text;

use std::fmt;

use diesel::QueryableByName;
use diesel::sql_types::Bool;

/// A bad row: where it is and why. Never carries more of the row than the field's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub field: Option<String>,
    pub reason: String,
}

impl RowError {
    pub fn new(line: u64, field: impl Into<Option<String>>, reason: impl Into<String>) -> RowError {
        RowError {
            line,
            field: field.into(),
            reason: reason.into(),
        }
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
        writeln!(
            f,
            "{}: {} bad row(s); nothing was imported",
            self.file,
            self.errors.len()
        )?;
        for e in self.errors.iter().take(SHOWN) {
            match &e.field {
                Some(field) => writeln!(f, "{}:{}: {}: {}", self.file, e.line, field, e.reason)?,
                None => writeln!(f, "{}:{}: {}", self.file, e.line, e.reason)?,
            }
        }
        if self.errors.len() > SHOWN {
            writeln!(f, "… and {} more", self.errors.len() - SHOWN)?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportError {}

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
            write!(
                f,
                " ({} institutions inserted or updated)",
                self.institutions_changed
            )?;
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
