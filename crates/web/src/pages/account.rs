//! The account page (`/account`), changing the password, and signing out; and how every
//! action on the account page answers (`PageRequest::on_account_page`): where it leads, or
//! the page again with the message `error` chose.

use super::signin::{backup_code_file, SaveBackupCodePage};
use super::{answer, render, EmptyForm, PageRequest};
use crate::client::Client;
use crate::cookies::CookieName;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{app_error, password_change_failure, see_other, self_service_failure, Failure};
use crate::session::{RecentSession, SignedInSession};
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use gatehouse_app::audit::{
    Attempt, BackupCodeSaved, Change, Delivery, DeviceChange, Event, ProductAccess, RecoveryStep,
    SignOut, SignUpMail,
};
use gatehouse_app::risk::Risk;
use gatehouse_app::self_service::{Activity, ActivityEntry, DeviceEntry};
use gatehouse_app::sessions::SignedIn;
use gatehouse_core::display::format_utc;
use gatehouse_core::Proof;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf: &'a str,
    email: &'a str,
    used_backup_code: bool,
    has_authenticator: bool,
    active_backup_codes: u32,
    restored_from_backup: bool,
    /// A new address waiting 24 hours (issue 12): the masked address and when.
    waiting_email: Option<(String, String)>,
    /// "•••• 0123" and whether it is verified.
    phone: Option<(String, bool)>,
    devices: Vec<DeviceLine>,
    passkeys: Vec<PasskeyLine>,
    sessions: Vec<SessionLine>,
    products: Vec<ProductLine>,
    activity: Vec<ActivityLine>,
    /// Issue 12, part 4: what could lock this person out, each with its nudge.
    nudges: Nudges,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

/// The account page's nudges, one per risk the person can fix themselves; a lock is not
/// theirs to fix (they are signed in), so it has none.
#[derive(Default)]
struct Nudges {
    second_factor: bool,
    backup_code: bool,
    mail: bool,
    stale_devices: bool,
}

impl Nudges {
    fn of(risks: &[Risk]) -> Self {
        let mut nudges = Self::default();
        for risk in risks {
            match risk {
                Risk::EmailCodesOnly => nudges.second_factor = true,
                Risk::NoBackupCode => nudges.backup_code = true,
                Risk::MailBouncing => nudges.mail = true,
                Risk::TrustedDevicesStale => nudges.stale_devices = true,
                Risk::Locked => {}
            }
        }
        nudges
    }

    fn any(&self) -> bool {
        self.second_factor || self.backup_code || self.mail || self.stale_devices
    }
}

/// A trusted device as the account page and the backup-code review list it.
pub(super) struct DeviceLine {
    pub(super) id: String,
    pub(super) browser: String,
    pub(super) trusted_at: String,
    pub(super) last_used: String,
}

pub(super) fn device_lines(devices: &[DeviceEntry]) -> Vec<DeviceLine> {
    devices
        .iter()
        .map(|d| DeviceLine {
            id: d.id.clone(),
            browser: d.browser.clone(),
            trusted_at: format_utc(d.trusted_at),
            last_used: d.last_used_at.map_or_else(|| "never".into(), format_utc),
        })
        .collect()
}

struct PasskeyLine {
    id: String,
    name: String,
    created_at: String,
    last_used: String,
}

struct ProductLine {
    client_id: String,
    name: String,
    signed_in_at: String,
    offline: bool,
}

struct SessionLine {
    browser: String,
    address: String,
    signed_in_at: String,
    current: bool,
}

/// A security event as the account page and the backup-code review list it.
pub(super) struct ActivityLine {
    pub(super) at: String,
    pub(super) what: String,
    pub(super) browser: String,
}

pub(super) fn activity_lines(activity: &[ActivityEntry]) -> Vec<ActivityLine> {
    activity
        .iter()
        .map(|a| ActivityLine {
            at: format_utc(a.at),
            what: activity_label(&a.what),
            browser: a.browser.clone(),
        })
        .collect()
}

#[derive(Deserialize, Default)]
pub struct AccountQuery {
    notice: Option<String>,
}

