//! SQL of unit prices and monthly service statements (月度服务明细), shared by both backends
//! like `sql_resources.rs`: the macro writes inherent methods, `sql.rs` forwards to them.
//!
//! Prices are exact decimals (text on SQLite, NUMERIC on PostgreSQL, read back as text).
//! A month's usage is read as a stream of resource steps, one row at a time, so statement
//! generation holds one resource's steps at a time, not the whole table.

use chrono::{DateTime, Utc};

use crate::sql_resources::{dec_text, stored_decimal};
use crate::{PriceRecord, Result, StatementRecord};

pub(crate) const PRICE_COLS: &str = "contract_id, item_id, effective_from, \
     CAST(unit_price AS TEXT), source, note, created_at, created_by";
pub(crate) const STATEMENT_COLS: &str = "id, contract_id, month, package, system_code, \
     version, data, data_sm3, CAST(total AS TEXT), signature, signer_cert, timestamp_token, \
     issued_at, issued_by";

pub(crate) type PriceRow = (
    String,
    String,
    DateTime<Utc>,
    String,
    String,
    String,
    DateTime<Utc>,
    String,
);

pub(crate) fn price_from_row(r: PriceRow) -> Result<PriceRecord> {
    Ok(PriceRecord {
        contract_id: r.0,
        item_id: r.1,
        effective_from: r.2,
        unit_price: dec_text(stored_decimal("unit price", &r.3)?),
        source: r.4,
        note: r.5,
        created_at: r.6,
        created_by: r.7,
    })
}

pub(crate) type StatementRow = (
    String,
    String,
    String,
    i64,
    String,
    i64,
    Vec<u8>,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    DateTime<Utc>,
    String,
);

pub(crate) fn statement_from_row(r: StatementRow) -> Result<StatementRecord> {
    let mut total = stored_decimal("statement total", &r.8)?;
    total.rescale(2);
    Ok(StatementRecord {
        id: r.0,
        contract_id: r.1,
        month: r.2,
        package: r.3,
        system_code: r.4,
        version: r.5,
        data: r.6,
        data_sm3: r.7,
        total: total.to_string(),
        signature: r.9,
        signer_cert: r.10,
        timestamp_token: r.11,
        issued_at: r.12,
        issued_by: r.13,
    })
}

