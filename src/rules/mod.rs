//! Pure domain rules: no I/O, no database, tested by plain unit tests.

pub mod codes;
pub mod order;
pub mod throttle;
