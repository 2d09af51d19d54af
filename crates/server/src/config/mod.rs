//! Configuration: defaults < TOML file < `GATEHOUSE_*` environment < command-line flags
//! (DESIGN.md §4). Every setting has one name in each layer; an unknown key in the file or
//! a malformed value anywhere is an error that names the setting, and nothing starts.
//!
//! `Layers::get` is the one place that order is written, so a new setting is a field in
//! `FileConfig`, one line in `Config::from_layers` and a row in the README. Secrets are held
//! as `Secret` (the database URL as `DatabaseUrl`) from the moment they are read, so every
//! `Debug` here is derived and none can print one.

use anyhow::{bail, Context, Result};
use gatehouse_core::Secret;
use gatehouse_delivery::{TwilioSettings, WebhookSettings};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

mod layers;
use layers::{env, Flag, Layers};

/// The file's shape. Every field is optional: the file only overrides.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<DatabaseUrl>,
    smtp_url: Option<Secret<String>>,
    mail_from: Option<String>,
    master_key_file: Option<PathBuf>,
    node_name: Option<String>,
    session_idle_minutes: Option<i64>,
    session_absolute_hours: Option<i64>,
    trust_days: Option<i64>,
    event_retention_days: Option<i64>,
    recovery_wait_hours: Option<i64>,
    backup_codes_per_account: Option<u32>,
    codes_per_account_per_hour: Option<u32>,
    allow_sign_up: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    sms_provider: Option<String>,
    sms_twilio_base_url: Option<String>,
    sms_twilio_account_sid: Option<String>,
    sms_twilio_auth_token: Option<Secret<String>>,
    sms_from: Option<String>,
    sms_webhook_url: Option<Secret<String>>,
    sms_webhook_token: Option<Secret<String>>,
    sms_per_number_per_hour: Option<u32>,
    sms_per_client_per_hour: Option<u32>,
    sms_per_day: Option<u32>,
    header_read_timeout_secs: Option<u32>,
    request_timeout_secs: Option<u32>,
    max_connections: Option<u32>,
    allow_outbox: Option<bool>,
    log_format: Option<String>,
    metrics_listen: Option<String>,
}

/// Where texts go.
#[derive(Clone, Debug)]
pub enum SmsProvider {
    /// None configured: the outbox folder and the log, like e-mail.
    Outbox,
    Twilio(TwilioSettings),
    Webhook(WebhookSettings),
}

/// The settled configuration the server runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// Checked and normalised by `public_url`: http or https, a host, no trailing slash.
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub smtp_url: Option<Secret<String>>,
    pub mail_from: String,
    pub master_key_file: PathBuf,
    pub node_name: String,
    pub session_idle_minutes: i64,
    pub session_absolute_hours: i64,
    pub trust_days: i64,
    /// S57: security events older than this go in housekeeping.
    pub event_retention_days: i64,
    /// Issue 12: hours between `user recover E` (and its notice) and its recovery link.
    pub recovery_wait_hours: i64,
    pub backup_codes_per_account: u32,
    pub codes_per_account_per_hour: u32,
    pub allow_sign_up: bool,
    /// S50: addresses or CIDR blocks whose `X-Forwarded-For` is believed.
    pub trusted_proxies: gatehouse_web::TrustedProxies,
    pub sms: SmsProvider,
    pub sms_per_number_per_hour: u32,
    pub sms_per_client_per_hour: u32,
    pub sms_per_day: u32,
    /// S57: a client must finish its request head within this many seconds.
    pub header_read_timeout_secs: u32,
    /// S57: a request not answered within this many seconds is cut off (408 or 503).
    pub request_timeout_secs: u32,
    /// S57: connections beyond this many wait until one closes.
    pub max_connections: u32,
    /// `serve` with an https public URL and no SMTP refuses to start unless this is set:
    /// codes written to files in the clear are a demo convenience, not a deployment.
    pub allow_outbox: bool,
    /// How log lines are written on stderr: today's text, or one JSON object per line.
    pub log_format: LogFormat,
    /// Where `/metrics` is served; off when unset, and never on `listen`.
    pub metrics_listen: Option<SocketAddr>,
}

