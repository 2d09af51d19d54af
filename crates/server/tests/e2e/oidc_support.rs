//! Typed steps of a product's sign-in through Gatehouse as an OpenID Connect provider: a
//! client registered with `gatehouse client add`, the person's browser driven through the real
//! sign-in pages, and the redirect back to the product read off the wire. The checks of
//! protocol messages are left to the `openidconnect` crate (testkit's `OidcClient`).

use crate::helpers::{TestApp, PASSWORD};
use gatehouse_testkit::oidc::{AuthorizationStart, Callback};
use gatehouse_testkit::{Browser, ClientAuth, OidcClient, Page, RegisteredClient};
use openidconnect::core::{CoreIdTokenClaims, CoreTokenResponse};

/// Nothing listens there: the product's callback is read from the `Location`, never fetched.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// Registers a product through the CLI, on the server's own data folder and database.
pub async fn add_client(app: &TestApp, name: &str, extra: &[&str]) -> RegisteredClient {
    let mut args = vec![
        "client",
        "add",
        "--name",
        name,
        "--redirect-uri",
        REDIRECT_URI,
    ];
    args.extend_from_slice(extra);
    let out = app.server.cli(&args, None).await;
    assert_eq!(out.code, 0, "client add failed: {}", out.stderr);
    RegisteredClient::from_cli_output(&out.stdout)
}

/// A product registered with `extra` flags and connected through discovery.
pub async fn product(app: &TestApp, name: &str, extra: &[&str], auth: ClientAuth) -> OidcClient {
    let registered = add_client(app, name, extra).await;
    OidcClient::discover(&app.server.base_url, registered, auth).await
}

/// The account id `gatehouse user show` prints.
pub async fn account_id(app: &TestApp, email: &str) -> String {
    let out = app.server.cli(&["user", "show", email], None).await;
    assert_eq!(out.code, 0, "user show failed: {}", out.stderr);
    let account: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    account["id"].as_str().expect("an id").to_string()
}

/// How the person gets past the second step of the sign-in.
#[derive(Debug, Clone)]
pub enum SecondStep {
    /// Types the e-mailed code (and ticks "Trust this device" when asked).
    EmailedCode { trust: bool },
    /// Uses this backup code instead of the e-mailed one.
    BackupCode(String),
    /// A trusted browser: no code is asked after the password.
    TrustedDevice,
}

/// Where following the browser's redirects ended.
#[derive(Debug)]
pub enum Landing {
    /// At the product's redirect URI.
    Product(Callback),
    /// On one of Gatehouse's pages (the URL that was fetched, and the page).
    Page { url: String, page: Page },
}

impl Landing {
    pub fn callback(self) -> Callback {
        match self {
            Landing::Product(callback) => callback,
            Landing::Page { url, page } => panic!(
                "expected a redirect to the product, stayed at {url} ({}): {}",
                page.status, page.body
            ),
        }
    }

    pub fn page(self) -> (String, Page) {
        match self {
            Landing::Page { url, page } => (url, page),
            Landing::Product(callback) => {
                panic!("expected a Gatehouse page, went to {}", callback.url)
            }
        }
    }
}

/// What one trip through Gatehouse showed besides the final redirect.
#[derive(Debug, Default)]
pub struct Trip {
    /// The bodies of the "Returning you to NAME" pages passed through.
    pub returning_pages: Vec<String>,
    /// The new backup code shown on the way, if any.
    pub backup_code: Option<String>,
    /// Whether "You signed in with your backup code" was passed on the way (issue 12).
    pub reviewed: bool,
}

fn absolute(browser: &Browser, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else {
        browser.url(location)
    }
}

fn is_product(url: &str, redirect_uri: &str) -> bool {
    url == redirect_uri || url.starts_with(&format!("{redirect_uri}?"))
}

/// Follows redirects and "Returning you to" pages from `page` (the answer to `url`) until
/// the browser leaves for the product or stops on a page.
pub async fn continue_from(
    browser: &Browser,
    mut url: String,
    mut page: Page,
    redirect_uri: &str,
    trip: &mut Trip,
) -> Landing {
    for _ in 0..10 {
        let next = if (300..400).contains(&page.status) {
            let location = page
                .location_header()
                .unwrap_or_else(|| panic!("a {} without Location from {url}", page.status));
            absolute(browser, &location)
        } else if page.status == 200 && page.html().has_text("Returning you to") {
            trip.returning_pages.push(page.body.clone());
            let target = page
                .html()
                .continue_url()
                .unwrap_or_else(|| panic!("a returning page that goes nowhere: {}", page.body));
            absolute(browser, &target)
        } else if page.status == 200
            && page.html().heading().as_deref() == Some("You signed in with your backup code")
        {
            trip.reviewed = true;
            let target = page
                .html()
                .link("Everything looks right")
                .unwrap_or_else(|| panic!("a review that goes nowhere: {}", page.body));
            absolute(browser, &target)
        } else {
            return Landing::Page { url, page };
        };
        if is_product(&next, redirect_uri) {
            return Landing::Product(Callback::parse(&next));
        }
        url = next;
        page = browser.get_url(&url).await;
    }
    panic!("more than ten redirects, last at {url}");
}

