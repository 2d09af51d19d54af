//! The command line (DESIGN.md §4). Bad input gets one clear line on stderr and a non-zero
//! exit, and changes nothing.

use crate::config::Config;
use crate::startup::Application;
use anyhow::{Context, Result};
use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use gatehouse_app::accounts::{AccountError, AccountSummary};
use gatehouse_app::oidc::clients::{ClientRegistration, ClientSummary};
use gatehouse_app::recovery::{LinkDelivery, RecoveryError};
use gatehouse_app::risk::Risk;
use gatehouse_core::display::format_utc;
use gatehouse_core::jose::SigningAlgorithm;
use gatehouse_core::oidc::RedirectUri;
use gatehouse_delivery::OutboxMode;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse: a self-hosted sign-in service"
)]
pub struct Cli {
    /// A TOML configuration file (settings there are overridden by GATEHOUSE_* variables).
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve sign-in pages.
    Serve {
        /// IP:PORT to listen on (default 127.0.0.1:8080; port 0 picks a free one).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Serve, with a demo account ready to sign in to, a demo product that signs in
    /// through Gatehouse, and mail printed on the console.
    Demo {
        #[arg(long)]
        listen: Option<String>,
        /// IP:PORT for the demo product (default 127.0.0.1:8081, or a free port when
        /// Gatehouse itself listens on port 0).
        #[arg(long, env = "GATEHOUSE_DEMO_PRODUCT_LISTEN")]
        product_listen: Option<String>,
    },
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Write a consistent copy of the SQLite database to PATH while the server runs (never
    /// over an existing file). For PostgreSQL use pg_dump (docs/deploy.md).
    Backup { path: PathBuf },
    /// With the server stopped: put a backup in place of the database, then end every
    /// session, trusted device, code, sign-in in progress and product token in it (S54).
    Restore {
        /// A file `gatehouse backup` wrote (SQLite).
        #[arg(
            required_unless_present = "after_pg_restore",
            conflicts_with = "after_pg_restore"
        )]
        path: Option<PathBuf>,
        /// PostgreSQL: the database was just restored with pg_restore; only migrate it and
        /// end everything in it, as a restore from a file does.
        #[arg(long)]
        after_pg_restore: bool,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage products that sign people in over OpenID Connect.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Manage the ID-token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Reports for operators.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Accounts at risk of being locked out, one JSON object per line ({"email": ..., "risks":
    /// [...]}, risks no_backup_code, email_codes_only, mail_bouncing, locked,
    /// trusted_devices_stale); a summary line on stderr.
    Risk,
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a product; prints its client id (and secret, shown once) as JSON.
    Add(ClientArgs),
    /// List products as JSON lines (never their secrets).
    List,
    /// Remove a product and revoke every token it holds.
    Remove { client_id: String },
}

/// `client add`'s arguments: exactly a registration, with no fixed id.
#[derive(Debug, clap::Args)]
struct ClientArgs {
    #[arg(long)]
    name: String,
    /// Where Gatehouse may send people back with a code (exact match; repeatable).
    #[arg(long = "redirect-uri", required = true, value_parser = parse_redirect_uri)]
    redirect_uris: Vec<String>,
    /// Where the product may send people after signing out (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_parser = parse_redirect_uri)]
    post_logout_redirect_uris: Vec<String>,
    /// A public client (single-page or desktop app): no secret, PKCE required.
    #[arg(long)]
    public: bool,
    /// A product not run by this Gatehouse's operators: people are asked to allow it.
    #[arg(long)]
    third_party: bool,
    /// The ID-token signature: RS256 (default), ES256 or EdDSA.
    #[arg(long, default_value = "RS256", value_parser = parse_signing_alg)]
    signing_alg: SigningAlgorithm,
}

impl From<ClientArgs> for ClientRegistration {
    fn from(args: ClientArgs) -> Self {
        Self {
            name: args.name,
            redirect_uris: args.redirect_uris,
            post_logout_redirect_uris: args.post_logout_redirect_uris,
            public: args.public,
            third_party: args.third_party,
            signing_alg: args.signing_alg,
            id: None,
        }
    }
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a new signing key per algorithm; the old ones stay published until their
    /// tokens expire.
    Rotate,
}

/// Checked while parsing, so a bad URI is a usage error that touches nothing.
fn parse_redirect_uri(text: &str) -> Result<String, String> {
    RedirectUri::parse(text)
        .map(|uri| uri.as_str().to_string())
        .map_err(|reason| reason.to_string())
}

fn parse_signing_alg(text: &str) -> Result<SigningAlgorithm, String> {
    SigningAlgorithm::parse(text).ok_or_else(|| "must be RS256, ES256 or EdDSA".to_string())
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account; the password is read from standard input.
    Add {
        #[arg(long)]
        email: String,
        /// Read the password from standard input (the only way, so it stays out of the
        /// shell history and the process list).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List all accounts as JSON lines.
    List,
    /// Show one account as JSON.
    Show { email: String },
    /// Disable an account: its sessions, trusted devices and sign-ins end at once.
    Disable { email: String },
    /// Enable an account again (also unlocks it after too many failed sign-ins).
    Enable { email: String },
    /// Emergency path: remove the authenticator app and phone at once, with no waiting
    /// period (prefer `user recover`).
    ///
    /// For someone who lost them and their backup code and cannot wait: sign-ins e-mail a
    /// code again; trusted devices are revoked; the owner is told.
    ResetSecondFactor { email: String },
    /// Helpdesk recovery with a notice and a wait: start it, issue its link (--link) or
    /// cancel it (--cancel).
    ///
    /// For someone who lost their second factor and their backup code. `user recover E` starts it and e-mails the owner a link to
    /// cancel it; once the waiting period (GATEHOUSE_RECOVERY_WAIT_HOURS, 72 by default) is
    /// over, `user recover --link E` prints a single-use recovery link to hand over (the
    /// owner is told), or `--link --send` mails it to the address; `--cancel` stops it.
    Recover(RecoverArgs),
}

#[derive(Debug, clap::Args)]
struct RecoverArgs {
    email: String,
    /// Stop the pending recovery (the owner is told).
    #[arg(long, conflicts_with_all = ["link", "send"])]
    cancel: bool,
    /// After the wait: issue the recovery link (valid 24 hours, used once; a new one
    /// replaces the old) and print it to hand over in person.
    #[arg(long)]
    link: bool,
    /// With --link: mail the link to the account's address instead of printing it.
    #[arg(long, requires = "link")]
    send: bool,
}

/// The demo account `gatehouse demo` creates.
const DEMO_EMAIL: &str = "demo@example.com";
const DEMO_PASSWORD: &str = "violet-anchor-river-42";

/// Parses the command line; usage errors become one line and exit code 2.
pub fn parse() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|error| match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            // clap explains over several lines; keep the explanation (before the usage) on one.
            let rendered = error.render().to_string();
            let explanation: Vec<&str> = rendered
                .lines()
                .take_while(|line| !line.trim().is_empty() && !line.starts_with("Usage:"))
                .map(str::trim)
                .collect();
            let text = explanation.join(" ");
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprintln!("gatehouse: {text} (see gatehouse --help)");
            ExitCode::from(2)
        }
    })
}

