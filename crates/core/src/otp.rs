//! One-time codes sent by e-mail (S7, S8, S11): six digits from the OS random source,
//! stored only as an HMAC keyed by a server secret and bound to the sign-in that asked for
//! it, so a code from one sign-in is worthless in another and a database dump reveals none.

use crate::secret::Secret;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const CODE_DIGITS: usize = 6;

/// A six-digit code as typed or generated. `Debug` never shows it (S11).
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(Secret<String>);

impl std::fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtpCode([redacted])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Enter the 6-digit code")]
pub struct MalformedCode;

impl OtpCode {
    /// Uniform over 000000..=999999 (`gen_range` rejects biased samples).
    pub fn generate() -> Self {
        let n: u32 = OsRng.gen_range(0..1_000_000);
        Self(Secret::new(format!("{n:06}")))
    }

    /// Accepts what people type: surrounding spaces and a space or dash in the middle
    /// ("123 456") are fine; anything but six digits is refused before any check is counted.
    pub fn parse(input: &str) -> Result<Self, MalformedCode> {
        let digits: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if digits.len() == CODE_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(Secret::new(digits)))
        } else {
            Err(MalformedCode)
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// HMAC-SHA256(key, flow id ‖ code): the only form a code is stored in (S8, S11).
    pub fn keyed_hash(&self, key: &[u8; 32], flow_id: &str) -> [u8; 32] {
        // An HMAC key of any length is accepted; this cannot fail for a 32-byte key.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(flow_id.as_bytes());
        mac.update(b"\0");
        mac.update(self.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Compares in constant time against a stored keyed hash.
    pub fn matches(&self, key: &[u8; 32], flow_id: &str, stored: &[u8]) -> bool {
        let expected = self.keyed_hash(key, flow_id);
        stored.len() == expected.len() && bool::from(expected.as_slice().ct_eq(stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn generated_codes_are_six_digits() {
        for _ in 0..1000 {
            let code = OtpCode::generate();
            assert_eq!(code.expose().len(), 6);
            assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn typed_codes_tolerate_spaces_and_dashes_only() {
        assert_eq!(
            OtpCode::parse(" 123 456 ").map(|c| c.expose().to_string()),
            Ok("123456".into())
        );
        assert_eq!(
            OtpCode::parse("123-456").map(|c| c.expose().to_string()),
            Ok("123456".into())
        );
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦"] {
            assert_eq!(OtpCode::parse(bad), Err(MalformedCode), "{bad}");
        }
    }

    #[test]
    fn a_code_is_bound_to_the_sign_in_it_was_issued_for() {
        let code = OtpCode::parse("123456").unwrap();
        let stored = code.keyed_hash(&KEY, "flow-a");
        assert!(code.matches(&KEY, "flow-a", &stored));
        assert!(!code.matches(&KEY, "flow-b", &stored));
        assert!(!OtpCode::parse("123457")
            .unwrap()
            .matches(&KEY, "flow-a", &stored));
        assert!(!code.matches(&[8; 32], "flow-a", &stored));
    }

    #[test]
    fn the_stored_form_does_not_contain_the_code() {
        let code = OtpCode::parse("424242").unwrap();
        let stored = code.keyed_hash(&KEY, "flow");
        assert!(!stored.windows(6).any(|w| w == b"424242"));
        assert_eq!(format!("{code:?}"), "OtpCode([redacted])");
    }
}
