//! What a product does with its tokens (docs/oidc-contract.md, "Token endpoint" and
//! "Tokens and claims"): refresh with rotation (S44), userinfo, RFC 7009 revocation and
//! RFC 7662 introspection, through the `openidconnect` crate's own requests.

use crate::helpers::TestApp;
use crate::oidc_support::{amr, first_sign_in, product, token_error};
use gatehouse_testkit::ClientAuth;
use openidconnect::core::CoreRevocableToken;
use openidconnect::{OAuth2TokenResponse, TokenIntrospectionResponse};

#[tokio::test]
async fn refresh_tokens_rotate_and_a_used_one_revokes_the_whole_grant() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (_, tokens, claims) =
        first_sign_in(&app, &shop, &["email", "offline_access"], "ann@example.com").await;
    let first = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .clone();

    let refreshed = shop
        .refresh(&first)
        .await
        .unwrap_or_else(|e| panic!("refresh failed: {}", token_error(&e)));
    let second = refreshed
        .refresh_token()
        .expect("a new refresh token")
        .clone();
    assert_ne!(second.secret(), first.secret(), "refresh tokens rotate");
    assert_ne!(
        refreshed.access_token().secret(),
        tokens.access_token().secret()
    );
    // A refreshed ID token is the same person and keeps the sign-in's facts.
    let again = shop
        .verify_id_token(&refreshed, None)
        .unwrap_or_else(|e| panic!("the refreshed ID token did not verify: {e}"));
    assert_eq!(again.subject(), claims.subject());
    assert_eq!(again.auth_time(), claims.auth_time());
    assert_eq!(amr(&again), amr(&claims));
    assert_eq!(again.auth_context_ref(), claims.auth_context_ref());
    if let Some(nonce) = again.nonce() {
        assert_eq!(
            nonce.secret(),
            claims.nonce().unwrap().secret(),
            "a nonce, if any, is the original"
        );
    }
    let info = shop
        .user_info(refreshed.access_token())
        .await
        .expect("the new access token works");
    assert_eq!(info.subject(), claims.subject());

    // S44: the old refresh token stopped working at once; presenting it (as a thief who
    // copied it would) revokes the whole grant, so the legitimate new tokens die too.
    let reused = shop
        .refresh(&first)
        .await
        .expect_err("a used refresh token");
    assert_eq!(token_error(&reused), "invalid_grant");
    let after = shop
        .refresh(&second)
        .await
        .expect_err("the family is revoked");
    assert_eq!(token_error(&after), "invalid_grant");
    assert!(
        shop.user_info(refreshed.access_token()).await.is_err(),
        "the grant's access tokens are revoked with it"
    );
}

#[tokio::test]
async fn a_refresh_token_works_only_for_its_own_client() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let other = product(&app, "Other", &[], ClientAuth::Basic).await;
    let (_, tokens, _) = first_sign_in(&app, &shop, &["offline_access"], "ann@example.com").await;
    let refresh = tokens.refresh_token().expect("a refresh token").clone();
    let stolen = other
        .refresh(&refresh)
        .await
        .expect_err("another client's token");
    assert_eq!(token_error(&stolen), "invalid_grant");
}

#[tokio::test]
async fn userinfo_answers_for_a_live_access_token_and_revocation_ends_it() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (_, tokens, claims) = first_sign_in(&app, &shop, &["email"], "ann@example.com").await;
    let access = tokens.access_token().clone();

    let info = shop.user_info(&access).await.expect("userinfo");
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(
        info.email().map(|e| e.as_str().to_string()),
        Some("ann@example.com".to_string())
    );
    assert_eq!(info.email_verified(), Some(true));
    // POST works too (OpenID Connect Core §5.3.1).
    let posted = reqwest_post_bearer(&shop.userinfo_url(), access.secret()).await;
    assert_eq!(posted.0, 200, "{}", posted.1);

    // RFC 7009 with the library's request (access token, with its type hint).
    answered_200(
        shop.revoke(CoreRevocableToken::AccessToken(access.clone()))
            .await,
        "revocation answers 200",
    );
    assert!(shop.user_info(&access).await.is_err());
    let refused = shop
        .http
        .get(&shop.userinfo_url(), Some(access.secret()))
        .await;
    assert_eq!(refused.status, 401);
    let challenge = refused.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    // Revoking again, or revoking nonsense, is still a 200 (RFC 7009 §2.2).
    answered_200(
        shop.revoke(CoreRevocableToken::AccessToken(access.clone()))
            .await,
        "revoking twice is fine",
    );
    answered_200(
        shop.revoke(CoreRevocableToken::AccessToken(
            openidconnect::AccessToken::new("no-such-token".into()),
        ))
        .await,
        "an unknown token is fine",
    );
    // Revocation authenticates the client like the token endpoint.
    let anonymous = shop
        .http
        .post_form(&shop.revocation_url(), &[("token", access.secret())], None)
        .await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);

    // A token that never existed, and no token at all.
    let bogus = shop.http.get(&shop.userinfo_url(), Some("bogus")).await;
    assert_eq!(bogus.status, 401);
    let missing = shop.http.get(&shop.userinfo_url(), None).await;
    assert_eq!(missing.status, 401);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_whole_grant() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Post).await;
    let (_, tokens, _) = first_sign_in(&app, &shop, &["offline_access"], "ann@example.com").await;
    let refresh = tokens.refresh_token().expect("a refresh token").clone();
    answered_200(
        shop.revoke(CoreRevocableToken::RefreshToken(refresh.clone()))
            .await,
        "revocation answers 200",
    );
    let refused = shop.refresh(&refresh).await.expect_err("revoked");
    assert_eq!(token_error(&refused), "invalid_grant");
    assert!(
        shop.user_info(tokens.access_token()).await.is_err(),
        "the grant's access token is revoked too"
    );
}

