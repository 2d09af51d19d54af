//! The OpenID Connect provider's rules, pure: which scopes exist, PKCE (S40), what a
//! registered redirect URI may be and how it matches (S37, S38), when a request needs a fresh
//! sign-in (S43), what `amr`/`acr` say about a sign-in (S42), and the lifetimes of codes
//! and tokens (S39, S44).
//!
//! No I/O, no clock: `app` stores and times things, `web` speaks HTTP.

use crate::flow::Proof;
use crate::UnixTime;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// S39: an authorization code is single use and lives 60 seconds.
pub const CODE_LIFETIME_SECS: i64 = 60;
/// Access tokens are short: they are bearer tokens a product may leak.
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 15 * 60;
/// ID tokens, and how long a retired signing key stays published after its last use.
pub const ID_TOKEN_LIFETIME_SECS: i64 = 15 * 60;
/// A refresh token is good for 30 days from its issue (each use rotates it, S44)...
pub const REFRESH_TOKEN_LIFETIME_SECS: i64 = 30 * 24 * 60 * 60;
/// ...and never beyond 90 days after the sign-in that started its grant.
pub const GRANT_LIFETIME_SECS: i64 = 90 * 24 * 60 * 60;
/// An authorization request waits this long for the person to sign in.
pub const AUTHORIZATION_REQUEST_LIFETIME_SECS: i64 = 30 * 60;

/// `acr` values: whether a code was entered at this sign-in, or a trusted device stood in.
pub const ACR_MFA: &str = "urn:gatehouse:acr:mfa";
pub const ACR_TRUSTED_DEVICE: &str = "urn:gatehouse:acr:trusted-device";

/// The scopes Gatehouse knows.
pub const SUPPORTED_SCOPES: [&str; 4] = ["openid", "email", "profile", "offline_access"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("the scope must include openid")]
    MissingOpenid,
    #[error("unknown scope: {0}")]
    Unknown(String),
}

/// A requested or granted set of scopes, always including `openid`, kept in the order of
/// `SUPPORTED_SCOPES` so the same set always prints the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<&'static str>);

impl Scopes {
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let requested: Vec<&str> = text.split(' ').filter(|s| !s.is_empty()).collect();
        if let Some(unknown) = requested.iter().find(|s| !SUPPORTED_SCOPES.contains(s)) {
            return Err(ScopeError::Unknown((*unknown).to_string()));
        }
        if !requested.contains(&"openid") {
            return Err(ScopeError::MissingOpenid);
        }
        Ok(Self(
            SUPPORTED_SCOPES
                .into_iter()
                .filter(|s| requested.contains(s))
                .collect(),
        ))
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(&scope)
    }

    /// Whether every scope of `self` is also in `granted` (a refresh may narrow, never widen).
    pub fn is_within(&self, granted: &Scopes) -> bool {
        self.0.iter().all(|s| granted.contains(s))
    }

    pub fn to_text(&self) -> String {
        self.0.join(" ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("code_challenge_method must be S256")]
    MethodNotS256,
    #[error("the code_challenge is malformed")]
    MalformedChallenge,
}

/// S40: a PKCE challenge, S256 only (RFC 7636 §4.2). `plain` is refused: it protects nothing
/// when the authorization request itself leaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// `method` is what the request said; RFC 7636 makes a missing method mean `plain`,
    /// which is refused.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        if method != Some("S256") {
            return Err(PkceError::MethodNotS256);
        }
        // The base64url of a SHA-256 digest is exactly 43 characters.
        let decoded = URL_SAFE_NO_PAD.decode(challenge).ok();
        if challenge.len() != 43 || decoded.map(|d| d.len()) != Some(32) {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(Self(challenge.to_string()))
    }

    /// A stored challenge (already validated when it was received).
    pub fn from_stored(challenge: String) -> Self {
        Self(challenge)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` (RFC 7636 §4.1: 43-128 unreserved characters) hashes to this
    /// challenge. Compared in constant time.
    pub fn is_met_by(&self, verifier: &str) -> bool {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        well_formed && bool::from(computed.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    #[error("not an absolute URL")]
    NotAbsolute,
    #[error("must be https, or http on a loopback address (127.0.0.1, [::1], localhost)")]
    InsecureScheme,
    #[error("must not contain a fragment")]
    Fragment,
    #[error("must not contain spaces or control characters")]
    BadCharacters,
}

/// A redirect URI as registered. Requests must match one exactly, byte for byte (S38): no
/// prefix, no wildcard, no normalisation that an attacker could play with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// What may be registered: https anywhere, http only on loopback (RFC 8252 §7.3 for
    /// desktop apps), never a fragment (RFC 6749 §3.1.2).
    pub fn parse(text: &str) -> Result<Self, RedirectUriError> {
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(RedirectUriError::BadCharacters);
        }
        if text.contains('#') {
            return Err(RedirectUriError::Fragment);
        }
        let (scheme, rest) = text
            .split_once("://")
            .ok_or(RedirectUriError::NotAbsolute)?;
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host = host_of(authority);
        if host.is_empty() || authority.contains('@') {
            return Err(RedirectUriError::NotAbsolute);
        }
        match scheme {
            "https" => Ok(Self(text.to_string())),
            "http" if ["127.0.0.1", "[::1]", "localhost"].contains(&host) => {
                Ok(Self(text.to_string()))
            }
            "http" => Err(RedirectUriError::InsecureScheme),
            _ => Err(RedirectUriError::InsecureScheme),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `scheme://host[:port]`, for CORS and for telling products apart.
    pub fn origin(&self) -> &str {
        let after_scheme = self.0.find("://").map_or(0, |i| i + 3);
        let end = self.0[after_scheme..]
            .find(['/', '?'])
            .map_or(self.0.len(), |i| after_scheme + i);
        &self.0[..end]
    }
}

fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority.split(':').next().unwrap_or_default()
}

/// What `prompt` asks for (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

impl Prompt {
    /// `none` with anything else is an error (Core §3.1.2.1); unknown values are too.
    pub fn parse(text: Option<&str>) -> Option<Self> {
        let mut prompt = Self::default();
        for value in text
            .unwrap_or_default()
            .split(' ')
            .filter(|v| !v.is_empty())
        {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                // Gatehouse keeps one account per browser: choosing one is signing in.
                "select_account" => prompt.login = true,
                _ => return None,
            }
        }
        (!(prompt.none && (prompt.login || prompt.consent))).then_some(prompt)
    }
}

/// S43: whether a live session that signed in at `auth_time` may answer a request made at
/// `requested_at`. `prompt=login` wants a sign-in after the request; `max_age` one no older
/// than that many seconds.
pub fn session_satisfies(
    prompt: Prompt,
    max_age: Option<i64>,
    auth_time: UnixTime,
    requested_at: UnixTime,
    now: UnixTime,
) -> bool {
    let fresh_enough = max_age.is_none_or(|max| now - auth_time <= max);
    let after_request = !prompt.login || auth_time >= requested_at;
    fresh_enough && after_request
}

/// S42: the `amr` values (RFC 8176 where one fits) naming the factors of a sign-in. `mfa`
/// only when a second factor was entered at this sign-in; a trusted device standing in for
/// the code says `device` instead, so a product can ask for a fresh code when it matters.
pub fn amr(proof: Proof) -> Vec<&'static str> {
    match proof {
        Proof::EmailCode => vec!["pwd", "email", "mfa"],
        Proof::Totp => vec!["pwd", "otp", "mfa"],
        Proof::Sms => vec!["pwd", "sms", "mfa"],
        Proof::BackupCode => vec!["pwd", "backup-code", "mfa"],
        Proof::TrustedDevice => vec!["pwd", "device"],
        // A passkey with user verification (S58): proof of possession of a key the
        // authenticator holds ("swk": a passkey may be synced, so no claim of hardware),
        // unlocked by the person ("user"); two factors in one, so `mfa`. No "pwd".
        Proof::Passkey => vec!["swk", "user", "mfa"],
    }
}

