//! A Gatehouse on a fresh SQLite file with a fixed clock, mail going to an outbox folder.

use gatehouse_app::sessions::FreshSession;
use gatehouse_app::sign_in::{BrowserCookies, Progress, StepOutcome};
use gatehouse_app::{ClientInfo, FixedClock, Gatehouse, Settings};
use gatehouse_core::{FlowStep, MasterKey};
use gatehouse_delivery::{Mailer, OutboxMode, SmsSender};
use gatehouse_store::Store;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

pub const START: i64 = 1_800_000_000;
pub const EMAIL: &str = "ann@example.com";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Harness {
    pub app: Gatehouse,
    pub clock: FixedClock,
    outbox: PathBuf,
    seen: HashSet<PathBuf>,
    _dir: tempfile::TempDir,
}

pub fn client() -> ClientInfo {
    ClientInfo {
        address: Some("192.0.2.10".into()),
        user_agent: Some("test".into()),
        request_id: None,
    }
}

impl Harness {
    /// The session of `cookie`, checked as recent at this moment (S34), for the use cases
    /// that change how one signs in.
    pub async fn fresh(&self, cookie: &str) -> FreshSession {
        self.app.fresh_session(cookie).await.unwrap()
    }

    pub async fn new() -> Self {
        Self::with_settings(Settings::default()).await
    }

    pub async fn with_settings(settings: Settings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let outbox = dir.path().join("outbox");
        let mailer = Mailer::outbox(
            outbox.clone(),
            "Gatehouse <gatehouse@localhost>",
            OutboxMode::Quiet,
        )
        .unwrap();
        let sms = SmsSender::outbox(dir.path().join("sms-outbox"), OutboxMode::Quiet).unwrap();
        let clock = FixedClock::at(START);
        let app = Gatehouse::build(
            store,
            mailer,
            sms,
            Arc::new(clock.clone()),
            MasterKey::generate(),
            settings,
        )
        .await
        .unwrap();
        app.add_account(EMAIL, PASSWORD).await.unwrap();
        Self {
            app,
            clock,
            outbox,
            seen: HashSet::new(),
            _dir: dir,
        }
    }

    /// Mail written since the last call, oldest first.
    pub fn new_mail(&mut self) -> Vec<String> {
        let mut fresh: Vec<_> = std::fs::read_dir(&self.outbox)
            .map(|dir| {
                dir.map(|e| e.unwrap().path())
                    .filter(|p| !self.seen.contains(p))
                    .collect()
            })
            .unwrap_or_default();
        fresh.sort();
        self.seen.extend(fresh.iter().cloned());
        fresh
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// The code of the newest text written to the SMS outbox since the last call.
    pub fn new_text_code(&mut self) -> String {
        let dir = self.outbox.parent().unwrap().join("sms-outbox");
        let mut fresh: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| {
                d.map(|e| e.unwrap().path())
                    .filter(|p| !self.seen.contains(p))
                    .collect()
            })
            .unwrap_or_default();
        fresh.sort();
        self.seen.extend(fresh.iter().cloned());
        let text = std::fs::read_to_string(fresh.last().expect("a new text")).unwrap();
        text.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("a code in the text")
            .to_string()
    }

    /// The code of the newest new mail.
    pub fn new_code(&mut self) -> String {
        let mail = self.new_mail().pop().expect("a new mail");
        mail.lines()
            .map(str::trim)
            .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
            .expect("a code in the mail")
            .to_string()
    }

    /// The token of the reset link in the next new mail (sent in the background).
    pub async fn reset_token(&mut self) -> String {
        for _ in 0..100 {
            if let Some(mail) = self.new_mail().pop() {
                let text = mail.replace("=\r\n", "").replace("token=3D", "token=");
                let start = text.find("token=").expect("a reset link") + 6;
                return text[start..start + 43].to_string();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no reset mail");
    }

    /// E-mail and password; returns the flow token and the outcome of the password step.
    pub async fn password_step(
        &mut self,
        password: &str,
        trust: Option<&str>,
    ) -> (
        String,
        Result<StepOutcome, gatehouse_app::sign_in::SignInError>,
    ) {
        let flow = self
            .app
            .start_sign_in(EMAIL, None, &client())
            .await
            .unwrap();
        let outcome = self
            .app
            .submit_password(
                flow.as_str(),
                password,
                BrowserCookies {
                    trust,
                    device: None,
                },
                &client(),
            )
            .await;
        (flow.as_str().to_string(), outcome)
    }

    /// A complete first sign-in; returns the trust token if `trust` was ticked.
    pub async fn sign_in_fully(&mut self, trust: bool) -> Option<String> {
        let (flow, outcome) = self.password_step(PASSWORD, None).await;
        assert_step(&outcome.unwrap(), FlowStep::SecondStep);
        let code = self.new_code();
        let outcome = self
            .app
            .submit_code(&flow, &code, trust, &client())
            .await
            .unwrap();
        let token = outcome.trust_token.as_ref().map(|t| t.as_str().to_string());
        if let Progress::Next(FlowStep::SaveBackupCode { .. }) = outcome.progress {
            self.app
                .confirm_backup_code_saved(&flow, &client())
                .await
                .unwrap();
        }
        token
    }
}

pub fn assert_step(outcome: &StepOutcome, expected: FlowStep) {
    match &outcome.progress {
        Progress::Next(step) => assert_eq!(*step, expected),
        Progress::SignedIn { .. } => panic!("signed in, expected {expected:?}"),
    }
}

pub fn is_signed_in(outcome: &StepOutcome) -> bool {
    matches!(outcome.progress, Progress::SignedIn { .. })
}

pub fn session_of(outcome: &StepOutcome) -> String {
    match &outcome.progress {
        Progress::SignedIn { session, .. } => session.as_str().to_string(),
        Progress::Next(step) => panic!("not signed in: {step:?}"),
    }
}
