//! Opaque bearer secrets (API keys, refresh tokens, invitations, MFA challenges): 256 random
//! bits, stored only as a SHA-256. A fast hash is the right one for them: a secret that
//! cannot be guessed gains nothing from a slow hash, and a slow one would make every request
//! pay for it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of an encoded secret (32 bytes, base64url without padding).
pub const SECRET_LEN: usize = 43;

/// A freshly made secret. Never printed by `Debug`.
pub struct OpaqueSecret(String);

impl std::fmt::Debug for OpaqueSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueSecret(..)")
    }
}

impl OpaqueSecret {
    pub fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored in its place.
    pub fn sha256_hex(&self) -> String {
        sha256_hex(&self.0)
    }
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Whether a presented secret hashes to the stored digest; the digests are compared in
/// constant time (both are 64 hex characters, so no length leaks either).
pub fn matches_digest(presented: &str, stored_sha256_hex: &str) -> bool {
    sha256_hex(presented)
        .as_bytes()
        .ct_eq(stored_sha256_hex.as_bytes())
        .into()
}

/// Whether `s` has the shape of one of our secrets (checked before any lookup, so junk costs
/// nothing).
pub fn is_well_formed(s: &str) -> bool {
    s.len() == SECRET_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_well_formed_and_match_only_their_digest() {
        let a = OpaqueSecret::generate();
        let b = OpaqueSecret::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(is_well_formed(a.expose()));
        assert!(matches_digest(a.expose(), &a.sha256_hex()));
        assert!(!matches_digest(b.expose(), &a.sha256_hex()));
        assert!(!matches_digest(a.expose(), ""));
        assert!(!format!("{a:?}").contains(a.expose()));
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&"+".repeat(SECRET_LEN)));
    }
}
