//! The OpenID Connect pieces that need no network and no clock of their own: random values,
//! the PKCE challenge, the URLs the browser is sent to, client authentication, and the
//! checks an ID token must pass. Everything here is a pure function, so the rules are
//! tested without a provider; nothing here talks HTTP or keeps state.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::form_urlencoded::byte_serialize;
use url::Url;

/// The scopes the product asks for: who you are and your e-mail address.
/// No `offline_access`: the demo never refreshes, so a refresh token would only sit unused.
pub const SCOPE: &str = "openid email";

/// 32 random bytes from the operating system, base64url without padding: 43 characters.
/// Used for state, nonce, PKCE verifiers and cookie values alike (RFC 7636 §4.1 asks a
/// verifier for at least 256 bits of entropy; the others need no less).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 code challenge of a PKCE verifier: BASE64URL(SHA256(ASCII(verifier))), RFC 7636
/// §4.2.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The part of the provider's discovery document the product uses (OpenID Connect
/// Discovery §3).
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// What goes into the authorization request besides the fixed parameters.
pub struct AuthorizationRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_challenge: &'a str,
}

/// The authorization endpoint with the request in its query, added to any query the
/// endpoint already has (OpenID Connect Core §3.1.2.1).
pub fn authorization_url(
    endpoint: &str,
    request: &AuthorizationRequest<'_>,
) -> Result<String, url::ParseError> {
    let mut url = Url::parse(endpoint)?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", request.client_id)
        .append_pair("redirect_uri", request.redirect_uri)
        .append_pair("scope", SCOPE)
        .append_pair("state", request.state)
        .append_pair("nonce", request.nonce)
        .append_pair("code_challenge", request.code_challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(url.into())
}

/// The end-session endpoint with an RP-initiated logout request (OpenID Connect
/// RP-Initiated Logout 1.0 §2).
pub fn end_session_url(
    endpoint: &str,
    id_token_hint: &str,
    post_logout_redirect_uri: &str,
    client_id: &str,
) -> Result<String, url::ParseError> {
    let mut url = Url::parse(endpoint)?;
    url.query_pairs_mut()
        .append_pair("id_token_hint", id_token_hint)
        .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
        .append_pair("client_id", client_id);
    Ok(url.into())
}

/// The `Authorization` header of `client_secret_basic`. RFC 6749 §2.3.1 form-urlencodes
/// the id and the secret before joining them, so a `:` in either cannot shift the split.
pub fn client_secret_basic(client_id: &str, client_secret: &str) -> String {
    let id: String = byte_serialize(client_id.as_bytes()).collect();
    let secret: String = byte_serialize(client_secret.as_bytes()).collect();
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// Why an ID token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the ID token is not a readable JSON Web Token")]
    Malformed,
    #[error("the ID token was issued by {0:?}, not by the issuer this product trusts")]
    WrongIssuer(String),
    #[error("the ID token was issued to another product")]
    WrongAudience,
    #[error("the ID token does not belong to this sign-in (nonce mismatch)")]
    WrongNonce,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token carries no e-mail address")]
    NoEmail,
}

/// What the ID token of this sign-in must say.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// The person an accepted ID token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub email: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, client_id: &str) -> bool {
        match self {
            Self::One(aud) => aud == client_id,
            Self::Many(auds) => auds.iter().any(|aud| aud == client_id),
        }
    }

    fn is_many(&self) -> bool {
        matches!(self, Self::Many(auds) if auds.len() > 1)
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    exp: i64,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// Reads an ID token and applies the checks of OpenID Connect Core §3.1.3.7.
///
/// The signature is not checked. Rule 6 allows that: this token came straight from the
/// token endpoint, over the product's own request to the issuer it was configured with, in
/// exchange for a single-use code bound to this sign-in by PKCE, so the exchange itself
/// stands in for the signature. A token that reached the product any other way (through
/// the browser, from a cache) would have to be verified against the JWKS.
pub fn check_id_token(id_token: &str, expected: &Expected<'_>) -> Result<Identity, IdTokenError> {
    let mut parts = id_token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| IdTokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&json).map_err(|_| IdTokenError::Malformed)?;
    // Rule 2: the issuer is exactly the one discovery was read from.
    if claims.iss != expected.issuer {
        return Err(IdTokenError::WrongIssuer(claims.iss));
    }
    // Rules 3 to 5: issued to us, and when there are several audiences, for us.
    if !claims.aud.contains(expected.client_id) {
        return Err(IdTokenError::WrongAudience);
    }
    let azp_ok = match &claims.azp {
        Some(azp) => azp == expected.client_id,
        None => !claims.aud.is_many(),
    };
    if !azp_ok {
        return Err(IdTokenError::WrongAudience);
    }
    // Rule 9: not yet expired.
    if claims.exp <= expected.now {
        return Err(IdTokenError::Expired);
    }
    // Rule 11: the nonce sent with this sign-in comes back, which ties the token to it.
    if claims.nonce.as_deref() != Some(expected.nonce) {
        return Err(IdTokenError::WrongNonce);
    }
    match claims.email {
        Some(email) if !email.is_empty() => Ok(Identity { email }),
        Some(_) | None => Err(IdTokenError::NoEmail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "http://127.0.0.1:8080";
    const CLIENT: &str = "demo-product";
    const NONCE: &str = "n-0S6_WzA2Mj";
    const NOW: i64 = 1_700_000_000;

    fn token(claims: serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.c2lnbmF0dXJl")
    }

    fn good_claims() -> serde_json::Value {
        json!({
            "iss": ISSUER,
            "sub": "0190aaaa",
            "aud": CLIENT,
            "exp": NOW + 900,
            "iat": NOW,
            "nonce": NONCE,
            "email": "ada@example.com",
            "email_verified": true,
        })
    }

    fn with(field: &str, value: serde_json::Value) -> String {
        let mut claims = good_claims();
        claims[field] = value;
        token(claims)
    }

    fn check(id_token: &str) -> Result<Identity, IdTokenError> {
        check_id_token(
            id_token,
            &Expected {
                issuer: ISSUER,
                client_id: CLIENT,
                nonce: NONCE,
                now: NOW,
            },
        )
    }

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_are_43_url_safe_characters_and_differ() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 43);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
    }

    #[test]
    fn a_good_id_token_gives_the_email() {
        assert_eq!(
            check(&token(good_claims())),
            Ok(Identity {
                email: "ada@example.com".into()
            })
        );
    }

    #[test]
    fn an_audience_list_holding_the_client_is_accepted() {
        assert!(check(&with("aud", json!([CLIENT]))).is_ok());
    }

    #[test]
    fn another_issuer_is_refused() {
        assert_eq!(
            check(&with("iss", json!("http://127.0.0.1:9999"))),
            Err(IdTokenError::WrongIssuer("http://127.0.0.1:9999".into()))
        );
    }

    #[test]
    fn an_issuer_with_a_trailing_slash_is_another_issuer() {
        assert!(matches!(
            check(&with("iss", json!("http://127.0.0.1:8080/"))),
            Err(IdTokenError::WrongIssuer(_))
        ));
    }

    #[test]
    fn another_audience_is_refused() {
        assert_eq!(
            check(&with("aud", json!("other-product"))),
            Err(IdTokenError::WrongAudience)
        );
        assert_eq!(
            check(&with("aud", json!(["other-product"]))),
            Err(IdTokenError::WrongAudience)
        );
    }

    #[test]
    fn several_audiences_need_azp_naming_the_client() {
        assert_eq!(
            check(&with("aud", json!([CLIENT, "other-product"]))),
            Err(IdTokenError::WrongAudience)
        );
        let mut claims = good_claims();
        claims["aud"] = json!([CLIENT, "other-product"]);
        claims["azp"] = json!("other-product");
        assert_eq!(check(&token(claims)), Err(IdTokenError::WrongAudience));
        let mut claims = good_claims();
        claims["aud"] = json!([CLIENT, "other-product"]);
        claims["azp"] = json!(CLIENT);
        assert!(check(&token(claims)).is_ok());
    }

    #[test]
    fn a_wrong_or_missing_nonce_is_refused() {
        assert_eq!(
            check(&with("nonce", json!("another-nonce"))),
            Err(IdTokenError::WrongNonce)
        );
        let mut claims = good_claims();
        claims.as_object_mut().map(|c| c.remove("nonce"));
        assert_eq!(check(&token(claims)), Err(IdTokenError::WrongNonce));
    }

    #[test]
    fn an_expired_token_is_refused() {
        assert_eq!(
            check(&with("exp", json!(NOW - 1))),
            Err(IdTokenError::Expired)
        );
        assert_eq!(check(&with("exp", json!(NOW))), Err(IdTokenError::Expired));
    }

    #[test]
    fn a_token_without_email_is_refused() {
        let mut claims = good_claims();
        claims.as_object_mut().map(|c| c.remove("email"));
        assert_eq!(check(&token(claims)), Err(IdTokenError::NoEmail));
    }

    #[test]
    fn garbage_is_malformed() {
        for garbage in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "eyJhbGciOiJub25lIn0.!!!.sig",
            "eyJhbGciOiJub25lIn0.bm90IGpzb24.sig",
        ] {
            assert_eq!(check(garbage), Err(IdTokenError::Malformed), "{garbage}");
        }
        let mut claims = good_claims();
        claims.as_object_mut().map(|c| c.remove("exp"));
        assert_eq!(check(&token(claims)), Err(IdTokenError::Malformed));
    }

    #[test]
    fn the_authorization_url_carries_every_parameter() {
        let url = authorization_url(
            "http://127.0.0.1:8080/oauth2/authorize",
            &AuthorizationRequest {
                client_id: CLIENT,
                redirect_uri: "http://127.0.0.1:8081/callback",
                state: "s t",
                nonce: NONCE,
                code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            },
        );
        assert_eq!(
            url.as_deref(),
            Ok("http://127.0.0.1:8080/oauth2/authorize?response_type=code\
                &client_id=demo-product\
                &redirect_uri=http%3A%2F%2F127.0.0.1%3A8081%2Fcallback\
                &scope=openid+email&state=s+t&nonce=n-0S6_WzA2Mj\
                &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
                &code_challenge_method=S256")
        );
    }

    #[test]
    fn the_end_session_url_carries_hint_redirect_and_client() {
        let url = end_session_url(
            "http://127.0.0.1:8080/oauth2/logout",
            "a.b.c",
            "http://127.0.0.1:8081/",
            CLIENT,
        );
        assert_eq!(
            url.as_deref(),
            Ok("http://127.0.0.1:8080/oauth2/logout?id_token_hint=a.b.c\
                &post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A8081%2F\
                &client_id=demo-product")
        );
    }

    #[test]
    fn basic_authentication_encodes_before_joining() {
        // "Aladdin" / "open sesame" from RFC 7617 §2, with the space form-encoded as '+'.
        assert_eq!(
            client_secret_basic("Aladdin", "open sesame"),
            format!("Basic {}", STANDARD.encode("Aladdin:open+sesame"))
        );
        assert_eq!(
            client_secret_basic("a:b", "c"),
            format!("Basic {}", STANDARD.encode("a%3Ab:c"))
        );
    }
}
