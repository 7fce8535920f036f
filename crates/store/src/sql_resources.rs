//! SQL of the cloud resources' (资源) tables, shared by both backends like `sql.rs`. The macro
//! writes inherent methods; the `Store` impl in `sql.rs` forwards to them.
//!
//! Quantities and clock speeds are exact decimals: canonical decimal text on SQLite, NUMERIC
//! on PostgreSQL (bound as text with [`NumericCast::NUMERIC`] appended to the parameter).
//! Both are read back as text (`CAST(… AS TEXT)`), parsed with `rust_decimal`, summed and
//! compared there (never with SQL `SUM`, which SQLite would do in floating point) and handed
//! out normalized (`"8"`, `"9.6"`, `"0"`), whatever scale the column keeps.
//!
//! Every check that guards a write (the item's contracted quantity, a host's 4:1 vCPU limit)
//! runs inside the writing transaction, which holds the database's write lock
//! (`begin_write`): concurrent requests are checked one after another and never both draw
//! the last of an item.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::{ChangeRequest, Occurrence, PhysicalHost, Resource, ResourceEvent, Result, StoreError};

/// How a decimal bound as text is cast in SQL on each backend.
pub(crate) trait NumericCast {
    const NUMERIC: &'static str;
}

impl NumericCast for sqlx::Sqlite {
    const NUMERIC: &'static str = "";
}

impl NumericCast for sqlx::Postgres {
    const NUMERIC: &'static str = "::numeric";
}

/// vCPUs allowed per physical core on a host.
pub(crate) const VCPUS_PER_CORE: i64 = 4;

/// NUMERIC(20, 6): six decimal places, fourteen integer digits.
const MAX_SCALE: u32 = 6;
const MAX_INTEGER_DIGITS: u32 = 14;

pub(crate) const RESOURCE_COLS: &str = "id, contract_id, item_id, system_code, name, \
     CAST(quantity AS TEXT), spec, host_id, vcpus, engine_ref, released, created_at, created_by";
pub(crate) const EVENT_COLS: &str = "resource_id, seq, kind, CAST(quantity AS TEXT), \
     effective_at, recorded_at, actor, reason, change_id";
pub(crate) const OCCURRENCE_COLS: &str = "id, contract_id, item_id, system_code, performed_at, \
     hosts, note, recorded_at, recorded_by";
pub(crate) const CHANGE_COLS: &str = "id, kind, resource_id, contract_id, item_id, system_code, \
     CAST(quantity AS TEXT) AS quantity, spec, effective_at, reason, state, requested_by, \
     requested_at, decided_by, decided_at, decision_note, executed_at";

/// The normalized text of a decimal: `"8"`, `"9.6"`, `"0"`.
pub(crate) fn dec_text(d: Decimal) -> String {
    d.normalize().to_string()
}

/// A decimal read from the database.
pub(crate) fn stored_decimal(what: &str, s: &str) -> Result<Decimal> {
    Decimal::from_str(s.trim())
        .map(|d| d.normalize())
        .map_err(|_| StoreError::Corrupt(format!("{what} {s:?} is not a decimal")))
}

/// A decimal given by a caller: exact, not negative (and above zero unless `zero_ok`), and
/// within what both backends keep exactly (six decimal places, fourteen integer digits).
pub(crate) fn input_decimal(what: &str, s: &str, zero_ok: bool) -> Result<Decimal> {
    let d = Decimal::from_str(s.trim())
        .map_err(|_| StoreError::Conflict(format!("{what} {s:?} is not a decimal number")))?
        .normalize();
    let too_small = if zero_ok {
        d < Decimal::ZERO
    } else {
        d <= Decimal::ZERO
    };
    if too_small {
        let bound = if zero_ok {
            "negative"
        } else {
            "not above zero"
        };
        return Err(StoreError::Conflict(format!("{what} {s:?} is {bound}")));
    }
    if d.scale() > MAX_SCALE || d.trunc() >= Decimal::from(10_i64.pow(MAX_INTEGER_DIGITS)) {
        return Err(StoreError::Conflict(format!(
            "{what} {s:?} needs more than {MAX_INTEGER_DIGITS} integer digits or {MAX_SCALE} decimal places"
        )));
    }
    Ok(d)
}

