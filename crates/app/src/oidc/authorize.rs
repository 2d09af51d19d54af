//! The authorization endpoint (OpenID Connect Core §3.1.2): checks the request, then answers
//! it from the person's session, or sends them through the normal sign-in first (S49: the
//! one sign-in of DESIGN.md §1, with every step and check) and continues afterwards.
//!
//! Until the client and redirect URI are known good, nothing redirects (S38); afterwards
//! every error goes back to the product as RFC 6749 §4.1.2.1 says.

use super::append_query;
use crate::audit::{Event, Method, ProductAccess, Record};
use crate::budget::Window;
use crate::sessions::SignedIn;
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::ids::new_id;
use gatehouse_core::oidc::{
    self, CodeChallenge, Prompt, Scopes, AUTHORIZATION_REQUEST_LIFETIME_SECS, CODE_LIFETIME_SECS,
    GRANT_LIFETIME_SECS,
};
use gatehouse_core::{Token, TokenHash};
use gatehouse_store::{AuthorizationRequestRow, ClientRow, NewCode, NewGrant, StoreError};

/// The query of an authorization request, as received.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    /// Parameters Gatehouse refuses by name (S41: no implicit or hybrid response modes).
    pub request: Option<String>,
    pub response_mode: Option<String>,
}

/// Why a request cannot even be answered by a redirect (S38): a page says so instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unanswerable {
    UnknownClient,
    BadRedirectUri,
    /// The request waited too long for the sign-in, or was already answered.
    RequestGone,
    /// This address left too many requests waiting for a sign-in lately.
    TooManyRequests,
}

/// What the browser should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// An error page, never a redirect.
    Refused(Unanswerable),
    /// Back to the product, with a code or an error. `client_name` is for the page that
    /// leads there after a form.
    ToClient {
        location: String,
        client_name: String,
    },
    /// Through the sign-in first; `continue_path` resumes this request afterwards.
    SignIn {
        continue_path: String,
        login_hint: Option<String>,
    },
    /// A third-party product: the person decides on the consent page.
    Consent {
        handle: String,
        client_name: String,
        scopes: Vec<String>,
    },
}

/// A request answered with an error (RFC 6749 §4.1.2.1).
struct ErrorReply {
    error: &'static str,
    description: &'static str,
}

fn reply(error: &'static str, description: &'static str) -> ErrorReply {
    ErrorReply { error, description }
}

/// Requests waiting for a sign-in are rows anyone can create, so each client address (IPv6
/// per /64) may leave this many per window; a person needs a handful.
const WAITING_REQUESTS_PER_WINDOW: u32 = 300;
/// S57: authorization codes (each a grant row) one session may get per hour; a person
/// signing in to many products needs a few dozen.
const CODES_PER_SESSION_PER_HOUR: u32 = 120;
const WAITING_REQUESTS_WINDOW_SECS: i64 = 10 * 60;

/// The continuation of a request after the sign-in: a same-origin path (S37).
pub fn continue_path(handle: &str) -> String {
    format!("/oauth2/continue?request={handle}")
}

impl Gatehouse {
    fn client_redirect(
        &self,
        client: &ClientRow,
        redirect_uri: &str,
        params: &[(&str, &str)],
        state: Option<&str>,
    ) -> AuthorizeOutcome {
        let issuer = self.issuer();
        let mut pairs: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = state {
            pairs.push(("state", state));
        }
        // RFC 9207: the issuer in the response, against mix-up attacks.
        pairs.push(("iss", &issuer));
        AuthorizeOutcome::ToClient {
            location: append_query(redirect_uri, &pairs),
            client_name: client.name.clone(),
        }
    }

    fn error_redirect(
        &self,
        client: &ClientRow,
        redirect_uri: &str,
        error: ErrorReply,
        state: Option<&str>,
    ) -> AuthorizeOutcome {
        self.client_redirect(
            client,
            redirect_uri,
            &[
                ("error", error.error),
                ("error_description", error.description),
            ],
            state,
        )
    }

