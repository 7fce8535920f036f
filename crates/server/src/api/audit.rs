//! Reading and verifying the audit chain.

use axum::extract::State;
use axum::Json;
use govcloud_domain::audit::AuditEntry;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{utc, ApiQuery, AuditReaders, Auth};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};

#[derive(Serialize, ToSchema)]
pub struct AuditEntryDto {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// Details as recorded (JSON).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// SM3 chain hash of this entry, hex.
    pub hash: String,
}

impl From<&AuditEntry> for AuditEntryDto {
    fn from(e: &AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at: utc(e.event.at),
            actor: e.event.actor.clone(),
            action: e.event.action.clone(),
            target: e.event.target.clone(),
            detail: serde_json::from_str(&e.event.detail)
                .unwrap_or_else(|_| serde_json::Value::String(e.event.detail.clone())),
            hash: hex::encode(e.hash),
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// How many of the newest entries, 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

/// The newest audit entries, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit",
    params(AuditQuery),
    responses((status = 200, body = [AuditEntryDto]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_audit(
    State(state): State<AppState>,
    _caller: Auth<AuditReaders>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntryDto>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit 须在 1 到 1000 之间",
            "limit must be 1 to 1000",
        ));
    }
    let entries = state.store.audit_recent(limit).await?;
    Ok(Json(entries.iter().map(AuditEntryDto::from).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct VerifyDto {
    pub ok: bool,
    /// Entries checked (when intact).
    pub checked: Option<u64>,
    /// The first broken entry's sequence number.
    pub broken_at: Option<i64>,
    pub reason: Option<String>,
}

/// Walk the whole chain and report the first broken link.
#[utoipa::path(get, path = "/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn verify_audit(
    State(state): State<AppState>,
    _caller: Auth<AuditReaders>,
) -> ApiResult<Json<VerifyDto>> {
    Ok(Json(
        match govcloud_store::verify_audit(state.store.as_ref()).await? {
            Ok(n) => VerifyDto {
                ok: true,
                checked: Some(n),
                broken_at: None,
                reason: None,
            },
            Err(b) => VerifyDto {
                ok: false,
                checked: None,
                broken_at: Some(b.seq),
                reason: Some(b.reason),
            },
        },
    ))
}
