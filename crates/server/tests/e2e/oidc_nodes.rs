//! The provider on several nodes (DESIGN.md §3, §4): one database, one master key, no state
//! of their own. A code issued by one node is redeemed at another, the signing keys are the
//! same everywhere, and a refresh token rotates once whichever node sees it (S44).

use crate::helpers::{binary, TestApp};
use gatehouse_testkit::{Browser, ServerOptions, TestDatabase, TestServer};
use serde_json::Value;

const REDIRECT: &str = "https://shop.example/callback";
const ISSUER: &str = "http://gatehouse.test";

fn token_form<'a>(
    id: &'a str,
    secret: &'a str,
    grant: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("client_id", id), ("client_secret", secret)];
    form.extend_from_slice(grant);
    form
}

async fn json(page: &gatehouse_testkit::Page) -> Value {
    serde_json::from_str(&page.body).unwrap_or_else(|_| panic!("not JSON: {}", page.body))
}

#[tokio::test]
async fn a_code_from_one_node_is_redeemed_at_another_with_the_same_keys() {
    let database = match TestDatabase::postgres_admin_url() {
        Some(admin) => TestDatabase::postgres(&admin).await,
        None => TestDatabase::sqlite(),
    };
    let public = ("GATEHOUSE_PUBLIC_URL".to_string(), ISSUER.to_string());
    let first = TestApp::spawn_with(ServerOptions {
        database_url: Some(database.url.clone()),
        env: vec![public.clone()],
        ..Default::default()
    })
    .await;
    let second = TestServer::start(
        binary(),
        ServerOptions {
            database_url: Some(database.url.clone()),
            env: vec![
                public,
                (
                    "GATEHOUSE_MASTER_KEY_FILE".into(),
                    first
                        .server
                        .data_dir
                        .join("master.key")
                        .display()
                        .to_string(),
                ),
            ],
            ..Default::default()
        },
    )
    .await;
    first.add_user("ann@example.com").await;
    let out = first
        .server
        .cli(
            &[
                "client",
                "add",
                "--name",
                "Shop",
                "--signing-alg",
                "ES256",
                "--redirect-uri",
                REDIRECT,
            ],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let client: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let (id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );

    // Signed in on the first node; the authorization answered there.
    let browser = first.browser();
    first
        .sign_in_saving_backup_code(&browser, "ann@example.com", false)
        .await;
    let query = format!(
        "/oauth2/authorize?response_type=code&client_id={id}&redirect_uri={REDIRECT}&scope=openid%20offline_access&state=s&nonce=n"
    );
    let page = browser.get(&query).await;
    let location = page
        .location_header()
        .unwrap_or_else(|| panic!("{}", page.body));
    let code = location
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("code="))
        .unwrap_or_else(|| panic!("no code in {location}"))
        .to_string();

    // Redeemed on the second node.
    let other = Browser::new(&second.base_url);
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let issued = other
        .post_raw("/oauth2/token", &token_form(id, secret, &grant), &[])
        .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let issued = json(&issued).await;
    assert!(issued["id_token"].is_string());

    // The same key set on both nodes, created once at the first start.
    let jwks_first = json(&first.browser().get("/oauth2/jwks").await).await;
    let jwks_second = json(&other.get("/oauth2/jwks").await).await;
    assert_eq!(jwks_first, jwks_second);
    assert_eq!(jwks_first["keys"].as_array().unwrap().len(), 3);

    // A refresh token rotates once, whichever node sees it.
    let refresh = issued["refresh_token"].as_str().unwrap();
    let grant = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let renewed = first
        .browser()
        .post_raw("/oauth2/token", &token_form(id, secret, &grant), &[])
        .await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let replayed = other
        .post_raw("/oauth2/token", &token_form(id, secret, &grant), &[])
        .await;
    assert_eq!(replayed.status, 400);
    assert_eq!(json(&replayed).await["error"], "invalid_grant");
    drop(second);
    drop(first);
    database.drop_database().await;
}