    /// `GET /oauth2/authorize`.
    pub async fn authorize(
        &self,
        params: AuthorizationParams,
        session_cookie: Option<&str>,
        client_info: &ClientInfo,
    ) -> Result<AuthorizeOutcome, AppError> {
        let client_id = params.client_id.as_deref().unwrap_or_default();
        let Some(client) = self.find_client(client_id).await? else {
            return Ok(AuthorizeOutcome::Refused(Unanswerable::UnknownClient));
        };
        // S38: exactly one of the registered URIs, byte for byte.
        let Some(redirect_uri) = params
            .redirect_uri
            .as_deref()
            .filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
        else {
            return Ok(AuthorizeOutcome::Refused(Unanswerable::BadRedirectUri));
        };
        let state = params.state.as_deref();
        let request = match self.check_request(&client, &params) {
            Ok(request) => request,
            Err(error) => return Ok(self.error_redirect(&client, redirect_uri, error, state)),
        };
        let now = self.now();
        let handle = Token::generate();
        let row = AuthorizationRequestRow {
            id_hash: handle.hash().0,
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.to_string(),
            scope: request.scopes.to_text(),
            state: params.state.clone(),
            nonce: params.nonce.clone(),
            code_challenge: request.challenge.map(|c| c.as_str().to_string()),
            prompt_login: request.prompt.login,
            max_age: request.max_age,
            created_at: now,
            expires_at: now + AUTHORIZATION_REQUEST_LIFETIME_SECS,
        };
        let session = self.session_for(&row, session_cookie).await?;
        if request.prompt.none {
            // S43: prompt=none never shows a page; it answers at once or says why not.
            let Some(session) = session else {
                return Ok(self.error_redirect(
                    &client,
                    redirect_uri,
                    reply("login_required", "the person is not signed in"),
                    state,
                ));
            };
            if self.needs_consent(&client, &session, &row, false).await? {
                return Ok(self.error_redirect(
                    &client,
                    redirect_uri,
                    reply(
                        "consent_required",
                        "the person has not allowed this product",
                    ),
                    state,
                ));
            }
            return self
                .issue_code(&client, &row, None, &session, client_info)
                .await;
        }
        if let Some(session) = &session {
            if !self
                .needs_consent(&client, session, &row, request.prompt.consent)
                .await?
            {
                return self
                    .issue_code(&client, &row, None, session, client_info)
                    .await;
            }
        }
        if !self.may_leave_a_request_waiting(client_info, now).await? {
            return Ok(AuthorizeOutcome::Refused(Unanswerable::TooManyRequests));
        }
        self.inner.store.insert_authorization_request(&row).await?;
        Ok(match session {
            Some(_) => AuthorizeOutcome::Consent {
                handle: handle.as_str().to_string(),
                client_name: client.name.clone(),
                scopes: row.scope.split(' ').map(str::to_string).collect(),
            },
            None => AuthorizeOutcome::SignIn {
                continue_path: continue_path(handle.as_str()),
                login_hint: params.login_hint.clone(),
            },
        })
    }

    async fn may_leave_a_request_waiting(
        &self,
        client_info: &ClientInfo,
        now: i64,
    ) -> Result<bool, AppError> {
        let address = client_info.address.as_deref().unwrap_or("unknown");
        let window = Window::authorization_requests(
            address,
            WAITING_REQUESTS_WINDOW_SECS,
            WAITING_REQUESTS_PER_WINDOW,
        );
        self.take_at(&window, now).await
    }

