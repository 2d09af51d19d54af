//! The token endpoint (RFC 6749 §4.1.3, §6), userinfo (Core §5.3), revocation (RFC 7009)
//! and introspection (RFC 7662).
//!
//! Codes are single use (S39) and refresh tokens rotate (S44): both are consumed with a
//! compare-and-set, and a second presentation revokes the whole grant, because only a thief
//! or a broken product presents one twice. Every issue re-checks that the account is still
//! enabled (S33, S49). None of this waits behind password hashing: client secrets and
//! tokens are 256-bit random values, checked by SHA-256.

use crate::audit::{Event, Method, Record};
use crate::{AppError, ClientInfo, Gatehouse, Inconsistent};
use gatehouse_core::jose::SigningAlgorithm;
use gatehouse_core::oidc::{
    self, CodeChallenge, Scopes, ACCESS_TOKEN_LIFETIME_SECS, ID_TOKEN_LIFETIME_SECS,
    REFRESH_TOKEN_LIFETIME_SECS,
};
use gatehouse_core::{Proof, Token};
use gatehouse_store::{
    ClientRow, GrantRow, NewToken, StoreError, StoreResult, TokenKind, TokenRow,
};
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

/// How the client presented itself (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    pub client_id: Option<String>,
    pub secret: Option<String>,
    /// Whether they came in an `Authorization: Basic` header (the 401 must then say so).
    pub basic: bool,
}

/// The form of a token request.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

/// RFC 6749 §5.2's errors, with what to tell the product.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    #[error("invalid_client")]
    InvalidClient { basic: bool },
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope")]
    InvalidScope,
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<gatehouse_store::StoreError> for TokenError {
    fn from(error: gatehouse_store::StoreError) -> Self {
        Self::App(error.into())
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub access_token: Token,
    pub expires_in: i64,
    pub id_token: String,
    pub scope: String,
    pub refresh_token: Option<Token>,
}

/// RFC 7662 §2.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    Inactive,
    Active {
        scope: String,
        client_id: String,
        sub: String,
        exp: i64,
        iat: i64,
        token_type: &'static str,
    },
}

impl Gatehouse {
    /// RFC 6749 §2.3.1: one method only; a confidential client proves its secret, a public
    /// one has none to prove (PKCE binds its code instead).
    async fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<ClientRow, TokenError> {
        let invalid = || TokenError::InvalidClient {
            basic: credentials.basic,
        };
        let id = credentials.client_id.as_deref().ok_or_else(invalid)?;
        let client = self
            .find_client_this_second(id)
            .await?
            .ok_or_else(invalid)?;
        match (&client.secret_hash, &credentials.secret) {
            (None, None) => Ok(client),
            (Some(stored), Some(presented)) => {
                let presented = Token::parse(presented).map(|t| t.hash().0);
                let matches = presented
                    .is_some_and(|hash| bool::from(hash.as_slice().ct_eq(stored.as_slice())));
                if matches {
                    Ok(client)
                } else {
                    Err(invalid())
                }
            }
            // A confidential client without its secret, or a secret for a public client.
            _ => Err(invalid()),
        }
    }

    /// `POST /oauth2/token`.
    pub async fn token(
        &self,
        credentials: &ClientCredentials,
        request: &TokenRequest,
        client_info: &ClientInfo,
    ) -> Result<TokenResponse, TokenError> {
        // S41: only these two grants; never password or implicit.
        match request.grant_type.as_deref() {
            Some("authorization_code") => {
                let client = self.authenticate_client(credentials).await?;
                self.exchange_code(&client, request, client_info).await
            }
            Some("refresh_token") => {
                let client = self.authenticate_client(credentials).await?;
                self.refresh(&client, request, client_info).await
            }
            None => Err(TokenError::InvalidRequest("grant_type is required")),
            Some(_) => Err(TokenError::UnsupportedGrantType),
        }
    }

    async fn exchange_code(
        &self,
        client: &ClientRow,
        request: &TokenRequest,
        client_info: &ClientInfo,
    ) -> Result<TokenResponse, TokenError> {
        let presented = request
            .code
            .as_deref()
            .ok_or(TokenError::InvalidRequest("code is required"))?;
        let unknown = TokenError::InvalidGrant("the code is unknown, used or expired");
        let Some(code) = Token::parse(presented) else {
            return Err(unknown);
        };
        let code_hash = code.hash().0;
        let now = self.now();
        let Some(found) = self.inner.store.find_authorization_code(&code_hash).await? else {
            return Err(unknown);
        };
        if found.grant.client_id != client.id {
            return Err(unknown);
        }
        if found.used_at.is_some() {
            // S39: a second use revokes what the first one bought.
            self.revoke_replayed_grant(&found.grant, Method::AuthorizationCode, client_info)
                .await?;
            return Err(unknown);
        }
        if found.expires_at <= now || !found.grant.is_live(now) {
            return Err(unknown);
        }
        if request.redirect_uri.as_deref() != Some(found.redirect_uri.as_str()) {
            return Err(TokenError::InvalidGrant(
                "redirect_uri differs from the authorization request",
            ));
        }
        // S40: the verifier must match the challenge; a verifier without a challenge is a
        // downgrade attempt (RFC 9700 §4.8.2).
        match (&found.code_challenge, request.code_verifier.as_deref()) {
            (Some(challenge), Some(verifier))
                if CodeChallenge::from_stored(challenge.clone()).is_met_by(verifier) => {}
            (None, None) => {}
            _ => {
                return Err(TokenError::InvalidGrant(
                    "the PKCE code_verifier does not match",
                ))
            }
        }
        let scopes = Scopes::parse(&found.grant.scope).map_err(|_| TokenError::InvalidScope)?;
        let (tokens, access, refresh) = self.new_tokens(&found.grant, &scopes, now);
        let issued = self
            .inner
            .store
            .redeem_authorization_code(&code_hash, &found.grant.id, now, &tokens)
            .await;
        if !self
            .issued_or_replayed(issued, &found.grant, Method::AuthorizationCode, client_info)
            .await?
        {
            return Err(TokenError::InvalidGrant(
                "the code is unknown, used or expired",
            ));
        }
        self.token_response(client, &found.grant, scopes, access, refresh, now)
            .await
    }