pub fn acr(proof: Proof) -> &'static str {
    match proof {
        Proof::TrustedDevice => ACR_TRUSTED_DEVICE,
        Proof::EmailCode | Proof::Totp | Proof::Sms | Proof::BackupCode | Proof::Passkey => ACR_MFA,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_need_openid_and_refuse_unknown_ones() {
        let scopes =
            Scopes::parse("email openid  offline_access").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scopes.to_text(), "openid email offline_access");
        assert_eq!(Scopes::parse("email"), Err(ScopeError::MissingOpenid));
        assert_eq!(
            Scopes::parse("openid admin"),
            Err(ScopeError::Unknown("admin".into()))
        );
        let narrow = Scopes::parse("openid").unwrap_or_else(|e| panic!("{e}"));
        assert!(narrow.is_within(&scopes));
        assert!(!scopes.is_within(&narrow));
    }

    #[test]
    fn pkce_matches_the_rfc_7636_example_and_refuses_plain() {
        // RFC 7636 Appendix B.
        let challenge =
            CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256"))
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(challenge.is_met_by("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!challenge.is_met_by("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
        assert!(!challenge.is_met_by("short"));
        // S40: plain, and a missing method (which means plain), are refused.
        for method in [Some("plain"), None, Some("s256")] {
            assert_eq!(
                CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", method),
                Err(PkceError::MethodNotS256)
            );
        }
        assert_eq!(
            CodeChallenge::parse("tooshort", Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
    }

    #[test]
    fn redirect_uris_are_https_or_loopback_http() {
        for good in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?x=1",
            "http://127.0.0.1:8081/callback",
            "http://localhost/cb",
            "http://[::1]:9000/cb",
        ] {
            assert!(RedirectUri::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            RedirectUri::parse("http://app.example.com/cb"),
            Err(RedirectUriError::InsecureScheme)
        );
        assert_eq!(
            RedirectUri::parse("http://localhost.evil.example/cb"),
            Err(RedirectUriError::InsecureScheme)
        );
        assert_eq!(
            RedirectUri::parse("https://app.example.com/cb#x"),
            Err(RedirectUriError::Fragment)
        );
        assert_eq!(
            RedirectUri::parse("/callback"),
            Err(RedirectUriError::NotAbsolute)
        );
        assert_eq!(
            RedirectUri::parse("https://user@evil.example/"),
            Err(RedirectUriError::NotAbsolute)
        );
        assert_eq!(
            RedirectUri::parse("javascript://x/%0aalert(1)"),
            Err(RedirectUriError::InsecureScheme)
        );
        let uri = RedirectUri::parse("https://app.example.com:8443/cb?x=1")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(uri.origin(), "https://app.example.com:8443");
    }

    #[test]
    fn prompt_none_cannot_be_combined() {
        assert_eq!(Prompt::parse(None), Some(Prompt::default()));
        assert!(Prompt::parse(Some("login")).is_some_and(|p| p.login));
        assert_eq!(Prompt::parse(Some("none login")), None);
        assert_eq!(Prompt::parse(Some("bogus")), None);
    }

    #[test]
    fn prompt_login_and_max_age_want_a_fresh_sign_in() {
        let none = Prompt::default();
        let login = Prompt::parse(Some("login")).unwrap_or_default();
        // Signed in at 1000, request at 2000, now 2000.
        assert!(session_satisfies(none, None, 1000, 2000, 2000));
        assert!(!session_satisfies(login, None, 1000, 2000, 2000));
        assert!(session_satisfies(login, None, 2001, 2000, 2005));
        assert!(!session_satisfies(none, Some(999), 1000, 2000, 2000));
        assert!(session_satisfies(none, Some(1000), 1000, 2000, 2000));
        assert!(!session_satisfies(none, Some(0), 1000, 2000, 2000));
    }

    #[test]
    fn amr_says_mfa_only_when_a_code_was_entered() {
        assert_eq!(amr(Proof::EmailCode), ["pwd", "email", "mfa"]);
        assert_eq!(amr(Proof::TrustedDevice), ["pwd", "device"]);
        assert!(amr(Proof::BackupCode).contains(&"mfa"));
        assert_eq!(acr(Proof::TrustedDevice), ACR_TRUSTED_DEVICE);
        assert_eq!(acr(Proof::Totp), ACR_MFA);
        assert_eq!(amr(Proof::Passkey), ["swk", "user", "mfa"]);
        assert!(!amr(Proof::Passkey).contains(&"pwd"));
        assert_eq!(acr(Proof::Passkey), ACR_MFA);
    }
}
