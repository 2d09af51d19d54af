//! What the lock-out risk report (issue 12, part 4) and the account page's nudge read about
//! an account, in one query per call: its confirmed backup codes, whether it has a second
//! factor stronger than an e-mailed code, the last outcome of mail to its address and its
//! stale trusted devices. Which of these is a risk is the use case's decision.

use crate::mail_deliveries::MailOutcome;
use crate::{get_account_id, Store, StoreResult};
use gatehouse_core::AccountId;
use sqlx::any::AnyRow;
use sqlx::Row;

/// The second factors stronger than an e-mailed code, one `SELECT account_id` each. A new
/// kind (passkeys) joins by adding its query here: `email_codes_only` then counts it.
const STRONG_SECOND_FACTORS: &[&str] = &[
    "SELECT account_id FROM totp_credentials WHERE confirmed_at IS NOT NULL",
    "SELECT account_id FROM phones WHERE verified_at IS NOT NULL",
    "SELECT account_id FROM passkeys",
];

/// The facts about one enabled account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskFacts {
    pub account_id: AccountId,
    pub email: String,
    pub active_backup_codes: u32,
    /// An authenticator app, a verified phone or a passkey.
    pub has_strong_second_factor: bool,
    pub last_mail: Option<MailOutcome>,
    /// Live trusted devices not used since the `stale_before` asked for.
    pub stale_trusted_devices: u32,
}

fn from_row(row: &AnyRow) -> Result<RiskFacts, sqlx::Error> {
    let outcome: Option<String> = row.try_get("last_outcome")?;
    Ok(RiskFacts {
        account_id: get_account_id(row, "id")?,
        email: row.try_get("email")?,
        active_backup_codes: crate::to_u32(row.try_get("active_backup_codes")?),
        has_strong_second_factor: row.try_get::<i64, _>("strong_factors")? > 0,
        last_mail: outcome
            .as_deref()
            .map(|text| crate::parse_stored(text, "mail outcome", MailOutcome::from_stored))
            .transpose()?,
        stale_trusted_devices: crate::to_u32(row.try_get("stale_devices")?),
    })
}

/// `$1`: now, `$2`: stale before, `$3`: one account id or NULL for all.
fn query() -> String {
    let strong = STRONG_SECOND_FACTORS.join(" UNION ALL ");
    format!(
        "SELECT a.id, a.email,
            (SELECT COUNT(*) FROM backup_codes b
              WHERE b.account_id = a.id AND b.status = 'active') AS active_backup_codes,
            (SELECT COUNT(*) FROM ({strong}) s WHERE s.account_id = a.id) AS strong_factors,
            m.last_outcome,
            (SELECT COUNT(*) FROM trusted_devices t
              WHERE t.account_id = a.id AND t.revoked_at IS NULL AND t.expires_at > $1
                AND COALESCE(t.last_used_at, t.created_at) < $2) AS stale_devices
         FROM accounts a LEFT JOIN mail_deliveries m ON m.address = a.email
         WHERE a.disabled_at IS NULL AND ($3 IS NULL OR a.id = $3)
         ORDER BY a.email"
    )
}

impl Store {
    /// Every enabled account's facts, by address.
    pub async fn list_risk_facts(
        &self,
        now: i64,
        stale_before: i64,
    ) -> StoreResult<Vec<RiskFacts>> {
        let rows = sqlx::query(&query())
            .bind(now)
            .bind(stale_before)
            .bind(None::<String>)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// One account's facts; `None` when it is unknown or disabled.
    pub async fn find_risk_facts(
        &self,
        account_id: &AccountId,
        now: i64,
        stale_before: i64,
    ) -> StoreResult<Option<RiskFacts>> {
        let row = sqlx::query(&query())
            .bind(now)
            .bind(stale_before)
            .bind(Some(account_id.as_str()))
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }
}
