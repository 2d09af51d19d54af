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
use std::env::VarError;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

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

/// A setting's value as text from the environment or a flag, parsed; the file gives it
/// already typed. `name` is the setting's name in the layer the text came from, for errors.
trait FromText: Sized {
    fn from_text(name: &str, text: &str) -> Result<Self>;
}

impl FromText for String {
    fn from_text(_: &str, text: &str) -> Result<Self> {
        Ok(text.to_string())
    }
}

impl FromText for Secret<String> {
    fn from_text(_: &str, text: &str) -> Result<Self> {
        Ok(Secret::new(text.to_string()))
    }
}

impl FromText for DatabaseUrl {
    fn from_text(_: &str, text: &str) -> Result<Self> {
        Ok(DatabaseUrl::new(text))
    }
}

impl FromText for PathBuf {
    fn from_text(_: &str, text: &str) -> Result<Self> {
        Ok(PathBuf::from(text))
    }
}

/// Comma-separated, as a list in the file is joined: `a, b` and `["a", " b"]` are one value.
impl FromText for Vec<String> {
    fn from_text(_: &str, text: &str) -> Result<Self> {
        Ok(text.split(',').map(str::to_string).collect())
    }
}

impl FromText for bool {
    fn from_text(name: &str, text: &str) -> Result<Self> {
        match text.trim() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            other => bail!("{name}: {other:?} is not true or false"),
        }
    }
}

impl FromText for i64 {
    fn from_text(name: &str, text: &str) -> Result<Self> {
        number(name, text)
    }
}

impl FromText for u32 {
    fn from_text(name: &str, text: &str) -> Result<Self> {
        number(name, text)
    }
}

fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T> {
    text.trim()
        .parse::<T>()
        .map_err(|_| anyhow::anyhow!("{name}: {text:?} is not a valid number"))
}

/// For the settings where an empty value means "not set": `GATEHOUSE_SMTP_URL=` sends mail
/// back to the outbox rather than failing on an empty URL.
trait Blank {
    fn is_blank(&self) -> bool;
}

impl Blank for String {
    fn is_blank(&self) -> bool {
        self.is_empty()
    }
}

impl Blank for Secret<String> {
    fn is_blank(&self) -> bool {
        self.expose().is_empty()
    }
}

/// A command-line flag that sets a setting, e.g. `--listen` for `GATEHOUSE_LISTEN`.
struct Flag<'a> {
    setting: &'static str,
    flag: &'static str,
    value: Option<&'a str>,
}

/// Reads a `GATEHOUSE_*` variable by name: `env` when running, a table in tests (which
/// must not change the process's environment under other tests' feet).
type Environment<'a> = &'a dyn Fn(&str) -> Result<Option<String>>;

/// The layers above the file.
struct Layers<'a> {
    env: Environment<'a>,
    flags: &'a [Flag<'a>],
}

