//! Bearer tokens (sessions, trust, sign-in handles): 256 bits from the OS random source,
//! handed to the browser once and stored only as their SHA-256 (DESIGN.md §3, S26, S32).
//! A 256-bit random value cannot be guessed, so a fast unsalted hash is enough at rest.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

/// A freshly generated or presented token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// What the database keeps of a token.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TokenHash(pub [u8; 32]);

impl Token {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts what a cookie carried; anything that is not 43 base64url characters cannot be
    /// one of ours and is dropped here, before any lookup.
    pub fn parse(presented: &str) -> Option<Self> {
        let ok = presented.len() == 43
            && presented
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(presented.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_round_trip_through_parse() {
        let a = Token::generate();
        let b = Token::generate();
        assert_ne!(a, b);
        let again = Token::parse(a.as_str()).map(|t| t.hash());
        assert_eq!(again, Some(a.hash()));
    }

    #[test]
    fn malformed_tokens_are_rejected_before_lookup() {
        assert!(Token::parse("").is_none());
        assert!(Token::parse("short").is_none());
        assert!(Token::parse(&"a".repeat(42)).is_none());
        assert!(Token::parse(&format!("{}=", "a".repeat(42))).is_none());
    }

    #[test]
    fn debug_hides_the_token() {
        assert_eq!(format!("{:?}", Token::generate()), "Token([redacted])");
    }
}