/// Messages chosen by a fixed key in the URL, never reflected from it.
fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "password-changed" => {
            Some("Your password was changed. Your other sessions were signed out.")
        }
        "authenticator-added" => {
            Some("Your authenticator app is set up. Signing in now asks for its code.")
        }
        "authenticator-removed" => {
            Some("Your authenticator app was removed. Signing in now sends a code by email.")
        }
        "device-revoked" => Some("That device will be asked for a code next time."),
        "devices-revoked" => Some("All your devices will be asked for a code next time."),
        "sessions-ended" => Some("Your other sessions were signed out."),
        "product-signed-out" => Some("That product was signed out. It will ask you to sign in again."),
        "email-changed" => Some("Your email address was changed. We told your old address too."),
        "email-change-waiting" => Some("You signed in with your backup code in the last 7 days, so the new address takes effect in 24 hours. We told your current address, which can cancel the change."),
        "phone-added" => Some("Your phone is verified. Signing in now texts it a code. Trusted devices will be asked for a code again."),
        "phone-removed" => Some("Your phone was removed. It no longer receives codes."),
        "backup-code-saved" => Some("Your new backup code is active. The old one no longer works."),
        "passkey-added" => Some("Your passkey is added. It signs you in on its own: no password, no code."),
        "passkey-renamed" => Some("Your passkey was renamed."),
        "passkey-removed" => Some("Your passkey was removed. It no longer signs you in."),
        _ => None,
    }
}

/// The words the activity list uses for a recorded event: every event and outcome named,
/// so a new one cannot reach the page without words of its own.
pub(crate) fn activity_label(what: &Activity) -> String {
    let event = match what {
        Activity::Known(event) => event,
        Activity::Unrecognised { event, result } => return format!("{event} ({result})"),
    };
    let text = match event {
        Event::SessionStarted => "Signed in",
        Event::Password(Attempt::Accepted) => "Password accepted",
        Event::Password(Attempt::Wrong) => "Wrong password entered",
        Event::Password(Attempt::Refused) => "Password attempt refused (too many attempts)",
        Event::CodeSent(Delivery::Sent) => "Sign-in code sent by email",
        Event::CodeSent(Delivery::Failed | Delivery::Refused) => "Sign-in code not sent",
        Event::Code(Attempt::Accepted) => "Verification code accepted",
        Event::Code(Attempt::Wrong) => "Wrong verification code entered",
        Event::Code(Attempt::Refused) => "Verification code refused (too many attempts)",
        Event::BackupCode(Attempt::Accepted) => "Signed in with a backup code",
        Event::BackupCode(Attempt::Wrong | Attempt::Refused) => "Wrong backup code entered",
        Event::BackupCodeIssued => "New backup code shown",
        Event::BackupCodeSaved(BackupCodeSaved::AtSignIn | BackupCodeSaved::Replaced) => {
            "Backup code saved"
        }
        Event::TrustedDevice(DeviceChange::Trusted) => "Device trusted",
        Event::TrustedDevice(DeviceChange::Revoked) => "Trusted device revoked",
        Event::TrustedDevice(DeviceChange::AllRevoked) => "All trusted devices revoked",
        Event::SignedOut(SignOut::OtherSessions) => "Other sessions signed out",
        Event::SignedOut(SignOut::ThisSession) => "Signed out",
        Event::SignedOut(SignOut::OneSession) => "Another session signed out",
        Event::PasswordChanged(Change::Made) => "Password changed",
        Event::PasswordChanged(Change::Refused) => "Password change refused",
        Event::AuthenticatorAdded => "Authenticator app added",
        Event::AuthenticatorRemoved => "Authenticator app removed",
        Event::TextSent(Delivery::Sent) => "Sign-in code sent by text",
        Event::TextSent(Delivery::Refused) => "Text refused (limit reached)",
        Event::TextSent(Delivery::Failed) => "Text could not be sent",
        Event::PhoneAdded => "Phone verified",
        Event::PhoneRemoved => "Phone removed",
        Event::PasswordResetRequested => "Password reset link sent",
        Event::PasswordReset => "Password reset with a link",
        Event::SecondFactorReset => "Authenticator app and phone removed by an administrator",
        Event::EmailChanged => "Email address changed",
        Event::EmailChangeDelayed => "Email address change requested: it waits 24 hours",
        Event::EmailChangeCancelled => "Email address change cancelled from the old address",
        Event::SignInStopped => "A sign-in was stopped from the link in its email",
        Event::AccountLocked => "Account locked after too many failed sign-ins",
        Event::AccountCreated => "Account created",
        Event::ProductSignIn(ProductAccess::Revoked) => "Signed out of a product",
        Event::ProductSignIn(ProductAccess::Granted) => "Signed in to a product",
        Event::TokenReplayed => "A product's access ended: one of its tokens was used twice",
        Event::AccountDisabled => "Account disabled by an administrator",
        Event::AccountEnabled => "Account enabled by an administrator",
        Event::SignUpCodeSent(SignUpMail::CodeSent | SignUpMail::AddressTaken) => {
            "Sign-up code sent"
        }
        Event::SignUpCodeSent(SignUpMail::Refused) => "Sign-up code refused (limit reached)",
        Event::Recovery(RecoveryStep::Started) => "Recovery started by an administrator",
        Event::Recovery(RecoveryStep::CancelledByOwner) => {
            "Recovery cancelled with the emailed link"
        }
        Event::Recovery(RecoveryStep::CancelledByOperator) => {
            "Recovery cancelled by an administrator"
        }
        Event::Recovery(RecoveryStep::LinkIssued) => "Recovery link issued",
        Event::Recovery(RecoveryStep::Completed) => {
            "Account recovered: authenticator app, phone and backup codes removed"
        }
        Event::Passkey(Attempt::Accepted) => "Signed in with a passkey",
        Event::Passkey(Attempt::Wrong) => "Passkey refused",
        Event::Passkey(Attempt::Refused) => "Passkey refused (too many attempts)",
        Event::PasskeyAdded => "Passkey added",
        Event::PasskeyRemoved => "Passkey removed",
        Event::PasskeyCloned => "Passkey refused: it may have been copied",
    };
    text.to_string()
}

