//! Operations 运维 over HTTP: monitors, incidents with live SLA clocks, maintenance notices,
//! key periods, notification channels and the delivery log, the status board and the
//! monthly operations report.
//!
//! Who may do what:
//! - reading: every role (the purchaser and auditors check the SLA figures);
//! - monitors, notices, notification channels: the provider's operators and admins;
//! - opening an incident: the purchaser (报告故障), operators (the 7×24 hotline) and admins;
//! - timeline events: operators and admins; the purchaser may add `onsite_requested`
//!   (采购人提出现场维护要求), which starts the on-site clock of packages 3 and 5;
//! - key periods: the purchaser, whose business peaks they are, operators and admins.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use govcloud_domain::catalog::Contract;
use govcloud_domain::ops::{ClockStatus, IncidentSeverity};
use govcloud_domain::role::Role;
use govcloud_store::{
    ChannelRecord, DeliveryRecord, IncidentClosing, IncidentFilter, IncidentRecord,
    KeyPeriodRecord, MonitorRecord, NoticeRecord, User,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::catalog::no_contract;
use super::{parse_date, parse_time, utc, Allowed, AnyRole, ApiJson, ApiPath, ApiQuery, Auth};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::incidents::{self as inc, IncidentView};
use crate::monitors;

/// The provider's operators and admins.
pub struct Operators;
impl Allowed for Operators {
    const ROLES: &'static [Role] = &[Role::Operator, Role::Admin];
}

/// Who reports incidents and keeps key periods: the purchaser, operators and admins.
pub struct Reporters;
impl Allowed for Reporters {
    const ROLES: &'static [Role] = &[Role::Purchaser, Role::Operator, Role::Admin];
}

async fn contract(
    state: &AppState,
) -> ApiResult<(govcloud_store::StoredContract, std::sync::Arc<Contract>)> {
    state.contract().await?.ok_or_else(no_contract)
}

/// `[first instant, first instant of the next month)` of a `YYYY-MM` month in Beijing.
pub fn month_window(m: &str) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let (y, mo) = crate::statements::parse_month(m)?;
    Ok(govcloud_domain::rating::month_bounds(y, mo).expect("parse_month checked it"))
}

/// The bounds of a list query: from (inclusive) and to (exclusive), each optional.
pub type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// [`month_window`] of an optional month, as the bounds of a list query.
pub fn optional_window(m: Option<&str>) -> ApiResult<Bounds> {
    Ok(match m {
        Some(m) => {
            let (a, b) = month_window(m)?;
            (Some(a), Some(b))
        }
        None => (None, None),
    })
}

// ---------------------------------------------------------------- monitors

#[derive(Serialize, ToSchema)]
pub struct MonitorDto {
    pub id: String,
    pub name: String,
    /// http | tcp | tls
    pub kind: String,
    pub target: String,
    pub package: i64,
    pub system: String,
    pub system_name: String,
    /// Severity of the incidents it opens: outage | fault
    pub severity: String,
    pub interval_seconds: i64,
    pub timeout_seconds: i64,
    pub retries: i64,
    pub expect_status: Option<u16>,
    pub body_match: Option<String>,
    pub max_latency_ms: Option<u64>,
    pub tls_min_days: Option<i64>,
    /// A private CA is trusted besides the system roots.
    pub custom_ca: bool,
    pub enabled: bool,
    /// unknown | up | down
    pub state: String,
    pub state_since: Option<String>,
    pub last_check_at: Option<String>,
    pub last_latency_ms: Option<i64>,
    pub last_detail: String,
    pub created_by: String,
    pub created_at: String,
}

pub fn monitor_dto(c: Option<&Contract>, m: &MonitorRecord) -> MonitorDto {
    let s = monitors::settings(m);
    MonitorDto {
        id: m.id.clone(),
        name: m.name.clone(),
        kind: m.kind.clone(),
        target: m.target.clone(),
        package: m.package_no,
        system: m.system.clone(),
        system_name: c
            .map_or(m.system.as_str(), |c| inc::system_name(c, &m.system))
            .to_owned(),
        severity: m.severity.clone(),
        interval_seconds: m.interval_seconds,
        timeout_seconds: m.timeout_seconds,
        retries: m.retries,
        expect_status: s.expect_status,
        body_match: s.body_match,
        max_latency_ms: s.max_latency_ms,
        tls_min_days: s.tls_min_days,
        custom_ca: s.ca_pem.is_some(),
        enabled: m.enabled,
        state: m.state.clone(),
        state_since: m.state_since.map(utc),
        last_check_at: m.last_check_at.map(utc),
        last_latency_ms: m.last_latency_ms,
        last_detail: m.last_detail.clone(),
        created_by: m.created_by.clone(),
        created_at: utc(m.created_at),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMonitor {
    /// http | tcp | tls
    pub kind: String,
    /// http: an http(s) URL; tcp, tls: host:port.
    pub target: String,
    pub package: i64,
    /// The business system watched (a catalog system code).
    pub system: String,
    /// Unique; the target when not given.
    pub name: Option<String>,
    /// outage (default) | fault: the severity of the incidents it opens.
    pub severity: Option<String>,
    /// 1–86400, default 60.
    pub interval_seconds: Option<i64>,
    /// 1–120, default 10.
    pub timeout_seconds: Option<i64>,
    /// Extra attempts before a check fails, 0–5, default 1.
    pub retries: Option<i64>,
    pub expect_status: Option<u16>,
    pub body_match: Option<String>,
    pub max_latency_ms: Option<u64>,
    /// tls: fewer days of validity left counts as down (default 14).
    pub tls_min_days: Option<i64>,
    /// A PEM CA certificate to trust (private CA).
    pub ca_pem: Option<String>,
}

/// Every monitor with its state.
#[utoipa::path(get, path = "/monitors", tag = "operations",
    responses((status = 200, body = Vec<MonitorDto>), (status = 401, body = ErrorBody)))]