    /// Everything but the client and redirect URI, which are already checked.
    fn check_request(
        &self,
        client: &ClientRow,
        params: &AuthorizationParams,
    ) -> Result<CheckedRequest, ErrorReply> {
        match params.response_type.as_deref() {
            Some("code") => {}
            None => return Err(reply("invalid_request", "response_type is required")),
            // S41: code flow only; no implicit or hybrid.
            Some(_) => {
                return Err(reply(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ))
            }
        }
        if params.request.is_some() {
            return Err(reply(
                "request_not_supported",
                "request objects are not supported",
            ));
        }
        if params
            .response_mode
            .as_deref()
            .is_some_and(|m| m != "query")
        {
            return Err(reply(
                "invalid_request",
                "only response_mode=query is supported",
            ));
        }
        let scopes = Scopes::parse(params.scope.as_deref().unwrap_or_default()).map_err(|_| {
            reply(
                "invalid_scope",
                "the scope must include openid and only known scopes",
            )
        })?;
        let prompt = Prompt::parse(params.prompt.as_deref())
            .ok_or_else(|| reply("invalid_request", "prompt is not valid"))?;
        let max_age = match params.max_age.as_deref() {
            None => None,
            Some(text) => Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|age| *age >= 0)
                    .ok_or_else(|| {
                        reply("invalid_request", "max_age must be a number of seconds")
                    })?,
            ),
        };
        // S40: PKCE with S256 only; required of public clients.
        let challenge = match (&params.code_challenge, &params.code_challenge_method) {
            (Some(challenge), method) => Some(
                CodeChallenge::parse(challenge, method.as_deref()).map_err(|_| {
                    reply(
                        "invalid_request",
                        "PKCE needs code_challenge_method=S256 and a valid code_challenge",
                    )
                })?,
            ),
            (None, Some(_)) => {
                return Err(reply(
                    "invalid_request",
                    "code_challenge_method without code_challenge",
                ))
            }
            (None, None) if client.is_public() => {
                return Err(reply(
                    "invalid_request",
                    "public clients must use PKCE (S256)",
                ))
            }
            (None, None) => None,
        };
        if params.nonce.as_deref().is_some_and(|n| n.len() > 512)
            || params.state.as_deref().is_some_and(|s| s.len() > 2048)
        {
            return Err(reply("invalid_request", "state or nonce is too long"));
        }
        Ok(CheckedRequest {
            scopes,
            prompt,
            max_age,
            challenge,
        })
    }

    /// The session that may answer `request`: live, and fresh enough for its `prompt=login`
    /// and `max_age` (S43).
    async fn session_for(
        &self,
        request: &AuthorizationRequestRow,
        session_cookie: Option<&str>,
    ) -> Result<Option<SignedIn>, AppError> {
        let Some(cookie) = session_cookie else {
            return Ok(None);
        };
        let session = self.find_session(cookie).await?;
        let prompt = Prompt {
            login: request.prompt_login,
            ..Prompt::default()
        };
        Ok(session.filter(|s| {
            oidc::session_satisfies(
                prompt,
                request.max_age,
                s.signed_in_at,
                request.created_at,
                self.now(),
            )
        }))
    }

    /// First-party products never ask; third-party ones once per account, and again when
    /// they want more scopes or say `prompt=consent`.
    async fn needs_consent(
        &self,
        client: &ClientRow,
        session: &SignedIn,
        request: &AuthorizationRequestRow,
        prompt_consent: bool,
    ) -> Result<bool, AppError> {
        if !client.third_party {
            return Ok(false);
        }
        if prompt_consent {
            return Ok(true);
        }
        let granted = self
            .inner
            .store
            .find_consent(&session.account_id, &client.id)
            .await?;
        let covered = granted
            .as_deref()
            .and_then(|g| Scopes::parse(g).ok())
            .zip(Scopes::parse(&request.scope).ok())
            .is_some_and(|(granted, wanted)| wanted.is_within(&granted));
        Ok(!covered)
    }

    /// `GET /oauth2/continue`: after the sign-in, answer the waiting request.
    pub async fn continue_authorization(
        &self,
        handle: &str,
        session_cookie: Option<&str>,
        client_info: &ClientInfo,
    ) -> Result<AuthorizeOutcome, AppError> {
        let (request, client, session) = match self.resume(handle, session_cookie).await? {
            Ok(ready) => ready,
            Err(answer) => return Ok(answer),
        };
        if self
            .needs_consent(&client, &session, &request, false)
            .await?
        {
            return Ok(AuthorizeOutcome::Consent {
                handle: handle.to_string(),
                client_name: client.name.clone(),
                scopes: request.scope.split(' ').map(str::to_string).collect(),
            });
        }
        self.answer_waiting(&client, &request, &session, client_info)
            .await
    }

    /// The consent page's answer.
    pub async fn decide_consent(
        &self,
        handle: &str,
        allow: bool,
        session_cookie: Option<&str>,
        client_info: &ClientInfo,
    ) -> Result<AuthorizeOutcome, AppError> {
        let (request, client, session) = match self.resume(handle, session_cookie).await? {
            Ok(ready) => ready,
            Err(answer) => return Ok(answer),
        };
        if !allow {
            self.inner
                .store
                .delete_authorization_request(&request.id_hash)
                .await?;
            return Ok(self.error_redirect(
                &client,
                &request.redirect_uri,
                reply("access_denied", "the person did not allow this product"),
                request.state.as_deref(),
            ));
        }
        self.inner
            .store
            .upsert_consent(&session.account_id, &client.id, &request.scope, self.now())
            .await?;
        self.answer_waiting(&client, &request, &session, client_info)
            .await
    }

    /// Answers a request that waited for the sign-in (or the consent) with a code; the
    /// request is consumed in the transaction that issues it, so two tabs get one code.
    async fn answer_waiting(
        &self,
        client: &ClientRow,
        request: &AuthorizationRequestRow,
        session: &SignedIn,
        client_info: &ClientInfo,
    ) -> Result<AuthorizeOutcome, AppError> {
        let waiting = Some(&request.id_hash);
        self.issue_code(client, request, waiting, session, client_info)
            .await
    }

    /// A waiting request, its client and a session that may answer it; or the answer when
    /// there is none (the request is gone, or the person must sign in first).
    async fn resume(
        &self,
        handle: &str,
        session_cookie: Option<&str>,
    ) -> Result<Result<(AuthorizationRequestRow, ClientRow, SignedIn), AuthorizeOutcome>, AppError>
    {
        let Some((request, client)) = self.waiting_request(handle).await? else {
            return Ok(Err(AuthorizeOutcome::Refused(Unanswerable::RequestGone)));
        };
        Ok(match self.session_for(&request, session_cookie).await? {
            Some(session) => Ok((request, client, session)),
            None => Err(AuthorizeOutcome::SignIn {
                continue_path: continue_path(handle),
                login_hint: None,
            }),
        })
    }

    async fn waiting_request(
        &self,
        handle: &str,
    ) -> Result<Option<(AuthorizationRequestRow, ClientRow)>, AppError> {
        let Some(token) = Token::parse(handle) else {
            return Ok(None);
        };
        let TokenHash(id_hash) = token.hash();
        let Some(request) = self
            .inner
            .store
            .find_authorization_request(&id_hash, self.now())
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .find_client(&request.client_id)
            .await?
            .map(|client| (request, client)))
    }

    /// Creates the grant and a 60-second single-use code (S39) for the session's sign-in,
    /// consuming the waiting request when there is one.
    async fn issue_code(
        &self,
        client: &ClientRow,
        request: &AuthorizationRequestRow,
        waiting: Option<&[u8; 32]>,
        session: &SignedIn,
        client_info: &ClientInfo,
    ) -> Result<AuthorizeOutcome, AppError> {
        let now = self.now();
        // S57: each code is a grant row; one session gets a bounded number an hour.
        let window = Window::codes_for_session(&session.session_id, CODES_PER_SESSION_PER_HOUR);
        if !self.take_at(&window, now).await? {
            return Ok(AuthorizeOutcome::Refused(Unanswerable::TooManyRequests));
        }
        let code = Token::generate();
        let grant = NewGrant {
            id: new_id(now),
            client_id: client.id.clone(),
            account_id: session.account_id.clone(),
            scope: request.scope.clone(),
            nonce: request.nonce.clone(),
            auth_time: session.signed_in_at,
            proof: session.proof.as_str().to_string(),
            created_at: now,
            expires_at: now + GRANT_LIFETIME_SECS,
        };
        let new_code = NewCode {
            code_hash: code.hash().0,
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            expires_at: now + CODE_LIFETIME_SECS,
        };
        match self
            .inner
            .store
            .issue_authorization_code(waiting, &grant, &new_code)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Ok(AuthorizeOutcome::Refused(Unanswerable::RequestGone))
            }
            Err(other) => return Err(AppError::from(other)),
        }
        self.record(Record {
            event: Event::ProductSignIn(ProductAccess::Granted),
            account_id: Some(&session.account_id),
            email: None,
            method: Some(Method::Product {
                client_id: &client.id,
            }),
            client: client_info,
        })
        .await;
        Ok(self.client_redirect(
            client,
            &request.redirect_uri,
            &[("code", code.as_str())],
            request.state.as_deref(),
        ))
    }
}

struct CheckedRequest {
    scopes: Scopes,
    prompt: Prompt,
    max_age: Option<i64>,
    challenge: Option<CodeChallenge>,
}
