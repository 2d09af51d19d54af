//! ID-token signing keys: created at first start, sealed under the master key, shared by
//! every node through the database, rotated by `gatehouse keys rotate` (S42).
//!
//! Decrypted keys are cached per `kid` (a key never changes once written); which key signs
//! is read from the database at every issue, so a rotation on one node is followed by all.

use crate::{AppError, Gatehouse, Inconsistent};
use gatehouse_core::ids::new_id;
use gatehouse_core::jose::{self, SigningAlgorithm, SigningKey};
use gatehouse_core::oidc::ID_TOKEN_LIFETIME_SECS;
use gatehouse_store::SigningKeyRow;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Associated data binding a sealed key to its id: a sealed key copied onto another row
/// does not open.
fn sealing_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// The JWKS document's one entry in `jwks_this_second`.
const JWKS: &str = "jwks";

impl Gatehouse {
    /// Creates a key for every algorithm that has none. Run in the background at every
    /// start (an RSA key takes a while to make, and must not hold up the first request), and
    /// by the first signature or JWKS request that finds none; two nodes or two requests
    /// racing may both create one, and then agree on the newest.
    pub async fn ensure_signing_keys(&self) -> Result<usize, AppError> {
        let mut missing = Vec::new();
        for alg in SigningAlgorithm::ALL {
            if self
                .inner
                .store
                .find_active_signing_key(alg.as_str())
                .await?
                .is_none()
            {
                missing.push(alg);
            }
        }
        if missing.is_empty() {
            return Ok(0);
        }
        let created = self.new_signing_key_rows(missing).await?;
        match self.inner.store.insert_signing_keys(&created, None).await {
            Ok(()) => {
                self.forget_jwks_body();
                Ok(created.len())
            }
            // Another node or request made them first: theirs are the keys.
            Err(gatehouse_store::StoreError::Conflict(_)) => Ok(0),
            Err(other) => Err(other.into()),
        }
    }

    /// `gatehouse keys rotate`: a new key per algorithm signs from now on; the old ones stay
    /// published until the tokens they signed have expired. Returns the new key ids.
    pub async fn rotate_signing_keys(&self) -> Result<Vec<String>, AppError> {
        let keys = self
            .new_signing_key_rows(SigningAlgorithm::ALL.to_vec())
            .await?;
        self.inner
            .store
            .insert_signing_keys(&keys, Some(self.now()))
            .await?;
        self.forget_jwks_body();
        Ok(keys.into_iter().map(|k| k.kid).collect())
    }

    /// New keys, sealed for the database. Made on a blocking thread: an RSA key takes tens
    /// of milliseconds of CPU, which on a runtime thread would stall every request queued
    /// behind it (the first `/healthz` after a start on an empty data folder waited 155 ms).
    async fn new_signing_key_rows(
        &self,
        algs: Vec<SigningAlgorithm>,
    ) -> Result<Vec<SigningKeyRow>, AppError> {
        let now = self.now();
        let kids: Vec<String> = algs.iter().map(|_| new_id(now)).collect();
        let wanted: Vec<(SigningAlgorithm, String)> = algs.into_iter().zip(kids).collect();
        let generated = tokio::task::spawn_blocking(move || {
            wanted
                .into_iter()
                .map(|(alg, kid)| {
                    let key = SigningKey::generate(alg, kid.clone())?;
                    Ok((alg, kid, key.to_pkcs8()?, key.public_jwk().to_string()))
                })
                .collect::<Result<Vec<_>, jose::JoseError>>()
        })
        .await
        .map_err(AppError::unexpected)?
        .map_err(AppError::unexpected)?;
        Ok(generated
            .into_iter()
            .map(|(alg, kid, der, public_jwk)| SigningKeyRow {
                sealed_key: self
                    .inner
                    .keys
                    .sealing_key()
                    .seal(der.expose(), &sealing_context(&kid)),
                public_jwk,
                kid,
                alg: alg.as_str().to_string(),
                created_at: now,
                retired_at: None,
            })
            .collect())
    }

    /// The JWKS document, serialised, as `/oauth2/jwks` serves it. It is read from the
    /// database at most once a second and served from memory in between (a rotation made
    /// by this node shows at once; one made elsewhere within a second), so a flood of JWKS
    /// requests costs no database reads.
    pub async fn jwks_body(&self) -> Result<String, AppError> {
        let now = self.now();
        let cache = &self.inner.jwks_this_second;
        if let Some(body) = cache.get(JWKS, now) {
            return Ok(body);
        }
        let seen = cache.generation();
        let body = self.jwks().await?.to_string();
        cache.keep(JWKS, now, seen, body.clone());
        Ok(body)
    }

