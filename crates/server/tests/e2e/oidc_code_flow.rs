//! A product signs a person in through Gatehouse with the authorization-code flow
//! (docs/oidc-contract.md), checked by the `openidconnect` crate: discovery, PKCE S256, the
//! nonce, each client authentication method and each ID token signing algorithm (S42).

use crate::helpers::TestApp;
use crate::oidc_support::{
    account_id, amr, authorize, code_of, finish, first_sign_in, product, sign_in_to_product,
    straight_back, SecondStep,
};
use gatehouse_testkit::oidc::id_token_header;
use gatehouse_testkit::Html;
use gatehouse_testkit::{ClientAuth, OidcClient};
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{IssuerUrl, JsonWebKey, JsonWebKeyAlgorithm, OAuth2TokenResponse};

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list
}

#[tokio::test]
async fn discovery_advertises_exactly_the_contracts_surface() {
    let app = TestApp::spawn().await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    // The issuer is the address the server printed, without a trailing slash.
    assert_eq!(shop.issuer(), app.server.base_url.trim_end_matches('/'));

    // The library's own type for plain OpenID Connect Discovery 1.0 accepts it too.
    let core = CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.server.base_url.clone()).unwrap(),
        &shop.http,
    )
    .await
    .expect("CoreProviderMetadata discovery");
    assert_eq!(core.issuer().as_str(), shop.issuer());
    assert!(!core.jwks().keys().is_empty(), "the JWKS has keys");

    let doc = shop
        .http
        .get(
            &format!("{}/.well-known/openid-configuration", shop.issuer()),
            None,
        )
        .await
        .json();
    let base = shop.issuer();
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{base}/oauth2/authorize")
    );
    assert_eq!(doc["token_endpoint"], format!("{base}/oauth2/token"));
    assert_eq!(doc["userinfo_endpoint"], format!("{base}/oauth2/userinfo"));
    assert_eq!(doc["jwks_uri"], format!("{base}/oauth2/jwks"));
    assert_eq!(doc["revocation_endpoint"], format!("{base}/oauth2/revoke"));
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{base}/oauth2/introspect")
    );
    assert_eq!(doc["end_session_endpoint"], format!("{base}/oauth2/logout"));
    // S41: code flow only; S40: S256 only.
    assert_eq!(strings(&doc["response_types_supported"]), ["code"]);
    assert_eq!(strings(&doc["response_modes_supported"]), ["query"]);
    assert_eq!(
        sorted(strings(&doc["grant_types_supported"])),
        ["authorization_code", "refresh_token"]
    );
    assert_eq!(strings(&doc["code_challenge_methods_supported"]), ["S256"]);
    assert_eq!(strings(&doc["subject_types_supported"]), ["public"]);
    assert_eq!(
        sorted(strings(&doc["id_token_signing_alg_values_supported"])),
        ["ES256", "EdDSA", "RS256"]
    );
    assert_eq!(
        sorted(strings(&doc["token_endpoint_auth_methods_supported"])),
        ["client_secret_basic", "client_secret_post", "none"]
    );
    assert_eq!(
        sorted(strings(&doc["scopes_supported"])),
        ["email", "offline_access", "openid", "profile"]
    );
    assert_eq!(
        sorted(strings(&doc["prompt_values_supported"])),
        ["consent", "login", "none"]
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert!(doc["claims_supported"].is_array());
}

