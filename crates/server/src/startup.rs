//! Building and running Gatehouse. `Application::build` connects, migrates and wires
//! everything; `run` serves until a shutdown signal. The seam lets the CLI commands reuse
//! the build without serving.

use crate::config::{Config, SmsProvider};
use anyhow::{Context, Result};
use gatehouse_app::oidc::clients::ClientRegistration;
use gatehouse_app::{Gatehouse, Settings, SystemClock};
use gatehouse_core::jose::SigningAlgorithm;
use gatehouse_core::keys::MASTER_KEY_BYTES;
use gatehouse_core::MasterKey;
use gatehouse_delivery::{Mailer, OutboxMode, SmsSender};
use gatehouse_store::Store;
use gatehouse_web::CookiePolicy;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub struct Application {
    pub gatehouse: Gatehouse,
    config: Config,
}

impl Application {
    /// Connects to the database, brings the schema up to date and wires the use cases.
    pub async fn build(config: Config, outbox_mode: OutboxMode) -> Result<Self> {
        crate::logging::init(config.log_format);
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data folder {}",
                config.data_dir.display()
            )
        })?;
        // Settings that can be checked without side effects come first, so a bad one
        // stops the start before the database or the key file is touched.
        let mailer = match &config.smtp_url {
            Some(url) => Mailer::smtp(url.expose(), &config.mail_from)?,
            None => Mailer::outbox(
                config.data_dir.join("outbox"),
                &config.mail_from,
                outbox_mode,
            )?,
        };
        let sms = match &config.sms {
            SmsProvider::Outbox => SmsSender::outbox(config.data_dir.join("outbox"), outbox_mode)?,
            SmsProvider::Twilio(settings) => SmsSender::twilio(settings.clone())?,
            SmsProvider::Webhook(settings) => SmsSender::webhook(settings.clone())?,
        };
        let store = Store::connect(config.database_url.expose())
            .await
            .with_context(|| format!("cannot open the database {}", config.database_url))?;
        store
            .migrate()
            .await
            .context("cannot bring the database schema up to date")?;
        let keys = load_or_create_master_key(&config.master_key_file)?;
        let settings = Settings {
            session_absolute_secs: config.session_absolute_hours * 3600,
            session_idle_secs: config.session_idle_minutes * 60,
            trust_days: config.trust_days,
            event_retention_days: config.event_retention_days,
            recovery_wait_secs: config.recovery_wait_hours * 3600,
            backup_codes_per_account: config.backup_codes_per_account,
            codes_per_account_per_hour: config.codes_per_account_per_hour,
            node_name: config.node_name.clone(),
            public_url: config.public_url.clone(),
            allow_sign_up: config.allow_sign_up,
            sms_per_number_per_hour: config.sms_per_number_per_hour,
            sms_per_client_per_hour: config.sms_per_client_per_hour,
            sms_per_day: config.sms_per_day,
            ..Settings::default()
        };
        let gatehouse =
            Gatehouse::build(store, mailer, sms, Arc::new(SystemClock), keys, settings).await?;
        Ok(Self { gatehouse, config })
    }

    pub fn sends_mail_over_smtp(&self) -> bool {
        self.config.smtp_url.is_some()
    }

    /// Serves until SIGINT or SIGTERM, then lets requests in flight finish.
    pub async fn run(self) -> Result<()> {
        self.serve(None).await
    }

    /// `gatehouse demo`: serves, and beside it the demo product, registered as the client
    /// `demo-product` with its current address and a fresh secret.
    pub async fn run_demo(self, product_listen: Option<SocketAddr>) -> Result<()> {
        let product_listen = product_listen.unwrap_or_else(|| {
            let port = if self.config.listen.port() == 0 {
                0
            } else {
                8081
            };
            SocketAddr::from(([127, 0, 0, 1], port))
        });
        self.serve(Some(product_listen)).await
    }

    async fn serve(self, demo_product: Option<SocketAddr>) -> Result<()> {
        let listener = tokio::net::TcpListener::bind(self.config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.config.listen))?;
        let address = listener.local_addr()?;
        self.gatehouse.use_listen_address(address);
        // Made in the background: an RSA key takes longer than a first request should wait,
        // and the first token or JWKS request that finds none makes them itself.
        let keys_for = self.gatehouse.clone();
        tokio::spawn(async move {
            if let Err(error) = keys_for.ensure_signing_keys().await {
                tracing::error!(%error, "cannot prepare the ID-token signing keys");
            }
        });
        if let Some(product_address) = demo_product {
            self.start_demo_product(product_address).await?;
        }
        let cookies = CookiePolicy {
            secure: self.config.serves_https(),
        };
        let router = gatehouse_web::router(
            self.gatehouse.clone(),
            cookies,
            self.config.public_origin(),
            self.config.trusted_proxies.clone(),
        );
        spawn_housekeeping(self.gatehouse.clone());
        crate::metrics_server::start(self.config.metrics_listen).await?;
        // Tests and scripts wait for this exact line (DESIGN.md §4).
        println!("listening on http://{address}");
        let _ = std::io::stdout().flush();
        tracing::info!(%address, "Gatehouse is ready");
        crate::serving::serve(
            listener,
            router,
            self.config.serving_limits(),
            shutdown_signal(),
        )
        .await;
        self.gatehouse.store().close().await;
        tracing::info!("Gatehouse stopped");
        Ok(())
    }
}

