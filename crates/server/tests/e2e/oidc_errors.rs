//! What an attacker (or a broken product) gets from malformed or hostile OpenID Connect
//! requests (docs/oidc-contract.md; S38-S41, S45): error pages instead of open redirects,
//! RFC 6749 error codes, and never a server error. Requests the library will not build are
//! sent as plain HTTP.

use crate::helpers::TestApp;
use crate::oidc_support::{
    authorize_url, code_of, first_sign_in, product, straight_back, token_error, REDIRECT_URI,
};
use gatehouse_testkit::oidc::{Callback, RawResponse};
use gatehouse_testkit::{Browser, ClientAuth, OidcClient};
use openidconnect::{OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier};

/// A fresh code for `product` from a browser with a live session (a redirect, no page),
/// with the PKCE verifier that goes with it.
async fn fresh_code(browser: &Browser, product: &OidcClient) -> (String, PkceCodeVerifier) {
    let start = product.start(&[], &[]);
    let page = browser.get_url(&start.url).await;
    let callback = straight_back(&page, product.redirect_uri());
    (code_of(&callback, product, &start), start.verifier)
}

/// The error redirect of an authorization request: to the registered redirect URI, with
/// `error`, `state` and `iss` (contract, "Authorization request").
fn error_redirect(page: &gatehouse_testkit::Page, product: &OidcClient, state: &str) -> String {
    let callback = straight_back(page, product.redirect_uri());
    assert_eq!(callback.target(), REDIRECT_URI);
    assert_eq!(callback.get("code"), None);
    assert_eq!(callback.get("state"), Some(state), "{}", callback.url);
    assert_eq!(
        callback.get("iss"),
        Some(product.issuer().as_str()),
        "{}",
        callback.url
    );
    assert!(
        callback.get("error_description").is_some(),
        "{}",
        callback.url
    );
    callback.get("error").unwrap_or_default().to_string()
}

fn good_params<'a>(product: &'a OidcClient, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", product.registered.client_id.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid"),
        ("state", "st-123"),
        ("nonce", "n-123"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

fn with<'a>(
    mut params: Vec<(&'a str, &'a str)>,
    name: &'a str,
    value: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    params.retain(|(key, _)| *key != name);
    if let Some(value) = value {
        params.push((name, value));
    }
    params
}

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_uri_gets_an_error_page_never_a_redirect() {
    let app = TestApp::spawn().await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let challenge = challenge.as_str().to_string();
    let good = good_params(&shop, &challenge);
    let browser = app.browser();

    // S38: Gatehouse cannot trust these redirect URIs, so it must not send anyone there.
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "unknown client",
            with(good.clone(), "client_id", Some("no-such-client")),
        ),
        ("missing client", with(good.clone(), "client_id", None)),
        (
            "foreign redirect_uri",
            with(
                good.clone(),
                "redirect_uri",
                Some("https://evil.example/callback"),
            ),
        ),
        (
            "other path",
            with(
                good.clone(),
                "redirect_uri",
                Some("http://127.0.0.1:9/callback/other"),
            ),
        ),
        (
            "trailing slash",
            with(
                good.clone(),
                "redirect_uri",
                Some("http://127.0.0.1:9/callback/"),
            ),
        ),
        (
            "extra query",
            with(
                good.clone(),
                "redirect_uri",
                Some("http://127.0.0.1:9/callback?next=https://evil.example"),
            ),
        ),
        (
            "other port",
            with(
                good.clone(),
                "redirect_uri",
                Some("http://127.0.0.1:10/callback"),
            ),
        ),
        (
            "bad redirect and bad response_type",
            with(
                with(
                    good.clone(),
                    "redirect_uri",
                    Some("https://evil.example/callback"),
                ),
                "response_type",
                Some("token"),
            ),
        ),
    ];
    for (case, params) in cases {
        let page = browser.get_url(&authorize_url(&shop, &params)).await;
        assert_eq!(page.status, 400, "{case}: {}", page.body);
        assert_eq!(page.location_header(), None, "{case}: no redirect");
        let content_type = page
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("text/html"),
            "{case}: {content_type}"
        );
        assert!(
            !page.html().mentions("evil.example"),
            "{case}: not even a link"
        );
    }
}

