//! The use cases of every process: what a request may do and how, between
//! the GraphQL resolvers above and the queries of `db/` below. Each checks
//! the caller's scope and the rules (`rules/`, pure), runs its queries in the
//! request's transaction, and records the audit trail.

pub mod accounts;
pub mod admissions;
pub mod attachments;
pub mod clock;
pub mod idempotency;
pub mod mobility;
pub mod refugees;
pub mod registry;

use crate::error::AppError;

/// Every bad line of an imported file, as one error on the field `csv`.
pub(crate) fn bad_lines(errors: &[crate::import::RowError]) -> AppError {
    const SHOWN: usize = 20;
    let mut lines: Vec<String> = errors.iter().take(SHOWN).map(|e| e.located("csv")).collect();
    if errors.len() > SHOWN {
        lines.push(format!("… and {} more", errors.len() - SHOWN));
    }
    AppError::bad_input("csv", format!("{} bad line(s), nothing was imported: {}", errors.len(), lines.join("; ")))
}

/// The same error, placed at a line of an imported file: its code (and
/// rule) stay, so a line is refused exactly as the single mutation would be.
pub(crate) fn at_line(e: AppError, line: u64) -> AppError {
    match e {
        AppError::BadInput { field, reason } => {
            // A mutation's `input.taxCode` is the file's column `taxCode`.
            let field = field.as_deref().map_or("line", |f| f.strip_prefix("input.").unwrap_or(f));
            AppError::bad_input("csv", format!("csv:{line}: {field}: {reason}"))
        }
        AppError::Rule { code, message } => AppError::rule(code, format!("csv:{line}: {message}")),
        AppError::Ruled { code, rule, field, message } => {
            AppError::Ruled { code, rule, field, message: format!("csv:{line}: {message}") }
        }
        AppError::Conflict(m) => AppError::Conflict(format!("csv:{line}: {m}")),
        e => e,
    }
}