pub(crate) type ResourceRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
    bool,
    DateTime<Utc>,
    String,
);

pub(crate) fn resource_from_row(r: ResourceRow) -> Result<Resource> {
    let (
        id,
        contract_id,
        item_id,
        system_code,
        name,
        quantity,
        spec,
        host_id,
        vcpus,
        engine_ref,
        released,
        created_at,
        created_by,
    ) = r;
    Ok(Resource {
        quantity: dec_text(stored_decimal(
            &format!("resource {id} quantity"),
            &quantity,
        )?),
        id,
        contract_id,
        item_id,
        system_code,
        name,
        spec,
        host_id,
        vcpus,
        engine_ref,
        released,
        created_at,
        created_by,
    })
}

pub(crate) type EventRow = (
    String,
    i64,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    String,
    String,
    Option<String>,
);

pub(crate) fn event_from_row(r: EventRow) -> Result<ResourceEvent> {
    let (resource_id, seq, kind, quantity, effective_at, recorded_at, actor, reason, change_id) = r;
    Ok(ResourceEvent {
        quantity: dec_text(stored_decimal(
            &format!("resource {resource_id} event {seq} quantity"),
            &quantity,
        )?),
        resource_id,
        seq,
        kind,
        effective_at,
        recorded_at,
        actor,
        reason,
        change_id,
    })
}

/// A host's columns followed by the vCPUs placed on it.
pub(crate) type HostRow = (String, String, String, String, i64, DateTime<Utc>, i64);

pub(crate) fn host_from_row(r: HostRow) -> Result<(PhysicalHost, i64)> {
    let (id, name, arch, clock_ghz, cores, created_at, placed) = r;
    Ok((
        PhysicalHost {
            clock_ghz: dec_text(stored_decimal(&format!("host {id} clock"), &clock_ghz)?),
            id,
            name,
            arch,
            cores,
            created_at,
        },
        placed,
    ))
}

pub(crate) type OccurrenceRow = (
    String,
    String,
    String,
    String,
    DateTime<Utc>,
    i64,
    String,
    DateTime<Utc>,
    String,
);

pub(crate) fn occurrence_from_row(r: OccurrenceRow) -> Occurrence {
    let (
        id,
        contract_id,
        item_id,
        system_code,
        performed_at,
        hosts,
        note,
        recorded_at,
        recorded_by,
    ) = r;
    Occurrence {
        id,
        contract_id,
        item_id,
        system_code,
        performed_at,
        hosts,
        note,
        recorded_at,
        recorded_by,
    }
}

/// A change request's columns (more than sqlx decodes into a tuple).
#[derive(sqlx::FromRow)]
pub(crate) struct ChangeRow {
    id: String,
    kind: String,
    resource_id: Option<String>,
    contract_id: String,
    item_id: String,
    system_code: String,
    quantity: String,
    spec: String,
    effective_at: Option<DateTime<Utc>>,
    reason: String,
    state: String,
    requested_by: String,
    requested_at: DateTime<Utc>,
    decided_by: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    decision_note: Option<String>,
    executed_at: Option<DateTime<Utc>>,
}

pub(crate) fn change_from_row(r: ChangeRow) -> Result<ChangeRequest> {
    Ok(ChangeRequest {
        quantity: dec_text(stored_decimal(
            &format!("change {} quantity", r.id),
            &r.quantity,
        )?),
        id: r.id,
        kind: r.kind,
        resource_id: r.resource_id,
        contract_id: r.contract_id,
        item_id: r.item_id,
        system_code: r.system_code,
        spec: r.spec,
        effective_at: r.effective_at,
        reason: r.reason,
        state: r.state,
        requested_by: r.requested_by,
        requested_at: r.requested_at,
        decided_by: r.decided_by,
        decided_at: r.decided_at,
        decision_note: r.decision_note,
        executed_at: r.executed_at,
    })
}

