//! Typed steps of the sign-in, so tests read as what a person does.

use gatehouse_testkit::{Browser, Page, ServerOptions, SmtpSink, TestServer};
use std::path::Path;

pub const PASSWORD: &str = "correct horse battery staple";

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

pub struct TestApp {
    pub server: TestServer,
    pub mail: SmtpSink,
}

impl TestApp {
    /// A fresh Gatehouse on SQLite, sending mail to a fresh SMTP sink.
    pub async fn spawn() -> Self {
        Self::spawn_with(ServerOptions::default()).await
    }

    pub async fn spawn_with(mut options: ServerOptions) -> Self {
        let mail = SmtpSink::start().await;
        options.smtp_url = Some(mail.url());
        let server = TestServer::start(binary(), options).await;
        Self { server, mail }
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.server.base_url)
    }

    /// Creates an account through the CLI, as an admin would.
    pub async fn add_user(&self, email: &str) {
        let out = self
            .server
            .cli(
                &["user", "add", "--email", email, "--password-stdin"],
                Some(PASSWORD),
            )
            .await;
        assert_eq!(out.code, 0, "user add failed: {}", out.stderr);
    }

    pub fn mails_to(&self, email: &str) -> usize {
        self.mail.to(email).len()
    }

    /// E-mail and password; returns the answer to the password step.
    pub async fn enter_email_and_password(
        &self,
        browser: &Browser,
        email: &str,
        password: &str,
    ) -> Page {
        let page = browser.post("/sign-in", &[("email", email)]).await;
        assert_eq!(
            page.location.as_deref(),
            Some("/sign-in/password"),
            "{}",
            page.body
        );
        browser
            .post("/sign-in/password", &[("password", password)])
            .await
    }

    /// Up to the code page; returns the code that was e-mailed.
    pub async fn sign_in_until_code(&self, browser: &Browser, email: &str) -> String {
        let before = self.mails_to(email);
        let page = self
            .enter_email_and_password(browser, email, PASSWORD)
            .await;
        assert_eq!(
            page.location.as_deref(),
            Some("/sign-in/code"),
            "{}",
            page.body
        );
        self.mail.wait_for_code(email, before).await
    }

    /// A whole first sign-in: code, save the backup code, signed in. Returns the code.
    pub async fn sign_in_saving_backup_code(
        &self,
        browser: &Browser,
        email: &str,
        trust: bool,
    ) -> String {
        let code = self.sign_in_until_code(browser, email).await;
        let mut fields = vec![("code", code.as_str())];
        if trust {
            fields.push(("trust_device", "on"));
        }
        let page = browser.post("/sign-in/code", &fields).await;
        assert_eq!(
            page.location.as_deref(),
            Some("/sign-in/save-backup-code"),
            "{}",
            page.body
        );
        let backup = browser
            .get("/sign-in/save-backup-code")
            .await
            .backup_code()
            .expect("a backup code");
        let page = browser.post("/sign-in/save-backup-code", &[]).await;
        assert_eq!(page.location.as_deref(), Some("/account"));
        backup
    }

    /// A fresh browser after a whole first sign-in to `email` (its backup code saved and
    /// not needed again).
    pub async fn signed_in_browser(&self, email: &str) -> Browser {
        let browser = self.browser();
        self.sign_in_saving_backup_code(&browser, email, false)
            .await;
        browser
    }

    /// The heading of the code page: how the second step asks for its code ("Check your
    /// email", "Check your phone", "Enter the code from your authenticator app").
    pub async fn code_page_heading(&self, browser: &Browser) -> Option<String> {
        browser.get("/sign-in/code").await.html().heading()
    }

    pub async fn is_signed_in(&self, browser: &Browser) -> bool {
        let page = browser.get("/account").await;
        page.status == 200 && page.html().heading().as_deref() == Some("You're signed in")
    }

    pub async fn sign_out(&self, browser: &Browser) {
        let page = browser.post("/sign-out", &[]).await;
        assert_eq!(page.location.as_deref(), Some("/sign-in?notice=signed-out"));
    }
}
