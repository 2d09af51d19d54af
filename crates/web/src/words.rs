//! The words a person reads when something they did was refused: one function per use-case
//! error, every variant named. `app`'s own texts are for logs; these are for pages, and the
//! browser and end-to-end tests look for them. Internal failures have no words here: their
//! page says only that something went wrong on our side (`error::app_error`).

use gatehouse_app::authenticator::AuthenticatorError;
use gatehouse_app::email_change::{CancelEmailChangeError, EmailChangeError};
use gatehouse_app::oidc::authorize::Unanswerable;
use gatehouse_app::oidc::logout::LogoutRefusal;
use gatehouse_app::passkeys::PasskeyError;
use gatehouse_app::password_change::PasswordChangeError;
use gatehouse_app::password_reset::ResetError;
use gatehouse_app::phone::PhoneError;
use gatehouse_app::recovery::RecoveryLinkError;
use gatehouse_app::self_service::SelfServiceError;
use gatehouse_app::sign_in::SignInError;
use gatehouse_app::sign_up::SignUpError;
use gatehouse_app::stop_sign_in::StopError;
use std::borrow::Cow;

const INVALID_EMAIL: &str = "Enter an email address like name@example.com";
const MALFORMED_CODE: &str = "Enter the 6-digit code";
const WRONG_CODE: &str = "That code is incorrect";
const WAIT: &str = "Too many attempts. Please wait a while and try again.";
/// What every internal failure shows: nothing of its cause (the log has that).
pub const OUR_SIDE: &str = "Something went wrong on our side. Please try again.";

pub fn sign_in(error: &SignInError) -> Cow<'static, str> {
    Cow::Borrowed(match error {
        SignInError::InvalidEmail => INVALID_EMAIL,
        SignInError::InvalidCredentials => "Email or password is incorrect",
        SignInError::TooManySignIns => {
            "Too many sign-ins were started from your network. Please wait a while and try again."
        }
        SignInError::NoSignIn => "Your sign-in expired. Please start again.",
        SignInError::WrongStep(_) => "This step is done. Continue from where you are.",
        SignInError::MalformedCode => MALFORMED_CODE,
        SignInError::MalformedBackupCode => "Enter the 24-character backup code",
        SignInError::WrongCode => WRONG_CODE,
        SignInError::WrongBackupCode => "That backup code is incorrect",
        SignInError::CodeExpired => "That code has expired. Use \"Resend code\" to get a new one.",
        SignInError::TooManyAttempts => "Too many wrong codes. Please sign in again.",
        SignInError::SecondStepLocked => WAIT,
        SignInError::ResendTooSoon(secs) => {
            return Cow::Owned(format!(
                "Please wait {secs} seconds before asking for another code"
            ))
        }
        SignInError::ResendLimit => {
            "No more codes can be sent right now. Use a backup code, or try again later."
        }
        SignInError::CodeNotSent => {
            "We could not send the code. Please use \"Resend code\" in a moment."
        }
        SignInError::BackupCodeReplaced => {
            "A newer backup code was shown in another window. Please sign in again."
        }
        SignInError::TryAgain => "Something changed meanwhile. Please try again.",
        SignInError::PasskeyRefused => PASSKEY_REFUSED,
        SignInError::App(_) => OUR_SIDE,
    })
}

/// S58: one answer for every passkey that did not sign in (unknown, another account's, a
/// bad signature, a copy): it tells an attacker nothing about which.
const PASSKEY_REFUSED: &str =
    "That passkey could not sign you in. Try again, or sign in another way.";

pub fn passkey(error: &PasskeyError) -> Cow<'static, str> {
    Cow::Borrowed(match error {
        PasskeyError::Unavailable => {
            "Passkeys are not available at this address. Ask your administrator to set Gatehouse's public https address."
        }
        PasskeyError::NotStarted | PasskeyError::Refused => {
            "Your browser did not make a passkey. Please try again."
        }
        PasskeyError::AlreadyRegistered => "That passkey is already added.",
        PasskeyError::InvalidName => "Give the passkey a name of 1 to 60 characters.",
        PasskeyError::NotFound => "That passkey is not on your account any more.",
        PasskeyError::TooMany => WAIT,
        PasskeyError::App(_) => OUR_SIDE,
    })
}

pub fn phone(error: &PhoneError) -> Cow<'static, str> {
    Cow::Borrowed(match error {
        // The core's reason is already written for people.
        PhoneError::InvalidNumber(reason) => return Cow::Owned(reason.to_string()),
        PhoneError::NotSent => "We could not send a text to that number just now. Try again later.",
        PhoneError::NotStarted => "Start by adding a phone number.",
        PhoneError::AlreadySetUp => "A phone is already set up. Remove it first to add another.",
        PhoneError::MalformedCode => MALFORMED_CODE,
        PhoneError::WrongCode => WRONG_CODE,
        PhoneError::CodeExpired => "That code has expired. Add the number again to get a new one.",
        PhoneError::TooManyAttempts => {
            "Too many wrong codes. Add the number again to get a new one."
        }
        PhoneError::App(_) => OUR_SIDE,
    })
}

pub fn email_change(error: &EmailChangeError) -> Cow<'static, str> {
    Cow::Borrowed(match error {
        EmailChangeError::InvalidEmail => INVALID_EMAIL,
        EmailChangeError::Unchanged => "That is already your email address.",
        EmailChangeError::NotStarted => "Start by entering the new address.",
        EmailChangeError::MalformedCode => MALFORMED_CODE,
        EmailChangeError::WrongCode => WRONG_CODE,
        EmailChangeError::TooManyAttempts => {
            "Too many wrong codes. Enter the new address again to get a new code."
        }
        EmailChangeError::App(_) => OUR_SIDE,
    })
}