pub fn fail(message: &str) -> ExitCode {
    eprintln!("gatehouse: {message}");
    ExitCode::FAILURE
}

/// Logging starts in `Application::build`, once the configuration says in which format.
pub async fn run(cli: Cli) -> ExitCode {
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&format!("{error:#}")),
    }
}

async fn execute(cli: Cli) -> Result<()> {
    let config_file = cli.config.as_deref();
    match cli.command {
        Command::Serve { listen } => {
            let config = Config::load(config_file, listen.as_deref())?;
            config.check_mail_delivery_for_serving()?;
            Application::build(config, OutboxMode::Quiet)
                .await?
                .run()
                .await
        }
        Command::Demo {
            listen,
            product_listen,
        } => {
            let config = Config::load(config_file, listen.as_deref())?;
            let product_listen = match product_listen {
                Some(text) => Some(text.parse().map_err(|_| {
                    anyhow::anyhow!("--product-listen must be IP:PORT, got {text:?}")
                })?),
                None => None,
            };
            let mode = if config.smtp_url.is_some() {
                OutboxMode::Quiet
            } else {
                OutboxMode::PrintToConsole
            };
            let app = Application::build(config, mode).await?;
            ensure_demo_account(&app).await?;
            app.run_demo(product_listen).await
        }
        Command::Client { command } => {
            let config = Config::load(config_file, None)?;
            let app = Application::build(config, OutboxMode::Quiet).await?;
            client_command(&app, command).await
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let config = Config::load(config_file, None)?;
            let app = Application::build(config, OutboxMode::Quiet).await?;
            app.gatehouse.ensure_signing_keys().await?;
            let kids = app.gatehouse.rotate_signing_keys().await?;
            println!("{}", serde_json::json!({ "new_key_ids": kids }));
            Ok(())
        }
        Command::Report {
            command: ReportCommand::Risk,
        } => {
            let config = Config::load(config_file, None)?;
            let app = Application::build(config, OutboxMode::Quiet).await?;
            risk_report(&app).await
        }
        Command::Backup { path } => {
            crate::backup::backup(&Config::load(config_file, None)?, &path).await
        }
        Command::Restore { path, .. } => {
            crate::backup::restore(&Config::load(config_file, None)?, path.as_deref()).await
        }
        Command::Migrate => {
            let config = Config::load(config_file, None)?;
            Application::build(config, OutboxMode::Quiet).await?;
            println!("database schema is up to date");
            Ok(())
        }
        Command::User { command } => {
            let config = Config::load(config_file, None)?;
            // Read the password before touching the database, so a missing one changes nothing.
            let password = match &command {
                UserCommand::Add { .. } => Some(read_password_from_stdin()?),
                _ => None,
            };
            let app = Application::build(config, OutboxMode::Quiet).await?;
            user_command(&app, command, password).await
        }
    }
}

