//! The SQL both backends share. SQLite and PostgreSQL accept the same statements here
//! (`$n` parameters, `RETURNING`, `ON CONFLICT`), so one macro writes the `Store` impl for
//! each concrete pool; what differs (how a write transaction starts, how an exact decimal
//! is bound) comes in as parameters. Concrete pools, not sqlx's `Any` driver: `Any` cannot
//! carry NUMERIC or TIMESTAMPTZ.

use chrono::{DateTime, Utc};
use govcloud_domain::audit::{AuditEntry, AuditEvent};
use govcloud_domain::role::{Role, UserName};

use crate::{ApiTokenInfo, Result, StoreError, User};

pub(crate) const USER_COLS: &str = "id, name, display_name, role, disabled, created_at";
pub(crate) const TOKEN_COLS: &str = "id, user_id, label, prefix, created_at, revoked_at";
pub(crate) const AUDIT_COLS: &str = "seq, at, actor, action, target, detail, prev_hash, hash";

pub(crate) fn parse_hash(s: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| StoreError::Corrupt(format!("audit hash {s:?} is not 64 hex digits")))?;
    Ok(out)
}

pub(crate) type UserRow = (i64, String, String, String, bool, DateTime<Utc>);

pub(crate) fn user_from_row(r: UserRow) -> Result<User> {
    let (id, name, display_name, role, disabled, created_at) = r;
    Ok(User {
        id,
        name: UserName::parse(&name).map_err(StoreError::Corrupt)?,
        display_name,
        role: Role::parse(&role).map_err(StoreError::Corrupt)?,
        disabled,
        created_at,
    })
}