/// Renders the account page of `session`.
pub(crate) async fn account_page(
    state: &AppState,
    csrf: &str,
    session: &SignedIn,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let overview = match state.app.account_overview(session).await {
        Ok(overview) => overview,
        Err(error) => return app_error(error),
    };
    let devices = device_lines(&overview.devices);
    let passkeys = overview
        .passkeys
        .iter()
        .map(|p| PasskeyLine {
            id: p.id.clone(),
            name: p.name.clone(),
            created_at: format_utc(p.created_at),
            last_used: p.last_used_at.map_or_else(|| "never".into(), format_utc),
        })
        .collect();
    let sessions = overview
        .sessions
        .iter()
        .map(|s| SessionLine {
            browser: s.browser.clone(),
            address: s.address.clone().unwrap_or_default(),
            signed_in_at: format_utc(s.signed_in_at),
            current: s.current,
        })
        .collect();
    let products = overview
        .products
        .iter()
        .map(|p| ProductLine {
            client_id: p.client_id.clone(),
            name: p.name.clone(),
            signed_in_at: format_utc(p.last_signed_in_at),
            offline: p.offline,
        })
        .collect();
    let activity = activity_lines(&overview.activity);
    render(
        status,
        &AccountPage {
            csrf,
            email: &overview.session.email,
            used_backup_code: overview.session.proof == Proof::BackupCode,
            has_authenticator: overview.has_authenticator,
            active_backup_codes: overview.active_backup_codes,
            restored_from_backup: overview.restored_from_backup,
            waiting_email: overview
                .waiting_email_change
                .as_ref()
                .map(|w| (w.masked_new_email.clone(), format_utc(w.effective_at))),
            phone: overview
                .phone
                .as_ref()
                .map(|p| (p.masked.clone(), p.verified)),
            devices,
            passkeys,
            sessions,
            products,
            activity,
            nudges: Nudges::of(&overview.risks),
            notice,
            error,
        },
    )
}

pub async fn get_account(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Query(query): Query<AccountQuery>,
    SignedInSession(session): SignedInSession,
) -> Response {
    let notice = notice_text(query.notice.as_deref());
    account_page(&state, &csrf.0, &session, StatusCode::OK, notice, None).await
}

/// The account page's half of `PageRequest`: how an action on it answers.
impl PageRequest {
    /// Where a done action leads, or the account page of `session` again with the message
    /// `failure` chose for the refusal.
    pub(crate) async fn on_account_page<E>(
        &self,
        session: &SignedIn,
        result: Result<Response, E>,
        failure: fn(E) -> Failure,
    ) -> Response {
        answer(result, failure, async |status, message| {
            account_page(
                &self.state,
                &self.csrf.0,
                session,
                status,
                None,
                Some(message),
            )
            .await
        })
        .await
    }
}

#[derive(Deserialize)]
pub struct PasswordChangeForm {
    current_password: String,
    new_password: String,
}

