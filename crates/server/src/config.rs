//! Configuration: defaults < TOML file < `GATEHOUSE_*` environment < command-line flags
//! (DESIGN.md §4). Every setting has one name in each layer; an unknown key in the file or
//! a malformed value anywhere is an error that names the setting, and nothing starts.

use crate::startup::redact_url;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::env::VarError;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// The file's shape. Every field is optional: the file only overrides. `Debug` is written
/// by hand, below, so that no secret it holds is ever printed.
#[derive(Default, Deserialize)]
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

/// Where texts go. `Debug` hides the tokens and the webhook address.
#[derive(Clone)]
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

/// The settled configuration the server runs with. `Debug` hides the secrets.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Checked and normalised by `public_url`: http or https, a host, no trailing slash.
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
    if let Some(value) = env_value(name, std::env::var(name))? {
        return Ok(Some(value));
    }
    let file_var = format!("{name}_FILE");
    // A path need not be Unicode; the file's content must be (read_to_string says so).
    match std::env::var_os(&file_var).map(PathBuf::from) {
        Some(path) => std::fs::read_to_string(&path)
            .map(|s| Some(s.trim().to_string()))
            .with_context(|| format!("{file_var}: cannot read {}", path.display())),
        None => Ok(None),
    }
}

/// A set variable that is not Unicode is a mistake to report, not a setting to ignore:
/// ignoring it would quietly fall back to the default.
fn env_value(name: &str, value: Result<String, VarError>) -> Result<Option<String>> {
    match value {
        Ok(value) => Ok(Some(value)),
        Err(VarError::NotPresent) => Ok(None),
        Err(VarError::NotUnicode(_)) => bail!("{name} is set but is not valid Unicode"),
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
        None => {
            // Provider settings without a provider are a forgotten line, not a choice: the
            // texts would go to the outbox and nobody would receive their code.
            let stray = [
                (
                    "GATEHOUSE_SMS_TWILIO_BASE_URL",
                    "twilio",
                    file.sms_twilio_base_url.take(),
                ),
                (
                    "GATEHOUSE_SMS_TWILIO_ACCOUNT_SID",
                    "twilio",
                    file.sms_twilio_account_sid.take(),
                ),
                (
                    "GATEHOUSE_SMS_TWILIO_AUTH_TOKEN",
                    "twilio",
                    file.sms_twilio_auth_token.take(),
                ),
                ("GATEHOUSE_SMS_FROM", "twilio", file.sms_from.take()),
                (
                    "GATEHOUSE_SMS_WEBHOOK_URL",
                    "webhook",
                    file.sms_webhook_url.take(),
                ),
                (
                    "GATEHOUSE_SMS_WEBHOOK_TOKEN",
                    "webhook",
                    file.sms_webhook_token.take(),
                ),
            ];
            for (name, provider, file_value) in stray {
                if setting(name, file_value)?.is_some() {
                    bail!(
                        "{name} is set but GATEHOUSE_SMS_PROVIDER is missing: set it to \
                         {provider} (sms_provider in the file), or remove {name}"
                    );
                }
            }
            Ok(SmsProvider::Outbox)
        }
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
        let public_url = env("GATEHOUSE_PUBLIC_URL")?
            .or(file.public_url)
            .map(|text| public_url(&text))
            .transpose()?;
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

    /// `scheme://host[:port]` of the public URL, as a browser sends it in `Origin`: no path,
    /// no default port (RFC 6454 §6.1).
    pub fn public_origin(&self) -> Option<String> {
        let url = Url::parse(self.public_url.as_deref()?).ok()?;
        Some(url.origin().ascii_serialization())
    }

    /// Cookies are Secure and `__Host-` prefixed when people reach us over HTTPS.
    pub fn serves_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

/// Stands in for a secret in `Debug` output: a secret that can be logged will be (STYLE.md).
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

fn redacted<T>(value: &Option<T>) -> Option<Redacted> {
    value.as_ref().map(|_| Redacted)
}

impl fmt::Debug for FileConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured, so a new field cannot be added without deciding how it prints.
        let Self {
            listen,
            public_url,
            data_dir,
            database_url,
            smtp_url,
            mail_from,
            master_key_file,
            node_name,
            session_idle_minutes,
            session_absolute_hours,
            trust_days,
            backup_codes_per_account,
            codes_per_account_per_hour,
            allow_sign_up,
            trusted_proxies,
            sms_provider,
            sms_twilio_base_url,
            sms_twilio_account_sid,
            sms_twilio_auth_token,
            sms_from,
            sms_webhook_url,
            sms_webhook_token,
            sms_per_number_per_hour,
            sms_per_client_per_hour,
            sms_per_day,
        } = self;
        f.debug_struct("FileConfig")
            .field("listen", listen)
            .field("public_url", public_url)
            .field("data_dir", data_dir)
            .field("database_url", &database_url.as_deref().map(redact_url))
            .field("smtp_url", &redacted(smtp_url))
            .field("mail_from", mail_from)
            .field("master_key_file", master_key_file)
            .field("node_name", node_name)
            .field("session_idle_minutes", session_idle_minutes)
            .field("session_absolute_hours", session_absolute_hours)
            .field("trust_days", trust_days)
            .field("backup_codes_per_account", backup_codes_per_account)
            .field("codes_per_account_per_hour", codes_per_account_per_hour)
            .field("allow_sign_up", allow_sign_up)
            .field("trusted_proxies", trusted_proxies)
            .field("sms_provider", sms_provider)
            .field("sms_twilio_base_url", sms_twilio_base_url)
            .field("sms_twilio_account_sid", sms_twilio_account_sid)
            .field("sms_twilio_auth_token", &redacted(sms_twilio_auth_token))
            .field("sms_from", sms_from)
            .field("sms_webhook_url", &redacted(sms_webhook_url))
            .field("sms_webhook_token", &redacted(sms_webhook_token))
            .field("sms_per_number_per_hour", sms_per_number_per_hour)
            .field("sms_per_client_per_hour", sms_per_client_per_hour)
            .field("sms_per_day", sms_per_day)
            .finish()
    }
}

