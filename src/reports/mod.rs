//! Files for people: spreadsheets and PDF documents built from rows, with no I/O.

pub mod registry;
pub mod summary;