macro_rules! impl_statements {
    ($ty:ty, $db:ty) => {
        impl $ty {
            pub(crate) async fn st_set_price(
                &self,
                p: &$crate::PriceRecord,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<Option<String>> {
                let price = $crate::sql_resources::input_decimal("unit price", &p.unit_price, true)?;
                if !matches!(p.source.as_str(), "manual" | "demo") {
                    return Err($crate::StoreError::Conflict(format!("price source {:?} is not manual or demo", p.source)));
                }
                let mut tx = self.begin_write().await?;
                Self::res_contracted(&mut tx, &p.contract_id, &p.item_id).await?;
                let previous: Option<(String,)> = sqlx::query_as(
                    "SELECT CAST(unit_price AS TEXT) FROM prices WHERE contract_id = $1 AND item_id = $2 \
                     AND effective_from = $3",
                )
                .bind(&p.contract_id)
                .bind(&p.item_id)
                .bind(p.effective_from)
                .fetch_optional(&mut *tx)
                .await?;
                let previous = previous
                    .map(|(t,)| $crate::sql_resources::stored_decimal("unit price", &t).map($crate::sql_resources::dec_text))
                    .transpose()?;
                if previous.as_deref() == Some($crate::sql_resources::dec_text(price).as_str()) {
                    // The same price again: nothing changes, nothing is audited.
                    tx.rollback().await?;
                    return Ok(previous);
                }
                sqlx::query(
                    "DELETE FROM prices WHERE contract_id = $1 AND item_id = $2 AND effective_from = $3",
                )
                .bind(&p.contract_id)
                .bind(&p.item_id)
                .bind(p.effective_from)
                .execute(&mut *tx)
                .await?;
                sqlx::query(&format!(
                    "INSERT INTO prices (contract_id, item_id, effective_from, unit_price, source, note, \
                     created_at, created_by) VALUES ($1, $2, $3, $4{}, $5, $6, $7, $8)",
                    Self::res_numeric()
                ))
                .bind(&p.contract_id)
                .bind(&p.item_id)
                .bind(p.effective_from)
                .bind($crate::sql_resources::dec_text(price))
                .bind(&p.source)
                .bind(&p.note)
                .bind(p.created_at)
                .bind(&p.created_by)
                .execute(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(previous)
            }

            pub(crate) async fn st_prices(&self, contract_id: &str) -> $crate::Result<Vec<$crate::PriceRecord>> {
                let rows: Vec<$crate::sql_statements::PriceRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM prices WHERE contract_id = $1 ORDER BY item_id, effective_from",
                    $crate::sql_statements::PRICE_COLS
                ))
                .bind(contract_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql_statements::price_from_row).collect()
            }

            pub(crate) async fn st_usage_steps(
                &self,
                contract_id: &str,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                f: &mut (dyn FnMut($crate::UsageStep) -> $crate::Result<()> + Send),
            ) -> $crate::Result<()> {
                use futures_util::TryStreamExt;
                let mut rows = sqlx::query_as::<_, (String, String, String, String, chrono::DateTime<chrono::Utc>)>(
                    "SELECT r.system_code, r.item_id, e.resource_id, CAST(e.quantity AS TEXT), e.effective_at \
                     FROM resource_events e JOIN resources r ON r.id = e.resource_id \
                     WHERE r.contract_id = $1 AND e.effective_at < $2 \
                     AND NOT EXISTS (SELECT 1 FROM resource_events x WHERE x.resource_id = e.resource_id \
                                     AND x.kind = 'release' AND x.effective_at <= $3) \
                     ORDER BY r.system_code, r.item_id, e.resource_id, e.seq",
                )
                .bind(contract_id)
                .bind(to)
                .bind(from)
                .fetch(&self.pool);
                while let Some((system_code, item_id, resource_id, q, at)) = rows.try_next().await? {
                    f($crate::UsageStep {
                        system_code,
                        item_id,
                        resource_id,
                        quantity: $crate::sql_resources::stored_decimal("resource quantity", &q)?,
                        effective_at: at,
                    })?;
                }
                Ok(())
            }

            pub(crate) async fn st_occurrence_totals(
                &self,
                contract_id: &str,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Vec<(String, String, i64)>> {
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    "SELECT system_code, item_id, CAST(SUM(hosts) AS BIGINT) FROM service_occurrences \
                     WHERE contract_id = $1 AND performed_at >= $2 AND performed_at < $3 \
                     GROUP BY system_code, item_id ORDER BY system_code, item_id",
                )
                .bind(contract_id)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows)
            }

            pub(crate) async fn st_insert_statement(
                &self,
                s: &$crate::StatementRecord,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                let total = $crate::sql_resources::stored_decimal("statement total", &s.total)?;
                let mut tx = self.begin_write().await?;
                let taken: Option<(i64,)> = sqlx::query_as(
                    "SELECT version FROM statements WHERE contract_id = $1 AND month = $2 AND package = $3 \
                     AND system_code = $4 AND version >= $5",
                )
                .bind(&s.contract_id)
                .bind(&s.month)
                .bind(s.package)
                .bind(&s.system_code)
                .bind(s.version)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((v,)) = taken {
                    return Err($crate::StoreError::Conflict(format!(
                        "statement {} package {} system {} already has version {v}",
                        s.month, s.package, s.system_code
                    )));
                }
                sqlx::query(&format!(
                    "INSERT INTO statements ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9{}, $10, $11, $12, $13, $14)",
                    $crate::sql_statements::STATEMENT_COLS.replace("CAST(total AS TEXT)", "total"),
                    Self::res_numeric()
                ))
                .bind(&s.id)
                .bind(&s.contract_id)
                .bind(&s.month)
                .bind(s.package)
                .bind(&s.system_code)
                .bind(s.version)
                .bind(&s.data)
                .bind(&s.data_sm3)
                .bind(total.to_string())
                .bind(&s.signature)
                .bind(&s.signer_cert)
                .bind(&s.timestamp_token)
                .bind(s.issued_at)
                .bind(&s.issued_by)
                .execute(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn st_statements(
                &self,
                contract_id: &str,
                month: Option<&str>,
                package: Option<i64>,
            ) -> $crate::Result<Vec<$crate::StatementRecord>> {
                let rows: Vec<$crate::sql_statements::StatementRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM statements WHERE contract_id = $1 AND ($2 IS NULL OR month = $2) \
                     AND ($3 IS NULL OR package = $3) ORDER BY month, package, system_code, version",
                    $crate::sql_statements::STATEMENT_COLS
                ))
                .bind(contract_id)
                .bind(month)
                .bind(package)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql_statements::statement_from_row).collect()
            }

            pub(crate) async fn st_statement(&self, id: &str) -> $crate::Result<Option<$crate::StatementRecord>> {
                let row: Option<$crate::sql_statements::StatementRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM statements WHERE id = $1",
                    $crate::sql_statements::STATEMENT_COLS
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::sql_statements::statement_from_row).transpose()
            }
        }
    };
}

pub(crate) use impl_statements;
