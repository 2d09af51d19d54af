//! Passkeys (S58) with a software authenticator we did not write (`webauthn-authenticator-rs`'
//! `SoftPasskey`, which signs like a real one): enrolment from a recent session, a sign-in
//! with the passkey alone, single-use ceremonies, failed assertions on the second-step
//! budget (S10, S19), a counter that went backwards refused and the owner told, and the
//! backup code still signing in without the passkey.
//!
//! The software authenticator keeps no resident keys: the test asks it for a plain
//! credential, and plays the browser's part of a discoverable one by naming the credential
//! to it and returning the user handle it was made for (a handle is not signed; the server
//! checks it against the passkey it finds).

use crate::harness::{client, is_signed_in, session_of, Harness, EMAIL, PASSWORD};
use gatehouse_app::sign_in::{BrowserCookies, PasskeySignIn, Progress, SignInError};
use gatehouse_app::Settings;
use gatehouse_core::display::describe_user_agent;
use gatehouse_core::{FlowStep, Proof};
use gatehouse_store::{FlowCommit, PasskeyUse};
use serde_json::{json, Value};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

const ORIGIN: &str = "http://localhost:8080";

/// A person's browser with a passkey made for Gatehouse.
struct Browser {
    authenticator: SoftPasskey,
    /// base64url, as the browser sends them.
    credential_id: String,
    user_handle: String,
}

async fn harness() -> Harness {
    Harness::with_settings(Settings {
        public_url: Some(ORIGIN.into()),
        ..Settings::default()
    })
    .await
}

/// A first sign-in with password and code; returns the session and the backup code that
/// was shown and saved.
async fn first_sign_in(h: &mut Harness) -> (String, String) {
    let (flow, outcome) = h.password_step(PASSWORD, None).await;
    assert!(!is_signed_in(&outcome.unwrap()));
    let code = h.new_code();
    h.app
        .submit_code(&flow, &code, false, &client())
        .await
        .unwrap();
    let backup_code = h.app.view_sign_in(&flow).await.unwrap().backup_codes[0].clone();
    let outcome = h
        .app
        .confirm_backup_code_saved(&flow, &client())
        .await
        .unwrap();
    (session_of(&outcome), backup_code)
}

/// "Add a passkey" from `session`.
async fn add_passkey(h: &mut Harness, session: &str) -> Browser {
    let fresh = h.fresh(session).await;
    let challenge = h.app.start_passkey_enrolment(&fresh).await.unwrap();
    let mut options: Value = serde_json::from_str(&challenge.options_json).unwrap();
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"], "required",
        "a discoverable credential is asked for"
    );
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["userVerification"],
        "required"
    );
    options["publicKey"]["authenticatorSelection"]["residentKey"] = json!("discouraged");
    options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = json!(false);
    let user_handle = options["publicKey"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let options: CreationChallengeResponse = serde_json::from_value(options).unwrap();
    let mut authenticator = SoftPasskey::new(true);
    let credential = authenticator
        .do_registration(Url::parse(ORIGIN).unwrap(), options)
        .unwrap();
    let credential = serde_json::to_value(&credential).unwrap();
    h.app
        .finish_passkey_enrolment(
            &fresh,
            &challenge.handle,
            &credential.to_string(),
            &client(),
        )
        .await
        .unwrap();
    Browser {
        authenticator,
        credential_id: credential["rawId"].as_str().unwrap().to_string(),
        user_handle,
    }
}

impl Browser {
    /// The browser's answer to a new passkey sign-in ceremony: (handle, credential JSON).
    async fn answer(&mut self, h: &Harness) -> (String, Value) {
        let challenge = h.app.start_passkey_sign_in(&client()).await.unwrap();
        let mut options: Value = serde_json::from_str(&challenge.options_json).unwrap();
        assert_eq!(
            options["publicKey"]["allowCredentials"],
            json!([]),
            "a discoverable ceremony names no credential"
        );
        options["publicKey"]["allowCredentials"] =
            json!([{ "type": "public-key", "id": self.credential_id }]);
        let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
        let credential = self
            .authenticator
            .do_authentication(Url::parse(ORIGIN).unwrap(), options)
            .unwrap();
        let mut credential = serde_json::to_value(&credential).unwrap();
        credential["response"]["userHandle"] = json!(self.user_handle);
        (challenge.handle, credential)
    }
}

async fn post(
    h: &Harness,
    flow: Option<&str>,
    handle: &str,
    credential: &Value,
) -> Result<PasskeySignIn, SignInError> {
    h.app
        .sign_in_with_passkey(
            flow,
            handle,
            &credential.to_string(),
            None,
            BrowserCookies::default(),
            &client(),
        )
        .await
}

fn tampered(mut credential: Value) -> Value {
    let signature = credential["response"]["signature"].as_str().unwrap();
    let mut chars: Vec<char> = signature.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    credential["response"]["signature"] = json!(chars.into_iter().collect::<String>());
    credential
}

fn signed_in_with_a_passkey(done: &PasskeySignIn) -> bool {
    matches!(done.outcome.progress, Progress::SignedIn { .. })
}

