//! Several nodes on one PostgreSQL (DESIGN.md §3, §4; docs/deploy.md): a node holds no
//! sign-in state of its own, so when one dies in the middle of a sign-in, the same browser
//! finishes it on another node.

use crate::helpers::{binary, TestApp};
use gatehouse_testkit::{Browser, ServerOptions, TestDatabase, TestServer};

#[tokio::test]
async fn a_sign_in_begun_on_a_node_that_is_killed_finishes_on_the_other() {
    let database = TestDatabase::postgres_required().await;
    let mut first = TestApp::spawn_with(ServerOptions {
        database_url: Some(database.url.clone()),
        ..Default::default()
    })
    .await;
    // The second node: the same database, the same master key file, the same mail server.
    let master_key = first.server.data_dir.join("master.key");
    let second = TestServer::start(
        binary(),
        ServerOptions {
            database_url: Some(database.url.clone()),
            smtp_url: Some(first.mail.url()),
            env: vec![(
                "GATEHOUSE_MASTER_KEY_FILE".into(),
                master_key.display().to_string(),
            )],
            ..Default::default()
        },
    )
    .await;
    first.add_user("ann@example.com").await;

    // E-mail and password on the first node, which mails the code; then it dies (SIGKILL).
    let browser = first.browser();
    let code = first.sign_in_until_code(&browser, "ann@example.com").await;
    first.server.kill().await;
    assert!(
        Browser::new(&first.server.base_url)
            .try_get("/sign-in")
            .await
            .is_none(),
        "the first node is gone"
    );

    // The load balancer sends the same browser, cookies and all, to the second node.
    let browser = browser.at(&second.base_url);
    let page = browser.post("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/save-backup-code"),
        "{}",
        page.body
    );
    assert!(browser
        .get("/sign-in/save-backup-code")
        .await
        .backup_code()
        .is_some());
    let page = browser.post("/sign-in/save-backup-code", &[]).await;
    assert_eq!(page.location.as_deref(), Some("/account"));
    assert!(
        first.is_signed_in(&browser).await,
        "signed in on the second node"
    );
    drop(second);
    drop(first);
    database.drop_database().await;
}
