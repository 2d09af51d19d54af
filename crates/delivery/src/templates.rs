//! The texts people receive. Codes go in the plain-text part as six digits (DESIGN.md §1);
//! notices carry no secret and say what to do if it was not you (S52).

use gatehouse_core::{Email, OtpCode};

/// A message ready to send. `Debug` leaves the body out, since it may hold a code.
#[derive(Clone)]
pub struct OutgoingMail {
    pub to: Email,
    pub subject: String,
    pub body: String,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("to", &self.to.masked())
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// `stop_link` is the "Wasn't you? Stop this sign-in" link (S59): opening it changes
/// nothing, its button ends the sign-in.
pub fn sign_in_code(
    to: &Email,
    code: &OtpCode,
    valid_minutes: i64,
    stop_link: &str,
) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Your Gatehouse sign-in code".into(),
        body: format!(
            "Your sign-in code is:\n\n    {code}\n\nIt is valid for {valid_minutes} minutes and can be used once.\n\n\
             Wasn't you? Stop this sign-in: {stop_link}\n\n\
             If you did not try to sign in, someone may know your password: change it, and\n\
             do not share this code with anyone. Gatehouse will never ask you for it.\n",
            code = code.expose()
        ),
    }
}

pub fn backup_code_used_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Your backup code was used to sign in".into(),
        body: "Your backup code was used to sign in to your Gatehouse account.\n\n\
               That code no longer works, and a new one was shown at the end of the sign-in.\n\n\
               If this was not you, change your password and contact your administrator.\n"
            .into(),
    }
}

pub fn wrong_codes_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Someone entered your password but not the code".into(),
        body: "Your password was entered correctly, but the verification code was wrong too\n\
               many times, so that sign-in was stopped.\n\n\
               If this was not you, someone knows your password: change it now.\n"
            .into(),
    }
}

pub fn password_changed_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Your Gatehouse password was changed".into(),
        body: "The password of your Gatehouse account was just changed. Your other sessions were\n\
               signed out and your trusted devices will be asked for a code again.\n\n\
               If you did not do this, contact your administrator at once.\n"
            .into(),
    }
}

pub fn authenticator_added_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "An authenticator app was added to your account".into(),
        body:
            "An authenticator app was set up for your Gatehouse account. From now on, signing in\n\
               asks for its code instead of one sent by email. Devices you trusted before will be\n\
               asked for a code again.\n\n\
               If you did not do this, contact your administrator at once.\n"
                .into(),
    }
}

pub fn authenticator_removed_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "The authenticator app was removed from your account".into(),
        body: "The authenticator app of your Gatehouse account was removed. Signing in now asks\n\
               for a code sent by email. Devices you trusted before will be asked for a code again.\n\n\
               If you did not do this, contact your administrator at once.\n"
            .into(),
    }
}

pub fn passkey_added_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "A passkey was added to your account".into(),
        body: "A passkey was added to your Gatehouse account. It signs you in on its own, with\n\
               no password or code. Devices you trusted before will be asked for a code again.\n\n\
               If you did not do this, contact your administrator at once.\n"
            .into(),
    }
}

pub fn passkey_removed_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "A passkey was removed from your account".into(),
        body: "A passkey was removed from your Gatehouse account; it no longer signs you in.\n\
               Devices you trusted before will be asked for a code again.\n\n\
               If you did not do this, contact your administrator at once.\n"
            .into(),
    }
}

/// S58: a passkey answered with a signature counter that went backwards, which a copied
/// authenticator does; the sign-in was refused.
pub fn passkey_cloned_notice(to: &Email, passkey_name: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "A copy of your passkey may exist".into(),
        body: format!(
            "Someone tried to sign in to your Gatehouse account with your passkey \"{passkey_name}\",\n\
             but the passkey's counter went backwards, which happens when a passkey was copied.\n\
             The sign-in was refused.\n\n\
             Remove that passkey on your account page and add it again, and contact your\n\
             administrator if you did not expect this.\n"
        ),
    }
}