#[tokio::test]
async fn a_passkey_signs_in_alone_and_the_backup_code_still_does_without_it() {
    let mut h = harness().await;
    let (session, backup_code) = first_sign_in(&mut h).await;
    let mut browser = add_passkey(&mut h, &session).await;
    let mail = h.new_mail().join("\n");
    assert!(
        mail.contains("A passkey was added to your account"),
        "{mail}"
    );

    // No address, no password, no code.
    let (handle, answer) = browser.answer(&h).await;
    let done = post(&h, None, &handle, &answer).await.unwrap();
    let Progress::SignedIn { session, .. } = &done.outcome.progress else {
        panic!("not signed in: {:?}", done.outcome.progress);
    };
    let signed_in = h.app.find_session(session.as_str()).await.unwrap().unwrap();
    assert_eq!(signed_in.email, EMAIL);
    assert_eq!(signed_in.proof, Proof::Passkey);
    assert!(
        done.outcome.trust_token.is_none(),
        "nothing to trust: no code was asked"
    );
    let listed = h.app.list_passkeys(&signed_in).await.unwrap();
    assert_eq!(listed.len(), 1);
    // Named after the browser and system it was made on.
    assert_eq!(
        listed[0].name,
        describe_user_agent(client().user_agent.as_deref())
    );
    assert!(listed[0].last_used_at.is_some());

    // Nobody gets locked out: the backup code still replaces the code, passkey or not.
    let (flow, outcome) = h.password_step(PASSWORD, None).await;
    assert!(!is_signed_in(&outcome.unwrap()));
    let outcome = h
        .app
        .submit_backup_code(&flow, &backup_code, &client())
        .await
        .unwrap();
    assert!(matches!(
        outcome.progress,
        Progress::Next(FlowStep::SaveBackupCode {
            proof: Proof::BackupCode
        })
    ));
}

#[tokio::test]
async fn an_answer_is_used_once_and_its_ceremony_with_it() {
    let mut h = harness().await;
    let (session, _) = first_sign_in(&mut h).await;
    let mut browser = add_passkey(&mut h, &session).await;
    let (handle, answer) = browser.answer(&h).await;
    assert!(signed_in_with_a_passkey(
        &post(&h, None, &handle, &answer).await.unwrap()
    ));
    let replay = post(&h, None, &handle, &answer).await;
    assert!(
        matches!(replay, Err(SignInError::PasskeyRefused)),
        "{replay:?}"
    );
    // A ceremony also ends with its lifetime.
    let (handle, answer) = browser.answer(&h).await;
    h.clock.advance(5 * 60);
    let late = post(&h, None, &handle, &answer).await;
    assert!(matches!(late, Err(SignInError::PasskeyRefused)), "{late:?}");
}

#[tokio::test]
async fn failed_assertions_spend_the_second_step_budget() {
    let mut h = harness().await;
    let (session, _) = first_sign_in(&mut h).await;
    let mut browser = add_passkey(&mut h, &session).await;
    for _ in 0..5 {
        let (handle, answer) = browser.answer(&h).await;
        let refused = post(&h, None, &handle, &tampered(answer)).await;
        assert!(
            matches!(refused, Err(SignInError::PasskeyRefused)),
            "{refused:?}"
        );
    }
    // The budget is spent: even a good answer is not looked at now (S10, S19).
    let (handle, answer) = browser.answer(&h).await;
    let locked = post(&h, None, &handle, &answer).await;
    assert!(
        matches!(locked, Err(SignInError::SecondStepLocked)),
        "{locked:?}"
    );
    // Codes share that budget: the password's second step waits too.
    let (flow, _) = h.password_step(PASSWORD, None).await;
    let code = h.new_code();
    let wait = h.app.submit_code(&flow, &code, false, &client()).await;
    assert!(
        matches!(wait, Err(SignInError::SecondStepLocked)),
        "{wait:?}"
    );
    h.clock.advance(3);
    let (handle, answer) = browser.answer(&h).await;
    assert!(signed_in_with_a_passkey(
        &post(&h, None, &handle, &answer).await.unwrap()
    ));
}