#[tokio::test]
async fn a_product_signs_a_person_in_and_verifies_the_id_token() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    assert!(shop.registered.client_secret.is_some());
    assert_eq!(shop.registered.signing_alg, "RS256", "RS256 by default");
    let browser = app.browser();

    let start = shop.start(&["email"], &[]);
    let nonce = start.nonce.secret().clone();
    let (callback, trip) = authorize(
        &app,
        &browser,
        &shop,
        &start,
        "ann@example.com",
        &SecondStep::EmailedCode { trust: false },
    )
    .await;
    assert!(
        trip.backup_code.is_some(),
        "the first sign-in saved a backup code"
    );
    // After the sign-in forms, a page that continues on its own names the product.
    assert!(
        trip.returning_pages
            .iter()
            .any(|page| Html::parse(page).has_text("Returning you to Shop")),
        "{:?}",
        trip.returning_pages
    );
    let before_exchange = now();
    let (tokens, claims) = finish(&shop, &callback, start).await;

    assert_eq!(tokens.token_type().as_ref().to_lowercase(), "bearer");
    assert_eq!(
        tokens.expires_in().map(|d| d.as_secs()),
        Some(900),
        "access tokens live 15 minutes"
    );
    assert!(
        tokens.refresh_token().is_none(),
        "no refresh token without offline_access"
    );
    let scopes: Vec<String> = tokens
        .scopes()
        .map(|s| s.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    assert!(
        scopes.contains(&"openid".to_string()) && scopes.contains(&"email".to_string()),
        "{scopes:?}"
    );
    let header = id_token_header(&tokens);
    assert_eq!(header["alg"], "RS256");
    assert!(
        header["kid"].as_str().is_some_and(|k| !k.is_empty()),
        "{header}"
    );

    // S42: exact iss and aud (verified by the library), stable sub, nonce, auth_time, amr.
    let ann = account_id(&app, "ann@example.com").await;
    assert_eq!(claims.subject().as_str(), ann, "sub is the account id");
    assert_eq!(claims.nonce().map(|n| n.secret().clone()), Some(nonce));
    assert_eq!(
        claims.email().map(|e| e.as_str().to_string()),
        Some("ann@example.com".to_string())
    );
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(
        claims.authorized_party().map(|a| a.as_str().to_string()),
        Some(shop.registered.client_id.clone())
    );
    assert_eq!(
        claims
            .audiences()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        [shop.registered.client_id.as_str()]
    );
    let auth_time = claims.auth_time().expect("auth_time").timestamp();
    assert!(
        auth_time <= before_exchange && auth_time > before_exchange - 300,
        "auth_time {auth_time} is the sign-in just made (now {before_exchange})"
    );
    let expires = claims.expiration().timestamp() - claims.issue_time().timestamp();
    assert_eq!(expires, 900, "ID tokens live 15 minutes");
    let methods = amr(&claims);
    for factor in ["pwd", "email", "mfa"] {
        assert!(methods.contains(&factor.to_string()), "amr {methods:?}");
    }
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str().to_string()),
        Some("urn:gatehouse:acr:mfa".to_string())
    );

    // The same browser asks again: no page at all, straight back with a code, and the same
    // person from the same sign-in.
    let start = shop.start(&["email"], &[]);
    let page = browser.get_url(&start.url).await;
    let callback = straight_back(&page, shop.redirect_uri());
    let (_, again) = finish(&shop, &callback, start).await;
    assert_eq!(again.subject(), claims.subject());
    assert_eq!(
        again.auth_time().map(|t| t.timestamp()),
        Some(auth_time),
        "same sign-in, same auth_time"
    );

    // Another browser, another sign-in (no backup code page this time): the same sub.
    let other = app.browser();
    let (_, third, trip) = sign_in_to_product(
        &app,
        &other,
        &shop,
        &["email"],
        "ann@example.com",
        &SecondStep::EmailedCode { trust: false },
    )
    .await;
    assert!(trip.backup_code.is_none());
    assert_eq!(third.subject(), claims.subject(), "sub is stable");
}

