//! The whole sign-in on PostgreSQL, the backend for several nodes. CI sets
//! GATEHOUSE_TEST_DATABASE_URL; without it these run on SQLite so they still mean something.

use crate::helpers::TestApp;
use gatehouse_testkit::{ServerOptions, TestDatabase};

#[tokio::test]
async fn the_whole_sign_in_works_on_the_configured_database() {
    let database = match TestDatabase::postgres_admin_url() {
        Some(admin) => TestDatabase::postgres(&admin).await,
        None => TestDatabase::sqlite(),
    };
    let app = TestApp::spawn_with(ServerOptions {
        database_url: Some(database.url.clone()),
        ..Default::default()
    })
    .await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let saved = app
        .sign_in_saving_backup_code(&browser, "ann@example.com", true)
        .await;
    assert!(app.is_signed_in(&browser).await);
    app.sign_out(&browser).await;

    // Trusted device, then a backup code from another browser.
    let page = app
        .enter_email_and_password(&browser, "ann@example.com", crate::helpers::PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/account"));
    let other = app.browser();
    app.sign_in_until_code(&other, "ann@example.com").await;
    let page = other
        .post("/sign-in/backup-code", &[("backup_code", &saved)])
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/save-backup-code"));
    drop(app);
    database.drop_database().await;
}