impl Application {
    async fn start_demo_product(&self, address: SocketAddr) -> Result<()> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} for the demo product"))?;
        let product_url = format!("http://{}", listener.local_addr()?);
        let registered = self
            .gatehouse
            .register_client(
                ClientRegistration {
                    name: DEMO_PRODUCT_NAME.into(),
                    redirect_uris: vec![gatehouse_demo_product::redirect_uri(&product_url)],
                    post_logout_redirect_uris: vec![
                        gatehouse_demo_product::post_logout_redirect_uri(&product_url),
                    ],
                    public: false,
                    third_party: false,
                    signing_alg: SigningAlgorithm::Rs256,
                    id: Some(DEMO_PRODUCT_CLIENT_ID.into()),
                },
                true,
            )
            .await
            .map_err(|e| anyhow::anyhow!("cannot register the demo product: {e}"))?;
        let secret = registered
            .secret
            .context("the demo product is a confidential client")?;
        let config = gatehouse_demo_product::DemoProductConfig {
            name: DEMO_PRODUCT_NAME.into(),
            issuer: self.gatehouse.issuer(),
            client_id: DEMO_PRODUCT_CLIENT_ID.into(),
            client_secret: secret.as_str().to_string(),
            public_url: product_url.clone(),
        };
        tokio::spawn(async move {
            let shutdown = std::future::pending::<()>();
            if let Err(error) = gatehouse_demo_product::serve(listener, config, shutdown).await {
                tracing::error!(%error, "the demo product stopped");
            }
        });
        println!("demo product at {product_url}");
        println!(
            "Start there: \"Sign in with Gatehouse\" takes you through the whole journey (sign in, code, backup code, and back). Gatehouse's own pages: {}/sign-in",
            self.gatehouse.issuer()
        );
        Ok(())
    }
}

const DEMO_PRODUCT_NAME: &str = "Demo product";
const DEMO_PRODUCT_CLIENT_ID: &str = "demo-product";

/// The master key file holds 32 random bytes, readable by the owner only. It is created on
/// first start; with several nodes, every node must be given the same file.
fn load_or_create_master_key(path: &Path) -> Result<MasterKey> {
    match std::fs::read(path) {
        Ok(bytes) => master_key_from(path, &bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create_master_key(path),
        Err(error) => Err(error)
            .with_context(|| format!("cannot read the master key file {}", path.display())),
    }
}

fn master_key_from(path: &Path, bytes: &[u8]) -> Result<MasterKey> {
    MasterKey::from_bytes(bytes).with_context(|| {
        format!(
            "master key file {} must hold exactly {MASTER_KEY_BYTES} bytes",
            path.display()
        )
    })
}

/// Writes a fresh key to a temporary file beside `path`, then links it to `path`: the name
/// appears only once the file is complete and on disk, so a node starting at the same moment
/// finds either no file or the whole key, never an empty one. The first link wins; a node
/// that loses reads the winner's key.
fn create_master_key(path: &Path) -> Result<MasterKey> {
    let context = || format!("cannot create the master key file {}", path.display());
    let key = MasterKey::generate();
    let temp = write_temporary_beside(path, &key.to_bytes()).with_context(context)?;
    let linked = std::fs::hard_link(&temp, path);
    // The key lives on under `path`, or was not wanted: the temporary name goes either way.
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            sync_folder_of(path);
            tracing::info!(path = %path.display(), "created a new master key");
            Ok(key)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the master key file {}", path.display()))?;
            master_key_from(path, &bytes)
        }
        Err(error) => Err(error).with_context(context),
    }
}

/// Writes `bytes` to a new file in the folder of `path` (a hard link cannot cross file
/// systems), readable by the owner only and synced to the disk, and returns its name. A
/// name already taken, by another node or thread, is never reused: the next one is tried.
fn write_temporary_beside(path: &Path, bytes: &[u8]) -> std::io::Result<std::path::PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    for attempt in 0..100u32 {
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}-{stamp}-{attempt}.tmp", std::process::id()));
        let temp = path.with_file_name(temp_name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&temp) {
            Ok(mut file) => {
                let written = file.write_all(bytes).and_then(|()| file.sync_all());
                return match written {
                    Ok(()) => Ok(temp),
                    Err(error) => {
                        let _ = std::fs::remove_file(&temp);
                        Err(error)
                    }
                };
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "no free name for a temporary file",
    ))
}

/// Makes the new name itself durable. Best effort: a folder that cannot be opened or synced
/// (some platforms) leaves the name to the next sync of the file system.
fn sync_folder_of(path: &Path) {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(folder) = std::fs::File::open(folder) {
            let _ = folder.sync_all();
        }
    }
}

fn spawn_housekeeping(gatehouse: Gatehouse) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(error) = gatehouse.housekeeping().await {
                tracing::warn!(%error, "housekeeping failed");
            }
        }
    });
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_starting_together_all_get_the_same_complete_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let keys: Vec<[u8; MASTER_KEY_BYTES]> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| load_or_create_master_key(&path).unwrap().to_bytes()))
                .collect();
            starts.into_iter().map(|s| s.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]), "one key for all");
        assert_eq!(std::fs::read(&path).unwrap(), keys[0]);
        assert_eq!(
            load_or_create_master_key(&path).unwrap().to_bytes(),
            keys[0]
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("master.key")],
            "no temporary file left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_master_key_file_of_the_wrong_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, b"").unwrap();
        let error = format!("{:#}", load_or_create_master_key(&path).unwrap_err());
        assert!(error.contains("exactly"), "{error}");
    }
}