    async fn refresh(
        &self,
        client: &ClientRow,
        request: &TokenRequest,
        client_info: &ClientInfo,
    ) -> Result<TokenResponse, TokenError> {
        let presented = request
            .refresh_token
            .as_deref()
            .ok_or(TokenError::InvalidRequest("refresh_token is required"))?;
        let invalid = || TokenError::InvalidGrant("the refresh token is not valid");
        let Some(token) = Token::parse(presented) else {
            return Err(invalid());
        };
        let old_hash = token.hash().0;
        let now = self.now();
        let Some(found) = self.inner.store.find_token(&old_hash).await? else {
            return Err(invalid());
        };
        if found.kind != TokenKind::Refresh || found.grant.client_id != client.id {
            return Err(invalid());
        }
        if found.used_at.is_some() {
            // S44: a rotated-away token came back: revoke the whole family.
            self.revoke_replayed_grant(&found.grant, Method::RefreshToken, client_info)
                .await?;
            return Err(invalid());
        }
        if !found.is_live(now) {
            return Err(invalid());
        }
        let granted = Scopes::parse(&found.scope).map_err(|_| TokenError::InvalidScope)?;
        let scopes = match request.scope.as_deref() {
            None => granted,
            Some(text) => Scopes::parse(text)
                .ok()
                .filter(|s| s.is_within(&granted))
                .ok_or(TokenError::InvalidScope)?,
        };
        let (tokens, access, refresh) = self.new_tokens(&found.grant, &scopes, now);
        let issued = self
            .inner
            .store
            .rotate_refresh_token(&old_hash, &found.grant.id, now, &tokens)
            .await;
        if !self
            .issued_or_replayed(issued, &found.grant, Method::RefreshToken, client_info)
            .await?
        {
            return Err(invalid());
        }
        self.token_response(client, &found.grant, scopes, access, refresh, now)
            .await
    }

    /// An access token, and a refresh token when the grant holds `offline_access`.
    fn new_tokens(
        &self,
        grant: &GrantRow,
        scopes: &Scopes,
        now: i64,
    ) -> (Vec<NewToken>, Token, Option<Token>) {
        let access = Token::generate();
        let mut tokens = vec![NewToken {
            token_hash: access.hash().0,
            kind: TokenKind::Access,
            scope: scopes.to_text(),
            created_at: now,
            expires_at: (now + ACCESS_TOKEN_LIFETIME_SECS).min(grant.expires_at),
        }];
        let refresh = scopes.contains("offline_access").then(Token::generate);
        if let Some(refresh) = &refresh {
            tokens.push(NewToken {
                token_hash: refresh.hash().0,
                kind: TokenKind::Refresh,
                scope: scopes.to_text(),
                created_at: now,
                expires_at: (now + REFRESH_TOKEN_LIFETIME_SECS).min(grant.expires_at),
            });
        }
        (tokens, access, refresh)
    }

    async fn token_response(
        &self,
        client: &ClientRow,
        grant: &GrantRow,
        scopes: Scopes,
        access: Token,
        refresh: Option<Token>,
        now: i64,
    ) -> Result<TokenResponse, TokenError> {
        let id_token = self.id_token(client, grant, &scopes, now).await?;
        Ok(TokenResponse {
            access_token: access,
            expires_in: ACCESS_TOKEN_LIFETIME_SECS,
            id_token,
            scope: scopes.to_text(),
            refresh_token: refresh,
        })
    }

