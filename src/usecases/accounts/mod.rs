//! Process 5's use cases (seed 004 and seed 000's accounts): signing in,
//! provisioning, recovery, registration and address change, enabling in
//! person with the personal code, and limited mode.

pub mod enabling;
pub mod lifecycle;
pub mod limited;
pub mod login;
pub mod provision;
pub mod recovery;