impl Layers<'_> {
    /// One setting, layered: its flag if given, else its environment variable, else the
    /// file's value; `None` leaves the default to the caller (`.unwrap_or(default)`). Text
    /// from a flag or the environment is parsed as `T`, and an error names where it came
    /// from. The environment is read even under a flag, so that a broken variable is
    /// reported rather than hidden until the day the flag is dropped.
    fn get<T: FromText>(&self, name: &str, file: Option<T>) -> Result<Option<T>> {
        let env = (self.env)(name)?;
        let flag = self
            .flags
            .iter()
            .find(|f| f.setting == name)
            .and_then(|f| Some((f.flag, f.value?)));
        match (flag, env) {
            (Some((flag, text)), _) => T::from_text(flag, text).map(Some),
            (None, Some(text)) => T::from_text(name, &text).map(Some),
            (None, None) => Ok(file),
        }
    }

    /// `get`, where an empty value (in any layer) leaves the setting unset.
    fn get_unless_blank<T: FromText + Blank>(
        &self,
        name: &str,
        file: Option<T>,
    ) -> Result<Option<T>> {
        Ok(self.get(name, file)?.filter(|v| !v.is_blank()))
    }
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

        let sms_limit = |name: &str, file_value: Option<u32>, default: u32| -> Result<u32> {
            let value = layers.get(name, file_value)?.unwrap_or(default);
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

        let proxies = layers
            .get("GATEHOUSE_TRUSTED_PROXIES", file.trusted_proxies)?
            .unwrap_or_default();
        let trusted_proxies = gatehouse_web::TrustedProxies::parse(&proxies.join(","))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn no_env(_: &str) -> Result<Option<String>> {
        Ok(None)
    }

    /// An environment of its own for each test: the process's is shared by all of them.
    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Result<Option<String>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| Ok(vars.get(name).cloned())
    }

    fn listen_flag(value: Option<&str>) -> [Flag<'_>; 1] {
        [Flag {
            setting: "GATEHOUSE_LISTEN",
            flag: "--listen",
            value,
        }]
    }

    #[test]
    fn a_setting_is_the_flag_else_the_environment_else_the_file_else_the_default() {
        let name = "GATEHOUSE_LISTEN";
        let from_file = || Some("10.0.0.1:1".to_string());
        let get = |vars: &[(&str, &str)], flag: Option<&str>, file: Option<String>| {
            let env = env_of(vars);
            let flags = listen_flag(flag);
            let layers = Layers {
                env: &env,
                flags: &flags,
            };
            layers
                .get(name, file)
                .unwrap()
                .unwrap_or_else(|| "default".to_string())
        };
        assert_eq!(get(&[], None, None), "default");
        assert_eq!(get(&[], None, from_file()), "10.0.0.1:1");
        assert_eq!(
            get(&[(name, "10.0.0.2:2")], None, from_file()),
            "10.0.0.2:2"
        );
        assert_eq!(
            get(&[(name, "10.0.0.2:2")], Some("10.0.0.3:3"), from_file()),
            "10.0.0.3:3"
        );
        assert_eq!(get(&[], Some("10.0.0.3:3"), None), "10.0.0.3:3");
        // A flag belongs to its own setting only.
        let env = no_env;
        let flags = listen_flag(Some("10.0.0.3:3"));
        let layers = Layers {
            env: &env,
            flags: &flags,
        };
        assert_eq!(
            layers
                .get("GATEHOUSE_NODE_NAME", Some("n".to_string()))
                .unwrap(),
            Some("n".to_string())
        );
    }

    #[test]
    fn the_whole_configuration_follows_the_same_order() {
        let file: FileConfig = toml::from_str(
            r#"
            listen = "127.0.0.1:1001"
            trust_days = 7
            node_name = "from-file"
            allow_sign_up = true
            "#,
        )
        .unwrap();
        let env = env_of(&[
            ("GATEHOUSE_LISTEN", "127.0.0.1:1002"),
            ("GATEHOUSE_TRUST_DAYS", " 9 "),
            ("GATEHOUSE_ALLOW_SIGN_UP", "no"),
        ]);
        let flags = listen_flag(Some("127.0.0.1:1003"));
        let config = Config::from_layers(
            file,
            &Layers {
                env: &env,
                flags: &flags,
            },
        )
        .unwrap();
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 1003)));
        assert_eq!(config.trust_days, 9);
        assert_eq!(config.node_name, "from-file");
        assert!(!config.allow_sign_up);
        assert_eq!(config.session_idle_minutes, 60, "the default");

        let defaults = Config::from_layers(
            FileConfig::default(),
            &Layers {
                env: &no_env,
                flags: &listen_flag(None),
            },
        )
        .unwrap();
        assert_eq!(defaults.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(
            defaults.database_url.expose(),
            "sqlite://./gatehouse-data/gatehouse.db"
        );
        assert!(defaults.smtp_url.is_none());
        assert!(matches!(defaults.sms, SmsProvider::Outbox));
    }

    #[test]
    fn a_malformed_value_is_an_error_naming_the_layer_it_came_from() {
        let env = env_of(&[
            ("GATEHOUSE_TRUST_DAYS", "thirty"),
            ("GATEHOUSE_ALLOW_SIGN_UP", "maybe"),
        ]);
        let layers = Layers {
            env: &env,
            flags: &[Flag {
                setting: "GATEHOUSE_SESSION_IDLE_MINUTES",
                flag: "--idle-minutes",
                value: Some("an hour"),
            }],
        };
        let error = |result: Result<Option<i64>>| result.unwrap_err().to_string();
        let trust = error(layers.get("GATEHOUSE_TRUST_DAYS", Some(30)));
        assert!(
            trust.contains("GATEHOUSE_TRUST_DAYS") && trust.contains("thirty"),
            "{trust}"
        );
        let idle = error(layers.get("GATEHOUSE_SESSION_IDLE_MINUTES", None));
        assert!(idle.contains("--idle-minutes"), "{idle}");
        let sign_up = layers
            .get::<bool>("GATEHOUSE_ALLOW_SIGN_UP", None)
            .unwrap_err()
            .to_string();
        assert!(sign_up.contains("GATEHOUSE_ALLOW_SIGN_UP"), "{sign_up}");
    }

    #[test]
    fn an_empty_smtp_url_in_the_environment_turns_a_file_setting_off() {
        let file: FileConfig = toml::from_str("smtp_url = \"smtp://mail.example\"").unwrap();
        let env = env_of(&[("GATEHOUSE_SMTP_URL", "")]);
        let layers = Layers {
            env: &env,
            flags: &[],
        };
        let config = Config::from_layers(file, &layers).unwrap();
        assert!(config.smtp_url.is_none());
    }

    #[test]
    fn a_webhook_address_that_is_not_http_is_refused_without_showing_it() {
        let env = env_of(&[
            ("GATEHOUSE_SMS_PROVIDER", "webhook"),
            ("GATEHOUSE_SMS_WEBHOOK_URL", "hooks.example/sms/hook-secret"),
        ]);
        let layers = Layers {
            env: &env,
            flags: &[],
        };
        let error = sms_provider(&layers, &mut FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("GATEHOUSE_SMS_WEBHOOK_URL"), "{error}");
        assert!(!error.contains("hook-secret"), "{error}");
    }

    #[test]
    fn a_database_url_prints_without_its_password() {
        let url = DatabaseUrl::new("postgres://gatehouse:db-secret@db.example/gatehouse");
        assert_eq!(
            url.to_string(),
            "postgres://gatehouse:***@db.example/gatehouse"
        );
        assert_eq!(
            format!("{url:?}"),
            "\"postgres://gatehouse:***@db.example/gatehouse\""
        );
        assert!(url.expose().contains("db-secret"));
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused() {
        let error = toml::from_str::<FileConfig>("smtp_ulr = \"smtp://mail.example\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("smtp_ulr"), "{error}");
    }

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
        let layers = Layers {
            env: &no_env,
            flags: &[],
        };
        let error = sms_provider(&layers, &mut { file })
            .unwrap_err()
            .to_string();
        assert!(error.contains("GATEHOUSE_SMS_PROVIDER"), "{error}");
        assert!(error.contains("GATEHOUSE_SMS_TWILIO_AUTH_TOKEN"), "{error}");
        assert!(!error.contains("tw-secret"), "{error}");
        let mut file: FileConfig =
            toml::from_str("sms_webhook_url = \"https://hooks.example/sms\"").unwrap();
        let error = sms_provider(&layers, &mut file).unwrap_err().to_string();
        assert!(error.contains("webhook"), "{error}");
        assert!(matches!(
            sms_provider(&layers, &mut FileConfig::default()),
            Ok(SmsProvider::Outbox)
        ));
    }

    fn config_with(public_url: Option<String>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url,
            data_dir: PathBuf::from("data"),
            database_url: DatabaseUrl::new("postgres://gatehouse:db-secret@db.example/gatehouse"),
            smtp_url: Some(Secret::new(
                "smtp://mailer:smtp-secret@mail.example:587".into(),
            )),
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
            sms: SmsProvider::Twilio(TwilioSettings {
                base_url: "https://api.twilio.com".into(),
                account_sid: "AC123".into(),
                auth_token: Secret::new("twilio-secret".into()),
                from: "+15550100".into(),
            }),
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

        let webhook = SmsProvider::Webhook(WebhookSettings {
            url: Secret::new("https://hooks.example/sms/hook-secret".into()),
            token: Some(Secret::new("bearer-secret".into())),
        });
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
