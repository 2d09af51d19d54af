//! S53: a crash in the middle loses nothing and leaves nothing half-done. The server is
//! killed with SIGKILL while sign-ins are running, again and again; after each restart the
//! database checks clean, no backup code is both used and usable, and no account is lost.
//! On SQLite (the file is the database) and on PostgreSQL (the process dies with
//! transactions open on the server, which must roll them back whole).

use crate::helpers::{binary, PASSWORD};
use gatehouse_testkit::{Browser, ServerOptions, SmtpSink, TestDatabase, TestServer};
use sqlx::any::AnyPoolOptions;
use sqlx::Row;
use std::time::Duration;

#[tokio::test]
async fn killing_the_server_during_sign_ins_leaves_a_consistent_database() {
    kill_during_sign_ins(None).await;
}

#[tokio::test]
async fn killing_the_server_during_sign_ins_leaves_a_consistent_postgres_database() {
    let database = TestDatabase::postgres_required().await;
    kill_during_sign_ins(Some(database.url.clone())).await;
    database.drop_database().await;
}

/// The kill loop, on the server's own SQLite file or on the database `database_url` names.
async fn kill_during_sign_ins(database_url: Option<String>) {
    let mail = SmtpSink::start().await;
    let options = ServerOptions {
        smtp_url: Some(mail.url()),
        database_url,
        ..Default::default()
    };
    let options_url = options.database_url.clone();
    let mut server = TestServer::start(binary(), options).await;
    let accounts = ["a@example.com", "b@example.com", "c@example.com"];
    for email in accounts {
        let out = server
            .cli(
                &["user", "add", "--email", email, "--password-stdin"],
                Some(PASSWORD),
            )
            .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
    }

    for round in 0..5u64 {
        let base = server.base_url.clone();
        let load: Vec<_> = accounts
            .iter()
            .map(|email| {
                let (base, mail, email) = (base.clone(), mail.clone(), email.to_string());
                tokio::spawn(async move { sign_in_repeatedly(&base, &mail, &email).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300 + round * 170)).await;
        server.kill().await;
        for task in load {
            task.abort();
        }
        check_database(&server, options_url.as_deref()).await;
        server.restart().await;
    }
    // After all that, everyone can still sign in.
    let browser = Browser::new(&server.base_url);
    browser
        .post("/sign-in", &[("email", "a@example.com")])
        .await;
    let page = browser
        .post("/sign-in/password", &[("password", PASSWORD)])
        .await;
    assert!(
        matches!(
            page.location.as_deref(),
            Some("/sign-in/code") | Some("/account")
        ),
        "{page:?}"
    );
}

/// Full sign-ins in a loop until the task is aborted or the server dies.
async fn sign_in_repeatedly(base: &str, mail: &SmtpSink, email: &str) -> Option<()> {
    loop {
        let browser = Browser::new(base);
        let before = mail.to(email).len();
        browser.try_get("/sign-in").await?;
        browser.try_post("/sign-in", &[("email", email)]).await?;
        let page = browser
            .try_post("/sign-in/password", &[("password", PASSWORD)])
            .await?;
        if page.location.as_deref() == Some("/sign-in/code") {
            let code = mail.wait_for_code(email, before).await;
            let page = browser
                .try_post("/sign-in/code", &[("code", &code)])
                .await?;
            if page.location.as_deref() == Some("/sign-in/save-backup-code") {
                browser.try_post("/sign-in/save-backup-code", &[]).await?;
            }
        }
        browser.try_post("/sign-out", &[]).await?;
    }
}

async fn check_database(server: &TestServer, database_url: Option<&str>) {
    sqlx::any::install_default_drivers();
    let url = database_url.map_or_else(
        || {
            format!(
                "sqlite://{}",
                server.data_dir.join("gatehouse.db").display()
            )
        },
        str::to_string,
    );
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    if database_url.is_none() {
        // PostgreSQL checks its own pages; a SQLite file is checked here.
        let integrity: String = sqlx::query("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(integrity, "ok");
    }
    let accounts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(accounts, 3, "no account is lost");
    // A used code carries its use time; an active one carries its confirmation and no use.
    let inconsistent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM backup_codes WHERE (status = 'used' AND used_at IS NULL)
            OR (status = 'active' AND (used_at IS NOT NULL OR confirmed_at IS NULL))",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(inconsistent, 0);
    // At most the configured one active code per account.
    let over: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT account_id FROM backup_codes WHERE status = 'active'
            GROUP BY account_id HAVING COUNT(*) > 1) AS t",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(over, 0);
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions WHERE account_id NOT IN (SELECT id FROM accounts)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
    pool.close().await;
}
