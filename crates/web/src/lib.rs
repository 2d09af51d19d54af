//! HTTP, and only HTTP: routes, extractors (the signed-in and recent-sign-in sessions are
//! `session`), server-rendered pages, CSRF, security headers, the one place where outcomes
//! become statuses (`error`) and the words people read about them (`words`).
//!
//! Handlers are thin: extract, call one `app` method, render or redirect. Nothing here
//! touches the database, SMTP or a hash: that is `app`'s job.

mod client;
mod cookies;
mod csrf;
mod error;
mod headers;
mod metrics;
mod observe;
mod pages;
mod protocol;
mod request_id;
mod session;
mod words;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use gatehouse_app::Gatehouse;

pub use crate::metrics::{REQUEST_DURATION, REQUEST_DURATION_BUCKETS};
pub use client::TrustedProxies;
pub use cookies::CookiePolicy;

/// S57: the most any request body may hold. Every body Gatehouse reads is a small form (the
/// pages, and the token, revocation and introspection endpoints): the largest, a token
/// request, is a few kilobytes.
pub const BODY_LIMIT_BYTES: usize = 16 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: Gatehouse,
    pub cookies: CookiePolicy,
    /// `scheme://host[:port]` people reach us at, when configured; form posts must come
    /// from it (S35).
    pub public_origin: Option<String>,
    /// S50: proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// The discovery document, serialised once: it only changes with the issuer, which is
    /// fixed before the router is built.
    pub discovery: bytes::Bytes,
}

/// The endpoints products call directly, readable from any origin (they read no cookie).
fn protocol_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(protocol::discovery),
        )
        .route("/oauth2/jwks", get(protocol::jwks))
        .route("/oauth2/token", post(protocol::token))
        .route(
            "/oauth2/userinfo",
            get(protocol::userinfo).post(protocol::userinfo),
        )
        .route("/oauth2/revoke", post(protocol::revoke))
        .route("/oauth2/introspect", post(protocol::introspect))
        .layer(middleware::from_fn(protocol::cors))
}

/// What carries no form and reads no cookie: health and the static files. Like the
/// protocol routes, they set no cookie, so a shared cache may keep them.
fn plain_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(pages::healthz))
        .route("/readyz", get(pages::readyz))
        .route("/static/gatehouse.css", get(pages::stylesheet))
        .route("/static/copy.js", get(pages::copy_script))
        .route("/static/passkeys.js", get(pages::passkeys_script))
}

