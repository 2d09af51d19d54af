//! Passkeys (WebAuthn, S58) on the account page: "Add a passkey" (a recent sign-in, S34),
//! the list with names people can change, and "Remove"; and the start of a passkey
//! sign-in (its finish is `sign_in::passkey`, beside the other steps).
//!
//! `webauthn-rs` checks the ceremonies; this module keeps their state in the database under
//! the hash of a random handle (single use, `CEREMONY_LIFETIME_SECS`), so a ceremony begun
//! on one node finishes on any other, and a ceremony's answer can be used only once. The
//! relying party is the host of the public URL (`GATEHOUSE_PUBLIC_URL`, else the listening
//! address), and the origin that URL. Adding or removing a passkey revokes trusted devices
//! in the same transaction (S29), is a security event (S51) and tells the owner (S52).

use crate::audit::{Event, Method};
use crate::budget::Window;
use crate::sessions::{FreshSession, SignedIn};
use crate::{AppError, ClientInfo, Gatehouse, Inconsistent};
use gatehouse_core::display::describe_user_agent;
use gatehouse_core::ids::new_id;
use gatehouse_core::{AccountId, Email, Proof, Token};
use gatehouse_delivery::{passkey_added_notice, passkey_removed_notice, OutgoingMail};
use gatehouse_store::PasskeyRow;
use std::time::Duration;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, RegisterPublicKeyCredential, Url,
    Uuid, Webauthn, WebauthnBuilder,
};

/// S58: a ceremony must be finished within five minutes of its start (the browser is told
/// the same as its timeout), and only once.
pub const CEREMONY_LIFETIME_SECS: i64 = 5 * 60;

/// S57: passkey sign-ins one client address may start per hour; each is a row until it
/// expires, and nobody needs to be signed in to start one.
const SIGN_IN_CEREMONIES_PER_CLIENT_PER_HOUR: u32 = 300;

/// The longest name a passkey may have, in characters.
pub const MAX_NAME_CHARS: usize = 60;

/// The stored kinds of ceremony: a handle of one kind never finishes the other.
pub(crate) const ENROLMENT: &str = "enrolment";
pub(crate) const SIGN_IN: &str = "sign_in";

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The public URL's host cannot be a relying party (an IP address, no URL).
    #[error("passkeys are not available on this address")]
    Unavailable,
    /// No ceremony under this handle: never started, finished already, or expired.
    #[error("no passkey ceremony in progress")]
    NotStarted,
    /// The browser's answer did not verify (wrong challenge, origin, signature, no UV).
    #[error("the passkey was refused")]
    Refused,
    #[error("this passkey is already registered")]
    AlreadyRegistered,
    #[error("a passkey's name must be 1 to 60 characters")]
    InvalidName,
    #[error("no such passkey")]
    NotFound,
    /// S57: too many ceremonies started from this address.
    #[error("too many passkey ceremonies started")]
    TooMany,
    #[error(transparent)]
    App(#[from] AppError),
}

conflict_means!(PasskeyError, AlreadyRegistered);

/// What the browser needs to run a ceremony: the handle to send back, and the options for
/// `navigator.credentials` as JSON (`{"publicKey": …}`).
#[derive(Debug, Clone)]
pub struct PasskeyChallenge {
    pub handle: String,
    pub options_json: String,
}

/// A passkey as the account page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeySummary {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// The relying party for a public URL: its host is the id, the URL's origin (scheme, host,
/// port; a path plays no part) the one origin accepted.
pub(crate) fn relying_party(public_url: &str) -> Option<Webauthn> {
    let url = Url::parse(public_url).ok()?;
    let host = url.host_str()?.to_string();
    let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
    WebauthnBuilder::new(&host, &origin)
        .ok()?
        .rp_name("Gatehouse")
        .timeout(Duration::from_secs(CEREMONY_LIFETIME_SECS.unsigned_abs()))
        .build()
        .ok()
}

/// The WebAuthn user handle of an account: its id, which is random and names nothing
/// personal (an e-mail address would be stored in the authenticator).
pub(crate) fn user_handle(account_id: &AccountId) -> Option<Uuid> {
    Uuid::parse_str(account_id.as_str()).ok()
}