pub(crate) type TokenRow = (
    i64,
    i64,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

pub(crate) fn token_from_row(r: TokenRow) -> ApiTokenInfo {
    let (id, user_id, label, prefix, created_at, revoked_at) = r;
    ApiTokenInfo {
        id,
        user_id,
        label,
        prefix,
        created_at,
        revoked_at,
    }
}

pub(crate) type AuditRow = (
    i64,
    DateTime<Utc>,
    String,
    String,
    String,
    String,
    String,
    String,
);

pub(crate) fn audit_from_row(r: AuditRow) -> Result<AuditEntry> {
    let (seq, at, actor, action, target, detail, prev, hash) = r;
    Ok(AuditEntry {
        seq,
        event: AuditEvent {
            at,
            actor,
            action,
            target,
            detail,
        },
        prev_hash: parse_hash(&prev)?,
        hash: parse_hash(&hash)?,
    })
}

/// Writes `impl Store for $ty`. `$ty` must have a `pool` field and an inherent
/// `begin_write()` that starts a transaction holding the database's write lock (so that
/// audit appends from several connections or processes chain one after another).
/// `$numeric` is the cast applied to a decimal bound as text.
macro_rules! impl_store {
    ($ty:ty, $db:ty, backend = $backend:literal, numeric = $numeric:literal) => {
        impl $ty {
            async fn audit_in_tx(
                tx: &mut sqlx::Transaction<'_, $db>,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<govcloud_domain::audit::AuditEntry> {
                let head: Option<(i64, String)> =
                    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                        .fetch_optional(&mut **tx)
                        .await?;
                let prev = match head {
                    Some((seq, h)) => Some((seq, $crate::sql::parse_hash(&h)?)),
                    None => None,
                };
                let e = govcloud_domain::audit::next_entry(prev, event);
                sqlx::query(
                    "INSERT INTO audit_log (seq, at, actor, action, target, detail, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(e.seq)
                .bind(e.event.at)
                .bind(&e.event.actor)
                .bind(&e.event.action)
                .bind(&e.event.target)
                .bind(&e.event.detail)
                .bind(hex::encode(e.prev_hash))
                .bind(hex::encode(e.hash))
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) \
                     ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                )
                .bind(e.seq)
                .bind(hex::encode(e.hash))
                .execute(&mut **tx)
                .await?;
                Ok(e)
            }

            async fn user_by_id_tx(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: i64,
            ) -> $crate::Result<$crate::User> {
                let row: $crate::sql::UserRow = sqlx::query_as(&format!(
                    "SELECT {} FROM users WHERE id = $1",
                    $crate::sql::USER_COLS
                ))
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
                $crate::sql::user_from_row(row)
            }
        }

        #[async_trait::async_trait]
        impl $crate::Store for $ty {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn load_contract(
                &self,
                c: &govcloud_domain::catalog::Contract,
                source: &str,
                fingerprint: &str,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::LoadOutcome> {
                let mut tx = self.begin_write().await?;
                let existing: Option<(String,)> =
                    sqlx::query_as("SELECT fingerprint FROM contracts WHERE id = $1")
                        .bind(&c.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let outcome = match existing {
                    Some((fp,)) if fp == fingerprint => return Ok($crate::LoadOutcome::Unchanged),
                    Some(_) => {
                        sqlx::query("DELETE FROM catalog_items WHERE contract_id = $1")
                            .bind(&c.id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("DELETE FROM packages WHERE contract_id = $1")
                            .bind(&c.id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("DELETE FROM business_systems WHERE contract_id = $1")
                            .bind(&c.id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("DELETE FROM contracts WHERE id = $1")
                            .bind(&c.id)
                            .execute(&mut *tx)
                            .await?;
                        $crate::LoadOutcome::Replaced
                    }
                    None => $crate::LoadOutcome::Created,
                };
                sqlx::query(
                    "INSERT INTO contracts (id, name, source, fingerprint, loaded_at, loaded_by) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&c.id)
                .bind(&c.name)
                .bind(source)
                .bind(fingerprint)
                .bind(event.at)
                .bind(&event.actor)
                .execute(&mut *tx)
                .await?;
                for s in &c.systems {
                    sqlx::query(
                        "INSERT INTO business_systems (contract_id, code, name, cloud) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&c.id)
                    .bind(s.code.as_str())
                    .bind(&s.name)
                    .bind(&s.cloud)
                    .execute(&mut *tx)
                    .await?;
                }
                let insert_package = format!(
                    "INSERT INTO packages (contract_id, number, name, short_name, budget_wan) \
                     VALUES ($1, $2, $3, $4, $5{})",
                    $numeric
                );
                let insert_item = format!(
                    "INSERT INTO catalog_items (id, contract_id, package_no, system_code, category, \
                     subcategory, item, unit, quantity, months, billing) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9{}, $10, $11)",
                    $numeric
                );
                for p in &c.packages {
                    sqlx::query(&insert_package)
                        .bind(&c.id)
                        .bind(i32::from(p.number.get()))
                        .bind(&p.name)
                        .bind(&p.short_name)
                        .bind(p.budget_wan.map(|b| b.to_string()))
                        .execute(&mut *tx)
                        .await?;
                    for it in &p.items {
                        sqlx::query(&insert_item)
                            .bind(it.id.as_str())
                            .bind(&c.id)
                            .bind(i32::from(p.number.get()))
                            .bind(it.system.as_ref().map(|s| s.as_str().to_owned()))
                            .bind(&it.category)
                            .bind(&it.subcategory)
                            .bind(&it.item)
                            .bind(it.unit.code())
                            .bind(it.quantity.to_string())
                            .bind(it.months as i32)
                            .bind(it.billing.code())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(outcome)
            }

            async fn current_contract(&self) -> $crate::Result<Option<$crate::StoredContract>> {
                let row: Option<(String, String, String, String, chrono::DateTime<chrono::Utc>, String)> =
                    sqlx::query_as(
                        "SELECT id, name, source, fingerprint, loaded_at, loaded_by FROM contracts \
                         ORDER BY loaded_at DESC, id LIMIT 1",
                    )
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(id, name, source, fingerprint, loaded_at, loaded_by)| {
                    $crate::StoredContract {
                        id,
                        name,
                        source,
                        fingerprint,
                        loaded_at,
                        loaded_by,
                    }
                }))
            }

            async fn count_users(&self) -> $crate::Result<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n)
            }

            async fn create_user(
                &self,
                u: &$crate::NewUser,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::User> {
                let mut tx = self.begin_write().await?;
                let taken: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE name = $1")
                    .bind(u.name.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    return Err($crate::StoreError::Conflict(format!(
                        "user {} already exists",
                        u.name
                    )));
                }
                let row: $crate::sql::UserRow = sqlx::query_as(&format!(
                    "INSERT INTO users (name, display_name, role, password_hash, disabled, created_at) \
                     VALUES ($1, $2, $3, $4, FALSE, $5) RETURNING {}",
                    $crate::sql::USER_COLS
                ))
                .bind(u.name.as_str())
                .bind(&u.display_name)
                .bind(u.role.code())
                .bind(&u.password_hash)
                .bind(event.at)
                .fetch_one(&mut *tx)
                .await?;
                let user = $crate::sql::user_from_row(row)?;
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(user)
            }

            async fn user_with_secret(
                &self,
                name: &govcloud_domain::role::UserName,
            ) -> $crate::Result<Option<$crate::UserWithSecret>> {
                let row: Option<(i64, String, String, String, bool, chrono::DateTime<chrono::Utc>, String)> =
                    sqlx::query_as(&format!(
                        "SELECT {}, password_hash FROM users WHERE name = $1",
                        $crate::sql::USER_COLS
                    ))
                    .bind(name.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    None => Ok(None),
                    Some((id, n, d, r, dis, at, hash)) => Ok(Some($crate::UserWithSecret {
                        user: $crate::sql::user_from_row((id, n, d, r, dis, at))?,
                        password_hash: hash,
                    })),
                }
            }

            async fn list_users(&self) -> $crate::Result<Vec<$crate::User>> {
                let rows: Vec<$crate::sql::UserRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM users ORDER BY name",
                    $crate::sql::USER_COLS
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql::user_from_row).collect()
            }

            async fn update_user(
                &self,
                name: &govcloud_domain::role::UserName,
                changes: &[$crate::UserChange],
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::User> {
                let mut tx = self.begin_write().await?;
                let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE name = $1")
                    .bind(name.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((id,)) = found else {
                    return Err($crate::StoreError::NotFound(format!("user {name}")));
                };
                let mut ends_sessions = false;
                for change in changes {
                    let q = match change {
                        $crate::UserChange::Role(r) => {
                            sqlx::query("UPDATE users SET role = $1 WHERE id = $2").bind(r.code())
                        }
                        $crate::UserChange::Disabled(d) => {
                            ends_sessions |= *d;
                            sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2").bind(*d)
                        }
                        $crate::UserChange::PasswordHash(h) => {
                            ends_sessions = true;
                            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2").bind(h.clone())
                        }
                        $crate::UserChange::DisplayName(n) => {
                            sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2").bind(n.clone())
                        }
                    };
                    q.bind(id).execute(&mut *tx).await?;
                }
                if ends_sessions {
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                // Refuse to leave the installation without an enabled admin; dropping the
                // transaction undoes every change above.
                Self::ensure_an_admin(&mut tx).await?;
                let user = Self::user_by_id_tx(&mut tx, id).await?;
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(user)
            }

            async fn create_session(
                &self,
                user_id: i64,
                token_hash: &str,
                expires_at: chrono::DateTime<chrono::Utc>,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                // Expired sessions are swept here, where a write lock is held anyway.
                sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(event.at)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(event.at)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn session_user(
                &self,
                token_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Option<$crate::User>> {
                let row: Option<$crate::sql::UserRow> = sqlx::query_as(
                    "SELECT u.id, u.name, u.display_name, u.role, u.disabled, u.created_at \
                     FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT u.disabled",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::sql::user_from_row).transpose()
            }

            async fn delete_session(
                &self,
                token_hash: &str,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Ok(false);
                }
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn create_api_token(
                &self,
                user_id: i64,
                label: &str,
                prefix: &str,
                token_hash: &str,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::ApiTokenInfo> {
                let mut tx = self.begin_write().await?;
                let row: $crate::sql::TokenRow = sqlx::query_as(&format!(
                    "INSERT INTO api_tokens (user_id, label, prefix, token_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING {}",
                    $crate::sql::TOKEN_COLS
                ))
                .bind(user_id)
                .bind(label)
                .bind(prefix)
                .bind(token_hash)
                .bind(event.at)
                .fetch_one(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok($crate::sql::token_from_row(row))
            }

            async fn token_user(&self, token_hash: &str) -> $crate::Result<Option<$crate::User>> {
                let row: Option<$crate::sql::UserRow> = sqlx::query_as(
                    "SELECT u.id, u.name, u.display_name, u.role, u.disabled, u.created_at \
                     FROM api_tokens t JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT u.disabled",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::sql::user_from_row).transpose()
            }

            async fn list_api_tokens(&self, user_id: i64) -> $crate::Result<Vec<$crate::ApiTokenInfo>> {
                let rows: Vec<$crate::sql::TokenRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM api_tokens WHERE user_id = $1 ORDER BY id",
                    $crate::sql::TOKEN_COLS
                ))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql::token_from_row).collect())
            }

            async fn revoke_api_token(
                &self,
                user_id: i64,
                token_id: i64,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::ApiTokenInfo> {
                let mut tx = self.begin_write().await?;
                let row: Option<$crate::sql::TokenRow> = sqlx::query_as(&format!(
                    "UPDATE api_tokens SET revoked_at = $1 \
                     WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL RETURNING {}",
                    $crate::sql::TOKEN_COLS
                ))
                .bind(event.at)
                .bind(token_id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err($crate::StoreError::NotFound(format!("active token {token_id}")));
                };
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok($crate::sql::token_from_row(row))
            }

            async fn append_audit(
                &self,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<govcloud_domain::audit::AuditEntry> {
                let mut tx = self.begin_write().await?;
                let e = Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(e)
            }

            async fn audit_page(
                &self,
                after: i64,
                limit: i64,
            ) -> $crate::Result<Vec<govcloud_domain::audit::AuditEntry>> {
                // Entries whose contents were swapped or renumbered break their links, which
                // the verifier sees in `seq` order.
                let rows: Vec<$crate::sql::AuditRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                    $crate::sql::AUDIT_COLS
                ))
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql::audit_from_row).collect()
            }

            async fn audit_recent(
                &self,
                limit: i64,
            ) -> $crate::Result<Vec<govcloud_domain::audit::AuditEntry>> {
                let rows: Vec<$crate::sql::AuditRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM audit_log ORDER BY seq DESC LIMIT $1",
                    $crate::sql::AUDIT_COLS
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql::audit_from_row).collect()
            }

            async fn create_app(&self, a: &$crate::NewApp, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::App> {
                self.crypto_create_app(a, e).await
            }
            async fn list_apps(&self) -> $crate::Result<Vec<$crate::App>> {
                self.crypto_list_apps().await
            }
            async fn app_by_token(&self, h: &str) -> $crate::Result<Option<$crate::App>> {
                self.crypto_app_by_token(h).await
            }
            async fn app(&self, id: &str) -> $crate::Result<Option<$crate::App>> {
                self.crypto_app(id).await
            }
            async fn set_app_disabled(&self, id: &str, d: bool, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::App> {
                self.crypto_set_app_disabled(id, d, e).await
            }
            async fn create_key(
                &self,
                app_id: &str,
                id: &str,
                kind: &str,
                label: &str,
                first: &$crate::NewKeyVersion,
                e: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::CryptoKey> {
                self.crypto_create_key(app_id, id, kind, label, first, e).await
            }
            async fn key(&self, app_id: &str, key_id: &str) -> $crate::Result<Option<($crate::CryptoKey, Vec<$crate::KeyVersion>)>> {
                self.crypto_key(app_id, key_id).await
            }
            async fn list_keys(&self, app_id: Option<&str>) -> $crate::Result<Vec<$crate::CryptoKey>> {
                self.crypto_list_keys(app_id).await
            }
            async fn rotate_key(
                &self,
                app_id: &str,
                key_id: &str,
                next: &$crate::NewKeyVersion,
                e: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::CryptoKey> {
                self.crypto_rotate_key(app_id, key_id, next, e).await
            }
            async fn set_key_state(
                &self,
                app_id: &str,
                key_id: &str,
                state: $crate::KeyState,
                e: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::CryptoKey> {
                self.crypto_set_key_state(app_id, key_id, state, e).await
            }
            async fn add_usage(&self, counts: &[($crate::UsageKey, i64)]) -> $crate::Result<()> {
                self.crypto_add_usage(counts).await
            }
            async fn usage(&self, app_id: Option<&str>) -> $crate::Result<Vec<($crate::UsageKey, i64)>> {
                self.crypto_usage(app_id).await
            }

            async fn app_credentials(&self) -> $crate::Result<Vec<(String, $crate::App)>> {
                self.gw_app_credentials().await
            }
            async fn rotate_app_token(&self, id: &str, h: &str, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::App> {
                self.gw_rotate_app_token(id, h, e).await
            }
            async fn app_rules(&self) -> $crate::Result<Vec<$crate::AppRule>> {
                self.gw_app_rules().await
            }
            async fn add_app_rule(&self, r: &$crate::AppRule, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<bool> {
                self.gw_add_app_rule(r, e).await
            }
            async fn remove_app_rule(&self, app_id: &str, op: &str, key_id: &str, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<bool> {
                self.gw_remove_app_rule(app_id, op, key_id, e).await
            }
            async fn app_limits(&self) -> $crate::Result<Vec<$crate::AppLimit>> {
                self.gw_app_limits().await
            }
            async fn set_app_limit(&self, l: &$crate::AppLimit, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<()> {
                self.gw_set_app_limit(l, e).await
            }
            async fn remove_app_limit(&self, app_id: &str, op: &str, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<bool> {
                self.gw_remove_app_limit(app_id, op, e).await
            }
            async fn app_certs(&self) -> $crate::Result<Vec<(String, String)>> {
                self.gw_app_certs().await
            }
            async fn bind_app_cert(&self, app_id: &str, serial: &str, bind: bool, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<bool> {
                self.gw_bind_app_cert(app_id, serial, bind, e).await
            }
            async fn gateway_nodes(&self) -> $crate::Result<Vec<$crate::GatewayNode>> {
                self.gw_gateway_nodes().await
            }
            async fn add_gateway_node(&self, url: &str, at: chrono::DateTime<chrono::Utc>, by: &str, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<($crate::GatewayNode, bool)> {
                self.gw_add_gateway_node(url, at, by, e).await
            }
            async fn set_gateway_node_state(&self, url: &str, state: $crate::NodeState, at: chrono::DateTime<chrono::Utc>, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::GatewayNode> {
                self.gw_set_gateway_node_state(url, state, at, e).await
            }
            async fn remove_gateway_node(&self, url: &str, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<bool> {
                self.gw_remove_gateway_node(url, e).await
            }
            async fn save_gateway_replica(&self, r: &$crate::GatewayReplica) -> $crate::Result<()> {
                self.gw_save_gateway_replica(r).await
            }
            async fn gateway_replicas(&self, seen_since: chrono::DateTime<chrono::Utc>) -> $crate::Result<Vec<$crate::GatewayReplica>> {
                self.gw_gateway_replicas(seen_since).await
            }
            async fn add_gateway_calls(&self, counts: &[($crate::CallKey, i64)]) -> $crate::Result<()> {
                self.gw_add_gateway_calls(counts).await
            }
            async fn gateway_calls(&self, app_id: Option<&str>) -> $crate::Result<Vec<($crate::CallKey, i64)>> {
                self.gw_gateway_calls(app_id).await
            }

            async fn pki_keys(&self) -> $crate::Result<Vec<$crate::PkiKey>> {
                self.pki_keys_().await
            }
            async fn pki_setup(&self, k: &[$crate::PkiKey], c: &[$crate::CertRecord], e: govcloud_domain::audit::AuditEvent) -> $crate::Result<()> {
                self.pki_setup_(k, c, e).await
            }
            async fn insert_certificates(&self, c: &[$crate::CertRecord], e: govcloud_domain::audit::AuditEvent) -> $crate::Result<()> {
                self.pki_insert_certificates(c, e).await
            }
            async fn certificate(&self, serial: &str) -> $crate::Result<Option<$crate::CertRecord>> {
                self.pki_certificate(serial).await
            }
            async fn list_certificates(&self) -> $crate::Result<Vec<$crate::CertRecord>> {
                self.pki_list_certificates().await
            }
            async fn revoke_certificate(&self, serial: &str, at: chrono::DateTime<chrono::Utc>, reason: i32, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::CertRecord> {
                self.pki_revoke(serial, at, reason, e).await
            }
            async fn next_crl_number(&self, alg: &str) -> $crate::Result<i64> {
                self.pki_next_crl_number(alg).await
            }
            async fn save_crl(&self, c: &$crate::StoredCrl) -> $crate::Result<()> {
                self.pki_save_crl(c).await
            }
            async fn crl(&self, alg: &str) -> $crate::Result<Option<$crate::StoredCrl>> {
                self.pki_crl(alg).await
            }
            async fn create_challenge(&self, id: &str, app_id: &str, c: &[u8], exp: chrono::DateTime<chrono::Utc>) -> $crate::Result<()> {
                self.pki_create_challenge(id, app_id, c, exp).await
            }
            async fn consume_challenge(&self, id: &str, app_id: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::Result<Option<Vec<u8>>> {
                self.pki_consume_challenge(id, app_id, now).await
            }
            async fn purge_challenges(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::Result<u64> {
                self.pki_purge_challenges(before).await
            }
            async fn record_timestamp(&self, t: &$crate::TsaRecord) -> $crate::Result<i64> {
                self.pki_record_timestamp(t).await
            }
            async fn set_timestamp_token(&self, serial: i64, token: &[u8]) -> $crate::Result<()> {
                self.pki_set_timestamp_token(serial, token).await
            }
            async fn timestamp(&self, serial: i64) -> $crate::Result<Option<($crate::TsaRecord, Option<Vec<u8>>)>> {
                self.pki_timestamp(serial).await
            }
            async fn count_timestamps(&self) -> $crate::Result<i64> {
                self.pki_count_timestamps().await
            }
            async fn add_inventory(&self, items: &[$crate::InventoryItem], e: govcloud_domain::audit::AuditEvent) -> $crate::Result<()> {
                self.pki_add_inventory(items, e).await
            }
            async fn assign_inventory(&self, id: &str, to: Option<&str>, at: chrono::DateTime<chrono::Utc>, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::InventoryItem> {
                self.pki_assign_inventory(id, to, at, e).await
            }
            async fn list_inventory(&self) -> $crate::Result<Vec<$crate::InventoryItem>> {
                self.pki_list_inventory().await
            }

            async fn create_resource(&self, r: &$crate::Resource, ev: &$crate::ResourceEvent, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::Resource> {
                self.res_create_resource(r, ev, e).await
            }
            async fn change_resource(&self, id: &str, ev: &$crate::ResourceEvent, vcpus: Option<i64>, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::Resource> {
                self.res_change_resource(id, ev, vcpus, e).await
            }
            async fn resource(&self, id: &str) -> $crate::Result<Option<($crate::Resource, Vec<$crate::ResourceEvent>)>> {
                self.res_resource(id).await
            }
            async fn list_resources(&self, system_code: Option<&str>) -> $crate::Result<Vec<$crate::Resource>> {
                self.res_list_resources(system_code).await
            }
            async fn resource_events(&self, system_code: Option<&str>) -> $crate::Result<Vec<$crate::ResourceEvent>> {
                self.res_resource_events(system_code).await
            }
            async fn item_usage(&self, contract_id: &str, item_id: &str) -> $crate::Result<Option<$crate::ItemUsage>> {
                self.res_item_usage(contract_id, item_id).await
            }
            async fn items_usage(&self, contract_id: &str) -> $crate::Result<Vec<$crate::ItemUsage>> {
                self.res_items_usage(contract_id).await
            }
            async fn set_resource_engine_ref(&self, id: &str, engine_ref: Option<&str>) -> $crate::Result<()> {
                self.res_set_engine_ref(id, engine_ref).await
            }
            async fn add_physical_host(&self, h: &$crate::PhysicalHost, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<()> {
                self.res_add_physical_host(h, e).await
            }
            async fn physical_hosts(&self) -> $crate::Result<Vec<($crate::PhysicalHost, i64)>> {
                self.res_physical_hosts().await
            }
            async fn record_occurrence(&self, o: &$crate::Occurrence, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<()> {
                self.res_record_occurrence(o, e).await
            }
            async fn occurrences(&self, system_code: Option<&str>) -> $crate::Result<Vec<$crate::Occurrence>> {
                self.res_occurrences(system_code).await
            }
            async fn create_change(&self, c: &$crate::ChangeRequest, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<()> {
                self.res_create_change(c, e).await
            }
            async fn decide_change(&self, id: &str, state: &str, by: &str, at: chrono::DateTime<chrono::Utc>, note: Option<&str>, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::ChangeRequest> {
                self.res_decide_change(id, state, by, at, note, e).await
            }
            async fn mark_change_executed(&self, id: &str, resource_id: &str, at: chrono::DateTime<chrono::Utc>) -> $crate::Result<$crate::ChangeRequest> {
                self.res_mark_change_executed(id, resource_id, at).await
            }
            async fn change(&self, id: &str) -> $crate::Result<Option<$crate::ChangeRequest>> {
                self.res_change(id).await
            }
            async fn list_changes(&self, state: Option<&str>) -> $crate::Result<Vec<$crate::ChangeRequest>> {
                self.res_list_changes(state).await
            }
            async fn set_price(&self, p: &$crate::PriceRecord, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<Option<String>> {
                self.st_set_price(p, e).await
            }
            async fn prices(&self, contract_id: &str) -> $crate::Result<Vec<$crate::PriceRecord>> {
                self.st_prices(contract_id).await
            }
            async fn usage_steps(
                &self,
                contract_id: &str,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                f: &mut (dyn FnMut($crate::UsageStep) -> $crate::Result<()> + Send),
            ) -> $crate::Result<()> {
                self.st_usage_steps(contract_id, from, to, f).await
            }
            async fn occurrence_totals(&self, contract_id: &str, from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> $crate::Result<Vec<(String, String, i64)>> {
                self.st_occurrence_totals(contract_id, from, to).await
            }
            async fn insert_statement(&self, s: &$crate::StatementRecord, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<()> {
                self.st_insert_statement(s, e).await
            }
            async fn statements(&self, contract_id: &str, month: Option<&str>, package: Option<i64>) -> $crate::Result<Vec<$crate::StatementRecord>> {
                self.st_statements(contract_id, month, package).await
            }
            async fn statement(&self, id: &str) -> $crate::Result<Option<$crate::StatementRecord>> {
                self.st_statement(id).await
            }

            async fn record_acceptance(&self, a: &$crate::AcceptanceRecord, docs: &[$crate::NewEvidence], e: govcloud_domain::audit::AuditEvent) -> $crate::Result<Vec<$crate::EvidenceDocument>> {
                self.pay_record_acceptance(a, docs, e).await
            }
            async fn add_evidence(&self, acceptance_id: &str, d: &$crate::NewEvidence, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::EvidenceDocument> {
                self.pay_add_evidence(acceptance_id, d, e).await
            }
            async fn acceptances(&self, contract_id: &str, package_no: Option<i64>) -> $crate::Result<Vec<$crate::AcceptanceRecord>> {
                self.pay_acceptances(contract_id, package_no).await
            }
            async fn acceptance(&self, id: &str) -> $crate::Result<Option<$crate::AcceptanceRecord>> {
                self.pay_acceptance(id).await
            }
            async fn evidence_list(&self, contract_id: &str, package_no: Option<i64>) -> $crate::Result<Vec<$crate::EvidenceDocument>> {
                self.pay_evidence_list(contract_id, package_no).await
            }
            async fn evidence(&self, id: &str) -> $crate::Result<Option<($crate::EvidenceDocument, Vec<u8>)>> {
                self.pay_evidence(id).await
            }
            async fn record_payment(&self, p: &$crate::PaymentRecord, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::PaymentRecord> {
                self.pay_record_payment(p, e).await
            }
            async fn payments(&self, contract_id: &str, package_no: Option<i64>) -> $crate::Result<Vec<$crate::PaymentRecord>> {
                self.pay_payments(contract_id, package_no).await
            }

            async fn add_monitor(&self, m: &$crate::MonitorRecord, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::MonitorRecord> {
                self.ops_add_monitor(m, e).await
            }
            async fn monitors(&self) -> $crate::Result<Vec<$crate::MonitorRecord>> {
                self.ops_monitors().await
            }
            async fn monitor(&self, id: &str) -> $crate::Result<Option<$crate::MonitorRecord>> {
                self.ops_monitor(id).await
            }
            async fn set_monitor_enabled(&self, id: &str, enabled: bool, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<Option<$crate::MonitorRecord>> {
                self.ops_set_monitor_enabled(id, enabled, e).await
            }
            async fn record_check(&self, c: &$crate::CheckRecord) -> $crate::Result<()> {
                self.ops_record_check(c).await
            }
            async fn monitor_checks(&self, monitor_id: &str, limit: i64) -> $crate::Result<Vec<$crate::CheckRecord>> {
                self.ops_monitor_checks(monitor_id, limit).await
            }
            async fn open_down(&self, d: &$crate::DownRecord) -> $crate::Result<$crate::DownRecord> {
                self.ops_open_down(d).await
            }
            async fn close_down(&self, monitor_id: &str, at: chrono::DateTime<chrono::Utc>) -> $crate::Result<Option<$crate::DownRecord>> {
                self.ops_close_down(monitor_id, at).await
            }
            async fn downs(&self, from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> $crate::Result<Vec<$crate::DownRecord>> {
                self.ops_downs(from, to).await
            }
            async fn open_incident(&self, i: &$crate::IncidentRecord, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::IncidentRecord> {
                self.ops_open_incident(i, e).await
            }
            async fn add_incident_event(&self, incident_id: &str, ev: &$crate::IncidentEventRecord, closing: Option<&$crate::IncidentClosing>, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::IncidentRecord> {
                self.ops_add_incident_event(incident_id, ev, closing, e).await
            }
            async fn incidents(&self, contract_id: &str, f: &$crate::IncidentFilter) -> $crate::Result<Vec<$crate::IncidentRecord>> {
                self.ops_incidents(contract_id, f).await
            }
            async fn incident(&self, id: &str) -> $crate::Result<Option<$crate::IncidentRecord>> {
                self.ops_incident(id).await
            }
            async fn publish_notice(&self, n: &$crate::NoticeRecord, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::NoticeRecord> {
                self.ops_publish_notice(n, e).await
            }
            async fn notices(&self, contract_id: &str, from: Option<chrono::DateTime<chrono::Utc>>, to: Option<chrono::DateTime<chrono::Utc>>) -> $crate::Result<Vec<$crate::NoticeRecord>> {
                self.ops_notices(contract_id, from, to).await
            }
            async fn notice(&self, id: &str) -> $crate::Result<Option<$crate::NoticeRecord>> {
                self.ops_notice(id).await
            }
            async fn cancel_notice(&self, id: &str, at: chrono::DateTime<chrono::Utc>, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<Option<$crate::NoticeRecord>> {
                self.ops_cancel_notice(id, at, e).await
            }
            async fn add_key_period(&self, k: &$crate::KeyPeriodRecord, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::KeyPeriodRecord> {
                self.ops_add_key_period(k, e).await
            }
            async fn key_periods(&self) -> $crate::Result<Vec<$crate::KeyPeriodRecord>> {
                self.ops_key_periods().await
            }
            async fn remove_key_period(&self, id: i64, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<bool> {
                self.ops_remove_key_period(id, e).await
            }
            async fn add_channel(&self, c: &$crate::ChannelRecord, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<$crate::ChannelRecord> {
                self.ops_add_channel(c, e).await
            }
            async fn channels(&self) -> $crate::Result<Vec<$crate::ChannelRecord>> {
                self.ops_channels().await
            }
            async fn remove_channel(&self, id: &str, e: govcloud_domain::audit::AuditEvent) -> $crate::Result<bool> {
                self.ops_remove_channel(id, e).await
            }
            async fn enqueue_delivery(&self, channel_id: &str, event_key: &str, subject: &str, body: &str, at: chrono::DateTime<chrono::Utc>) -> $crate::Result<Option<$crate::DeliveryRecord>> {
                self.ops_enqueue_delivery(channel_id, event_key, subject, body, at).await
            }
            async fn due_deliveries(&self, now: chrono::DateTime<chrono::Utc>, limit: i64) -> $crate::Result<Vec<$crate::DeliveryRecord>> {
                self.ops_due_deliveries(now, limit).await
            }
            async fn delivery_attempted(&self, id: i64, at: chrono::DateTime<chrono::Utc>, ok: bool, error: &str, retry_at: Option<chrono::DateTime<chrono::Utc>>) -> $crate::Result<()> {
                self.ops_delivery_attempted(id, at, ok, error, retry_at).await
            }
            async fn deliveries(&self, limit: i64) -> $crate::Result<Vec<$crate::DeliveryRecord>> {
                self.ops_deliveries(limit).await
            }

            async fn audit_head(&self) -> $crate::Result<Option<(i64, [u8; 32])>> {
                let row: Option<(i64, String)> =
                    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(|(s, h)| Ok((s, $crate::sql::parse_hash(&h)?))).transpose()
            }
        }

        impl $ty {
            async fn ensure_an_admin(tx: &mut sqlx::Transaction<'_, $db>) -> $crate::Result<()> {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM users WHERE role = 'admin' AND NOT disabled",
                )
                .fetch_one(&mut **tx)
                .await?;
                if n == 0 {
                    return Err($crate::StoreError::Conflict(
                        "this change would leave no enabled admin".to_owned(),
                    ));
                }
                Ok(())
            }
        }
    };
}

pub(crate) use impl_store;
