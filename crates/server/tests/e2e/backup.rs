//! S54: `gatehouse backup` takes a copy while the server runs; `gatehouse restore`, with the
//! server stopped, puts it back and ends every way in that the copy still holds: sessions,
//! trusted devices and products' refresh tokens issued before the backup point stop
//! working, and the account page suggests a new backup code (docs/deploy.md, "Restore").

use crate::helpers::{TestApp, PASSWORD};
use crate::oidc_support::{first_sign_in, product, token_error};
use gatehouse_testkit::{Browser, ClientAuth, OidcClient, ServerOptions, TestDatabase};
use openidconnect::OAuth2TokenResponse;
use std::path::Path;

const RESTORED: &str = "This account was restored from a backup. A backup code you used after that may work once more: get a new backup code.";

async fn gatehouse(app: &TestApp, args: &[&str]) -> gatehouse_testkit::CliOutput {
    app.server.cli(args, None).await
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test]
async fn a_restore_brings_the_backup_back_and_ends_every_way_in_it_held() {
    let mut app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    // Before the backup: a trusted browser with a session, and a product holding a refresh
    // token of Ann's.
    let browser = app.browser();
    app.sign_in_saving_backup_code(&browser, "ann@example.com", true)
        .await;
    let shop = product(&app, "Shop", &[], ClientAuth::Basic).await;
    let (_, tokens, _) = first_sign_in(&app, &shop, &["offline_access"], "ann@example.com").await;
    let refresh = tokens.refresh_token().expect("a refresh token").clone();
    // Cy has a saved backup code at the backup point.
    app.add_user("cy@example.com").await;
    let cy_code = app
        .sign_in_saving_backup_code(&app.browser(), "cy@example.com", false)
        .await;

    let folder = tempfile::tempdir().unwrap();
    let backup = folder.path().join("gatehouse-backup.db");
    let out = gatehouse(&app, &["backup", text(&backup)]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("backup written to "),
        "{}",
        out.stdout
    );
    assert!(app.is_signed_in(&browser).await, "the server served on");

    // After the backup point: an account that the restore will not bring back, and Cy
    // uses her backup code (and saves the next one).
    app.add_user("bob@example.com").await;
    sign_in_with_backup_code(&app, "cy@example.com", &cy_code).await;
    let out = gatehouse(&app, &["restore", text(&backup)]).await;
    assert_ne!(out.code, 0, "a restore is refused while the server runs");
    assert!(out.stderr.contains("is in use"), "{}", out.stderr);
    assert!(app.is_signed_in(&browser).await, "and nothing changed");

    app.server.stop().await;
    let out = gatehouse(&app, &["restore", text(&backup)]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary = out.stdout.trim();
    assert!(
        summary.starts_with(&format!(
            "restored {}: ended 3 sessions, 1 trusted device,",
            text(&backup)
        )),
        "{summary}"
    );
    assert!(
        summary.contains("1 product grant (their codes and tokens)"),
        "{summary}"
    );
    assert_eq!(summary.lines().count(), 1, "one line: {summary}");
    app.server.restart().await;

    // The same browser, at the server's new address: its session cookie opens nothing.
    let browser = browser.at(&app.server.base_url);
    assert!(!app.is_signed_in(&browser).await, "the old session ended");
    // Its trust cookie no longer skips the code (S27, S30): the password leads to it.
    let before = app.mails_to("ann@example.com");
    let page = app
        .enter_email_and_password(&browser, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/code"),
        "{}",
        page.body
    );
    let code = app.mail.wait_for_code("ann@example.com", before).await;
    let page = browser.post("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(page.location.as_deref(), Some("/account"), "{}", page.body);
    // The product's refresh token is refused (S44's grant is revoked).
    let shop = OidcClient::discover(
        &app.server.base_url,
        shop.registered.clone(),
        ClientAuth::Basic,
    )
    .await;
    let refused = shop.refresh(&refresh).await.expect_err("a revoked grant");
    assert_eq!(token_error(&refused), "invalid_grant");
    // The account made after the backup point is gone.
    let out = gatehouse(&app, &["user", "show", "bob@example.com"]).await;
    assert_ne!(out.code, 0, "{}", out.stdout);

    // Signed in again, Ann's account page suggests a new backup code until she gets one.
    let signed_in = browser;
    let account = signed_in.get("/account").await.html();
    assert!(account.has_text(RESTORED), "{}", account.text());
    let page = signed_in.post("/account/backup-code/new", &[]).await;
    assert_eq!(page.location.as_deref(), Some("/account/backup-code"));
    let page = signed_in.post("/account/backup-code", &[]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account?notice=backup-code-saved")
    );
    let account = signed_in.get("/account").await.html();
    assert!(
        !account.mentions("restored from a backup"),
        "{}",
        account.text()
    );

    // What a restore cannot undo (docs/deploy.md): Cy's code, used after the backup point,
    // works once more; the new one she saves on the way ends the suggestion.
    let cy = sign_in_with_backup_code(&app, "cy@example.com", &cy_code).await;
    let account = cy.get("/account").await.html();
    assert!(
        !account.mentions("restored from a backup"),
        "{}",
        account.text()
    );
}

/// A sign-in with a backup code in a fresh browser, saving the next code it shows.
async fn sign_in_with_backup_code(app: &TestApp, email: &str, code: &str) -> Browser {
    let browser = app.browser();
    app.sign_in_until_code(&browser, email).await;
    let page = browser
        .post("/sign-in/backup-code", &[("backup_code", code)])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/save-backup-code"),
        "{}",
        page.body
    );
    let page = browser.post("/sign-in/save-backup-code", &[]).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/review"));
    browser
}

#[tokio::test]
async fn backup_and_restore_refuse_what_they_must_not_touch_and_change_nothing() {
    let mut app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let folder = tempfile::tempdir().unwrap();

    // A backup never overwrites a file, and names a missing folder plainly.
    let existing = folder.path().join("notes.txt");
    std::fs::write(&existing, "my notes").unwrap();
    let out = gatehouse(&app, &["backup", text(&existing)]).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "my notes");
    let nowhere = folder.path().join("missing").join("backup.db");
    let out = gatehouse(&app, &["backup", text(&nowhere)]).await;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("the folder") && out.stderr.contains("does not exist"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    // A restore from a file that is not a Gatehouse database changes nothing: neither a text
    // file nor another program's SQLite database.
    app.server.stop().await;
    let live = app.server.data_dir.join("gatehouse.db");
    let before = std::fs::read(&live).unwrap();
    let other_program = folder.path().join("other.db");
    other_sqlite_database(&other_program).await;
    for (file, why) in [
        (&existing, "file is not a database"),
        (&other_program, "it has no migrations table"),
    ] {
        let out = gatehouse(&app, &["restore", text(file)]).await;
        assert_ne!(out.code, 0);
        assert!(
            out.stderr.contains("is not a Gatehouse database") && out.stderr.contains(why),
            "{}",
            out.stderr
        );
        assert_eq!(
            std::fs::read(&live).unwrap(),
            before,
            "the live database is untouched"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(&app.server.data_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("restore"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary file left: {leftovers:?}"
    );

    // And Ann's account is still there to sign in to.
    app.server.restart().await;
    let browser = app.signed_in_browser("ann@example.com").await;
    assert!(app.is_signed_in(&browser).await);
}

/// A SQLite database some other program wrote.
async fn other_sqlite_database(path: &Path) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE notes (body TEXT)")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
}

/// Runs a PostgreSQL client tool, as the recipe in docs/deploy.md does.
fn postgres_tool(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (Debian's postgresql-client): {e}"));
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn on_postgres_the_pg_dump_recipe_and_after_pg_restore_end_what_the_dump_held() {
    let database = TestDatabase::postgres_required().await;
    let mut app = TestApp::spawn_with(ServerOptions {
        database_url: Some(database.url.clone()),
        ..Default::default()
    })
    .await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    app.sign_in_saving_backup_code(&browser, "ann@example.com", true)
        .await;

    // `gatehouse backup` is for SQLite, and says what to use instead.
    let folder = tempfile::tempdir().unwrap();
    let dump = folder.path().join("gatehouse.dump");
    let out = gatehouse(&app, &["backup", text(&dump)]).await;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("pg_dump --format=custom"),
        "{}",
        out.stderr
    );
    assert!(!dump.exists());

    postgres_tool(
        "pg_dump",
        &["--format=custom", "--file", text(&dump), &database.url],
    );
    app.add_user("bob@example.com").await;
    let out = gatehouse(&app, &["restore", "--after-pg-restore"]).await;
    assert_ne!(out.code, 0, "refused while a node is connected");
    assert!(out.stderr.contains("other connections"), "{}", out.stderr);

    app.server.stop().await;
    postgres_tool(
        "pg_restore",
        &[
            "--clean",
            "--if-exists",
            "--no-owner",
            "--dbname",
            &database.url,
            text(&dump),
        ],
    );
    let out = gatehouse(&app, &["restore", "--after-pg-restore"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("restored database prepared: ended 1 session, 1 trusted device,"),
        "{}",
        out.stdout
    );
    app.server.restart().await;

    let browser = browser.at(&app.server.base_url);
    assert!(!app.is_signed_in(&browser).await, "the old session ended");
    let page = app
        .enter_email_and_password(&browser, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/code"),
        "{}",
        page.body
    );
    let out = gatehouse(&app, &["user", "show", "bob@example.com"]).await;
    assert_ne!(out.code, 0, "the account made after the dump is gone");
    drop(app);
    database.drop_database().await;
}
