//! The sign-in as an explicit state machine (DESIGN.md §1).
//!
//! ```text
//!  Password ──PasswordAccepted──▶ SecondStep ──CodeAccepted / BackupCodeAccepted──┐
//!     │        (trusted device) ─────────────────────────────────────────────────┤
//!     │                                                                           ▼
//!     │                                       has an active backup code? ── no ─▶ SaveBackupCode
//!     │                                                 │ yes                        │ BackupCodeSaved
//!     │                                                 ▼                            ▼
//!     │                                              SignedIn ◀──────────────────────┘
//!  SecondStep ──SecondStepRejected × 5──▶ Ended
//!  Password ──PasskeyAccepted (user verified)──▶ (backup code check as above) ──▶ SignedIn
//! ```
//!
//! The `app` crate performs the checks (the password hash, the code, the backup code, the
//! trust token) and feeds their outcomes in as events; this machine decides what they
//! allow. It is the only place that can produce `SignedIn`, and it does so only after a
//! password and a second step (S24, S27, S31), or a passkey whose authenticator verified
//! the person (S58: possession and a PIN or biometric, two factors in one), with a new
//! backup code saved when the account had none (S22). A stored flow is re-validated here at every step, so a stale or
//! forged state cannot skip one [Kratos GHSA-wc43-73w7-x2f5].

use crate::ids::AccountId;
use crate::UnixTime;

/// S31: the sign-in handle opens nothing else and lives 10 minutes.
pub const FLOW_LIFETIME_SECS: i64 = 10 * 60;
/// S7: an e-mailed code is valid for 10 minutes.
pub const CODE_LIFETIME_SECS: i64 = 10 * 60;
/// S10: five wrong codes end the sign-in.
pub const MAX_SECOND_STEP_ATTEMPTS: u32 = 5;
/// S9: a new code at most every 30 seconds, and at most five per sign-in.
pub const RESEND_COOLDOWN_SECS: i64 = 30;
pub const MAX_CODES_PER_FLOW: u32 = 5;

/// What satisfied the second step. It is recorded with the session and in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    TrustedDevice,
    EmailCode,
    Totp,
    Sms,
    BackupCode,
    /// A passkey with user verification, alone (S58): no password, no code.
    Passkey,
}

/// How the second step is asked for, decided afresh at every password step from the
/// account's current credentials (S27): an authenticator app when one is enrolled, else a
/// texted code when a verified phone is, else an e-mailed code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondStepMethod {
    EmailCode,
    Totp,
    Sms,
}

impl SecondStepMethod {
    pub fn as_str(self) -> &'static str {
        self.proof().as_str()
    }

    pub fn parse(text: &str) -> Option<Self> {
        match Proof::parse(text)? {
            Proof::EmailCode => Some(Self::EmailCode),
            Proof::Totp => Some(Self::Totp),
            Proof::Sms => Some(Self::Sms),
            Proof::TrustedDevice | Proof::BackupCode | Proof::Passkey => None,
        }
    }

    /// What a correct code of this method proves.
    pub fn proof(self) -> Proof {
        match self {
            Self::EmailCode => Proof::EmailCode,
            Self::Totp => Proof::Totp,
            Self::Sms => Proof::Sms,
        }
    }
}

impl Proof {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TrustedDevice => "trusted_device",
            Self::EmailCode => "email_code",
            Self::Totp => "totp",
            Self::Sms => "sms",
            Self::BackupCode => "backup_code",
            Self::Passkey => "passkey",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "trusted_device" => Some(Self::TrustedDevice),
            "email_code" => Some(Self::EmailCode),
            "totp" => Some(Self::Totp),
            "sms" => Some(Self::Sms),
            "backup_code" => Some(Self::BackupCode),
            "passkey" => Some(Self::Passkey),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    TooManyAttempts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStep {
    /// The e-mail address was given; the password is awaited.
    Password,
    /// The password was right; a code or a backup code is awaited.
    SecondStep,
    /// Both steps passed and a new backup code is shown; it must be confirmed as saved.
    SaveBackupCode {
        proof: Proof,
    },
    SignedIn {
        proof: Proof,
    },
    Ended {
        reason: EndReason,
    },
}

impl FlowStep {
    /// The step's name as stored; the proof is stored in its own column.
    pub fn name(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::SecondStep => "second_step",
            Self::SaveBackupCode { .. } => "save_backup_code",
            Self::SignedIn { .. } => "signed_in",
            Self::Ended { .. } => "ended",
        }
    }