/// OpenID Connect Core §3.1.2.1: the authorization endpoint takes a POSTed form as well as a
/// GET (mod_auth_openidc's `OIDCProviderAuthRequestMethod POST`; it answered 405 before). The
/// form is sent on to the GET endpoint, where the browser's live session is seen, so the product
/// gets a code straight back.
#[tokio::test]
async fn an_authorization_request_may_be_posted_as_a_form() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (browser, _, first) = first_sign_in(&app, &shop, &["email"], "ann@example.com").await;

    let start = shop.start(&["email"], &[]);
    let url = url::Url::parse(&start.url).expect("the authorization URL");
    let fields: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // From the product's own page, as a browser sends it: another site, no CSRF token.
    let posted = browser
        .post_raw(
            "/oauth2/authorize",
            &form,
            &[
                ("origin", "https://shop.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    assert_eq!(posted.status, 303, "{}", posted.body);
    let location = posted.location_header().expect("a Location");
    let sent_on = url::Url::parse(&format!("http://gatehouse{location}")).expect("a URL");
    assert_eq!(sent_on.path(), "/oauth2/authorize");
    let mut sent: Vec<(String, String)> = sent_on.query_pairs().into_owned().collect();
    let mut wanted = fields.clone();
    sent.sort();
    wanted.sort();
    assert_eq!(sent, wanted, "the same request, as a GET");

    let page = browser.get(&location).await;
    let callback = straight_back(&page, shop.redirect_uri());
    let (_, claims) = finish(&shop, &callback, start).await;
    assert_eq!(claims.subject(), first.subject());
}

#[tokio::test]
async fn two_accounts_get_different_subjects() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    app.add_user("bob@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (_, _, ann) = first_sign_in(&app, &shop, &[], "ann@example.com").await;
    let (_, _, bob) = first_sign_in(&app, &shop, &[], "bob@example.com").await;
    assert_ne!(ann.subject(), bob.subject());
    assert_eq!(
        bob.subject().as_str(),
        account_id(&app, "bob@example.com").await
    );
    // Without the email scope, no email claims.
    assert_eq!(ann.email(), None);
}

#[tokio::test]
async fn a_public_client_signs_in_with_pkce_and_no_secret() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let app_client = product(&app, "Phone app", &["--public"], ClientAuth::None).await;
    assert!(app_client.registered.public);
    assert_eq!(
        app_client.registered.client_secret, None,
        "a public client has no secret"
    );
    let (_, tokens, claims) = first_sign_in(&app, &app_client, &["email"], "ann@example.com").await;
    assert_eq!(
        claims.subject().as_str(),
        account_id(&app, "ann@example.com").await
    );
    assert_eq!(
        claims.email().map(|e| e.as_str().to_string()),
        Some("ann@example.com".to_string())
    );
    let info = app_client
        .user_info(tokens.access_token())
        .await
        .expect("userinfo");
    assert_eq!(info.subject(), claims.subject());
}

#[tokio::test]
async fn a_confidential_client_may_send_its_secret_in_the_body() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Post).await;
    let (_, _, claims) = first_sign_in(&app, &shop, &["email"], "ann@example.com").await;
    assert_eq!(
        claims.subject().as_str(),
        account_id(&app, "ann@example.com").await
    );
}

#[tokio::test]
async fn id_tokens_are_signed_with_the_algorithm_registered_for_the_client() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let mut signed_in = false;
    for (alg, expected) in [
        ("ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256),
        ("EdDSA", CoreJwsSigningAlgorithm::EdDsa),
        ("RS256", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256),
    ] {
        let client = product(
            &app,
            &format!("Shop {alg}"),
            &["--signing-alg", alg],
            ClientAuth::Basic,
        )
        .await;
        assert_eq!(client.registered.signing_alg, alg);
        let start = client.start(&[], &[]);
        let callback = if signed_in {
            let page = browser.get_url(&start.url).await;
            straight_back(&page, client.redirect_uri())
        } else {
            signed_in = true;
            let step = SecondStep::EmailedCode { trust: false };
            authorize(&app, &browser, &client, &start, "ann@example.com", &step)
                .await
                .0
        };
        code_of(&callback, &client, &start);
        // `finish` verifies with only the client's algorithm allowed.
        let (tokens, claims) = finish(&client, &callback, start).await;
        assert_eq!(OidcClient::id_token_alg(&tokens), Some(expected.clone()));
        let header = id_token_header(&tokens);
        assert_eq!(header["alg"], alg);
        // The JWKS publishes the key under the header's kid, for that algorithm.
        let kid = header["kid"].as_str().expect("kid").to_string();
        let key = client
            .metadata
            .jwks()
            .keys()
            .iter()
            .find(|k| k.key_id().map(|id| id.as_str()) == Some(kid.as_str()))
            .unwrap_or_else(|| panic!("no JWKS key with kid {kid}"));
        assert!(
            match key.signing_alg() {
                JsonWebKeyAlgorithm::Algorithm(published) => *published == expected,
                JsonWebKeyAlgorithm::Unspecified => true,
                JsonWebKeyAlgorithm::Unsupported => false,
            },
            "{alg}: {key:?}"
        );
        assert!(!claims.subject().as_str().is_empty());
        // The same token is refused by a verifier that expects another algorithm (no
        // algorithm confusion).
        let mut wrong = client.registered.clone();
        wrong.signing_alg = if alg == "RS256" { "ES256" } else { "RS256" }.into();
        let strict = OidcClient {
            registered: wrong,
            metadata: client.metadata.clone(),
            client: client.client.clone(),
            http: client.http.clone(),
            auth: client.auth,
        };
        assert!(strict.verify_id_token(&tokens, None).is_err());
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