fn unexpected(what: &str) -> AppError {
    AppError::unexpected(Inconsistent::new(what))
}

impl Gatehouse {
    /// The relying party, built once the address people reach us at is known.
    pub(crate) fn webauthn(&self) -> Option<&Webauthn> {
        self.inner
            .webauthn
            .get_or_init(|| relying_party(&self.link_base()))
            .as_ref()
    }

    /// Stores a ceremony's state under a new handle; the handle goes to the browser.
    pub(crate) async fn begin_ceremony(
        &self,
        kind: &str,
        account_id: Option<&AccountId>,
        state: &impl serde::Serialize,
        options: &serde_json::Value,
    ) -> Result<PasskeyChallenge, AppError> {
        let now = self.now();
        let handle = Token::generate();
        let state = serde_json::to_string(state).map_err(AppError::unexpected)?;
        self.inner
            .store
            .insert_passkey_ceremony(
                &handle.hash().0,
                kind,
                account_id,
                &state,
                now,
                now + CEREMONY_LIFETIME_SECS,
            )
            .await?;
        Ok(PasskeyChallenge {
            handle: handle.as_str().to_string(),
            options_json: options.to_string(),
        })
    }

    /// Takes a ceremony's state, once (S58): what was stored, or `None`.
    pub(crate) async fn take_ceremony<T: serde::de::DeserializeOwned>(
        &self,
        handle: &str,
        kind: &str,
    ) -> Result<Option<(Option<AccountId>, T)>, AppError> {
        let Some(handle) = Token::parse(handle) else {
            return Ok(None);
        };
        let Some(row) = self
            .inner
            .store
            .take_passkey_ceremony(&handle.hash().0, kind, self.now())
            .await?
        else {
            return Ok(None);
        };
        let state = serde_json::from_str(&row.state).map_err(AppError::unexpected)?;
        Ok(Some((row.account_id, state)))
    }

    /// The account's passkeys, for the account page.
    pub async fn list_passkeys(&self, session: &SignedIn) -> Result<Vec<PasskeySummary>, AppError> {
        let rows = self.inner.store.list_passkeys(&session.account_id).await?;
        Ok(rows
            .into_iter()
            .map(|row| PasskeySummary {
                id: row.id,
                name: row.name,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
            })
            .collect())
    }