    pub fn proof(self) -> Option<Proof> {
        match self {
            Self::SaveBackupCode { proof } | Self::SignedIn { proof } => Some(proof),
            Self::Password | Self::SecondStep | Self::Ended { .. } => None,
        }
    }

    /// Rebuilds a step from its stored columns; an inconsistent pair is refused.
    pub fn from_stored(name: &str, proof: Option<&str>) -> Option<Self> {
        let proof = proof.and_then(Proof::parse);
        match (name, proof) {
            ("password", None) => Some(Self::Password),
            ("second_step", None) => Some(Self::SecondStep),
            ("save_backup_code", Some(proof)) => Some(Self::SaveBackupCode { proof }),
            ("signed_in", Some(proof)) => Some(Self::SignedIn { proof }),
            ("ended", None) => Some(Self::Ended {
                reason: EndReason::TooManyAttempts,
            }),
            _ => None,
        }
    }
}

/// What the `app` crate learned and reports to the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowEvent {
    /// The password matched this account. `trusted_device` is true only when the browser
    /// presented a valid trust token for this same account, checked just now (S27).
    PasswordAccepted {
        account: AccountId,
        trusted_device: bool,
        has_backup_code: bool,
        method: SecondStepMethod,
    },
    /// A code or backup-code guess is about to be evaluated: it is counted before it is
    /// checked, so parallel guesses cannot overspend the budget (S10, S48).
    AttemptReserved,
    CodeAccepted {
        has_backup_code: bool,
    },
    /// `has_backup_code` is what remains after the presented code was consumed.
    BackupCodeAccepted {
        has_backup_code: bool,
    },
    SecondStepRejected,
    BackupCodeSaved,
    /// "Try another way": the person picked another method the account has (checked by the
    /// caller). Guesses already counted stay counted.
    MethodChanged {
        method: SecondStepMethod,
    },
    /// A passkey assertion of this account verified (signature, challenge of this ceremony,
    /// origin, counter), in place of the password (S58). `user_verified` is the flag the
    /// authenticator signed: only a verified person may sign in with a passkey alone.
    PasskeyAccepted {
        account: AccountId,
        user_verified: bool,
        has_backup_code: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("the sign-in expired")]
    Expired,
    #[error("the sign-in ended after too many wrong codes")]
    Ended,
    #[error("too many wrong codes")]
    TooManyAttempts,
    #[error("this step is not expected now")]
    WrongStep,
    /// S58: a passkey without user verification proves possession only, one factor.
    #[error("the passkey did not verify the person")]
    UserNotVerified,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInFlow {
    pub step: FlowStep,
    pub account: Option<AccountId>,
    /// Second-step guesses counted so far in this sign-in.
    pub attempts: u32,
    /// How the second step is asked for; set when the password is accepted.
    pub method: Option<SecondStepMethod>,
    pub expires_at: UnixTime,
}

impl SignInFlow {
    /// The e-mail step: a flow that awaits the password.
    pub fn start(now: UnixTime) -> Self {
        Self {
            step: FlowStep::Password,
            account: None,
            attempts: 0,
            method: None,
            expires_at: now + FLOW_LIFETIME_SECS,
        }
    }

    #[cfg(test)]
    fn is_signed_in(&self) -> bool {
        matches!(self.step, FlowStep::SignedIn { .. })
    }

    /// Checks that the flow is still alive at `now`.
    pub fn ensure_live(&self, now: UnixTime) -> Result<(), FlowError> {
        if matches!(self.step, FlowStep::Ended { .. }) {
            return Err(FlowError::Ended);
        }
        if now >= self.expires_at {
            return Err(FlowError::Expired);
        }
        Ok(())
    }

