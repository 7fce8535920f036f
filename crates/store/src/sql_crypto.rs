//! SQL of the crypto service's tables, shared by both backends like `sql.rs`. The macro
//! writes inherent methods; the `Store` impl in `sql.rs` forwards to them.

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::{App, CryptoKey, KeyState, KeyVersion, Result, StoreError};

pub(crate) const APP_COLS: &str = "id, name, system_code, created_at, created_by, disabled";
pub(crate) const KEY_COLS: &str =
    "id, app_id, kind, label, state, current_version, created_at, updated_at";

pub(crate) type AppRow = (String, String, Option<String>, DateTime<Utc>, String, bool);

pub(crate) fn app_from_row(r: AppRow) -> App {
    let (id, name, system_code, created_at, created_by, disabled) = r;
    App {
        id,
        name,
        system_code,
        created_at,
        created_by,
        disabled,
    }
}

pub(crate) type KeyRow = (
    String,
    String,
    String,
    String,
    String,
    i32,
    DateTime<Utc>,
    DateTime<Utc>,
);

pub(crate) fn key_from_row(r: KeyRow) -> Result<CryptoKey> {
    let (id, app_id, kind, label, state, current_version, created_at, updated_at) = r;
    Ok(CryptoKey {
        state: KeyState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("key {id} has state {state:?}")))?,
        id,
        app_id,
        kind,
        label,
        current_version,
        created_at,
        updated_at,
    })
}

