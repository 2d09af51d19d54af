//! Passwords: length rules (S1), the refusal of guessable and personal passwords (S2, by
//! zxcvbn's estimate, with the reason it gives in our own words), NFKC normalisation
//! without truncation (S3), and Argon2id hashing in PHC strings (S4).
//!
//! Hashing is slow on purpose; this module only computes. Where it runs (a bounded pool off
//! the async runtime, DESIGN.md §5) is the `app` crate's business.

use crate::email::Email;
use crate::secret::Secret;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;
use zxcvbn::feedback::Warning;
use zxcvbn::matching::patterns::MatchPattern;
use zxcvbn::Score;

/// S1: NIST SP 800-63B §5.1.1.2 minimum and a generous maximum, in code points.
pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 256;

/// S4: OWASP's Argon2id baseline (19 MiB, t=2, p=1).
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_ITERATIONS: u32 = 2;
const ARGON2_LANES: u32 = 1;

/// S2: how much of a new password the guessability check reads. zxcvbn's matching grows
/// quickly with the input (it reads only the first 100 characters itself, for the same
/// reason); a longer password is judged by its start, which is where a weak pattern would
/// have to be for the whole to be weak.
const GUESSABILITY_CHARS: usize = 100;

/// The service's name, which people are tempted to build a password on (S2).
const SERVICE_NAME: &str = "gatehouse";

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
    /// S2: among the first guesses an attacker tries; the reason says why.
    #[error("{0}")]
    Guessable(Weakness),
    #[error("Don't use your email address or the service's name as your password")]
    Personal,
}

/// Why a new password is easy to guess, in our own words: zxcvbn's warning, mapped to what
/// the page says (S2: the refusal says why).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Weakness {
    /// On the lists of passwords leaked most often.
    #[error("This password is too common; choose one that others are unlikely to use")]
    Common,
    /// A listed password with a few letters swapped or digits added.
    #[error("This password is too common: a well-known password with small changes is among the first guesses")]
    LikeCommon,
    #[error("Keyboard patterns like qwerty or asdf are easy to guess; use a few words instead")]
    KeyboardPattern,
    #[error("Repeated characters or words are easy to guess; use a few different words")]
    Repeats,
    #[error("Sequences like abc or 6543 are easy to guess; use a few words instead")]
    Sequence,
    #[error("Years and dates are easy to guess; use a few words instead")]
    Date,
    #[error("A single word is easy to guess; add another word or two")]
    SingleWord,
    #[error("Names are easy to guess; add a few uncommon words")]
    Name,
    /// No one pattern to blame: the whole is simply guessed too soon.
    #[error("This password is easy to guess; a few uncommon words together make a strong one")]
    Predictable,
}

impl Weakness {
    fn from_warning(warning: Option<Warning>) -> Self {
        match warning {
            Some(
                Warning::ThisIsATop10Password
                | Warning::ThisIsATop100Password
                | Warning::ThisIsACommonPassword,
            ) => Self::Common,
            Some(Warning::ThisIsSimilarToACommonlyUsedPassword) => Self::LikeCommon,
            Some(
                Warning::StraightRowsOfKeysAreEasyToGuess
                | Warning::ShortKeyboardPatternsAreEasyToGuess,
            ) => Self::KeyboardPattern,
            Some(
                Warning::RepeatsLikeAaaAreEasyToGuess
                | Warning::RepeatsLikeAbcAbcAreOnlySlightlyHarderToGuess,
            ) => Self::Repeats,
            Some(Warning::SequencesLikeAbcAreEasyToGuess) => Self::Sequence,
            Some(Warning::RecentYearsAreEasyToGuess | Warning::DatesAreOftenEasyToGuess) => {
                Self::Date
            }
            Some(Warning::AWordByItselfIsEasyToGuess) => Self::SingleWord,
            Some(
                Warning::NamesAndSurnamesByThemselvesAreEasyToGuess
                | Warning::CommonNamesAndSurnamesAreEasyToGuess,
            ) => Self::Name,
            None => Self::Predictable,
        }
    }
}