#[tokio::test]
async fn only_the_code_response_type_is_accepted() {
    let app = TestApp::spawn().await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let challenge = challenge.as_str().to_string();
    let browser = app.browser();
    // S41: no implicit or hybrid flow.
    for response_type in [
        "token",
        "id_token",
        "id_token token",
        "code id_token",
        "none",
    ] {
        let params = with(
            good_params(&shop, &challenge),
            "response_type",
            Some(response_type),
        );
        let page = browser.get_url(&authorize_url(&shop, &params)).await;
        assert_eq!(
            error_redirect(&page, &shop, "st-123"),
            "unsupported_response_type",
            "{response_type}"
        );
    }
}

#[tokio::test]
async fn pkce_must_be_s256_and_public_clients_must_use_it() {
    let app = TestApp::spawn().await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let phone = product(&app, "Phone", &["--public"], ClientAuth::None).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let challenge = challenge.as_str().to_string();
    let browser = app.browser();

    // S40: `plain` is refused, for every client.
    for client in [&shop, &phone] {
        let params = with(
            good_params(client, &challenge),
            "code_challenge_method",
            Some("plain"),
        );
        let page = browser.get_url(&authorize_url(client, &params)).await;
        assert_eq!(error_redirect(&page, client, "st-123"), "invalid_request");
    }
    // A public client without a challenge.
    let params = with(good_params(&phone, &challenge), "code_challenge", None);
    let params = with(params, "code_challenge_method", None);
    let page = browser.get_url(&authorize_url(&phone, &params)).await;
    assert_eq!(error_redirect(&page, &phone, "st-123"), "invalid_request");
}

#[tokio::test]
async fn bad_scopes_and_max_age_are_refused_with_a_redirect() {
    let app = TestApp::spawn().await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let challenge = challenge.as_str().to_string();
    let browser = app.browser();
    for scope in ["email", "openid admin"] {
        let params = with(good_params(&shop, &challenge), "scope", Some(scope));
        let page = browser.get_url(&authorize_url(&shop, &params)).await;
        assert_eq!(
            error_redirect(&page, &shop, "st-123"),
            "invalid_scope",
            "{scope}"
        );
    }
    for max_age in ["-1", "soon"] {
        let params = with(good_params(&shop, &challenge), "max_age", Some(max_age));
        let page = browser.get_url(&authorize_url(&shop, &params)).await;
        assert_eq!(
            error_redirect(&page, &shop, "st-123"),
            "invalid_request",
            "max_age={max_age}"
        );
    }
}

#[tokio::test]
async fn a_code_is_exchanged_only_with_its_verifier_and_redirect_uri() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (browser, _, _) = first_sign_in(&app, &shop, &[], "ann@example.com").await;

    // S40: the code is bound to the challenge.
    let (code, _) = fresh_code(&browser, &shop).await;
    let wrong = shop
        .exchange(&code, PkceCodeVerifier::new("x".repeat(64)))
        .await
        .expect_err("a wrong verifier");
    assert_eq!(token_error(&wrong), "invalid_grant");

    let (code, _) = fresh_code(&browser, &shop).await;
    let missing = shop
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ])
        .await;
    assert_eq!(
        (missing.status, missing.error()),
        (400, "invalid_grant".into()),
        "{}",
        missing.body
    );

    let (code, verifier) = fresh_code(&browser, &shop).await;
    let other_uri = shop
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", verifier.secret().as_str()),
        ])
        .await;
    assert_eq!(
        (other_uri.status, other_uri.error()),
        (400, "invalid_grant".into()),
        "{}",
        other_uri.body
    );

    // Another client cannot redeem this client's code.
    let other = product(&app, "Other", &[], ClientAuth::Basic).await;
    let (code, verifier) = fresh_code(&browser, &shop).await;
    let stolen = other
        .exchange(&code, verifier)
        .await
        .expect_err("another client's code");
    assert_eq!(token_error(&stolen), "invalid_grant");
    // A made-up code.
    let (_, verifier) = fresh_code(&browser, &shop).await;
    let invented = shop
        .exchange("no-such-code", verifier)
        .await
        .expect_err("an unknown code");
    assert_eq!(token_error(&invented), "invalid_grant");
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_it_issued() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (browser, _, _) = first_sign_in(&app, &shop, &[], "ann@example.com").await;
    let start = shop.start(&["offline_access"], &[]);
    let page = browser.get_url(&start.url).await;
    let callback = Callback::parse(&page.location_header().expect("a redirect"));
    let code = code_of(&callback, &shop, &start);
    let verifier = start.verifier.secret().clone();

    let tokens = shop
        .exchange(&code, PkceCodeVerifier::new(verifier.clone()))
        .await
        .expect("the first use works");
    assert!(shop.user_info(tokens.access_token()).await.is_ok());

    // S39: an intercepted code replayed after the product used it.
    let replay = shop
        .exchange(&code, PkceCodeVerifier::new(verifier))
        .await
        .expect_err("a used code");
    assert_eq!(token_error(&replay), "invalid_grant");
    assert!(
        shop.user_info(tokens.access_token()).await.is_err(),
        "the access token the code issued is revoked"
    );
    let refresh = tokens.refresh_token().expect("a refresh token").clone();
    let refused = shop.refresh(&refresh).await.expect_err("revoked");
    assert_eq!(token_error(&refused), "invalid_grant");
}

