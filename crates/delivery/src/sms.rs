//! Text messages: a Twilio-compatible REST API, a generic JSON webhook, or (with neither
//! configured) the outbox folder and the log, as for e-mail. Like mail, the log never gets
//! the text, which holds a code (S11); it gets the masked number.

use gatehouse_core::{OtpCode, PhoneNumber, Secret};
use std::path::PathBuf;
use std::time::Duration;

use crate::OutboxMode;

/// One text, ready to send. `Debug` leaves the body out.
#[derive(Clone)]
pub struct OutgoingSms {
    pub to: PhoneNumber,
    pub body: String,
}

impl std::fmt::Debug for OutgoingSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingSms")
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

pub fn sms_code(to: &PhoneNumber, code: &OtpCode) -> OutgoingSms {
    OutgoingSms {
        to: to.clone(),
        body: format!(
            "{} is your Gatehouse code. Don't share it with anyone.",
            code.expose()
        ),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("the SMS provider could not be reached: {0}")]
    Transport(reqwest::Error),
    #[error("the SMS provider refused the message (HTTP {0})")]
    Refused(u16),
    #[error("could not write to the outbox: {0}")]
    Outbox(#[from] std::io::Error),
}

/// The provider's URL may carry a token; errors (which reach the log) never show it.
impl From<reqwest::Error> for SmsError {
    fn from(error: reqwest::Error) -> Self {
        Self::Transport(error.without_url())
    }
}

/// A Twilio-compatible REST API: POST {base}/2010-04-01/Accounts/{sid}/Messages.json, form
/// To/From/Body, basic auth with the account SID and the auth token.
#[derive(Clone, Debug)]
pub struct TwilioSettings {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: Secret<String>,
    /// The sending number.
    pub from: String,
}

/// A generic webhook: POST {url} with JSON {"to": "...", "body": "..."} and an optional
/// bearer token. The address is a secret too: it often carries a token in its path or query.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub url: Secret<String>,
    pub token: Option<Secret<String>>,
}

#[derive(Clone)]
enum Transport {
    Twilio(TwilioSettings),
    Webhook(WebhookSettings),
    Outbox { dir: PathBuf, mode: OutboxMode },
}

#[derive(Clone)]
pub struct SmsSender {
    transport: Transport,
    http: reqwest::Client,
}

impl std::fmt::Debug for SmsSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.transport {
            Transport::Twilio(_) => "twilio",
            Transport::Webhook(_) => "webhook",
            Transport::Outbox { .. } => "outbox",
        };
        write!(f, "SmsSender({kind})")
    }
}

const SMS_TIMEOUT: Duration = Duration::from_secs(15);

fn client() -> Result<reqwest::Client, SmsError> {
    Ok(reqwest::Client::builder().timeout(SMS_TIMEOUT).build()?)
}

impl SmsSender {
    pub fn twilio(settings: TwilioSettings) -> Result<Self, SmsError> {
        let base_url = settings.base_url.trim_end_matches('/').to_string();
        Ok(Self {
            transport: Transport::Twilio(TwilioSettings {
                base_url,
                ..settings
            }),
            http: client()?,
        })
    }

    pub fn webhook(settings: WebhookSettings) -> Result<Self, SmsError> {
        Ok(Self {
            transport: Transport::Webhook(settings),
            http: client()?,
        })
    }

    pub fn outbox(dir: PathBuf, mode: OutboxMode) -> Result<Self, SmsError> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            transport: Transport::Outbox { dir, mode },
            http: client()?,
        })
    }

    pub async fn send(&self, sms: &OutgoingSms) -> Result<(), SmsError> {
        let response = match &self.transport {
            Transport::Twilio(TwilioSettings {
                base_url,
                account_sid,
                auth_token,
                from,
            }) => {
                let url = format!("{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json");
                self.http
                    .post(url)
                    .basic_auth(account_sid, Some(auth_token.expose()))
                    .form(&[
                        ("To", sms.to.as_str()),
                        ("From", from.as_str()),
                        ("Body", sms.body.as_str()),
                    ])
                    .send()
                    .await?
            }
            Transport::Webhook(WebhookSettings { url, token }) => {
                let mut request = self
                    .http
                    .post(url.expose())
                    .json(&serde_json::json!({ "to": sms.to.as_str(), "body": sms.body }));
                if let Some(token) = token {
                    request = request.bearer_auth(token.expose());
                }
                request.send().await?
            }
            Transport::Outbox { dir, mode } => {
                let path = dir.join(format!("{}.sms.txt", uuid::Uuid::now_v7()));
                tokio::fs::write(&path, format!("To: {}\n\n{}\n", sms.to.as_str(), sms.body))
                    .await?;
                tracing::info!(to = %sms.to.masked(), file = %path.display(), "text written to the outbox (no SMS provider configured)");
                if *mode == OutboxMode::PrintToConsole {
                    println!(
                        "\n--- text to {} ---\n{}\n--- end of text ---\n",
                        sms.to.as_str(),
                        sms.body
                    );
                }
                return Ok(());
            }
        };
        let status = response.status();
        if !status.is_success() {
            return Err(SmsError::Refused(status.as_u16()));
        }
        tracing::info!(to = %sms.to.masked(), "text sent");
        Ok(())
    }
}
