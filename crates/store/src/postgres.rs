//! The production store on PostgreSQL.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::sql::impl_store;
use crate::sql_crypto::impl_crypto;
use crate::sql_gateway::impl_gateway;
use crate::sql_ops::impl_ops;
use crate::sql_payments::impl_payments;
use crate::sql_pki::impl_pki;
use crate::sql_resources::impl_resources;
use crate::sql_statements::impl_statements;
use crate::Result;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Serialises writers that append to the audit chain (a transaction-scoped advisory lock).
const WRITE_LOCK: i64 = 0x676f_7663_6c6f_7564; // "govcloud"

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(PgConnectOptions::from_str(url)?).await
    }

    /// Connect with explicit options (tests use this to put each run in its own schema).
    pub async fn connect_with(opts: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

impl_store!(
    PgStore,
    sqlx::Postgres,
    backend = "postgres",
    numeric = "::numeric"
);
impl_crypto!(PgStore, sqlx::Postgres);
impl_gateway!(PgStore, sqlx::Postgres);
impl_pki!(PgStore, sqlx::Postgres);
impl_resources!(PgStore, sqlx::Postgres);
impl_statements!(PgStore, sqlx::Postgres);
impl_payments!(PgStore, sqlx::Postgres);
impl_ops!(PgStore, sqlx::Postgres);
