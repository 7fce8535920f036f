//! SQL of payments and acceptance (付款与验收), shared by both backends like `sql.rs`. The
//! macro writes inherent methods; the `Store` impl in `sql.rs` forwards to them.
//!
//! Evidence documents are kept as bytes (BLOB / BYTEA) with the SM3 and size the store
//! computes itself, so what is listed always matches what is served. Amounts are 元 with two
//! decimals: canonical text on SQLite, NUMERIC(20, 2) on PostgreSQL, read back as text
//! (`CAST(… AS TEXT)`) and handed out with exactly two decimals.
//!
//! The one-of-each-kind rule for acceptances and one payment per milestone are checked in
//! the writing transaction (which holds the write lock), with UNIQUE constraints behind them.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use govcloud_domain::payment::{sm3_hex, MAX_EVIDENCE_BYTES};
use rust_decimal::Decimal;

use crate::{AcceptanceRecord, EvidenceDocument, NewEvidence, PaymentRecord, Result, StoreError};

pub(crate) const ACCEPTANCE_COLS: &str =
    "id, contract_id, package_no, kind, accepted_on, note, recorded_by, created_at";
pub(crate) const EVIDENCE_COLS: &str =
    "d.id, d.acceptance_id, d.name, d.content_type, d.sm3, d.size, d.uploaded_by, d.created_at";
pub(crate) const PAYMENT_COLS: &str = "id, contract_id, package_no, milestone_seq, paid_on, \
     CAST(amount AS TEXT), reference, recorded_by, created_at";

pub(crate) type AcceptanceRow = (
    String,
    String,
    i64,
    String,
    NaiveDate,
    String,
    String,
    DateTime<Utc>,
);

pub(crate) fn acceptance_from_row(r: AcceptanceRow) -> AcceptanceRecord {
    let (id, contract_id, package_no, kind, accepted_on, note, recorded_by, created_at) = r;
    AcceptanceRecord {
        id,
        contract_id,
        package_no,
        kind,
        accepted_on,
        note,
        recorded_by,
        created_at,
    }
}

pub(crate) type EvidenceRow = (
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    DateTime<Utc>,
);

pub(crate) fn evidence_from_row(r: EvidenceRow) -> EvidenceDocument {
    let (id, acceptance_id, name, content_type, sm3, size, uploaded_by, created_at) = r;
    EvidenceDocument {
        id,
        acceptance_id,
        name,
        content_type,
        sm3,
        size,
        uploaded_by,
        created_at,
    }
}

pub(crate) type PaymentRow = (
    String,
    String,
    i64,
    i64,
    NaiveDate,
    String,
    String,
    String,
    DateTime<Utc>,
);

/// An amount in 元 as handed out: exactly two decimals.
pub(crate) fn yuan_text(d: Decimal) -> String {
    let mut d = d;
    d.rescale(2);
    d.to_string()
}

pub(crate) fn payment_from_row(r: PaymentRow) -> Result<PaymentRecord> {
    let (
        id,
        contract_id,
        package_no,
        milestone_seq,
        paid_on,
        amount,
        reference,
        recorded_by,
        created_at,
    ) = r;
    let amount = Decimal::from_str(amount.trim())
        .map_err(|_| StoreError::Corrupt(format!("payment {id} amount {amount:?}")))?;
    Ok(PaymentRecord {
        amount: yuan_text(amount),
        id,
        contract_id,
        package_no,
        milestone_seq,
        paid_on,
        reference,
        recorded_by,
        created_at,
    })
}

/// An amount given by a caller: above zero, at most two decimals, within NUMERIC(20, 2).
pub(crate) fn input_amount(s: &str) -> Result<Decimal> {
    let d = crate::sql_resources::input_decimal("amount", s, false)?;
    if d.scale() > 2 {
        return Err(StoreError::Conflict(format!(
            "amount {s:?} has more than two decimals"
        )));
    }
    Ok(d)
}

/// The stored form of a document: its SM3 and size, refusing one over the cap.
pub(crate) fn evidence_of(acceptance_id: &str, d: &NewEvidence) -> Result<EvidenceDocument> {
    if d.content.len() > MAX_EVIDENCE_BYTES {
        return Err(StoreError::Conflict(format!(
            "document {} has {} bytes; at most {MAX_EVIDENCE_BYTES} are kept",
            d.name,
            d.content.len()
        )));
    }
    Ok(EvidenceDocument {
        id: d.id.clone(),
        acceptance_id: acceptance_id.to_owned(),
        name: d.name.clone(),
        content_type: d.content_type.clone(),
        sm3: sm3_hex(&d.content),
        size: i64::try_from(d.content.len())
            .map_err(|_| StoreError::Conflict("document too large".into()))?,
        uploaded_by: d.uploaded_by.clone(),
        created_at: d.created_at,
    })
}