    /// The transition function. It never mutates in place: a refused event leaves the
    /// caller's flow exactly as it was.
    pub fn apply(&self, event: FlowEvent, now: UnixTime) -> Result<Self, FlowError> {
        self.ensure_live(now)?;
        let mut next = self.clone();
        match (self.step, event) {
            (
                FlowStep::Password,
                FlowEvent::PasswordAccepted {
                    account,
                    trusted_device,
                    has_backup_code,
                    method,
                },
            ) => {
                next.account = Some(account);
                next.method = Some(method);
                next.attempts = 0;
                // S31: the handle after the password lives 10 minutes from this moment.
                next.expires_at = now + FLOW_LIFETIME_SECS;
                next.step = if trusted_device {
                    after_second_step(Proof::TrustedDevice, has_backup_code)
                } else {
                    FlowStep::SecondStep
                };
            }
            (FlowStep::SecondStep, FlowEvent::AttemptReserved) => {
                if self.attempts >= MAX_SECOND_STEP_ATTEMPTS {
                    return Err(FlowError::TooManyAttempts);
                }
                next.attempts += 1;
            }
            (FlowStep::SecondStep, FlowEvent::CodeAccepted { has_backup_code }) => {
                require_reserved_attempt(self)?;
                let method = self.method.ok_or(FlowError::WrongStep)?;
                next.step = after_second_step(method.proof(), has_backup_code);
            }
            (FlowStep::SecondStep, FlowEvent::BackupCodeAccepted { has_backup_code }) => {
                require_reserved_attempt(self)?;
                next.step = after_second_step(Proof::BackupCode, has_backup_code);
            }
            (FlowStep::SecondStep, FlowEvent::SecondStepRejected) => {
                require_reserved_attempt(self)?;
                if self.attempts >= MAX_SECOND_STEP_ATTEMPTS {
                    next.step = FlowStep::Ended {
                        reason: EndReason::TooManyAttempts,
                    };
                }
            }
            (FlowStep::SecondStep, FlowEvent::MethodChanged { method }) => {
                next.method = Some(method);
            }
            (
                FlowStep::Password,
                FlowEvent::PasskeyAccepted {
                    account,
                    user_verified,
                    has_backup_code,
                },
            ) => {
                // S58: possession alone is one factor; it never stands in for two.
                if !user_verified {
                    return Err(FlowError::UserNotVerified);
                }
                // On the password page the flow already names the address; a passkey of
                // another account must not finish it.
                if self.account.as_ref().is_some_and(|known| *known != account) {
                    return Err(FlowError::WrongStep);
                }
                next.account = Some(account);
                next.attempts = 0;
                next.expires_at = now + FLOW_LIFETIME_SECS;
                next.step = after_second_step(Proof::Passkey, has_backup_code);
            }
            (FlowStep::SaveBackupCode { proof }, FlowEvent::BackupCodeSaved) => {
                next.step = FlowStep::SignedIn { proof };
            }
            _ => return Err(FlowError::WrongStep),
        }
        Ok(next)
    }
}

/// Every evaluated guess must have been counted first.
fn require_reserved_attempt(flow: &SignInFlow) -> Result<(), FlowError> {
    if flow.attempts == 0 {
        Err(FlowError::WrongStep)
    } else {
        Ok(())
    }
}

/// S22: with no active backup code left, a new one must be shown and saved before the
/// session starts.
fn after_second_step(proof: Proof, has_backup_code: bool) -> FlowStep {
    if has_backup_code {
        FlowStep::SignedIn { proof }
    } else {
        FlowStep::SaveBackupCode { proof }
    }
}