pub async fn list_monitors(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
) -> ApiResult<Json<Vec<MonitorDto>>> {
    let c = state.contract().await?;
    let ms = state.store.monitors().await?;
    Ok(Json(
        ms.iter()
            .map(|m| monitor_dto(c.as_ref().map(|x| x.1.as_ref()), m))
            .collect(),
    ))
}

/// Add a monitor; the scheduler runs it from now on, 7×24.
#[utoipa::path(post, path = "/monitors", tag = "operations", request_body = CreateMonitor,
    responses((status = 201, body = MonitorDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_monitor(
    State(state): State<AppState>,
    caller: Auth<Operators>,
    ApiJson(req): ApiJson<CreateMonitor>,
) -> ApiResult<(StatusCode, Json<MonitorDto>)> {
    let m = add_monitor(&state, &caller.user, req).await?;
    Ok((StatusCode::CREATED, Json(m)))
}

/// What `POST /monitors` does, for the API and the console; the caller is one of
/// [`Operators`].
pub async fn add_monitor(
    state: &AppState,
    user: &User,
    req: CreateMonitor,
) -> ApiResult<MonitorDto> {
    let (_, c) = contract(state).await?;
    let m = monitors::add(
        state.ctx(user.name.as_str()),
        &c,
        monitors::NewMonitor {
            name: req.name.as_deref(),
            kind: &req.kind,
            target: &req.target,
            package: req.package,
            system: &req.system,
            severity: req.severity.as_deref(),
            interval_seconds: req.interval_seconds,
            timeout_seconds: req.timeout_seconds,
            retries: req.retries,
            settings: monitors::Settings {
                expect_status: req.expect_status,
                body_match: req.body_match.filter(|s| !s.is_empty()),
                max_latency_ms: req.max_latency_ms,
                tls_min_days: req.tls_min_days,
                ca_pem: req.ca_pem.filter(|s| !s.trim().is_empty()),
            },
        },
    )
    .await?;
    Ok(monitor_dto(Some(&c), &m))
}

#[derive(Serialize, ToSchema)]
pub struct CheckDto {
    pub at: String,
    pub ok: bool,
    pub latency_ms: Option<i64>,
    pub detail: String,
}

#[derive(Serialize, ToSchema)]
pub struct MonitorDetailDto {
    pub monitor: MonitorDto,
    /// The newest 50 checks.
    pub checks: Vec<CheckDto>,
}

/// A monitor with its newest checks.
#[utoipa::path(get, path = "/monitors/{id}", tag = "operations", params(("id" = String, Path)),
    responses((status = 200, body = MonitorDetailDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show_monitor(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<MonitorDetailDto>> {
    let m = state
        .store
        .monitor(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("监控项", "monitor"))?;
    let c = state.contract().await?;
    let checks = state.store.monitor_checks(&id, 50).await?;
    Ok(Json(MonitorDetailDto {
        monitor: monitor_dto(c.as_ref().map(|x| x.1.as_ref()), &m),
        checks: checks
            .into_iter()
            .map(|k| CheckDto {
                at: utc(k.at),
                ok: k.ok,
                latency_ms: k.latency_ms,
                detail: k.detail,
            })
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorSwitch {
    pub enabled: bool,
}

/// Enable or disable a monitor (its history stays).
#[utoipa::path(post, path = "/monitors/{id}/enabled", tag = "operations", params(("id" = String, Path)), request_body = MonitorSwitch,
    responses((status = 200, body = MonitorDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn switch_monitor(
    State(state): State<AppState>,
    caller: Auth<Operators>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<MonitorSwitch>,
) -> ApiResult<Json<MonitorDto>> {
    Ok(Json(
        set_monitor_enabled(&state, &caller.user, &id, req).await?,
    ))
}

/// What `POST /monitors/{id}/enabled` does; the caller is one of [`Operators`].
pub async fn set_monitor_enabled(
    state: &AppState,
    user: &User,
    id: &str,
    req: MonitorSwitch,
) -> ApiResult<MonitorDto> {
    let cx = state.ctx(user.name.as_str());
    let action = if req.enabled {
        "monitor.enable"
    } else {
        "monitor.disable"
    };
    let m = state
        .store
        .set_monitor_enabled(id, req.enabled, cx.event(action, id, serde_json::json!({})))
        .await?
        .ok_or_else(|| ApiError::not_found("监控项", "monitor"))?;
    let c = state.contract().await?;
    Ok(monitor_dto(c.as_ref().map(|x| x.1.as_ref()), &m))
}

// ---------------------------------------------------------------- incidents

/// One SLA clock of an incident, now.
#[derive(Serialize, ToSchema)]
pub struct SlaClockDto {
    /// respond | locate | onsite | restore | resolve
    pub clock: String,
    /// 响应 | 定位 | 到达现场 | 恢复 | 解决
    pub clock_zh: String,
    pub limit_minutes: u32,
    /// Elapsed time in minutes (2 decimals); exactly the limit is met, a second more breached.
    pub elapsed_minutes: f64,
    pub elapsed_seconds: i64,
    /// Seconds left while running (negative once breached); null when stopped or not started.
    pub remaining_seconds: Option<i64>,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub deadline: Option<String>,
    /// not_started | running | met | breached
    pub state: String,
    pub state_zh: String,
    pub breached: bool,
    /// The procurement's words.
    pub text: String,
}

pub fn clock_dto(k: &ClockStatus) -> SlaClockDto {
    SlaClockDto {
        clock: k.clock.code().to_owned(),
        clock_zh: k.clock.label_zh().to_owned(),
        limit_minutes: k.limit_minutes,
        elapsed_minutes: (k.elapsed_seconds as f64 / 60.0 * 100.0).round() / 100.0,
        elapsed_seconds: k.elapsed_seconds,
        remaining_seconds: k.remaining_seconds(),
        started_at: k.started_at.map(utc),
        stopped_at: k.stopped_at.map(utc),
        deadline: k.deadline.map(utc),
        state: k.state.code().to_owned(),
        state_zh: k.state.label_zh().to_owned(),
        breached: k.breached(),
        text: k.text.clone(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct IncidentEventDto {
    pub kind: String,
    pub kind_zh: String,
    /// When it happened, as entered.
    pub at: String,
    /// When it was recorded.
    pub recorded_at: String,
    pub actor: String,
    pub note: String,
}

#[derive(Serialize, ToSchema)]
pub struct IncidentDto {
    pub id: String,
    pub package: i64,
    pub system: String,
    pub system_name: String,
    /// outage | fault
    pub severity: String,
    pub severity_zh: String,
    pub title: String,
    /// monitor | hotline | purchaser
    pub source: String,
    pub source_zh: String,
    pub monitor: Option<String>,
    pub opened_at: String,
    pub recorded_at: String,
    pub opened_by: String,
    /// open | closed
    pub status: String,
    pub closed_at: Option<String>,
    pub cause: String,
    pub impact: String,
    pub actions: String,
    pub events: Vec<IncidentEventDto>,
    /// The package's SLA clocks for this incident, now.
    pub sla: Vec<SlaClockDto>,
    /// Some clock breached.
    pub breached: bool,
    /// A closed outage has an outage report 宕机报告 (PDF).
    pub report_url: Option<String>,
}

pub fn incident_dto(c: &Contract, i: &IncidentRecord, now: DateTime<Utc>) -> IncidentDto {
    let view = IncidentView::new(c, i, now);
    let severity = IncidentSeverity::from_code(&i.severity);
    IncidentDto {
        id: i.id.clone(),
        package: i.package_no,
        system: i.system.clone(),
        system_name: inc::system_name(c, &i.system).to_owned(),
        severity: i.severity.clone(),
        severity_zh: severity.map_or("", |s| s.label_zh()).to_owned(),
        title: i.title.clone(),
        source: i.source.clone(),
        source_zh: inc::source_zh(&i.source).to_owned(),
        monitor: i.monitor_id.clone(),
        opened_at: utc(i.opened_at),
        recorded_at: utc(i.recorded_at),
        opened_by: i.opened_by.clone(),
        status: if i.closed_at.is_some() {
            "closed"
        } else {
            "open"
        }
        .to_owned(),
        closed_at: i.closed_at.map(utc),
        cause: i.cause.clone(),
        impact: i.impact.clone(),
        actions: i.actions.clone(),
        events: i
            .events
            .iter()
            .map(|e| IncidentEventDto {
                kind: e.kind.clone(),
                kind_zh: govcloud_domain::ops::EventKind::from_code(&e.kind)
                    .map_or("", |k| k.label_zh())
                    .to_owned(),
                at: utc(e.at),
                recorded_at: utc(e.recorded_at),
                actor: e.actor.clone(),
                note: e.note.clone(),
            })
            .collect(),
        breached: view.clocks.iter().any(ClockStatus::breached),
        sla: view.clocks.iter().map(clock_dto).collect(),
        report_url: (i.closed_at.is_some() && severity == Some(IncidentSeverity::Outage))
            .then(|| format!("/api/v1/incidents/{}/report", i.id)),
    }
}

#[derive(Deserialize, IntoParams)]
pub struct IncidentQuery {
    /// Only incidents not closed.
    pub open: Option<bool>,
    pub package: Option<i64>,
    /// YYYY-MM: opened in this month (Beijing time).
    pub month: Option<String>,
}

/// Incidents, newest first, with their SLA clocks now.
#[utoipa::path(get, path = "/incidents", tag = "operations", params(IncidentQuery),
    responses((status = 200, body = Vec<IncidentDto>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_incidents(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiQuery(q): ApiQuery<IncidentQuery>,
) -> ApiResult<Json<Vec<IncidentDto>>> {
    let (stored, c) = contract(&state).await?;
    let (from, to) = optional_window(q.month.as_deref())?;
    let list = state
        .store
        .incidents(
            &stored.id,
            &IncidentFilter {
                package_no: q.package,
                from,
                to,
                open_only: q.open.unwrap_or(false),
            },
        )
        .await?;
    let now = state.now();
    Ok(Json(
        list.iter().map(|i| incident_dto(&c, i, now)).collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenIncident {
    pub package: i64,
    /// The affected business system (a catalog system code of the package).
    pub system: String,
    /// outage 宕机 | fault 其他故障
    pub severity: String,
    pub title: Option<String>,
    /// When it happened (RFC 3339); now when not given. May be earlier than now.
    pub opened_at: Option<String>,
    /// hotline | purchaser | monitor; by default purchaser for the purchaser, else hotline.
    pub source: Option<String>,
}

/// Open an incident (故障报告). Its SLA clocks start at `opened_at`; every notification
/// channel is told.
#[utoipa::path(post, path = "/incidents", tag = "operations", request_body = OpenIncident,
    responses((status = 201, body = IncidentDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn open_incident(
    State(state): State<AppState>,
    caller: Auth<Reporters>,
    ApiJson(req): ApiJson<OpenIncident>,
) -> ApiResult<(StatusCode, Json<IncidentDto>)> {
    let i = report_incident(&state, &caller.user, req).await?;
    Ok((StatusCode::CREATED, Json(i)))
}

/// What `POST /incidents` does, for the API and the console; the caller is one of
/// [`Reporters`].
pub async fn report_incident(
    state: &AppState,
    user: &User,
    req: OpenIncident,
) -> ApiResult<IncidentDto> {
    let opened_at = parse_time("opened_at", req.opened_at.as_deref())?;
    let (stored, c) = contract(state).await?;
    let default_source = if user.role == Role::Purchaser {
        "purchaser"
    } else {
        "hotline"
    };
    let i = inc::open(
        state.ctx(user.name.as_str()),
        &stored.id,
        &c,
        inc::NewIncident {
            package: req.package,
            system: &req.system,
            severity: &req.severity,
            title: req.title.as_deref().unwrap_or(""),
            source: req.source.as_deref().unwrap_or(default_source),
            monitor_id: None,
            opened_at,
        },
    )
    .await?;
    state.deliveries.notify_one();
    Ok(incident_dto(&c, &i, state.now()))
}

/// An incident with its timeline and its SLA clocks now.
#[utoipa::path(get, path = "/incidents/{id}", tag = "operations", params(("id" = String, Path)),
    responses((status = 200, body = IncidentDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show_incident(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<IncidentDto>> {
    let (_, c) = contract(&state).await?;
    let i = state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("故障", "incident"))?;
    Ok(Json(incident_dto(&c, &i, state.now())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddEvent {
    /// responded | located | onsite_requested | onsite_arrived | restored | closed
    pub kind: String,
    /// When it happened (RFC 3339); now when not given. May be earlier than now, not before
    /// the incident was opened.
    pub at: Option<String>,
    pub note: Option<String>,
    /// Closing an outage: its cause 原因, impact 影响 and actions 处置措施 (the outage report).
    pub cause: Option<String>,
    pub impact: Option<String>,
    pub actions: Option<String>,
}

/// Add a timeline event. Closing an outage needs `cause`, `impact` and `actions` (400
/// `outage_report_required`); 409 `incident_closed` after closing, `duplicate_event` for
/// a kind already recorded.
#[utoipa::path(post, path = "/incidents/{id}/events", tag = "operations", params(("id" = String, Path)), request_body = AddEvent,
    responses((status = 201, body = IncidentDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_event(
    State(state): State<AppState>,
    caller: Auth<Reporters>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<AddEvent>,
) -> ApiResult<(StatusCode, Json<IncidentDto>)> {
    let i = record_event(&state, &caller.user, &id, req).await?;
    Ok((StatusCode::CREATED, Json(i)))
}

/// What `POST /incidents/{id}/events` does, for the API and the console; the caller is one
/// of [`Reporters`] (the purchaser only `onsite_requested`).
pub async fn record_event(
    state: &AppState,
    user: &User,
    id: &str,
    req: AddEvent,
) -> ApiResult<IncidentDto> {
    if user.role == Role::Purchaser && req.kind != "onsite_requested" {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "采购人只能提出现场维护要求（onsite_requested）",
            "the purchaser may only add onsite_requested",
        ));
    }
    let at = parse_time("at", req.at.as_deref())?;
    let (_, c) = contract(state).await?;
    let closing = (req.kind == "closed").then(|| IncidentClosing {
        cause: req.cause.unwrap_or_default().trim().to_owned(),
        impact: req.impact.unwrap_or_default().trim().to_owned(),
        actions: req.actions.unwrap_or_default().trim().to_owned(),
    });
    let i = inc::add_event(
        state.ctx(user.name.as_str()),
        &c,
        id,
        inc::NewEvent {
            kind: &req.kind,
            at,
            note: req.note.as_deref().unwrap_or(""),
            closing,
        },
    )
    .await?;
    state.deliveries.notify_one();
    Ok(incident_dto(&c, &i, state.now()))
}

// ---------------------------------------------------------------- notices

#[derive(Serialize, ToSchema)]
pub struct NoticeDto {
    pub id: String,
    pub title: String,
    pub systems: Vec<String>,
    pub system_names: Vec<String>,
    pub start: String,
    pub end: String,
    pub impact: String,
    pub rollback: String,
    pub emergency: bool,
    pub reason: String,
    /// Published less than 24 hours before the start (an exception in the monthly report).
    pub late: bool,
    pub key_periods: Vec<String>,
    pub override_reason: String,
    pub published_at: String,
    pub published_by: String,
    /// Hours between publication and start (1 decimal).
    pub lead_hours: f64,
    pub cancelled_at: Option<String>,
}

pub fn notice_dto(c: &Contract, n: &NoticeRecord) -> NoticeDto {
    NoticeDto {
        id: n.id.clone(),
        title: n.title.clone(),
        systems: n.systems.clone(),
        system_names: n
            .systems
            .iter()
            .map(|s| inc::system_name(c, s).to_owned())
            .collect(),
        start: utc(n.start_at),
        end: utc(n.end_at),
        impact: n.impact.clone(),
        rollback: n.rollback.clone(),
        emergency: n.emergency,
        reason: n.reason.clone(),
        late: inc::late(n),
        key_periods: n.key_periods.clone(),
        override_reason: n.override_reason.clone(),
        published_at: utc(n.published_at),
        published_by: n.published_by.clone(),
        lead_hours: ((n.start_at - n.published_at).num_seconds() as f64 / 360.0).round() / 10.0,
        cancelled_at: n.cancelled_at.map(utc),
    }
}

#[derive(Deserialize, IntoParams)]
pub struct NoticeQuery {
    /// YYYY-MM: notices whose window overlaps this month (Beijing time).
    pub month: Option<String>,
}

/// Maintenance notices, by start.
#[utoipa::path(get, path = "/notices", tag = "operations", params(NoticeQuery),
    responses((status = 200, body = Vec<NoticeDto>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_notices(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiQuery(q): ApiQuery<NoticeQuery>,
) -> ApiResult<Json<Vec<NoticeDto>>> {
    let (stored, c) = contract(&state).await?;
    let (from, to) = optional_window(q.month.as_deref())?;
    let list = state.store.notices(&stored.id, from, to).await?;
    Ok(Json(list.iter().map(|n| notice_dto(&c, n)).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishNotice {
    pub title: String,
    /// Catalog system codes of the affected systems.
    pub systems: Vec<String>,
    /// RFC 3339; at least 24 hours from now unless `emergency`.
    pub start: String,
    pub end: String,
    pub impact: Option<String>,
    /// The rollback plan 回退方案.
    pub rollback: Option<String>,
    /// An emergency change 紧急变更: may start within 24 hours, needs `reason`.
    pub emergency: Option<bool>,
    pub reason: Option<String>,
    /// Required when the window touches a key period 重点时期.
    pub override_reason: Option<String>,
}

/// Publish a maintenance notice and send it to every channel. 422 `notice_too_late` when
/// the start is less than 24 hours away and it is not an emergency with a reason;
/// 422 `key_period` when the window touches a key period without `override_reason`.
#[utoipa::path(post, path = "/notices", tag = "operations", request_body = PublishNotice,
    responses((status = 201, body = NoticeDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn publish_notice(
    State(state): State<AppState>,
    caller: Auth<Operators>,
    ApiJson(req): ApiJson<PublishNotice>,
) -> ApiResult<(StatusCode, Json<NoticeDto>)> {
    let n = announce(&state, &caller.user, req).await?;
    Ok((StatusCode::CREATED, Json(n)))
}

/// What `POST /notices` does, for the API and the console; the caller is one of
/// [`Operators`].
pub async fn announce(state: &AppState, user: &User, req: PublishNotice) -> ApiResult<NoticeDto> {
    let start = parse_time("start", Some(&req.start))?.expect("given");
    let end = parse_time("end", Some(&req.end))?.expect("given");
    let (stored, c) = contract(state).await?;
    let n = inc::publish_notice(
        state.ctx(user.name.as_str()),
        &stored.id,
        &c,
        inc::NewNotice {
            title: &req.title,
            systems: &req.systems,
            start,
            end,
            impact: req.impact.as_deref().unwrap_or(""),
            rollback: req.rollback.as_deref().unwrap_or(""),
            emergency: req.emergency.unwrap_or(false),
            reason: req.reason.as_deref(),
            override_reason: req.override_reason.as_deref(),
        },
    )
    .await?;
    state.deliveries.notify_one();
    Ok(notice_dto(&c, &n))
}

/// Cancel a notice (it stays listed as cancelled). 409 `already_cancelled`.
#[utoipa::path(post, path = "/notices/{id}/cancel", tag = "operations", params(("id" = String, Path)),
    responses((status = 200, body = NoticeDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_notice(
    State(state): State<AppState>,
    caller: Auth<Operators>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<NoticeDto>> {
    Ok(Json(withdraw_notice(&state, &caller.user, &id).await?))
}

/// What `POST /notices/{id}/cancel` does; the caller is one of [`Operators`].
pub async fn withdraw_notice(state: &AppState, user: &User, id: &str) -> ApiResult<NoticeDto> {
    let (_, c) = contract(state).await?;
    let n = inc::cancel_notice(state.ctx(user.name.as_str()), id).await?;
    Ok(notice_dto(&c, &n))
}

// ---------------------------------------------------------------- key periods

#[derive(Serialize, ToSchema)]
pub struct KeyPeriodDto {
    pub id: i64,
    pub name: String,
    pub first_day: String,
    pub last_day: String,
    pub created_by: String,
}

pub fn key_period_dto(k: &KeyPeriodRecord) -> KeyPeriodDto {
    KeyPeriodDto {
        id: k.id,
        name: k.name.clone(),
        first_day: k.first_day.to_string(),
        last_day: k.last_day.to_string(),
        created_by: k.created_by.clone(),
    }
}

/// Key periods 重点时期, by first day.
#[utoipa::path(get, path = "/key-periods", tag = "operations",
    responses((status = 200, body = Vec<KeyPeriodDto>), (status = 401, body = ErrorBody)))]
pub async fn list_key_periods(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
) -> ApiResult<Json<Vec<KeyPeriodDto>>> {
    let list = state.store.key_periods().await?;
    Ok(Json(list.iter().map(key_period_dto).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKeyPeriod {
    pub name: String,
    /// YYYY-MM-DD (Beijing), included.
    pub first_day: String,
    /// YYYY-MM-DD (Beijing), included.
    pub last_day: String,
}

/// Add a key period (五一, 十一, 春节, 两会, business peaks).
#[utoipa::path(post, path = "/key-periods", tag = "operations", request_body = AddKeyPeriod,
    responses((status = 201, body = KeyPeriodDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_key_period(
    State(state): State<AppState>,
    caller: Auth<Reporters>,
    ApiJson(req): ApiJson<AddKeyPeriod>,
) -> ApiResult<(StatusCode, Json<KeyPeriodDto>)> {
    let k = keep_key_period(&state, &caller.user, req).await?;
    Ok((StatusCode::CREATED, Json(k)))
}

/// What `POST /key-periods` does; the caller is one of [`Reporters`].
pub async fn keep_key_period(
    state: &AppState,
    user: &User,
    req: AddKeyPeriod,
) -> ApiResult<KeyPeriodDto> {
    let first = parse_date("first_day", &req.first_day)?;
    let last = parse_date("last_day", &req.last_day)?;
    let k = inc::add_key_period(state.ctx(user.name.as_str()), &req.name, first, last).await?;
    Ok(key_period_dto(&k))
}

/// Remove a key period.
#[utoipa::path(delete, path = "/key-periods/{id}", tag = "operations", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_key_period(
    State(state): State<AppState>,
    caller: Auth<Reporters>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    drop_key_period(&state, &caller.user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What `DELETE /key-periods/{id}` does; the caller is one of [`Reporters`].
pub async fn drop_key_period(state: &AppState, user: &User, id: i64) -> ApiResult<()> {
    Ok(inc::remove_key_period(state.ctx(user.name.as_str()), id).await?)
}

// ---------------------------------------------------------------- notifications

#[derive(Serialize, ToSchema)]
pub struct ChannelDto {
    pub id: String,
    /// email | webhook
    pub kind: String,
    pub target: String,
    pub created_by: String,
    pub created_at: String,
}

pub fn channel_dto(c: &ChannelRecord) -> ChannelDto {
    ChannelDto {
        id: c.id.clone(),
        kind: c.kind.clone(),
        target: c.target.clone(),
        created_by: c.created_by.clone(),
        created_at: utc(c.created_at),
    }
}

/// Notification channels (webhook secrets are never shown again).
#[utoipa::path(get, path = "/channels", tag = "operations",
    responses((status = 200, body = Vec<ChannelDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_channels(
    State(state): State<AppState>,
    _caller: Auth<Operators>,
) -> ApiResult<Json<Vec<ChannelDto>>> {
    let list = state.store.channels().await?;
    Ok(Json(list.iter().map(channel_dto).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddChannel {
    /// email | webhook
    pub kind: String,
    /// email: addresses separated by commas; webhook: an http(s) URL.
    pub target: String,
}

#[derive(Serialize, ToSchema)]
pub struct NewChannelDto {
    #[serde(flatten)]
    pub channel: ChannelDto,
    /// webhook: the HMAC-SM3 secret (32 hex digits), shown this once.
    pub secret: Option<String>,
}

/// Add a notification channel. For a webhook the response carries its HMAC-SM3 secret once.
#[utoipa::path(post, path = "/channels", tag = "operations", request_body = AddChannel,
    responses((status = 201, body = NewChannelDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn add_channel(
    State(state): State<AppState>,
    caller: Auth<Operators>,
    ApiJson(req): ApiJson<AddChannel>,
) -> ApiResult<(StatusCode, Json<NewChannelDto>)> {
    let c = open_channel(&state, &caller.user, req).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// What `POST /channels` does; the caller is one of [`Operators`].
pub async fn open_channel(
    state: &AppState,
    user: &User,
    req: AddChannel,
) -> ApiResult<NewChannelDto> {
    let (c, secret) = crate::notify::add_channel(
        state.ctx(user.name.as_str()),
        &state.crypto,
        &req.kind,
        &req.target,
    )
    .await?;
    Ok(NewChannelDto {
        channel: channel_dto(&c),
        secret,
    })
}

/// Remove a channel; its deliveries stay in the log.
#[utoipa::path(delete, path = "/channels/{id}", tag = "operations", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_channel(
    State(state): State<AppState>,
    caller: Auth<Operators>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    close_channel(&state, &caller.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What `DELETE /channels/{id}` does; the caller is one of [`Operators`].
pub async fn close_channel(state: &AppState, user: &User, id: &str) -> ApiResult<()> {
    Ok(crate::notify::remove_channel(state.ctx(user.name.as_str()), id).await?)
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryDto {
    pub id: i64,
    pub channel: String,
    pub event: String,
    pub subject: String,
    /// pending | sent | failed
    pub status: String,
    pub attempts: i64,
    pub last_error: String,
    pub next_attempt_at: String,
    pub created_at: String,
    pub sent_at: Option<String>,
}

pub fn delivery_dto(d: &DeliveryRecord) -> DeliveryDto {
    DeliveryDto {
        id: d.id,
        channel: d.channel_id.clone(),
        event: d.event_key.clone(),
        subject: d.subject.clone(),
        status: d.status.clone(),
        attempts: d.attempts,
        last_error: d.last_error.clone(),
        next_attempt_at: utc(d.next_attempt_at),
        created_at: utc(d.created_at),
        sent_at: d.sent_at.map(utc),
    }
}

/// The delivery log 投递记录, newest first (200 entries).
#[utoipa::path(get, path = "/deliveries", tag = "operations",
    responses((status = 200, body = Vec<DeliveryDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    _caller: Auth<Operators>,
) -> ApiResult<Json<Vec<DeliveryDto>>> {
    let list = state.store.deliveries(200).await?;
    Ok(Json(list.iter().map(delivery_dto).collect()))
}

// ---------------------------------------------------------------- status board

#[derive(Serialize, ToSchema)]
pub struct StatusDto {
    /// Beijing time of this view.
    pub now: String,
    pub monitors: Vec<MonitorDto>,
    /// Open incidents with their clocks now.
    pub open_incidents: Vec<IncidentDto>,
    /// Notices whose window has not ended, by start.
    pub upcoming_notices: Vec<NoticeDto>,
    /// E-mail can be sent (an SMTP server is configured).
    pub smtp_configured: bool,
}

/// The live status board 运维总览: monitors, open incidents with SLA clocks, notices ahead.
#[utoipa::path(get, path = "/ops/status", tag = "operations",
    responses((status = 200, body = StatusDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
) -> ApiResult<Json<StatusDto>> {
    Ok(Json(status_dto(&state).await?))
}

pub async fn status_dto(state: &AppState) -> ApiResult<StatusDto> {
    let (stored, c) = contract(state).await?;
    let now = state.now();
    let monitors = state.store.monitors().await?;
    let open = state
        .store
        .incidents(
            &stored.id,
            &IncidentFilter {
                open_only: true,
                ..Default::default()
            },
        )
        .await?;
    let notices = state
        .store
        .notices(
            &stored.id,
            Some(now),
            Some(now + chrono::Duration::days(3660)),
        )
        .await?;
    Ok(StatusDto {
        now: crate::shanghai_time(now),
        monitors: monitors.iter().map(|m| monitor_dto(Some(&c), m)).collect(),
        open_incidents: open.iter().map(|i| incident_dto(&c, i, now)).collect(),
        upcoming_notices: notices
            .iter()
            .filter(|n| n.cancelled_at.is_none())
            .map(|n| notice_dto(&c, n))
            .collect(),
        smtp_configured: state.notify.smtp_url.is_some(),
    })
}

// ---------------------------------------------------------------- reports

#[derive(Deserialize, IntoParams)]
pub struct ReportQuery {
    /// YYYY-MM (Beijing time).
    pub month: String,
    /// The package (1–5).
    pub package: i64,
    /// json (default) | xlsx | pdf
    pub format: Option<String>,
}

pub fn report_json(r: &govcloud_report::ops::OpsReport) -> serde_json::Value {
    use serde_json::json;
    json!({
        "contract": r.contract_name, "purchaser": r.purchaser, "provider": r.provider,
        "package": r.package_no, "package_name": r.package_name, "month": r.month,
        "generated_at": r.generated_at,
        "summary": r.summary.iter().map(|(k, v)| json!({"label": k, "value": v})).collect::<Vec<_>>(),
        "availability": r.availability.iter().map(|a| json!({
            "system": a.system, "monitors": a.monitors, "observed": a.observed,
            "down_minutes": a.down_minutes, "planned_minutes": a.planned_minutes,
            "percent": a.percent})).collect::<Vec<_>>(),
        "incidents": r.incidents.iter().map(|i| json!({
            "id": i.id, "system": i.system, "severity": i.severity, "title": i.title,
            "source": i.source, "opened_at": i.opened_at, "closed_at": i.closed_at,
            "clocks": i.clocks.iter().map(|k| json!({"clock": k.label, "limit": k.limit,
                "elapsed": k.elapsed, "state": k.state, "breached": k.breached})).collect::<Vec<_>>()
        })).collect::<Vec<_>>(),
        "notices": r.notices.iter().map(|n| json!({
            "title": n.title, "systems": n.systems, "window": n.window,
            "published_at": n.published_at, "lead": n.lead, "kind": n.kind,
            "cancelled": n.cancelled})).collect::<Vec<_>>(),
        "exceptions": r.exceptions.iter().map(|e| json!({
            "kind": e.kind, "subject": e.subject, "reason": e.reason})).collect::<Vec<_>>(),
    })
}

fn file(bytes: Vec<u8>, ctype: &str, name: String) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    (
        [
            (header::CONTENT_TYPE, ctype.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

fn render_failed(e: govcloud_report::ReportError) -> ApiError {
    tracing::error!(error = %e, "report rendering failed");
    ApiError::internal()
}

/// The monthly operations report 月度运维报告 of a package: availability per system,
/// incidents with SLA results, notices and exceptions; as JSON, XLSX or PDF.
#[utoipa::path(get, path = "/ops/report", tag = "operations", params(ReportQuery),
    responses((status = 200, description = "JSON, or the XLSX/PDF file", body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn monthly_report(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let window = month_window(&q.month)?;
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "xlsx" | "pdf") {
        return Err(ApiError::bad_request(
            "invalid_format",
            "format 应为 json、xlsx 或 pdf",
            format!("format {format:?}: expected json, xlsx or pdf"),
        ));
    }
    let (stored, c) = contract(&state).await?;
    let r = crate::opsreport::monthly(
        &crate::opsreport::Month {
            store: state.store.as_ref(),
            contract_id: &stored.id,
            contract: &c,
            month: &q.month,
            window,
            now: state.now(),
        },
        q.package,
    )
    .await?;
    let name = format!("运维报告-{}-第{}包", q.month, q.package);
    Ok(match format {
        "xlsx" => file(
            govcloud_report::ops::ops_xlsx(&r).map_err(render_failed)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            format!("{name}.xlsx"),
        ),
        "pdf" => file(
            govcloud_report::ops::ops_pdf(&r).map_err(render_failed)?,
            "application/pdf",
            format!("{name}.pdf"),
        ),
        _ => Json(report_json(&r)).into_response(),
    })
}

/// The outage report 宕机报告 of a closed outage, as PDF. 404 `no_outage_report` for an
/// incident that is not a closed outage.
#[utoipa::path(get, path = "/incidents/{id}/report", tag = "operations", params(("id" = String, Path)),
    responses((status = 200, description = "the PDF", content_type = "application/pdf"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn outage_report(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::response::Response> {
    let (_, c) = contract(&state).await?;
    let i = state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("故障", "incident"))?;
    let r = crate::opsreport::outage(&c, &i, state.now()).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_outage_report",
            "宕机报告在宕机故障关闭后生成",
            "an outage report exists once an outage is closed",
        )
    })?;
    Ok(file(
        govcloud_report::ops::outage_pdf(&r).map_err(render_failed)?,
        "application/pdf",
        format!("宕机报告-{id}.pdf"),
    ))
}
