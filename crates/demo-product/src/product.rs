//! What the product does: start a sign-in, finish it from the callback, know who is signed
//! in, and sign out. It holds the pending sign-ins and the sessions in memory and reaches
//! Gatehouse only through `gatehouse`. It takes cookie values and the time as arguments and
//! returns outcomes; statuses, cookies and HTML belong to `pages`.

use crate::gatehouse::{Gatehouse, GatehouseError};
use crate::memory::Bounded;
use crate::oidc::{self, AuthorizationRequest, Expected, IdTokenError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// A sign-in left unfinished this long is forgotten (the cookie that names it lives as
/// long).
pub const LOGIN_MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// A product session lasts a working day.
const SESSION_MAX_AGE: Duration = Duration::from_secs(12 * 60 * 60);
/// Enough for any demo; a flood of abandoned sign-ins evicts the oldest instead of growing.
const MAX_LOGINS: usize = 10_000;
const MAX_SESSIONS: usize = 10_000;

/// The moment a request is handled, on both clocks the product needs.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// For the age of in-memory entries.
    pub instant: Instant,
    /// Seconds since the Unix epoch, for token expiry.
    pub unix: i64,
}

/// The product's settings, normalised (no trailing slashes).
pub struct Settings {
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    pub public_url: String,
}

impl Settings {
    pub fn redirect_uri(&self) -> String {
        crate::redirect_uri(&self.public_url)
    }

    pub fn post_logout_redirect_uri(&self) -> String {
        crate::post_logout_redirect_uri(&self.public_url)
    }
}

/// What this browser sent Gatehouse when its sign-in began; held until the callback.
struct PendingLogin {
    state: String,
    nonce: String,
    verifier: String,
}

/// A person signed in to the product.
#[derive(Clone)]
pub struct Session {
    pub email: String,
    id_token: String,
}

/// The authorization response, as it arrives on the redirect URI.
#[derive(Debug, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Why a sign-in or sign-out did not complete.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The callback does not belong to a sign-in this browser started (or it expired).
    #[error("the callback matches no sign-in started in this browser")]
    NotStartedHere,
    /// Gatehouse answered the authorization request with an error (RFC 6749 §4.1.2.1).
    #[error("Gatehouse ended the sign-in: {error}")]
    Denied {
        error: String,
        description: Option<String>,
    },
    /// Gatehouse could not be reached at all.
    #[error(transparent)]
    Unreachable(GatehouseError),
    /// The token endpoint refused the code.
    #[error("the token endpoint refused the code: {error}")]
    TokenRefused {
        error: String,
        description: Option<String>,
    },
    /// Gatehouse answered, but not as OpenID Connect promises.
    #[error("{0}")]
    BadAnswer(String),
    /// The ID token failed a check.
    #[error(transparent)]
    BadIdToken(#[from] IdTokenError),
}

impl From<GatehouseError> for Failure {
    fn from(error: GatehouseError) -> Self {
        match error {
            GatehouseError::Unreachable(_) => Self::Unreachable(error),
            GatehouseError::Refused { error, description } => {
                Self::TokenRefused { error, description }
            }
            GatehouseError::Unexpected(message) => Self::BadAnswer(message),
        }
    }
}

/// A sign-in on its way: the cookie that names it and where to send the browser.
pub struct StartedLogin {
    pub cookie: String,
    pub location: String,
}

pub struct Product {
    pub settings: Settings,
    gatehouse: Gatehouse,
    logins: Mutex<Bounded<PendingLogin>>,
    sessions: Mutex<Bounded<Session>>,
}

