//! Configuration: defaults < TOML file < `GATEHOUSE_*` environment < command-line flags
//! (DESIGN.md §4). Every setting has one name in each layer; an unknown key in the file or
//! a malformed value anywhere is an error that names the setting, and nothing starts.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file's shape. Every field is optional: the file only overrides.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    master_key_file: Option<PathBuf>,
    node_name: Option<String>,
    session_idle_minutes: Option<i64>,
    session_absolute_hours: Option<i64>,
    trust_days: Option<i64>,
    backup_codes_per_account: Option<u32>,
    codes_per_account_per_hour: Option<u32>,
    allow_sign_up: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    sms_provider: Option<String>,
    sms_twilio_base_url: Option<String>,
    sms_twilio_account_sid: Option<String>,
    sms_twilio_auth_token: Option<String>,
    sms_from: Option<String>,
    sms_webhook_url: Option<String>,
    sms_webhook_token: Option<String>,
    sms_per_number_per_hour: Option<u32>,
    sms_per_client_per_hour: Option<u32>,
    sms_per_day: Option<u32>,
}

/// Where texts go.
#[derive(Debug, Clone)]
pub enum SmsProvider {
    /// None configured: the outbox folder and the log, like e-mail.
    Outbox,
    Twilio {
        base_url: String,
        account_sid: String,
        auth_token: String,
        from: String,
    },
    Webhook {
        url: String,
        token: Option<String>,
    },
}

/// The settled configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub master_key_file: PathBuf,
    pub node_name: String,
    pub session_idle_minutes: i64,
    pub session_absolute_hours: i64,
    pub trust_days: i64,
    pub backup_codes_per_account: u32,
    pub codes_per_account_per_hour: u32,
    pub allow_sign_up: bool,
    /// S50: addresses or CIDR blocks whose `X-Forwarded-For` is believed.
    pub trusted_proxies: gatehouse_web::TrustedProxies,
    pub sms: SmsProvider,
    pub sms_per_number_per_hour: u32,
    pub sms_per_client_per_hour: u32,
    pub sms_per_day: u32,
}

/// Reads one environment variable, or its `_FILE` variant (for secrets kept in files).
fn env(name: &str) -> Result<Option<String>> {
    if let Ok(value) = std::env::var(name) {
        return Ok(Some(value));
    }
    let file_var = format!("{name}_FILE");
    match std::env::var(&file_var) {
        Ok(path) => std::fs::read_to_string(&path)
            .map(|s| Some(s.trim().to_string()))
            .with_context(|| format!("{file_var}: cannot read {path}")),
        Err(_) => Ok(None),
    }
}

fn parse_number<T: std::str::FromStr>(name: &str, value: Option<String>) -> Result<Option<T>> {
    value
        .map(|v| {
            v.trim()
                .parse::<T>()
                .map_err(|_| anyhow::anyhow!("{name}: {v:?} is not a valid number"))
        })
        .transpose()
}

fn in_range(name: &str, value: i64, min: i64, max: i64) -> Result<i64> {
    if value < min || value > max {
        bail!("{name} must be between {min} and {max}, not {value}");
    }
    Ok(value)
}

/// The SMS provider from `GATEHOUSE_SMS_*` (or the file): `twilio`, `webhook`, or none.
fn sms_provider(file: &mut FileConfig) -> Result<SmsProvider> {
    let setting = |name: &str, file_value: Option<String>| -> Result<Option<String>> {
        Ok(env(name)?.or(file_value).filter(|v| !v.is_empty()))
    };
    let http_url = |name: &str, value: String| -> Result<String> {
        if value.starts_with("https://") || value.starts_with("http://") {
            Ok(value)
        } else {
            bail!("{name} {value:?} must start with https:// or http://")
        }
    };
    let provider = setting("GATEHOUSE_SMS_PROVIDER", file.sms_provider.take())?;
    match provider.as_deref() {
        None => Ok(SmsProvider::Outbox),
        Some("twilio") => {
            let required = |name: &str, value: Option<String>| {
                value.ok_or_else(|| {
                    anyhow::anyhow!("{name} is required with GATEHOUSE_SMS_PROVIDER=twilio")
                })
            };
            let base_url = setting(
                "GATEHOUSE_SMS_TWILIO_BASE_URL",
                file.sms_twilio_base_url.take(),
            )?
            .unwrap_or_else(|| "https://api.twilio.com".into());
            Ok(SmsProvider::Twilio {
                base_url: http_url("GATEHOUSE_SMS_TWILIO_BASE_URL", base_url)?,
                account_sid: required(
                    "GATEHOUSE_SMS_TWILIO_ACCOUNT_SID",
                    setting(
                        "GATEHOUSE_SMS_TWILIO_ACCOUNT_SID",
                        file.sms_twilio_account_sid.take(),
                    )?,
                )?,
                auth_token: required(
                    "GATEHOUSE_SMS_TWILIO_AUTH_TOKEN",
                    setting(
                        "GATEHOUSE_SMS_TWILIO_AUTH_TOKEN",
                        file.sms_twilio_auth_token.take(),
                    )?,
                )?,
                from: required(
                    "GATEHOUSE_SMS_FROM",
                    setting("GATEHOUSE_SMS_FROM", file.sms_from.take())?,
                )?,
            })
        }
        Some("webhook") => {
            let url = setting("GATEHOUSE_SMS_WEBHOOK_URL", file.sms_webhook_url.take())?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "GATEHOUSE_SMS_WEBHOOK_URL is required with GATEHOUSE_SMS_PROVIDER=webhook"
                    )
                })?;
            Ok(SmsProvider::Webhook {
                url: http_url("GATEHOUSE_SMS_WEBHOOK_URL", url)?,
                token: setting("GATEHOUSE_SMS_WEBHOOK_TOKEN", file.sms_webhook_token.take())?,
            })
        }
        Some(other) => bail!("GATEHOUSE_SMS_PROVIDER {other:?} is not twilio or webhook"),
    }
}