pub fn authenticator(error: &AuthenticatorError) -> Cow<'static, str> {
    Cow::Borrowed(match error {
        AuthenticatorError::AlreadySetUp => {
            "An authenticator app is already set up. Remove it first to set up another."
        }
        AuthenticatorError::NotStarted => "Start by choosing \"Set up an authenticator app\".",
        AuthenticatorError::WrongCode => {
            "That code is incorrect. Check the time on your phone and try the newest code."
        }
        AuthenticatorError::TooManyAttempts => WAIT,
        AuthenticatorError::App(_) => OUR_SIDE,
    })
}

pub fn self_service(error: &SelfServiceError) -> Cow<'static, str> {
    Cow::Borrowed(match error {
        SelfServiceError::UnknownDevice => "That device is no longer trusted.",
        SelfServiceError::UnknownProduct => "That product was already signed out.",
        SelfServiceError::UnknownSession => "That session was already signed out.",
        SelfServiceError::NoPendingBackupCode => {
            "That backup code was replaced or already saved. Generate a new one if you need it."
        }
        SelfServiceError::App(_) => OUR_SIDE,
    })
}

pub fn password_change(error: &PasswordChangeError) -> Cow<'static, str> {
    Cow::Borrowed(match error {
        PasswordChangeError::WrongCurrentPassword => "Your current password is incorrect",
        // The core says why the password is refused, in words written for people.
        PasswordChangeError::WeakPassword(reason) => return Cow::Owned(reason.to_string()),
        PasswordChangeError::Unchanged => "Your new password must differ from the current one",
        PasswordChangeError::Conflict => {
            "Your password was changed elsewhere meanwhile. Please try again."
        }
        PasswordChangeError::App(_) => OUR_SIDE,
    })
}

pub fn reset(error: &ResetError) -> Cow<'static, str> {
    Cow::Borrowed(match error {
        ResetError::InvalidEmail => INVALID_EMAIL,
        ResetError::InvalidLink => {
            "This reset link has expired or was already used. Ask for a new one from \"Forgot password?\"."
        }
        ResetError::WeakPassword(reason) => return Cow::Owned(reason.to_string()),
        ResetError::App(_) => OUR_SIDE,
    })
}

pub fn recovery(error: &RecoveryLinkError) -> Cow<'static, str> {
    Cow::Borrowed(match error {
        RecoveryLinkError::InvalidLink => {
            "This recovery link is no longer valid: it was used, replaced by a newer one, or the recovery was cancelled or has expired. Nothing was changed. Contact your administrator if you need help."
        }
        RecoveryLinkError::App(_) => OUR_SIDE,
    })
}

/// S46: none of these names the account; the link was mailed to its owner alone.
pub fn stop(error: &StopError) -> Cow<'static, str> {
    Cow::Borrowed(match error {
        StopError::InvalidLink => {
            "This link does not work any more: it is only valid as long as the code in the same email. Nothing was changed."
        }
        StopError::AlreadyStopped => "That sign-in was already stopped. Nothing else was changed.",
        StopError::SignInOver => {
            "That sign-in is no longer in progress, so there is nothing to stop, and nothing was changed. If it wasn't you, change your password now and look at your recent activity."
        }
        StopError::App(_) => OUR_SIDE,
    })
}

pub fn cancel_email_change(error: &CancelEmailChangeError) -> Cow<'static, str> {
    Cow::Borrowed(match error {
        CancelEmailChangeError::NothingToCancel => {
            "There is no change of address to cancel: it was cancelled already, or it has taken effect. Nothing was changed."
        }
        CancelEmailChangeError::App(_) => OUR_SIDE,
    })
}

pub fn sign_up(error: &SignUpError) -> Cow<'static, str> {
    Cow::Borrowed(match error {
        // Sign-up that is off looks like a page that does not exist.
        SignUpError::Closed => NOT_FOUND,
        SignUpError::InvalidEmail => INVALID_EMAIL,
        SignUpError::WeakPassword(reason) => return Cow::Owned(reason.to_string()),
        SignUpError::NoSignUp => "Your sign-up expired. Please start again.",
        SignUpError::MalformedCode => MALFORMED_CODE,
        SignUpError::WrongCode => WRONG_CODE,
        SignUpError::TooManyAttempts => "Too many wrong codes. Please start again.",
        SignUpError::TooManyFromHere => {
            "Too many accounts were started from your network. Please try again later."
        }
        SignUpError::App(_) => OUR_SIDE,
    })
}

pub const NOT_FOUND: &str = "There is no page at this address.";

pub fn unanswerable(reason: Unanswerable) -> &'static str {
    match reason {
        Unanswerable::UnknownClient => {
            "The product that sent you here is not registered with this Gatehouse, so you cannot sign in to it from here."
        }
        Unanswerable::BadRedirectUri => {
            "The product that sent you here gave an address to return to that is not registered for it, so Gatehouse will not send you there."
        }
        Unanswerable::RequestGone => {
            "This sign-in request has expired or was already used. Go back to the product and sign in again."
        }
        Unanswerable::TooManyRequests => {
            "Too many sign-in requests came from your network just now. Wait a few minutes, then go back to the product and try again."
        }
    }
}

pub fn logout_refused(reason: LogoutRefusal) -> &'static str {
    match reason {
        LogoutRefusal::ForeignToken => {
            "The sign-out request came with a token Gatehouse did not issue."
        }
        LogoutRefusal::TwoClients => "The sign-out request names two different products.",
        LogoutRefusal::UnregisteredRedirect => {
            "The product asked to return to an address that is not registered for it."
        }
    }
}