pub(crate) type VersionRow = (
    i32,
    String,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

pub(crate) fn version_from_row(r: VersionRow) -> Result<KeyVersion> {
    let (version, wrapped, public_key, created_at, destroyed_at) = r;
    let wrapped = match destroyed_at {
        Some(_) => None,
        None => Some(
            base64::engine::general_purpose::STANDARD
                .decode(wrapped)
                .map_err(|_| {
                    StoreError::Corrupt(format!("version {version} of a key is not base64"))
                })?,
        ),
    };
    Ok(KeyVersion {
        version,
        wrapped,
        public_key,
        created_at,
    })
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

macro_rules! impl_crypto {
    ($ty:ty, $db:ty) => {
        impl $ty {
            async fn crypto_key_tx(
                tx: &mut sqlx::Transaction<'_, $db>,
                app_id: &str,
                key_id: &str,
            ) -> $crate::Result<$crate::CryptoKey> {
                let row: Option<$crate::sql_crypto::KeyRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM crypto_keys WHERE id = $1 AND app_id = $2",
                    $crate::sql_crypto::KEY_COLS
                ))
                .bind(key_id)
                .bind(app_id)
                .fetch_optional(&mut **tx)
                .await?;
                row.map($crate::sql_crypto::key_from_row)
                    .transpose()?
                    .ok_or_else(|| $crate::StoreError::NotFound(format!("key {key_id}")))
            }

            pub(crate) async fn crypto_create_app(
                &self,
                a: &$crate::NewApp,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::App> {
                let mut tx = self.begin_write().await?;
                let taken: Option<(String,)> = sqlx::query_as("SELECT id FROM apps WHERE name = $1")
                    .bind(&a.name)
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    return Err($crate::StoreError::Conflict(format!("app {} already exists", a.name)));
                }
                let row: $crate::sql_crypto::AppRow = sqlx::query_as(&format!(
                    "INSERT INTO apps (id, name, system_code, token_hash, created_at, created_by, disabled) \
                     VALUES ($1, $2, $3, $4, $5, $6, FALSE) RETURNING {}",
                    $crate::sql_crypto::APP_COLS
                ))
                .bind(&a.id)
                .bind(&a.name)
                .bind(&a.system_code)
                .bind(&a.token_hash)
                .bind(event.at)
                .bind(&event.actor)
                .fetch_one(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok($crate::sql_crypto::app_from_row(row))
            }

            pub(crate) async fn crypto_list_apps(&self) -> $crate::Result<Vec<$crate::App>> {
                let rows: Vec<$crate::sql_crypto::AppRow> =
                    sqlx::query_as(&format!("SELECT {} FROM apps ORDER BY name", $crate::sql_crypto::APP_COLS))
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map($crate::sql_crypto::app_from_row).collect())
            }

            pub(crate) async fn crypto_app_by_token(&self, token_hash: &str) -> $crate::Result<Option<$crate::App>> {
                let row: Option<$crate::sql_crypto::AppRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM apps WHERE token_hash = $1 AND NOT disabled",
                    $crate::sql_crypto::APP_COLS
                ))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map($crate::sql_crypto::app_from_row))
            }

            pub(crate) async fn crypto_app(&self, id: &str) -> $crate::Result<Option<$crate::App>> {
                let row: Option<$crate::sql_crypto::AppRow> =
                    sqlx::query_as(&format!("SELECT {} FROM apps WHERE id = $1", $crate::sql_crypto::APP_COLS))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map($crate::sql_crypto::app_from_row))
            }

            pub(crate) async fn crypto_set_app_disabled(
                &self,
                id: &str,
                disabled: bool,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::App> {
                let mut tx = self.begin_write().await?;
                let row: Option<$crate::sql_crypto::AppRow> = sqlx::query_as(&format!(
                    "UPDATE apps SET disabled = $1 WHERE id = $2 RETURNING {}",
                    $crate::sql_crypto::APP_COLS
                ))
                .bind(disabled)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err($crate::StoreError::NotFound(format!("app {id}")));
                };
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok($crate::sql_crypto::app_from_row(row))
            }

            pub(crate) async fn crypto_create_key(
                &self,
                app_id: &str,
                id: &str,
                kind: &str,
                label: &str,
                first: &$crate::NewKeyVersion,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::CryptoKey> {
                let mut tx = self.begin_write().await?;
                let row: $crate::sql_crypto::KeyRow = sqlx::query_as(&format!(
                    "INSERT INTO crypto_keys (id, app_id, kind, label, state, current_version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 'active', 1, $5, $5) RETURNING {}",
                    $crate::sql_crypto::KEY_COLS
                ))
                .bind(id)
                .bind(app_id)
                .bind(kind)
                .bind(label)
                .bind(event.at)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO key_versions (key_id, version, wrapped, public_key, created_at) VALUES ($1, 1, $2, $3, $4)",
                )
                .bind(id)
                .bind($crate::sql_crypto::b64(&first.wrapped))
                .bind(&first.public_key)
                .bind(event.at)
                .execute(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                $crate::sql_crypto::key_from_row(row)
            }

            pub(crate) async fn crypto_key(
                &self,
                app_id: &str,
                key_id: &str,
            ) -> $crate::Result<Option<($crate::CryptoKey, Vec<$crate::KeyVersion>)>> {
                let row: Option<$crate::sql_crypto::KeyRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM crypto_keys WHERE id = $1 AND app_id = $2",
                    $crate::sql_crypto::KEY_COLS
                ))
                .bind(key_id)
                .bind(app_id)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let key = $crate::sql_crypto::key_from_row(row)?;
                let versions: Vec<$crate::sql_crypto::VersionRow> = sqlx::query_as(
                    "SELECT version, wrapped, public_key, created_at, destroyed_at FROM key_versions \
                     WHERE key_id = $1 ORDER BY version DESC",
                )
                .bind(key_id)
                .fetch_all(&self.pool)
                .await?;
                let versions = versions
                    .into_iter()
                    .map($crate::sql_crypto::version_from_row)
                    .collect::<$crate::Result<Vec<_>>>()?;
                Ok(Some((key, versions)))
            }

            pub(crate) async fn crypto_list_keys(&self, app_id: Option<&str>) -> $crate::Result<Vec<$crate::CryptoKey>> {
                let rows: Vec<$crate::sql_crypto::KeyRow> = match app_id {
                    Some(a) => sqlx::query_as(&format!(
                        "SELECT {} FROM crypto_keys WHERE app_id = $1 ORDER BY created_at, id",
                        $crate::sql_crypto::KEY_COLS
                    ))
                    .bind(a)
                    .fetch_all(&self.pool)
                    .await?,
                    None => sqlx::query_as(&format!(
                        "SELECT {} FROM crypto_keys ORDER BY app_id, created_at, id",
                        $crate::sql_crypto::KEY_COLS
                    ))
                    .fetch_all(&self.pool)
                    .await?,
                };
                rows.into_iter().map($crate::sql_crypto::key_from_row).collect()
            }

            pub(crate) async fn crypto_rotate_key(
                &self,
                app_id: &str,
                key_id: &str,
                next: &$crate::NewKeyVersion,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::CryptoKey> {
                let mut tx = self.begin_write().await?;
                let key = Self::crypto_key_tx(&mut tx, app_id, key_id).await?;
                if key.state != $crate::KeyState::Active {
                    return Err($crate::StoreError::Conflict(format!("key {key_id} is {}, only active keys rotate", key.state.code())));
                }
                let version = key.current_version + 1;
                sqlx::query(
                    "INSERT INTO key_versions (key_id, version, wrapped, public_key, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(key_id)
                .bind(version)
                .bind($crate::sql_crypto::b64(&next.wrapped))
                .bind(&next.public_key)
                .bind(event.at)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE crypto_keys SET current_version = $1, updated_at = $2 WHERE id = $3")
                    .bind(version)
                    .bind(event.at)
                    .bind(key_id)
                    .execute(&mut *tx)
                    .await?;
                let key = Self::crypto_key_tx(&mut tx, app_id, key_id).await?;
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(key)
            }

            pub(crate) async fn crypto_set_key_state(
                &self,
                app_id: &str,
                key_id: &str,
                state: $crate::KeyState,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::CryptoKey> {
                let mut tx = self.begin_write().await?;
                let key = Self::crypto_key_tx(&mut tx, app_id, key_id).await?;
                if key.state == $crate::KeyState::Destroyed {
                    return Err($crate::StoreError::Conflict(format!("key {key_id} is destroyed")));
                }
                sqlx::query("UPDATE crypto_keys SET state = $1, updated_at = $2 WHERE id = $3")
                    .bind(state.code())
                    .bind(event.at)
                    .bind(key_id)
                    .execute(&mut *tx)
                    .await?;
                if state == $crate::KeyState::Destroyed {
                    // Crypto-shredding: the wrapped material is overwritten, public keys stay.
                    sqlx::query("UPDATE key_versions SET wrapped = '', destroyed_at = $1 WHERE key_id = $2")
                        .bind(event.at)
                        .bind(key_id)
                        .execute(&mut *tx)
                        .await?;
                }
                let key = Self::crypto_key_tx(&mut tx, app_id, key_id).await?;
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(key)
            }

            pub(crate) async fn crypto_add_usage(&self, counts: &[($crate::UsageKey, i64)]) -> $crate::Result<()> {
                if counts.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                for (k, n) in counts {
                    sqlx::query(
                        "INSERT INTO crypto_usage (app_id, key_id, month, operation, count) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (app_id, key_id, month, operation) DO UPDATE SET count = crypto_usage.count + excluded.count",
                    )
                    .bind(&k.app_id)
                    .bind(&k.key_id)
                    .bind(&k.month)
                    .bind(&k.operation)
                    .bind(*n)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn crypto_usage(&self, app_id: Option<&str>) -> $crate::Result<Vec<($crate::UsageKey, i64)>> {
                let sql = "SELECT app_id, key_id, month, operation, count FROM crypto_usage \
                           WHERE ($1 IS NULL OR app_id = $1) ORDER BY app_id, month, key_id, operation";
                let rows: Vec<(String, String, String, String, i64)> =
                    sqlx::query_as(sql).bind(app_id).fetch_all(&self.pool).await?;
                Ok(rows
                    .into_iter()
                    .map(|(app_id, key_id, month, operation, n)| ($crate::UsageKey { app_id, key_id, month, operation }, n))
                    .collect())
            }
        }
    };
}

pub(crate) use impl_crypto;
