//! Every mail leaves through `Gatehouse::send_mail`, which also remembers how the last mail
//! to each address ended, so `gatehouse report risk` can name an address that bounces
//! (issue 12, part 4). Only what the SMTP conversation tells is known: a 5xx answer is a
//! bounce; a bounce message that arrives later, from a relay, is not seen.

use crate::Gatehouse;
use gatehouse_delivery::{DeliveryError, OutgoingMail};
use gatehouse_store::MailOutcome;

impl Gatehouse {
    /// Sends `mail` and records the outcome for its address. Recording never stops the
    /// mail's use case: a failure to write it is logged.
    pub(crate) async fn send_mail(&self, mail: &OutgoingMail) -> Result<(), DeliveryError> {
        let sent = self.inner.mailer.send(mail).await;
        let outcome = match &sent {
            Ok(()) => MailOutcome::Sent,
            Err(error) if error.is_permanent() => MailOutcome::Bounced,
            Err(_) => MailOutcome::Failed,
        };
        if let Err(error) = self
            .inner
            .store
            .record_mail_outcome(mail.to.as_str(), outcome, self.now())
            .await
        {
            crate::metrics::database_error();
            tracing::error!(%error, "could not record how a mail ended");
        }
        sent
    }
}
