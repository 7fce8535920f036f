//! Business systems' credentials for the crypto service (应用), managed by operators.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use govcloud_store::App;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{utc, AnyRole, ApiJson, ApiPath, AppManagers, Auth};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ops;

#[derive(Serialize, ToSchema)]
pub struct AppDto {
    pub id: String,
    pub name: String,
    /// Business system code, where given.
    pub system: Option<String>,
    pub created_at: String,
    pub created_by: String,
    pub disabled: bool,
    /// Keys the app holds (any state).
    pub keys: usize,
    /// Operations counted so far, all months.
    pub operations: i64,
}

/// Per-app figures: key count and operations (stored, plus `pending` not yet flushed).
pub async fn app_figures(
    store: &dyn govcloud_store::Store,
    pending: Vec<(govcloud_store::UsageKey, i64)>,
) -> Result<BTreeMap<String, (usize, i64)>, govcloud_store::StoreError> {
    let mut m: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    for k in store.list_keys(None).await? {
        m.entry(k.app_id).or_default().0 += 1;
    }
    for (k, n) in store.usage(None).await?.into_iter().chain(pending) {
        m.entry(k.app_id).or_default().1 += n;
    }
    Ok(m)
}

/// The apps as listed (the service's own app left out).
pub async fn app_list(
    store: &dyn govcloud_store::Store,
    pending: Vec<(govcloud_store::UsageKey, i64)>,
) -> Result<Vec<AppDto>, govcloud_store::StoreError> {
    let figures = app_figures(store, pending).await?;
    let apps = store.list_apps().await?;
    Ok(apps
        .iter()
        .filter(|a| a.id != ops::SERVICE_APP)
        .map(|a| dto(a, &figures))
        .collect())
}

fn dto(a: &App, figures: &BTreeMap<String, (usize, i64)>) -> AppDto {
    let (keys, operations) = figures.get(&a.id).copied().unwrap_or_default();
    AppDto {
        id: a.id.clone(),
        name: a.name.clone(),
        system: a.system_code.clone(),
        created_at: utc(a.created_at),
        created_by: a.created_by.clone(),
        disabled: a.disabled,
        keys,
        operations,
    }
}

/// Business systems' app credentials, with their key counts and usage.
#[utoipa::path(get, path = "/apps", tag = "apps",
    responses((status = 200, body = [AppDto]), (status = 401, body = ErrorBody)))]
pub async fn list_apps(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
) -> ApiResult<Json<Vec<AppDto>>> {
    Ok(Json(
        app_list(state.store.as_ref(), state.crypto.pending(None)).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppRequest {
    pub name: String,
    /// Business system code (e.g. jypt, zjk).
    pub system: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct NewAppDto {
    pub id: String,
    pub name: String,
    /// The app's bearer credential, shown this once.
    pub token: String,
}

/// Issue a credential for a business system.
#[utoipa::path(post, path = "/apps", tag = "apps",
    request_body = CreateAppRequest,
    responses((status = 201, body = NewAppDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_app(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiJson(req): ApiJson<CreateAppRequest>,
) -> ApiResult<(StatusCode, Json<NewAppDto>)> {
    let (app, token) = ops::create_app(
        state.ctx(caller.user.name.as_str()),
        &req.name,
        req.system.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewAppDto {
            id: app.id,
            name: app.name,
            token,
        }),
    ))
}

async fn set_disabled(
    state: &AppState,
    actor: &str,
    id: &str,
    disabled: bool,
) -> ApiResult<Json<AppDto>> {
    let app = state
        .store
        .app(id)
        .await?
        .ok_or_else(|| ApiError::not_found("应用", "app"))?;
    let app = ops::set_app_disabled(state.ctx(actor), &app, disabled).await?;
    state.crypto.forget_app();
    Ok(Json(dto(
        &app,
        &app_figures(state.store.as_ref(), state.crypto.pending(None)).await?,
    )))
}

/// Disable an app: its credential stops working at once.
#[utoipa::path(post, path = "/apps/{id}/disable", tag = "apps",
    params(("id" = String, Path, description = "app id")),
    responses((status = 200, body = AppDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disable_app(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AppDto>> {
    set_disabled(&state, caller.user.name.as_str(), &id, true).await
}

/// Enable a disabled app.
#[utoipa::path(post, path = "/apps/{id}/enable", tag = "apps",
    params(("id" = String, Path, description = "app id")),
    responses((status = 200, body = AppDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn enable_app(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AppDto>> {
    set_disabled(&state, caller.user.name.as_str(), &id, false).await
}
