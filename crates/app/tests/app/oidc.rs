//! The OpenID Connect provider with a clock that only moves when told to: lifetimes the
//! end-to-end tests cannot wait for (S39, S42, S43, S44).

use crate::harness::{client, session_of, Harness, PASSWORD};
use gatehouse_app::oidc::authorize::{AuthorizationParams, AuthorizeOutcome, Unanswerable};
use gatehouse_app::oidc::clients::ClientRegistration;
use gatehouse_app::oidc::tokens::{ClientCredentials, TokenError, TokenRequest};
use gatehouse_app::sign_in::Progress;
use gatehouse_core::jose::{self, SigningAlgorithm};
use gatehouse_core::oidc::ID_TOKEN_LIFETIME_SECS;
use gatehouse_core::FlowStep;

const REDIRECT: &str = "https://notes.example/callback";

struct Product {
    credentials: ClientCredentials,
}

async fn product(h: &Harness, alg: SigningAlgorithm) -> Product {
    h.app.ensure_signing_keys().await.unwrap();
    let registered = h
        .app
        .register_client(
            ClientRegistration {
                name: "Notes".into(),
                redirect_uris: vec![REDIRECT.into()],
                post_logout_redirect_uris: vec![],
                public: false,
                third_party: false,
                signing_alg: alg,
                id: None,
            },
            false,
        )
        .await
        .unwrap();
    Product {
        credentials: ClientCredentials {
            client_id: Some(registered.client.id),
            secret: registered.secret.map(|s| s.as_str().to_string()),
            basic: true,
        },
    }
}

/// Signs in with an e-mailed code and returns the session cookie's value.
async fn session(h: &mut Harness) -> String {
    let (flow, outcome) = h.password_step(PASSWORD, None).await;
    assert!(matches!(
        outcome.unwrap().progress,
        Progress::Next(FlowStep::SecondStep)
    ));
    let code = h.new_code();
    let outcome = h
        .app
        .submit_code(&flow, &code, false, &client())
        .await
        .unwrap();
    let outcome = match outcome.progress {
        Progress::Next(FlowStep::SaveBackupCode { .. }) => h
            .app
            .confirm_backup_code_saved(&flow, &client())
            .await
            .unwrap(),
        _ => outcome,
    };
    session_of(&outcome)
}

fn request(p: &Product, scope: &str, max_age: Option<&str>) -> AuthorizationParams {
    AuthorizationParams {
        response_type: Some("code".into()),
        client_id: p.credentials.client_id.clone(),
        redirect_uri: Some(REDIRECT.into()),
        scope: Some(scope.into()),
        state: Some("st".into()),
        nonce: Some("nonce-1".into()),
        max_age: max_age.map(str::to_string),
        ..AuthorizationParams::default()
    }
}

/// The code from an answer that went straight back to the product.
fn code_of(outcome: AuthorizeOutcome) -> String {
    let AuthorizeOutcome::ToClient { location, .. } = outcome else {
        panic!("expected a redirect to the product, got {outcome:?}");
    };
    let query = location.split_once('?').unwrap().1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {location}"))
}

async fn code(h: &Harness, p: &Product, cookie: &str, scope: &str) -> String {
    let outcome = h
        .app
        .authorize(request(p, scope, None), Some(cookie), &client())
        .await
        .unwrap();
    code_of(outcome)
}

fn exchange(code: &str) -> TokenRequest {
    TokenRequest {
        grant_type: Some("authorization_code".into()),
        code: Some(code.into()),
        redirect_uri: Some(REDIRECT.into()),
        ..TokenRequest::default()
    }
}

#[tokio::test]
async fn a_code_is_good_for_sixty_seconds_only() {
    let mut h = Harness::new().await;
    let p = product(&h, SigningAlgorithm::Rs256).await;
    let cookie = session(&mut h).await;
    let fresh = code(&h, &p, &cookie, "openid").await;
    h.clock.advance(59);
    let issued = h
        .app
        .token(&p.credentials, &exchange(&fresh), &client())
        .await;
    assert!(issued.is_ok(), "59 s old: {issued:?}");
    let stale = code(&h, &p, &cookie, "openid").await;
    h.clock.advance(60);
    let late = h
        .app
        .token(&p.credentials, &exchange(&stale), &client())
        .await;
    assert!(matches!(late, Err(TokenError::InvalidGrant(_))), "{late:?}");
}

