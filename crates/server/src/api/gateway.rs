//! The gateway 密码前置 as operators manage it: crypto nodes, app policies (allow rules and
//! rate limits), credential rotation, and the live figures every gateway replica reports.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use govcloud_store::{App, Store, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{utc, AnyRole, ApiJson, ApiPath, AppManagers, Auth};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::gateway::ReplicaFigures;
use crate::ops;

/// A replica is shown while it reported within this many seconds (it reports every 2 s).
const REPLICA_FRESH_SECS: i64 = 10;

#[derive(Serialize, ToSchema)]
pub struct RuleDto {
    /// An operation code or `*`.
    pub operation: String,
    /// A key id or `*`.
    pub key: String,
    pub created_at: String,
    pub created_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct LimitDto {
    /// An operation code or `*` (all the app's requests together).
    pub operation: String,
    pub rps: f64,
    pub burst: i64,
}

#[derive(Serialize, ToSchema, Default, Clone)]
pub struct MonthCalls {
    /// `YYYY-MM`, Asia/Shanghai.
    pub month: String,
    /// Answered by a node (including its 4xx answers).
    pub ok: i64,
    /// 5xx, timeouts and unreachable nodes.
    pub error: i64,
    /// Refused at the gateway: policy (403), rate limit (429), unknown route.
    pub rejected: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyDto {
    pub app: String,
    pub name: String,
    /// No allow rules: every operation on the app's own keys.
    pub unrestricted: bool,
    pub rules: Vec<RuleDto>,
    pub limits: Vec<LimitDto>,
    /// Serials of the client certificates the app must present over mutual TLS (none:
    /// the credential alone suffices).
    pub client_certs: Vec<String>,
    /// Calls through the gateways per month (metering), newest first.
    pub calls: Vec<MonthCalls>,
}

/// Calls per app and month from the store's counters.
async fn month_calls(
    store: &dyn Store,
    app_id: Option<&str>,
) -> Result<BTreeMap<(String, String), MonthCalls>, StoreError> {
    let mut m: BTreeMap<(String, String), MonthCalls> = BTreeMap::new();
    for (k, n) in store.gateway_calls(app_id).await? {
        let e = m.entry((k.app_id, k.month.clone())).or_default();
        e.month = k.month;
        match k.outcome.as_str() {
            "ok" => e.ok += n,
            "error" => e.error += n,
            _ => e.rejected += n,
        }
    }
    Ok(m)
}

/// One app's policy and monthly calls.
pub async fn policy_of(store: &dyn Store, app: &App) -> Result<PolicyDto, StoreError> {
    let rules: Vec<RuleDto> = store
        .app_rules()
        .await?
        .into_iter()
        .filter(|r| r.app_id == app.id)
        .map(|r| RuleDto {
            operation: r.operation,
            key: r.key_id,
            created_at: utc(r.created_at),
            created_by: r.created_by,
        })
        .collect();
    let limits = store
        .app_limits()
        .await?
        .into_iter()
        .filter(|l| l.app_id == app.id)
        .map(|l| LimitDto {
            operation: l.operation,
            rps: l.rps,
            burst: l.burst,
        })
        .collect();
    let mut calls: Vec<MonthCalls> = month_calls(store, Some(&app.id))
        .await?
        .into_values()
        .collect();
    calls.reverse();
    let client_certs = store
        .app_certs()
        .await?
        .into_iter()
        .filter(|(a, _)| *a == app.id)
        .map(|(_, s)| s)
        .collect();
    Ok(PolicyDto {
        client_certs,
        app: app.id.clone(),
        name: app.name.clone(),
        unrestricted: rules.is_empty(),
        rules,
        limits,
        calls,
    })
}

#[derive(Serialize, ToSchema)]
pub struct ReplicaDto {
    pub id: String,
    pub listen: String,
    pub started_at: String,
    pub seen_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct NodeStatus {
    pub url: String,
    /// active | draining
    pub state: String,
    pub state_zh: String,
    /// The worst circuit any replica sees: closed | half_open | open | unknown (no replica).
    pub circuit: String,
    pub circuit_zh: String,
    /// Every replica's last health check passed.
    pub up: bool,
    /// Mean of the replicas' latency estimates, milliseconds.
    pub latency_ms: f64,
    /// Requests per second, all replicas.
    pub rps: f64,
    pub in_flight: u32,
    /// Since each replica started.
    pub requests: u64,
    pub failures: u64,
    pub added_at: String,
    pub added_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct AppStatus {
    pub id: String,
    pub name: String,
    pub disabled: bool,
    pub unrestricted: bool,
    pub rules: usize,
    pub limits: Vec<LimitDto>,
    /// Requests per second, all replicas.
    pub rps: f64,
    /// Mean latency at the gateway over the last interval, milliseconds.
    pub latency_ms: f64,
    /// Refused for the rate limit since the replicas started.
    pub limited: u64,
    /// This month (Asia/Shanghai).
    pub month: MonthCalls,
}

#[derive(Serialize, ToSchema)]
pub struct GatewayStatus {
    pub replicas: Vec<ReplicaDto>,
    pub nodes: Vec<NodeStatus>,
    pub apps: Vec<AppStatus>,
}

fn circuit_zh(c: &str) -> &'static str {
    match c {
        "closed" => "正常",
        "half_open" => "半开（试探中）",
        "open" => "已熔断",
        _ => "未知",
    }
}

fn circuit_rank(c: &str) -> u8 {
    match c {
        "closed" => 1,
        "half_open" => 2,
        "open" => 3,
        _ => 0,
    }
}

/// Nodes, apps and replicas with the figures of every replica seen lately.
pub async fn status(store: &dyn Store, now: DateTime<Utc>) -> Result<GatewayStatus, StoreError> {
    let replicas = store
        .gateway_replicas(now - chrono::Duration::seconds(REPLICA_FRESH_SECS))
        .await?;
    let figures: Vec<ReplicaFigures> = replicas
        .iter()
        .filter_map(|r| serde_json::from_str(&r.stats).ok())
        .collect();
    let nodes = store
        .gateway_nodes()
        .await?
        .into_iter()
        .map(|n| {
            let seen: Vec<_> = figures
                .iter()
                .filter_map(|f| f.nodes.iter().find(|x| x.url == n.url))
                .collect();
            let circuit = seen
                .iter()
                .map(|x| x.circuit.as_str())
                .max_by_key(|c| circuit_rank(c))
                .unwrap_or("unknown")
                .to_owned();
            let draining = n.state == govcloud_store::NodeState::Draining;
            NodeStatus {
                state: n.state.code().into(),
                state_zh: if draining { "排空中" } else { "在用" }.into(),
                circuit_zh: circuit_zh(&circuit).into(),
                circuit,
                up: !seen.is_empty() && seen.iter().all(|x| x.up),
                latency_ms: if seen.is_empty() {
                    0.0
                } else {
                    seen.iter().map(|x| x.latency_ms).sum::<f64>() / seen.len() as f64
                },
                rps: seen.iter().fold(0.0, |n, x| n + x.rps),
                in_flight: seen.iter().map(|x| x.in_flight).sum(),
                requests: seen.iter().map(|x| x.requests).sum(),
                failures: seen.iter().map(|x| x.failures).sum(),
                added_at: utc(n.added_at),
                added_by: n.added_by,
                url: n.url,
            }
        })
        .collect();
    let month = crate::shanghai_month(now);
    let calls = month_calls(store, None).await?;
    let rules = store.app_rules().await?;
    let limits = store.app_limits().await?;
    let apps = store
        .list_apps()
        .await?
        .into_iter()
        .filter(|a| a.id != ops::SERVICE_APP)
        .map(|a| {
            let live: Vec<_> = figures.iter().filter_map(|f| f.apps.get(&a.id)).collect();
            let rps = live.iter().fold(0.0, |n, x| n + x.rps);
            let latency_ms = if rps > 0.0 {
                live.iter().map(|x| x.latency_ms * x.rps).sum::<f64>() / rps
            } else {
                0.0
            };
            AppStatus {
                unrestricted: !rules.iter().any(|r| r.app_id == a.id),
                rules: rules.iter().filter(|r| r.app_id == a.id).count(),
                limits: limits
                    .iter()
                    .filter(|l| l.app_id == a.id)
                    .map(|l| LimitDto {
                        operation: l.operation.clone(),
                        rps: l.rps,
                        burst: l.burst,
                    })
                    .collect(),
                rps,
                latency_ms,
                limited: live.iter().map(|x| x.limited).sum(),
                month: calls
                    .get(&(a.id.clone(), month.clone()))
                    .cloned()
                    .unwrap_or_else(|| MonthCalls {
                        month: month.clone(),
                        ..MonthCalls::default()
                    }),
                disabled: a.disabled,
                id: a.id,
                name: a.name,
            }
        })
        .collect();
    Ok(GatewayStatus {
        replicas: replicas
            .into_iter()
            .map(|r| ReplicaDto {
                id: r.id,
                listen: r.listen,
                started_at: utc(r.started_at),
                seen_at: utc(r.seen_at),
            })
            .collect(),
        nodes,
        apps,
    })
}

/// Live figures of the gateways: replicas, nodes (circuit, latency, load), apps (calls
/// this month, rate, latency).
#[utoipa::path(get, path = "/gateway", tag = "gateway",
    responses((status = 200, body = GatewayStatus), (status = 401, body = ErrorBody)))]
pub async fn show_status(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
) -> ApiResult<Json<GatewayStatus>> {
    Ok(Json(status(state.store.as_ref(), state.now()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeRequest {
    /// The node's base URL, e.g. `http://10.0.0.5:8080`.
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub struct NodeChange {
    pub url: String,
    /// active | draining | removed
    pub state: String,
    /// False when the node was already so.
    pub changed: bool,
}

/// Add a crypto node (or make a draining one active again).
#[utoipa::path(post, path = "/gateway/nodes", tag = "gateway",
    request_body = NodeRequest,
    responses((status = 200, body = NodeChange), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn add_node(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiJson(req): ApiJson<NodeRequest>,
) -> ApiResult<Json<NodeChange>> {
    let (n, changed) = ops::add_node(state.ctx(caller.user.name.as_str()), &req.url).await?;
    Ok(Json(NodeChange {
        url: n.url,
        state: n.state.code().into(),
        changed,
    }))
}

/// Drain a node: no new requests; requests in flight finish.
#[utoipa::path(post, path = "/gateway/nodes/drain", tag = "gateway",
    request_body = NodeRequest,
    responses((status = 200, body = NodeChange), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn drain_node(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiJson(req): ApiJson<NodeRequest>,
) -> ApiResult<Json<NodeChange>> {
    let n = ops::drain_node(state.ctx(caller.user.name.as_str()), &req.url).await?;
    Ok(Json(NodeChange {
        url: n.url,
        state: n.state.code().into(),
        changed: true,
    }))
}

/// Remove a node from the list.
#[utoipa::path(post, path = "/gateway/nodes/remove", tag = "gateway",
    request_body = NodeRequest,
    responses((status = 200, body = NodeChange), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn remove_node(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiJson(req): ApiJson<NodeRequest>,
) -> ApiResult<Json<NodeChange>> {
    let url = ops::normalize_node_url(&req.url)?;
    let changed = ops::remove_node(state.ctx(caller.user.name.as_str()), &url).await?;
    Ok(Json(NodeChange {
        url,
        state: "removed".into(),
        changed,
    }))
}

async fn app_of(state: &AppState, id: &str) -> ApiResult<App> {
    state
        .store
        .app(id)
        .await?
        .filter(|a| a.id != ops::SERVICE_APP)
        .ok_or_else(|| ApiError::not_found("应用", "app"))
}

/// An app's gateway policy: allow rules, rate limits, monthly calls.
#[utoipa::path(get, path = "/apps/{id}/policy", tag = "gateway",
    params(("id" = String, Path, description = "app id")),
    responses((status = 200, body = PolicyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show_policy(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PolicyDto>> {
    let app = app_of(&state, &id).await?;
    Ok(Json(policy_of(state.store.as_ref(), &app).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    /// An operation code (sign, verify, encrypt, decrypt, hash, hmac, random, envelope.seal,
    /// envelope.open, message.sign, message.verify, keys, auth.challenge, auth.verify,
    /// timestamp, timestamp.verify) or `*`.
    pub operation: String,
    /// A key id of the app, or `*` (default).
    pub key: Option<String>,
}

/// Allow an operation (optionally only with one key). The first rule restricts an
/// unrestricted app to its rules.
#[utoipa::path(post, path = "/apps/{id}/policy/allow", tag = "gateway",
    params(("id" = String, Path, description = "app id")),
    request_body = RuleRequest,
    responses((status = 200, body = PolicyDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn allow(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RuleRequest>,
) -> ApiResult<Json<PolicyDto>> {
    let app = app_of(&state, &id).await?;
    let key = req.key.as_deref().unwrap_or("*");
    ops::allow(
        state.ctx(caller.user.name.as_str()),
        &app,
        &req.operation,
        key,
    )
    .await?;
    Ok(Json(policy_of(state.store.as_ref(), &app).await?))
}

/// Remove an allow rule (removing the last one makes the app unrestricted again).
#[utoipa::path(post, path = "/apps/{id}/policy/disallow", tag = "gateway",
    params(("id" = String, Path, description = "app id")),
    request_body = RuleRequest,
    responses((status = 200, body = PolicyDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disallow(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RuleRequest>,
) -> ApiResult<Json<PolicyDto>> {
    let app = app_of(&state, &id).await?;
    let key = req.key.as_deref().unwrap_or("*");
    ops::disallow(
        state.ctx(caller.user.name.as_str()),
        &app,
        &req.operation,
        key,
    )
    .await?;
    Ok(Json(policy_of(state.store.as_ref(), &app).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    /// An operation code or `*` (default: all the app's requests together).
    pub operation: Option<String>,
    /// Sustained requests per second.
    pub rps: f64,
    /// Bucket size (default: one second's worth, at least 1).
    pub burst: Option<i64>,
}

/// Set a token-bucket rate limit (per gateway replica).
#[utoipa::path(post, path = "/apps/{id}/policy/limit", tag = "gateway",
    params(("id" = String, Path, description = "app id")),
    request_body = LimitRequest,
    responses((status = 200, body = PolicyDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn limit(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<LimitRequest>,
) -> ApiResult<Json<PolicyDto>> {
    let app = app_of(&state, &id).await?;
    let op = req.operation.as_deref().unwrap_or("*");
    ops::set_limit(
        state.ctx(caller.user.name.as_str()),
        &app,
        op,
        req.rps,
        req.burst,
    )
    .await?;
    Ok(Json(policy_of(state.store.as_ref(), &app).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlimitRequest {
    /// An operation code or `*` (default).
    pub operation: Option<String>,
}

/// Remove a rate limit.
#[utoipa::path(post, path = "/apps/{id}/policy/unlimit", tag = "gateway",
    params(("id" = String, Path, description = "app id")),
    request_body = UnlimitRequest,
    responses((status = 200, body = PolicyDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlimit(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UnlimitRequest>,
) -> ApiResult<Json<PolicyDto>> {
    let app = app_of(&state, &id).await?;
    let op = req.operation.as_deref().unwrap_or("*");
    ops::remove_limit(state.ctx(caller.user.name.as_str()), &app, op).await?;
    Ok(Json(policy_of(state.store.as_ref(), &app).await?))
}

#[derive(Serialize, ToSchema)]
pub struct RotatedDto {
    pub id: String,
    pub name: String,
    /// The new bearer credential, shown this once; the old one stops working within seconds.
    pub token: String,
}

/// Issue a new credential for an app; the old one stops working.
#[utoipa::path(post, path = "/apps/{id}/rotate", tag = "apps",
    params(("id" = String, Path, description = "app id")),
    responses((status = 200, body = RotatedDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RotatedDto>> {
    let app = app_of(&state, &id).await?;
    let (app, token) = ops::rotate_app(state.ctx(caller.user.name.as_str()), &app).await?;
    state.crypto.forget_app();
    Ok(Json(RotatedDto {
        id: app.id,
        name: app.name,
        token,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertBinding {
    /// Serial (hex) of a govcloud-issued RSA server certificate (it carries clientAuth).
    pub serial: String,
}

/// Require mutual TLS with this certificate for the app at the gateway.
#[utoipa::path(post, path = "/apps/{id}/policy/bind-cert", tag = "gateway",
    params(("id" = String, Path, description = "app id")),
    request_body = CertBinding,
    responses((status = 200, body = PolicyDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn bind_cert(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<CertBinding>,
) -> ApiResult<Json<PolicyDto>> {
    let app = app_of(&state, &id).await?;
    ops::bind_cert(
        state.ctx(caller.user.name.as_str()),
        &app,
        &req.serial,
        true,
    )
    .await?;
    Ok(Json(policy_of(state.store.as_ref(), &app).await?))
}

/// Remove a certificate binding.
#[utoipa::path(post, path = "/apps/{id}/policy/unbind-cert", tag = "gateway",
    params(("id" = String, Path, description = "app id")),
    request_body = CertBinding,
    responses((status = 200, body = PolicyDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unbind_cert(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<CertBinding>,
) -> ApiResult<Json<PolicyDto>> {
    let app = app_of(&state, &id).await?;
    ops::bind_cert(
        state.ctx(caller.user.name.as_str()),
        &app,
        &req.serial,
        false,
    )
    .await?;
    Ok(Json(policy_of(state.store.as_ref(), &app).await?))
}
