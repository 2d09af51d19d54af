//! Registering products (`gatehouse client add|list|remove`). A confidential client's
//! secret is 256 random bits, returned once and stored as its SHA-256 hash.

use crate::{AppError, Gatehouse};
use gatehouse_core::jose::SigningAlgorithm;
use gatehouse_core::oidc::{RedirectUri, RedirectUriError};
use gatehouse_core::Token;
use gatehouse_store::ClientRow;

/// What `client add` asks for.
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub third_party: bool,
    pub signing_alg: SigningAlgorithm,
    /// A fixed id (the demo product's); otherwise a random one.
    pub id: Option<String>,
}

/// A registered client as the CLI shows it; never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSummary {
    pub id: String,
    pub name: String,
    pub public: bool,
    pub third_party: bool,
    pub signing_alg: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
}

/// A client just registered, with its secret (confidential clients only, shown once).
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client: ClientSummary,
    pub secret: Option<Token>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the name must be 1 to 100 characters")]
    BadName,
    #[error("at least one --redirect-uri is needed")]
    NoRedirectUri,
    #[error("redirect URI {uri:?}: {reason}")]
    BadRedirectUri {
        uri: String,
        reason: RedirectUriError,
    },
    #[error("a client with this id exists")]
    Exists,
    #[error("no client has this id")]
    Unknown,
    #[error(transparent)]
    App(#[from] AppError),
}

conflict_means!(ClientError, Exists);

pub(super) fn summary(row: &ClientRow) -> ClientSummary {
    ClientSummary {
        id: row.id.clone(),
        name: row.name.clone(),
        public: row.is_public(),
        third_party: row.third_party,
        signing_alg: row.signing_alg.clone(),
        redirect_uris: row.redirect_uris.clone(),
        post_logout_redirect_uris: row.post_logout_redirect_uris.clone(),
    }
}

fn checked_uris(uris: &[String]) -> Result<Vec<String>, ClientError> {
    uris.iter()
        .map(|uri| {
            RedirectUri::parse(uri)
                .map(|ok| ok.as_str().to_string())
                .map_err(|reason| ClientError::BadRedirectUri {
                    uri: uri.clone(),
                    reason,
                })
        })
        .collect()
}

impl Gatehouse {
    /// Registers a product; `replace` overwrites a client with the same fixed id (the demo
    /// product, whose address and secret change at every start).
    pub async fn register_client(
        &self,
        registration: ClientRegistration,
        replace: bool,
    ) -> Result<RegisteredClient, ClientError> {
        let name = registration.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ClientError::BadName);
        }
        if registration.redirect_uris.is_empty() {
            return Err(ClientError::NoRedirectUri);
        }
        let redirect_uris = checked_uris(&registration.redirect_uris)?;
        let post_logout_redirect_uris = checked_uris(&registration.post_logout_redirect_uris)?;
        let secret = (!registration.public).then(Token::generate);
        let row = ClientRow {
            id: registration
                .id
                .unwrap_or_else(|| Token::generate().as_str()[..22].to_string()),
            name,
            // A public client is one without a secret (`ClientRow::is_public`).
            secret_hash: secret.as_ref().map(|s| s.hash().0.to_vec()),
            third_party: registration.third_party,
            signing_alg: registration.signing_alg.as_str().to_string(),
            redirect_uris,
            post_logout_redirect_uris,
            created_at: self.now(),
        };
        if replace {
            self.inner.store.upsert_client(&row).await?;
            self.inner.clients_this_second.forget();
        } else {
            self.inner.store.insert_client(&row).await?;
        }
        Ok(RegisteredClient {
            client: summary(&row),
            secret,
        })
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientSummary>, AppError> {
        let rows = self.inner.store.list_clients().await?;
        Ok(rows.iter().map(summary).collect())
    }

    /// Removes a product and every grant, code and token it holds.
    pub async fn remove_client(&self, id: &str) -> Result<(), ClientError> {
        if self.inner.store.delete_client(id).await? {
            self.inner.clients_this_second.forget();
            Ok(())
        } else {
            Err(ClientError::Unknown)
        }
    }

    pub(super) async fn find_client(&self, id: &str) -> Result<Option<ClientRow>, AppError> {
        Ok(self.inner.store.find_client(id).await?)
    }

    /// For client authentication at the token, introspection and revocation endpoints,
    /// which products call many times a second: a registration read in this clock second
    /// is reused (a secret changed or a client removed by another process takes effect
    /// within a second).
    pub(super) async fn find_client_this_second(
        &self,
        id: &str,
    ) -> Result<Option<ClientRow>, AppError> {
        let now = self.now();
        if let Some(client) = self.inner.clients_this_second.get(id, now) {
            return Ok(Some(client));
        }
        let seen = self.inner.clients_this_second.generation();
        let found = self.find_client(id).await?;
        if let Some(client) = &found {
            self.inner
                .clients_this_second
                .keep(id, now, seen, client.clone());
        }
        Ok(found)
    }
}
