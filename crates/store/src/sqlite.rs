//! The embedded store: one SQLite file in the data directory, WAL mode.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::sql::impl_store;
use crate::sql_crypto::impl_crypto;
use crate::sql_gateway::impl_gateway;
use crate::sql_ops::impl_ops;
use crate::sql_payments::impl_payments;
use crate::sql_pki::impl_pki;
use crate::sql_resources::impl_resources;
use crate::sql_statements::impl_statements;
use crate::Result;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Open (creating if needed) the database file and bring its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// `BEGIN IMMEDIATE` takes SQLite's write lock at the start, so two writers never both
    /// read the same audit head (a deferred transaction would fail on upgrade instead).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl_store!(SqliteStore, sqlx::Sqlite, backend = "sqlite", numeric = "");
impl_crypto!(SqliteStore, sqlx::Sqlite);
impl_gateway!(SqliteStore, sqlx::Sqlite);
impl_pki!(SqliteStore, sqlx::Sqlite);
impl_resources!(SqliteStore, sqlx::Sqlite);
impl_statements!(SqliteStore, sqlx::Sqlite);
impl_payments!(SqliteStore, sqlx::Sqlite);
impl_ops!(SqliteStore, sqlx::Sqlite);