#[tokio::test]
async fn wrong_client_credentials_get_invalid_client() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (browser, _, _) = first_sign_in(&app, &shop, &[], "ann@example.com").await;
    let token_url = shop.token_url();
    let id = shop.registered.client_id.clone();

    let (code, verifier) = fresh_code(&browser, &shop).await;
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.secret().as_str()),
    ];
    let check = |case: &str, response: &RawResponse, basic: bool| {
        assert_eq!(response.status, 401, "{case}: {}", response.body);
        assert_eq!(response.error(), "invalid_client", "{case}");
        assert_eq!(
            response.header("cache-control").as_deref(),
            Some("no-store"),
            "{case}: S45"
        );
        if basic {
            let challenge = response.header("www-authenticate").unwrap_or_default();
            assert!(challenge.starts_with("Basic"), "{case}: {challenge}");
        }
    };
    let wrong_basic = shop
        .http
        .post_form(&token_url, &grant, Some((id.as_str(), "wrong-secret")))
        .await;
    check("wrong secret, Basic", &wrong_basic, true);
    let mut body = grant.to_vec();
    body.extend([
        ("client_id", id.as_str()),
        ("client_secret", "wrong-secret"),
    ]);
    let wrong_post = shop.http.post_form(&token_url, &body, None).await;
    check("wrong secret, post", &wrong_post, false);
    let mut body = grant.to_vec();
    body.push(("client_id", id.as_str()));
    let no_secret = shop.http.post_form(&token_url, &body, None).await;
    check("confidential client without a secret", &no_secret, false);
    let unknown = shop
        .http
        .post_form(&token_url, &grant, Some(("no-such-client", "secret")))
        .await;
    check("unknown client", &unknown, true);

    // None of those attempts spent the code: the right credentials still redeem it.
    let good = shop.post_token(&grant).await;
    assert_eq!(good.status, 200, "{}", good.body);
}

#[tokio::test]
async fn only_the_code_and_refresh_grants_exist() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    // S41: no password grant, even with the right password; no client credentials.
    for fields in [
        vec![
            ("grant_type", "password"),
            ("username", "ann@example.com"),
            ("password", crate::helpers::PASSWORD),
            ("scope", "openid"),
        ],
        vec![("grant_type", "client_credentials")],
        vec![("grant_type", "implicit")],
        vec![("grant_type", "urn:ietf:params:oauth:grant-type:device_code")],
    ] {
        let response = shop.post_token(&fields).await;
        assert_eq!(response.status, 400, "{fields:?}: {}", response.body);
        assert_eq!(response.error(), "unsupported_grant_type", "{fields:?}");
        assert!(response.json().get("access_token").is_none());
    }
}

