//! A fresh database per test: a SQLite file in the test's own folder always, or a new
//! PostgreSQL database on the server named by `GATEHOUSE_TEST_DATABASE_URL`.

use sqlx::any::AnyPoolOptions;
use sqlx::Executor;

/// The PostgreSQL server `scripts/test` uses when `GATEHOUSE_TEST_DATABASE_URL` is not set.
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestDatabase {
    pub url: String,
    admin_url: Option<String>,
    name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        Self {
            url,
            admin_url: None,
            name: None,
            _dir: Some(dir),
        }
    }

    /// The admin URL CI sets; `None` when the variable is not set. When it is set but the
    /// server cannot be reached, the test fails: CI must never silently skip PostgreSQL.
    pub fn postgres_admin_url() -> Option<String> {
        std::env::var("GATEHOUSE_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
    }

    /// A fresh PostgreSQL database for a test that is about PostgreSQL itself (several
    /// nodes, deadlocks, pg_dump): on the server `GATEHOUSE_TEST_DATABASE_URL` names, else
    /// on the local one `scripts/test` expects. It never falls back to SQLite nor skips: no
    /// PostgreSQL is a failed test.
    pub async fn postgres_required() -> Self {
        let admin = Self::postgres_admin_url().unwrap_or_else(|| LOCAL_POSTGRES.to_string());
        Self::postgres(&admin).await
    }

    pub async fn postgres(admin_url: &str) -> Self {
        sqlx::any::install_default_drivers();
        let name = format!("gatehouse_test_{}", uuid::Uuid::now_v7().simple());
        let admin = AnyPoolOptions::new()
            .max_connections(1)
            .connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("GATEHOUSE_TEST_DATABASE_URL is set but unreachable: {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        admin.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("GATEHOUSE_TEST_DATABASE_URL must name a database"),
        };
        Self {
            url,
            admin_url: Some(admin_url.to_string()),
            name: Some(name),
            _dir: None,
        }
    }

    /// Drops a PostgreSQL test database (best effort; CI machines are thrown away anyway).
    pub async fn drop_database(self) {
        if let (Some(admin_url), Some(name)) = (&self.admin_url, &self.name) {
            if let Ok(admin) = AnyPoolOptions::new()
                .max_connections(1)
                .connect(admin_url)
                .await
            {
                let _ = admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await;
                admin.close().await;
            }
        }
    }
}
