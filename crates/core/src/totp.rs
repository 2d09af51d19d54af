//! Authenticator apps: HOTP (RFC 4226) and TOTP (RFC 6238), the shared secret, and the
//! `otpauth://` URI that apps read from a QR code.
//!
//! Checking accepts the current 30-second step and one either side, no more (S16), and only
//! a step later than the last one accepted (S17); the caller stores that step atomically.

use crate::secret::Secret;
use crate::{OtpCode, UnixTime};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// RFC 6238 defaults that every common app understands.
pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;
// `verify` takes an `OtpCode`, so the apps' codes and typed codes must be the same length.
const _: () = assert!(DIGITS as usize == crate::otp::CODE_DIGITS);
/// S16: one step of clock drift either side.
pub const ALLOWED_DRIFT_STEPS: i64 = 1;
/// S15: 160 bits, the HMAC-SHA1 block-friendly size RFC 4226 §4 recommends.
pub const SECRET_BYTES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// The shared secret. It never prints, and leaves the server only while enrolling (S15).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Secret<Vec<u8>>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self(Secret::new(bytes))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Secret::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.expose()
    }

    /// RFC 4648 base32 without padding: what apps expect for manual entry.
    pub fn to_base32(&self) -> String {
        base32_encode(self.0.expose())
    }

    /// The same, in groups of four for people to type.
    pub fn to_base32_grouped(&self) -> String {
        let plain = self.to_base32();
        plain
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…` (the Key Uri Format that Google
    /// Authenticator defined and the other apps follow).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{}:{}", percent_encode(issuer), percent_encode(account));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            self.to_base32(),
            percent_encode(issuer)
        )
    }
}

/// HMAC over `message` with the hash `$digest`; HMAC accepts keys of any length.
macro_rules! hmac_with {
    ($digest:ty, $key:expr, $message:expr) => {{
        let mut mac = <Hmac<$digest> as Mac>::new_from_slice($key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update($message);
        mac.finalize().into_bytes().to_vec()
    }};
}

/// RFC 4226 §5.3: the HOTP value for a counter, `digits` long.
pub fn hotp(key: &[u8], counter: u64, digits: u32, algorithm: TotpAlgorithm) -> u32 {
    let message = counter.to_be_bytes();
    let digest = match algorithm {
        TotpAlgorithm::Sha1 => hmac_with!(sha1::Sha1, key, &message),
        TotpAlgorithm::Sha256 => hmac_with!(sha2::Sha256, key, &message),
        TotpAlgorithm::Sha512 => hmac_with!(sha2::Sha512, key, &message),
    };
    // Dynamic truncation (RFC 4226 §5.4).
    let offset = usize::from(digest.last().copied().unwrap_or(0) & 0x0f);
    let word = digest
        .get(offset..offset + 4)
        .map(|b| u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]))
        .unwrap_or(0);
    word % 10u32.pow(digits)
}

/// The RFC 6238 time step of a moment.
pub fn step_at(now: UnixTime) -> i64 {
    now.div_euclid(STEP_SECS)
}

/// The code an app shows at `now` (SHA-1, six digits): for tests and for nothing else.
pub fn code_at(secret: &TotpSecret, now: UnixTime) -> String {
    let counter = u64::try_from(step_at(now)).unwrap_or(0);
    format!(
        "{:06}",
        hotp(secret.as_bytes(), counter, DIGITS, TotpAlgorithm::Sha1)
    )
}

/// Checks a typed code at `now`. Returns the step it matched, which must be stored as the
/// last used one, or `None`. Steps at or before `last_used_step` are refused (S17), and only
/// the current step ± one is tried (S16). Comparisons are in constant time. The code was
/// parsed once, by `OtpCode::parse`, so enrolment and sign-in accept the same typing.
pub fn verify(
    secret: &TotpSecret,
    typed: &OtpCode,
    now: UnixTime,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let typed = typed.expose();
    let current = step_at(now);
    let mut matched = None;
    for step in (current - ALLOWED_DRIFT_STEPS)..=(current + ALLOWED_DRIFT_STEPS) {
        let Ok(counter) = u64::try_from(step) else {
            continue;
        };
        let expected = format!(
            "{:06}",
            hotp(secret.as_bytes(), counter, DIGITS, TotpAlgorithm::Sha1)
        );
        let fresh = last_used_step.is_none_or(|last| step > last);
        if bool::from(expected.as_bytes().ct_eq(typed.as_bytes())) && fresh && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes base32 as people copy it: any case, spaces and padding ignored.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let value = BASE32
            .iter()
            .position(|&b| char::from(b) == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SEED_SHA1: &[u8] = b"12345678901234567890";
    const RFC_SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const RFC_SEED_SHA512: &[u8] =
        b"1234567890123456789012345678901234567890123456789012345678901234";

    /// S14: RFC 4226 appendix D, all ten values.
    #[test]
    fn every_rfc_4226_vector() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, value) in expected.iter().enumerate() {
            assert_eq!(
                hotp(RFC_SEED_SHA1, counter as u64, 6, TotpAlgorithm::Sha1),
                *value,
                "counter {counter}"
            );
        }
    }

    /// S14: RFC 6238 appendix B, all eighteen values (8 digits, three hashes).
    #[test]
    fn every_rfc_6238_vector() {
        let table: [(i64, u32, u32, u32); 6] = [
            (59, 94287082, 46119246, 90693936),
            (1111111109, 7081804, 68084774, 25091201),
            (1111111111, 14050471, 67062674, 99943326),
            (1234567890, 89005924, 91819424, 93441116),
            (2000000000, 69279037, 90698825, 38618901),
            (20000000000, 65353130, 77737706, 47863826),
        ];
        for (time, sha1, sha256, sha512) in table {
            let counter = step_at(time) as u64;
            assert_eq!(
                hotp(RFC_SEED_SHA1, counter, 8, TotpAlgorithm::Sha1),
                sha1,
                "SHA1 at {time}"
            );
            assert_eq!(
                hotp(RFC_SEED_SHA256, counter, 8, TotpAlgorithm::Sha256),
                sha256,
                "SHA256 at {time}"
            );
            assert_eq!(
                hotp(RFC_SEED_SHA512, counter, 8, TotpAlgorithm::Sha512),
                sha512,
                "SHA512 at {time}"
            );
        }
    }

    /// What a person types from the app's screen.
    fn typed(code: &str) -> OtpCode {
        OtpCode::parse(code).unwrap()
    }

    #[test]
    fn one_step_of_drift_either_side_and_no_more() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_015;
        for (offset, accepted) in [
            (-60, false),
            (-30, true),
            (0, true),
            (30, true),
            (60, false),
        ] {
            let code = typed(&code_at(&secret, now + offset));
            assert_eq!(
                verify(&secret, &code, now, None).is_some(),
                accepted,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn a_step_is_never_accepted_twice() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_015;
        let code = typed(&code_at(&secret, now));
        let step = verify(&secret, &code, now, None).unwrap();
        assert_eq!(
            verify(&secret, &code, now, Some(step)),
            None,
            "replay (S17)"
        );
        assert_eq!(
            verify(
                &secret,
                &typed(&code_at(&secret, now - 30)),
                now,
                Some(step)
            ),
            None,
            "an earlier step"
        );
        assert_eq!(
            verify(
                &secret,
                &typed(&code_at(&secret, now + 30)),
                now,
                Some(step)
            ),
            Some(step + 1)
        );
    }

    /// `verify` takes only a parsed `OtpCode`, so a malformed code never reaches a
    /// comparison: it is refused by the parse.
    #[test]
    fn malformed_codes_are_refused_before_any_comparison() {
        for typed in ["", "12345", "1234567", "12a456"] {
            assert!(OtpCode::parse(typed).is_err(), "{typed}");
        }
    }

    /// Spaces and a dash are typing, not a different code: the same acceptance as the
    /// e-mailed codes' (enrolment and sign-in both parse with `OtpCode::parse`).
    #[test]
    fn a_code_typed_in_groups_is_the_same_code() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_015;
        let code = code_at(&secret, now);
        for spelling in [
            format!("{} {}", &code[..3], &code[3..]),
            format!("{}-{}", &code[..3], &code[3..]),
            format!(" {code} "),
        ] {
            assert!(
                verify(&secret, &typed(&spelling), now, None).is_some(),
                "{spelling}"
            );
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            base32_decode("mzxw 6ytb oi======"),
            Some(b"foobar".to_vec())
        );
        let secret = TotpSecret::generate();
        assert_eq!(
            secret.to_base32().len(),
            32,
            "160 bits are 32 base32 characters"
        );
        assert_eq!(
            base32_decode(&secret.to_base32_grouped()).as_deref(),
            Some(secret.as_bytes())
        );
    }

    #[test]
    fn the_uri_names_issuer_and_account() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(
            secret.otpauth_uri("Gatehouse", "ann@example.com"),
            "otpauth://totp/Gatehouse:ann@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(format!("{secret:?}"), "TotpSecret([redacted])");
    }
}