/// Opens `url` (an authorization request) in the browser and follows it.
pub async fn open(browser: &Browser, url: &str, redirect_uri: &str, trip: &mut Trip) -> Landing {
    let page = browser.get_url(url).await;
    continue_from(browser, url.to_string(), page, redirect_uri, trip).await
}

/// On the sign-in page an authorization request led to: every step of the sign-in, then on
/// to wherever Gatehouse sends the browser next.
pub async fn sign_in_from(
    app: &TestApp,
    browser: &Browser,
    sign_in_page: &Page,
    email: &str,
    step: &SecondStep,
    redirect_uri: &str,
    trip: &mut Trip,
) -> Landing {
    let page = enter_email_on(browser, sign_in_page, email).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/password"),
        "{}",
        page.body
    );
    let before = app.mails_to(email);
    let page = browser
        .post("/sign-in/password", &[("password", PASSWORD)])
        .await;
    let page = match step {
        SecondStep::TrustedDevice => {
            assert_ne!(
                page.location.as_deref(),
                Some("/sign-in/code"),
                "a trusted browser is not asked for a code"
            );
            page
        }
        SecondStep::EmailedCode { trust } => {
            assert_eq!(
                page.location.as_deref(),
                Some("/sign-in/code"),
                "{}",
                page.body
            );
            let code = app.mail.wait_for_code(email, before).await;
            let mut fields = vec![("code", code.as_str())];
            if *trust {
                fields.push(("trust_device", "on"));
            }
            browser.post("/sign-in/code", &fields).await
        }
        SecondStep::BackupCode(backup) => {
            assert_eq!(
                page.location.as_deref(),
                Some("/sign-in/code"),
                "{}",
                page.body
            );
            browser
                .post("/sign-in/backup-code", &[("backup_code", backup)])
                .await
        }
    };
    let page = if page.location.as_deref() == Some("/sign-in/save-backup-code") {
        trip.backup_code = browser.get("/sign-in/save-backup-code").await.backup_code();
        assert!(trip.backup_code.is_some(), "the backup code is shown");
        browser.post("/sign-in/save-backup-code", &[]).await
    } else {
        page
    };
    continue_from(browser, browser.url("/sign-in"), page, redirect_uri, trip).await
}

/// Fills in `email` on a sign-in page and sends its form as it is, with the hidden fields
/// that carry the way back to the product.
pub async fn enter_email_on(browser: &Browser, sign_in_page: &Page, email: &str) -> Page {
    let form = sign_in_page
        .html()
        .form("/sign-in")
        .unwrap_or_else(|| panic!("no sign-in form: {}", sign_in_page.body));
    let hidden = form.hidden_fields();
    let mut fields: Vec<(&str, &str)> = hidden
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .filter(|(name, _)| *name != "email")
        .collect();
    fields.push(("email", email));
    browser.post("/sign-in", &fields).await
}

/// A whole authorization: the request in the browser, the sign-in if Gatehouse asks for
/// one, and the callback to the product.
pub async fn authorize(
    app: &TestApp,
    browser: &Browser,
    product: &OidcClient,
    start: &AuthorizationStart,
    email: &str,
    step: &SecondStep,
) -> (Callback, Trip) {
    let mut trip = Trip::default();
    let landing = open(browser, &start.url, product.redirect_uri(), &mut trip).await;
    let landing = match landing {
        Landing::Page { url, page } if is_sign_in(&url) => {
            sign_in_from(
                app,
                browser,
                &page,
                email,
                step,
                product.redirect_uri(),
                &mut trip,
            )
            .await
        }
        other => other,
    };
    (landing.callback(), trip)
}

/// Whether a fetched URL is Gatehouse's sign-in page.
pub fn is_sign_in(url: &str) -> bool {
    let path = url.split_once("://").map_or(url, |(_, rest)| {
        rest.find('/').map_or("/", |slash| &rest[slash..])
    });
    path == "/sign-in" || path.starts_with("/sign-in?")
}

