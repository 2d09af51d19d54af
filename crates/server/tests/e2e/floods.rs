//! Fair under floods: a refused guess costs no hash (S55), strangers cannot lock the owner
//! out (S56), and what anyone can create without signing in is bounded (S57).

use crate::helpers::{TestApp, PASSWORD};
use gatehouse_testkit::TestServer;

/// Sets an account's password-failure count as if that many wrong passwords had come from
/// strangers. Reaching 100 for real takes days of growing delays; the count is all the
/// server keeps of them.
async fn set_account_failures(server: &TestServer, email: &str, failures: i64) {
    let pool = server.sqlite().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    sqlx::query(
        "INSERT INTO failure_counters (counter_key, failures, last_failure_at) VALUES ($1, $2, $3)
         ON CONFLICT (counter_key) DO UPDATE SET failures = $2, last_failure_at = $3",
    )
    .bind(format!("account:{email}"))
    .bind(failures)
    .bind(now)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

/// S56: failures from strangers slow down and lock only browsers that never signed in to
/// the account; the owner's browser, which has, signs in at once, even with the account
/// locked for everyone else.
#[tokio::test]
async fn strangers_cannot_lock_the_owner_out() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let owner = app.signed_in_browser("ann@example.com").await;
    app.sign_out(&owner).await;

    for _ in 0..6 {
        let page = app
            .enter_email_and_password(&app.browser(), "ann@example.com", "wrong password")
            .await;
        assert_eq!(page.status, 401);
    }
    // Elsewhere, the delay is on: even the right password is refused for now.
    let stranger = app
        .enter_email_and_password(&app.browser(), "ann@example.com", PASSWORD)
        .await;
    assert_eq!(stranger.status, 401);
    // The owner's browser is not slowed by them.
    let page = app
        .enter_email_and_password(&owner, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));

    // A hundred failures from strangers lock the account for every unknown browser...
    set_account_failures(&app.server, "ann@example.com", 100).await;
    let stranger = app
        .enter_email_and_password(&app.browser(), "ann@example.com", PASSWORD)
        .await;
    assert_eq!(stranger.status, 401);
    assert!(stranger.html().has_text("Email or password is incorrect"));
    // ...and the owner's browser still signs in at once.
    let page = app
        .enter_email_and_password(&owner, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
}

/// S56: a known browser has a small budget of its own: its own wrong passwords slow it
/// down, and they never count towards the account's lock.
#[tokio::test]
async fn a_known_browser_has_its_own_small_budget() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let owner = app.signed_in_browser("ann@example.com").await;
    app.sign_out(&owner).await;
    for _ in 0..5 {
        let page = app
            .enter_email_and_password(&owner, "ann@example.com", "wrong password")
            .await;
        assert_eq!(page.status, 401);
    }
    let page = app
        .enter_email_and_password(&owner, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.status, 401, "the known browser's own delay is on");
    // The account's budget was not touched: an unknown browser signs in at once.
    let page = app
        .enter_email_and_password(&app.browser(), "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
}

/// S55: once the throttle refuses, further guesses are never checked: 200 of them cost the
/// server, in CPU read from /proc, less than a fifth of one password check each, measured
/// against real checks in the same run.
#[tokio::test]
async fn a_refused_guess_costs_no_password_hash() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    // The cost of a checked guess: wrong passwords for addresses that are not throttled,
    // each sign-in started before the measurement, as below.
    let mut fresh = Vec::new();
    for n in 0..10 {
        let browser = app.browser();
        browser
            .post("/sign-in", &[("email", &format!("n{n}@example.com"))])
            .await;
        fresh.push(browser);
    }
    let before = app.server.cpu_ticks();
    for browser in &fresh {
        let page = browser
            .post("/sign-in/password", &[("password", "wrong password")])
            .await;
        assert_eq!(page.status, 401);
    }
    let checked = (app.server.cpu_ticks() - before) as f64 / 10.0;

    set_account_failures(&app.server, "ann@example.com", 100).await;
    // 200 sign-ins waiting at the password step; only the guesses themselves are measured.
    let mut waiting = Vec::new();
    for _ in 0..200 {
        let browser = app.browser();
        browser
            .post("/sign-in", &[("email", "ann@example.com")])
            .await;
        waiting.push(browser);
    }
    let before = app.server.cpu_ticks();
    let mut tasks = Vec::new();
    for batch in waiting.chunks(25) {
        let batch = batch.to_vec();
        tasks.push(tokio::spawn(async move {
            for browser in batch {
                let page = browser
                    .post("/sign-in/password", &[("password", "wrong password")])
                    .await;
                assert_eq!(page.status, 401);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let refused = (app.server.cpu_ticks() - before) as f64 / 200.0;
    assert!(
        refused < checked / 5.0,
        "a refused guess cost {refused:.2} ticks of CPU, a checked one {checked:.2}"
    );
}