    /// After keys were written here: the next JWKS and signature read them again.
    fn forget_jwks_body(&self) {
        self.inner.jwks_this_second.forget();
        self.inner.active_keys_this_second.forget();
    }

    /// The JWKS document: every key a product may meet in a valid token.
    pub async fn jwks(&self) -> Result<Value, AppError> {
        let store = &self.inner.store;
        let mut rows = store
            .list_published_signing_keys(self.now(), ID_TOKEN_LIFETIME_SECS)
            .await?;
        if rows.is_empty() {
            // Asked before the keys made at start exist: an empty set would be cached by
            // products and fail every token they then receive.
            self.ensure_signing_keys().await?;
            rows = store
                .list_published_signing_keys(self.now(), ID_TOKEN_LIFETIME_SECS)
                .await?;
        }
        let keys: Vec<Value> = rows
            .iter()
            .filter_map(|row| serde_json::from_str(&row.public_jwk).ok())
            .collect();
        Ok(serde_json::json!({ "keys": keys }))
    }

    fn open_signing_key(&self, row: &SigningKeyRow) -> Result<Arc<SigningKey>, AppError> {
        if let Some(key) = self.cached_signing_key(&row.kid) {
            return Ok(key);
        }
        let alg = SigningAlgorithm::parse(&row.alg).ok_or_else(|| {
            AppError::unexpected(Inconsistent::new(format!("unknown algorithm {}", row.alg)))
        })?;
        let der = self
            .inner
            .keys
            .sealing_key()
            .open(&row.sealed_key, &sealing_context(&row.kid))
            .map_err(AppError::unexpected)?;
        let key = Arc::new(
            SigningKey::from_pkcs8(alg, row.kid.clone(), &der).map_err(AppError::unexpected)?,
        );
        if let Ok(mut cache) = self.inner.signing_keys.lock() {
            cache.insert(row.kid.clone(), key.clone());
        }
        Ok(key)
    }

    fn cached_signing_key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.inner.signing_keys.lock().ok()?.get(kid).cloned()
    }

    /// The key that signs `alg` now, read at most once a clock second: a rotation made
    /// elsewhere is followed within a second (the old key stays published meanwhile, so
    /// what it signs still verifies), one made here at once.
    async fn active_signing_key(
        &self,
        alg: SigningAlgorithm,
    ) -> Result<Option<SigningKeyRow>, AppError> {
        let now = self.now();
        let cache = &self.inner.active_keys_this_second;
        if let Some(row) = cache.get(alg.as_str(), now) {
            return Ok(Some(row));
        }
        let seen = cache.generation();
        let found = self
            .inner
            .store
            .find_active_signing_key(alg.as_str())
            .await?;
        if let Some(row) = &found {
            cache.keep(alg.as_str(), now, seen, row.clone());
        }
        Ok(found)
    }

    /// Signs `claims` with the active key of `alg`.
    pub(super) async fn sign_jwt(
        &self,
        alg: SigningAlgorithm,
        claims: &Map<String, Value>,
    ) -> Result<String, AppError> {
        let mut active = self.active_signing_key(alg).await?;
        if active.is_none() {
            // The first token after a start may come before the keys made in the
            // background (`serve`) are written: make them now.
            self.ensure_signing_keys().await?;
            active = self
                .inner
                .store
                .find_active_signing_key(alg.as_str())
                .await?;
        }
        let row = active.ok_or_else(|| {
            AppError::unexpected(Inconsistent::new(format!(
                "no {} signing key",
                alg.as_str()
            )))
        })?;
        let key = self.open_signing_key(&row)?;
        key.sign(claims).map_err(AppError::unexpected)
    }

    /// The claims of a token one of our keys signed (active or retired), or `None`. Expiry
    /// is not checked: an `id_token_hint` is often an old token.
    pub(super) async fn verify_our_jwt(
        &self,
        token: &str,
    ) -> Result<Option<Map<String, Value>>, AppError> {
        let Ok(parts) = jose::split(token) else {
            return Ok(None);
        };
        let Some(kid) = parts.kid() else {
            return Ok(None);
        };
        let Some(row) = self.inner.store.find_signing_key(kid).await? else {
            return Ok(None);
        };
        let key = self.open_signing_key(&row)?;
        Ok(key.verify(token).ok())
    }
}
