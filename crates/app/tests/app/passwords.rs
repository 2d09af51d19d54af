//! Passwords as people really type them (S1, S3), and the event log (S51).

use crate::harness::{client, Harness, EMAIL, PASSWORD};
use gatehouse_app::sign_in::{BrowserCookies, SignInError};

#[tokio::test]
async fn a_two_hundred_character_emoji_password_signs_in() {
    let h = Harness::new().await;
    // 200 emoji in no pattern (one repeated 200 times is refused as guessable, S2).
    let emoji: String = (0..200u32)
        .filter_map(|i| char::from_u32(0x1F300 + (i * 37) % 256))
        .collect();
    assert_eq!(emoji.chars().count(), 200);
    h.app
        .add_account("emoji@example.com", &emoji)
        .await
        .unwrap();
    let flow = h
        .app
        .start_sign_in("emoji@example.com", None, &client())
        .await
        .unwrap();
    assert!(h
        .app
        .submit_password(flow.as_str(), &emoji, BrowserCookies::default(), &client())
        .await
        .is_ok());
}

#[tokio::test]
async fn nfc_and_nfd_spellings_of_a_password_both_sign_in() {
    let h = Harness::new().await;
    h.app
        .add_account("cafe@example.com", "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e")
        .await
        .unwrap();
    for spelling in [
        "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e",
        "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e",
    ] {
        let flow = h
            .app
            .start_sign_in("cafe@example.com", None, &client())
            .await
            .unwrap();
        let outcome = h
            .app
            .submit_password(
                flow.as_str(),
                spelling,
                BrowserCookies::default(),
                &client(),
            )
            .await;
        assert!(outcome.is_ok(), "{spelling:?}: {outcome:?}");
    }
}

#[tokio::test]
async fn a_password_is_never_truncated() {
    let h = Harness::new().await;
    // 80 bytes (one letter repeated 80 times is refused as guessable, S2).
    let long = "eighty bytes of an ordinary sentence, typed slowly by a patient person at home!!";
    assert_eq!(long.len(), 80);
    h.app.add_account("long@example.com", long).await.unwrap();
    let flow = h
        .app
        .start_sign_in("long@example.com", None, &client())
        .await
        .unwrap();
    let outcome = h
        .app
        .submit_password(
            flow.as_str(),
            &long[..72],
            BrowserCookies::default(),
            &client(),
        )
        .await;
    assert!(
        matches!(outcome, Err(SignInError::InvalidCredentials)),
        "S3: the first 72 bytes are not enough"
    );
}

#[tokio::test]
async fn security_events_record_who_what_and_where_but_no_secret() {
    let mut h = Harness::new().await;
    let (flow, _) = h.password_step("wrong password", None).await;
    drop(flow);
    h.sign_in_fully(false).await;
    let account = h.app.show_account(EMAIL).await.unwrap();
    let events = h.app.store().list_events(&account.id, 50).await.unwrap();
    let names: Vec<(String, String)> = events
        .iter()
        .rev()
        .map(|e| (e.event.clone(), e.result.clone()))
        .collect();
    for expected in [
        ("password", "failure"),
        ("password", "success"),
        ("code_sent", "success"),
        ("code", "success"),
        ("backup_code_issued", "success"),
        ("backup_code_saved", "success"),
        ("session_started", "success"),
    ] {
        assert!(
            names.contains(&(expected.0.to_string(), expected.1.to_string())),
            "missing {expected:?} in {names:?}"
        );
    }
    // Everything the person did carries where it came from (the account's creation came
    // from the operator's command line, which has no address).
    for event in events.iter().filter(|e| e.event != "account_created") {
        assert_eq!(event.client_address.as_deref(), Some("192.0.2.10"));
        assert_eq!(event.node, "gatehouse");
    }
    for event in &events {
        let text = format!("{event:?}");
        assert!(
            !text.contains(PASSWORD) && !text.contains("wrong password"),
            "S51: no secret in {text}"
        );
    }
}
