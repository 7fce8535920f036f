//! Unit prices 单价 and monthly service statements 月度服务明细: generate a month (issued,
//! signed and timestamped), list, show with verification and the diff to the previous
//! version, and download the files (JSON of record, XLSX, PDF, signature, timestamp,
//! signer certificate).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use govcloud_report::json as doc;
use govcloud_store::StatementRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::catalog::no_contract;
use super::{utc, AnyRole, ApiJson, ApiPath, ApiQuery, AppManagers, Auth};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::statements as sts;

#[derive(Serialize, ToSchema)]
pub struct PriceDto {
    pub item: String,
    /// 单价 in the item's billing unit (`billing`), exact decimal text.
    pub unit_price: String,
    /// 元/月, 元/次 or 元/年.
    pub billing: String,
    /// RFC 3339; the price holds until the item's next price.
    pub from: String,
    /// `manual` or `demo` (the demo price list 演示价格).
    pub source: String,
    pub note: String,
    pub created_at: String,
    pub created_by: String,
}

/// Every unit price of the current contract, by item then effective time.
#[utoipa::path(get, path = "/prices", tag = "statements",
    responses((status = 200, body = [PriceDto]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_prices(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
) -> ApiResult<Json<Vec<PriceDto>>> {
    let (stored, c) = state.contract().await?.ok_or_else(no_contract)?;
    let prices = state.store.prices(&stored.id).await?;
    Ok(Json(
        prices
            .into_iter()
            .map(|p| PriceDto {
                billing: c
                    .items()
                    .find(|i| i.id.as_str() == p.item_id)
                    .map(|i| i.billing.code().to_owned())
                    .unwrap_or_default(),
                item: p.item_id,
                unit_price: p.unit_price,
                from: utc(p.effective_from),
                source: p.source,
                note: p.note,
                created_at: utc(p.created_at),
                created_by: p.created_by,
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPrice {
    /// Catalog line item id, e.g. `p1-vcpu`.
    pub item: String,
    /// 元 per the item's billing unit (元/月, 元/次 or 元/年), e.g. `"45.50"`.
    pub unit_price: String,
    /// A date (midnight Beijing time) or an RFC 3339 instant.
    pub from: String,
    pub note: Option<String>,
}

/// Set an item's unit price from a date (audited; a later statement re-run shows the effect
/// as a new version for months already issued).
#[utoipa::path(post, path = "/prices", tag = "statements", request_body = SetPrice,
    responses((status = 201, body = PriceDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_price(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiJson(req): ApiJson<SetPrice>,
) -> ApiResult<(StatusCode, Json<PriceDto>)> {
    let (stored, c) = state.contract().await?.ok_or_else(no_contract)?;
    let from = sts::parse_from(&req.from)?;
    let p = sts::set_price(
        state.ctx(caller.user.name.as_str()),
        &c,
        &stored.id,
        sts::NewPrice {
            item: &req.item,
            unit_price: &req.unit_price,
            from,
            source: "manual",
            note: req.note.as_deref().unwrap_or(""),
        },
    )
    .await?;
    let billing = c
        .items()
        .find(|i| i.id.as_str() == p.item_id)
        .map(|i| i.billing.code().to_owned())
        .unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(PriceDto {
            item: p.item_id,
            unit_price: p.unit_price,
            billing,
            from: utc(p.effective_from),
            source: p.source,
            note: p.note,
            created_at: utc(p.created_at),
            created_by: p.created_by,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct StatementMeta {
    /// e.g. `st-2026-12-p1-jypt-v1`.
    pub id: String,
    pub month: String,
    pub package: i64,
    pub system: String,
    pub version: i64,
    /// Whether this is the newest version of its month, package and system.
    pub latest: bool,
    /// 合计, 元 with two decimals.
    pub total: String,
    /// SM3 of the statement JSON (hex).
    pub data_sm3: String,
    pub issued_at: String,
    pub issued_by: String,
    /// Download paths: json, xlsx, pdf, sig (SM2 signature, DER), tsr (RFC 3161 response),
    /// pem (signer certificate and its chain).
    pub files: Vec<String>,
}

fn meta(r: &StatementRecord, latest: bool) -> StatementMeta {
    StatementMeta {
        files: FILES
            .iter()
            .map(|f| format!("/api/v1/statements/{}/files/{f}", r.id))
            .collect(),
        id: r.id.clone(),
        month: r.month.clone(),
        package: r.package,
        system: r.system_code.clone(),
        version: r.version,
        latest,
        total: r.total.clone(),
        data_sm3: r.data_sm3.clone(),
        issued_at: utc(r.issued_at),
        issued_by: r.issued_by.clone(),
    }
}

const FILES: [&str; 6] = ["json", "xlsx", "pdf", "sig", "tsr", "pem"];

#[derive(Deserialize, IntoParams)]
pub struct StatementQuery {
    /// `YYYY-MM`.
    pub month: Option<String>,
    pub package: Option<u8>,
    pub system: Option<String>,
    /// Include superseded versions (default: the newest version of each only).
    pub all_versions: Option<bool>,
}

/// Issued statements, newest version of each month, package and system unless
/// `all_versions=true`.
#[utoipa::path(get, path = "/statements", tag = "statements", params(StatementQuery),
    responses((status = 200, body = [StatementMeta]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_statements(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiQuery(q): ApiQuery<StatementQuery>,
) -> ApiResult<Json<Vec<StatementMeta>>> {
    let (stored, _) = state.contract().await?.ok_or_else(no_contract)?;
    if let Some(m) = &q.month {
        sts::parse_month(m)?;
    }
    let all = state
        .store
        .statements(&stored.id, q.month.as_deref(), q.package.map(i64::from))
        .await?;
    Ok(Json(listing(
        &all,
        q.system.as_deref(),
        q.all_versions.unwrap_or(false),
    )))
}

/// Metadata of `all` (ordered by month, package, system, version), filtered.
pub fn listing(
    all: &[StatementRecord],
    system: Option<&str>,
    all_versions: bool,
) -> Vec<StatementMeta> {
    all.iter()
        .enumerate()
        .filter(|(_, r)| system.is_none_or(|s| s == r.system_code))
        .filter_map(|(i, r)| {
            let latest = all.get(i + 1).is_none_or(|n| {
                (n.month.as_str(), n.package, n.system_code.as_str())
                    != (r.month.as_str(), r.package, r.system_code.as_str())
            });
            (latest || all_versions).then(|| meta(r, latest))
        })
        .collect()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// `YYYY-MM`; the month must have ended (Beijing time).
    pub month: String,
    pub package: Option<u8>,
    pub system: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct GenerateResult {
    /// `issued` (a new version) or `unchanged` (same figures as the newest version).
    pub outcome: String,
    pub statement: StatementMeta,
    /// For a re-issue: the line-by-line difference to the previous version.
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<serde_json::Value>,
}

/// Generate a month's statements for every package and system (or the ones given). A
/// month already issued with the same figures is left as is; changed figures (late data,
/// new prices) issue the next version with its diff. Each issue is SM2-signed by the
/// provider's document signer and timestamped by the platform's TSA.
#[utoipa::path(post, path = "/statements/generate", tag = "statements", request_body = GenerateRequest,
    responses((status = 200, body = [GenerateResult]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn generate(
    State(state): State<AppState>,
    caller: Auth<AppManagers>,
    ApiJson(req): ApiJson<GenerateRequest>,
) -> ApiResult<Json<Vec<GenerateResult>>> {
    let (stored, c) = state.contract().await?.ok_or_else(no_contract)?;
    let (year, month) = sts::parse_month(&req.month)?;
    let done = sts::generate(
        state.ctx(caller.user.name.as_str()),
        &state.pki,
        &c,
        &stored.id,
        &sts::Request {
            year,
            month,
            package: req.package,
            system: req.system.as_deref(),
        },
        |_, _, _| {},
    )
    .await?;
    Ok(Json(
        done.into_iter()
            .map(|g| GenerateResult {
                outcome: g.outcome.code().to_owned(),
                statement: meta(&g.record, true),
                diff: g.diff.as_ref().map(doc::diff_to_json),
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct VerificationDto {
    /// All checks passed.
    pub valid: bool,
    /// The SM2 signature (SM3, default signer ID) verifies over the statement JSON.
    pub signature_valid: bool,
    pub signer_subject: String,
    /// The signer certificate was issued by the platform's SM2 CA.
    pub signer_issued_by_platform: bool,
    /// The RFC 3161 timestamp verifies over SM3(JSON) and comes from the platform's TSA.
    pub timestamp_valid: bool,
    pub timestamp_time: Option<String>,
    pub data_sm3_matches: bool,
}

#[derive(Serialize, ToSchema)]
pub struct StatementDetail {
    #[serde(flatten)]
    pub meta: StatementMeta,
    /// The statement of record (the JSON file's content).
    #[schema(value_type = Object)]
    pub statement: serde_json::Value,
    pub verification: VerificationDto,
    /// Versions 2 and later: the difference to the previous version.
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<serde_json::Value>,
}

async fn find(
    state: &AppState,
    id: &str,
) -> Result<(StatementRecord, Vec<StatementRecord>), ApiError> {
    let r = state
        .store
        .statement(id)
        .await?
        .ok_or_else(|| ApiError::not_found("月度服务明细", "statement"))?;
    let siblings: Vec<StatementRecord> = state
        .store
        .statements(&r.contract_id, Some(&r.month), Some(r.package))
        .await?
        .into_iter()
        .filter(|s| s.system_code == r.system_code)
        .collect();
    Ok((r, siblings))
}

/// Everything about one issued statement: the JSON of record, the verification of its
/// signature and timestamp, and the diff to the previous version.
pub async fn detail(state: &AppState, id: &str) -> Result<StatementDetail, ApiError> {
    let (r, siblings) = find(state, id).await?;
    let latest = siblings.iter().all(|s| s.version <= r.version);
    let parse = |rec: &StatementRecord| {
        doc::from_json(&rec.data).map_err(|e| {
            tracing::error!(id = %rec.id, error = %e, "stored statement does not decode");
            ApiError::internal()
        })
    };
    let current = parse(&r)?;
    let diff = match siblings.iter().find(|s| s.version == r.version - 1) {
        Some(prev) => Some(doc::diff_to_json(&govcloud_domain::statement::diff(
            &parse(prev)?,
            &current,
        ))),
        None => None,
    };
    let v = sts::verify(&state.pki, &r);
    Ok(StatementDetail {
        meta: meta(&r, latest),
        statement: serde_json::from_slice(&r.data).map_err(|_| ApiError::internal())?,
        verification: VerificationDto {
            valid: v.ok(),
            signature_valid: v.signature_valid,
            signer_subject: v.signer_subject,
            signer_issued_by_platform: v.signer_issued_by_platform,
            timestamp_valid: v.timestamp_valid,
            timestamp_time: v.timestamp_time.map(utc),
            data_sm3_matches: v.data_sm3_matches,
        },
        diff,
    })
}

/// One issued statement with its verification and diff.
#[utoipa::path(get, path = "/statements/{id}", tag = "statements",
    params(("id" = String, Path, description = "statement id")),
    responses((status = 200, body = StatementDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show_statement(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<StatementDetail>> {
    Ok(Json(detail(&state, &id).await?))
}

/// The file of one kind for a stored statement: (bytes, content type, file name).
pub fn file(
    state: &AppState,
    r: &StatementRecord,
    kind: &str,
) -> Result<(Vec<u8>, &'static str, String), ApiError> {
    let base = r.id.clone();
    let rendered = |what: &'static str| {
        move |e: govcloud_report::ReportError| {
            tracing::error!(id = %r.id, error = %e, what, "statement rendering failed");
            ApiError::internal()
        }
    };
    let parsed = || doc::from_json(&r.data).map_err(rendered("json"));
    Ok(match kind {
        "json" => (r.data.clone(), "application/json", format!("{base}.json")),
        "xlsx" => (
            govcloud_report::xlsx::xlsx(&parsed()?).map_err(rendered("xlsx"))?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            format!("{base}.xlsx"),
        ),
        "pdf" => (
            govcloud_report::pdf::pdf(&parsed()?).map_err(rendered("pdf"))?,
            "application/pdf",
            format!("{base}.pdf"),
        ),
        "sig" => (
            r.signature.clone(),
            "application/octet-stream",
            format!("{base}.json.sig"),
        ),
        "tsr" => (
            r.timestamp_token.clone(),
            "application/timestamp-reply",
            format!("{base}.json.tsr"),
        ),
        "pem" => (
            format!(
                "{}{}",
                govcloud_pki::cert::to_pem("CERTIFICATE", &r.signer_cert),
                state.pki.sm2.chain_pem()
            )
            .into_bytes(),
            "application/x-pem-file",
            format!("{base}.signer.pem"),
        ),
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_file",
                format!("没有 {other:?} 类型的文件；可选 json、xlsx、pdf、sig、tsr、pem"),
                format!("no file kind {other:?}; choose json, xlsx, pdf, sig, tsr or pem"),
            ))
        }
    })
}

/// Download a statement file: `json` (of record), `xlsx`, `pdf`, `sig` (SM2 signature over
/// the JSON, DER), `tsr` (RFC 3161 response over SM3 of the JSON), `pem` (signer
/// certificate, then the CA chain).
#[utoipa::path(get, path = "/statements/{id}/files/{kind}", tag = "statements",
    params(("id" = String, Path, description = "statement id"), ("kind" = String, Path, description = "json | xlsx | pdf | sig | tsr | pem")),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiPath((id, kind)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let r = state
        .store
        .statement(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("月度服务明细", "statement"))?;
    let st = state.clone();
    let (bytes, ctype, name) = tokio::task::spawn_blocking(move || file(&st, &r, &kind))
        .await
        .map_err(|_| ApiError::internal())??;
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
