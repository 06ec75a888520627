//! Pure domain rules: no I/O, no database, tested by plain unit tests.

pub mod admissions;
pub mod classes;
pub mod codes;
pub mod dice;
pub mod files;
pub mod limited_mode;
pub mod mobility;
pub mod order;
pub mod personal_code;
pub mod refugees;
pub mod rome;
pub mod school_year;
pub mod support;
pub mod tax_code;
pub mod throttle;
pub mod window;

/// Bytes as lowercase hex: SHA-256 digests, key id suffixes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
