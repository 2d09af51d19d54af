//! A product's side of OpenID Connect, for tests: the `openidconnect` crate (a client library
//! we did not write) does discovery, builds authorization requests, exchanges codes and checks
//! ID tokens, so what it accepts is what a real product accepts. This module only gives it an
//! HTTP client (the workspace's reqwest, which never follows a redirect: tests look at each
//! one) and types for a client registered with `gatehouse client add`. It must not re-implement
//! any check the library makes.

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGrantType, CoreIdTokenClaims, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreSubjectIdentifierType,
    CoreTokenIntrospectionResponse, CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AdditionalProviderMetadata, AsyncHttpClient, AuthType, AuthorizationCode,
    ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IntrospectionUrl, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, ProviderMetadata, RedirectUrl, RefreshToken, RequestTokenError,
    RevocableToken, RevocationUrl, Scope, StandardErrorResponse, TokenResponse, UserInfoError,
};
use reqwest::redirect::Policy;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// openidconnect's asynchronous HTTP client (oauth2 5 `AsyncHttpClient`) over reqwest 0.13.
/// Redirects are returned as they are, never followed: a token endpoint that redirected
/// would be a bug to see, not to hide.
#[derive(Clone)]
pub struct OidcHttp {
    client: reqwest::Client,
}

/// A transport failure (the provider's answers, whatever their status, are responses).
#[derive(Debug)]
pub struct OidcHttpError(pub String);

impl std::fmt::Display for OidcHttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP transport error: {}", self.0)
    }
}

impl std::error::Error for OidcHttpError {}

impl Default for OidcHttp {
    fn default() -> Self {
        Self::new()
    }
}

impl OidcHttp {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .user_agent("testkit-oidc-product/1.0")
            .build()
            .unwrap();
        Self { client }
    }

    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, OidcHttpError> {
        let request = reqwest::Request::try_from(request)
            .map_err(|e| OidcHttpError(format!("cannot build the request: {e}")))?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| OidcHttpError(e.to_string()))?;
        let mut builder = openidconnect::http::Response::builder()
            .status(response.status().as_u16())
            .version(response.version());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| OidcHttpError(e.to_string()))?;
        builder
            .body(body.to_vec())
            .map_err(|e| OidcHttpError(e.to_string()))
    }

    /// A form POST with exactly these fields (and HTTP Basic when given), for requests a
    /// well-behaved library refuses to send.
    pub async fn post_form(
        &self,
        url: &str,
        fields: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> RawResponse {
        let mut request = self.client.post(url).form(fields);
        if let Some((user, password)) = basic {
            request = request.basic_auth(form_encode(user), Some(form_encode(password)));
        }
        raw(request.send().await.unwrap()).await
    }

    /// A GET with an optional bearer token.
    pub async fn get(&self, url: &str, bearer: Option<&str>) -> RawResponse {
        let mut request = self.client.get(url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        raw(request.send().await.unwrap()).await
    }
}

impl<'c> AsyncHttpClient<'c> for OidcHttp {
    type Error = OidcHttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, OidcHttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// RFC 6749 §2.3.1: client id and secret are form-encoded before going into Basic.
fn form_encode(value: &str) -> String {
    openidconnect::url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A response as it came, for status and header checks.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl RawResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.body))
    }

    /// The `error` of an RFC 6749 §5.2 error response.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

async fn raw(response: reqwest::Response) -> RawResponse {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    RawResponse {
        status,
        headers,
        body,
    }
}

/// The discovery fields Gatehouse adds to OpenID Connect Discovery 1.0 (RFC 8414 names).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct GatehouseEndpoints {
    pub revocation_endpoint: RevocationUrl,
    pub introspection_endpoint: IntrospectionUrl,
    pub end_session_endpoint: Option<String>,
}

impl AdditionalProviderMetadata for GatehouseEndpoints {}

pub type GatehouseProviderMetadata = ProviderMetadata<
    GatehouseEndpoints,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A `CoreClient` with the endpoints a Gatehouse product uses.
pub type GatehouseClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointSet,
    EndpointSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub type TokenError =
    RequestTokenError<OidcHttpError, StandardErrorResponse<CoreErrorResponseType>>;

/// What `gatehouse client add` prints (docs/oidc-contract.md, "Clients").
#[derive(Debug, Clone, Deserialize)]
pub struct RegisteredClient {
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    pub name: String,
    pub public: bool,
    pub third_party: bool,
    pub signing_alg: String,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
}