/// S2: zxcvbn's verdict on a normalised new password, told what it should expect people to
/// build on (the service's name, the parts of their address). Refused below score 3, which
/// zxcvbn's authors mark as the line for "too weak": under about 10^8 guesses, which a
/// leaked fast hash gives up in seconds and an online attacker reaches with patience. That
/// rule also covers every dictionary hit on its own (a listed password scores 0-2). A
/// refusal that rests on the person's own address or our name says so (`Personal`).
fn guessability(password: &str, owner: &Email) -> Result<(), PasswordError> {
    let start: String = password.chars().take(GUESSABILITY_CHARS).collect();
    let inputs = user_inputs(owner);
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let verdict = zxcvbn::zxcvbn(&start, &inputs);
    if verdict.score() >= Score::Three {
        return Ok(());
    }
    let personal = verdict.sequence().iter().any(|part| {
        matches!(&part.pattern, MatchPattern::Dictionary(word)
            if inputs.contains(&word.matched_word.as_str()))
    });
    if personal {
        return Err(PasswordError::Personal);
    }
    Err(PasswordError::Guessable(Weakness::from_warning(
        verdict.feedback().and_then(|f| f.warning()),
    )))
}

/// What zxcvbn should treat as known to an attacker aiming at this person: the service's
/// name, the address, and its parts ("ann.lee@example.com": ann, lee, example, com).
fn user_inputs(owner: &Email) -> Vec<String> {
    let address = owner.as_str();
    let mut inputs = vec![SERVICE_NAME.to_string(), address.to_string()];
    inputs.extend(
        address
            .split(['@', '.', '_', '-', '+'])
            .filter(|part| !part.is_empty())
            .map(str::to_string),
    );
    inputs
}

impl Password {
    /// Normalises a password for checking at sign-in. Length limits apply here too so that
    /// a megabyte "password" never reaches Argon2, but nothing is ever cut short (S3).
    ///
    /// The maximum is checked on the input as typed, before normalising: NFKC can turn one
    /// code point into eighteen (U+FDFA), so normalising first would let a short request
    /// make us build a string many times its size (S57). The normalised form is checked
    /// again, so what is hashed keeps within the same limits.
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        if raw.chars().nth(MAX_CHARS).is_some() {
            return Err(PasswordError::TooLong);
        }
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

