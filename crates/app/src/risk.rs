//! The lock-out risk report (issue 12, part 4): which enabled accounts could be locked out,
//! or are already, and why. `gatehouse report risk` lists them for the operator; the account
//! page shows the person their own (`Gatehouse::account_risks`), so they can fix it first.
//!
//! The facts come from `store::risks` in one query per account or for all; this module
//! only decides which facts are risks. It changes nothing.

use crate::{AppError, Gatehouse};
use gatehouse_core::AccountId;
use gatehouse_store::{MailOutcome, RiskFacts};

/// A trusted device unused for this long is stale: a browser the person may have forgotten,
/// which still skips the code (S26, S29).
pub const STALE_TRUSTED_DEVICE_SECS: i64 = 14 * 24 * 60 * 60;

/// One reason an account is at risk. The names are what the report prints; they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// No confirmed backup code: losing the second factor locks the person out.
    NoBackupCode,
    /// No authenticator app, phone or passkey: an e-mailed code proves less (S12), and losing
    /// the mailbox loses the account.
    EmailCodesOnly,
    /// The last mail to the address was refused for good: codes and notices do not arrive.
    MailBouncing,
    /// Too many failed guesses (S47): only an operator can open it again.
    Locked,
    /// A trusted device unused for `STALE_TRUSTED_DEVICE_SECS` still skips the code.
    TrustedDevicesStale,
}

impl Risk {
    /// Every risk, in the order the report and its summary name them.
    pub const ALL: [Self; 5] = [
        Self::NoBackupCode,
        Self::EmailCodesOnly,
        Self::MailBouncing,
        Self::Locked,
        Self::TrustedDevicesStale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoBackupCode => "no_backup_code",
            Self::EmailCodesOnly => "email_codes_only",
            Self::MailBouncing => "mail_bouncing",
            Self::Locked => "locked",
            Self::TrustedDevicesStale => "trusted_devices_stale",
        }
    }
}

/// One line of the report: an account with at least one risk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccountAtRisk {
    pub email: String,
    pub risks: Vec<Risk>,
}

/// The whole report: the accounts at risk, and how many enabled accounts were looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskReport {
    pub accounts: Vec<AccountAtRisk>,
    pub checked: usize,
}

impl RiskReport {
    /// How many accounts at risk have `risk`.
    pub fn count(&self, risk: Risk) -> usize {
        self.accounts
            .iter()
            .filter(|a| a.risks.contains(&risk))
            .count()
    }
}

/// The risks the facts show, in `Risk::ALL` order.
fn assess(facts: &RiskFacts, locked: bool) -> Vec<Risk> {
    Risk::ALL
        .into_iter()
        .filter(|risk| match risk {
            Risk::NoBackupCode => facts.active_backup_codes == 0,
            Risk::EmailCodesOnly => !facts.has_strong_second_factor,
            Risk::MailBouncing => facts.last_mail == Some(MailOutcome::Bounced),
            Risk::Locked => locked,
            Risk::TrustedDevicesStale => facts.stale_trusted_devices > 0,
        })
        .collect()
}

impl Gatehouse {
    /// `gatehouse report risk`: every enabled account with at least one risk, by address.
    pub async fn risk_report(&self) -> Result<RiskReport, AppError> {
        let now = self.now();
        let all = self
            .inner
            .store
            .list_risk_facts(now, now - STALE_TRUSTED_DEVICE_SECS)
            .await?;
        let mut accounts = Vec::new();
        for facts in &all {
            let locked = self.is_locked(&facts.account_id, &facts.email).await?;
            let risks = assess(facts, locked);
            if !risks.is_empty() {
                accounts.push(AccountAtRisk {
                    email: facts.email.clone(),
                    risks,
                });
            }
        }
        Ok(RiskReport {
            accounts,
            checked: all.len(),
        })
    }

    /// One account's risks, for its own account page; none for an unknown or disabled one.
    pub async fn account_risks(&self, account_id: &AccountId) -> Result<Vec<Risk>, AppError> {
        let now = self.now();
        let Some(facts) = self
            .inner
            .store
            .find_risk_facts(account_id, now, now - STALE_TRUSTED_DEVICE_SECS)
            .await?
        else {
            return Ok(Vec::new());
        };
        let locked = self.is_locked(account_id, &facts.email).await?;
        Ok(assess(&facts, locked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> RiskFacts {
        RiskFacts {
            account_id: AccountId::generate(1_800_000_000),
            email: "ann@example.com".into(),
            active_backup_codes: 1,
            has_strong_second_factor: true,
            last_mail: Some(MailOutcome::Sent),
            stale_trusted_devices: 0,
        }
    }

    #[test]
    fn an_account_with_a_backup_code_an_app_and_working_mail_is_not_at_risk() {
        assert_eq!(assess(&facts(), false), Vec::<Risk>::new());
        let never_mailed = RiskFacts {
            last_mail: None,
            ..facts()
        };
        assert_eq!(assess(&never_mailed, false), Vec::<Risk>::new());
    }

    #[test]
    fn each_fact_names_its_risk_and_only_a_bounce_counts_as_bouncing() {
        let all_wrong = RiskFacts {
            active_backup_codes: 0,
            has_strong_second_factor: false,
            last_mail: Some(MailOutcome::Bounced),
            stale_trusted_devices: 2,
            ..facts()
        };
        assert_eq!(assess(&all_wrong, true), Risk::ALL.to_vec());
        let failed_for_now = RiskFacts {
            last_mail: Some(MailOutcome::Failed),
            ..facts()
        };
        assert_eq!(assess(&failed_for_now, false), Vec::<Risk>::new());
    }

    #[test]
    fn risks_print_under_their_report_names() {
        for risk in Risk::ALL {
            assert_eq!(
                serde_json::to_value(risk).unwrap(),
                serde_json::Value::from(risk.as_str())
            );
        }
    }
}
