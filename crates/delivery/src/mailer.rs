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

impl Mailer {
    /// `smtp://host:port` (plain, upgraded by STARTTLS when offered), `smtp://…?tls=required`
    /// or `smtps://host:port` (TLS from the start); credentials may be in the URL.
    pub fn smtp(url: &str, from: &str) -> Result<Self, DeliveryError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
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

fn parse_from(from: &str) -> Result<Mailbox, DeliveryError> {
    from.parse()
        .map_err(|e| DeliveryError::Config(format!("GATEHOUSE_MAIL_FROM {from:?}: {e}")))
}
