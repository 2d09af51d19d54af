//! Consent for third-party products (docs/oidc-contract.md, "Authorization request"): asked
//! once per account and product, never for first-party ones; `prompt=none` never shows the
//! page (S43).

use crate::helpers::TestApp;
use crate::oidc_support::{
    code_of, continue_from, finish, open, press, product, straight_back, Landing, Trip,
};
use gatehouse_testkit::ClientAuth;

#[tokio::test]
async fn a_third_party_product_asks_for_consent_once_and_deny_gives_it_nothing() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let partner = product(&app, "Partner", &["--third-party"], ClientAuth::Basic).await;
    assert!(partner.registered.third_party);
    let browser = app.signed_in_browser("ann@example.com").await;

    // S43: without consent, a silent request is answered, not shown a page.
    let start = partner.start(&[], &[("prompt", "none")]);
    let page = browser.get_url(&start.url).await;
    let callback = straight_back(&page, partner.redirect_uri());
    assert_eq!(
        callback.get("error"),
        Some("consent_required"),
        "{}",
        callback.url
    );

    // The consent page names the product; "Deny" sends nothing that could be exchanged.
    let start = partner.start(&["email"], &[]);
    let mut trip = Trip::default();
    let (_, page) = open(&browser, &start.url, partner.redirect_uri(), &mut trip)
        .await
        .page();
    assert_eq!(page.status, 200);
    let html = page.html();
    assert_eq!(
        html.heading().as_deref(),
        Some("Allow Partner?"),
        "{}",
        html.text()
    );
    assert!(
        html.button("Allow").is_some() && html.button("Deny").is_some(),
        "{}",
        html.text()
    );
    let denied = press(&browser, &page, "Deny").await;
    let landing = continue_from(
        &browser,
        browser.url("/"),
        denied,
        partner.redirect_uri(),
        &mut trip,
    )
    .await;
    if let Landing::Product(callback) = &landing {
        assert_eq!(callback.get("code"), None, "{}", callback.url);
        assert!(callback.get("error").is_some(), "{}", callback.url);
    }

    // Asked again (a refusal is not remembered as consent); "Allow" returns with a code.
    let start = partner.start(&["email"], &[]);
    let (_, page) = open(&browser, &start.url, partner.redirect_uri(), &mut trip)
        .await
        .page();
    let allowed = press(&browser, &page, "Allow").await;
    let callback = continue_from(
        &browser,
        browser.url("/"),
        allowed,
        partner.redirect_uri(),
        &mut trip,
    )
    .await
    .callback();
    code_of(&callback, &partner, &start);
    let (_, claims) = finish(&partner, &callback, start).await;
    assert_eq!(
        claims.email().map(|e| e.as_str().to_string()),
        Some("ann@example.com".to_string())
    );

    // Once allowed, never asked again: straight back, even silently.
    let start = partner.start(&["email"], &[]);
    let page = browser.get_url(&start.url).await;
    let callback = straight_back(&page, partner.redirect_uri());
    code_of(&callback, &partner, &start);
    let start = partner.start(&["email"], &[("prompt", "none")]);
    let page = browser.get_url(&start.url).await;
    let callback = straight_back(&page, partner.redirect_uri());
    code_of(&callback, &partner, &start);
}

#[tokio::test]
async fn a_first_party_product_never_shows_a_consent_page() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    assert!(!shop.registered.third_party);
    let browser = app.signed_in_browser("ann@example.com").await;
    let start = shop.start(&["email"], &[]);
    let page = browser.get_url(&start.url).await;
    let callback = straight_back(&page, shop.redirect_uri());
    code_of(&callback, &shop, &start);
}

/// Signing out of a third-party product on the account page withdraws the consent too: the
/// next authorization asks again, rather than handing the product a fresh sign-in silently.
#[tokio::test]
async fn signing_out_of_a_third_party_product_means_it_must_ask_again() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let partner = product(&app, "Partner", &["--third-party"], ClientAuth::Basic).await;
    let browser = app.signed_in_browser("ann@example.com").await;
    let start = partner.start(&["email"], &[]);
    let mut trip = Trip::default();
    let (_, page) = open(&browser, &start.url, partner.redirect_uri(), &mut trip)
        .await
        .page();
    let allowed = press(&browser, &page, "Allow").await;
    let callback = continue_from(
        &browser,
        browser.url("/"),
        allowed,
        partner.redirect_uri(),
        &mut trip,
    )
    .await
    .callback();
    code_of(&callback, &partner, &start);
    finish(&partner, &callback, start).await;

    let done = browser
        .post(
            "/account/products/sign-out",
            &[("client_id", &partner.registered.client_id)],
        )
        .await;
    assert_eq!(
        done.location.as_deref(),
        Some("/account?notice=product-signed-out")
    );

    let start = partner.start(&["email"], &[("prompt", "none")]);
    let page = browser.get_url(&start.url).await;
    let callback = straight_back(&page, partner.redirect_uri());
    assert_eq!(
        callback.get("error"),
        Some("consent_required"),
        "{}",
        callback.url
    );
    let start = partner.start(&["email"], &[]);
    let mut trip = Trip::default();
    let (_, page) = open(&browser, &start.url, partner.redirect_uri(), &mut trip)
        .await
        .page();
    assert_eq!(
        page.html().heading().as_deref(),
        Some("Allow Partner?"),
        "asked again"
    );
}