/// `GATEHOUSE_LOG_FORMAT`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    fn parse(text: &str) -> Result<Self> {
        match text.trim() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => bail!("GATEHOUSE_LOG_FORMAT {other:?} is not text or json"),
        }
    }
}

/// An `IP:PORT` setting.
fn socket_address(name: &str, text: &str) -> Result<SocketAddr> {
    text.trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{name} {text:?} is not of the form IP:PORT"))
}

/// A database URL. It is shown, in `Debug` and `Display`, with its password replaced by
/// `***`: the rest (driver, host, database) is what an operator needs to read an error.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The whole URL, password included: for connecting, never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&redact_url(&self.0), f)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// A URL without its password.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The public URL, checked and normalised: http or https, a host, no user name or password
/// (they would end up in every link), no query or fragment (links and the issuer are built
/// by appending paths), no trailing slash.
fn public_url(text: &str) -> Result<String> {
    let url = Url::parse(text.trim()).map_err(|e| anyhow::anyhow!("public URL {text:?}: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        bail!("public URL {text:?} must start with https:// or http://");
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("public URL {text:?} has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: it holds a password.
        bail!("the public URL must not hold a user name or password");
    }
    if url.query().is_some() {
        bail!("public URL {text:?} must not have a query (?…)");
    }
    if url.fragment().is_some() {
        bail!("public URL {text:?} must not have a fragment (#…)");
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn in_range(name: &str, value: i64, min: i64, max: i64) -> Result<i64> {
    if value < min || value > max {
        bail!("{name} must be between {min} and {max}, not {value}");
    }
    Ok(value)
}

fn is_http_url(text: &str) -> bool {
    text.starts_with("https://") || text.starts_with("http://")
}

fn required<T>(name: &str, provider: &str, value: Option<T>) -> Result<T> {
    value
        .ok_or_else(|| anyhow::anyhow!("{name} is required with GATEHOUSE_SMS_PROVIDER={provider}"))
}

/// The SMS provider from `GATEHOUSE_SMS_*` (or the file): `twilio`, `webhook`, or none.
fn sms_provider(layers: &Layers<'_>, file: &mut FileConfig) -> Result<SmsProvider> {
    let provider = layers.get_unless_blank("GATEHOUSE_SMS_PROVIDER", file.sms_provider.take())?;
    let base_url = layers.get_unless_blank(
        "GATEHOUSE_SMS_TWILIO_BASE_URL",
        file.sms_twilio_base_url.take(),
    )?;
    let account_sid = layers.get_unless_blank(
        "GATEHOUSE_SMS_TWILIO_ACCOUNT_SID",
        file.sms_twilio_account_sid.take(),
    )?;
    let auth_token = layers.get_unless_blank(
        "GATEHOUSE_SMS_TWILIO_AUTH_TOKEN",
        file.sms_twilio_auth_token.take(),
    )?;
    let from = layers.get_unless_blank("GATEHOUSE_SMS_FROM", file.sms_from.take())?;
    let webhook_url =
        layers.get_unless_blank("GATEHOUSE_SMS_WEBHOOK_URL", file.sms_webhook_url.take())?;
    let webhook_token =
        layers.get_unless_blank("GATEHOUSE_SMS_WEBHOOK_TOKEN", file.sms_webhook_token.take())?;
    match provider.as_deref() {
        None => {
            // Provider settings without a provider are a forgotten line, not a choice: the
            // texts would go to the outbox and nobody would receive their code.
            let stray = [
                (
                    "GATEHOUSE_SMS_TWILIO_BASE_URL",
                    "twilio",
                    base_url.is_some(),
                ),
                (
                    "GATEHOUSE_SMS_TWILIO_ACCOUNT_SID",
                    "twilio",
                    account_sid.is_some(),
                ),
                (
                    "GATEHOUSE_SMS_TWILIO_AUTH_TOKEN",
                    "twilio",
                    auth_token.is_some(),
                ),
                ("GATEHOUSE_SMS_FROM", "twilio", from.is_some()),
                (
                    "GATEHOUSE_SMS_WEBHOOK_URL",
                    "webhook",
                    webhook_url.is_some(),
                ),
                (
                    "GATEHOUSE_SMS_WEBHOOK_TOKEN",
                    "webhook",
                    webhook_token.is_some(),
                ),
            ];
            if let Some((name, provider, _)) = stray.into_iter().find(|(_, _, set)| *set) {
                bail!(
                    "{name} is set but GATEHOUSE_SMS_PROVIDER is missing: set it to \
                     {provider} (sms_provider in the file), or remove {name}"
                );
            }
            Ok(SmsProvider::Outbox)
        }
        Some("twilio") => {
            let base_url = base_url.unwrap_or_else(|| "https://api.twilio.com".into());
            if !is_http_url(&base_url) {
                bail!("GATEHOUSE_SMS_TWILIO_BASE_URL {base_url:?} must start with https:// or http://");
            }
            Ok(SmsProvider::Twilio(TwilioSettings {
                base_url,
                account_sid: required("GATEHOUSE_SMS_TWILIO_ACCOUNT_SID", "twilio", account_sid)?,
                auth_token: required("GATEHOUSE_SMS_TWILIO_AUTH_TOKEN", "twilio", auth_token)?,
                from: required("GATEHOUSE_SMS_FROM", "twilio", from)?,
            }))
        }
        Some("webhook") => {
            let url = required("GATEHOUSE_SMS_WEBHOOK_URL", "webhook", webhook_url)?;
            if !is_http_url(url.expose()) {
                // Not echoed: the address is a secret (it often carries a token).
                bail!("GATEHOUSE_SMS_WEBHOOK_URL must start with https:// or http://");
            }
            Ok(SmsProvider::Webhook(WebhookSettings {
                url,
                token: webhook_token,
            }))
        }
        Some(other) => bail!("GATEHOUSE_SMS_PROVIDER {other:?} is not twilio or webhook"),
    }
}

impl Config {
    /// Builds the configuration from all layers. `config_file` is the `--config` flag (or
    /// `GATEHOUSE_CONFIG`); `listen_flag` is `--listen`.
    pub fn load(config_file: Option<&Path>, listen_flag: Option<&str>) -> Result<Self> {
        let file: FileConfig = match config_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the configuration file {}", path.display())
                })?;
                toml::from_str(&text).map_err(|e| {
                    let first_line = e.to_string().lines().next().unwrap_or_default().to_string();
                    anyhow::anyhow!(
                        "configuration file {}: {first_line} ({})",
                        path.display(),
                        e.message()
                    )
                })?
            }
            None => FileConfig::default(),
        };
        let flags = [Flag {
            setting: "GATEHOUSE_LISTEN",
            flag: "--listen",
            value: listen_flag,
        }];
        Self::from_layers(
            file,
            &Layers {
                env: &env,
                flags: &flags,
            },
        )
    }

    /// Settles every setting from the layers, in the order their errors are reported.
    fn from_layers(mut file: FileConfig, layers: &Layers<'_>) -> Result<Self> {
        let sms = sms_provider(layers, &mut file)?;
        let data_dir = layers
            .get("GATEHOUSE_DATA_DIR", file.data_dir)?
            .unwrap_or_else(|| PathBuf::from("./gatehouse-data"));
        let listen_text = layers
            .get("GATEHOUSE_LISTEN", file.listen)?
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            anyhow::anyhow!("listen address {listen_text:?} is not of the form IP:PORT")
        })?;
        let public_url = layers
            .get("GATEHOUSE_PUBLIC_URL", file.public_url)?
            .map(|text| public_url(&text))
            .transpose()?;
        let database_url = layers
            .get("GATEHOUSE_DATABASE_URL", file.database_url)?
            .unwrap_or_else(|| {
                DatabaseUrl::new(format!(
                    "sqlite://{}",
                    data_dir.join("gatehouse.db").display()
                ))
            });
        let smtp_url = layers.get_unless_blank("GATEHOUSE_SMTP_URL", file.smtp_url)?;
        let mail_from = layers
            .get("GATEHOUSE_MAIL_FROM", file.mail_from)?
            .unwrap_or_else(|| "Gatehouse <gatehouse@localhost>".into());
        let master_key_file = layers
            .get("GATEHOUSE_MASTER_KEY_FILE", file.master_key_file)?
            .unwrap_or_else(|| data_dir.join("master.key"));
        let node_name = layers
            .get("GATEHOUSE_NODE_NAME", file.node_name)?
            .unwrap_or_else(|| "gatehouse".into());

        let idle = layers
            .get("GATEHOUSE_SESSION_IDLE_MINUTES", file.session_idle_minutes)?
            .unwrap_or(60);
        let absolute = layers
            .get(
                "GATEHOUSE_SESSION_ABSOLUTE_HOURS",
                file.session_absolute_hours,
            )?
            .unwrap_or(12);
        let trust_days = layers
            .get("GATEHOUSE_TRUST_DAYS", file.trust_days)?
            .unwrap_or(30);
        let event_retention_days = layers
            .get("GATEHOUSE_EVENT_RETENTION_DAYS", file.event_retention_days)?
            .unwrap_or(400);
        let recovery_wait_hours = layers
            .get("GATEHOUSE_RECOVERY_WAIT_HOURS", file.recovery_wait_hours)?
            .unwrap_or(72);
        let backup_codes = layers
            .get(
                "GATEHOUSE_BACKUP_CODES_PER_ACCOUNT",
                file.backup_codes_per_account,
            )?
            .unwrap_or(1);
        let codes_per_hour = layers
            .get(
                "GATEHOUSE_CODES_PER_ACCOUNT_PER_HOUR",
                file.codes_per_account_per_hour,
            )?
            .unwrap_or(10);
        let allow_sign_up = layers
            .get("GATEHOUSE_ALLOW_SIGN_UP", file.allow_sign_up)?
            .unwrap_or(false);

        let at_least_one = |name: &str, file_value: Option<u32>, default: u32| -> Result<u32> {
            let value = layers.get(name, file_value)?.unwrap_or(default);
            if value == 0 {
                bail!("{name} must be at least 1");
            }
            Ok(value)
        };
        let sms_per_number_per_hour = at_least_one(
            "GATEHOUSE_SMS_PER_NUMBER_PER_HOUR",
            file.sms_per_number_per_hour,
            5,
        )?;
        let sms_per_client_per_hour = at_least_one(
            "GATEHOUSE_SMS_PER_CLIENT_PER_HOUR",
            file.sms_per_client_per_hour,
            10,
        )?;
        let sms_per_day = at_least_one("GATEHOUSE_SMS_PER_DAY", file.sms_per_day, 1000)?;

        let header_read_timeout_secs = at_least_one(
            "GATEHOUSE_HEADER_READ_TIMEOUT_SECS",
            file.header_read_timeout_secs,
            30,
        )?;
        let request_timeout_secs = at_least_one(
            "GATEHOUSE_REQUEST_TIMEOUT_SECS",
            file.request_timeout_secs,
            30,
        )?;
        let max_connections =
            at_least_one("GATEHOUSE_MAX_CONNECTIONS", file.max_connections, 1024)?;
        let allow_outbox = layers
            .get("GATEHOUSE_ALLOW_OUTBOX", file.allow_outbox)?
            .unwrap_or(false);

        let proxies = layers
            .get("GATEHOUSE_TRUSTED_PROXIES", file.trusted_proxies)?
            .unwrap_or_default();
        let trusted_proxies = gatehouse_web::TrustedProxies::parse(&proxies.join(","))
            .map_err(|e| anyhow::anyhow!("trusted proxies: {e}"))?;
        let log_format = layers
            .get("GATEHOUSE_LOG_FORMAT", file.log_format)?
            .map(|text| LogFormat::parse(&text))
            .transpose()?
            .unwrap_or_default();
        let metrics_listen = layers
            .get_unless_blank("GATEHOUSE_METRICS_LISTEN", file.metrics_listen)?
            .map(|text| socket_address("GATEHOUSE_METRICS_LISTEN", &text))
            .transpose()?;
        if metrics_listen.is_some_and(|metrics| metrics == listen && listen.port() != 0) {
            // `/metrics` must never be reachable on the public address.
            bail!("GATEHOUSE_METRICS_LISTEN must differ from GATEHOUSE_LISTEN ({listen})");
        }

        Ok(Self {
            header_read_timeout_secs,
            request_timeout_secs,
            max_connections,
            allow_outbox,
            trusted_proxies,
            log_format,
            metrics_listen,
            sms,
            sms_per_number_per_hour,
            sms_per_client_per_hour,
            sms_per_day,
            allow_sign_up,
            listen,
            public_url,
            data_dir,
            database_url,
            smtp_url,
            mail_from,
            master_key_file,
            node_name,
            session_idle_minutes: in_range("session_idle_minutes", idle, 1, 24 * 60)?,
            session_absolute_hours: in_range("session_absolute_hours", absolute, 1, 24 * 90)?,
            trust_days: in_range("trust_days", trust_days, 1, 365)?,
            event_retention_days: in_range(
                "event_retention_days",
                event_retention_days,
                1,
                100 * 365,
            )?,
            // At least an hour, so the owner's notice always comes before the link can; at
            // most 30 days, so a recovery does not outlive everyone's memory of it.
            recovery_wait_hours: in_range(
                "GATEHOUSE_RECOVERY_WAIT_HOURS (recovery_wait_hours)",
                recovery_wait_hours,
                1,
                720,
            )?,
            backup_codes_per_account: u32::try_from(in_range(
                "backup_codes_per_account",
                i64::from(backup_codes),
                1,
                16,
            )?)
            .unwrap_or(1),
            codes_per_account_per_hour: u32::try_from(in_range(
                "codes_per_account_per_hour",
                i64::from(codes_per_hour),
                1,
                1000,
            )?)
            .unwrap_or(10),
        })
    }

    /// `scheme://host[:port]` of the public URL, as a browser sends it in `Origin`: no path,
    /// no default port (RFC 6454 §6.1).
    pub fn public_origin(&self) -> Option<String> {
        let url = Url::parse(self.public_url.as_deref()?).ok()?;
        Some(url.origin().ascii_serialization())
    }

    /// The connection limits `serving` applies (S57).
    pub fn serving_limits(&self) -> crate::serving::Limits {
        crate::serving::Limits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.into()),
            request_timeout: Duration::from_secs(self.request_timeout_secs.into()),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
        }
    }

    /// `gatehouse serve` refuses a deployment whose sign-in codes would go to the outbox: an
    /// https public URL says people rely on it, and nobody would receive their code (unless
    /// the operator says they collect the outbox on purpose, `allow_outbox`).
    pub fn check_mail_delivery_for_serving(&self) -> Result<()> {
        if self.serves_https() && self.smtp_url.is_none() && !self.allow_outbox {
            bail!(
                "GATEHOUSE_SMTP_URL is not set, so sign-in codes would only be written to the \
                 outbox folder: set GATEHOUSE_SMTP_URL, or GATEHOUSE_ALLOW_OUTBOX=true to \
                 serve {} with the outbox anyway",
                self.public_url.as_deref().unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Cookies are Secure and `__Host-` prefixed when people reach us over HTTPS.
    pub fn serves_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests;
