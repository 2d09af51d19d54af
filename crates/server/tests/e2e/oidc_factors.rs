//! The sign-in behind an ID token is the ordinary one, with every check (S49), and the token
//! says which factors it took (`amr`, `acr`; S42): a backup code, a trusted device. A
//! disabled account keeps nothing (S33).

use crate::helpers::TestApp;
use crate::oidc_support::{
    amr, authorize, enter_email_on, finish, first_sign_in, is_sign_in, open, product,
    sign_in_to_product, straight_back, token_error, SecondStep, Trip,
};
use gatehouse_testkit::oidc::Callback;
use gatehouse_testkit::ClientAuth;
use openidconnect::OAuth2TokenResponse;

#[tokio::test]
async fn a_backup_code_sign_in_names_the_backup_code_in_amr() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let step = SecondStep::EmailedCode { trust: false };
    let (_, _, trip) =
        sign_in_to_product(&app, &app.browser(), &shop, &[], "ann@example.com", &step).await;
    let saved = trip
        .backup_code
        .expect("the first sign-in showed a backup code");

    let browser = app.browser();
    let start = shop.start(&[], &[]);
    let (callback, trip) = authorize(
        &app,
        &browser,
        &shop,
        &start,
        "ann@example.com",
        &SecondStep::BackupCode(saved.clone()),
    )
    .await;
    // S24: a used backup code is replaced on the way; then the sign-in is reviewed, and
    // "Everything looks right" goes on to the product (issue 12).
    assert!(trip.backup_code.is_some_and(|next| next != saved));
    assert!(trip.reviewed);
    let (_, claims) = finish(&shop, &callback, start).await;
    let methods = amr(&claims);
    for factor in ["pwd", "backup-code", "mfa"] {
        assert!(methods.contains(&factor.to_string()), "amr {methods:?}");
    }
    assert!(
        !methods.contains(&"email".to_string()),
        "the e-mailed code was not used: amr {methods:?}"
    );
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str().to_string()),
        Some("urn:gatehouse:acr:mfa".to_string())
    );
}

#[tokio::test]
async fn a_trusted_device_sign_in_says_device_and_not_mfa() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let browser = app.browser();
    let step = SecondStep::EmailedCode { trust: true };
    let (_, claims, _) =
        sign_in_to_product(&app, &browser, &shop, &[], "ann@example.com", &step).await;
    assert!(amr(&claims).contains(&"email".to_string()));
    app.sign_out(&browser).await;

    // S49: the product's sign-in takes the same path: the password is still asked, the code
    // is not, and the token does not claim a second factor that was not entered.
    let start = shop.start(&[], &[]);
    let (callback, _) = authorize(
        &app,
        &browser,
        &shop,
        &start,
        "ann@example.com",
        &SecondStep::TrustedDevice,
    )
    .await;
    let (_, claims) = finish(&shop, &callback, start).await;
    let methods = amr(&claims);
    assert!(
        methods.contains(&"pwd".to_string()) && methods.contains(&"device".to_string()),
        "amr {methods:?}"
    );
    assert!(!methods.contains(&"mfa".to_string()), "amr {methods:?}");
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str().to_string()),
        Some("urn:gatehouse:acr:trusted-device".to_string())
    );
}

#[tokio::test]
async fn a_wrong_password_through_a_product_gets_the_same_refusal() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let browser = app.browser();
    let start = shop.start(&[], &[]);
    let mut trip = Trip::default();
    let (url, page) = open(&browser, &start.url, shop.redirect_uri(), &mut trip)
        .await
        .page();
    assert!(is_sign_in(&url), "{url}");
    // The sign-in form carries the way back to the product; its checks are the ordinary
    // ones (S49): a wrong password gets the ordinary refusal, and no way onwards.
    let page = enter_email_on(&browser, &page, "ann@example.com").await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/password"));
    let page = browser
        .post("/sign-in/password", &[("password", "not the password")])
        .await;
    assert_eq!(page.status, 401);
    assert!(page.html().has_text("Email or password is incorrect"));
    assert!(page.location_header().is_none());
    // And the product gets nothing without a session.
    let start = shop.start(&[], &[("prompt", "none")]);
    let page = browser.get_url(&start.url).await;
    let callback = Callback::parse(&page.location_header().expect("a redirect"));
    assert_eq!(callback.get("error"), Some("login_required"));
}

#[tokio::test]
async fn a_disabled_account_can_neither_refresh_nor_use_its_tokens() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (browser, tokens, _) =
        first_sign_in(&app, &shop, &["offline_access"], "ann@example.com").await;
    let refresh = tokens.refresh_token().expect("a refresh token").clone();

    let out = app
        .server
        .cli(&["user", "disable", "ann@example.com"], None)
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    // S49: refreshing is a way to get tokens, so it checks the account like a sign-in.
    let refused = shop
        .refresh(&refresh)
        .await
        .expect_err("a disabled account");
    assert_eq!(token_error(&refused), "invalid_grant");
    assert!(shop.user_info(tokens.access_token()).await.is_err());
    // S33: the session ended with the account, so no silent sign-in either.
    let start = shop.start(&[], &[("prompt", "none")]);
    let page = browser.get_url(&start.url).await;
    let callback = straight_back(&page, shop.redirect_uri());
    assert_eq!(
        callback.get("error"),
        Some("login_required"),
        "{}",
        callback.url
    );

    // Enabling the account again does not bring the old grant back.
    let out = app
        .server
        .cli(&["user", "enable", "ann@example.com"], None)
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        shop.user_info(tokens.access_token()).await.is_err(),
        "S33: the access token stays dead"
    );
    let still = shop.refresh(&refresh).await.expect_err("still revoked");
    assert_eq!(token_error(&still), "invalid_grant");
}
