//! `prompt`, `max_age` and `login_hint` (docs/oidc-contract.md, "Authorization request";
//! S43): `prompt=none` never shows a page, `prompt=login` and `max_age` force a full
//! sign-in even with a live session.

use crate::helpers::TestApp;
use crate::oidc_support::{
    code_of, finish, first_sign_in, is_sign_in, open, product, sign_in_from, straight_back,
    Landing, SecondStep, Trip,
};
use gatehouse_testkit::ClientAuth;

#[tokio::test]
async fn prompt_none_without_a_session_answers_login_required_without_a_page() {
    let app = TestApp::spawn().await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let start = shop.start(&[], &[("prompt", "none")]);
    let page = app.browser().get_url(&start.url).await;
    // S43: straight back to the product, no sign-in page in between.
    let callback = straight_back(&page, shop.redirect_uri());
    assert_eq!(callback.target(), shop.redirect_uri());
    assert_eq!(
        callback.get("error"),
        Some("login_required"),
        "{}",
        callback.url
    );
    assert_eq!(callback.get("state"), Some(start.state.secret().as_str()));
    assert_eq!(callback.get("iss"), Some(shop.issuer().as_str()));
    assert_eq!(callback.get("code"), None);
}

#[tokio::test]
async fn prompt_none_with_a_session_returns_a_code_without_a_page() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (browser, _, first) = first_sign_in(&app, &shop, &[], "ann@example.com").await;
    let start = shop.start(&[], &[("prompt", "none")]);
    let page = browser.get_url(&start.url).await;
    let callback = straight_back(&page, shop.redirect_uri());
    let (_, claims) = finish(&shop, &callback, start).await;
    assert_eq!(claims.subject(), first.subject());
}

/// From a signed-in browser, an authorization request with `extra` must land on the
/// sign-in page; going through it gives a new sign-in with a later `auth_time`.
async fn forces_a_new_sign_in(extra: &[(&str, &str)]) {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (browser, _, first) = first_sign_in(&app, &shop, &[], "ann@example.com").await;
    // auth_time counts seconds: make the next sign-in visibly later.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let start = shop.start(&[], extra);
    let mut trip = Trip::default();
    let (url, page) = open(&browser, &start.url, shop.redirect_uri(), &mut trip)
        .await
        .page();
    assert!(
        is_sign_in(&url),
        "{extra:?}: S43 sends to the sign-in, got {url}"
    );
    assert_eq!(page.status, 200);
    let step = SecondStep::EmailedCode { trust: false };
    let callback = sign_in_from(
        &app,
        &browser,
        &page,
        "ann@example.com",
        &step,
        shop.redirect_uri(),
        &mut trip,
    )
    .await
    .callback();
    code_of(&callback, &shop, &start);
    let (_, claims) = finish(&shop, &callback, start).await;
    assert_eq!(claims.subject(), first.subject());
    let before = first.auth_time().expect("auth_time").timestamp();
    let after = claims.auth_time().expect("auth_time").timestamp();
    assert!(
        after > before,
        "{extra:?}: a new sign-in ({before} then {after})"
    );
}

#[tokio::test]
async fn prompt_login_sends_a_signed_in_person_through_the_sign_in_again() {
    forces_a_new_sign_in(&[("prompt", "login")]).await;
}

#[tokio::test]
async fn max_age_zero_sends_a_signed_in_person_through_the_sign_in_again() {
    forces_a_new_sign_in(&[("max_age", "0")]).await;
}

#[tokio::test]
async fn a_generous_max_age_keeps_the_session() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (browser, _, first) = first_sign_in(&app, &shop, &[], "ann@example.com").await;
    let start = shop.start(&[], &[("max_age", "3600")]);
    let page = browser.get_url(&start.url).await;
    let callback = straight_back(&page, shop.redirect_uri());
    let (_, claims) = finish(&shop, &callback, start).await;
    assert_eq!(claims.auth_time(), first.auth_time());
}

#[tokio::test]
async fn login_hint_fills_in_the_email_field() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let browser = app.browser();
    let start = shop.start(&[], &[("login_hint", "ann@example.com")]);
    let mut trip = Trip::default();
    let (url, page) = open(&browser, &start.url, shop.redirect_uri(), &mut trip)
        .await
        .page();
    assert!(is_sign_in(&url), "{url}");
    assert_eq!(
        page.html().field("email").map(|f| f.value()).as_deref(),
        Some("ann@example.com"),
        "{}",
        page.body
    );
    // A hint is only a suggestion: it is HTML-escaped, never markup.
    let start = shop.start(&[], &[("login_hint", "\"><script>alert(1)</script>")]);
    // (Refusing such a hint with an error redirect would be fine too.)
    if let Landing::Page { page, .. } =
        open(&app.browser(), &start.url, shop.redirect_uri(), &mut trip).await
    {
        // The sign-in page's one script is its own passkey file: any other would be the hint's.
        assert_eq!(
            page.html().scripts(),
            [Some("/static/passkeys.js".to_string())],
            "{}",
            page.body
        );
    }
}

/// "Not you?" on the password page starts again without losing the product that asked.
#[tokio::test]
async fn not_you_keeps_the_product_waiting() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let browser = app.browser();
    let start = shop.start(&[], &[("login_hint", "ann@example.com")]);
    let mut trip = Trip::default();
    let (url, page) = open(&browser, &start.url, shop.redirect_uri(), &mut trip)
        .await
        .page();
    let return_to = page
        .html()
        .form("/sign-in")
        .and_then(|form| form.field("email").and(form.hidden("return_to")))
        .unwrap_or_else(|| panic!("no return_to on {url}: {}", page.body));
    assert!(
        return_to.starts_with("/oauth2/continue?request="),
        "{return_to}"
    );
    let password = browser
        .post(
            "/sign-in",
            &[("email", "ann@example.com"), ("return_to", &return_to)],
        )
        .await;
    assert_eq!(password.location.as_deref(), Some("/sign-in/password"));
    let page = browser.get("/sign-in/password").await;
    let expected = format!(
        "/sign-in?return_to={}",
        openidconnect::url::form_urlencoded::byte_serialize(return_to.as_bytes())
            .collect::<String>()
    );
    let link = page
        .html()
        .link("Not you?")
        .unwrap_or_else(|| panic!("no Not you? link: {}", page.body));
    assert_eq!(link, expected);
}