/// S9: whether another code may be sent now in this sign-in.
pub fn may_send_code(
    codes_sent: u32,
    last_sent_at: Option<UnixTime>,
    now: UnixTime,
) -> Result<(), ResendRefused> {
    if codes_sent >= MAX_CODES_PER_FLOW {
        return Err(ResendRefused::TooMany);
    }
    match last_sent_at {
        Some(at) if now - at < RESEND_COOLDOWN_SECS => Err(ResendRefused::TooSoon {
            retry_after_secs: RESEND_COOLDOWN_SECS - (now - at),
        }),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResendRefused {
    #[error("wait {retry_after_secs} seconds before asking for another code")]
    TooSoon { retry_after_secs: i64 },
    #[error("too many codes were sent for this sign-in")]
    TooMany,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: UnixTime = 1_800_000_000;

    fn account() -> AccountId {
        AccountId::parse("0190a0b0-0000-7000-8000-000000000001").unwrap()
    }

    fn other_account() -> AccountId {
        AccountId::parse("0190a0b0-0000-7000-8000-000000000002").unwrap()
    }

    fn password_accepted(trusted_device: bool, has_backup_code: bool) -> FlowEvent {
        FlowEvent::PasswordAccepted {
            account: account(),
            trusted_device,
            has_backup_code,
            method: SecondStepMethod::EmailCode,
        }
    }

    #[test]
    fn password_then_code_then_saved_backup_code_signs_in() {
        let flow = SignInFlow::start(NOW);
        let flow = flow.apply(password_accepted(false, false), NOW).unwrap();
        assert_eq!(flow.step, FlowStep::SecondStep);
        let flow = flow.apply(FlowEvent::AttemptReserved, NOW).unwrap();
        let flow = flow
            .apply(
                FlowEvent::CodeAccepted {
                    has_backup_code: false,
                },
                NOW,
            )
            .unwrap();
        assert_eq!(
            flow.step,
            FlowStep::SaveBackupCode {
                proof: Proof::EmailCode
            }
        );
        let flow = flow.apply(FlowEvent::BackupCodeSaved, NOW).unwrap();
        assert_eq!(
            flow.step,
            FlowStep::SignedIn {
                proof: Proof::EmailCode
            }
        );
    }

    #[test]
    fn an_authenticator_code_is_recorded_as_such() {
        let accepted = FlowEvent::PasswordAccepted {
            account: account(),
            trusted_device: false,
            has_backup_code: true,
            method: SecondStepMethod::Totp,
        };
        let flow = SignInFlow::start(NOW).apply(accepted, NOW).unwrap();
        let flow = flow.apply(FlowEvent::AttemptReserved, NOW).unwrap();
        let flow = flow
            .apply(
                FlowEvent::CodeAccepted {
                    has_backup_code: true,
                },
                NOW,
            )
            .unwrap();
        assert_eq!(flow.step, FlowStep::SignedIn { proof: Proof::Totp });
    }

    #[test]
    fn a_trusted_device_skips_only_the_code() {
        let flow = SignInFlow::start(NOW);
        // Without the password, trust is worth nothing.
        assert_eq!(
            flow.apply(
                FlowEvent::CodeAccepted {
                    has_backup_code: true
                },
                NOW
            ),
            Err(FlowError::WrongStep)
        );
        let flow = flow.apply(password_accepted(true, true), NOW).unwrap();
        assert_eq!(
            flow.step,
            FlowStep::SignedIn {
                proof: Proof::TrustedDevice
            }
        );
    }

    #[test]
    fn wrong_code_five_times_ends_the_sign_in() {
        let mut flow = SignInFlow::start(NOW)
            .apply(password_accepted(false, true), NOW)
            .unwrap();
        for _ in 0..5 {
            flow = flow.apply(FlowEvent::AttemptReserved, NOW).unwrap();
            flow = flow.apply(FlowEvent::SecondStepRejected, NOW).unwrap();
        }
        assert_eq!(
            flow.step,
            FlowStep::Ended {
                reason: EndReason::TooManyAttempts
            }
        );
        assert_eq!(
            flow.apply(FlowEvent::AttemptReserved, NOW),
            Err(FlowError::Ended)
        );
    }

    #[test]
    fn the_handle_expires_ten_minutes_after_the_password() {
        let flow = SignInFlow::start(NOW)
            .apply(password_accepted(false, true), NOW + 60)
            .unwrap();
        assert_eq!(flow.expires_at, NOW + 60 + FLOW_LIFETIME_SECS);
        let late = NOW + 60 + FLOW_LIFETIME_SECS;
        assert_eq!(
            flow.apply(FlowEvent::AttemptReserved, late),
            Err(FlowError::Expired)
        );
    }

    #[test]
    fn stored_steps_round_trip_and_inconsistent_ones_are_refused() {
        for step in [
            FlowStep::Password,
            FlowStep::SecondStep,
            FlowStep::SaveBackupCode {
                proof: Proof::BackupCode,
            },
            FlowStep::SignedIn {
                proof: Proof::TrustedDevice,
            },
            FlowStep::SignedIn {
                proof: Proof::Passkey,
            },
            FlowStep::Ended {
                reason: EndReason::TooManyAttempts,
            },
        ] {
            assert_eq!(
                FlowStep::from_stored(step.name(), step.proof().map(Proof::as_str)),
                Some(step)
            );
        }
        assert_eq!(FlowStep::from_stored("signed_in", None), None);
        assert_eq!(
            FlowStep::from_stored("second_step", Some("email_code")),
            None
        );
    }

    #[test]
    fn resends_wait_for_the_cooldown_and_stop_at_five() {
        assert_eq!(may_send_code(0, None, NOW), Ok(()));
        assert_eq!(
            may_send_code(1, Some(NOW - 10), NOW),
            Err(ResendRefused::TooSoon {
                retry_after_secs: 20
            })
        );
        assert_eq!(may_send_code(1, Some(NOW - 30), NOW), Ok(()));
        assert_eq!(
            may_send_code(5, Some(NOW - 3600), NOW),
            Err(ResendRefused::TooMany)
        );
    }

    fn passkey(user_verified: bool, has_backup_code: bool) -> FlowEvent {
        FlowEvent::PasskeyAccepted {
            account: account(),
            user_verified,
            has_backup_code,
        }
    }

    #[test]
    fn a_verified_passkey_signs_in_alone() {
        let flow = SignInFlow::start(NOW)
            .apply(passkey(true, true), NOW)
            .unwrap();
        assert_eq!(
            flow.step,
            FlowStep::SignedIn {
                proof: Proof::Passkey
            }
        );
        assert_eq!(flow.account, Some(account()));
    }

    #[test]
    fn a_passkey_without_user_verification_signs_nobody_in() {
        let flow = SignInFlow::start(NOW);
        assert_eq!(
            flow.apply(passkey(false, true), NOW),
            Err(FlowError::UserNotVerified)
        );
    }

    #[test]
    fn a_passkey_still_needs_the_backup_code_saved_when_there_is_none() {
        let flow = SignInFlow::start(NOW)
            .apply(passkey(true, false), NOW)
            .unwrap();
        assert_eq!(
            flow.step,
            FlowStep::SaveBackupCode {
                proof: Proof::Passkey
            }
        );
        let flow = flow.apply(FlowEvent::BackupCodeSaved, NOW).unwrap();
        assert_eq!(
            flow.step,
            FlowStep::SignedIn {
                proof: Proof::Passkey
            }
        );
    }

    #[test]
    fn a_passkey_of_another_account_does_not_finish_a_sign_in_for_this_one() {
        let flow = SignInFlow {
            account: Some(other_account()),
            ..SignInFlow::start(NOW)
        };
        assert_eq!(
            flow.apply(passkey(true, true), NOW),
            Err(FlowError::WrongStep)
        );
    }

    #[test]
    fn a_passkey_is_no_second_step_after_the_password() {
        let flow = SignInFlow::start(NOW)
            .apply(password_accepted(false, true), NOW)
            .unwrap();
        assert_eq!(
            flow.apply(passkey(true, true), NOW),
            Err(FlowError::WrongStep)
        );
    }

    fn any_event() -> impl Strategy<Value = FlowEvent> {
        prop_oneof![
            (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(t, b, app)| {
                FlowEvent::PasswordAccepted {
                    account: account(),
                    trusted_device: t,
                    has_backup_code: b,
                    method: if app {
                        SecondStepMethod::Totp
                    } else {
                        SecondStepMethod::EmailCode
                    },
                }
            }),
            Just(FlowEvent::AttemptReserved),
            any::<bool>().prop_map(|b| FlowEvent::CodeAccepted { has_backup_code: b }),
            any::<bool>().prop_map(|b| FlowEvent::BackupCodeAccepted { has_backup_code: b }),
            Just(FlowEvent::SecondStepRejected),
            Just(FlowEvent::BackupCodeSaved),
            Just(FlowEvent::MethodChanged {
                method: SecondStepMethod::Sms
            }),
            (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(uv, b, other)| {
                FlowEvent::PasskeyAccepted {
                    account: if other { other_account() } else { account() },
                    user_verified: uv,
                    has_backup_code: b,
                }
            }),
        ]
    }

    proptest! {
        /// No sequence of requests reaches "signed in" without the password and a second
        /// step (a valid trust token, a correct code or a backup code) or a passkey that
        /// verified the person (S58), and without a new backup code saved when the account
        /// had none.
        #[test]
        fn signed_in_needs_password_and_second_step(
            events in proptest::collection::vec((any_event(), 0i64..120), 0..40)
        ) {
            let mut flow = SignInFlow::start(NOW);
            let mut now = NOW;
            let mut password = false;
            let mut second_step = false;
            let mut verified_passkey = false;
            let mut needs_save = false;
            let mut saved = false;
            for (event, gap) in events {
                now += gap;
                let Ok(next) = flow.apply(event.clone(), now) else { continue };
                match event {
                    FlowEvent::PasswordAccepted { trusted_device, has_backup_code, .. } => {
                        password = true;
                        second_step = trusted_device;
                        needs_save = trusted_device && !has_backup_code;
                    }
                    FlowEvent::CodeAccepted { has_backup_code }
                    | FlowEvent::BackupCodeAccepted { has_backup_code } => {
                        second_step = true;
                        needs_save = !has_backup_code;
                    }
                    FlowEvent::BackupCodeSaved => saved = true,
                    FlowEvent::PasskeyAccepted { user_verified, has_backup_code, .. } => {
                        prop_assert!(user_verified, "a passkey without user verification was accepted");
                        verified_passkey = true;
                        needs_save = !has_backup_code;
                    }
                    FlowEvent::AttemptReserved
                    | FlowEvent::SecondStepRejected
                    | FlowEvent::MethodChanged { .. } => {}
                }
                flow = next;
                if flow.is_signed_in() {
                    prop_assert!(
                        (password && second_step) || verified_passkey,
                        "signed in without the password and a second step, or a verified passkey"
                    );
                    prop_assert_eq!(
                        verified_passkey,
                        flow.step.proof() == Some(Proof::Passkey),
                        "the proof must say how the person signed in"
                    );
                    prop_assert!(!needs_save || saved, "signed in before saving the new backup code");
                }
                // Guesses are counted before they are checked: never more than five.
                prop_assert!(flow.attempts <= MAX_SECOND_STEP_ATTEMPTS);
            }
        }

        /// Nothing leaves an ended or expired sign-in.
        #[test]
        fn ended_and_expired_flows_accept_nothing(event in any_event(), late in 0i64..100_000) {
            let ended = SignInFlow { step: FlowStep::Ended { reason: EndReason::TooManyAttempts }, account: Some(account()), attempts: 5, method: Some(SecondStepMethod::EmailCode), expires_at: NOW + 600 };
            prop_assert_eq!(ended.apply(event.clone(), NOW), Err(FlowError::Ended));
            let flow = SignInFlow::start(NOW);
            prop_assert_eq!(flow.apply(event, flow.expires_at + late), Err(FlowError::Expired));
        }
    }
}
