//! Backup codes (S20-S25): 24 characters of Crockford base32 (120 bits), shown in groups
//! of four, typed in any case with or without separators, stored as SHA-256.
//!
//! A code's life is `Pending` (shown, not yet confirmed) → `Active` → `Used`; only an
//! `Active` code signs in (S22). `BackupCodeStatus::redeem` is that rule, and the store's
//! compare-and-set (`WHERE status = 'active'`) is its persistent form.

use crate::secret::Secret;
use rand::rngs::OsRng;
use rand::Rng;
use sha2::{Digest, Sha256};

/// Crockford's alphabet: no I, L, O or U, so nothing is misread when typed from paper.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const CODE_CHARS: usize = 24;
const GROUP: usize = 4;

#[derive(Clone, PartialEq, Eq)]
pub struct BackupCode(Secret<String>);

impl std::fmt::Debug for BackupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupCode([redacted])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Enter the 24-character backup code")]
pub struct MalformedBackupCode;

impl BackupCode {
    pub fn generate() -> Self {
        let code: String = (0..CODE_CHARS)
            .map(|_| char::from(ALPHABET[OsRng.gen_range(0..ALPHABET.len())]))
            .collect();
        Self(Secret::new(code))
    }

    /// Case-insensitive, separators (spaces, dashes) ignored, and Crockford's confusable
    /// letters read as the digits they look like (O→0, I/L→1).
    pub fn parse(input: &str) -> Result<Self, MalformedBackupCode> {
        let mut canonical = String::with_capacity(CODE_CHARS);
        for c in input.chars() {
            let c = match c.to_ascii_uppercase() {
                ' ' | '-' | '\t' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return Err(MalformedBackupCode);
            }
            canonical.push(c);
        }
        if canonical.len() == CODE_CHARS {
            Ok(Self(Secret::new(canonical)))
        } else {
            Err(MalformedBackupCode)
        }
    }

    /// The form shown to people: `ABCD-EFGH-…`, six groups of four.
    pub fn display(&self) -> String {
        self.0
            .expose()
            .as_bytes()
            .chunks(GROUP)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// 120 random bits need no slow hash: SHA-256 of the canonical form (S20).
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.expose().as_bytes()).into()
    }
}

/// Where a backup code is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupCodeStatus {
    Pending,
    Active,
    Used,
}

impl BackupCodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Used => "used",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "active" => Some(Self::Active),
            "used" => Some(Self::Used),
            _ => None,
        }
    }

    /// "I have saved this code" turns a pending code active; nothing else does.
    pub fn confirm(self) -> Option<Self> {
        (self == Self::Pending).then_some(Self::Active)
    }

    /// Signing in with a code consumes it; only an active code can be redeemed (S22, S23).
    pub fn redeem(self) -> Option<Self> {
        (self == Self::Active).then_some(Self::Used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_codes_carry_at_least_112_bits() {
        // 24 symbols of a 32-symbol alphabet: 24 × 5 = 120 bits (S20).
        const { assert!(CODE_CHARS * 5 >= 112) };
        let code = BackupCode::generate();
        assert_eq!(code.display().len(), CODE_CHARS + 5);
        assert_ne!(BackupCode::generate(), code);
    }

    #[test]
    fn typed_in_any_case_with_or_without_dashes() {
        let code = BackupCode::generate();
        let shown = code.display();
        let variants = [
            shown.clone(),
            shown.to_lowercase(),
            shown.replace('-', ""),
            shown.to_lowercase().replace('-', " "),
        ];
        for typed in variants {
            assert_eq!(
                BackupCode::parse(&typed).map(|c| c.hash()),
                Ok(code.hash()),
                "{typed}"
            );
        }
    }

    #[test]
    fn confusable_letters_are_read_as_digits() {
        let a = BackupCode::parse("O1L0-0000-0000-0000-0000-000I").unwrap();
        let b = BackupCode::parse("0110-0000-0000-0000-0000-0001").unwrap();
        assert_eq!(a.hash(), b.hash());
    }

    #[test]
    fn malformed_codes_are_refused() {
        for bad in [
            "",
            "ABCD",
            "ABCD-EFGH-JKMN-PQRS-TVWX-YZ0U",
            "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2",
        ] {
            assert_eq!(BackupCode::parse(bad), Err(MalformedBackupCode), "{bad}");
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Op {
        Confirm,
        Redeem,
    }

    proptest! {
        /// S22: whatever happens to a code, it can be redeemed only after a confirmation,
        /// and at most once.
        #[test]
        fn a_pending_code_never_signs_in_and_a_code_signs_in_once(
            ops in proptest::collection::vec(prop_oneof![Just(Op::Confirm), Just(Op::Redeem)], 0..20)
        ) {
            let mut status = BackupCodeStatus::Pending;
            let mut confirmed = false;
            let mut redemptions = 0;
            for op in ops {
                match op {
                    Op::Confirm => if let Some(next) = status.confirm() { status = next; confirmed = true; },
                    Op::Redeem => if let Some(next) = status.redeem() {
                        prop_assert!(confirmed, "a pending code was redeemed");
                        redemptions += 1;
                        status = next;
                    },
                }
            }
            prop_assert!(redemptions <= 1);
        }
    }
}