impl RegisteredClient {
    /// Parses the one JSON object of `client add` (pretty-printed or on one line).
    pub fn from_cli_output(stdout: &str) -> Self {
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("`client add` did not print a client ({e}): {stdout}"))
    }

    pub fn signing_alg(&self) -> CoreJwsSigningAlgorithm {
        match self.signing_alg.as_str() {
            "RS256" => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            "ES256" => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            "EdDSA" => CoreJwsSigningAlgorithm::EdDsa,
            other => panic!("unexpected signing_alg {other}"),
        }
    }
}

/// How the product authenticates at the token, revocation and introspection endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`.
    Basic,
    /// `client_secret_post`.
    Post,
    /// `none`: a public client sends only its `client_id`.
    None,
}

/// One authorization request as the product sent it, with what it keeps to finish the flow.
pub struct AuthorizationStart {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

/// A product connected to Gatehouse through discovery.
pub struct OidcClient {
    pub registered: RegisteredClient,
    pub metadata: GatehouseProviderMetadata,
    pub client: GatehouseClient,
    pub http: OidcHttp,
    pub auth: ClientAuth,
}

impl OidcClient {
    /// OpenID Connect Discovery 1.0 at `issuer` (which also fetches the JWKS), then a client
    /// for the registered product using its first redirect URI.
    pub async fn discover(issuer: &str, registered: RegisteredClient, auth: ClientAuth) -> Self {
        let http = OidcHttp::new();
        let metadata = GatehouseProviderMetadata::discover_async(
            IssuerUrl::new(issuer.to_string()).unwrap(),
            &http,
        )
        .await
        .unwrap_or_else(|e| panic!("discovery at {issuer} failed: {e:?}"));
        let secret = match auth {
            ClientAuth::None => None,
            _ => Some(ClientSecret::new(
                registered
                    .client_secret
                    .clone()
                    .expect("a confidential client has a secret"),
            )),
        };
        let extra = metadata.additional_metadata().clone();
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(registered.client_id.clone()),
            secret,
        )
        .set_redirect_uri(RedirectUrl::new(registered.redirect_uris[0].clone()).unwrap())
        .set_revocation_url(extra.revocation_endpoint)
        .set_introspection_url(extra.introspection_endpoint)
        .set_auth_type(match auth {
            ClientAuth::Post => AuthType::RequestBody,
            _ => AuthType::BasicAuth,
        });
        Self {
            registered,
            metadata,
            client,
            http,
            auth,
        }
    }

    pub fn issuer(&self) -> String {
        self.metadata.issuer().to_string()
    }

    pub fn redirect_uri(&self) -> &str {
        &self.registered.redirect_uris[0]
    }

    /// An authorization-code request with PKCE S256, a random state and nonce, the given
    /// scopes (besides `openid`, which the library always sends) and extra parameters.
    pub fn start(&self, scopes: &[&str], extra: &[(&str, &str)]) -> AuthorizationStart {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in scopes {
            request = request.add_scope(Scope::new((*scope).to_string()));
        }
        for (name, value) in extra {
            request = request.add_extra_param(*name, *value);
        }
        let (url, state, nonce) = request.url();
        AuthorizationStart {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        }
    }

