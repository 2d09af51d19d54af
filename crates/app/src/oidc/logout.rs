//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). Where the browser goes
//! afterwards is a registered post-logout URI of the client the `id_token_hint` (or
//! `client_id`) names, or nowhere else (S37). Ending the session is a POST from a
//! confirmation page (S35); this module only decides whether and where.

use super::append_query;
use crate::{AppError, Gatehouse};
use serde_json::Value;

#[derive(Debug, Clone, Default)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

/// Why a sign-out request cannot be honoured (S37).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutRefusal {
    /// The `id_token_hint` is not an ID token of ours.
    ForeignToken,
    /// The hint's audience and `client_id` disagree.
    TwoClients,
    /// The `post_logout_redirect_uri` is not registered for the client.
    UnregisteredRedirect,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// The request cannot be honoured; a page says why, and nothing redirects.
    Refused(LogoutRefusal),
    /// Sign out, then go to `redirect` (a product) or stay with Gatehouse.
    Proceed {
        redirect: Option<String>,
        client_name: Option<String>,
    },
}

impl Gatehouse {
    pub async fn plan_logout(&self, params: &LogoutParams) -> Result<LogoutOutcome, AppError> {
        let mut hinted_client = None;
        if let Some(hint) = params.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
            let claims = self.verify_our_jwt(hint).await?;
            let Some(claims) =
                claims.filter(|c| c.get("iss").and_then(Value::as_str) == Some(&self.issuer()))
            else {
                return Ok(LogoutOutcome::Refused(LogoutRefusal::ForeignToken));
            };
            hinted_client = claims
                .get("aud")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        let client_id = match (hinted_client, params.client_id.clone()) {
            (Some(hinted), Some(named)) if hinted != named => {
                return Ok(LogoutOutcome::Refused(LogoutRefusal::TwoClients))
            }
            (hinted, named) => hinted.or(named),
        };
        let client = match client_id {
            Some(id) => self.find_client(&id).await?,
            None => None,
        };
        let Some(uri) = params
            .post_logout_redirect_uri
            .as_deref()
            .filter(|u| !u.is_empty())
        else {
            return Ok(LogoutOutcome::Proceed {
                redirect: None,
                client_name: client.map(|c| c.name),
            });
        };
        let Some(client) = client.filter(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri))
        else {
            return Ok(LogoutOutcome::Refused(LogoutRefusal::UnregisteredRedirect));
        };
        let state: Vec<(&str, &str)> = params
            .state
            .as_deref()
            .map(|s| ("state", s))
            .into_iter()
            .collect();
        Ok(LogoutOutcome::Proceed {
            redirect: Some(append_query(uri, &state)),
            client_name: Some(client.name),
        })
    }
}