#[tokio::test]
async fn introspection_tells_live_tokens_from_dead_ones_and_only_to_their_client() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let other = product(&app, "Other", &[], ClientAuth::Basic).await;
    let (_, tokens, claims) =
        first_sign_in(&app, &shop, &["email", "offline_access"], "ann@example.com").await;
    let access = tokens.access_token().secret().clone();

    let live = shop.introspect(&access).await.expect("introspection");
    assert!(live.active());
    assert_eq!(
        live.client_id().map(|c| c.as_str().to_string()),
        Some(shop.registered.client_id.clone())
    );
    assert_eq!(live.sub(), Some(claims.subject().as_str()));
    assert_eq!(live.iss(), Some(shop.issuer().as_str()));
    assert!(live.exp().is_some() && live.iat().is_some());
    assert!(live.token_type().is_some());
    let scopes: Vec<String> = live
        .scopes()
        .map(|s| s.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    assert!(scopes.contains(&"openid".to_string()), "{scopes:?}");

    // A client only sees its own tokens as active.
    let foreign = other.introspect(&access).await.expect("introspection");
    assert!(!foreign.active());
    assert_eq!(foreign.sub(), None, "an inactive answer says nothing else");

    let unknown = shop
        .introspect("no-such-token")
        .await
        .expect("introspection");
    assert!(!unknown.active());

    // Introspection needs client authentication.
    let anonymous = shop
        .http
        .post_form(
            &shop
                .metadata
                .additional_metadata()
                .introspection_endpoint
                .to_string(),
            &[("token", access.as_str())],
            None,
        )
        .await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);

    answered_200(
        shop.revoke(CoreRevocableToken::AccessToken(
            tokens.access_token().clone(),
        ))
        .await,
        "revocation",
    );
    let dead = shop.introspect(&access).await.expect("introspection");
    assert!(!dead.active());
}

/// POST to userinfo with the token in the header and nothing in the body.
async fn reqwest_post_bearer(url: &str, token: &str) -> (u16, String) {
    let http = gatehouse_testkit::OidcHttp::new();
    let request = openidconnect::http::Request::builder()
        .method("POST")
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .body(Vec::new())
        .unwrap();
    let response = http.send(request).await.unwrap();
    (
        response.status().as_u16(),
        String::from_utf8_lossy(response.body()).into_owned(),
    )
}

/// RFC 7009 §2.2: the revocation endpoint answers 200 to a well-formed request.
fn answered_200(response: gatehouse_testkit::oidc::RawResponse, why: &str) {
    assert_eq!(response.status, 200, "{why}: {}", response.body);
}

/// A single-page app on another origin can call the endpoints it needs: they read no
/// cookie, so any origin may read their answers (without credentials); the pages that do
/// read the session cookie allow no other origin.
#[tokio::test]
async fn single_page_apps_may_call_the_protocol_endpoints_from_another_origin() {
    let app = TestApp::spawn().await;
    let shop = product(&app, "Shop", &["--public"], ClientAuth::None).await;
    let http = &shop.http;
    let preflight = openidconnect::http::Request::builder()
        .method("OPTIONS")
        .uri(shop.userinfo_url())
        .header("origin", "https://spa.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .body(Vec::new())
        .unwrap();
    let answer = http.send(preflight).await.unwrap();
    assert_eq!(answer.status().as_u16(), 204);
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("access-control-allow-origin"), "*");
    assert!(header("access-control-allow-headers").contains("authorization"));
    assert!(header("access-control-allow-credentials").is_empty());

    let token = shop
        .post_token(&[("grant_type", "authorization_code"), ("code", "x")])
        .await;
    assert_eq!(
        token.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    let base = shop.issuer();
    let page = http.get(&format!("{base}/oauth2/authorize"), None).await;
    assert_eq!(page.header("access-control-allow-origin"), None);
    let account = http.get(&format!("{base}/account"), None).await;
    assert_eq!(account.header("access-control-allow-origin"), None);
}
