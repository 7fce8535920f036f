//! SQL of operations (运维): monitors, their checks and down spans, incidents with their
//! timelines, maintenance notices, key periods, notification channels and the delivery
//! log. Shared by both backends like `sql.rs`: the macro writes inherent methods; the
//! `Store` impl in `sql.rs` forwards to them.
//!
//! Incident ids (`INC-000001`, …) are numbered in the writing transaction, which holds the
//! database's write lock (`begin_write`), so two incidents never get the same number; the
//! same goes for the one-name-per-monitor, one-open-down-span, one-key-period-per-name-and-
//! day rules, with UNIQUE constraints behind them. A notice's systems and key periods are
//! kept as JSON arrays of strings (TEXT on both backends).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use govcloud_domain::ops::{EventKind, IncidentSeverity};

use crate::{
    ChannelRecord, CheckRecord, DeliveryRecord, DownRecord, IncidentEventRecord, IncidentRecord,
    KeyPeriodRecord, MonitorRecord, NoticeRecord, Result, StoreError,
};

pub(crate) const MONITOR_COLS: &str = "id, name, kind, target, package_no, system, severity, \
     interval_seconds, timeout_seconds, retries, settings, enabled, created_by, created_at, \
     state, state_since, last_check_at, last_latency_ms, last_detail";
pub(crate) const CHECK_COLS: &str = "monitor_id, at, ok, latency_ms, detail, state";
pub(crate) const DOWN_COLS: &str =
    "id, monitor_id, started_at, ended_at, planned, notice_id, incident_id";
pub(crate) const INCIDENT_COLS: &str = "i.id, i.contract_id, i.package_no, i.system, \
     i.severity, i.title, i.source, i.monitor_id, i.opened_at, i.recorded_at, i.opened_by, \
     i.cause, i.impact, i.actions, i.closed_at";
pub(crate) const EVENT_COLS: &str = "e.incident_id, e.kind, e.at, e.recorded_at, e.actor, e.note";
pub(crate) const NOTICE_COLS: &str = "id, contract_id, title, systems, start_at, end_at, \
     impact, rollback_plan, emergency, reason, override_reason, key_periods, published_at, \
     published_by, cancelled_at";
pub(crate) const KEY_PERIOD_COLS: &str = "id, name, first_day, last_day, created_by, created_at";
pub(crate) const CHANNEL_COLS: &str = "id, kind, target, secret_wrapped, created_by, created_at";
pub(crate) const DELIVERY_COLS: &str = "id, channel_id, event_key, subject, body, status, \
     attempts, last_error, next_attempt_at, created_at, sent_at";

/// Which incidents `incidents` lists (`i` is `incidents`): `$1` contract, `$2` package,
/// `$3` opened from, `$4` opened before, `$5` open only.
pub(crate) const INCIDENT_FILTER: &str = "i.contract_id = $1 \
     AND ($2 IS NULL OR i.package_no = $2) \
     AND ($3 IS NULL OR i.opened_at >= $3) \
     AND ($4 IS NULL OR i.opened_at < $4) \
     AND (NOT $5 OR i.closed_at IS NULL)";

const MONITOR_KINDS: [&str; 3] = ["http", "tcp", "tls"];
const CHECK_STATES: [&str; 2] = ["up", "down"];
const INCIDENT_SOURCES: [&str; 3] = ["monitor", "hotline", "purchaser"];
const CHANNEL_KINDS: [&str; 2] = ["email", "webhook"];

/// `Conflict` unless `value` is one of `allowed`.
pub(crate) fn one_of(what: &str, value: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "{what} is one of {}, not {value:?}",
            allowed.join(", ")
        )))
    }
}

pub(crate) fn check_monitor(m: &MonitorRecord) -> Result<()> {
    one_of("a monitor's kind", &m.kind, &MONITOR_KINDS)?;
    check_severity(&m.severity)?;
    if m.interval_seconds <= 0 || m.timeout_seconds <= 0 || m.retries < 0 {
        return Err(StoreError::Conflict(format!(
            "monitor {}: interval {} s, timeout {} s and retries {} must be positive \
             (retries may be 0)",
            m.name, m.interval_seconds, m.timeout_seconds, m.retries
        )));
    }
    Ok(())
}

pub(crate) fn check_state(state: &str) -> Result<()> {
    one_of("a check's state", state, &CHECK_STATES)
}