    /// S42: exact `iss`, `aud` and `azp` the client, the stable `sub` (the account id, never
    /// reused), the sign-in's `auth_time`, `amr` and `acr`, and the request's `nonce`.
    async fn id_token(
        &self,
        client: &ClientRow,
        grant: &GrantRow,
        scopes: &Scopes,
        now: i64,
    ) -> Result<String, AppError> {
        let proof = Proof::parse(&grant.proof).ok_or_else(|| {
            AppError::unexpected(Inconsistent::new(format!("unknown proof {}", grant.proof)))
        })?;
        let mut claims = Map::new();
        claims.insert("iss".into(), self.issuer().into());
        claims.insert("sub".into(), grant.account_id.as_str().into());
        claims.insert("aud".into(), client.id.clone().into());
        claims.insert("azp".into(), client.id.clone().into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + ID_TOKEN_LIFETIME_SECS).into());
        claims.insert("auth_time".into(), grant.auth_time.into());
        claims.insert("amr".into(), json!(oidc::amr(proof)));
        claims.insert("acr".into(), oidc::acr(proof).into());
        if let Some(nonce) = &grant.nonce {
            claims.insert("nonce".into(), nonce.clone().into());
        }
        if scopes.contains("email") {
            claims.insert("email".into(), grant.email.clone().into());
            // The address was proven by a code sent to it (sign-up, e-mail change) or set by
            // an operator who vouches for it.
            claims.insert("email_verified".into(), true.into());
        }
        let alg = SigningAlgorithm::parse(&client.signing_alg).unwrap_or(SigningAlgorithm::Rs256);
        self.sign_jwt(alg, &claims).await
    }

    /// The outcome of consuming a code or refresh token and storing its successors. A
    /// `Conflict` means a parallel request consumed it first, and the loser of that race is
    /// a replay too: the whole grant is revoked (S39, S44). True when the tokens were issued.
    async fn issued_or_replayed(
        &self,
        issued: StoreResult<()>,
        grant: &GrantRow,
        what: Method<'_>,
        client_info: &ClientInfo,
    ) -> Result<bool, AppError> {
        match issued {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => {
                self.revoke_replayed_grant(grant, what, client_info).await?;
                Ok(false)
            }
            Err(other) => Err(other.into()),
        }
    }

    async fn revoke_replayed_grant(
        &self,
        grant: &GrantRow,
        what: Method<'_>,
        client_info: &ClientInfo,
    ) -> Result<(), AppError> {
        self.inner.store.revoke_grant(&grant.id, self.now()).await?;
        self.record(Record {
            event: Event::TokenReplayed,
            account_id: Some(&grant.account_id),
            email: None,
            method: Some(what),
            client: client_info,
        })
        .await;
        Ok(())
    }

    /// A live access token, for userinfo.
    async fn live_access_token(&self, bearer: &str) -> Result<Option<TokenRow>, AppError> {
        let Some(token) = Token::parse(bearer) else {
            return Ok(None);
        };
        let found = self.inner.store.find_token(&token.hash().0).await?;
        Ok(found.filter(|t| t.kind == TokenKind::Access && t.is_live(self.now())))
    }

    /// `GET /oauth2/userinfo` (Core §5.3): `None` for a bad token.
    pub async fn userinfo(&self, bearer: &str) -> Result<Option<Value>, AppError> {
        let Some(token) = self.live_access_token(bearer).await? else {
            return Ok(None);
        };
        let mut claims = Map::new();
        claims.insert("sub".into(), token.grant.account_id.as_str().into());
        if Scopes::parse(&token.scope).is_ok_and(|s| s.contains("email")) {
            claims.insert("email".into(), token.grant.email.clone().into());
            claims.insert("email_verified".into(), true.into());
        }
        Ok(Some(Value::Object(claims)))
    }

    /// `POST /oauth2/revoke` (RFC 7009). Unknown tokens and other clients' tokens are not
    /// errors (§2.2): the answer tells nothing.
    pub async fn revoke_token(
        &self,
        credentials: &ClientCredentials,
        presented: &str,
    ) -> Result<(), TokenError> {
        let client = self.authenticate_client(credentials).await?;
        let Some(token) = Token::parse(presented) else {
            return Ok(());
        };
        let hash = token.hash().0;
        let Some(found) = self.inner.store.find_token(&hash).await? else {
            return Ok(());
        };
        if found.grant.client_id != client.id {
            return Ok(());
        }
        match found.kind {
            // Revoking a refresh token ends its grant: every access token too (§2.1).
            TokenKind::Refresh => {
                self.inner
                    .store
                    .revoke_grant(&found.grant.id, self.now())
                    .await?;
            }
            TokenKind::Access => self.inner.store.delete_token(&hash).await?,
        }
        Ok(())
    }

    /// `POST /oauth2/introspect` (RFC 7662): a client sees only its own tokens as active.
    pub async fn introspect(
        &self,
        credentials: &ClientCredentials,
        presented: &str,
    ) -> Result<Introspection, TokenError> {
        let client = self.authenticate_client(credentials).await?;
        let Some(token) = Token::parse(presented) else {
            return Ok(Introspection::Inactive);
        };
        let found = self.inner.store.find_token(&token.hash().0).await?;
        Ok(match found {
            Some(t) if t.is_live(self.now()) && t.grant.client_id == client.id => {
                Introspection::Active {
                    scope: t.scope,
                    client_id: t.grant.client_id,
                    sub: t.grant.account_id.to_string(),
                    exp: t.expires_at,
                    iat: t.created_at,
                    token_type: match t.kind {
                        TokenKind::Access => "Bearer",
                        TokenKind::Refresh => "refresh_token",
                    },
                }
            }
            _ => Introspection::Inactive,
        })
    }
}
