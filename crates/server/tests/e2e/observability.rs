//! What an operator watches, observed from outside over HTTP: `/readyz` beside `/healthz`,
//! and Prometheus metrics on their own address only, holding no personal data.

use crate::helpers::{TestApp, PASSWORD};
use gatehouse_testkit::{Browser, ServerOptions, TestDatabase};
use sqlx::any::AnyPoolOptions;
use sqlx::Executor;
use std::time::Duration;

/// The local PostgreSQL the house runs (CI sets GATEHOUSE_TEST_DATABASE_URL to the same):
/// the unreachable-database case needs a server it can turn away, and never skips.
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

async fn sql(url: &str, statements: &[&str]) {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    for statement in statements {
        pool.execute(*statement).await.unwrap();
    }
    pool.close().await;
}

#[tokio::test]
async fn readyz_answers_ready_on_a_normal_start() {
    let app = TestApp::spawn().await;
    let page = app.browser().get("/readyz").await;
    assert_eq!((page.status, page.body.as_str()), (200, "ready"));
    let page = app.browser().get("/healthz").await;
    assert_eq!(page.status, 200);
}

#[tokio::test]
async fn readyz_answers_503_schema_not_current_when_the_last_migration_is_not_applied() {
    let app = TestApp::spawn().await;
    let url = format!(
        "sqlite://{}",
        app.server.data_dir.join("gatehouse.db").display()
    );
    // As after restoring an older database under a newer binary.
    sql(
        &url,
        &["DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)"],
    )
    .await;
    let page = app.browser().get("/readyz").await;
    assert_eq!(
        (page.status, page.body.as_str()),
        (503, "schema not current")
    );
    // The process is still up: only readiness says "send no traffic here".
    assert_eq!(app.browser().get("/healthz").await.status, 200);
}

#[tokio::test]
async fn readyz_answers_503_database_unreachable_when_the_database_turns_connections_away() {
    let admin = TestDatabase::postgres_admin_url().unwrap_or_else(|| LOCAL_POSTGRES.into());
    let database = TestDatabase::postgres(&admin).await;
    let app = TestApp::spawn_with(ServerOptions {
        database_url: Some(database.url.clone()),
        ..Default::default()
    })
    .await;
    assert_eq!(app.browser().get("/readyz").await.status, 200);
    let name = database.url.rsplit('/').next().unwrap().to_string();
    sql(
        &admin,
        &[
            &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ),
        ],
    )
    .await;
    let page = app.browser().get("/readyz").await;
    assert_eq!(
        (page.status, page.body.as_str()),
        (503, "database unreachable")
    );
    drop(app);
    database.drop_database().await;
}

/// The address the metrics listener logged (it prints nothing on stdout).
async fn metrics_url(app: &TestApp) -> String {
    for _ in 0..100 {
        let output = app.server.output();
        if let Some(rest) = output.split("metrics_address=").nth(1) {
            let address: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            return format!("http://{address}/metrics");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no metrics address in the log:\n{}", app.server.output());
}

/// The value of the sample `name{labels…}`, whatever the labels' order.
fn sample(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let wanted = labels
                .iter()
                .all(|(key, val)| rest.contains(&format!("{key}=\"{val}\"")));
            (metric == name && wanted).then(|| value.parse().ok())?
        })
}

#[tokio::test]
async fn metrics_count_a_sign_in_on_their_own_address_and_name_nobody() {
    let app = TestApp::spawn_with(ServerOptions {
        env: vec![
            ("GATEHOUSE_METRICS_LISTEN".into(), "127.0.0.1:0".into()),
            // A second sign-in's code is then refused by the hourly window (S9).
            ("GATEHOUSE_CODES_PER_ACCOUNT_PER_HOUR".into(), "1".into()),
        ],
        ..Default::default()
    })
    .await;
    let email = "ann@example.com";
    app.add_user(email).await;
    app.signed_in_browser(email).await;
    let other = app.browser();
    app.enter_email_and_password(&other, email, PASSWORD).await;
    let account_id = {
        let out = app.server.cli(&["user", "show", email], None).await;
        let shown: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        shown["id"].as_str().unwrap().to_string()
    };

    let scrape = Browser::new(&app.server.base_url)
        .get_url(&metrics_url(&app).await)
        .await;
    assert_eq!(scrape.status, 200);
    let text = scrape.body.as_str();
    let value = |name: &str, labels: &[(&str, &str)]| {
        sample(text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"))
    };
    let password_step = [("route", "/sign-in/password"), ("status", "303")];
    assert_eq!(value("gatehouse_http_requests_total", &password_step), 2.0);
    assert!(
        value(
            "gatehouse_http_requests_total",
            &[("route", "/sign-in"), ("status", "200")]
        ) >= 1.0
    );
    let route = [("route", "/sign-in/password")];
    assert_eq!(
        value("gatehouse_http_request_duration_seconds_count", &route),
        2.0
    );
    let all = [("route", "/sign-in/password"), ("le", "+Inf")];
    assert_eq!(
        value("gatehouse_http_request_duration_seconds_bucket", &all),
        2.0
    );
    let event = |event: &'static str, result: &'static str| {
        value(
            "gatehouse_security_events_total",
            &[("event", event), ("result", result)],
        )
    };
    assert_eq!(event("password", "success"), 2.0);
    assert_eq!(event("code", "success"), 1.0);
    assert_eq!(event("code_sent", "success"), 1.0);
    assert_eq!(
        value("gatehouse_codes_sent_total", &[("channel", "email")]),
        1.0
    );
    assert_eq!(
        value(
            "gatehouse_throttle_refusals_total",
            &[("budget", "codes_per_account")]
        ),
        1.0
    );
    assert_eq!(
        value("gatehouse_password_hash_queue_depth", &[]),
        0.0,
        "nothing waits once the sign-ins are answered"
    );
    assert_eq!(sample(text, "gatehouse_database_errors_total", &[]), None);
    for personal in [email, "127.0.0.1", account_id.as_str()] {
        assert!(
            !text.contains(personal),
            "{personal} in the metrics:\n{text}"
        );
    }

    // Never on the public address.
    let public = app.browser().get("/metrics").await;
    assert_eq!(public.status, 404);
    assert!(!public.body.contains("gatehouse_http_requests_total"));
}

#[tokio::test]
async fn without_a_metrics_address_nothing_serves_metrics() {
    let app = TestApp::spawn().await;
    assert_eq!(app.browser().get("/metrics").await.status, 404);
    assert!(!app.server.output().contains("metrics_address="));
}
