//! RP-initiated logout (docs/oidc-contract.md, "Logout"): the browser goes back only to an
//! address registered for the product (S37), signing out is a POST from a confirmation page
//! (S35), and the session really ends on the server (S33).

use crate::helpers::TestApp;
use crate::oidc_support::{first_sign_in, press, product};
use gatehouse_testkit::ClientAuth;
use openidconnect::core::CoreTokenResponse;
use openidconnect::OAuth2TokenResponse;

const BYE: &str = "https://shop.example/signed-out";

fn id_token_of(tokens: &CoreTokenResponse) -> String {
    use openidconnect::TokenResponse;
    tokens.id_token().expect("an ID token").to_string()
}

fn logout_path(fields: &[(&str, &str)]) -> String {
    let query = openidconnect::url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    format!("/oauth2/logout?{query}")
}

#[tokio::test]
async fn logout_returns_only_to_an_address_registered_for_the_product() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(
        &app,
        "Shop",
        &["--post-logout-redirect-uri", BYE],
        ClientAuth::Basic,
    )
    .await;
    let (browser, tokens, _) = first_sign_in(&app, &shop, &["email"], "ann@example.com").await;
    let hint = id_token_of(&tokens);

    // S37: an address the product did not register gets a page, never a redirect.
    for target in ["https://evil.example/", "https://shop.example/signed-out/x"] {
        let page = browser
            .get(&logout_path(&[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", target),
            ]))
            .await;
        assert_eq!(page.status, 400, "{target}");
        assert!(page.location.is_none(), "no redirect to {target}");
        assert!(page.html().has_text("not registered"), "{}", page.body);
    }
    // A token Gatehouse did not sign names no product, so it cannot open a redirect either.
    let forged = format!("{}x", &hint[..hint.len() - 1]);
    let page = browser
        .get(&logout_path(&[
            ("id_token_hint", &forged),
            ("post_logout_redirect_uri", BYE),
        ]))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());

    // The registered address, after the person confirms (S35: a POST with its CSRF token).
    let page = browser
        .get(&logout_path(&[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", BYE),
            ("state", "st-1"),
        ]))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.html().link("Stay signed in").is_some(),
        "{}",
        page.body
    );
    let done = press(&browser, &page, "Sign out").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(
        done.html().continue_url().as_deref(),
        Some("https://shop.example/signed-out?state=st-1"),
        "the Returning page leads to the registered address with the state: {}",
        done.body
    );
    // S33: the session ended on the server: the account page wants a sign-in again.
    let account = browser.get("/account").await;
    assert_eq!(account.status, 303);
    // The product's tokens are the product's business: logout ends the Gatehouse session.
    assert!(shop.user_info(tokens.access_token()).await.is_ok());
}

#[tokio::test]
async fn logout_without_a_session_goes_straight_back_and_a_cross_site_post_is_refused() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(
        &app,
        "Shop",
        &["--post-logout-redirect-uri", BYE],
        ClientAuth::Basic,
    )
    .await;
    let (_, tokens, _) = first_sign_in(&app, &shop, &["email"], "ann@example.com").await;
    let hint = id_token_of(&tokens);
    let stranger = app.browser();
    let page = stranger
        .get(&logout_path(&[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", BYE),
        ]))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location_header().as_deref(), Some(BYE));
    // S35: signing out is never done by a POST without this browser's CSRF token.
    let forged = stranger
        .post_raw("/oauth2/logout", &[("post_logout_redirect_uri", BYE)], &[])
        .await;
    assert_eq!(forged.status, 403);
}

/// The account page lists the products holding a sign-in, and signing out of one there ends
/// its tokens: it must send the person through the sign-in again.
#[tokio::test]
async fn signing_out_of_a_product_on_the_account_page_ends_its_tokens() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (browser, tokens, _) =
        first_sign_in(&app, &shop, &["email", "offline_access"], "ann@example.com").await;
    let account = browser.get("/account").await;
    assert_eq!(account.status, 200);
    let html = account.html();
    assert!(html
        .headings()
        .iter()
        .any(|h| h == "Products you're signed in to"));
    assert!(
        html.button("Sign out of Shop").is_some(),
        "Shop is listed with its own sign-out: {}",
        html.text()
    );
    assert!(html.has_text("stays signed in while you are away"));

    let done = browser
        .post(
            "/account/products/sign-out",
            &[("client_id", &shop.registered.client_id)],
        )
        .await;
    assert_eq!(
        done.location.as_deref(),
        Some("/account?notice=product-signed-out")
    );
    let refresh = tokens.refresh_token().expect("a refresh token");
    assert!(
        shop.refresh(refresh).await.is_err(),
        "the refresh token ended"
    );
    assert!(shop.user_info(tokens.access_token()).await.is_err());
    let account = browser.get("/account").await;
    let html = account.html();
    assert!(html.button("Sign out of Shop").is_none(), "{}", html.text());
    assert!(html.has_text("No product holds a sign-in from this account."));
    assert!(html.has_text("Signed out of a product"));
    // Gatehouse's own session is untouched.
    assert_eq!(account.status, 200);
}
