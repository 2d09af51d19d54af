//! Sending: SMTP through lettre when `GATEHOUSE_SMTP_URL` is set, else the outbox folder.

use crate::templates::OutgoingMail;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("invalid mail setting: {0}")]
    Config(String),
    #[error("the mail server refused or could not be reached: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("could not write to the outbox: {0}")]
    Outbox(#[from] std::io::Error),
    #[error("could not build the message: {0}")]
    Build(#[from] lettre::error::Error),
}

impl DeliveryError {
    /// The mail server refused the message for good (an SMTP 5xx answer, such as an unknown
    /// mailbox): sending it again will not help. What `report risk` calls a bounce.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Smtp(error) => error.is_permanent(),
            Self::Config(_) | Self::Outbox(_) | Self::Build(_) => false,
        }
    }
}

/// Whether outbox mail is also printed on the console: only for `gatehouse demo`, whose
/// visitor has no mailbox. A served instance never prints a body (S11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxMode {
    Quiet,
    PrintToConsole,
}

#[derive(Clone)]
pub enum MailTransport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox { dir: PathBuf, mode: OutboxMode },
}

#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: MailTransport,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.transport {
            MailTransport::Smtp(_) => "smtp",
            MailTransport::Outbox { .. } => "outbox",
        };
        write!(f, "Mailer({kind}, from {})", self.from)
    }
}

/// How long one delivery may take before the sign-in reports it could not send.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// The port lettre gives `smtp://` without `tls=`; kept when `tls=` is added, which would
/// otherwise move the default to 587.
const SMTP_PORT: u16 = 25;

impl Mailer {
    /// `smtp://host:port` upgrades with STARTTLS when the server offers it, and insists on it
    /// when the URL holds credentials; `smtp://…?tls=required` or `?tls=opportunistic` say so
    /// explicitly; `smtps://host:port` uses TLS from the start.
    pub fn smtp(url: &str, from: &str) -> Result<Self, DeliveryError> {
        let url = with_tls_choice(url)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|e| DeliveryError::Config(format!("SMTP URL: {e}")))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self {
            from: parse_from(from)?,
            transport: MailTransport::Smtp(transport),
        })
    }

    pub fn outbox(dir: PathBuf, from: &str, mode: OutboxMode) -> Result<Self, DeliveryError> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            from: parse_from(from)?,
            transport: MailTransport::Outbox { dir, mode },
        })
    }

    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), DeliveryError> {
        let to: Mailbox = mail
            .to
            .as_str()
            .parse()
            .map_err(|e| DeliveryError::Config(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())?;
        match &self.transport {
            MailTransport::Smtp(smtp) => {
                smtp.send(message).await?;
                tracing::info!(to = %mail.to.masked(), subject = %mail.subject, "mail sent over SMTP");
            }
            MailTransport::Outbox { dir, mode } => {
                let path = dir.join(format!("{}.eml", uuid::Uuid::now_v7()));
                tokio::fs::write(&path, message.formatted()).await?;
                tracing::info!(
                    to = %mail.to.masked(), subject = %mail.subject, file = %path.display(),
                    "mail written to the outbox (no SMTP configured)"
                );
                if *mode == OutboxMode::PrintToConsole {
                    println!(
                        "\n--- mail to {} ---\nSubject: {}\n\n{}--- end of mail ---\n",
                        mail.to, mail.subject, mail.body
                    );
                }
            }
        }
        Ok(())
    }
}

/// lettre reads `smtp://` without `tls=` as plain text all the way, so codes, and AUTH
/// credentials when the URL holds them, would cross the network in the clear. Without a
/// `tls=` choice, `smtp://` gets `tls=required` when it carries credentials (a password must
/// never go out unencrypted) and `tls=opportunistic` otherwise. Other URLs pass unchanged.
fn with_tls_choice(url: &str) -> Result<String, DeliveryError> {
    // reqwest's `Url` is the `url` crate's, the parser lettre itself uses.
    let mut parsed =
        reqwest::Url::parse(url).map_err(|e| DeliveryError::Config(format!("SMTP URL: {e}")))?;
    if parsed.scheme() != "smtp" || parsed.query_pairs().any(|(key, _)| key == "tls") {
        return Ok(url.to_string());
    }
    let tls = if parsed.username().is_empty() && parsed.password().is_none() {
        "opportunistic"
    } else {
        "required"
    };
    if parsed.port().is_none() {
        parsed
            .set_port(Some(SMTP_PORT))
            .map_err(|()| DeliveryError::Config("SMTP URL: no host".into()))?;
    }
    parsed.query_pairs_mut().append_pair("tls", tls);
    Ok(parsed.into())
}

fn parse_from(from: &str) -> Result<Mailbox, DeliveryError> {
    from.parse()
        .map_err(|e| DeliveryError::Config(format!("GATEHOUSE_MAIL_FROM {from:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(url: &str) -> String {
        with_tls_choice(url).unwrap()
    }

    #[test]
    fn plain_smtp_with_credentials_insists_on_starttls() {
        assert_eq!(
            rewritten("smtp://user:secret@mail.example:587"),
            "smtp://user:secret@mail.example:587?tls=required"
        );
        assert_eq!(
            rewritten("smtp://user@mail.example:587"),
            "smtp://user@mail.example:587?tls=required"
        );
    }

    #[test]
    fn plain_smtp_without_credentials_upgrades_when_offered() {
        assert_eq!(
            rewritten("smtp://127.0.0.1:2525"),
            "smtp://127.0.0.1:2525?tls=opportunistic"
        );
        // The port lettre would have used for plain `smtp://` is kept, not moved to 587.
        assert_eq!(
            rewritten("smtp://mail.example"),
            "smtp://mail.example:25?tls=opportunistic"
        );
        assert_eq!(
            rewritten("smtp://mail.example:25/gatehouse.example"),
            "smtp://mail.example:25/gatehouse.example?tls=opportunistic"
        );
    }

    #[test]
    fn an_explicit_choice_and_smtps_are_kept() {
        for url in [
            "smtp://mail.example:25?tls=opportunistic",
            "smtp://user:secret@mail.example:25?tls=opportunistic",
            "smtp://mail.example:587?tls=required",
            "smtps://user:secret@mail.example:465",
            "smtps://mail.example",
        ] {
            assert_eq!(rewritten(url), url);
        }
    }

    // The pooled transport needs a runtime, if only to be dropped.
    #[tokio::test]
    async fn every_rewritten_url_is_one_lettre_accepts() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://user:secret@mail.example:587",
            "smtp://mail.example",
        ] {
            assert!(
                Mailer::smtp(url, "Gatehouse <gatehouse@example.com>").is_ok(),
                "{url}"
            );
        }
        assert!(matches!(
            Mailer::smtp("not a url", "gatehouse@example.com"),
            Err(DeliveryError::Config(_))
        ));
    }
}
