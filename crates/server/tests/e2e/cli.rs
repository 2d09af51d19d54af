//! The admin command line (issue item 5): clear single-line errors, non-zero exits, and
//! nothing changed by a command that failed.

use crate::helpers::binary;
use gatehouse_testkit::{run_cli, ServerOptions};

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    async fn run(&self, args: &[&str], stdin: Option<&str>) -> gatehouse_testkit::CliOutput {
        run_cli(
            binary(),
            self.path(),
            &ServerOptions::default(),
            args,
            stdin,
        )
        .await
    }
}

fn assert_one_line_error(out: &gatehouse_testkit::CliOutput, expected: &str) {
    assert_ne!(out.code, 0, "must fail: {out:?}");
    let lines: Vec<_> = out
        .stderr
        .lines()
        .filter(|l| !l.contains(" INFO "))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one clear line on stderr, got: {:?}",
        out.stderr
    );
    assert!(
        lines[0].contains(expected),
        "{:?} should mention {expected:?}",
        lines[0]
    );
}

#[tokio::test]
async fn an_admin_adds_lists_shows_disables_and_enables_accounts() {
    let cli = Cli::new();
    let out = cli
        .run(
            &[
                "user",
                "add",
                "--email",
                "Ann@Example.com",
                "--password-stdin",
            ],
            Some("a long enough passphrase\n"),
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("\"email\": \"ann@example.com\""),
        "{}",
        out.stdout
    );
    cli.run(
        &[
            "user",
            "add",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        Some("another long passphrase"),
    )
    .await;

    let out = cli.run(&["user", "list"], None).await;
    assert_eq!(out.code, 0);
    let emails: Vec<_> = out
        .stdout
        .lines()
        .map(|l| l.contains("ann@example.com") || l.contains("bob@example.com"))
        .collect();
    assert_eq!(emails, vec![true, true]);

    let out = cli.run(&["user", "disable", "ann@example.com"], None).await;
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("\"disabled\": true"));
    let out = cli.run(&["user", "show", "ANN@example.com"], None).await;
    assert!(out.stdout.contains("\"disabled\": true"));
    let out = cli.run(&["user", "enable", "ann@example.com"], None).await;
    assert!(out.stdout.contains("\"disabled\": false"));
}

#[tokio::test]
async fn bad_arguments_get_one_line_a_non_zero_exit_and_change_nothing() {
    let cli = Cli::new();
    assert_one_line_error(
        &cli.run(
            &["user", "add", "--email", "ann@example.com"],
            Some("passphrase long"),
        )
        .await,
        "--password-stdin",
    );
    assert_one_line_error(&cli.run(&["user", "frobnicate"], None).await, "frobnicate");
    assert_one_line_error(
        &cli.run(&["serve", "--listen", "not-an-address"], None)
            .await,
        "not-an-address",
    );
    assert_one_line_error(
        &cli.run(
            &["user", "add", "--email", "not-an-email", "--password-stdin"],
            Some("passphrase long"),
        )
        .await,
        "invalid email",
    );
    assert_one_line_error(
        &cli.run(
            &[
                "user",
                "add",
                "--email",
                "ann@example.com",
                "--password-stdin",
            ],
            Some(""),
        )
        .await,
        "no password",
    );
    // S1, S2: the refusal says why.
    assert_one_line_error(
        &cli.run(
            &[
                "user",
                "add",
                "--email",
                "ann@example.com",
                "--password-stdin",
            ],
            Some("short"),
        )
        .await,
        "at least 8 characters",
    );
    assert_one_line_error(
        &cli.run(
            &[
                "user",
                "add",
                "--email",
                "ann@example.com",
                "--password-stdin",
            ],
            Some("password1234"),
        )
        .await,
        "too common",
    );
    assert_one_line_error(
        &cli.run(
            &[
                "user",
                "add",
                "--email",
                "ann@example.com",
                "--password-stdin",
            ],
            Some("ann@example.com"),
        )
        .await,
        "email address",
    );
    assert_one_line_error(
        &cli.run(&["user", "show", "nobody@example.com"], None).await,
        "no account",
    );
    // None of it created an account.
    let out = cli.run(&["user", "list"], None).await;
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout.trim(), "");
}

#[tokio::test]
async fn adding_the_same_address_twice_is_refused() {
    let cli = Cli::new();
    let add = |pw: &'static str| {
        cli.run(
            &[
                "user",
                "add",
                "--email",
                "ann@example.com",
                "--password-stdin",
            ],
            Some(pw),
        )
    };
    assert_eq!(add("first long passphrase").await.code, 0);
    assert_one_line_error(&add("second long passphrase").await, "already exists");
}

#[tokio::test]
async fn a_broken_configuration_file_is_named_in_the_error() {
    let cli = Cli::new();
    let file = cli.path().join("gatehouse.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nno_such_setting = 1\n").unwrap();
    let path = file.display().to_string();
    assert_one_line_error(
        &cli.run(&["--config", &path, "migrate"], None).await,
        "no_such_setting",
    );
    std::fs::write(&file, "trust_days = 0\n").unwrap();
    assert_one_line_error(
        &cli.run(&["--config", &path, "migrate"], None).await,
        "trust_days",
    );
    assert_one_line_error(
        &cli.run(&["--config", "/no/such/file.toml", "migrate"], None)
            .await,
        "/no/such/file.toml",
    );
}