/// The sum of decimals read from the database.
pub(crate) fn sum_stored<'a>(
    what: &str,
    quantities: impl IntoIterator<Item = &'a str>,
) -> Result<Decimal> {
    quantities
        .into_iter()
        .try_fold(Decimal::ZERO, |acc, q| Ok(acc + stored_decimal(what, q)?))
}

macro_rules! impl_resources {
    ($ty:ty, $db:ty) => {
        impl $ty {
            /// The decimal cast of this backend, appended to a `$n` bound as text.
            fn res_numeric() -> &'static str {
                <$db as $crate::sql_resources::NumericCast>::NUMERIC
            }

            /// Conflict when `sql` (a `SELECT … WHERE key = $1`) finds a row for `key`.
            async fn res_refuse_existing(
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

            /// The contracted quantity of a catalog item; `NotFound` when the contract has
            /// no such item.
            async fn res_contracted(
                tx: &mut sqlx::Transaction<'_, $db>,
                contract_id: &str,
                item_id: &str,
            ) -> $crate::Result<rust_decimal::Decimal> {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT CAST(quantity AS TEXT) FROM catalog_items WHERE contract_id = $1 AND id = $2",
                )
                .bind(contract_id)
                .bind(item_id)
                .fetch_optional(&mut **tx)
                .await?;
                match row {
                    Some((q,)) => $crate::sql_resources::stored_decimal(&format!("item {item_id} quantity"), &q),
                    None => Err($crate::StoreError::NotFound(format!(
                        "catalog item {item_id} of contract {contract_id}"
                    ))),
                }
            }

            /// `OverContract` unless the item's active resources (but `except`) plus
            /// `requested` fit into its contracted quantity.
            async fn res_check_item(
                tx: &mut sqlx::Transaction<'_, $db>,
                contract_id: &str,
                item_id: &str,
                except: Option<&str>,
                requested: rust_decimal::Decimal,
            ) -> $crate::Result<()> {
                let contracted = Self::res_contracted(tx, contract_id, item_id).await?;
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, CAST(quantity AS TEXT) FROM resources \
                     WHERE contract_id = $1 AND item_id = $2 AND NOT released",
                )
                .bind(contract_id)
                .bind(item_id)
                .fetch_all(&mut **tx)
                .await?;
                let allocated = $crate::sql_resources::sum_stored(
                    "resource quantity",
                    rows.iter()
                        .filter(|(id, _)| Some(id.as_str()) != except)
                        .map(|(_, q)| q.as_str()),
                )?;
                if allocated + requested > contracted {
                    return Err($crate::StoreError::OverContract {
                        item: item_id.to_owned(),
                        contracted: $crate::sql_resources::dec_text(contracted),
                        allocated: $crate::sql_resources::dec_text(allocated),
                        requested: $crate::sql_resources::dec_text(requested),
                    });
                }
                Ok(())
            }

            /// `NotFound` for an unknown host; `OverCommitted` unless the vCPUs of its
            /// active resources (but `except`) plus `requested` stay within 4 per core.
            async fn res_check_host(
                tx: &mut sqlx::Transaction<'_, $db>,
                host_id: &str,
                except: Option<&str>,
                requested: i64,
            ) -> $crate::Result<()> {
                let cores: Option<(i64,)> = sqlx::query_as("SELECT cores FROM physical_hosts WHERE id = $1")
                    .bind(host_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                let Some((cores,)) = cores else {
                    return Err($crate::StoreError::NotFound(format!("physical host {host_id}")));
                };
                let rows: Vec<(String, i64)> =
                    sqlx::query_as("SELECT id, vcpus FROM resources WHERE host_id = $1 AND NOT released")
                        .bind(host_id)
                        .fetch_all(&mut **tx)
                        .await?;
                let placed: i64 = rows
                    .iter()
                    .filter(|(id, _)| Some(id.as_str()) != except)
                    .map(|(_, v)| *v)
                    .sum();
                let limit = cores * $crate::sql_resources::VCPUS_PER_CORE;
                if placed + requested > limit {
                    return Err($crate::StoreError::OverCommitted {
                        host: host_id.to_owned(),
                        cores,
                        limit,
                        placed,
                        requested,
                    });
                }
                Ok(())
            }

            async fn res_resource_tx(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: &str,
            ) -> $crate::Result<Option<$crate::Resource>> {
                let row: Option<$crate::sql_resources::ResourceRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM resources WHERE id = $1",
                    $crate::sql_resources::RESOURCE_COLS
                ))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
                row.map($crate::sql_resources::resource_from_row).transpose()
            }

            async fn res_change_tx(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: &str,
            ) -> $crate::Result<Option<$crate::ChangeRequest>> {
                let row: Option<$crate::sql_resources::ChangeRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM resource_changes WHERE id = $1",
                    $crate::sql_resources::CHANGE_COLS
                ))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
                row.map($crate::sql_resources::change_from_row).transpose()
            }

            async fn res_insert_event(
                tx: &mut sqlx::Transaction<'_, $db>,
                e: &$crate::ResourceEvent,
            ) -> $crate::Result<()> {
                sqlx::query(&format!(
                    "INSERT INTO resource_events (resource_id, seq, kind, quantity, effective_at, \
                     recorded_at, actor, reason, change_id) VALUES ($1, $2, $3, $4{}, $5, $6, $7, $8, $9)",
                    Self::res_numeric()
                ))
                .bind(&e.resource_id)
                .bind(e.seq)
                .bind(&e.kind)
                .bind(&e.quantity)
                .bind(e.effective_at)
                .bind(e.recorded_at)
                .bind(&e.actor)
                .bind(&e.reason)
                .bind(&e.change_id)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            pub(crate) async fn res_create_resource(
                &self,
                r: &$crate::Resource,
                event: &$crate::ResourceEvent,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::Resource> {
                let quantity = $crate::sql_resources::input_decimal("quantity", &r.quantity, false)?;
                if r.vcpus < 0 {
                    return Err($crate::StoreError::Conflict(format!("vcpus {} is negative", r.vcpus)));
                }
                let quantity_text = $crate::sql_resources::dec_text(quantity);
                let mut tx = self.begin_write().await?;
                Self::res_refuse_existing(&mut tx, "SELECT id FROM resources WHERE id = $1", &r.id, "resource")
                    .await?;
                Self::res_check_item(&mut tx, &r.contract_id, &r.item_id, None, quantity).await?;
                if let Some(host) = &r.host_id {
                    Self::res_check_host(&mut tx, host, None, r.vcpus).await?;
                }
                sqlx::query(&format!(
                    "INSERT INTO resources (id, contract_id, item_id, system_code, name, quantity, spec, \
                     host_id, vcpus, engine_ref, released, created_at, created_by) \
                     VALUES ($1, $2, $3, $4, $5, $6{}, $7, $8, $9, $10, FALSE, $11, $12)",
                    Self::res_numeric()
                ))
                .bind(&r.id)
                .bind(&r.contract_id)
                .bind(&r.item_id)
                .bind(&r.system_code)
                .bind(&r.name)
                .bind(&quantity_text)
                .bind(&r.spec)
                .bind(&r.host_id)
                .bind(r.vcpus)
                .bind(&r.engine_ref)
                .bind(r.created_at)
                .bind(&r.created_by)
                .execute(&mut *tx)
                .await?;
                let first = $crate::ResourceEvent {
                    resource_id: r.id.clone(),
                    seq: 1,
                    kind: "create".to_owned(),
                    quantity: quantity_text,
                    ..event.clone()
                };
                Self::res_insert_event(&mut tx, &first).await?;
                let stored = Self::res_resource_tx(&mut tx, &r.id)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Corrupt(format!("resource {} vanished", r.id)))?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(stored)
            }

            pub(crate) async fn res_change_resource(
                &self,
                id: &str,
                event: &$crate::ResourceEvent,
                vcpus: Option<i64>,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::Resource> {
                let resize = match event.kind.as_str() {
                    "resize" => Some($crate::sql_resources::input_decimal("quantity", &event.quantity, false)?),
                    "release" => None,
                    other => {
                        return Err($crate::StoreError::Conflict(format!(
                            "a resource change is a resize or a release, not {other:?}"
                        )))
                    }
                };
                if let Some(v) = vcpus.filter(|v| *v < 0) {
                    return Err($crate::StoreError::Conflict(format!("vcpus {v} is negative")));
                }
                let mut tx = self.begin_write().await?;
                let Some(cur) = Self::res_resource_tx(&mut tx, id).await? else {
                    return Err($crate::StoreError::NotFound(format!("resource {id}")));
                };
                if cur.released {
                    return Err($crate::StoreError::Conflict(format!("resource {id} is released")));
                }
                let last: Option<(i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
                    "SELECT seq, effective_at FROM resource_events WHERE resource_id = $1 \
                     ORDER BY seq DESC LIMIT 1",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((last_seq, last_at)) = last else {
                    return Err($crate::StoreError::Corrupt(format!("resource {id} has no events")));
                };
                if event.effective_at < last_at {
                    return Err($crate::StoreError::Conflict(format!(
                        "resource {id} changed last with effect from {last_at}; a change cannot take effect earlier ({})",
                        event.effective_at
                    )));
                }
                let quantity_text = match resize {
                    Some(quantity) => {
                        // Only a change that draws more is checked: shrinking is always
                        // allowed, even where a reloaded contract left the item overdrawn.
                        let old = $crate::sql_resources::stored_decimal("resource quantity", &cur.quantity)?;
                        if quantity > old {
                            Self::res_check_item(&mut tx, &cur.contract_id, &cur.item_id, Some(id), quantity)
                                .await?;
                        }
                        let new_vcpus = vcpus.unwrap_or(cur.vcpus);
                        if let Some(host) = cur.host_id.as_deref().filter(|_| new_vcpus > cur.vcpus) {
                            Self::res_check_host(&mut tx, host, Some(id), new_vcpus).await?;
                        }
                        let text = $crate::sql_resources::dec_text(quantity);
                        sqlx::query(&format!(
                            "UPDATE resources SET quantity = $1{}, vcpus = $2 WHERE id = $3",
                            Self::res_numeric()
                        ))
                        .bind(&text)
                        .bind(new_vcpus)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                        text
                    }
                    None => {
                        sqlx::query(&format!(
                            "UPDATE resources SET quantity = $1{}, vcpus = 0, released = TRUE WHERE id = $2",
                            Self::res_numeric()
                        ))
                        .bind("0")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                        "0".to_owned()
                    }
                };
                let next = $crate::ResourceEvent {
                    resource_id: id.to_owned(),
                    seq: last_seq + 1,
                    quantity: quantity_text,
                    ..event.clone()
                };
                Self::res_insert_event(&mut tx, &next).await?;
                let stored = Self::res_resource_tx(&mut tx, id)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Corrupt(format!("resource {id} vanished")))?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(stored)
            }

            pub(crate) async fn res_resource(
                &self,
                id: &str,
            ) -> $crate::Result<Option<($crate::Resource, Vec<$crate::ResourceEvent>)>> {
                let row: Option<$crate::sql_resources::ResourceRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM resources WHERE id = $1",
                    $crate::sql_resources::RESOURCE_COLS
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let events: Vec<$crate::sql_resources::EventRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM resource_events WHERE resource_id = $1 ORDER BY seq",
                    $crate::sql_resources::EVENT_COLS
                ))
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                Ok(Some((
                    $crate::sql_resources::resource_from_row(row)?,
                    events
                        .into_iter()
                        .map($crate::sql_resources::event_from_row)
                        .collect::<$crate::Result<_>>()?,
                )))
            }

            pub(crate) async fn res_list_resources(
                &self,
                system_code: Option<&str>,
            ) -> $crate::Result<Vec<$crate::Resource>> {
                let rows: Vec<$crate::sql_resources::ResourceRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM resources WHERE ($1 IS NULL OR system_code = $1) ORDER BY created_at, id",
                    $crate::sql_resources::RESOURCE_COLS
                ))
                .bind(system_code)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql_resources::resource_from_row).collect()
            }

            pub(crate) async fn res_resource_events(
                &self,
                system_code: Option<&str>,
            ) -> $crate::Result<Vec<$crate::ResourceEvent>> {
                let rows: Vec<$crate::sql_resources::EventRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM resource_events WHERE ($1 IS NULL OR resource_id IN \
                     (SELECT id FROM resources WHERE system_code = $1)) ORDER BY resource_id, seq",
                    $crate::sql_resources::EVENT_COLS
                ))
                .bind(system_code)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql_resources::event_from_row).collect()
            }

            /// Contracted against allocated for the items of a contract (one item, or all),
            /// ordered by item id.
            async fn res_usage(
                &self,
                contract_id: &str,
                item_id: Option<&str>,
            ) -> $crate::Result<Vec<$crate::ItemUsage>> {
                let items: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, CAST(quantity AS TEXT) FROM catalog_items \
                     WHERE contract_id = $1 AND ($2 IS NULL OR id = $2)",
                )
                .bind(contract_id)
                .bind(item_id)
                .fetch_all(&self.pool)
                .await?;
                let drawn: Vec<(String, String)> = sqlx::query_as(
                    "SELECT item_id, CAST(quantity AS TEXT) FROM resources \
                     WHERE contract_id = $1 AND ($2 IS NULL OR item_id = $2) AND NOT released",
                )
                .bind(contract_id)
                .bind(item_id)
                .fetch_all(&self.pool)
                .await?;
                let mut allocated = std::collections::BTreeMap::<String, rust_decimal::Decimal>::new();
                for (item, q) in &drawn {
                    *allocated.entry(item.clone()).or_default() +=
                        $crate::sql_resources::stored_decimal("resource quantity", q)?;
                }
                let mut usage = items
                    .into_iter()
                    .map(|(item, q)| {
                        let contracted = $crate::sql_resources::stored_decimal("item quantity", &q)?;
                        Ok($crate::ItemUsage {
                            contracted: $crate::sql_resources::dec_text(contracted),
                            allocated: $crate::sql_resources::dec_text(
                                allocated.get(&item).copied().unwrap_or_default(),
                            ),
                            item_id: item,
                        })
                    })
                    .collect::<$crate::Result<Vec<_>>>()?;
                // Byte order on both backends (a PostgreSQL collation might order otherwise).
                usage.sort_by(|a, b| a.item_id.cmp(&b.item_id));
                Ok(usage)
            }

            pub(crate) async fn res_item_usage(
                &self,
                contract_id: &str,
                item_id: &str,
            ) -> $crate::Result<Option<$crate::ItemUsage>> {
                Ok(self.res_usage(contract_id, Some(item_id)).await?.into_iter().next())
            }

            pub(crate) async fn res_items_usage(
                &self,
                contract_id: &str,
            ) -> $crate::Result<Vec<$crate::ItemUsage>> {
                self.res_usage(contract_id, None).await
            }

            pub(crate) async fn res_set_engine_ref(
                &self,
                id: &str,
                engine_ref: Option<&str>,
            ) -> $crate::Result<()> {
                let n = sqlx::query("UPDATE resources SET engine_ref = $1 WHERE id = $2")
                    .bind(engine_ref)
                    .bind(id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err($crate::StoreError::NotFound(format!("resource {id}")));
                }
                Ok(())
            }

            pub(crate) async fn res_add_physical_host(
                &self,
                h: &$crate::PhysicalHost,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                if !["x86", "arm", "c86"].contains(&h.arch.as_str()) {
                    return Err($crate::StoreError::Conflict(format!(
                        "architecture {:?} is not x86, arm or c86",
                        h.arch
                    )));
                }
                if h.cores <= 0 {
                    return Err($crate::StoreError::Conflict(format!("cores {} is not above zero", h.cores)));
                }
                let clock = $crate::sql_resources::input_decimal("clock_ghz", &h.clock_ghz, false)?;
                let mut tx = self.begin_write().await?;
                Self::res_refuse_existing(&mut tx, "SELECT id FROM physical_hosts WHERE id = $1", &h.id, "physical host")
                    .await?;
                Self::res_refuse_existing(
                    &mut tx,
                    "SELECT id FROM physical_hosts WHERE name = $1",
                    &h.name,
                    "physical host named",
                )
                .await?;
                sqlx::query(&format!(
                    "INSERT INTO physical_hosts (id, name, arch, clock_ghz, cores, created_at) \
                     VALUES ($1, $2, $3, $4{}, $5, $6)",
                    Self::res_numeric()
                ))
                .bind(&h.id)
                .bind(&h.name)
                .bind(&h.arch)
                .bind($crate::sql_resources::dec_text(clock))
                .bind(h.cores)
                .bind(h.created_at)
                .execute(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn res_physical_hosts(&self) -> $crate::Result<Vec<($crate::PhysicalHost, i64)>> {
                let rows: Vec<$crate::sql_resources::HostRow> = sqlx::query_as(
                    "SELECT h.id, h.name, h.arch, CAST(h.clock_ghz AS TEXT), h.cores, h.created_at, \
                     CAST(COALESCE((SELECT SUM(r.vcpus) FROM resources r \
                     WHERE r.host_id = h.id AND NOT r.released), 0) AS BIGINT) \
                     FROM physical_hosts h ORDER BY h.name, h.id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql_resources::host_from_row).collect()
            }

            pub(crate) async fn res_record_occurrence(
                &self,
                o: &$crate::Occurrence,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                if o.hosts <= 0 {
                    return Err($crate::StoreError::Conflict(format!("hosts {} is not above zero", o.hosts)));
                }
                let mut tx = self.begin_write().await?;
                Self::res_contracted(&mut tx, &o.contract_id, &o.item_id).await?;
                Self::res_refuse_existing(&mut tx, "SELECT id FROM service_occurrences WHERE id = $1", &o.id, "occurrence")
                    .await?;
                sqlx::query(
                    "INSERT INTO service_occurrences (id, contract_id, item_id, system_code, performed_at, \
                     hosts, note, recorded_at, recorded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&o.id)
                .bind(&o.contract_id)
                .bind(&o.item_id)
                .bind(&o.system_code)
                .bind(o.performed_at)
                .bind(o.hosts)
                .bind(&o.note)
                .bind(o.recorded_at)
                .bind(&o.recorded_by)
                .execute(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn res_occurrences(
                &self,
                system_code: Option<&str>,
            ) -> $crate::Result<Vec<$crate::Occurrence>> {
                let rows: Vec<$crate::sql_resources::OccurrenceRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM service_occurrences WHERE ($1 IS NULL OR system_code = $1) \
                     ORDER BY performed_at, id",
                    $crate::sql_resources::OCCURRENCE_COLS
                ))
                .bind(system_code)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_resources::occurrence_from_row).collect())
            }

            pub(crate) async fn res_create_change(
                &self,
                c: &$crate::ChangeRequest,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                if !["create", "resize", "release"].contains(&c.kind.as_str()) {
                    return Err($crate::StoreError::Conflict(format!(
                        "a change is a create, resize or release, not {:?}",
                        c.kind
                    )));
                }
                if !["pending", "approved", "rejected", "executed"].contains(&c.state.as_str()) {
                    return Err($crate::StoreError::Conflict(format!("change state {:?} is unknown", c.state)));
                }
                let quantity = $crate::sql_resources::input_decimal("quantity", &c.quantity, true)?;
                let mut tx = self.begin_write().await?;
                Self::res_contracted(&mut tx, &c.contract_id, &c.item_id).await?;
                if let Some(r) = &c.resource_id {
                    if Self::res_resource_tx(&mut tx, r).await?.is_none() {
                        return Err($crate::StoreError::NotFound(format!("resource {r}")));
                    }
                }
                Self::res_refuse_existing(&mut tx, "SELECT id FROM resource_changes WHERE id = $1", &c.id, "change")
                    .await?;
                sqlx::query(&format!(
                    "INSERT INTO resource_changes (id, kind, resource_id, contract_id, item_id, system_code, \
                     quantity, spec, effective_at, reason, state, requested_by, requested_at, decided_by, \
                     decided_at, decision_note, executed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7{}, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                    Self::res_numeric()
                ))
                .bind(&c.id)
                .bind(&c.kind)
                .bind(&c.resource_id)
                .bind(&c.contract_id)
                .bind(&c.item_id)
                .bind(&c.system_code)
                .bind($crate::sql_resources::dec_text(quantity))
                .bind(&c.spec)
                .bind(c.effective_at)
                .bind(&c.reason)
                .bind(&c.state)
                .bind(&c.requested_by)
                .bind(c.requested_at)
                .bind(&c.decided_by)
                .bind(c.decided_at)
                .bind(&c.decision_note)
                .bind(c.executed_at)
                .execute(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn res_decide_change(
                &self,
                id: &str,
                state: &str,
                by: &str,
                at: chrono::DateTime<chrono::Utc>,
                note: Option<&str>,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::ChangeRequest> {
                if state != "approved" && state != "rejected" {
                    return Err($crate::StoreError::Conflict(format!(
                        "a change is approved or rejected, not {state:?}"
                    )));
                }
                let mut tx = self.begin_write().await?;
                let Some(cur) = Self::res_change_tx(&mut tx, id).await? else {
                    return Err($crate::StoreError::NotFound(format!("change {id}")));
                };
                if cur.state != "pending" {
                    return Err($crate::StoreError::Conflict(format!("change {id} is {}, not pending", cur.state)));
                }
                sqlx::query(
                    "UPDATE resource_changes SET state = $1, decided_by = $2, decided_at = $3, decision_note = $4 \
                     WHERE id = $5",
                )
                .bind(state)
                .bind(by)
                .bind(at)
                .bind(note)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let changed = Self::res_change_tx(&mut tx, id)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Corrupt(format!("change {id} vanished")))?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(changed)
            }

            pub(crate) async fn res_mark_change_executed(
                &self,
                id: &str,
                resource_id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<$crate::ChangeRequest> {
                // No audit entry of its own: the resource change that executes it is audited.
                let mut tx = self.begin_write().await?;
                let Some(cur) = Self::res_change_tx(&mut tx, id).await? else {
                    return Err($crate::StoreError::NotFound(format!("change {id}")));
                };
                if cur.state != "approved" {
                    return Err($crate::StoreError::Conflict(format!("change {id} is {}, not approved", cur.state)));
                }
                if let Some(r) = cur.resource_id.as_deref().filter(|r| *r != resource_id) {
                    return Err($crate::StoreError::Conflict(format!(
                        "change {id} is for resource {r}, not {resource_id}"
                    )));
                }
                if Self::res_resource_tx(&mut tx, resource_id).await?.is_none() {
                    return Err($crate::StoreError::NotFound(format!("resource {resource_id}")));
                }
                sqlx::query(
                    "UPDATE resource_changes SET state = 'executed', resource_id = $1, executed_at = $2 WHERE id = $3",
                )
                .bind(resource_id)
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let changed = Self::res_change_tx(&mut tx, id)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Corrupt(format!("change {id} vanished")))?;
                tx.commit().await?;
                Ok(changed)
            }

            pub(crate) async fn res_change(&self, id: &str) -> $crate::Result<Option<$crate::ChangeRequest>> {
                let row: Option<$crate::sql_resources::ChangeRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM resource_changes WHERE id = $1",
                    $crate::sql_resources::CHANGE_COLS
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::sql_resources::change_from_row).transpose()
            }

            pub(crate) async fn res_list_changes(
                &self,
                state: Option<&str>,
            ) -> $crate::Result<Vec<$crate::ChangeRequest>> {
                let rows: Vec<$crate::sql_resources::ChangeRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM resource_changes WHERE ($1 IS NULL OR state = $1) \
                     ORDER BY requested_at DESC, id DESC",
                    $crate::sql_resources::CHANGE_COLS
                ))
                .bind(state)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql_resources::change_from_row).collect()
            }
        }
    };
}

pub(crate) use impl_resources;