    /// The token request of the authorization-code grant, with the PKCE verifier.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: PkceCodeVerifier,
    ) -> Result<CoreTokenResponse, TokenError> {
        self.client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
    }

    pub async fn refresh(&self, token: &RefreshToken) -> Result<CoreTokenResponse, TokenError> {
        self.client
            .exchange_refresh_token(token)
            .unwrap()
            .request_async(&self.http)
            .await
    }

    /// The ID token of a token response, verified by the library: signature against the
    /// JWKS with exactly the client's algorithm (so neither `none` nor an HMAC with the client
    /// secret passes), `iss`, `aud`, `exp`, `iat`, and the nonce when one is expected.
    pub fn verify_id_token(
        &self,
        tokens: &CoreTokenResponse,
        nonce: Option<&Nonce>,
    ) -> Result<CoreIdTokenClaims, String> {
        let id_token = tokens
            .id_token()
            .ok_or_else(|| "no id_token in the token response".to_string())?;
        let verifier = self
            .client
            .id_token_verifier()
            .set_allowed_algs(vec![self.registered.signing_alg()]);
        let claims = match nonce {
            Some(nonce) => id_token.claims(&verifier, nonce),
            // A refreshed ID token: a nonce, when there is one, is the original's (checked by
            // the caller), so it is not checked here.
            None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
        };
        claims.cloned().map_err(|e| format!("{e:?}"))
    }

    /// The `alg` in the ID token's JOSE header (unverified).
    pub fn id_token_alg(tokens: &CoreTokenResponse) -> Option<CoreJwsSigningAlgorithm> {
        tokens
            .id_token()
            .and_then(|t| t.signing_alg().ok().cloned())
    }

    pub async fn user_info(
        &self,
        token: &AccessToken,
    ) -> Result<CoreUserInfoClaims, UserInfoError<OidcHttpError>> {
        self.client
            .user_info(token.clone(), None)
            .unwrap()
            .request_async(&self.http)
            .await
    }

    /// RFC 7009 revocation: `token` and `token_type_hint`, authenticated as at the token
    /// endpoint. The library builds this request too, but refuses any revocation URL that is
    /// not `https` (RFC 7009 §2, a check oauth2 5 makes with no way around it), and the test
    /// server speaks plain HTTP on loopback; so the same form is sent here.
    pub async fn revoke(&self, token: CoreRevocableToken) -> RawResponse {
        // The library's own type names the hint, as its request would.
        let hint = token.type_hint().unwrap_or_default();
        let secret = token.secret().to_string();
        let url = self.revocation_url();
        self.post_authenticated(
            &url,
            &[("token", secret.as_str()), ("token_type_hint", hint)],
        )
        .await
    }

    pub fn revocation_url(&self) -> String {
        self.client.revocation_url().to_string()
    }

    /// RFC 7662 introspection of any token string.
    pub async fn introspect(
        &self,
        token: &str,
    ) -> Result<CoreTokenIntrospectionResponse, TokenError> {
        let token = AccessToken::new(token.to_string());
        self.client
            .introspect(&token)
            .request_async(&self.http)
            .await
    }

    /// A form POST to the token endpoint with exactly these fields, authenticated as this
    /// client authenticates (Basic, in the body, or only `client_id`).
    pub async fn post_token(&self, fields: &[(&str, &str)]) -> RawResponse {
        let url = self.client.token_uri().unwrap().to_string();
        self.post_authenticated(&url, fields).await
    }

    /// Like `post_token`, to any endpoint that takes client authentication.
    pub async fn post_authenticated(&self, url: &str, fields: &[(&str, &str)]) -> RawResponse {
        let id = self.registered.client_id.clone();
        let secret = self.registered.client_secret.clone().unwrap_or_default();
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        match self.auth {
            ClientAuth::Basic => {
                return self
                    .http
                    .post_form(url, &form, Some((id.as_str(), secret.as_str())))
                    .await
            }
            ClientAuth::Post => {
                form.push(("client_id", id.as_str()));
                form.push(("client_secret", secret.as_str()));
            }
            ClientAuth::None => form.push(("client_id", id.as_str())),
        }
        self.http.post_form(url, &form, None).await
    }

    pub fn token_url(&self) -> String {
        self.client.token_uri().unwrap().to_string()
    }

    pub fn userinfo_url(&self) -> String {
        self.client.user_info_url().unwrap().to_string()
    }
}

/// The JOSE header of the ID token in a token response (decoded, not verified), to read
/// `kid` and `alg` as they were sent.
pub fn id_token_header(tokens: &CoreTokenResponse) -> serde_json::Value {
    use base64::Engine;
    let id_token = tokens.id_token().expect("an id_token").to_string();
    let header = id_token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap_or_else(|e| panic!("the JOSE header is not base64url ({e}): {header}"));
    serde_json::from_slice(&bytes).unwrap()
}

/// The access token of a token response, for callers that do not import the trait.
pub fn access_token(tokens: &CoreTokenResponse) -> AccessToken {
    tokens.access_token().clone()
}

/// The query of a URL as name/value pairs (a callback to the product's redirect URI).
#[derive(Debug, Clone)]
pub struct Callback {
    pub url: String,
    pub params: Vec<(String, String)>,
}

impl Callback {
    pub fn parse(url: &str) -> Self {
        let parsed = openidconnect::url::Url::parse(url)
            .unwrap_or_else(|e| panic!("not an absolute URL ({e}): {url}"));
        Self {
            url: url.to_string(),
            params: parsed.query_pairs().into_owned().collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The URL without its query, to compare with the registered redirect URI.
    pub fn target(&self) -> &str {
        self.url.split('?').next().unwrap_or_default()
    }
}