macro_rules! impl_payments {
    ($ty:ty, $db:ty) => {
        impl $ty {
            /// `NotFound` unless the contract has the package.
            async fn pay_check_package(
                tx: &mut sqlx::Transaction<'_, $db>,
                contract_id: &str,
                package_no: i64,
            ) -> $crate::Result<()> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT contract_id FROM packages WHERE contract_id = $1 AND number = $2")
                        .bind(contract_id)
                        .bind(package_no)
                        .fetch_optional(&mut **tx)
                        .await?;
                match row {
                    Some(_) => Ok(()),
                    None => Err($crate::StoreError::NotFound(format!(
                        "package {package_no} of contract {contract_id}"
                    ))),
                }
            }

            async fn pay_insert_evidence(
                tx: &mut sqlx::Transaction<'_, $db>,
                doc: &$crate::EvidenceDocument,
                content: &[u8],
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO acceptance_documents (id, acceptance_id, name, content_type, content, sm3, \
                     size, uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&doc.id)
                .bind(&doc.acceptance_id)
                .bind(&doc.name)
                .bind(&doc.content_type)
                .bind(content)
                .bind(&doc.sm3)
                .bind(doc.size)
                .bind(&doc.uploaded_by)
                .bind(doc.created_at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            pub(crate) async fn pay_record_acceptance(
                &self,
                a: &$crate::AcceptanceRecord,
                documents: &[$crate::NewEvidence],
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<Vec<$crate::EvidenceDocument>> {
                if a.kind != "stage" && a.kind != "final" {
                    return Err($crate::StoreError::Conflict(format!(
                        "an acceptance is stage or final, not {:?}",
                        a.kind
                    )));
                }
                let docs = documents
                    .iter()
                    .map(|d| $crate::sql_payments::evidence_of(&a.id, d))
                    .collect::<$crate::Result<Vec<_>>>()?;
                let mut tx = self.begin_write().await?;
                Self::pay_check_package(&mut tx, &a.contract_id, a.package_no).await?;
                let taken: Option<(String, chrono::NaiveDate)> = sqlx::query_as(
                    "SELECT id, accepted_on FROM acceptances \
                     WHERE (contract_id = $1 AND package_no = $2 AND kind = $3) OR id = $4",
                )
                .bind(&a.contract_id)
                .bind(a.package_no)
                .bind(&a.kind)
                .bind(&a.id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((id, on)) = taken {
                    return Err($crate::StoreError::Conflict(format!(
                        "package {} already has its {} acceptance {id} (on {on})",
                        a.package_no, a.kind
                    )));
                }
                sqlx::query(
                    "INSERT INTO acceptances (id, contract_id, package_no, kind, accepted_on, note, \
                     recorded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&a.id)
                .bind(&a.contract_id)
                .bind(a.package_no)
                .bind(&a.kind)
                .bind(a.accepted_on)
                .bind(&a.note)
                .bind(&a.recorded_by)
                .bind(a.created_at)
                .execute(&mut *tx)
                .await?;
                for (doc, new) in docs.iter().zip(documents) {
                    Self::pay_insert_evidence(&mut tx, doc, &new.content).await?;
                }
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(docs)
            }

            pub(crate) async fn pay_add_evidence(
                &self,
                acceptance_id: &str,
                document: &$crate::NewEvidence,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::EvidenceDocument> {
                let doc = $crate::sql_payments::evidence_of(acceptance_id, document)?;
                let mut tx = self.begin_write().await?;
                let found: Option<(String,)> = sqlx::query_as("SELECT id FROM acceptances WHERE id = $1")
                    .bind(acceptance_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if found.is_none() {
                    return Err($crate::StoreError::NotFound(format!("acceptance {acceptance_id}")));
                }
                let taken: Option<(String,)> = sqlx::query_as("SELECT id FROM acceptance_documents WHERE id = $1")
                    .bind(&doc.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    return Err($crate::StoreError::Conflict(format!("document {} exists already", doc.id)));
                }
                Self::pay_insert_evidence(&mut tx, &doc, &document.content).await?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(doc)
            }

            pub(crate) async fn pay_acceptances(
                &self,
                contract_id: &str,
                package_no: Option<i64>,
            ) -> $crate::Result<Vec<$crate::AcceptanceRecord>> {
                let rows: Vec<$crate::sql_payments::AcceptanceRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM acceptances WHERE contract_id = $1 AND ($2 IS NULL OR package_no = $2) \
                     ORDER BY package_no, CASE kind WHEN 'stage' THEN 0 ELSE 1 END, id",
                    $crate::sql_payments::ACCEPTANCE_COLS
                ))
                .bind(contract_id)
                .bind(package_no)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_payments::acceptance_from_row).collect())
            }

            pub(crate) async fn pay_acceptance(
                &self,
                id: &str,
            ) -> $crate::Result<Option<$crate::AcceptanceRecord>> {
                let row: Option<$crate::sql_payments::AcceptanceRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM acceptances WHERE id = $1",
                    $crate::sql_payments::ACCEPTANCE_COLS
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map($crate::sql_payments::acceptance_from_row))
            }

            pub(crate) async fn pay_evidence_list(
                &self,
                contract_id: &str,
                package_no: Option<i64>,
            ) -> $crate::Result<Vec<$crate::EvidenceDocument>> {
                let rows: Vec<$crate::sql_payments::EvidenceRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM acceptance_documents d JOIN acceptances a ON a.id = d.acceptance_id \
                     WHERE a.contract_id = $1 AND ($2 IS NULL OR a.package_no = $2) \
                     ORDER BY d.created_at, d.id",
                    $crate::sql_payments::EVIDENCE_COLS
                ))
                .bind(contract_id)
                .bind(package_no)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_payments::evidence_from_row).collect())
            }

            pub(crate) async fn pay_evidence(
                &self,
                id: &str,
            ) -> $crate::Result<Option<($crate::EvidenceDocument, Vec<u8>)>> {
                let row: Option<(String, String, String, String, String, i64, String, chrono::DateTime<chrono::Utc>, Vec<u8>)> =
                    sqlx::query_as(&format!(
                        "SELECT {}, d.content FROM acceptance_documents d WHERE d.id = $1",
                        $crate::sql_payments::EVIDENCE_COLS
                    ))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(id, acc, name, ty, sm3, size, by, at, content)| {
                    (
                        $crate::sql_payments::evidence_from_row((id, acc, name, ty, sm3, size, by, at)),
                        content,
                    )
                }))
            }

            pub(crate) async fn pay_record_payment(
                &self,
                p: &$crate::PaymentRecord,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::PaymentRecord> {
                let amount = $crate::sql_payments::input_amount(&p.amount)?;
                if p.milestone_seq <= 0 {
                    return Err($crate::StoreError::Conflict(format!(
                        "milestone {} is not above zero",
                        p.milestone_seq
                    )));
                }
                let mut tx = self.begin_write().await?;
                Self::pay_check_package(&mut tx, &p.contract_id, p.package_no).await?;
                let taken: Option<(String, chrono::NaiveDate)> = sqlx::query_as(
                    "SELECT id, paid_on FROM payments \
                     WHERE (contract_id = $1 AND package_no = $2 AND milestone_seq = $3) OR id = $4",
                )
                .bind(&p.contract_id)
                .bind(p.package_no)
                .bind(p.milestone_seq)
                .bind(&p.id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((id, on)) = taken {
                    return Err($crate::StoreError::Conflict(format!(
                        "milestone {} of package {} is already paid: {id} on {on}",
                        p.milestone_seq, p.package_no
                    )));
                }
                let row: $crate::sql_payments::PaymentRow = sqlx::query_as(&format!(
                    "INSERT INTO payments (id, contract_id, package_no, milestone_seq, paid_on, amount, \
                     reference, recorded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6{}, $7, $8, $9) \
                     RETURNING {}",
                    <$db as $crate::sql_resources::NumericCast>::NUMERIC,
                    $crate::sql_payments::PAYMENT_COLS
                ))
                .bind(&p.id)
                .bind(&p.contract_id)
                .bind(p.package_no)
                .bind(p.milestone_seq)
                .bind(p.paid_on)
                .bind($crate::sql_payments::yuan_text(amount))
                .bind(&p.reference)
                .bind(&p.recorded_by)
                .bind(p.created_at)
                .fetch_one(&mut *tx)
                .await?;
                let stored = $crate::sql_payments::payment_from_row(row)?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(stored)
            }

            pub(crate) async fn pay_payments(
                &self,
                contract_id: &str,
                package_no: Option<i64>,
            ) -> $crate::Result<Vec<$crate::PaymentRecord>> {
                let rows: Vec<$crate::sql_payments::PaymentRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM payments WHERE contract_id = $1 AND ($2 IS NULL OR package_no = $2) \
                     ORDER BY package_no, milestone_seq, id",
                    $crate::sql_payments::PAYMENT_COLS
                ))
                .bind(contract_id)
                .bind(package_no)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql_payments::payment_from_row).collect()
            }
        }
    };
}

pub(crate) use impl_payments;