/// The whole web surface of Gatehouse.
pub fn router(
    app: Gatehouse,
    cookies: CookiePolicy,
    public_origin: Option<String>,
    trusted_proxies: TrustedProxies,
) -> Router {
    let discovery = serde_json::to_vec(&app.discovery_document())
        .map(bytes::Bytes::from)
        .unwrap_or_default();
    let state = AppState {
        app,
        cookies,
        public_origin,
        trusted_proxies,
        discovery,
    };
    page_routes(&state)
        .merge(protocol_routes())
        .merge(plain_routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            headers::security_headers,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

/// The pages people see, and the forms they post: only these get a CSRF cookie (S35).
fn page_routes(state: &AppState) -> Router<AppState> {
    use pages::confirm;
    use pages::email_change::NewEmail;
    use pages::phone::NewPhone;
    Router::new()
        .route("/", get(pages::root))
        .route(
            "/sign-in",
            get(pages::signin::get_email).post(pages::signin::post_email),
        )
        .route(
            "/sign-in/password",
            get(pages::signin::get_password).post(pages::signin::post_password),
        )
        .route(
            "/sign-in/code",
            get(pages::signin::get_code).post(pages::signin::post_code),
        )
        .route("/sign-in/code/resend", post(pages::signin::post_resend))
        .route(
            "/sign-in/backup-code",
            get(pages::signin::get_backup_code).post(pages::signin::post_backup_code),
        )
        .route(
            "/sign-in/save-backup-code",
            get(pages::signin::get_save_backup_code).post(pages::signin::post_save_backup_code),
        )
        .route(
            "/sign-in/save-backup-code/download",
            get(pages::signin::get_backup_code_file),
        )
        .route("/account", get(pages::account::get_account))
        .route("/account/password", post(pages::account::post_password))
        .route(
            "/account/devices/revoke",
            post(pages::account::post_revoke_devices),
        )
        .route(
            "/account/phone/start",
            post(confirm::post_start::<NewPhone>),
        )
        .route(
            "/account/email/start",
            post(confirm::post_start::<NewEmail>),
        )
        .route(
            "/account/email",
            get(confirm::get_code::<NewEmail>).post(confirm::post_code::<NewEmail>),
        )
        .route(
            "/account/phone",
            get(confirm::get_code::<NewPhone>).post(confirm::post_code::<NewPhone>),
        )
        .route("/account/phone/remove", post(pages::phone::post_remove))
        .route(
            "/sign-in/another-way/text",
            post(pages::signin::post_text_instead),
        )
        .route(
            "/account/backup-code/new",
            post(pages::account::post_new_backup_code),
        )
        .route(
            "/account/backup-code",
            get(pages::account::get_new_backup_code)
                .post(pages::account::post_confirm_new_backup_code),
        )
        .route(
            "/account/backup-code/download",
            get(pages::account::get_new_backup_code_file),
        )
        .route(
            "/account/products/sign-out",
            post(pages::account::post_sign_out_of_product),
        )
        .route(
            "/account/sessions/end-others",
            post(pages::account::post_end_other_sessions),
        )
        .route(
            "/account/authenticator",
            get(pages::authenticator::get_authenticator).post(pages::authenticator::post_confirm),
        )
        .route(
            "/account/authenticator/start",
            post(pages::authenticator::post_start),
        )
        .route(
            "/account/authenticator/remove",
            post(pages::authenticator::post_remove),
        )
        .route("/sign-in/another-way", get(pages::signin::get_another_way))
        .route("/sign-out", post(pages::account::post_sign_out))
        .route(
            "/sign-up",
            get(pages::signup::get_sign_up).post(pages::signup::post_sign_up),
        )
        .route(
            "/sign-up/verify",
            get(pages::signup::get_verify).post(pages::signup::post_verify),
        )
        .route(
            "/forgot-password",
            get(pages::reset::get_forgot).post(pages::reset::post_forgot),
        )
        .route(
            "/reset-password",
            get(pages::reset::get_reset).post(pages::reset::post_reset),
        )
        .route(
            "/sign-in/stop",
            get(pages::stop::get_stop).post(pages::stop::post_stop),
        )
        .route("/sign-in/stopped", get(pages::stop::get_stopped))
        .route("/sign-in/review", get(pages::review::get_review))
        .route(
            "/sign-in/review/devices/revoke",
            post(pages::review::post_revoke_device),
        )
        .route(
            "/sign-in/review/sessions/revoke",
            post(pages::review::post_revoke_session),
        )
        .route(
            "/email-change/cancel",
            get(pages::email_change::get_cancel).post(pages::email_change::post_cancel),
        )
        .route(
            "/recovery/cancel",
            get(pages::recovery::get_cancel).post(pages::recovery::post_cancel),
        )
        .route("/recovery/cancelled", get(pages::recovery::get_cancelled))
        .route(
            "/recover",
            get(pages::recovery::get_recover).post(pages::recovery::post_recover),
        )
        .route(
            "/oauth2/authorize",
            get(pages::oidc::get_authorize).post(pages::oidc::post_authorize),
        )
        .route("/oauth2/continue", get(pages::oidc::get_continue))
        .route("/oauth2/consent", post(pages::oidc::post_consent))
        .route(
            "/oauth2/logout",
            get(pages::oidc::get_logout).post(pages::oidc::post_logout),
        )
        .route(
            "/sign-in/passkey/options",
            post(pages::passkeys::post_sign_in_options),
        )
        .route("/sign-in/passkey", post(pages::signin::post_passkey))
        .route(
            "/sign-in/password/passkey",
            post(pages::signin::post_password_passkey),
        )
        .route(
            "/account/passkeys/options",
            post(pages::passkeys::post_enrolment_options),
        )
        .route("/account/passkeys", post(pages::passkeys::post_enrolment))
        .route(
            "/account/passkeys/rename",
            post(pages::passkeys::post_rename),
        )
        .route(
            "/account/passkeys/remove",
            post(pages::passkeys::post_remove),
        )
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            csrf::ensure_cookie,
        ))
}