async fn user_command(
    app: &Application,
    command: UserCommand,
    password: Option<String>,
) -> Result<()> {
    let gatehouse = &app.gatehouse;
    let summary = match command {
        UserCommand::Add { email, .. } => gatehouse
            .add_account(&email, password.as_deref().unwrap_or_default())
            .await
            .map_err(explain)?,
        UserCommand::List => {
            for account in gatehouse.list_accounts().await.map_err(explain)? {
                println!("{}", serde_json::to_string(&account)?);
            }
            return Ok(());
        }
        UserCommand::Show { email } => gatehouse.show_account(&email).await.map_err(explain)?,
        UserCommand::Disable { email } => {
            gatehouse.disable_account(&email).await.map_err(explain)?
        }
        UserCommand::Enable { email } => gatehouse.enable_account(&email).await.map_err(explain)?,
        UserCommand::ResetSecondFactor { email } => {
            let summary = gatehouse
                .reset_second_factor(&email)
                .await
                .map_err(explain)?;
            eprintln!(
                "gatehouse: emergency path: the second factor was removed at once, with no waiting \
                 period; `gatehouse user recover {email}` tells the owner first and gives them time to object"
            );
            summary
        }
        UserCommand::Recover(args) => return recover_command(gatehouse, args).await,
    };
    print_account(&summary)
}

