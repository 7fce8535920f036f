//! Logging in and out, and the caller's own account.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{utc, AnyRole, ApiJson, Auth};
use crate::app::AppState;
use crate::auth::{SESSION_COOKIE, SESSION_HOURS};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ops;
use govcloud_store::User;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// A user as the API shows it (never with a password hash).
#[derive(Serialize, ToSchema)]
pub struct UserDto {
    pub name: String,
    pub display_name: String,
    /// purchaser | operator | auditor | admin
    pub role: String,
    pub role_zh: String,
    pub disabled: bool,
    /// RFC 3339, UTC
    pub created_at: String,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        Self {
            name: u.name.to_string(),
            display_name: u.display_name.clone(),
            role: u.role.code().to_owned(),
            role_zh: u.role.label_zh().to_owned(),
            disabled: u.disabled,
            created_at: utc(u.created_at),
        }
    }
}

pub fn session_cookie_header(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_HOURS * 3600
    ))
    .expect("base64url token is a valid header value")
}

pub fn clear_cookie_header() -> HeaderValue {
    HeaderValue::from_static("govcloud_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Log in with a user name and password; sets the session cookie.
#[utoipa::path(post, path = "/session", tag = "session", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "logged in; the session cookie is set", body = UserDto),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "wrong user name or password", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let cx = state.ctx("anonymous");
    let (user, token) = ops::login(cx, &req.username, &req.password).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, session_cookie_header(&token));
    Ok((headers, Json(UserDto::from(&user))).into_response())
}

/// Log out: ends the session of the cookie sent.
#[utoipa::path(delete, path = "/session", tag = "session",
    responses(
        (status = 204, description = "logged out"),
        (status = 401, description = "not logged in", body = ErrorBody),
    ))]
pub async fn logout(State(state): State<AppState>, caller: Auth<AnyRole>) -> ApiResult<Response> {
    if let Some(token) = &caller.session {
        let cx = state.ctx(caller.user.name.as_str());
        ops::logout(cx, token).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_cookie_header())],
    )
        .into_response())
}

/// Who am I.
#[utoipa::path(get, path = "/me", tag = "session",
    responses((status = 200, body = UserDto), (status = 401, body = ErrorBody)))]
pub async fn me(caller: Auth<AnyRole>) -> Json<UserDto> {
    Json(UserDto::from(&caller.user))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 12 characters.
    pub new_password: String,
}

/// Change one's own password (ends all of one's sessions).
#[utoipa::path(post, path = "/me/password", tag = "session",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "changed"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn change_own_password(
    State(state): State<AppState>,
    caller: Auth<AnyRole>,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    let current = state
        .store
        .user_with_secret(&caller.user.name)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    if !crate::auth::verify_password(&req.current_password, &current.password_hash) {
        return Err(ApiError::bad_request(
            "wrong_current_password",
            "当前密码不正确",
            "current password is wrong",
        ));
    }
    let cx = state.ctx(caller.user.name.as_str());
    ops::set_password(cx, &caller.user.name, &req.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}