pub fn password_reset_link(to: &Email, link: &str, valid_minutes: i64) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Reset your Gatehouse password".into(),
        body: format!(
            "Someone asked to reset the password of your Gatehouse account. To choose a new\n\
             password, open this link within {valid_minutes} minutes:\n\n    {link}\n\n\
             The link works once. If you did not ask for it, ignore this message: your password\n\
             stays as it is.\n"
        ),
    }
}

pub fn password_reset_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Your Gatehouse password was reset".into(),
        body:
            "The password of your Gatehouse account was reset with a link sent to this address.\n\
               All your sessions were signed out and your trusted devices will be asked for a\n\
               code again.\n\n\
               If you did not do this, contact your administrator at once.\n"
                .into(),
    }
}

pub fn sign_up_code(to: &Email, code: &OtpCode, valid_minutes: i64) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Confirm your email address for Gatehouse".into(),
        body: format!(
            "Your code to finish creating your Gatehouse account is:\n\n    {code}\n\n\
             It is valid for {valid_minutes} minutes. If you did not ask for an account, ignore\n\
             this message.\n",
            code = code.expose()
        ),
    }
}

pub fn sign_up_taken_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Someone tried to create an account with your address".into(),
        body: "Someone tried to create a Gatehouse account with this address, but you already have\n\
               one. If it was you, sign in instead, or use \"Forgot password?\" on the sign-in page.\n\
               If it was not you, you can ignore this message.\n"
            .into(),
    }
}

pub fn phone_changed_notice(to: &Email, added: bool) -> OutgoingMail {
    let (subject, what) = if added {
        (
            "A phone was added to your account",
            "A phone was verified for your Gatehouse account; sign-ins can now text it a code.",
        )
    } else {
        (
            "The phone was removed from your account",
            "The phone of your Gatehouse account was removed; it no longer receives codes.",
        )
    };
    OutgoingMail {
        to: to.clone(),
        subject: subject.into(),
        body: format!(
            "{what}\nDevices you trusted before will be asked for a code again.\n\n\
             If you did not do this, contact your administrator at once.\n"
        ),
    }
}

pub fn email_change_code(to: &Email, code: &OtpCode, valid_minutes: i64) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Confirm your new email address for Gatehouse".into(),
        body: format!(
            "To make this the email address of your Gatehouse account, enter this code:\n\n    {code}\n\n\
             It is valid for {valid_minutes} minutes. If you did not ask for this, ignore this message.\n",
            code = code.expose()
        ),
    }
}

pub fn email_changed_notice(to: &Email, new_address: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "The email address of your account was changed".into(),
        body: format!(
            "The email address of your Gatehouse account was changed to {new_address}. From now on,\n\
             messages about your account go there.\n\n\
             If you did not do this, contact your administrator at once.\n"
        ),
    }
}

/// Issue 12: within 7 days of a backup-code sign-in a new address waits 24 hours, and the
/// old address may cancel it (S59: the link's page has the button).
pub fn email_change_waiting_notice(
    to: &Email,
    new_address: &str,
    effective: &str,
    cancel_link: &str,
) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Your account's email address will change in 24 hours".into(),
        body: format!(
            "Someone signed in to your Gatehouse account with its backup code and asked to\n\
             change its email address to {new_address}. The change takes effect on {effective}.\n\n\
             Wasn't you? Cancel this change: {cancel_link}\n\n\
             Then change your password: whoever did this knows it.\n"
        ),
    }
}

pub fn email_change_cancelled_notice(to: &Email, new_address: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "The change of your email address was cancelled".into(),
        body: format!(
            "The change of your Gatehouse account's email address to {new_address} was\n\
             cancelled. Your address stays as it is.\n\n\
             If someone else asked for the change, they know your password: change it.\n"
        ),
    }
}

pub fn new_device_notice(
    to: &Email,
    browser: &str,
    when: &str,
    address: Option<&str>,
) -> OutgoingMail {
    let from = address.map(|a| format!(" from {a}")).unwrap_or_default();
    OutgoingMail {
        to: to.clone(),
        subject: "New sign-in to your Gatehouse account".into(),
        body: format!(
            "Your Gatehouse account was just signed in to with {browser}{from}, on {when}.\n\n\
             If this was you, there is nothing to do. If not, change your password at once and\n\
             sign out your other sessions from your account page.\n"
        ),
    }
}