/// `user recover`: start, cancel, or issue the link. Prints one JSON object; the link only
/// with `--link` without `--send`, where handing it over is the operator's job.
async fn recover_command(gatehouse: &gatehouse_app::Gatehouse, args: RecoverArgs) -> Result<()> {
    let explain = |error: RecoveryError| anyhow::anyhow!("{error}");
    let email = args.email.as_str();
    let json = if args.cancel {
        gatehouse
            .cancel_recovery_as_operator(email)
            .await
            .map_err(explain)?;
        eprintln!("gatehouse: the recovery was cancelled and the owner told");
        serde_json::json!({ "email": email, "recovery_cancelled": true })
    } else if args.link {
        let delivery = if args.send {
            LinkDelivery::Mail
        } else {
            LinkDelivery::Print
        };
        let issued = gatehouse
            .issue_recovery_link(email, delivery)
            .await
            .map_err(explain)?;
        match &issued.link {
            Some(link) => {
                eprintln!("gatehouse: hand this link to the person in person; it works once, until {}, and the owner's address was told it was issued", format_utc(issued.expires_at));
                serde_json::json!({ "email": issued.email, "recovery_link": link, "expires_at": issued.expires_at })
            }
            None => {
                eprintln!("gatehouse: the recovery link was mailed to the account's address");
                serde_json::json!({ "email": issued.email, "recovery_link_sent": true, "expires_at": issued.expires_at })
            }
        }
    } else {
        let pending = gatehouse.start_recovery(email).await.map_err(explain)?;
        eprintln!(
            "gatehouse: the owner was sent a link to cancel; from {} run `gatehouse user recover --link {email}` (or `--link --send`)",
            format_utc(pending.ready_at)
        );
        serde_json::json!({ "email": email, "pending_recovery": pending })
    };
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

/// `report risk`: one JSON line per account at risk on stdout, then the summary on stderr.
async fn risk_report(app: &Application) -> Result<()> {
    let report = app.gatehouse.risk_report().await?;
    for account in &report.accounts {
        println!("{}", serde_json::to_string(account)?);
    }
    let counts: Vec<String> = Risk::ALL
        .iter()
        .map(|risk| format!("{} {}", risk.as_str(), report.count(*risk)))
        .collect();
    eprintln!(
        "risk report: {} of {} accounts at risk ({})",
        report.accounts.len(),
        report.checked,
        counts.join(", ")
    );
    Ok(())
}

async fn client_command(app: &Application, command: ClientCommand) -> Result<()> {
    let gatehouse = &app.gatehouse;
    match command {
        ClientCommand::Add(args) => {
            let registered = gatehouse
                .register_client(args.into(), false)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut json = client_json(&registered.client);
            if let (Some(secret), Some(fields)) = (&registered.secret, json.as_object_mut()) {
                fields.insert("client_secret".into(), secret.as_str().into());
            }
            println!("{json}");
        }
        ClientCommand::List => {
            for client in gatehouse.list_clients().await? {
                println!("{}", client_json(&client));
            }
        }
        ClientCommand::Remove { client_id } => {
            gatehouse
                .remove_client(&client_id)
                .await
                .map_err(|e| anyhow::anyhow!("{e}: {client_id}"))?;
            println!("{}", serde_json::json!({ "removed": client_id }));
        }
    }
    Ok(())
}

fn client_json(client: &ClientSummary) -> serde_json::Value {
    serde_json::json!({
        "client_id": client.id,
        "name": client.name,
        "public": client.public,
        "third_party": client.third_party,
        "signing_alg": client.signing_alg,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
    })
}

fn print_account(summary: &AccountSummary) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(summary)?);
    Ok(())
}

fn explain(error: AccountError) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}

/// The password is the first line of standard input, without its line ending.
fn read_password_from_stdin() -> Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut input)
        .context("cannot read the password from standard input")?;
    let password = input.lines().next().unwrap_or_default().to_string();
    if password.is_empty() {
        anyhow::bail!("no password on standard input (pipe it in, for example: echo \"$PW\" | gatehouse user add --email E --password-stdin)");
    }
    Ok(password)
}

async fn ensure_demo_account(app: &Application) -> Result<()> {
    match app.gatehouse.add_account(DEMO_EMAIL, DEMO_PASSWORD).await {
        Ok(_) | Err(AccountError::AlreadyExists) => {}
        Err(other) => return Err(anyhow::anyhow!("cannot create the demo account: {other}")),
    }
    println!("demo email: {DEMO_EMAIL}");
    println!("demo password: {DEMO_PASSWORD}");
    if app.sends_mail_over_smtp() {
        println!("Sign-in codes are sent to the configured SMTP server.");
    } else {
        println!("Sign-in codes are printed here (no SMTP server is configured) and saved in the outbox folder.");
    }
    Ok(())
}