pub(crate) fn check_severity(severity: &str) -> Result<()> {
    one_of(
        "a severity",
        severity,
        &IncidentSeverity::ALL.map(|s| s.code()),
    )
}

pub(crate) fn check_incident(i: &IncidentRecord) -> Result<()> {
    check_severity(&i.severity)?;
    one_of("an incident's source", &i.source, &INCIDENT_SOURCES)
}

pub(crate) fn check_event_kind(kind: &str) -> Result<bool> {
    match EventKind::from_code(kind) {
        Some(k) => Ok(k == EventKind::Closed),
        None => Err(StoreError::Conflict(format!(
            "an incident event is one of {}, not {kind:?}",
            EventKind::expected()
        ))),
    }
}

pub(crate) fn check_channel(c: &ChannelRecord) -> Result<()> {
    one_of("a channel's kind", &c.kind, &CHANNEL_KINDS)
}

/// A monitor's columns (more than sqlx decodes into a tuple).
#[derive(sqlx::FromRow)]
pub(crate) struct MonitorRow {
    id: String,
    name: String,
    kind: String,
    target: String,
    package_no: i64,
    system: String,
    severity: String,
    interval_seconds: i64,
    timeout_seconds: i64,
    retries: i64,
    settings: String,
    enabled: bool,
    created_by: String,
    created_at: DateTime<Utc>,
    state: String,
    state_since: Option<DateTime<Utc>>,
    last_check_at: Option<DateTime<Utc>>,
    last_latency_ms: Option<i64>,
    last_detail: String,
}

pub(crate) fn monitor_from_row(r: MonitorRow) -> MonitorRecord {
    MonitorRecord {
        id: r.id,
        name: r.name,
        kind: r.kind,
        target: r.target,
        package_no: r.package_no,
        system: r.system,
        severity: r.severity,
        interval_seconds: r.interval_seconds,
        timeout_seconds: r.timeout_seconds,
        retries: r.retries,
        settings: r.settings,
        enabled: r.enabled,
        created_by: r.created_by,
        created_at: r.created_at,
        state: r.state,
        state_since: r.state_since,
        last_check_at: r.last_check_at,
        last_latency_ms: r.last_latency_ms,
        last_detail: r.last_detail,
    }
}

pub(crate) type CheckRow = (String, DateTime<Utc>, bool, Option<i64>, String, String);

pub(crate) fn check_from_row(r: CheckRow) -> CheckRecord {
    let (monitor_id, at, ok, latency_ms, detail, state) = r;
    CheckRecord {
        monitor_id,
        at,
        ok,
        latency_ms,
        detail,
        state,
    }
}

pub(crate) type DownRow = (
    i64,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    bool,
    Option<String>,
    Option<String>,
);

