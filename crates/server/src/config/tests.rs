use super::layers::env_value;
use super::*;
use std::collections::HashMap;
use std::env::VarError;

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
        event_retention_days: 400,
        recovery_wait_hours: 72,
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
        log_format: LogFormat::Text,
        metrics_listen: None,
        header_read_timeout_secs: 30,
        request_timeout_secs: 30,
        max_connections: 1024,
        allow_outbox: false,
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

#[test]
fn log_format_is_text_unless_json_is_asked_for_and_anything_else_is_refused() {
    assert_eq!(from_env(&[]).unwrap().log_format, LogFormat::Text);
    let json = from_env(&[("GATEHOUSE_LOG_FORMAT", "json")]).unwrap();
    assert_eq!(json.log_format, LogFormat::Json);
    let error = from_env(&[("GATEHOUSE_LOG_FORMAT", "xml")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("GATEHOUSE_LOG_FORMAT") && error.contains("xml"),
        "{error}"
    );
}

#[test]
fn metrics_are_off_unless_given_their_own_address() {
    assert_eq!(from_env(&[]).unwrap().metrics_listen, None);
    assert_eq!(
        from_env(&[("GATEHOUSE_METRICS_LISTEN", "127.0.0.1:9100")])
            .unwrap()
            .metrics_listen,
        Some(SocketAddr::from(([127, 0, 0, 1], 9100)))
    );
    let error = from_env(&[("GATEHOUSE_METRICS_LISTEN", "9100")])
        .unwrap_err()
        .to_string();
    assert!(error.contains("GATEHOUSE_METRICS_LISTEN"), "{error}");
    // The public address is never the metrics address.
    let error = from_env(&[("GATEHOUSE_METRICS_LISTEN", "127.0.0.1:8080")])
        .unwrap_err()
        .to_string();
    assert!(error.contains("must differ"), "{error}");
}

fn from_env(vars: &[(&str, &str)]) -> Result<Config> {
    let env = env_of(vars);
    Config::from_layers(
        FileConfig::default(),
        &Layers {
            env: &env,
            flags: &listen_flag(None),
        },
    )
}

#[test]
fn connection_limits_default_to_30_seconds_and_1024_connections() {
    // S57.
    let defaults = from_env(&[]).unwrap();
    let limits = defaults.serving_limits();
    assert_eq!(
        limits.header_read_timeout,
        std::time::Duration::from_secs(30)
    );
    assert_eq!(limits.request_timeout, std::time::Duration::from_secs(30));
    assert_eq!(limits.max_connections, 1024);
    let set = from_env(&[
        ("GATEHOUSE_HEADER_READ_TIMEOUT_SECS", "2"),
        ("GATEHOUSE_REQUEST_TIMEOUT_SECS", "5"),
        ("GATEHOUSE_MAX_CONNECTIONS", "4"),
    ])
    .unwrap()
    .serving_limits();
    assert_eq!(
        (
            set.header_read_timeout.as_secs(),
            set.request_timeout.as_secs(),
            set.max_connections
        ),
        (2, 5, 4)
    );
    for name in [
        "GATEHOUSE_HEADER_READ_TIMEOUT_SECS",
        "GATEHOUSE_REQUEST_TIMEOUT_SECS",
        "GATEHOUSE_MAX_CONNECTIONS",
    ] {
        let error = from_env(&[(name, "0")]).unwrap_err().to_string();
        assert!(error.contains(name), "{error}");
    }
}

#[test]
fn serving_https_without_smtp_needs_the_outbox_allowed() {
    let mut config = config_with(Some("https://id.example".into()));
    config.smtp_url = None;
    let error = config
        .check_mail_delivery_for_serving()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("GATEHOUSE_SMTP_URL") && error.contains("GATEHOUSE_ALLOW_OUTBOX"),
        "names both settings: {error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");
    config.allow_outbox = true;
    assert!(config.check_mail_delivery_for_serving().is_ok());
    // Plain http (a trial on one's own machine) and a configured SMTP server are fine.
    assert!(config_with(Some("https://id.example".into()))
        .check_mail_delivery_for_serving()
        .is_ok());
    let mut local = config_with(None);
    local.smtp_url = None;
    assert!(local.check_mail_delivery_for_serving().is_ok());
    let allowed = from_env(&[("GATEHOUSE_ALLOW_OUTBOX", "true")]).unwrap();
    assert!(allowed.allow_outbox);
    assert!(!from_env(&[]).unwrap().allow_outbox, "off by default");
}

#[test]
fn the_recovery_wait_is_72_hours_unless_set_and_junk_is_refused_by_name() {
    let load = |file: &str, pairs: &[(&str, &str)]| {
        let env = env_of(pairs);
        Config::from_layers(
            toml::from_str(file).unwrap(),
            &Layers {
                env: &env,
                flags: &listen_flag(None),
            },
        )
    };
    assert_eq!(load("", &[]).unwrap().recovery_wait_hours, 72);
    assert_eq!(
        load("recovery_wait_hours = 24", &[])
            .unwrap()
            .recovery_wait_hours,
        24
    );
    assert_eq!(
        load(
            "recovery_wait_hours = 24",
            &[("GATEHOUSE_RECOVERY_WAIT_HOURS", "96")]
        )
        .unwrap()
        .recovery_wait_hours,
        96
    );
    for junk in ["three days", "-1", "0", "721", "1.5"] {
        let error = load("", &[("GATEHOUSE_RECOVERY_WAIT_HOURS", junk)])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("GATEHOUSE_RECOVERY_WAIT_HOURS"),
            "{junk:?}: {error}"
        );
    }
}
