//! The one place where failures become HTTP responses: a machine-readable `code`, a
//! Chinese and an English message. User errors are 4xx and change nothing; a 500 means a
//! bug or an outage and never carries internal details to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use govcloud_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `forbidden`, `invalid_json`.
    pub code: &'static str,
    pub message_zh: String,
    pub message_en: String,
    /// Extra structure where it helps (e.g. catalog issues with line numbers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        zh: impl Into<String>,
        en: impl Into<String>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody {
                code,
                message_zh: zh.into(),
                message_en: en.into(),
                details: None,
            },
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.body.details = Some(details);
        self
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "未登录或凭据无效，请先登录或提供有效的 API 令牌",
            "no valid session or bearer token: log in or send Authorization: Bearer <token>",
        )
    }

    pub fn bad_request(code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, zh, en)
    }

    pub fn not_found(what_zh: &str, what_en: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what_zh}不存在"),
            format!("{what_en} not found"),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "服务器内部错误，已记录日志，请稍后重试",
            "internal error; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("未找到：{what}"),
                format!("{what} not found"),
            ),
            StoreError::OverContract {
                item,
                contracted,
                allocated,
                requested,
            } => {
                let left = match (
                    contracted.parse::<rust_decimal::Decimal>(),
                    allocated.parse::<rust_decimal::Decimal>(),
                ) {
                    (Ok(c), Ok(a)) => (c - a).max(rust_decimal::Decimal::ZERO).normalize().to_string(),
                    _ => "?".to_owned(),
                };
                ApiError::new(
                    StatusCode::CONFLICT,
                    "over_contract",
                    format!(
                        "超出合同数量：{item} 合同 {contracted}，已分配 {allocated}，剩余 {left}，本次申请 {requested}"
                    ),
                    format!(
                        "over the contract: item {item} has {contracted}, {allocated} allocated, {left} left, {requested} requested"
                    ),
                )
                .with_details(serde_json::json!({
                    "item": item, "contracted": contracted, "allocated": allocated,
                    "left": left, "requested": requested,
                }))
            }
            StoreError::OverCommitted {
                host,
                cores,
                limit,
                placed,
                requested,
            } => ApiError::new(
                StatusCode::CONFLICT,
                "over_committed",
                format!(
                    "物理主机 {host} 有 {cores} 个物理核，最多承载 {limit} 个 vCPU（每核 4 个），已放置 {placed}，本次 {requested}"
                ),
                format!(
                    "host {host}: {cores} physical cores allow {limit} vCPUs (4 per core), {placed} placed, {requested} requested"
                ),
            )
            .with_details(serde_json::json!({
                "host": host, "cores": cores, "limit": limit, "placed": placed, "requested": requested,
            })),
            StoreError::Conflict(msg) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("操作与现有数据冲突：{msg}"),
                msg,
            ),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
