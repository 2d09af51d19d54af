//! The outcome of the last mail to each address (issue 12, part 4): what `gatehouse report
//! risk` reads to name an address whose mail bounces. Only the latest outcome is kept, one
//! row per address, and housekeeping forgets addresses not written to for a long time (S57).

use crate::{Store, StoreResult};

/// How the last mail to an address ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailOutcome {
    Sent,
    /// A failure that may pass (the server could not be reached, a 4xx answer).
    Failed,
    /// The mail server refused it permanently (a 5xx answer): the address does not work.
    Bounced,
}

impl MailOutcome {
    pub(crate) fn stored(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Bounced => "bounced",
        }
    }

    pub(crate) fn from_stored(text: &str) -> Option<Self> {
        [Self::Sent, Self::Failed, Self::Bounced]
            .into_iter()
            .find(|outcome| outcome.stored() == text)
    }
}

impl Store {
    pub async fn record_mail_outcome(
        &self,
        address: &str,
        outcome: MailOutcome,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mail_deliveries (address, last_attempt_at, last_outcome) VALUES ($1, $2, $3)
             ON CONFLICT (address) DO UPDATE
             SET last_attempt_at = excluded.last_attempt_at, last_outcome = excluded.last_outcome",
        )
        .bind(address)
        .bind(now)
        .bind(outcome.stored())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn find_mail_outcome(&self, address: &str) -> StoreResult<Option<MailOutcome>> {
        let stored: Option<String> =
            sqlx::query_scalar("SELECT last_outcome FROM mail_deliveries WHERE address = $1")
                .bind(address)
                .fetch_optional(self.pool())
                .await?;
        Ok(stored
            .as_deref()
            .map(|text| crate::parse_stored(text, "mail outcome", MailOutcome::from_stored))
            .transpose()?)
    }

    /// Housekeeping: addresses not written to since `before` are forgotten.
    pub async fn delete_mail_outcomes_before(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM mail_deliveries WHERE last_attempt_at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