pub fn lockout_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Your account was locked after too many failed sign-ins".into(),
        body: "There were too many failed attempts to sign in to your Gatehouse account, so it\n\
               is locked. An administrator can unlock it.\n\n\
               If these attempts were not yours, someone may be guessing your password.\n"
            .into(),
    }
}

/// A helpdesk recovery started (issue 12, part 3; S52, S59): the owner is told at once and
/// can stop it with the link before the wait is over.
pub fn recovery_started_notice(to: &Email, cancel_link: &str, wait_hours: i64) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Someone asked to recover your Gatehouse account".into(),
        body: format!(
            "An administrator started a recovery of your Gatehouse account, for someone who\n\
             says they lost their second factor and their backup code. In {wait_hours} hours they\n\
             can remove your authenticator app and phone and set new ones.\n\n\
             If this was not you, or you did not ask for it, stop it now:\n\n    {cancel_link}\n\n\
             The page that link opens has a button \"Cancel this recovery\". If it was you, there is\n\
             nothing to do.\n"
        ),
    }
}

/// The recovery was stopped, by the owner's link or by the operator.
pub fn recovery_cancelled_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "The recovery of your Gatehouse account was cancelled".into(),
        body:
            "The recovery of your Gatehouse account was cancelled. Nothing about how you sign in\n\
               has changed.\n"
                .into(),
    }
}

/// The single-use recovery link, when the operator has it mailed.
pub fn recovery_link(to: &Email, link: &str, valid_hours: i64) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Recover your Gatehouse account".into(),
        body: format!(
            "The waiting period of the recovery of your Gatehouse account is over. To remove your\n\
             old authenticator app and phone and get a new backup code, open this link within\n\
             {valid_hours} hours:\n\n    {link}\n\n\
             The link works once. If you did not ask for a recovery, do not open it: contact your\n\
             administrator at once.\n"
        ),
    }
}

/// The operator took a recovery link to hand it over in person: the owner still hears of it.
pub fn recovery_link_issued_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "A recovery link for your Gatehouse account was issued".into(),
        body: "An administrator issued a link that recovers your Gatehouse account: whoever opens\n\
               it can remove your authenticator app and phone and set new ones.\n\n\
               If this was not for you, open the cancel link in our earlier message \"Someone asked\n\
               to recover your Gatehouse account\", or contact your administrator at once.\n"
            .into(),
    }
}

/// The recovery link was used.
pub fn recovery_completed_notice(to: &Email) -> OutgoingMail {
    OutgoingMail {
        to: to.clone(),
        subject: "Your Gatehouse account was recovered".into(),
        body: "Your Gatehouse account was recovered with a link from your administrator: your\n\
               authenticator app, phone and backup codes were removed, all sessions were signed out\n\
               and trusted devices will be asked for a code again. The next sign-in e-mails a code\n\
               and shows a new backup code.\n\n\
               If this was not you, contact your administrator at once.\n"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_mail_carries_the_six_digits_in_plain_text() {
        let to = Email::parse("ann@example.com").unwrap();
        let code = OtpCode::parse("012345").unwrap();
        let link = "https://id.example.com/sign-in/stop?token=abc";
        let mail = sign_in_code(&to, &code, 10, link);
        assert!(mail.body.contains("012345"));
        assert!(mail
            .body
            .contains(&format!("Wasn't you? Stop this sign-in: {link}")));
        assert!(
            !format!("{mail:?}").contains("012345"),
            "Debug must not show the body"
        );
    }

    #[test]
    fn notices_carry_no_digits_that_could_be_a_code() {
        let to = Email::parse("ann@example.com").unwrap();
        for mail in [
            backup_code_used_notice(&to),
            wrong_codes_notice(&to),
            lockout_notice(&to),
            password_changed_notice(&to),
            authenticator_added_notice(&to),
            authenticator_removed_notice(&to),
            password_reset_notice(&to),
            sign_up_taken_notice(&to),
            recovery_cancelled_notice(&to),
            recovery_link_issued_notice(&to),
            recovery_completed_notice(&to),
        ] {
            assert!(
                !mail.body.chars().any(|c| c.is_ascii_digit()),
                "{}",
                mail.subject
            );
        }
    }
}
