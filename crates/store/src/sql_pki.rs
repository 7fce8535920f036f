//! SQL of the PKI tables, shared by both backends like `sql.rs`. The macro writes inherent
//! methods; the `Store` impl in `sql.rs` forwards to them.

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::{CertRecord, InventoryItem, Result, StoreError, TsaRecord};

pub(crate) const CERT_COLS: &str = "serial, alg, profile, subject, sans, not_before, not_after, \
     der, key_id, request_id, renews, revoked_at, reason, created_at, created_by";

pub(crate) type CertRow = (
    String,
    String,
    String,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<i32>,
    DateTime<Utc>,
    String,
);

pub(crate) fn unb64(what: &str, s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| StoreError::Corrupt(format!("{what} is not base64")))
}

pub(crate) fn cert_from_row(r: CertRow) -> Result<CertRecord> {
    let (
        serial,
        alg,
        profile,
        subject,
        sans,
        not_before,
        not_after,
        der,
        key_id,
        request_id,
        renews,
        revoked_at,
        reason,
        created_at,
        created_by,
    ) = r;
    Ok(CertRecord {
        der: unb64(&format!("certificate {serial}"), &der)?,
        serial,
        alg,
        profile,
        subject,
        sans,
        not_before,
        not_after,
        key_id,
        request_id,
        renews,
        revoked_at,
        reason,
        created_at,
        created_by,
    })
}

