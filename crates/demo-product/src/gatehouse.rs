//! Gatehouse as the product sees it: an issuer reached over HTTP. This module reads the
//! discovery document (once, then from memory) and exchanges codes at the token endpoint.
//! It follows no redirects and gives every request a deadline, so a slow or missing
//! provider becomes an error page rather than a hung browser. It decides nothing about
//! tokens; `oidc` does.

use crate::oidc::{client_secret_basic, Discovery};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Long enough for a busy provider, short enough that a person is not left waiting.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum GatehouseError {
    /// No answer: refused connection, timeout, broken response.
    #[error("Gatehouse could not be reached: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// An OAuth error response (RFC 6749 §5.2).
    #[error("Gatehouse refused: {error}")]
    Refused {
        error: String,
        description: Option<String>,
    },
    /// An answer that is not what the protocol promises.
    #[error("Gatehouse answered unexpectedly: {0}")]
    Unexpected(String),
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    id_token: Option<String>,
}

pub struct Gatehouse {
    issuer: String,
    http: reqwest::Client,
    discovery: OnceCell<Discovery>,
}

impl Gatehouse {
    pub fn new(issuer: String) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            issuer,
            http,
            discovery: OnceCell::new(),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The discovery document, fetched on first use and kept once it was read successfully;
    /// a failure is not remembered, so the next sign-in tries again.
    pub async fn discovery(&self) -> Result<&Discovery, GatehouseError> {
        self.discovery
            .get_or_try_init(|| self.fetch_discovery())
            .await
    }

    async fn fetch_discovery(&self) -> Result<Discovery, GatehouseError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let response = self
            .http
            .get(&url)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(GatehouseError::Unreachable)?;
        if !response.status().is_success() {
            return Err(GatehouseError::Unexpected(format!(
                "{url} answered with status {}",
                response.status()
            )));
        }
        let discovery: Discovery = response.json().await.map_err(|e| {
            GatehouseError::Unexpected(format!("{url} is not a discovery document: {e}"))
        })?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was read from,
        // or a look-alike could hand out another provider's endpoints.
        if discovery.issuer != self.issuer {
            return Err(GatehouseError::Unexpected(format!(
                "the discovery document names the issuer {:?}, not {:?}",
                discovery.issuer, self.issuer
            )));
        }
        Ok(discovery)
    }

    /// Exchanges an authorization code for tokens with `client_secret_basic` (OpenID
    /// Connect Core §3.1.3.1) and returns the ID token.
    pub async fn exchange_code(
        &self,
        token_endpoint: &str,
        client: (&str, &str),
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<String, GatehouseError> {
        let (client_id, client_secret) = client;
        let response = self
            .http
            .post(token_endpoint)
            .header(AUTHORIZATION, client_secret_basic(client_id, client_secret))
            .header(ACCEPT, "application/json")
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier),
            ])
            .send()
            .await
            .map_err(GatehouseError::Unreachable)?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(GatehouseError::Unreachable)?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorResponse>(&body) {
                Ok(refusal) => GatehouseError::Refused {
                    error: refusal.error,
                    description: refusal.error_description,
                },
                Err(_) => GatehouseError::Unexpected(format!(
                    "the token endpoint answered with status {status}"
                )),
            });
        }
        let tokens: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            GatehouseError::Unexpected(format!("the token response is not JSON: {e}"))
        })?;
        tokens.id_token.ok_or_else(|| {
            GatehouseError::Unexpected("the token response holds no ID token".into())
        })
    }
}
