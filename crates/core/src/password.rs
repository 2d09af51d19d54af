//! Passwords: length rules (S1), the refusal of common and personal passwords (S2), NFKC
//! normalisation without truncation (S3), and Argon2id hashing in PHC strings (S4).
//!
//! Hashing is slow on purpose; this module only computes. Where it runs (a bounded pool off
//! the async runtime, DESIGN.md §5) is the `app` crate's business.

use crate::email::Email;
use crate::secret::Secret;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;

/// S1: NIST SP 800-63B §5.1.1.2 minimum and a generous maximum, in code points.
pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 256;

/// S4: OWASP's Argon2id baseline (19 MiB, t=2, p=1).
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_ITERATIONS: u32 = 2;
const ARGON2_LANES: u32 = 1;

/// A few of the most used passwords of at least 8 characters (from public breach corpora),
/// plus the service's own name. A deployment that wants a full list can extend this later.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "12345678",
    "123456789",
    "1234567890",
    "11111111",
    "00000000",
    "87654321",
    "12341234",
    "qwertyuiop",
    "qwerty123",
    "qwerty12",
    "1q2w3e4r",
    "1qaz2wsx",
    "iloveyou",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "superman",
    "trustno1",
    "welcome1",
    "abc12345",
    "abcd1234",
    "letmein1",
    "dragon12",
    "monkey12",
    "starwars",
    "whatever",
    "zaq12wsx",
    "aaaaaaaa",
    "asdfghjk",
    "asdfasdf",
    "changeme",
    "computer",
    "internet",
    "michael1",
    "jennifer",
    "1234qwer",
    "qwertyui",
    "passwort",
    "azertyui",
    "gatehouse",
    "gatehouse1",
    "gatehouse123",
    "administrator",
    "admin123",
    "letmein123",
    "welcome123",
];

/// A password as typed, normalised (NFKC, S3) and length-checked. It never prints.
#[derive(Clone)]
pub struct Password(Secret<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("Use at least {MIN_CHARS} characters")]
    TooShort,
    #[error("Use at most {MAX_CHARS} characters")]
    TooLong,
    #[error("This password is too common; choose one that others are unlikely to use")]
    Common,
    #[error("Don't use your email address or the service's name as your password")]
    Personal,
}

impl Password {
    /// Normalises a password for checking at sign-in. Length limits apply here too so that
    /// a megabyte "password" never reaches Argon2, but nothing is ever cut short (S3).
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let normalised: String = raw.nfkc().collect();
        let length = normalised.chars().count();
        if length < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if length > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        Ok(Self(Secret::new(normalised)))
    }

    /// The stricter check for a password being set (S2): the length rules, then no common
    /// password, no variant of the person's address and no service name.
    pub fn parse_new(raw: &str, owner: &Email) -> Result<Self, PasswordError> {
        let password = Self::parse(raw)?;
        let folded = password.0.expose().to_lowercase();
        if COMMON_PASSWORDS.contains(&folded.as_str()) {
            return Err(PasswordError::Common);
        }
        let address = owner.as_str();
        let local_part = address.split('@').next().unwrap_or(address);
        if folded == address || (local_part.len() >= 4 && folded.contains(local_part)) {
            return Err(PasswordError::Personal);
        }
        if folded.contains("gatehouse") && folded.chars().count() < 16 {
            return Err(PasswordError::Personal);
        }
        Ok(password)
    }

    /// Whether two passwords are the same once normalised, compared in constant time: a
    /// new password equal to the current one is refused without another Argon2 run.
    pub fn same_as(&self, other: &Password) -> bool {
        bool::from(subtle::ConstantTimeEq::ct_eq(self.bytes(), other.bytes()))
    }

    fn bytes(&self) -> &[u8] {
        self.0.expose().as_bytes()
    }
}

/// A PHC string (`$argon2id$v=19$m=…`). Not secret in the sense of a token, but still kept
/// out of logs.
#[derive(Clone)]
pub struct PasswordHashString(pub String);