#[tokio::test]
async fn refresh_tokens_end_thirty_days_after_their_issue() {
    let mut h = Harness::new().await;
    let p = product(&h, SigningAlgorithm::EdDsa).await;
    let cookie = session(&mut h).await;
    let c = code(&h, &p, &cookie, "openid offline_access").await;
    let issued = h
        .app
        .token(&p.credentials, &exchange(&c), &client())
        .await
        .unwrap();
    let refresh = |token: &str| TokenRequest {
        grant_type: Some("refresh_token".into()),
        refresh_token: Some(token.into()),
        ..TokenRequest::default()
    };
    h.clock.advance(29 * 24 * 3600);
    let first = issued.refresh_token.unwrap();
    let renewed = h
        .app
        .token(&p.credentials, &refresh(first.as_str()), &client())
        .await
        .unwrap();
    // The ID token of a refresh keeps the sign-in's auth_time (OpenID Connect Core §12.2).
    let claims = jose::split(&renewed.id_token).unwrap().claims;
    assert_eq!(claims["auth_time"].as_i64(), Some(crate::harness::START));
    h.clock.advance(30 * 24 * 3600);
    let expired = h
        .app
        .token(
            &p.credentials,
            &refresh(renewed.refresh_token.unwrap().as_str()),
            &client(),
        )
        .await;
    assert!(
        matches!(expired, Err(TokenError::InvalidGrant(_))),
        "{expired:?}"
    );
}

#[tokio::test]
async fn a_rotated_key_stays_published_until_the_tokens_it_signed_expire() {
    let mut h = Harness::new().await;
    let p = product(&h, SigningAlgorithm::Es256).await;
    let cookie = session(&mut h).await;
    let kids = |jwks: serde_json::Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    };
    let before = kids(h.app.jwks().await.unwrap());
    assert_eq!(before.len(), 3, "one key per algorithm");
    let old_token = h
        .app
        .token(
            &p.credentials,
            &exchange(&code(&h, &p, &cookie, "openid").await),
            &client(),
        )
        .await
        .unwrap()
        .id_token;
    let old_kid = jose::split(&old_token).unwrap().kid().unwrap().to_string();
    let new_kids = h.app.rotate_signing_keys().await.unwrap();
    let during = kids(h.app.jwks().await.unwrap());
    assert_eq!(during.len(), 6, "old and new keys are published together");
    assert!(during.contains(&old_kid));
    let new_token = h
        .app
        .token(
            &p.credentials,
            &exchange(&code(&h, &p, &cookie, "openid").await),
            &client(),
        )
        .await
        .unwrap()
        .id_token;
    let new_kid = jose::split(&new_token).unwrap().kid().unwrap().to_string();
    assert!(
        new_kids.contains(&new_kid),
        "new tokens are signed with the new key"
    );
    h.clock.advance(ID_TOKEN_LIFETIME_SECS + 1);
    let after = kids(h.app.jwks().await.unwrap());
    assert_eq!(after.len(), 3);
    assert!(
        !after.contains(&old_kid),
        "the old key left once its tokens expired"
    );
}

#[tokio::test]
async fn max_age_counts_from_the_sign_in() {
    let mut h = Harness::new().await;
    let p = product(&h, SigningAlgorithm::Rs256).await;
    let cookie = session(&mut h).await;
    h.clock.advance(100);
    let too_old = h
        .app
        .authorize(request(&p, "openid", Some("60")), Some(&cookie), &client())
        .await
        .unwrap();
    assert!(
        matches!(too_old, AuthorizeOutcome::SignIn { .. }),
        "S43: a 100 s old sign-in does not satisfy max_age=60: {too_old:?}"
    );
    let recent_enough = h
        .app
        .authorize(request(&p, "openid", Some("200")), Some(&cookie), &client())
        .await
        .unwrap();
    code_of(recent_enough);
}

#[tokio::test]
async fn one_address_cannot_leave_unlimited_requests_waiting() {
    let h = Harness::new().await;
    let p = product(&h, SigningAlgorithm::Rs256).await;
    let from = |address: &str| gatehouse_app::ClientInfo {
        address: Some(address.into()),
        user_agent: None,
        request_id: None,
    };
    for _ in 0..300 {
        let outcome = h
            .app
            .authorize(request(&p, "openid", None), None, &from("198.51.100.7"))
            .await
            .unwrap();
        assert!(
            matches!(outcome, AuthorizeOutcome::SignIn { .. }),
            "{outcome:?}"
        );
    }
    let refused = h
        .app
        .authorize(request(&p, "openid", None), None, &from("198.51.100.7"))
        .await
        .unwrap();
    assert_eq!(
        refused,
        AuthorizeOutcome::Refused(Unanswerable::TooManyRequests)
    );
    // Another address is not affected, and the window passes.
    let other = h
        .app
        .authorize(request(&p, "openid", None), None, &from("203.0.113.9"))
        .await
        .unwrap();
    assert!(matches!(other, AuthorizeOutcome::SignIn { .. }));
    h.clock.advance(10 * 60 + 1);
    let later = h
        .app
        .authorize(request(&p, "openid", None), None, &from("198.51.100.7"))
        .await
        .unwrap();
    assert!(matches!(later, AuthorizeOutcome::SignIn { .. }));
}
