//! The OpenID Connect provider's use cases: products (`clients`), signing keys (`keys`),
//! the authorization endpoint (`authorize`), tokens, userinfo, revocation and
//! introspection (`tokens`), and RP-initiated logout (`logout`).
//!
//! Every token is issued from a session that the one sign-in of DESIGN.md §1 created (S49);
//! nothing here checks a password or a code itself.

pub mod authorize;
pub mod clients;
mod keys;
pub mod logout;
pub mod tokens;

use crate::Gatehouse;
use gatehouse_core::oidc::SUPPORTED_SCOPES;
use serde_json::{json, Value};

/// `uri` with `pairs` added to its query, form-encoded.
pub(crate) fn append_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return uri.to_string();
    }
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{encoded}")
}

impl Gatehouse {
    /// The issuer: the public URL, or the listening address (exactly what `iss` says).
    pub fn issuer(&self) -> String {
        self.link_base()
    }

    /// `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3).
    pub fn discovery_document(&self) -> Value {
        let issuer = self.issuer();
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
            "token_endpoint": format!("{issuer}/oauth2/token"),
            "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
            "jwks_uri": format!("{issuer}/oauth2/jwks"),
            "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
            "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
            "end_session_endpoint": format!("{issuer}/oauth2/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": SUPPORTED_SCOPES,
            "claims_supported": ["iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "amr", "acr", "email", "email_verified"],
            "prompt_values_supported": ["none", "login", "consent"],
            "acr_values_supported": [gatehouse_core::oidc::ACR_MFA, gatehouse_core::oidc::ACR_TRUSTED_DEVICE],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
        })
    }
}

/// A row read from the database, reused for the rest of the clock second it was read in.
///
/// For what products ask many times a second and changes rarely (a client's registration,
/// the active signing key): a change made by another process or node is seen within a
/// second, one made through this process at once (`forget`). Only rows that exist are kept,
/// and at most `READ_THIS_SECOND_ENTRIES`, so a flood of unknown ids costs reads, not memory.
///
/// A read that began before a `forget` is never kept: a slow read of the old rows, ending
/// after a change here was committed and forgotten, would otherwise be served for the rest
/// of the second (a JWKS without the key that had just signed a token). So callers take
/// `generation()` before they read, and `keep` drops the row when a `forget` came between.
pub(crate) struct ReadThisSecond<T> {
    rows: std::sync::Mutex<Kept<T>>,
}

struct Kept<T> {
    /// Moves on with every `forget`.
    generation: u64,
    rows: std::collections::HashMap<String, (i64, T)>,
}

const READ_THIS_SECOND_ENTRIES: usize = 1024;

impl<T> Default for ReadThisSecond<T> {
    fn default() -> Self {
        Self {
            rows: std::sync::Mutex::new(Kept {
                generation: 0,
                rows: std::collections::HashMap::new(),
            }),
        }
    }
}

impl<T: Clone> ReadThisSecond<T> {
    pub(crate) fn get(&self, key: &str, now: i64) -> Option<T> {
        let kept = self.rows.lock().ok()?;
        kept.rows
            .get(key)
            .filter(|(read_at, _)| *read_at == now)
            .map(|(_, row)| row.clone())
    }

    /// Taken before reading what will be kept.
    pub(crate) fn generation(&self) -> u64 {
        self.rows.lock().map_or(u64::MAX, |kept| kept.generation)
    }

    /// Keeps `row`, read after `generation()` gave `seen`, unless a `forget` came since.
    pub(crate) fn keep(&self, key: &str, now: i64, seen: u64, row: T) {
        if let Ok(mut kept) = self.rows.lock() {
            if kept.generation != seen {
                return;
            }
            if kept.rows.len() >= READ_THIS_SECOND_ENTRIES {
                kept.rows.retain(|_, (read_at, _)| *read_at == now);
            }
            if kept.rows.len() < READ_THIS_SECOND_ENTRIES {
                kept.rows.insert(key.to_string(), (now, row));
            }
        }
    }

    pub(crate) fn forget(&self) {
        if let Ok(mut kept) = self.rows.lock() {
            kept.generation = kept.generation.wrapping_add(1);
            kept.rows.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReadThisSecond;

    #[test]
    fn a_read_that_began_before_a_forget_is_not_kept() {
        let cache = ReadThisSecond::default();
        let seen = cache.generation();
        // The keys change here while the read of the old ones is still on its way.
        cache.forget();
        cache.keep("jwks", 7, seen, "old keys".to_string());
        assert_eq!(cache.get("jwks", 7), None);

        let seen = cache.generation();
        cache.keep("jwks", 7, seen, "new keys".to_string());
        assert_eq!(cache.get("jwks", 7).as_deref(), Some("new keys"));
        assert_eq!(cache.get("jwks", 8), None, "kept for its own second only");
    }
}