pub(crate) fn down_from_row(r: DownRow) -> DownRecord {
    let (id, monitor_id, started_at, ended_at, planned, notice_id, incident_id) = r;
    DownRecord {
        id,
        monitor_id,
        started_at,
        ended_at,
        planned,
        notice_id,
        incident_id,
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct IncidentRow {
    id: String,
    contract_id: String,
    package_no: i64,
    system: String,
    severity: String,
    title: String,
    source: String,
    monitor_id: Option<String>,
    opened_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    opened_by: String,
    cause: String,
    impact: String,
    actions: String,
    closed_at: Option<DateTime<Utc>>,
}

pub(crate) type EventRow = (String, String, DateTime<Utc>, DateTime<Utc>, String, String);

/// Incidents in the order of `rows`, each with its events (`events` in recorded order).
pub(crate) fn incidents_with_events(
    rows: Vec<IncidentRow>,
    events: Vec<EventRow>,
) -> Vec<IncidentRecord> {
    let mut by_incident: HashMap<String, Vec<IncidentEventRecord>> = HashMap::new();
    for (incident_id, kind, at, recorded_at, actor, note) in events {
        by_incident
            .entry(incident_id)
            .or_default()
            .push(IncidentEventRecord {
                kind,
                at,
                recorded_at,
                actor,
                note,
            });
    }
    rows.into_iter()
        .map(|r| IncidentRecord {
            events: by_incident.remove(&r.id).unwrap_or_default(),
            id: r.id,
            contract_id: r.contract_id,
            package_no: r.package_no,
            system: r.system,
            severity: r.severity,
            title: r.title,
            source: r.source,
            monitor_id: r.monitor_id,
            opened_at: r.opened_at,
            recorded_at: r.recorded_at,
            opened_by: r.opened_by,
            cause: r.cause,
            impact: r.impact,
            actions: r.actions,
            closed_at: r.closed_at,
        })
        .collect()
}

/// The id of the `number`th incident: `INC-000001`.
pub(crate) fn incident_id(number: i64) -> String {
    format!("INC-{number:06}")
}

#[derive(sqlx::FromRow)]
pub(crate) struct NoticeRow {
    id: String,
    contract_id: String,
    title: String,
    systems: String,
    start_at: DateTime<Utc>,
    end_at: DateTime<Utc>,
    impact: String,
    rollback_plan: String,
    emergency: bool,
    reason: String,
    override_reason: String,
    key_periods: String,
    published_at: DateTime<Utc>,
    published_by: String,
    cancelled_at: Option<DateTime<Utc>>,
}

/// A list of strings as stored: a JSON array.
pub(crate) fn json_list(list: &[String]) -> String {
    serde_json::to_string(list).expect("a list of strings is JSON")
}

fn parse_list(what: &str, s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s)
        .map_err(|_| StoreError::Corrupt(format!("{what} {s:?} is not a JSON list of strings")))
}

pub(crate) fn notice_from_row(r: NoticeRow) -> Result<NoticeRecord> {
    Ok(NoticeRecord {
        systems: parse_list(&format!("notice {} systems", r.id), &r.systems)?,
        key_periods: parse_list(&format!("notice {} key periods", r.id), &r.key_periods)?,
        id: r.id,
        contract_id: r.contract_id,
        title: r.title,
        start_at: r.start_at,
        end_at: r.end_at,
        impact: r.impact,
        rollback: r.rollback_plan,
        emergency: r.emergency,
        reason: r.reason,
        override_reason: r.override_reason,
        published_at: r.published_at,
        published_by: r.published_by,
        cancelled_at: r.cancelled_at,
    })
}

pub(crate) type KeyPeriodRow = (i64, String, NaiveDate, NaiveDate, String, DateTime<Utc>);

pub(crate) fn key_period_from_row(r: KeyPeriodRow) -> KeyPeriodRecord {
    let (id, name, first_day, last_day, created_by, created_at) = r;
    KeyPeriodRecord {
        id,
        name,
        first_day,
        last_day,
        created_by,
        created_at,
    }
}

pub(crate) type ChannelRow = (
    String,
    String,
    String,
    Option<Vec<u8>>,
    String,
    DateTime<Utc>,
);

pub(crate) fn channel_from_row(r: ChannelRow) -> ChannelRecord {
    let (id, kind, target, secret_wrapped, created_by, created_at) = r;
    ChannelRecord {
        id,
        kind,
        target,
        secret_wrapped,
        created_by,
        created_at,
    }
}

pub(crate) type DeliveryRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

pub(crate) fn delivery_from_row(r: DeliveryRow) -> DeliveryRecord {
    let (
        id,
        channel_id,
        event_key,
        subject,
        body,
        status,
        attempts,
        last_error,
        next_attempt_at,
        created_at,
        sent_at,
    ) = r;
    DeliveryRecord {
        id,
        channel_id,
        event_key,
        subject,
        body,
        status,
        attempts,
        last_error,
        next_attempt_at,
        created_at,
        sent_at,
    }
}

macro_rules! impl_ops {
    ($ty:ty, $db:ty) => {
        impl $ty {
            async fn ops_monitor_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: &str,
            ) -> $crate::Result<Option<$crate::MonitorRecord>> {
                let row: Option<$crate::sql_ops::MonitorRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM monitors WHERE id = $1",
                    $crate::sql_ops::MONITOR_COLS
                ))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
                Ok(row.map($crate::sql_ops::monitor_from_row))
            }

            /// `NotFound` unless a row of `table` has this id.
            async fn ops_exists(
                conn: &mut <$db as sqlx::Database>::Connection,
                table: &str,
                what: &str,
                id: &str,
            ) -> $crate::Result<()> {
                let row: Option<(String,)> =
                    sqlx::query_as(&format!("SELECT id FROM {table} WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await?;
                match row {
                    Some(_) => Ok(()),
                    None => Err($crate::StoreError::NotFound(format!("{what} {id}"))),
                }
            }

            async fn ops_incident_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: &str,
            ) -> $crate::Result<Option<$crate::IncidentRecord>> {
                let rows: Vec<$crate::sql_ops::IncidentRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM incidents i WHERE i.id = $1",
                    $crate::sql_ops::INCIDENT_COLS
                ))
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                if rows.is_empty() {
                    return Ok(None);
                }
                let events: Vec<$crate::sql_ops::EventRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM incident_events e WHERE e.incident_id = $1 ORDER BY e.id",
                    $crate::sql_ops::EVENT_COLS
                ))
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                Ok($crate::sql_ops::incidents_with_events(rows, events).pop())
            }

            pub(crate) async fn ops_add_monitor(
                &self,
                m: &$crate::MonitorRecord,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::MonitorRecord> {
                $crate::sql_ops::check_monitor(m)?;
                let mut tx = self.begin_write().await?;
                let taken: Option<(String, String)> =
                    sqlx::query_as("SELECT id, name FROM monitors WHERE name = $1 OR id = $2")
                        .bind(&m.name)
                        .bind(&m.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some((id, name)) = taken {
                    return Err($crate::StoreError::Conflict(format!(
                        "monitor {id} ({name}) exists already"
                    )));
                }
                let row: $crate::sql_ops::MonitorRow = sqlx::query_as(&format!(
                    "INSERT INTO monitors (id, name, kind, target, package_no, system, severity, \
                     interval_seconds, timeout_seconds, retries, settings, enabled, created_by, \
                     created_at, state, state_since, last_check_at, last_latency_ms, last_detail) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                     'unknown', NULL, NULL, NULL, '') RETURNING {}",
                    $crate::sql_ops::MONITOR_COLS
                ))
                .bind(&m.id)
                .bind(&m.name)
                .bind(&m.kind)
                .bind(&m.target)
                .bind(m.package_no)
                .bind(&m.system)
                .bind(&m.severity)
                .bind(m.interval_seconds)
                .bind(m.timeout_seconds)
                .bind(m.retries)
                .bind(&m.settings)
                .bind(m.enabled)
                .bind(&m.created_by)
                .bind(m.created_at)
                .fetch_one(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok($crate::sql_ops::monitor_from_row(row))
            }

            pub(crate) async fn ops_monitors(&self) -> $crate::Result<Vec<$crate::MonitorRecord>> {
                let rows: Vec<$crate::sql_ops::MonitorRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM monitors ORDER BY name",
                    $crate::sql_ops::MONITOR_COLS
                ))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_ops::monitor_from_row).collect())
            }

            pub(crate) async fn ops_monitor(
                &self,
                id: &str,
            ) -> $crate::Result<Option<$crate::MonitorRecord>> {
                let mut conn = self.pool.acquire().await?;
                Self::ops_monitor_in(&mut conn, id).await
            }

            pub(crate) async fn ops_set_monitor_enabled(
                &self,
                id: &str,
                enabled: bool,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<Option<$crate::MonitorRecord>> {
                let mut tx = self.begin_write().await?;
                let Some(m) = Self::ops_monitor_in(&mut tx, id).await? else {
                    return Ok(None);
                };
                if m.enabled == enabled {
                    return Ok(Some(m));
                }
                let row: $crate::sql_ops::MonitorRow = sqlx::query_as(&format!(
                    "UPDATE monitors SET enabled = $1 WHERE id = $2 RETURNING {}",
                    $crate::sql_ops::MONITOR_COLS
                ))
                .bind(enabled)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(Some($crate::sql_ops::monitor_from_row(row)))
            }

            pub(crate) async fn ops_record_check(&self, c: &$crate::CheckRecord) -> $crate::Result<()> {
                $crate::sql_ops::check_state(&c.state)?;
                let mut tx = self.begin_write().await?;
                let before: Option<(String, Option<chrono::DateTime<chrono::Utc>>)> =
                    sqlx::query_as("SELECT state, state_since FROM monitors WHERE id = $1")
                        .bind(&c.monitor_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((state, since)) = before else {
                    return Err($crate::StoreError::NotFound(format!("monitor {}", c.monitor_id)));
                };
                let since = if state == c.state && state != "unknown" && since.is_some() {
                    since
                } else {
                    Some(c.at)
                };
                sqlx::query(
                    "INSERT INTO monitor_checks (monitor_id, at, ok, latency_ms, detail, state) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&c.monitor_id)
                .bind(c.at)
                .bind(c.ok)
                .bind(c.latency_ms)
                .bind(&c.detail)
                .bind(&c.state)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE monitors SET state = $1, state_since = $2, last_check_at = $3, \
                     last_latency_ms = $4, last_detail = $5 WHERE id = $6",
                )
                .bind(&c.state)
                .bind(since)
                .bind(c.at)
                .bind(c.latency_ms)
                .bind(&c.detail)
                .bind(&c.monitor_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn ops_monitor_checks(
                &self,
                monitor_id: &str,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::CheckRecord>> {
                let rows: Vec<$crate::sql_ops::CheckRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM monitor_checks WHERE monitor_id = $1 \
                     ORDER BY at DESC, id DESC LIMIT $2",
                    $crate::sql_ops::CHECK_COLS
                ))
                .bind(monitor_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_ops::check_from_row).collect())
            }

            pub(crate) async fn ops_open_down(
                &self,
                d: &$crate::DownRecord,
            ) -> $crate::Result<$crate::DownRecord> {
                let mut tx = self.begin_write().await?;
                Self::ops_exists(&mut tx, "monitors", "monitor", &d.monitor_id).await?;
                if let Some(n) = &d.notice_id {
                    Self::ops_exists(&mut tx, "notices", "notice", n).await?;
                }
                if let Some(i) = &d.incident_id {
                    Self::ops_exists(&mut tx, "incidents", "incident", i).await?;
                }
                let open: Option<(i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
                    "SELECT id, started_at FROM monitor_downs WHERE monitor_id = $1 AND ended_at IS NULL",
                )
                .bind(&d.monitor_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((id, since)) = open {
                    return Err($crate::StoreError::Conflict(format!(
                        "monitor {} is down since {since} (span {id})",
                        d.monitor_id
                    )));
                }
                let row: $crate::sql_ops::DownRow = sqlx::query_as(&format!(
                    "INSERT INTO monitor_downs (monitor_id, started_at, ended_at, planned, notice_id, \
                     incident_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {}",
                    $crate::sql_ops::DOWN_COLS
                ))
                .bind(&d.monitor_id)
                .bind(d.started_at)
                .bind(d.ended_at)
                .bind(d.planned)
                .bind(&d.notice_id)
                .bind(&d.incident_id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::sql_ops::down_from_row(row))
            }

            pub(crate) async fn ops_close_down(
                &self,
                monitor_id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Option<$crate::DownRecord>> {
                let row: Option<$crate::sql_ops::DownRow> = sqlx::query_as(&format!(
                    "UPDATE monitor_downs SET ended_at = $1 WHERE monitor_id = $2 AND ended_at IS NULL \
                     RETURNING {}",
                    $crate::sql_ops::DOWN_COLS
                ))
                .bind(at)
                .bind(monitor_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map($crate::sql_ops::down_from_row))
            }

            pub(crate) async fn ops_downs(
                &self,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Vec<$crate::DownRecord>> {
                let rows: Vec<$crate::sql_ops::DownRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM monitor_downs WHERE started_at < $1 \
                     AND (ended_at IS NULL OR ended_at > $2) ORDER BY started_at, id",
                    $crate::sql_ops::DOWN_COLS
                ))
                .bind(to)
                .bind(from)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_ops::down_from_row).collect())
            }

            pub(crate) async fn ops_open_incident(
                &self,
                i: &$crate::IncidentRecord,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::IncidentRecord> {
                $crate::sql_ops::check_incident(i)?;
                let mut tx = self.begin_write().await?;
                Self::pay_check_package(&mut tx, &i.contract_id, i.package_no).await?;
                if let Some(m) = &i.monitor_id {
                    Self::ops_exists(&mut tx, "monitors", "monitor", m).await?;
                }
                let (last,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(number), 0) FROM incidents")
                    .fetch_one(&mut *tx)
                    .await?;
                let number = last + 1;
                let id = $crate::sql_ops::incident_id(number);
                sqlx::query(
                    "INSERT INTO incidents (id, number, contract_id, package_no, system, severity, \
                     title, source, monitor_id, opened_at, recorded_at, opened_by, cause, impact, \
                     actions, closed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                )
                .bind(&id)
                .bind(number)
                .bind(&i.contract_id)
                .bind(i.package_no)
                .bind(&i.system)
                .bind(&i.severity)
                .bind(&i.title)
                .bind(&i.source)
                .bind(&i.monitor_id)
                .bind(i.opened_at)
                .bind(i.recorded_at)
                .bind(&i.opened_by)
                .bind(&i.cause)
                .bind(&i.impact)
                .bind(&i.actions)
                .bind(i.closed_at)
                .execute(&mut *tx)
                .await?;
                let stored = Self::ops_incident_in(&mut tx, &id)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Corrupt(format!("incident {id} vanished")))?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(stored)
            }

            pub(crate) async fn ops_add_incident_event(
                &self,
                incident_id: &str,
                e: &$crate::IncidentEventRecord,
                closing: Option<&$crate::IncidentClosing>,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::IncidentRecord> {
                let closes = $crate::sql_ops::check_event_kind(&e.kind)?;
                let mut tx = self.begin_write().await?;
                let found: Option<(Option<chrono::DateTime<chrono::Utc>>,)> =
                    sqlx::query_as("SELECT closed_at FROM incidents WHERE id = $1")
                        .bind(incident_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match found {
                    None => {
                        return Err($crate::StoreError::NotFound(format!("incident {incident_id}")))
                    }
                    Some((Some(closed),)) => {
                        return Err($crate::StoreError::Conflict(format!(
                            "incident {incident_id} was closed at {closed}"
                        )))
                    }
                    Some((None,)) => {}
                }
                sqlx::query(
                    "INSERT INTO incident_events (incident_id, kind, at, recorded_at, actor, note) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(incident_id)
                .bind(&e.kind)
                .bind(e.at)
                .bind(e.recorded_at)
                .bind(&e.actor)
                .bind(&e.note)
                .execute(&mut *tx)
                .await?;
                if closes {
                    let c = closing.cloned().unwrap_or_default();
                    sqlx::query(
                        "UPDATE incidents SET closed_at = $1, cause = $2, impact = $3, actions = $4 \
                         WHERE id = $5",
                    )
                    .bind(e.at)
                    .bind(&c.cause)
                    .bind(&c.impact)
                    .bind(&c.actions)
                    .bind(incident_id)
                    .execute(&mut *tx)
                    .await?;
                }
                let stored = Self::ops_incident_in(&mut tx, incident_id).await?.ok_or_else(|| {
                    $crate::StoreError::Corrupt(format!("incident {incident_id} vanished"))
                })?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(stored)
            }

            pub(crate) async fn ops_incidents(
                &self,
                contract_id: &str,
                f: &$crate::IncidentFilter,
            ) -> $crate::Result<Vec<$crate::IncidentRecord>> {
                let mut conn = self.pool.acquire().await?;
                let rows: Vec<$crate::sql_ops::IncidentRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM incidents i WHERE {} ORDER BY i.opened_at DESC, i.number DESC",
                    $crate::sql_ops::INCIDENT_COLS,
                    $crate::sql_ops::INCIDENT_FILTER
                ))
                .bind(contract_id)
                .bind(f.package_no)
                .bind(f.from)
                .bind(f.to)
                .bind(f.open_only)
                .fetch_all(&mut *conn)
                .await?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let events: Vec<$crate::sql_ops::EventRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM incident_events e JOIN incidents i ON i.id = e.incident_id \
                     WHERE {} ORDER BY e.id",
                    $crate::sql_ops::EVENT_COLS,
                    $crate::sql_ops::INCIDENT_FILTER
                ))
                .bind(contract_id)
                .bind(f.package_no)
                .bind(f.from)
                .bind(f.to)
                .bind(f.open_only)
                .fetch_all(&mut *conn)
                .await?;
                Ok($crate::sql_ops::incidents_with_events(rows, events))
            }

            pub(crate) async fn ops_incident(
                &self,
                id: &str,
            ) -> $crate::Result<Option<$crate::IncidentRecord>> {
                let mut conn = self.pool.acquire().await?;
                Self::ops_incident_in(&mut conn, id).await
            }

            pub(crate) async fn ops_publish_notice(
                &self,
                n: &$crate::NoticeRecord,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::NoticeRecord> {
                let mut tx = self.begin_write().await?;
                let taken: Option<(String,)> = sqlx::query_as("SELECT id FROM notices WHERE id = $1")
                    .bind(&n.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    return Err($crate::StoreError::Conflict(format!("notice {} exists already", n.id)));
                }
                let row: $crate::sql_ops::NoticeRow = sqlx::query_as(&format!(
                    "INSERT INTO notices (id, contract_id, title, systems, start_at, end_at, impact, \
                     rollback_plan, emergency, reason, override_reason, key_periods, published_at, \
                     published_by, cancelled_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                     RETURNING {}",
                    $crate::sql_ops::NOTICE_COLS
                ))
                .bind(&n.id)
                .bind(&n.contract_id)
                .bind(&n.title)
                .bind($crate::sql_ops::json_list(&n.systems))
                .bind(n.start_at)
                .bind(n.end_at)
                .bind(&n.impact)
                .bind(&n.rollback)
                .bind(n.emergency)
                .bind(&n.reason)
                .bind(&n.override_reason)
                .bind($crate::sql_ops::json_list(&n.key_periods))
                .bind(n.published_at)
                .bind(&n.published_by)
                .bind(n.cancelled_at)
                .fetch_one(&mut *tx)
                .await?;
                let stored = $crate::sql_ops::notice_from_row(row)?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(stored)
            }

            pub(crate) async fn ops_notices(
                &self,
                contract_id: &str,
                from: Option<chrono::DateTime<chrono::Utc>>,
                to: Option<chrono::DateTime<chrono::Utc>>,
            ) -> $crate::Result<Vec<$crate::NoticeRecord>> {
                let rows: Vec<$crate::sql_ops::NoticeRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM notices WHERE contract_id = $1 \
                     AND ($2 IS NULL OR end_at > $2) AND ($3 IS NULL OR start_at < $3) \
                     ORDER BY start_at, id",
                    $crate::sql_ops::NOTICE_COLS
                ))
                .bind(contract_id)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql_ops::notice_from_row).collect()
            }

            pub(crate) async fn ops_notice(
                &self,
                id: &str,
            ) -> $crate::Result<Option<$crate::NoticeRecord>> {
                let row: Option<$crate::sql_ops::NoticeRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM notices WHERE id = $1",
                    $crate::sql_ops::NOTICE_COLS
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::sql_ops::notice_from_row).transpose()
            }

            pub(crate) async fn ops_cancel_notice(
                &self,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<Option<$crate::NoticeRecord>> {
                let mut tx = self.begin_write().await?;
                let found: Option<(Option<chrono::DateTime<chrono::Utc>>,)> =
                    sqlx::query_as("SELECT cancelled_at FROM notices WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match found {
                    None => return Ok(None),
                    Some((Some(when),)) => {
                        return Err($crate::StoreError::Conflict(format!(
                            "notice {id} was cancelled at {when}"
                        )))
                    }
                    Some((None,)) => {}
                }
                let row: $crate::sql_ops::NoticeRow = sqlx::query_as(&format!(
                    "UPDATE notices SET cancelled_at = $1 WHERE id = $2 RETURNING {}",
                    $crate::sql_ops::NOTICE_COLS
                ))
                .bind(at)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                let stored = $crate::sql_ops::notice_from_row(row)?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(Some(stored))
            }

            pub(crate) async fn ops_add_key_period(
                &self,
                k: &$crate::KeyPeriodRecord,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::KeyPeriodRecord> {
                if k.last_day < k.first_day {
                    return Err($crate::StoreError::Conflict(format!(
                        "key period {}: last day {} is before the first day {}",
                        k.name, k.last_day, k.first_day
                    )));
                }
                let mut tx = self.begin_write().await?;
                let taken: Option<(i64,)> =
                    sqlx::query_as("SELECT id FROM key_periods WHERE name = $1 AND first_day = $2")
                        .bind(&k.name)
                        .bind(k.first_day)
                        .fetch_optional(&mut *tx)
                        .await?;
                if taken.is_some() {
                    return Err($crate::StoreError::Conflict(format!(
                        "key period {} from {} exists already",
                        k.name, k.first_day
                    )));
                }
                let row: $crate::sql_ops::KeyPeriodRow = sqlx::query_as(&format!(
                    "INSERT INTO key_periods (name, first_day, last_day, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING {}",
                    $crate::sql_ops::KEY_PERIOD_COLS
                ))
                .bind(&k.name)
                .bind(k.first_day)
                .bind(k.last_day)
                .bind(&k.created_by)
                .bind(k.created_at)
                .fetch_one(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok($crate::sql_ops::key_period_from_row(row))
            }

            pub(crate) async fn ops_key_periods(&self) -> $crate::Result<Vec<$crate::KeyPeriodRecord>> {
                let rows: Vec<$crate::sql_ops::KeyPeriodRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM key_periods ORDER BY first_day, id",
                    $crate::sql_ops::KEY_PERIOD_COLS
                ))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_ops::key_period_from_row).collect())
            }

            pub(crate) async fn ops_remove_key_period(
                &self,
                id: i64,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query("DELETE FROM key_periods WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Ok(false);
                }
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            pub(crate) async fn ops_add_channel(
                &self,
                c: &$crate::ChannelRecord,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::ChannelRecord> {
                $crate::sql_ops::check_channel(c)?;
                let mut tx = self.begin_write().await?;
                let taken: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM notify_channels WHERE id = $1")
                        .bind(&c.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if taken.is_some() {
                    return Err($crate::StoreError::Conflict(format!("channel {} exists already", c.id)));
                }
                let row: $crate::sql_ops::ChannelRow = sqlx::query_as(&format!(
                    "INSERT INTO notify_channels (id, kind, target, secret_wrapped, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {}",
                    $crate::sql_ops::CHANNEL_COLS
                ))
                .bind(&c.id)
                .bind(&c.kind)
                .bind(&c.target)
                .bind(&c.secret_wrapped)
                .bind(&c.created_by)
                .bind(c.created_at)
                .fetch_one(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok($crate::sql_ops::channel_from_row(row))
            }

            pub(crate) async fn ops_channels(&self) -> $crate::Result<Vec<$crate::ChannelRecord>> {
                let rows: Vec<$crate::sql_ops::ChannelRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM notify_channels ORDER BY created_at, id",
                    $crate::sql_ops::CHANNEL_COLS
                ))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_ops::channel_from_row).collect())
            }

            pub(crate) async fn ops_remove_channel(
                &self,
                id: &str,
                audit: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query("DELETE FROM notify_channels WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Ok(false);
                }
                Self::audit_in_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            pub(crate) async fn ops_enqueue_delivery(
                &self,
                channel_id: &str,
                event_key: &str,
                subject: &str,
                body: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Option<$crate::DeliveryRecord>> {
                let mut tx = self.begin_write().await?;
                Self::ops_exists(&mut tx, "notify_channels", "channel", channel_id).await?;
                let row: Option<$crate::sql_ops::DeliveryRow> = sqlx::query_as(&format!(
                    "INSERT INTO deliveries (channel_id, event_key, subject, body, status, attempts, \
                     last_error, next_attempt_at, created_at, sent_at) \
                     VALUES ($1, $2, $3, $4, 'pending', 0, '', $5, $5, NULL) \
                     ON CONFLICT (channel_id, event_key) DO NOTHING RETURNING {}",
                    $crate::sql_ops::DELIVERY_COLS
                ))
                .bind(channel_id)
                .bind(event_key)
                .bind(subject)
                .bind(body)
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.map($crate::sql_ops::delivery_from_row))
            }

            pub(crate) async fn ops_due_deliveries(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::DeliveryRecord>> {
                let rows: Vec<$crate::sql_ops::DeliveryRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
                     ORDER BY next_attempt_at, id LIMIT $2",
                    $crate::sql_ops::DELIVERY_COLS
                ))
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_ops::delivery_from_row).collect())
            }

            pub(crate) async fn ops_delivery_attempted(
                &self,
                id: i64,
                at: chrono::DateTime<chrono::Utc>,
                ok: bool,
                error: &str,
                retry_at: Option<chrono::DateTime<chrono::Utc>>,
            ) -> $crate::Result<()> {
                let (status, sent_at, next) = match (ok, retry_at) {
                    (true, _) => ("sent", Some(at), None),
                    (false, Some(retry)) => ("pending", None, Some(retry)),
                    (false, None) => ("failed", None, None),
                };
                let n = sqlx::query(
                    "UPDATE deliveries SET status = $1, attempts = attempts + 1, last_error = $2, \
                     sent_at = COALESCE($3, sent_at), next_attempt_at = COALESCE($4, next_attempt_at) \
                     WHERE id = $5",
                )
                .bind(status)
                .bind(error)
                .bind(sent_at)
                .bind(next)
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err($crate::StoreError::NotFound(format!("delivery {id}")));
                }
                Ok(())
            }

            pub(crate) async fn ops_deliveries(&self, limit: i64) -> $crate::Result<Vec<$crate::DeliveryRecord>> {
                let rows: Vec<$crate::sql_ops::DeliveryRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM deliveries ORDER BY id DESC LIMIT $1",
                    $crate::sql_ops::DELIVERY_COLS
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_ops::delivery_from_row).collect())
            }
        }
    };
}

pub(crate) use impl_ops;