#[tokio::test]
async fn migrate_prepares_the_database_and_can_run_twice() {
    let cli = Cli::new();
    for _ in 0..2 {
        let out = cli.run(&["migrate"], None).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stdout.contains("up to date"));
    }
    assert!(cli.path().join("gatehouse.db").exists());
}

#[tokio::test]
async fn a_malformed_environment_setting_is_named_and_nothing_starts() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value, expected) in [
        ("GATEHOUSE_TRUST_DAYS", "thirty", "GATEHOUSE_TRUST_DAYS"),
        (
            "GATEHOUSE_DATABASE_URL",
            "mysql://db/gatehouse",
            "unsupported database URL",
        ),
        ("GATEHOUSE_SMTP_URL", "carrier-pigeon://coop", "SMTP URL"),
        ("GATEHOUSE_PUBLIC_URL", "id.example.com", "public URL"),
        (
            "GATEHOUSE_TRUSTED_PROXIES",
            "10.0.0.0/8, proxy.local",
            "proxy.local",
        ),
        (
            "GATEHOUSE_MAIL_FROM",
            "not an address",
            "GATEHOUSE_MAIL_FROM",
        ),
        ("GATEHOUSE_LOG_FORMAT", "xml", "GATEHOUSE_LOG_FORMAT"),
        (
            "GATEHOUSE_METRICS_LISTEN",
            "9100",
            "GATEHOUSE_METRICS_LISTEN",
        ),
    ] {
        let options = ServerOptions {
            env: vec![(name.into(), value.into())],
            ..Default::default()
        };
        let out = run_cli(binary(), dir.path(), &options, &["migrate"], None).await;
        assert_one_line_error(&out, expected);
    }
    assert!(
        !dir.path().join("gatehouse.db").exists(),
        "nothing was created"
    );
}

#[tokio::test]
async fn a_public_url_that_links_cannot_be_built_on_is_named_and_nothing_starts() {
    let dir = tempfile::tempdir().unwrap();
    for (value, expected) in [
        ("https://id.example/?next=1", "query"),
        ("https://id.example/#top", "fragment"),
        ("ftp://id.example", "https:// or http://"),
        ("https://", "public URL"),
        ("https://ann:hunter2@id.example", "user name or password"),
    ] {
        let options = ServerOptions {
            env: vec![("GATEHOUSE_PUBLIC_URL".into(), value.into())],
            ..Default::default()
        };
        let out = run_cli(binary(), dir.path(), &options, &["migrate"], None).await;
        assert_one_line_error(&out, expected);
        assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    }
    assert!(
        !dir.path().join("gatehouse.db").exists(),
        "nothing was created"
    );
}

#[tokio::test]
async fn sms_provider_settings_without_a_provider_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("GATEHOUSE_SMS_TWILIO_ACCOUNT_SID", "AC123"),
        ("GATEHOUSE_SMS_TWILIO_AUTH_TOKEN", "twilio-secret"),
        ("GATEHOUSE_SMS_WEBHOOK_URL", "https://hooks.example/sms"),
        ("GATEHOUSE_SMS_WEBHOOK_TOKEN", "webhook-secret"),
    ] {
        let options = ServerOptions {
            env: vec![(name.into(), value.into())],
            ..Default::default()
        };
        let out = run_cli(binary(), dir.path(), &options, &["migrate"], None).await;
        assert_one_line_error(&out, "GATEHOUSE_SMS_PROVIDER");
        assert!(out.stderr.contains(name), "{}", out.stderr);
        assert!(!out.stderr.contains("secret"), "{}", out.stderr);
    }
    // The same in the file.
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(&file, "sms_twilio_auth_token = \"twilio-secret\"\n").unwrap();
    let path = file.display().to_string();
    let out = run_cli(
        binary(),
        dir.path(),
        &ServerOptions::default(),
        &["--config", &path, "migrate"],
        None,
    )
    .await;
    assert_one_line_error(&out, "GATEHOUSE_SMS_PROVIDER");
    assert!(
        !dir.path().join("gatehouse.db").exists(),
        "nothing was created"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_setting_that_is_not_unicode_is_named_and_nothing_starts() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(binary())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GATEHOUSE_DATA_DIR", dir.path())
        .env(
            "GATEHOUSE_TRUST_DAYS",
            std::ffi::OsStr::from_bytes(b"3\xff"),
        )
        .arg("migrate")
        .output()
        .await
        .unwrap();
    let out = gatehouse_testkit::CliOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_one_line_error(&out, "GATEHOUSE_TRUST_DAYS");
    assert!(
        !dir.path().join("gatehouse.db").exists(),
        "nothing was created"
    );
}