/// A successful callback: the right state and issuer (RFC 9207), and its code.
pub fn code_of(callback: &Callback, product: &OidcClient, start: &AuthorizationStart) -> String {
    assert_eq!(
        callback.target(),
        product.redirect_uri(),
        "{}",
        callback.url
    );
    assert_eq!(callback.get("error"), None, "{}", callback.url);
    assert_eq!(
        callback.get("state"),
        Some(start.state.secret().as_str()),
        "the state comes back: {}",
        callback.url
    );
    assert_eq!(
        callback.get("iss"),
        Some(product.issuer().as_str()),
        "RFC 9207 iss: {}",
        callback.url
    );
    callback.get("code").expect("a code").to_string()
}

/// Everything a product does after the callback: exchange the code with the PKCE verifier,
/// and verify the ID token (signature, iss, aud, exp, nonce).
pub async fn finish(
    product: &OidcClient,
    callback: &Callback,
    start: AuthorizationStart,
) -> (CoreTokenResponse, CoreIdTokenClaims) {
    let code = code_of(callback, product, &start);
    let nonce = start.nonce.clone();
    let tokens = product
        .exchange(&code, start.verifier)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {}", token_error(&e)));
    let claims = product
        .verify_id_token(&tokens, Some(&nonce))
        .unwrap_or_else(|e| panic!("the ID token did not verify: {e}"));
    (tokens, claims)
}

/// A signed-in product session from scratch: start, sign in, callback, tokens.
pub async fn sign_in_to_product(
    app: &TestApp,
    browser: &Browser,
    product: &OidcClient,
    scopes: &[&str],
    email: &str,
    step: &SecondStep,
) -> (CoreTokenResponse, CoreIdTokenClaims, Trip) {
    let start = product.start(scopes, &[]);
    let (callback, trip) = authorize(app, browser, product, &start, email, step).await;
    let (tokens, claims) = finish(product, &callback, start).await;
    (tokens, claims, trip)
}

/// The `amr` values of an ID token.
pub fn amr(claims: &CoreIdTokenClaims) -> Vec<String> {
    claims
        .auth_method_refs()
        .map(|refs| refs.iter().map(|r| r.to_string()).collect())
        .unwrap_or_default()
}

/// The `error` code of a failed token request, or a description of a transport failure.
pub fn token_error<E: std::error::Error + 'static>(
    error: &openidconnect::RequestTokenError<
        E,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> String {
    match error {
        openidconnect::RequestTokenError::ServerResponse(response) => response.error().to_string(),
        other => format!("{other:?}"),
    }
}

/// An authorization request with exactly these query parameters, for requests the library
/// will not build (a bad `response_type`, `plain` PKCE, a foreign `redirect_uri`).
pub fn authorize_url(product: &OidcClient, params: &[(&str, &str)]) -> String {
    let mut url = product.metadata.authorization_endpoint().url().clone();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// A fresh browser's first sign-in to the product, saving the backup code on the way.
pub async fn first_sign_in(
    app: &TestApp,
    product: &OidcClient,
    scopes: &[&str],
    email: &str,
) -> (Browser, CoreTokenResponse, CoreIdTokenClaims) {
    let browser = app.browser();
    let (tokens, claims, _) = sign_in_to_product(
        app,
        &browser,
        product,
        scopes,
        email,
        &SecondStep::EmailedCode { trust: false },
    )
    .await;
    (browser, tokens, claims)
}

/// A redirect straight to the product, with no page in between (S43: `prompt=none`, or a
/// live session and no form just submitted).
pub fn straight_back(page: &Page, redirect_uri: &str) -> Callback {
    assert!(
        matches!(page.status, 302 | 303),
        "expected a redirect to the product, got {}: {}",
        page.status,
        page.body
    );
    let location = page.location_header().expect("a Location");
    let callback = Callback::parse(&location);
    assert_eq!(callback.target(), redirect_uri, "{location}");
    callback
}

/// Presses the submit button labelled `label` on `page`, as a person would: the fields of
/// its form (the CSRF field from the cookie, as the browser helper does) and the button's own
/// name and value, POSTed to the form's action.
pub async fn press(browser: &Browser, page: &Page, label: &str) -> Page {
    let (form, button) = page
        .html()
        .form_of_button(label)
        .unwrap_or_else(|| panic!("no {label:?} button in a form: {}", page.body));
    let action = form.action().expect("a form action");
    let path = match action.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map_or("/".to_string(), |p| rest[p..].to_string()),
        None => action.to_string(),
    };
    let fields = form.submission(&button);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    browser.post(&path, &fields).await
}