impl fmt::Debug for SmsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Outbox => f.write_str("Outbox"),
            Self::Twilio {
                base_url,
                account_sid,
                auth_token: _,
                from,
            } => f
                .debug_struct("Twilio")
                .field("base_url", base_url)
                .field("account_sid", account_sid)
                .field("auth_token", &Redacted)
                .field("from", from)
                .finish(),
            // A webhook address is often a secret in itself (a token in its path or query).
            Self::Webhook { url: _, token } => f
                .debug_struct("Webhook")
                .field("url", &Redacted)
                .field("token", &redacted(token))
                .finish(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            listen,
            public_url,
            data_dir,
            database_url,
            smtp_url,
            mail_from,
            master_key_file,
            node_name,
            session_idle_minutes,
            session_absolute_hours,
            trust_days,
            backup_codes_per_account,
            codes_per_account_per_hour,
            allow_sign_up,
            trusted_proxies,
            sms,
            sms_per_number_per_hour,
            sms_per_client_per_hour,
            sms_per_day,
        } = self;
        f.debug_struct("Config")
            .field("listen", listen)
            .field("public_url", public_url)
            .field("data_dir", data_dir)
            .field("database_url", &redact_url(database_url))
            .field("smtp_url", &redacted(smtp_url))
            .field("mail_from", mail_from)
            .field("master_key_file", master_key_file)
            .field("node_name", node_name)
            .field("session_idle_minutes", session_idle_minutes)
            .field("session_absolute_hours", session_absolute_hours)
            .field("trust_days", trust_days)
            .field("backup_codes_per_account", backup_codes_per_account)
            .field("codes_per_account_per_hour", codes_per_account_per_hour)
            .field("allow_sign_up", allow_sign_up)
            .field("trusted_proxies", trusted_proxies)
            .field("sms", sms)
            .field("sms_per_number_per_hour", sms_per_number_per_hour)
            .field("sms_per_client_per_hour", sms_per_client_per_hour)
            .field("sms_per_day", sms_per_day)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_is_normalised_and_its_origin_is_what_a_browser_sends() {
        for (text, url, origin) in [
            (
                "https://id.example",
                "https://id.example",
                "https://id.example",
            ),
            (
                "https://id.example/",
                "https://id.example",
                "https://id.example",
            ),
            (
                "https://ID.example:443/",
                "https://id.example",
                "https://id.example",
            ),
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080",
            ),
            (
                "https://example.com/gatehouse/",
                "https://example.com/gatehouse",
                "https://example.com",
            ),
            (
                "https://id.example:8443/",
                "https://id.example:8443",
                "https://id.example:8443",
            ),
        ] {
            let normalised = public_url(text).unwrap();
            assert_eq!(normalised, url, "{text}");
            assert_eq!(
                config_with(Some(normalised)).public_origin().as_deref(),
                Some(origin)
            );
        }
    }

    #[test]
    fn a_public_url_that_links_cannot_be_built_on_is_refused() {
        for (text, expected) in [
            ("id.example.com", "public URL"),
            ("", "public URL"),
            ("ftp://id.example", "https:// or http://"),
            ("https://", "public URL"),
            ("https://id.example/?next=1", "query"),
            ("https://id.example/#top", "fragment"),
        ] {
            let error = public_url(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        let error = public_url("https://ann:hunter2@id.example")
            .unwrap_err()
            .to_string();
        assert!(error.contains("user name or password"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn a_setting_that_is_not_unicode_is_an_error_naming_it() {
        #[cfg(unix)]
        let bad = {
            use std::os::unix::ffi::OsStringExt;
            std::ffi::OsString::from_vec(vec![0x66, 0xff])
        };
        #[cfg(not(unix))]
        let bad = std::ffi::OsString::new();
        let error = env_value("GATEHOUSE_TRUST_DAYS", Err(VarError::NotUnicode(bad)))
            .unwrap_err()
            .to_string();
        assert!(error.contains("GATEHOUSE_TRUST_DAYS"), "{error}");
        assert_eq!(env_value("X", Err(VarError::NotPresent)).unwrap(), None);
        assert_eq!(
            env_value("X", Ok("7".into())).unwrap().as_deref(),
            Some("7")
        );
    }

    #[test]
    fn sms_settings_without_a_provider_are_refused() {
        let file: FileConfig = toml::from_str("sms_twilio_auth_token = \"tw-secret\"").unwrap();
        let error = sms_provider(&mut { file }).unwrap_err().to_string();
        assert!(error.contains("GATEHOUSE_SMS_PROVIDER"), "{error}");
        assert!(error.contains("GATEHOUSE_SMS_TWILIO_AUTH_TOKEN"), "{error}");
        assert!(!error.contains("tw-secret"), "{error}");
        let mut file: FileConfig =
            toml::from_str("sms_webhook_url = \"https://hooks.example/sms\"").unwrap();
        let error = sms_provider(&mut file).unwrap_err().to_string();
        assert!(error.contains("webhook"), "{error}");
        assert!(matches!(
            sms_provider(&mut FileConfig::default()),
            Ok(SmsProvider::Outbox)
        ));
    }

    fn config_with(public_url: Option<String>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url,
            data_dir: PathBuf::from("data"),
            database_url: "postgres://gatehouse:db-secret@db.example/gatehouse".into(),
            smtp_url: Some("smtp://mailer:smtp-secret@mail.example:587".into()),
            mail_from: "Gatehouse <gatehouse@example.com>".into(),
            master_key_file: PathBuf::from("data/master.key"),
            node_name: "node-1".into(),
            session_idle_minutes: 60,
            session_absolute_hours: 12,
            trust_days: 30,
            backup_codes_per_account: 1,
            codes_per_account_per_hour: 10,
            allow_sign_up: false,
            trusted_proxies: gatehouse_web::TrustedProxies::default(),
            sms: SmsProvider::Twilio {
                base_url: "https://api.twilio.com".into(),
                account_sid: "AC123".into(),
                auth_token: "twilio-secret".into(),
                from: "+15550100".into(),
            },
            sms_per_number_per_hour: 5,
            sms_per_client_per_hour: 10,
            sms_per_day: 1000,
        }
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let config = config_with(Some("https://id.example".into()));
        let printed = format!("{config:?}");
        for secret in ["db-secret", "smtp-secret", "twilio-secret"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("[redacted]"), "{printed}");
        assert!(printed.contains("https://id.example"), "{printed}");

        let webhook = SmsProvider::Webhook {
            url: "https://hooks.example/sms/hook-secret".into(),
            token: Some("bearer-secret".into()),
        };
        let printed = format!("{webhook:?}");
        assert!(!printed.contains("hook-secret") && !printed.contains("bearer-secret"));

        let file: FileConfig = toml::from_str(
            r#"
            database_url = "postgres://gatehouse:db-secret@db.example/gatehouse"
            smtp_url = "smtp://mailer:smtp-secret@mail.example:587"
            sms_twilio_auth_token = "twilio-secret"
            sms_webhook_url = "https://hooks.example/sms/hook-secret"
            sms_webhook_token = "bearer-secret"
            node_name = "node-1"
            "#,
        )
        .unwrap();
        let printed = format!("{file:?}");
        for secret in [
            "db-secret",
            "smtp-secret",
            "twilio-secret",
            "hook-secret",
            "bearer-secret",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("node-1"), "{printed}");
    }
}