/// `client add` prints the id and the secret once; `client list` never shows a secret;
/// `client remove` makes the product unknown to the provider.
#[tokio::test]
async fn an_admin_registers_lists_and_removes_products() {
    let cli = Cli::new();
    let out = cli
        .run(
            &[
                "client",
                "add",
                "--name",
                "Notes",
                "--redirect-uri",
                "https://notes.example/callback",
                "--post-logout-redirect-uri",
                "https://notes.example/",
            ],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let added: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let id = added["client_id"].as_str().unwrap().to_string();
    let secret = added["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "a 256-bit secret");
    assert_eq!(added["signing_alg"], "RS256");
    assert_eq!(added["public"], false);

    let public = cli
        .run(
            &[
                "client",
                "add",
                "--name",
                "Desktop",
                "--public",
                "--signing-alg",
                "EdDSA",
                "--redirect-uri",
                "http://127.0.0.1:53682/callback",
            ],
            None,
        )
        .await;
    assert_eq!(public.code, 0, "{public:?}");
    let public: serde_json::Value = serde_json::from_str(public.stdout.trim()).unwrap();
    assert!(
        public.get("client_secret").is_none(),
        "a public client has no secret"
    );

    let list = cli.run(&["client", "list"], None).await;
    assert_eq!(list.code, 0, "{list:?}");
    assert_eq!(list.stdout.lines().count(), 2);
    assert!(
        !list.stdout.contains(secret),
        "the secret is shown once only"
    );
    assert!(list.stdout.contains(&id));

    let removed = cli.run(&["client", "remove", &id], None).await;
    assert_eq!(removed.code, 0, "{removed:?}");
    let list = cli.run(&["client", "list"], None).await;
    assert!(!list.stdout.contains(&id));
    let again = cli.run(&["client", "remove", &id], None).await;
    assert_one_line_error(&again, "no client has this id");
}

#[tokio::test]
async fn bad_product_registrations_get_one_line_and_store_nothing() {
    let cli = Cli::new();
    for (args, expected) in [
        (
            vec!["--name", "N", "--redirect-uri", "http://notes.example/cb"],
            "https",
        ),
        (
            vec![
                "--name",
                "N",
                "--redirect-uri",
                "https://notes.example/cb#frag",
            ],
            "fragment",
        ),
        (vec!["--name", "N", "--redirect-uri", "/cb"], "absolute"),
        (vec!["--name", "N"], "--redirect-uri"),
        (
            vec![
                "--name",
                "N",
                "--redirect-uri",
                "https://notes.example/cb",
                "--signing-alg",
                "HS256",
            ],
            "RS256, ES256 or EdDSA",
        ),
        (
            vec!["--name", " ", "--redirect-uri", "https://notes.example/cb"],
            "name",
        ),
    ] {
        let mut full = vec!["client", "add"];
        full.extend(args.iter().copied());
        let out = cli.run(&full, None).await;
        assert_one_line_error(&out, expected);
    }
    let list = cli.run(&["client", "list"], None).await;
    assert_eq!(list.code, 0, "{list:?}");
    assert_eq!(list.stdout.trim(), "", "nothing was registered");
}

/// S42: `keys rotate` adds a new key per algorithm and prints their ids.
#[tokio::test]
async fn rotating_keys_prints_three_new_key_ids() {
    let cli = Cli::new();
    let out = cli.run(&["keys", "rotate"], None).await;
    assert_eq!(out.code, 0, "{out:?}");
    let rotated: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let first: Vec<_> = rotated["new_key_ids"].as_array().unwrap().clone();
    assert_eq!(first.len(), 3);
    let again = cli.run(&["keys", "rotate"], None).await;
    let second: serde_json::Value = serde_json::from_str(again.stdout.trim()).unwrap();
    assert!(second["new_key_ids"]
        .as_array()
        .unwrap()
        .iter()
        .all(|kid| !first.contains(kid)));
}

#[tokio::test]
async fn serving_https_without_smtp_needs_the_outbox_allowed_and_the_demo_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let https = (
        "GATEHOUSE_PUBLIC_URL".to_string(),
        "https://id.example".to_string(),
    );
    let options = ServerOptions {
        env: vec![https.clone()],
        ..Default::default()
    };
    // Nobody would receive a code: one line naming both ways out, and nothing created.
    let out = run_cli(binary(), dir.path(), &options, &["serve"], None).await;
    assert_one_line_error(&out, "GATEHOUSE_ALLOW_OUTBOX");
    assert!(out.stderr.contains("GATEHOUSE_SMTP_URL"), "{}", out.stderr);
    assert!(
        !dir.path().join("gatehouse.db").exists(),
        "nothing was created"
    );

    let allowed = gatehouse_testkit::TestServer::start(
        binary(),
        ServerOptions {
            env: vec![
                https.clone(),
                ("GATEHOUSE_ALLOW_OUTBOX".into(), "true".into()),
            ],
            ..Default::default()
        },
    )
    .await;
    assert!(allowed.base_url.starts_with("http://"));
    let demo = gatehouse_testkit::TestServer::start(
        binary(),
        ServerOptions {
            command: Some("demo"),
            env: vec![https],
            ..Default::default()
        },
    )
    .await;
    assert!(demo.output().contains("demo email"), "{}", demo.output());
}
