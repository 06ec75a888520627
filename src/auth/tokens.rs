//! Opaque random tokens: 256 bits from the OS, sent base64url-encoded,
//! stored only as their SHA-256.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A new token and the hash to store.
pub fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

/// What is stored for a token, and looked up when one is presented.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A random password for generated accounts (demo data).
pub fn new_password() -> String {
    let mut bytes = [0u8; 15];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_eq!(a.len(), 43, "256 bits in base64url");
        assert_ne!(a, b);
        assert_eq!(ha, hash(&a));
        assert_eq!(ha.len(), 32);
        assert_eq!(new_password().len(), 20);
    }
}