    /// "Add a passkey": the options for `navigator.credentials.create`. The account's
    /// passkeys are excluded, so one authenticator is not registered twice, and the key
    /// must be discoverable, so that it can sign in with no address typed.
    pub async fn start_passkey_enrolment(
        &self,
        session: &FreshSession,
    ) -> Result<PasskeyChallenge, PasskeyError> {
        let webauthn = self.webauthn().ok_or(PasskeyError::Unavailable)?;
        let user = user_handle(&session.account_id).ok_or(PasskeyError::Unavailable)?;
        let existing = self.inner.store.list_passkeys(&session.account_id).await?;
        let exclude = existing
            .iter()
            .filter_map(|row| serde_json::from_str::<Passkey>(&row.passkey).ok())
            .map(|passkey| passkey.cred_id().clone())
            .collect::<Vec<_>>();
        let (options, state) = webauthn
            .start_passkey_registration(user, &session.email, &session.email, Some(exclude))
            .map_err(|_| unexpected("could not start a passkey registration"))?;
        let mut options = serde_json::to_value(&options).map_err(AppError::unexpected)?;
        // A discoverable credential (a "resident key"): the library asks for none by default.
        if let Some(selection) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(serde_json::Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "required".into());
            selection.insert("requireResidentKey".into(), true.into());
        }
        Ok(self
            .begin_ceremony(ENROLMENT, Some(&session.account_id), &state, &options)
            .await?)
    }

    /// Finishes "Add a passkey" with the browser's answer. The ceremony must be this
    /// account's; the new passkey is named after the browser and system it was made on.
    pub async fn finish_passkey_enrolment(
        &self,
        session: &FreshSession,
        handle: &str,
        credential_json: &str,
        client: &ClientInfo,
    ) -> Result<(), PasskeyError> {
        let webauthn = self.webauthn().ok_or(PasskeyError::Unavailable)?;
        let (account_id, state) = self
            .take_ceremony::<PasskeyRegistration>(handle, ENROLMENT)
            .await?
            .ok_or(PasskeyError::NotStarted)?;
        if account_id.as_ref() != Some(&session.account_id) {
            return Err(PasskeyError::NotStarted);
        }
        let credential: RegisterPublicKeyCredential =
            serde_json::from_str(credential_json).map_err(|_| PasskeyError::Refused)?;
        let passkey = webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|error| {
                tracing::info!(%error, "a passkey registration was refused");
                PasskeyError::Refused
            })?;
        let now = self.now();
        let row = PasskeyRow {
            id: new_id(now),
            account_id: session.account_id.clone(),
            credential_id: passkey.cred_id().clone(),
            passkey: serde_json::to_string(&passkey).map_err(AppError::unexpected)?,
            counter: 0,
            name: describe_user_agent(client.user_agent.as_deref()),
            created_at: now,
            last_used_at: None,
        };
        self.inner.store.insert_passkey(&row, now).await?;
        self.passkeys_changed(session, Event::PasskeyAdded, client, passkey_added_notice)
            .await;
        Ok(())
    }

    /// Renames one of the account's passkeys.
    pub async fn rename_passkey(
        &self,
        session: &SignedIn,
        passkey_id: &str,
        name: &str,
    ) -> Result<(), PasskeyError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(PasskeyError::InvalidName);
        }
        if self
            .inner
            .store
            .rename_passkey(&session.account_id, passkey_id, name)
            .await?
        {
            Ok(())
        } else {
            Err(PasskeyError::NotFound)
        }
    }

    /// "Remove": the passkey no longer signs in (S34: a recent sign-in).
    pub async fn remove_passkey(
        &self,
        session: &FreshSession,
        passkey_id: &str,
        client: &ClientInfo,
    ) -> Result<(), PasskeyError> {
        let removed = self
            .inner
            .store
            .delete_passkey(&session.account_id, passkey_id, self.now())
            .await?;
        if removed.is_none() {
            return Err(PasskeyError::NotFound);
        }
        self.passkeys_changed(
            session,
            Event::PasskeyRemoved,
            client,
            passkey_removed_notice,
        )
        .await;
        Ok(())
    }

    /// "Sign in with a passkey": the options for `navigator.credentials.get`, for a
    /// discoverable credential (no address typed, no list of credentials that would tell
    /// which account has which passkey, S46).
    pub async fn start_passkey_sign_in(
        &self,
        client: &ClientInfo,
    ) -> Result<PasskeyChallenge, PasskeyError> {
        let webauthn = self.webauthn().ok_or(PasskeyError::Unavailable)?;
        if let Some(address) = &client.address {
            let window =
                Window::passkey_ceremonies_from(address, SIGN_IN_CEREMONIES_PER_CLIENT_PER_HOUR);
            if !self.take_at(&window, self.now()).await? {
                return Err(PasskeyError::TooMany);
            }
        }
        let (options, state): (_, DiscoverableAuthentication) = webauthn
            .start_discoverable_authentication()
            .map_err(|_| unexpected("could not start a passkey authentication"))?;
        let options = serde_json::to_value(&options).map_err(AppError::unexpected)?;
        Ok(self.begin_ceremony(SIGN_IN, None, &state, &options).await?)
    }

    async fn passkeys_changed(
        &self,
        session: &SignedIn,
        event: Event,
        client: &ClientInfo,
        notice: fn(&Email) -> OutgoingMail,
    ) {
        self.record_for(session, event, Some(Method::Proof(Proof::Passkey)), client)
            .await;
        if let Ok(email) = Email::parse(&session.email) {
            if let Err(error) = self.inner.mailer.send(&notice(&email)).await {
                tracing::error!(%error, "could not send a passkey notice");
            }
        }
    }
}