impl Config {
    /// Builds the configuration from all layers. `config_file` is the `--config` flag (or
    /// `GATEHOUSE_CONFIG`); `listen_flag` is `--listen`.
    pub fn load(config_file: Option<&Path>, listen_flag: Option<&str>) -> Result<Self> {
        let mut file: FileConfig = match config_file {
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

        let sms = sms_provider(&mut file)?;
        let data_dir = env("GATEHOUSE_DATA_DIR")?
            .map(PathBuf::from)
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./gatehouse-data"));
        let listen_text = listen_flag
            .map(str::to_string)
            .or(env("GATEHOUSE_LISTEN")?)
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            anyhow::anyhow!("listen address {listen_text:?} is not of the form IP:PORT")
        })?;
        let public_url = env("GATEHOUSE_PUBLIC_URL")?.or(file.public_url);
        if let Some(url) = &public_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!("public URL {url:?} must start with https:// or http://");
            }
        }
        let database_url = env("GATEHOUSE_DATABASE_URL")?
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("gatehouse.db").display()));
        let smtp_url = env("GATEHOUSE_SMTP_URL")?
            .or(file.smtp_url)
            .filter(|s| !s.is_empty());
        let mail_from = env("GATEHOUSE_MAIL_FROM")?
            .or(file.mail_from)
            .unwrap_or_else(|| "Gatehouse <gatehouse@localhost>".into());
        let master_key_file = env("GATEHOUSE_MASTER_KEY_FILE")?
            .map(PathBuf::from)
            .or(file.master_key_file)
            .unwrap_or_else(|| data_dir.join("master.key"));
        let node_name = env("GATEHOUSE_NODE_NAME")?
            .or(file.node_name)
            .unwrap_or_else(|| "gatehouse".into());

        let idle = parse_number(
            "GATEHOUSE_SESSION_IDLE_MINUTES",
            env("GATEHOUSE_SESSION_IDLE_MINUTES")?,
        )?
        .or(file.session_idle_minutes)
        .unwrap_or(60);
        let absolute = parse_number(
            "GATEHOUSE_SESSION_ABSOLUTE_HOURS",
            env("GATEHOUSE_SESSION_ABSOLUTE_HOURS")?,
        )?
        .or(file.session_absolute_hours)
        .unwrap_or(12);
        let trust_days = parse_number("GATEHOUSE_TRUST_DAYS", env("GATEHOUSE_TRUST_DAYS")?)?
            .or(file.trust_days)
            .unwrap_or(30);
        let backup_codes = parse_number(
            "GATEHOUSE_BACKUP_CODES_PER_ACCOUNT",
            env("GATEHOUSE_BACKUP_CODES_PER_ACCOUNT")?,
        )?
        .or(file.backup_codes_per_account)
        .unwrap_or(1);
        let codes_per_hour = parse_number(
            "GATEHOUSE_CODES_PER_ACCOUNT_PER_HOUR",
            env("GATEHOUSE_CODES_PER_ACCOUNT_PER_HOUR")?,
        )?
        .or(file.codes_per_account_per_hour)
        .unwrap_or(10);

        let allow_sign_up = match env("GATEHOUSE_ALLOW_SIGN_UP")?.as_deref().map(str::trim) {
            None => file.allow_sign_up.unwrap_or(false),
            Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => bail!("GATEHOUSE_ALLOW_SIGN_UP: {other:?} is not true or false"),
        };

        let sms_limit = |name: &str, file_value: Option<u32>, default: u32| -> Result<u32> {
            let value = parse_number(name, env(name)?)?
                .or(file_value)
                .unwrap_or(default);
            if value == 0 {
                bail!("{name} must be at least 1");
            }
            Ok(value)
        };
        let sms_per_number_per_hour = sms_limit(
            "GATEHOUSE_SMS_PER_NUMBER_PER_HOUR",
            file.sms_per_number_per_hour,
            5,
        )?;
        let sms_per_client_per_hour = sms_limit(
            "GATEHOUSE_SMS_PER_CLIENT_PER_HOUR",
            file.sms_per_client_per_hour,
            10,
        )?;
        let sms_per_day = sms_limit("GATEHOUSE_SMS_PER_DAY", file.sms_per_day, 1000)?;

        let proxies_text = match env("GATEHOUSE_TRUSTED_PROXIES")? {
            Some(list) => list,
            None => file.trusted_proxies.take().unwrap_or_default().join(","),
        };
        let trusted_proxies = gatehouse_web::TrustedProxies::parse(&proxies_text)
            .map_err(|e| anyhow::anyhow!("trusted proxies: {e}"))?;

        Ok(Self {
            trusted_proxies,
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

    /// `scheme://host[:port]` of the public URL, without a path.
    pub fn public_origin(&self) -> Option<String> {
        let url = self.public_url.as_deref()?;
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split('/').next().unwrap_or(rest);
        Some(format!("{scheme}://{authority}"))
    }

    /// Cookies are Secure and `__Host-` prefixed when people reach us over HTTPS.
    pub fn serves_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}
