//! User administration and API tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use govcloud_store::{ApiTokenInfo, UserChange};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::session::UserDto;
use super::{utc, AdminOnly, AnyRole, ApiJson, ApiPath, Auth};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ops;

/// List all users.
#[utoipa::path(get, path = "/users", tag = "users",
    responses((status = 200, body = [UserDto]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    _caller: Auth<AdminOnly>,
) -> ApiResult<Json<Vec<UserDto>>> {
    let users = state.store.list_users().await?;
    Ok(Json(users.iter().map(UserDto::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub name: String,
    /// purchaser | operator | auditor | admin
    pub role: String,
    pub display_name: Option<String>,
    /// At least 12 characters.
    pub password: String,
}

/// Create a user.
#[utoipa::path(post, path = "/users", tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = UserDto),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "name taken", body = ErrorBody),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Auth<AdminOnly>,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let cx = state.ctx(caller.user.name.as_str());
    let u = ops::create_user(
        cx,
        &req.name,
        &req.role,
        req.display_name.as_deref(),
        &req.password,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(UserDto::from(&u))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub role: Option<String>,
    pub disabled: Option<bool>,
    pub display_name: Option<String>,
    /// Set a new password (at least 12 characters); ends the user's sessions.
    pub password: Option<String>,
}

/// Change a user's role, display name, password, or disable/enable them.
#[utoipa::path(patch, path = "/users/{name}", tag = "users",
    params(("name" = String, Path, description = "user name")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserDto),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "would leave no enabled admin", body = ErrorBody),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Auth<AdminOnly>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> ApiResult<Json<UserDto>> {
    let name = ops::parse_name(&name)?;
    // Everything is parsed before anything changes, and the store applies it all in one
    // transaction: a request with one bad field changes nothing.
    let mut changes = Vec::new();
    if let Some(r) = &req.role {
        changes.push(UserChange::Role(ops::parse_role(r)?));
    }
    if let Some(d) = &req.display_name {
        let d = d.trim();
        if d.is_empty() || d.chars().count() > 100 {
            return Err(ApiError::bad_request(
                "invalid_display_name",
                "显示名称须为 1–100 个字符",
                "display name must be 1 to 100 characters",
            ));
        }
        changes.push(UserChange::DisplayName(d.to_owned()));
    }
    if let Some(p) = &req.password {
        changes.push(ops::new_password_hash(p)?);
    }
    if let Some(d) = req.disabled {
        changes.push(UserChange::Disabled(d));
    }
    let cx = state.ctx(caller.user.name.as_str());
    let u = ops::change_user(cx, &name, changes).await?;
    Ok(Json(UserDto::from(&u)))
}

#[derive(Serialize, ToSchema)]
pub struct TokenDto {
    pub id: i64,
    pub label: String,
    /// The token's first characters, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl From<&ApiTokenInfo> for TokenDto {
    fn from(t: &ApiTokenInfo) -> Self {
        Self {
            id: t.id,
            label: t.label.clone(),
            prefix: t.prefix.clone(),
            created_at: utc(t.created_at),
            revoked_at: t.revoked_at.map(utc),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NewTokenDto {
    /// The bearer token. Shown this once; only its hash is kept.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenDto,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// What the token is for, e.g. the program that uses it.
    pub label: String,
}

/// Resolve the user a token route is about; users may manage their own tokens, admins anyone's.
async fn token_owner(
    state: &AppState,
    caller: &Auth<AnyRole>,
    name: &str,
) -> ApiResult<govcloud_store::User> {
    let name = ops::parse_name(name)?;
    if caller.user.name != name && caller.user.role != govcloud_domain::role::Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "只能管理自己的 API 令牌",
            "only admins may manage other users' tokens",
        ));
    }
    state
        .store
        .user_with_secret(&name)
        .await?
        .map(|u| u.user)
        .ok_or_else(|| ApiError::not_found("用户", &format!("user {name}")))
}

/// List a user's API tokens (never the tokens themselves).
#[utoipa::path(get, path = "/users/{name}/tokens", tag = "users",
    params(("name" = String, Path, description = "user name")),
    responses((status = 200, body = [TokenDto]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Auth<AnyRole>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<TokenDto>>> {
    let owner = token_owner(&state, &caller, &name).await?;
    let tokens = state.store.list_api_tokens(owner.id).await?;
    Ok(Json(tokens.iter().map(TokenDto::from).collect()))
}

/// Issue a new API token for a program acting as this user.
#[utoipa::path(post, path = "/users/{name}/tokens", tag = "users",
    params(("name" = String, Path, description = "user name")),
    request_body = CreateTokenRequest,
    responses((status = 201, body = NewTokenDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Auth<AnyRole>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<NewTokenDto>)> {
    let owner = token_owner(&state, &caller, &name).await?;
    let cx = state.ctx(caller.user.name.as_str());
    let (token, info) = ops::issue_token(cx, &owner, &req.label).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewTokenDto {
            token,
            info: TokenDto::from(&info),
        }),
    ))
}

/// Revoke an API token.
#[utoipa::path(delete, path = "/users/{name}/tokens/{id}", tag = "users",
    params(("name" = String, Path, description = "user name"), ("id" = i64, Path, description = "token id")),
    responses((status = 200, body = TokenDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Auth<AnyRole>,
    ApiPath((name, id)): ApiPath<(String, i64)>,
) -> ApiResult<Json<TokenDto>> {
    let owner = token_owner(&state, &caller, &name).await?;
    let ev = govcloud_domain::audit::AuditEvent::new(
        state.now(),
        caller.user.name.as_str(),
        "token.revoke",
        owner.name.as_str(),
        serde_json::json!({"token_id": id}).to_string(),
    );
    let t = state.store.revoke_api_token(owner.id, id, ev).await?;
    Ok(Json(TokenDto::from(&t)))
}