    /// The stricter check for a password being set (S2): the length rules, then no variant
    /// of the person's address and no service name, then nothing zxcvbn finds easy to guess
    /// (`guessability`), each refusal with its reason.
    pub fn parse_new(raw: &str, owner: &Email) -> Result<Self, PasswordError> {
        let password = Self::parse(raw)?;
        let folded = password.0.expose().to_lowercase();
        let address = owner.as_str();
        let local_part = address.split('@').next().unwrap_or(address);
        if folded == address || (local_part.len() >= 4 && folded.contains(local_part)) {
            return Err(PasswordError::Personal);
        }
        if folded.contains(SERVICE_NAME) && folded.chars().count() < 16 {
            return Err(PasswordError::Personal);
        }
        guessability(password.0.expose(), owner)?;
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

/// A hash with the parameters of a real one that no password matches: its digest is random
/// bytes, not the hash of anything. Checking a guess against it costs exactly what checking
/// a real hash costs, which is all an unknown address needs (S46); making it costs nothing,
/// so the server need not hash at start.
pub fn unmatchable_hash() -> Result<PasswordHashString, HashingFailed> {
    let salt = SaltString::generate(&mut OsRng);
    let mut digest = [0u8; 32];
    OsRng.fill_bytes(&mut digest);
    let digest = SaltString::encode_b64(&digest).map_err(|e| HashingFailed(e.to_string()))?;
    Ok(PasswordHashString(format!(
        "$argon2id$v=19$m={ARGON2_MEMORY_KIB},t={ARGON2_ITERATIONS},p={ARGON2_LANES}${}${}",
        salt.as_str(),
        digest.as_str()
    )))
}

/// Argon2's working memory, allocated once per hashing thread and reused. Allocating and
/// freeing 19 MiB for every check made the allocator keep freed blocks in per-thread arenas,
/// so the process grew far past what the pool's size suggests (see bench/README.md).
pub struct HashingMemory(Vec<Block>);

/// Above glibc's `DEFAULT_MMAP_THRESHOLD_MAX` (32 MiB on 64-bit systems).
const OWN_MAPPING_BYTES: usize = 33 * 1024 * 1024;

/// A stored hash asking for more than this much memory is refused rather than obeyed.
const MAX_VERIFY_MEMORY_KIB: usize = 256 * 1024;

impl HashingMemory {
    pub fn new() -> Self {
        // Reserved above glibc's largest mmap threshold (32 MiB), so the buffer is always
        // its own mapping and freeing it returns it to the system. At 19 MiB it would come
        // from an allocator arena after the first free (glibc raises its threshold to the
        // size of a freed mapping) and stay resident when the pool gives it back. Only the
        // blocks used are touched, so resident memory is what Argon2 needs.
        let mut blocks = Vec::with_capacity(OWN_MAPPING_BYTES / std::mem::size_of::<Block>());
        blocks.resize(ARGON2_MEMORY_KIB as usize, Block::default());
        Self(blocks)
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
    fn an_overlong_password_is_refused_before_it_is_normalised() {
        // U+FDFA becomes 18 code points under NFKC: 1,000 of them would be 18,000.
        assert_eq!(
            Password::parse(&"\u{fdfa}".repeat(1000)).err(),
            Some(PasswordError::TooLong)
        );
        // 257 code points typed, which NFKC would fold into 129 ("e" and a combining
        // accent become "é"): the limit is on what was sent, not on what it folds into.
        let typed = format!("{}e", "e\u{301}".repeat(128));
        assert_eq!(typed.chars().count(), 257);
        assert_eq!(Password::parse(&typed).err(), Some(PasswordError::TooLong));
        assert!(Password::parse(&"e\u{301}".repeat(128)).is_ok());
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

    /// S2: the reason a guessable password is refused, as the page shows it.
    fn refusal(password: &str) -> String {
        match Password::parse_new(password, &owner()) {
            Err(PasswordError::Guessable(reason)) => reason.to_string(),
            other => unreachable!("{password:?} should be refused as guessable: {other:?}"),
        }
    }

    #[test]
    fn common_passwords_are_refused_saying_why() {
        assert!(refusal("password1234").contains("too common"));
        for (password, reason) in [
            ("password1", "too common"),
            ("qwerty123", "too common"),
            ("iloveyou2", "too common"),
            ("abcdefghijklmnop", "Sequences"),
            ("xyxyxyxyxyxyxyxy", "Repeated"),
            ("25.12.1990", "dates"),
            ("christopher", "Names"),
        ] {
            let text = refusal(password);
            assert!(text.contains(reason), "{password:?}: {text}");
        }
    }

    #[test]
    fn a_long_random_passphrase_and_the_passwords_of_our_tests_are_accepted() {
        for password in [
            "correct horse battery staple",
            "violet-anchor-river-42",
            "umbrella quietly orbits marmalade",
            "tR7#kq!Vz2pL@x9m",
        ] {
            assert!(
                Password::parse_new(password, &owner()).is_ok(),
                "{password:?}"
            );
        }
    }

    #[test]
    fn the_parts_of_the_persons_address_count_as_known_to_an_attacker() {
        let password = "quokkazanzibar";
        // Strong enough for a stranger; built of the owner's own address for her.
        assert!(Password::parse_new(password, &owner()).is_ok());
        let owner = Email::parse("zanzibar.quokka@example.com").unwrap_or_else(|_| unreachable!());
        assert_eq!(
            Password::parse_new(password, &owner).err(),
            Some(PasswordError::Personal)
        );
    }

    #[test]
    fn a_long_password_is_judged_quickly() {
        // zxcvbn's cost grows with the input: a 64-character password, and one far longer,
        // must not keep a request busy (S57); it reads the first 100 characters only.
        for password in ["correct horse battery staple ".repeat(3), "x7".repeat(128)] {
            let started = std::time::Instant::now();
            let _ = Password::parse_new(&password, &owner());
            assert!(
                started.elapsed() < std::time::Duration::from_millis(500),
                "{} characters took {:?}",
                password.chars().count(),
                started.elapsed()
            );
        }
    }

    #[test]
    fn personal_passwords_are_refused_with_a_reason() {
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
    fn the_unmatchable_hash_is_a_real_hash_format_nothing_matches() -> Result<(), HashingFailed> {
        let unmatchable = unmatchable_hash()?;
        let real = hash_password(
            &Password::parse("correct horse battery").map_err(|e| HashingFailed(e.to_string()))?,
        )?;
        // Same parameters as a real hash, so checking against it costs the same (S46).
        let params = |h: &PasswordHashString| h.0.rsplitn(3, '$').nth(2).map(str::to_string);
        assert_eq!(params(&unmatchable), params(&real));
        assert!(!needs_rehash(&unmatchable));
        for guess in ["correct horse battery", "", "unmatchable"] {
            if let Ok(guess) = Password::parse(guess) {
                assert!(!verify_password(&guess, &unmatchable));
            }
        }
        assert_ne!(
            unmatchable.0,
            unmatchable_hash()?.0,
            "a fresh salt and digest each time"
        );
        Ok(())
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