/// S6: the current password and a new one that passes the rules; other sessions end. Like
/// every change of how one signs in, it needs a recent sign-in (S34).
pub async fn post_password(
    action: PageRequest,
    RecentSession(session): RecentSession,
    CsrfForm(form): CsrfForm<PasswordChangeForm>,
) -> Response {
    let (current, new) = (&form.current_password, &form.new_password);
    let result = action
        .app()
        .change_password(&session, current, new, &action.client)
        .await;
    let done = result.map(|()| see_other("/account?notice=password-changed"));
    action
        .on_account_page(&session, done, password_change_failure)
        .await
}

pub async fn post_sign_out(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    if let Some(cookie) = state.cookies.read(&headers, CookieName::Session) {
        if let Err(error) = state.app.sign_out(&cookie, &client).await {
            return app_error(error);
        }
    }
    (
        [(SET_COOKIE, state.cookies.clear(CookieName::Session))],
        see_other("/sign-in?notice=signed-out"),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct RevokeForm {
    /// One device; absent for "Revoke all".
    device_id: Option<String>,
}

/// S29: revoke one trusted device or all of them.
pub async fn post_revoke_devices(
    action: PageRequest,
    RecentSession(session): RecentSession,
    CsrfForm(form): CsrfForm<RevokeForm>,
) -> Response {
    let one = form.device_id.as_deref().filter(|id| !id.is_empty());
    let result = action
        .app()
        .revoke_devices(&session, one, &action.client)
        .await;
    let done = result.map(|()| match one {
        Some(_) => see_other("/account?notice=device-revoked"),
        None => see_other("/account?notice=devices-revoked"),
    });
    action
        .on_account_page(&session, done, self_service_failure)
        .await
}

#[derive(Deserialize)]
pub struct ProductForm {
    client_id: String,
}

/// "Sign out of NAME": the product's tokens end; it must send the person to sign in again.
pub async fn post_sign_out_of_product(
    action: PageRequest,
    SignedInSession(session): SignedInSession,
    CsrfForm(form): CsrfForm<ProductForm>,
) -> Response {
    let result = action
        .app()
        .sign_out_of_product(&session, &form.client_id, &action.client)
        .await;
    let done = result.map(|()| see_other("/account?notice=product-signed-out"));
    action
        .on_account_page(&session, done, self_service_failure)
        .await
}

/// S33: sign out every other session.
pub async fn post_end_other_sessions(
    action: PageRequest,
    SignedInSession(session): SignedInSession,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let result = action.app().end_other_sessions(&session, &action.client);
    let done = result
        .await
        .map(|_| see_other("/account?notice=sessions-ended"));
    action
        .on_account_page(&session, done, self_service_failure)
        .await
}

/// "Generate a new backup code" (S22, S34).
pub async fn post_new_backup_code(
    action: PageRequest,
    RecentSession(session): RecentSession,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let result = action.app().start_new_backup_code(&session, &action.client);
    let done = result.await.map(|()| see_other("/account/backup-code"));
    action
        .on_account_page(&session, done, self_service_failure)
        .await
}

/// The new code, until it is confirmed as saved.
pub async fn get_new_backup_code(
    action: PageRequest,
    RecentSession(session): RecentSession,
) -> Response {
    let result = action.app().pending_new_backup_codes(&session).await;
    let page = result.map(|(_, codes)| {
        render(
            StatusCode::OK,
            &SaveBackupCodePage {
                csrf: &action.csrf.0,
                confirm_action: "/account/backup-code",
                download_href: "/account/backup-code/download",
                codes: &codes,
                error: None,
            },
        )
    });
    action
        .on_account_page(&session, page, self_service_failure)
        .await
}

pub async fn get_new_backup_code_file(
    action: PageRequest,
    RecentSession(session): RecentSession,
) -> Response {
    let result = action.app().pending_new_backup_codes(&session).await;
    let file = result.map(|(email, codes)| backup_code_file(&email, &codes));
    action
        .on_account_page(&session, file, self_service_failure)
        .await
}

pub async fn post_confirm_new_backup_code(
    action: PageRequest,
    RecentSession(session): RecentSession,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let result = action
        .app()
        .confirm_new_backup_code(&session, &action.client);
    let done = result
        .await
        .map(|()| see_other("/account?notice=backup-code-saved"));
    action
        .on_account_page(&session, done, self_service_failure)
        .await
}