impl std::fmt::Debug for PasswordHashString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHashString([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashingFailed(String);

fn argon2() -> Result<Argon2<'static>, HashingFailed> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None)
        .map_err(|e| HashingFailed(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes with a fresh per-password salt (S4).
pub fn hash_password(password: &Password) -> Result<PasswordHashString, HashingFailed> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2()?
        .hash_password(password.bytes(), &salt)
        .map_err(|e| HashingFailed(e.to_string()))?;
    Ok(PasswordHashString(hash.to_string()))
}

/// Argon2's working memory, allocated once per hashing thread and reused. Allocating and
/// freeing 19 MiB for every check made the allocator keep freed blocks in per-thread arenas,
/// so the process grew far past what the pool's size suggests (see bench/README.md).
pub struct HashingMemory(Vec<Block>);

/// A stored hash asking for more than this much memory is refused rather than obeyed.
const MAX_VERIFY_MEMORY_KIB: usize = 256 * 1024;

impl HashingMemory {
    pub fn new() -> Self {
        Self(vec![Block::default(); ARGON2_MEMORY_KIB as usize])
    }

    fn blocks(&mut self, count: usize) -> Option<&mut [Block]> {
        if count > MAX_VERIFY_MEMORY_KIB {
            return None;
        }
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        self.0.get_mut(..count)
    }
}

impl Default for HashingMemory {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks a password against a stored PHC string, with the parameters the string names (so
/// hashes made under older parameters keep working), in `memory`. The comparison is in
/// constant time.
pub fn verify_password_in(
    password: &Password,
    stored: &PasswordHashString,
    memory: &mut HashingMemory,
) -> bool {
    let Ok(parsed) = PasswordHash::new(&stored.0) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(&parsed),
        Algorithm::try_from(parsed.algorithm),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buffer = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buffer) else {
        return false;
    };
    let Some(blocks) = memory.blocks(params.block_count()) else {
        return false;
    };
    let mut computed = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2
        .hash_password_into_with_memory(password.bytes(), salt, &mut computed, blocks)
        .is_err()
    {
        return false;
    }
    bool::from(computed.as_slice().ct_eq(expected.as_bytes()))
}

/// `verify_password_in` with memory of its own, for the tests' one-off checks (the service
/// checks through its hashing pool, which reuses the memory).
#[cfg(test)]
pub fn verify_password(password: &Password, stored: &PasswordHashString) -> bool {
    verify_password_in(password, stored, &mut HashingMemory::new())
}

/// True when a stored hash was made with weaker parameters than today's, so the caller can
/// re-hash it after a successful sign-in (S4).
pub fn needs_rehash(stored: &PasswordHashString) -> bool {
    let Ok(parsed) = PasswordHash::new(&stored.0) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm.as_str() != "argon2id"
        || params.m_cost() < ARGON2_MEMORY_KIB
        || params.t_cost() < ARGON2_ITERATIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Email {
        Email::parse("ann@example.com").unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn seven_characters_are_refused_eight_accepted() {
        assert_eq!(
            Password::parse("1234567").err(),
            Some(PasswordError::TooShort)
        );
        assert!(Password::parse("abcdefgh").is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(257)).err(),
            Some(PasswordError::TooLong)
        );
    }

    #[test]
    fn length_counts_code_points_not_bytes() {
        // Four emoji are 16 bytes but only 4 characters.
        assert_eq!(
            Password::parse("🔑🔑🔑🔑").err(),
            Some(PasswordError::TooShort)
        );
        assert!(Password::parse(&"🔑".repeat(200)).is_ok());
    }

    #[test]
    fn common_and_personal_passwords_are_refused_with_a_reason() {
        assert_eq!(
            Password::parse_new("password1234", &owner()).err(),
            Some(PasswordError::Common)
        );
        assert_eq!(
            Password::parse_new("ann@example.com", &owner()).err(),
            Some(PasswordError::Personal)
        );
        assert_eq!(
            Password::parse_new("Gatehouse2026", &owner()).err(),
            Some(PasswordError::Personal)
        );
        assert!(Password::parse_new("correct horse battery staple", &owner()).is_ok());
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() -> Result<(), HashingFailed> {
        let password =
            Password::parse("correct horse battery").map_err(|e| HashingFailed(e.to_string()))?;
        let hash = hash_password(&password)?;
        assert!(
            hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.0
        );
        assert!(verify_password(&password, &hash));
        assert!(!needs_rehash(&hash));
        let wrong =
            Password::parse("correct horse battery!").map_err(|e| HashingFailed(e.to_string()))?;
        assert!(!verify_password(&wrong, &hash));
        Ok(())
    }

    #[test]
    fn nothing_is_truncated_past_72_bytes() -> Result<(), HashingFailed> {
        // bcrypt silently ignores bytes after 72; we must not (S3).
        let long = "a".repeat(80);
        let hash =
            hash_password(&Password::parse(&long).map_err(|e| HashingFailed(e.to_string()))?)?;
        let first_72 = Password::parse(&long[..72]).map_err(|e| HashingFailed(e.to_string()))?;
        assert!(!verify_password(&first_72, &hash));
        Ok(())
    }

    #[test]
    fn nfc_and_nfd_spellings_are_the_same_password() -> Result<(), HashingFailed> {
        let nfc = "caf\u{e9} au lait";
        let nfd = "cafe\u{301} au lait";
        let hash = hash_password(&Password::parse(nfc).map_err(|e| HashingFailed(e.to_string()))?)?;
        assert!(verify_password(
            &Password::parse(nfd).map_err(|e| HashingFailed(e.to_string()))?,
            &hash
        ));
        Ok(())
    }

    #[test]
    fn reused_memory_gives_the_same_answers_for_any_parameters() -> Result<(), HashingFailed> {
        let password =
            Password::parse("correct horse battery").map_err(|e| HashingFailed(e.to_string()))?;
        // Made by the reference implementation's PHC path with other parameters (m=4096, t=1),
        // then ours, checked one after the other in the same memory.
        let weak_params =
            Params::new(4096, 1, 1, None).map_err(|e| HashingFailed(e.to_string()))?;
        let salt = SaltString::generate(&mut OsRng);
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, weak_params)
            .hash_password(b"correct horse battery", &salt)
            .map_err(|e| HashingFailed(e.to_string()))?
            .to_string();
        let ours = hash_password(&password)?;
        let mut memory = HashingMemory::new();
        for _ in 0..2 {
            assert!(verify_password_in(
                &password,
                &PasswordHashString(weak.clone()),
                &mut memory
            ));
            assert!(verify_password_in(&password, &ours, &mut memory));
            let wrong = Password::parse("correct horse battery?")
                .map_err(|e| HashingFailed(e.to_string()))?;
            assert!(!verify_password_in(&wrong, &ours, &mut memory));
        }
        let greedy = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI";
        assert!(
            !verify_password_in(&password, &PasswordHashString(greedy.into()), &mut memory),
            "4 GiB is refused, not allocated"
        );
        Ok(())
    }

    #[test]
    fn weaker_or_garbage_hashes_ask_for_a_rehash() {
        assert!(needs_rehash(&PasswordHashString("not a hash".into())));
        let weak = "$argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHRzYWx0$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI";
        assert!(needs_rehash(&PasswordHashString(weak.into())));
    }
}