/// The maps hold no invariant a panicking holder could break half-way, so a poisoned lock
/// is still safe to use.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn same_secret(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Product {
    pub fn new(settings: Settings, gatehouse: Gatehouse) -> Self {
        Self {
            settings,
            gatehouse,
            logins: Mutex::new(Bounded::new(LOGIN_MAX_AGE, MAX_LOGINS)),
            sessions: Mutex::new(Bounded::new(SESSION_MAX_AGE, MAX_SESSIONS)),
        }
    }

    /// Begins a sign-in: fresh state, nonce and PKCE verifier (RFC 7636 §4.1), kept under a
    /// new cookie value, and the authorization request that carries them.
    pub async fn start_login(&self, now: Now) -> Result<StartedLogin, Failure> {
        let discovery = self.gatehouse.discovery().await?;
        let pending = PendingLogin {
            state: oidc::random_token(),
            nonce: oidc::random_token(),
            verifier: oidc::random_token(),
        };
        let location = oidc::authorization_url(
            &discovery.authorization_endpoint,
            &AuthorizationRequest {
                client_id: &self.settings.client_id,
                redirect_uri: &self.settings.redirect_uri(),
                state: &pending.state,
                nonce: &pending.nonce,
                code_challenge: &oidc::pkce_challenge(&pending.verifier),
            },
        )
        .map_err(|e| Failure::BadAnswer(format!("the authorization endpoint is not a URL: {e}")))?;
        let cookie = oidc::random_token();
        lock(&self.logins).insert(cookie.clone(), pending, now.instant);
        Ok(StartedLogin { cookie, location })
    }

    /// Finishes the sign-in this browser started, and returns the new session's cookie
    /// value. The pending sign-in is used up once its state matched, whatever follows: a
    /// code is good for one exchange only.
    pub async fn finish_login(
        &self,
        login_cookie: Option<&str>,
        callback: Callback,
        now: Now,
    ) -> Result<String, Failure> {
        let returned_state = callback.state.as_deref().unwrap_or_default();
        // RFC 6749 §10.12: the state must be the one this browser's sign-in sent. A state
        // that does not match leaves the pending sign-in alone, so a forged callback
        // cannot cancel a person's real one.
        let pending = login_cookie
            .and_then(|cookie| {
                lock(&self.logins).take_if(cookie, now.instant, |pending| {
                    !returned_state.is_empty() && same_secret(&pending.state, returned_state)
                })
            })
            .ok_or(Failure::NotStartedHere)?;
        // RFC 9207 §2.4: when the response names its issuer, it must be ours (mix-up defence).
        if let Some(iss) = &callback.iss {
            if iss != self.gatehouse.issuer() {
                return Err(Failure::BadAnswer(format!(
                    "the sign-in response came from the issuer {iss:?}, not {:?}",
                    self.gatehouse.issuer()
                )));
            }
        }
        if let Some(error) = callback.error {
            return Err(Failure::Denied {
                error,
                description: callback.error_description,
            });
        }
        let code = callback
            .code
            .filter(|code| !code.is_empty())
            .ok_or_else(|| Failure::BadAnswer("the sign-in response holds no code".into()))?;
        let discovery = self.gatehouse.discovery().await?;
        let id_token = self
            .gatehouse
            .exchange_code(
                &discovery.token_endpoint,
                (&self.settings.client_id, &self.settings.client_secret),
                &code,
                &self.settings.redirect_uri(),
                &pending.verifier,
            )
            .await?;
        let identity = oidc::check_id_token(
            &id_token,
            &Expected {
                issuer: self.gatehouse.issuer(),
                client_id: &self.settings.client_id,
                nonce: &pending.nonce,
                now: now.unix,
            },
        )?;
        let cookie = oidc::random_token();
        lock(&self.sessions).insert(
            cookie.clone(),
            Session {
                email: identity.email,
                id_token,
            },
            now.instant,
        );
        Ok(cookie)
    }

    /// The person signed in under this session cookie, if any.
    pub fn session(&self, cookie: Option<&str>, now: Now) -> Option<Session> {
        let cookie = cookie?;
        lock(&self.sessions).get(cookie, now.instant).cloned()
    }

    /// Ends the product session, and returns where to end the Gatehouse session
    /// (RP-initiated logout), or `None` when there was no session to end or Gatehouse
    /// offers no end-session endpoint.
    pub async fn sign_out(
        &self,
        cookie: Option<&str>,
        now: Now,
    ) -> Result<Option<String>, Failure> {
        let Some(session) = cookie.and_then(|c| lock(&self.sessions).take(c, now.instant)) else {
            return Ok(None);
        };
        let discovery = self.gatehouse.discovery().await?;
        let Some(endpoint) = &discovery.end_session_endpoint else {
            return Ok(None);
        };
        oidc::end_session_url(
            endpoint,
            &session.id_token,
            &self.settings.post_logout_redirect_uri(),
            &self.settings.client_id,
        )
        .map(Some)
        .map_err(|e| Failure::BadAnswer(format!("the end-session endpoint is not a URL: {e}")))
    }
}