#[tokio::test]
async fn token_responses_are_never_cached() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &["--public"], ClientAuth::None).await;
    let (browser, _, _) = first_sign_in(&app, &shop, &[], "ann@example.com").await;
    let (code, verifier) = fresh_code(&browser, &shop).await;
    let success = shop
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.secret().as_str()),
        ])
        .await;
    assert_eq!(success.status, 200, "{}", success.body);
    let failure = shop
        .post_token(&[("grant_type", "authorization_code"), ("code", "nope")])
        .await;
    assert_eq!(failure.status, 400, "{}", failure.body);
    // A refresh answer too.
    let start = shop.start(&["offline_access"], &[]);
    let page = browser.get_url(&start.url).await;
    let callback = straight_back(&page, shop.redirect_uri());
    let code = code_of(&callback, &shop, &start);
    let tokens = shop
        .exchange(&code, start.verifier)
        .await
        .expect("exchange");
    let refresh_token = tokens
        .refresh_token()
        .expect("a refresh token")
        .secret()
        .clone();
    let refreshed = shop
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
        ])
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    // S45, for successes and errors alike.
    for response in [&success, &failure, &refreshed] {
        assert_eq!(
            response.header("cache-control").as_deref(),
            Some("no-store"),
            "{}",
            response.body
        );
        assert!(response
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"));
    }
    let body = success.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["id_token"].is_string() && body["access_token"].is_string());
}

#[tokio::test]
async fn malformed_requests_never_get_a_server_error() {
    let app = TestApp::spawn().await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let base = shop.issuer();
    let http = &shop.http;
    let id = shop.registered.client_id.clone();
    let secret = shop.registered.client_secret.clone().unwrap();
    let basic = Some((id.as_str(), secret.as_str()));
    let long = "x".repeat(10_000);
    let mut seen = Vec::new();

    for path in [
        "/oauth2/authorize",
        "/oauth2/authorize?response_type=code",
        "/oauth2/authorize?client_id=&redirect_uri=",
        "/oauth2/authorize?client_id=%00%ff&redirect_uri=%zz",
        "/oauth2/token",
        "/oauth2/jwks",
        "/.well-known/openid-configuration",
        "/oauth2/userinfo",
        "/oauth2/logout",
        "/oauth2/logout?id_token_hint=not.a.jwt&post_logout_redirect_uri=https://evil.example/",
    ] {
        let response = http.get(&format!("{base}{path}"), None).await;
        seen.push((format!("GET {path}"), response.status));
    }
    let authorize = format!(
        "{base}/oauth2/authorize?response_type=code&client_id={id}&redirect_uri={REDIRECT_URI}&scope=openid&state={long}&code_challenge={long}&code_challenge_method=S256"
    );
    seen.push((
        "GET authorize, long".into(),
        http.get(&authorize, None).await.status,
    ));
    for (path, fields) in [
        ("/oauth2/token", vec![]),
        ("/oauth2/token", vec![("grant_type", "authorization_code")]),
        ("/oauth2/token", vec![("grant_type", "refresh_token")]),
        (
            "/oauth2/token",
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", long.as_str()),
            ],
        ),
        (
            "/oauth2/token",
            vec![("grant_type", "authorization_code"), ("code", "\u{0}\u{1}")],
        ),
        ("/oauth2/revoke", vec![]),
        ("/oauth2/revoke", vec![("token", long.as_str())]),
        ("/oauth2/introspect", vec![]),
        ("/oauth2/introspect", vec![("token", "")]),
        ("/oauth2/userinfo", vec![]),
    ] {
        for auth in [basic, None, Some(("", "")), Some((long.as_str(), "x"))] {
            let response = http
                .post_form(&format!("{base}{path}"), &fields, auth)
                .await;
            seen.push((format!("POST {path} {fields:?}"), response.status));
        }
    }
    let garbage_basic = shop
        .http
        .get(
            &format!("{base}/oauth2/userinfo"),
            Some("not a token, \"quoted\""),
        )
        .await;
    seen.push(("userinfo garbage".into(), garbage_basic.status));

    let errors: Vec<_> = seen.iter().filter(|(_, status)| *status >= 500).collect();
    assert!(errors.is_empty(), "server errors: {errors:?}");
    assert!(
        !app.server.output().contains("panicked"),
        "{}",
        app.server.output()
    );
}