#[tokio::test]
async fn a_counter_that_went_backwards_is_refused_and_the_owner_told() {
    let mut h = harness().await;
    let (session, _) = first_sign_in(&mut h).await;
    let mut browser = add_passkey(&mut h, &session).await;
    let (handle, answer) = browser.answer(&h).await;
    assert!(signed_in_with_a_passkey(
        &post(&h, None, &handle, &answer).await.unwrap()
    ));
    // A copy of the key was used 100 times elsewhere: the server has seen counter 100.
    let account_id = h.fresh(&session).await.account_id.clone();
    let stored = h
        .app
        .store()
        .list_passkeys(&account_id)
        .await
        .unwrap()
        .remove(0);
    let mut record: Value = serde_json::from_str(&stored.passkey).unwrap();
    record["cred"]["counter"] = json!(100);
    let flow = h.app.start_sign_in(EMAIL, None, &client()).await.unwrap();
    let row = h
        .app
        .store()
        .find_flow_by_token(&flow.hash().0)
        .await
        .unwrap()
        .unwrap();
    let copy_used = FlowCommit {
        now: 0,
        expected_version: 0,
        next: None,
        use_passkey: Some(PasskeyUse {
            id: stored.id.clone(),
            passkey: record.to_string(),
            counter: 100,
            used_at: 0,
        }),
        ..FlowCommit::default()
    };
    h.app.store().commit_flow(&row.id, copy_used).await.unwrap();
    h.new_mail();

    let (handle, answer) = browser.answer(&h).await;
    let refused = post(&h, None, &handle, &answer).await;
    assert!(
        matches!(refused, Err(SignInError::PasskeyRefused)),
        "{refused:?}"
    );
    let mail = h.new_mail().join("\n");
    assert!(mail.contains("A copy of your passkey may exist"), "{mail}");
}

#[tokio::test]
async fn a_passkey_finishes_only_its_own_accounts_sign_in_on_the_password_page() {
    let mut h = harness().await;
    let (session, _) = first_sign_in(&mut h).await;
    let mut browser = add_passkey(&mut h, &session).await;
    h.app
        .add_account("bob@example.com", PASSWORD)
        .await
        .unwrap();
    let bobs = h
        .app
        .start_sign_in("bob@example.com", None, &client())
        .await
        .unwrap();
    let (handle, answer) = browser.answer(&h).await;
    let refused = post(&h, Some(bobs.as_str()), &handle, &answer).await;
    assert!(
        matches!(refused, Err(SignInError::PasskeyRefused)),
        "{refused:?}"
    );

    let anns = h.app.start_sign_in(EMAIL, None, &client()).await.unwrap();
    let (handle, answer) = browser.answer(&h).await;
    let done = post(&h, Some(anns.as_str()), &handle, &answer)
        .await
        .unwrap();
    assert!(signed_in_with_a_passkey(&done));
}

#[tokio::test]
async fn a_removed_passkey_signs_nobody_in_and_the_owner_is_told() {
    let mut h = harness().await;
    let (session, _) = first_sign_in(&mut h).await;
    let mut browser = add_passkey(&mut h, &session).await;
    let fresh = h.fresh(&session).await;
    let id = h.app.list_passkeys(&fresh).await.unwrap()[0].id.clone();
    h.app
        .rename_passkey(&fresh, &id, "  Work laptop ")
        .await
        .unwrap();
    assert_eq!(
        h.app.list_passkeys(&fresh).await.unwrap()[0].name,
        "Work laptop"
    );
    h.new_mail();
    h.app.remove_passkey(&fresh, &id, &client()).await.unwrap();
    let mail = h.new_mail().join("\n");
    assert!(
        mail.contains("A passkey was removed from your account"),
        "{mail}"
    );
    let (handle, answer) = browser.answer(&h).await;
    let refused = post(&h, None, &handle, &answer).await;
    assert!(
        matches!(refused, Err(SignInError::PasskeyRefused)),
        "{refused:?}"
    );
}

/// Another node on the same database (S58: no ceremony state lives in a node's memory).
async fn second_node(h: &Harness) -> (gatehouse_app::Gatehouse, tempfile::TempDir) {
    use gatehouse_delivery::{Mailer, OutboxMode, SmsSender};
    let dir = tempfile::tempdir().unwrap();
    let mailer = Mailer::outbox(
        dir.path().join("outbox"),
        "Gatehouse <gatehouse@localhost>",
        OutboxMode::Quiet,
    )
    .unwrap();
    let sms = SmsSender::outbox(dir.path().join("sms-outbox"), OutboxMode::Quiet).unwrap();
    let node = gatehouse_app::Gatehouse::build(
        h.app.store().clone(),
        mailer,
        sms,
        std::sync::Arc::new(h.clock.clone()),
        gatehouse_core::MasterKey::generate(),
        Settings {
            public_url: Some(ORIGIN.into()),
            node_name: "second".into(),
            ..Settings::default()
        },
    )
    .await
    .unwrap();
    (node, dir)
}

#[tokio::test]
async fn a_ceremony_begun_on_one_node_finishes_on_another_and_only_once() {
    let mut h = harness().await;
    let (session, _) = first_sign_in(&mut h).await;
    let mut browser = add_passkey(&mut h, &session).await;
    let (other, _dir) = second_node(&h).await;
    let (handle, answer) = browser.answer(&h).await;
    let finish = |node: &gatehouse_app::Gatehouse| {
        let node = node.clone();
        let (handle, answer) = (handle.clone(), answer.to_string());
        async move {
            node.sign_in_with_passkey(
                None,
                &handle,
                &answer,
                None,
                BrowserCookies::default(),
                &client(),
            )
            .await
        }
    };
    let done = finish(&other).await.unwrap();
    assert!(signed_in_with_a_passkey(&done));
    let again = finish(&h.app).await;
    assert!(
        matches!(again, Err(SignInError::PasskeyRefused)),
        "{again:?}"
    );
}