pub(crate) const INV_COLS: &str = "id, kind, label, assigned_to, assigned_at, created_at";
pub(crate) type InvRow = (
    String,
    String,
    String,
    Option<String>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

pub(crate) fn inv_from_row(r: InvRow) -> InventoryItem {
    let (id, kind, label, assigned_to, assigned_at, created_at) = r;
    InventoryItem {
        id,
        kind,
        label,
        assigned_to,
        assigned_at,
        created_at,
    }
}

pub(crate) type TsaRow = (
    i64,
    String,
    String,
    DateTime<Utc>,
    String,
    String,
    Option<String>,
);

pub(crate) fn tsa_from_row(r: TsaRow) -> Result<(TsaRecord, Option<Vec<u8>>)> {
    let (serial, alg, app_id, gen_time, hash_alg, imprint, token) = r;
    Ok((
        TsaRecord {
            serial,
            alg,
            app_id,
            gen_time,
            hash_alg,
            imprint,
        },
        token.map(|t| unb64("timestamp token", &t)).transpose()?,
    ))
}

macro_rules! impl_pki {
    ($ty:ty, $db:ty) => {
        impl $ty {
            /// Conflict when `sql` (a `SELECT … WHERE key = $1`) finds a row for `key`.
            async fn pki_refuse_existing(
                tx: &mut sqlx::Transaction<'_, $db>,
                sql: &str,
                key: &str,
                what: &str,
            ) -> $crate::Result<()> {
                let taken: Option<(String,)> =
                    sqlx::query_as(sql).bind(key).fetch_optional(&mut **tx).await?;
                match taken {
                    Some(_) => Err($crate::StoreError::Conflict(format!("{what} {key} exists already"))),
                    None => Ok(()),
                }
            }

            async fn pki_insert_cert(
                tx: &mut sqlx::Transaction<'_, $db>,
                c: &$crate::CertRecord,
            ) -> $crate::Result<()> {
                Self::pki_refuse_existing(tx, "SELECT serial FROM pki_certificates WHERE serial = $1", &c.serial, "certificate serial").await?;
                sqlx::query(&format!(
                    "INSERT INTO pki_certificates ({}, status) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'good')",
                    $crate::sql_pki::CERT_COLS
                ))
                .bind(&c.serial)
                .bind(&c.alg)
                .bind(&c.profile)
                .bind(&c.subject)
                .bind(&c.sans)
                .bind(c.not_before)
                .bind(c.not_after)
                .bind($crate::sql_crypto::b64(&c.der))
                .bind(&c.key_id)
                .bind(&c.request_id)
                .bind(&c.renews)
                .bind(c.revoked_at)
                .bind(c.reason)
                .bind(c.created_at)
                .bind(&c.created_by)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            pub(crate) async fn pki_keys_(&self) -> $crate::Result<Vec<$crate::PkiKey>> {
                let rows: Vec<(String, String, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
                    "SELECT id, kind, wrapped, created_at FROM pki_keys ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, kind, wrapped, created_at)| {
                        Ok($crate::PkiKey {
                            wrapped: $crate::sql_pki::unb64(&format!("PKI key {id}"), &wrapped)?,
                            id,
                            kind,
                            created_at,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn pki_setup_(
                &self,
                keys: &[$crate::PkiKey],
                certs: &[$crate::CertRecord],
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                for k in keys {
                    Self::pki_refuse_existing(&mut tx, "SELECT id FROM pki_keys WHERE id = $1", &k.id, "PKI key").await?;
                    sqlx::query(
                        "INSERT INTO pki_keys (id, kind, wrapped, created_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&k.id)
                    .bind(&k.kind)
                    .bind($crate::sql_crypto::b64(&k.wrapped))
                    .bind(k.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                for c in certs {
                    Self::pki_insert_cert(&mut tx, c).await?;
                }
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn pki_insert_certificates(
                &self,
                certs: &[$crate::CertRecord],
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                for c in certs {
                    Self::pki_insert_cert(&mut tx, c).await?;
                }
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn pki_certificate(
                &self,
                serial: &str,
            ) -> $crate::Result<Option<$crate::CertRecord>> {
                let row: Option<$crate::sql_pki::CertRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM pki_certificates WHERE serial = $1",
                    $crate::sql_pki::CERT_COLS
                ))
                .bind(serial)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::sql_pki::cert_from_row).transpose()
            }

            pub(crate) async fn pki_list_certificates(
                &self,
            ) -> $crate::Result<Vec<$crate::CertRecord>> {
                let rows: Vec<$crate::sql_pki::CertRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM pki_certificates ORDER BY created_at DESC, serial",
                    $crate::sql_pki::CERT_COLS
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql_pki::cert_from_row).collect()
            }

            pub(crate) async fn pki_revoke(
                &self,
                serial: &str,
                at: chrono::DateTime<chrono::Utc>,
                reason: i32,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::CertRecord> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE pki_certificates SET status = 'revoked', revoked_at = $2, reason = $3 \
                     WHERE serial = $1 AND status = 'good'",
                )
                .bind(serial)
                .bind(at)
                .bind(reason)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let row: Option<$crate::sql_pki::CertRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM pki_certificates WHERE serial = $1",
                    $crate::sql_pki::CERT_COLS
                ))
                .bind(serial)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err($crate::StoreError::NotFound(format!("certificate {serial}")));
                };
                if done == 0 {
                    return Err($crate::StoreError::Conflict(format!(
                        "certificate {serial} is revoked already"
                    )));
                }
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                $crate::sql_pki::cert_from_row(row)
            }

            pub(crate) async fn pki_next_crl_number(&self, alg: &str) -> $crate::Result<i64> {
                let mut tx = self.begin_write().await?;
                // A placeholder row holds the counter until the first CRL is saved.
                sqlx::query(
                    "INSERT INTO pki_crls (alg, number, this_update, next_update, der) \
                     VALUES ($1, 0, $2, $2, '') ON CONFLICT (alg) DO UPDATE SET number = pki_crls.number + 1",
                )
                .bind(alg)
                .bind(chrono::Utc::now())
                .execute(&mut *tx)
                .await?;
                let (n,): (i64,) = sqlx::query_as("SELECT number FROM pki_crls WHERE alg = $1")
                    .bind(alg)
                    .fetch_one(&mut *tx)
                    .await?;
                let n = if n == 0 {
                    sqlx::query("UPDATE pki_crls SET number = 1 WHERE alg = $1")
                        .bind(alg)
                        .execute(&mut *tx)
                        .await?;
                    1
                } else {
                    n
                };
                tx.commit().await?;
                Ok(n)
            }

            pub(crate) async fn pki_save_crl(&self, c: &$crate::StoredCrl) -> $crate::Result<()> {
                // The counter row already holds a number >= c.number; store the DER when it is
                // this CRL's number or when the stored one is older.
                sqlx::query(
                    "UPDATE pki_crls SET this_update = $2, next_update = $3, der = $4 \
                     WHERE alg = $1 AND number = $5",
                )
                .bind(&c.alg)
                .bind(c.this_update)
                .bind(c.next_update)
                .bind($crate::sql_crypto::b64(&c.der))
                .bind(c.number)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            pub(crate) async fn pki_crl(&self, alg: &str) -> $crate::Result<Option<$crate::StoredCrl>> {
                let row: Option<(String, i64, chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>, String)> = sqlx::query_as(
                    "SELECT alg, number, this_update, next_update, der FROM pki_crls \
                     WHERE alg = $1 AND der <> ''",
                )
                .bind(alg)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(alg, number, this_update, next_update, der)| {
                    Ok($crate::StoredCrl {
                        der: $crate::sql_pki::unb64("CRL", &der)?,
                        alg,
                        number,
                        this_update,
                        next_update,
                    })
                })
                .transpose()
            }

            pub(crate) async fn pki_create_challenge(
                &self,
                id: &str,
                app_id: &str,
                challenge: &[u8],
                expires_at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO auth_challenges (id, app_id, challenge, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(app_id)
                .bind($crate::sql_crypto::b64(challenge))
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            pub(crate) async fn pki_consume_challenge(
                &self,
                id: &str,
                app_id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Option<Vec<u8>>> {
                let row: Option<(String,)> = sqlx::query_as(
                    "UPDATE auth_challenges SET used_at = $3 \
                     WHERE id = $1 AND app_id = $2 AND used_at IS NULL AND expires_at > $3 \
                     RETURNING challenge",
                )
                .bind(id)
                .bind(app_id)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(c,)| $crate::sql_pki::unb64("challenge", &c)).transpose()
            }

            pub(crate) async fn pki_purge_challenges(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::Result<u64> {
                Ok(sqlx::query("DELETE FROM auth_challenges WHERE expires_at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }

            pub(crate) async fn pki_record_timestamp(&self, t: &$crate::TsaRecord) -> $crate::Result<i64> {
                let (serial,): (i64,) = sqlx::query_as(
                    "INSERT INTO tsa_tokens (alg, app_id, gen_time, hash_alg, imprint) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING serial",
                )
                .bind(&t.alg)
                .bind(&t.app_id)
                .bind(t.gen_time)
                .bind(&t.hash_alg)
                .bind(&t.imprint)
                .fetch_one(&self.pool)
                .await?;
                Ok(serial)
            }

            pub(crate) async fn pki_set_timestamp_token(&self, serial: i64, token: &[u8]) -> $crate::Result<()> {
                sqlx::query("UPDATE tsa_tokens SET token = $2 WHERE serial = $1")
                    .bind(serial)
                    .bind($crate::sql_crypto::b64(token))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            pub(crate) async fn pki_timestamp(
                &self,
                serial: i64,
            ) -> $crate::Result<Option<($crate::TsaRecord, Option<Vec<u8>>)>> {
                let row: Option<$crate::sql_pki::TsaRow> = sqlx::query_as(
                    "SELECT serial, alg, app_id, gen_time, hash_alg, imprint, token FROM tsa_tokens WHERE serial = $1",
                )
                .bind(serial)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::sql_pki::tsa_from_row).transpose()
            }

            pub(crate) async fn pki_count_timestamps(&self) -> $crate::Result<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tsa_tokens")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n)
            }

            pub(crate) async fn pki_add_inventory(
                &self,
                items: &[$crate::InventoryItem],
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                for i in items {
                    Self::pki_refuse_existing(&mut tx, "SELECT id FROM pki_inventory WHERE id = $1", &i.id, "inventory item").await?;
                    sqlx::query(&format!(
                        "INSERT INTO pki_inventory ({}) VALUES ($1, $2, $3, $4, $5, $6)",
                        $crate::sql_pki::INV_COLS
                    ))
                    .bind(&i.id)
                    .bind(&i.kind)
                    .bind(&i.label)
                    .bind(&i.assigned_to)
                    .bind(i.assigned_at)
                    .bind(i.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn pki_assign_inventory(
                &self,
                id: &str,
                to: Option<&str>,
                at: chrono::DateTime<chrono::Utc>,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::InventoryItem> {
                let mut tx = self.begin_write().await?;
                let row: Option<$crate::sql_pki::InvRow> = sqlx::query_as(&format!(
                    "UPDATE pki_inventory SET assigned_to = $2, assigned_at = $3 WHERE id = $1 RETURNING {}",
                    $crate::sql_pki::INV_COLS
                ))
                .bind(id)
                .bind(to)
                .bind(to.map(|_| at))
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err($crate::StoreError::NotFound(format!("inventory item {id}")));
                };
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok($crate::sql_pki::inv_from_row(row))
            }

            pub(crate) async fn pki_list_inventory(&self) -> $crate::Result<Vec<$crate::InventoryItem>> {
                let rows: Vec<$crate::sql_pki::InvRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM pki_inventory ORDER BY kind, id",
                    $crate::sql_pki::INV_COLS
                ))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_pki::inv_from_row).collect())
            }
        }
    };
}

pub(crate) use impl_pki;
