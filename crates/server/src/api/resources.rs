//! Cloud resources 资源 under the contract: business systems, allocations drawn from line
//! items (never beyond the contracted quantity), their history, the physical host
//! inventory, and usage intervals — the single source for monthly statements.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use govcloud_store::{Resource, ResourceEvent};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::catalog::no_contract;
use super::{
    utc, AnyRole, ApiJson, ApiPath, ApiQuery, AppManagers, Auth, ChangeRequesters, Purchasers,
};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::resources::{self as res, NewResource};

#[derive(Serialize, ToSchema)]
pub struct SystemDto {
    /// System code, e.g. `jypt`.
    pub id: String,
    pub name: String,
    pub packages: Vec<u8>,
}

/// The business systems 业务系统 of the current contract with their packages.
#[utoipa::path(get, path = "/systems", tag = "resources",
    responses((status = 200, body = [SystemDto]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_systems(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
) -> ApiResult<Json<Vec<SystemDto>>> {
    let (_, c) = state.contract().await?.ok_or_else(no_contract)?;
    Ok(Json(
        c.systems
            .iter()
            .map(|s| SystemDto {
                id: s.code.as_str().to_owned(),
                name: s.name.clone(),
                packages: c
                    .packages
                    .iter()
                    .filter(|p| p.systems.contains(&s.code))
                    .map(|p| p.number.get())
                    .collect(),
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct EventDto {
    pub seq: i64,
    /// create | resize | release
    pub kind: String,
    /// Quantity from `effective_at` on.
    pub quantity: String,
    pub effective_at: String,
    pub recorded_at: String,
    pub actor: String,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct ResourceDto {
    pub id: String,
    pub system: String,
    pub item: String,
    pub name: String,
    /// Current quantity in the item's unit (exact decimal).
    pub quantity: String,
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    pub host: Option<String>,
    pub vcpus: i64,
    /// The provisioning engine's handle: a libvirt domain or volume, `ips:<network>:<a>,<b>`
    /// for addresses, `manual:<name>` when the provider provisions by hand.
    pub engine_ref: Option<String>,
    pub released: bool,
    pub created_at: String,
    pub created_by: String,
    /// With `GET /resources/{id}`: the full history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<EventDto>>,
}

fn dto(r: Resource, events: Option<Vec<ResourceEvent>>) -> ResourceDto {
    ResourceDto {
        spec: serde_json::from_str(&r.spec).unwrap_or(serde_json::Value::Null),
        id: r.id,
        system: r.system_code,
        item: r.item_id,
        name: r.name,
        quantity: r.quantity,
        host: r.host_id,
        vcpus: r.vcpus,
        engine_ref: r.engine_ref,
        released: r.released,
        created_at: utc(r.created_at),
        created_by: r.created_by,
        history: events.map(|es| {
            es.into_iter()
                .map(|e| EventDto {
                    seq: e.seq,
                    kind: e.kind,
                    quantity: e.quantity,
                    effective_at: utc(e.effective_at),
                    recorded_at: utc(e.recorded_at),
                    actor: e.actor,
                    reason: e.reason,
                })
                .collect()
        }),
    }
}

#[derive(Deserialize, IntoParams)]
pub struct SystemQuery {
    /// A business system code.
    pub system: Option<String>,
}

/// Resources (released ones too), optionally of one system.
#[utoipa::path(get, path = "/resources", tag = "resources", params(SystemQuery),
    responses((status = 200, body = [ResourceDto]), (status = 401, body = ErrorBody)))]
pub async fn list_resources(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiQuery(q): ApiQuery<SystemQuery>,
) -> ApiResult<Json<Vec<ResourceDto>>> {
    Ok(Json(
        state
            .store
            .list_resources(q.system.as_deref())
            .await?
            .into_iter()
            .map(|r| dto(r, None))
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateResource {
    /// Business system code.
    pub system: String,
    /// Catalog line item id, e.g. `p1-vcpu`.
    pub item: String,
    /// Quantity in the item's unit (exact decimal text, e.g. "8" or "9.6").
    pub quantity: String,
    pub name: Option<String>,
    #[schema(value_type = Object)]
    pub spec: Option<serde_json::Value>,
    /// vCPU items: the physical host (inventory id or name) to place on.
    pub host: Option<String>,
    /// When it took effect (RFC 3339); earlier than now records an existing resource (audited).
    pub effective_from: Option<String>,
    pub reason: Option<String>,
}

/// Allocate a resource from a line item; 409 `over_contract` with what is left when the
/// item's contracted quantity would be exceeded.
#[utoipa::path(post, path = "/resources", tag = "resources", request_body = CreateResource,
    responses((status = 201, body = ResourceDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_resource(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiJson(req): ApiJson<CreateResource>,
) -> ApiResult<(StatusCode, Json<ResourceDto>)> {
    let effective_from = super::parse_time("effective_from", req.effective_from.as_deref())?;
    let (stored, c) = state.contract().await?.ok_or_else(no_contract)?;
    let r = res::create(
        state.ctx(caller.user.name.as_str()),
        &state.engine,
        &stored.id,
        &c,
        NewResource {
            system: &req.system,
            item: &req.item,
            quantity: &req.quantity,
            name: req.name.as_deref(),
            spec: req.spec.unwrap_or(serde_json::Value::Null),
            host: req.host.as_deref(),
            effective_from,
            reason: req.reason.as_deref().unwrap_or(""),
            change_id: None,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(dto(r, None))))
}

/// One resource with its full history.
#[utoipa::path(get, path = "/resources/{id}", tag = "resources",
    params(("id" = String, Path, description = "resource id")),
    responses((status = 200, body = ResourceDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show_resource(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ResourceDto>> {
    let (r, events) = state
        .store
        .resource(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("资源", "resource"))?;
    Ok(Json(dto(r, Some(events))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResizeResource {
    pub quantity: String,
    pub effective_from: Option<String>,
    pub reason: Option<String>,
}

/// Change a resource's quantity (checked against the contract like an allocation).
#[utoipa::path(post, path = "/resources/{id}/resize", tag = "resources",
    params(("id" = String, Path, description = "resource id")), request_body = ResizeResource,
    responses((status = 200, body = ResourceDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resize_resource(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ResizeResource>,
) -> ApiResult<Json<ResourceDto>> {
    let at = super::parse_time("effective_from", req.effective_from.as_deref())?;
    let (_, c) = state.contract().await?.ok_or_else(no_contract)?;
    let r = res::change(
        state.ctx(caller.user.name.as_str()),
        &state.engine,
        &c,
        &id,
        res::Change {
            quantity: Some(&req.quantity),
            at,
            reason: req.reason.as_deref().unwrap_or(""),
            change_id: None,
        },
    )
    .await?;
    Ok(Json(dto(r, None)))
}

#[derive(Deserialize, IntoParams)]
pub struct ReleaseQuery {
    /// When the resource stopped (RFC 3339); default now.
    pub effective_to: Option<String>,
    pub reason: Option<String>,
}

/// Release a resource: its quantity returns to the item from `effective_to` on.
#[utoipa::path(delete, path = "/resources/{id}", tag = "resources",
    params(("id" = String, Path, description = "resource id"), ReleaseQuery),
    responses((status = 200, body = ResourceDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn release_resource(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReleaseQuery>,
) -> ApiResult<Json<ResourceDto>> {
    let at = super::parse_time("effective_to", q.effective_to.as_deref())?;
    let (_, c) = state.contract().await?.ok_or_else(no_contract)?;
    let r = res::change(
        state.ctx(caller.user.name.as_str()),
        &state.engine,
        &c,
        &id,
        res::Change {
            quantity: None,
            at,
            reason: q.reason.as_deref().unwrap_or(""),
            change_id: None,
        },
    )
    .await?;
    Ok(Json(dto(r, None)))
}

#[derive(Serialize, ToSchema)]
pub struct ItemUsageDto {
    pub item: String,
    pub contracted: String,
    pub allocated: String,
    pub free: String,
}

/// Contracted, allocated and free quantity of a line item.
#[utoipa::path(get, path = "/items/{id}/usage", tag = "resources",
    params(("id" = String, Path, description = "line item id")),
    responses((status = 200, body = ItemUsageDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn item_usage(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ItemUsageDto>> {
    let (stored, _) = state.contract().await?.ok_or_else(no_contract)?;
    let u = state
        .store
        .item_usage(&stored.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("明细项", "line item"))?;
    let parse = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap_or_default();
    let free = (parse(&u.contracted) - parse(&u.allocated)).normalize();
    Ok(Json(ItemUsageDto {
        item: u.item_id,
        contracted: u.contracted,
        allocated: u.allocated,
        free: free.to_string(),
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct UsageQuery {
    pub system: Option<String>,
    /// RFC 3339 start (inclusive).
    pub from: String,
    /// RFC 3339 end (exclusive).
    pub to: String,
}

#[derive(Serialize, ToSchema)]
pub struct IntervalDto {
    pub resource: String,
    pub system: String,
    pub item: String,
    pub quantity: String,
    pub from: String,
    /// Absent: still running at `to` of the query window… never absent after clipping.
    pub to: Option<String>,
}

/// Usage intervals (resource, item, quantity, from, to) within [from, to).
#[utoipa::path(get, path = "/usage", tag = "resources", params(UsageQuery),
    responses((status = 200, body = [IntervalDto]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn usage(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> ApiResult<Json<Vec<IntervalDto>>> {
    let from = super::parse_time("from", Some(&q.from))?.unwrap_or_default();
    let to = super::parse_time("to", Some(&q.to))?.unwrap_or_default();
    if to <= from {
        return Err(ApiError::bad_request(
            "invalid_window",
            "to 须晚于 from",
            "to must be after from",
        ));
    }
    let list = res::usage(state.store.as_ref(), q.system.as_deref(), from, to).await?;
    Ok(Json(
        list.into_iter()
            .map(|u| IntervalDto {
                resource: u.resource.id,
                system: u.resource.system_code,
                item: u.resource.item_id,
                quantity: u.interval.quantity.normalize().to_string(),
                from: utc(u.interval.from),
                to: u.interval.to.map(utc),
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct HostDto {
    pub id: String,
    pub name: String,
    /// x86 | arm | c86
    pub arch: String,
    pub clock_ghz: String,
    pub cores: i64,
    /// vCPUs placed now, and the limit (4 per core).
    pub vcpus_placed: i64,
    pub vcpus_limit: i64,
}

/// The physical host inventory with vCPUs placed.
#[utoipa::path(get, path = "/hosts", tag = "resources",
    responses((status = 200, body = [HostDto]), (status = 401, body = ErrorBody)))]
pub async fn list_hosts(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
) -> ApiResult<Json<Vec<HostDto>>> {
    Ok(Json(
        state
            .store
            .physical_hosts()
            .await?
            .into_iter()
            .map(|(h, placed)| HostDto {
                vcpus_limit: h.cores * govcloud_domain::resources::VCPUS_PER_CORE,
                id: h.id,
                name: h.name,
                arch: h.arch,
                clock_ghz: h.clock_ghz,
                cores: h.cores,
                vcpus_placed: placed,
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddHost {
    pub name: String,
    /// x86 | arm | c86
    pub arch: String,
    /// Base clock in GHz, e.g. "2.4".
    pub clock_ghz: String,
    pub cores: i64,
}

/// Add a physical host to the inventory.
#[utoipa::path(post, path = "/hosts", tag = "resources", request_body = AddHost,
    responses((status = 201, body = HostDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_host(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiJson(req): ApiJson<AddHost>,
) -> ApiResult<(StatusCode, Json<HostDto>)> {
    let h = res::add_host(
        state.ctx(caller.user.name.as_str()),
        &req.name,
        &req.arch,
        &req.clock_ghz,
        req.cores,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(HostDto {
            vcpus_limit: h.cores * govcloud_domain::resources::VCPUS_PER_CORE,
            id: h.id,
            name: h.name,
            arch: h.arch,
            clock_ghz: h.clock_ghz,
            cores: h.cores,
            vcpus_placed: 0,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ChangeDto {
    pub id: String,
    /// create | resize | release
    pub kind: String,
    pub resource: Option<String>,
    pub system: String,
    pub item: String,
    pub quantity: String,
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    pub effective_from: Option<String>,
    pub reason: String,
    /// pending | approved | rejected | executed
    pub state: String,
    pub requested_by: String,
    pub requested_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_note: Option<String>,
    pub executed_at: Option<String>,
}

fn change_dto(c: govcloud_store::ChangeRequest) -> ChangeDto {
    ChangeDto {
        spec: serde_json::from_str(&c.spec).unwrap_or(serde_json::Value::Null),
        id: c.id,
        kind: c.kind,
        resource: c.resource_id,
        system: c.system_code,
        item: c.item_id,
        quantity: c.quantity,
        effective_from: c.effective_at.map(utc),
        reason: c.reason,
        state: c.state,
        requested_by: c.requested_by,
        requested_at: utc(c.requested_at),
        decided_by: c.decided_by,
        decided_at: c.decided_at.map(utc),
        decision_note: c.decision_note,
        executed_at: c.executed_at.map(utc),
    }
}

#[derive(Deserialize, IntoParams)]
pub struct ChangeQuery {
    /// pending | approved | rejected | executed
    pub state: Option<String>,
}

/// Change requests 变更, newest first.
#[utoipa::path(get, path = "/changes", tag = "resources", params(ChangeQuery),
    responses((status = 200, body = [ChangeDto]), (status = 401, body = ErrorBody)))]
pub async fn list_changes(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiQuery(q): ApiQuery<ChangeQuery>,
) -> ApiResult<Json<Vec<ChangeDto>>> {
    Ok(Json(
        state
            .store
            .list_changes(q.state.as_deref())
            .await?
            .into_iter()
            .map(change_dto)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequestBody {
    /// create | resize | release
    pub kind: String,
    /// create: the business system.
    pub system: Option<String>,
    /// create: the line item.
    pub item: Option<String>,
    /// resize/release: the resource.
    pub resource: Option<String>,
    /// create/resize: the quantity asked for.
    pub quantity: Option<String>,
    #[schema(value_type = Object)]
    pub spec: Option<serde_json::Value>,
    pub effective_from: Option<String>,
    pub reason: String,
}

fn missing(field: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_body",
        format!("缺少字段 {field}"),
        format!("missing field {field}"),
    )
}

/// Ask for a new resource, a resize or a release; it waits for the purchaser's approval.
#[utoipa::path(post, path = "/changes", tag = "resources", request_body = ChangeRequestBody,
    responses((status = 201, body = ChangeDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn request_change(
    State(state): State<AppState>,
    caller: Auth<ChangeRequesters>,
    ApiJson(req): ApiJson<ChangeRequestBody>,
) -> ApiResult<(StatusCode, Json<ChangeDto>)> {
    let effective_from = super::parse_time("effective_from", req.effective_from.as_deref())?;
    let (stored, c) = state.contract().await?.ok_or_else(no_contract)?;
    let requested = match req.kind.as_str() {
        "create" => res::Requested::Create(NewResource {
            system: req.system.as_deref().ok_or_else(|| missing("system"))?,
            item: req.item.as_deref().ok_or_else(|| missing("item"))?,
            quantity: req.quantity.as_deref().ok_or_else(|| missing("quantity"))?,
            name: None,
            spec: req.spec.clone().unwrap_or(serde_json::Value::Null),
            host: None,
            effective_from,
            reason: &req.reason,
            change_id: None,
        }),
        "resize" => res::Requested::Resize {
            resource: req.resource.as_deref().ok_or_else(|| missing("resource"))?,
            quantity: req.quantity.as_deref().ok_or_else(|| missing("quantity"))?,
        },
        "release" => res::Requested::Release {
            resource: req.resource.as_deref().ok_or_else(|| missing("resource"))?,
        },
        other => {
            return Err(ApiError::bad_request(
                "invalid_kind",
                format!("变更类型 {other:?} 应为 create、resize 或 release"),
                format!("change kind {other:?} should be create, resize or release"),
            ))
        }
    };
    let ch = res::request_change(
        state.ctx(caller.user.name.as_str()),
        &stored.id,
        &c,
        requested,
        effective_from,
        &req.reason,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(change_dto(ch))))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub note: Option<String>,
}

/// The purchaser approves a pending change; it is executed at once (409 and left approved
/// if the contract no longer allows it).
#[utoipa::path(post, path = "/changes/{id}/approve", tag = "resources",
    params(("id" = String, Path, description = "change id")), request_body = DecisionBody,
    responses((status = 200, body = ChangeDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve_change(
    State(state): State<AppState>,
    caller: Auth<Purchasers>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<DecisionBody>,
) -> ApiResult<Json<ChangeDto>> {
    decide(&state, &caller, &id, true, req.note.as_deref()).await
}

/// The purchaser rejects a pending change.
#[utoipa::path(post, path = "/changes/{id}/reject", tag = "resources",
    params(("id" = String, Path, description = "change id")), request_body = DecisionBody,
    responses((status = 200, body = ChangeDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject_change(
    State(state): State<AppState>,
    caller: Auth<Purchasers>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<DecisionBody>,
) -> ApiResult<Json<ChangeDto>> {
    decide(&state, &caller, &id, false, req.note.as_deref()).await
}

async fn decide(
    state: &AppState,
    caller: &Auth<Purchasers>,
    id: &str,
    approve: bool,
    note: Option<&str>,
) -> ApiResult<Json<ChangeDto>> {
    let (_, c) = state.contract().await?.ok_or_else(no_contract)?;
    let ch = res::decide_change(
        state.ctx(caller.user.name.as_str()),
        &state.engine,
        &c,
        id,
        approve,
        note,
    )
    .await?;
    Ok(Json(change_dto(ch)))
}

/// Execute an approved change whose execution failed at approval (e.g. after resources
/// were released).
#[utoipa::path(post, path = "/changes/{id}/execute", tag = "resources",
    params(("id" = String, Path, description = "change id")),
    responses((status = 200, body = ChangeDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn execute_change(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ChangeDto>> {
    let (_, c) = state.contract().await?.ok_or_else(no_contract)?;
    let ch =
        res::execute_change(state.ctx(caller.user.name.as_str()), &state.engine, &c, &id).await?;
    Ok(Json(change_dto(ch)))
}

#[derive(Serialize, ToSchema)]
pub struct OccurrenceDto {
    pub id: String,
    pub system: String,
    pub item: String,
    pub performed_at: String,
    /// Hosts the service covered (台次 = hosts × occurrences).
    pub hosts: i64,
    pub note: String,
    pub recorded_at: String,
    pub recorded_by: String,
}

fn occurrence_dto(o: govcloud_store::Occurrence) -> OccurrenceDto {
    OccurrenceDto {
        id: o.id,
        system: o.system_code,
        item: o.item_id,
        performed_at: utc(o.performed_at),
        hosts: o.hosts,
        note: o.note,
        recorded_at: utc(o.recorded_at),
        recorded_by: o.recorded_by,
    }
}

/// Per-occurrence services performed (scans, hardening), optionally of one system.
#[utoipa::path(get, path = "/occurrences", tag = "resources", params(SystemQuery),
    responses((status = 200, body = [OccurrenceDto]), (status = 401, body = ErrorBody)))]
pub async fn list_occurrences(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiQuery(q): ApiQuery<SystemQuery>,
) -> ApiResult<Json<Vec<OccurrenceDto>>> {
    Ok(Json(
        state
            .store
            .occurrences(q.system.as_deref())
            .await?
            .into_iter()
            .map(occurrence_dto)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordOccurrence {
    pub system: String,
    /// A per-occurrence line item, e.g. `p1-host-vuln-scan`.
    pub item: String,
    /// RFC 3339.
    pub performed_at: String,
    pub hosts: i64,
    pub note: Option<String>,
}

/// Record a per-occurrence service performed, with the hosts it covered.
#[utoipa::path(post, path = "/occurrences", tag = "resources", request_body = RecordOccurrence,
    responses((status = 201, body = OccurrenceDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn record_occurrence(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiJson(req): ApiJson<RecordOccurrence>,
) -> ApiResult<(StatusCode, Json<OccurrenceDto>)> {
    let at = super::parse_time("performed_at", Some(&req.performed_at))?.unwrap_or_default();
    let (stored, c) = state.contract().await?.ok_or_else(no_contract)?;
    let o = res::record_occurrence(
        state.ctx(caller.user.name.as_str()),
        &stored.id,
        &c,
        res::NewOccurrence {
            system: &req.system,
            item: &req.item,
            performed_at: at,
            hosts: req.hosts,
            note: req.note.as_deref().unwrap_or(""),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(occurrence_dto(o))))
}
