//! Payments and acceptance 付款与验收 over HTTP: every package's milestones with their due
//! dates and statuses today, the acceptances with their evidence documents (SM3 of each),
//! and the payments. The JSON shapes here are also what `govcloud payment list --format
//! json` prints and what the console page 付款与验收 shows.
//!
//! Who may do what:
//! - reading: every role (auditors included: payments are what they check);
//! - recording an acceptance 验收: the purchaser, whose decision an acceptance is, and
//!   admins, who may enter a signed paper acceptance on the purchaser's behalf (audited under
//!   the admin's name). The provider's operators may not: the provider cannot accept its
//!   own work;
//! - uploading evidence to a recorded acceptance: the purchaser, admins, and operators —
//!   the provider prepares most acceptance documents (test reports, 验收报告). A document
//!   cannot change the acceptance itself, and each is kept with its SM3 and uploader;
//! - recording a payment 付款: the purchaser, who pays, and admins (as for acceptances).

use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use govcloud_domain::money::{format_yuan, yuan_in_capitals};
use govcloud_domain::payment::{AcceptanceKind, DueDate, MAX_EVIDENCE_BYTES};
use govcloud_domain::role::Role;
use govcloud_store::{AcceptanceRecord, EvidenceDocument, PaymentRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::catalog::no_contract;
use super::{utc, Allowed, AnyRole, ApiJson, ApiPath, ApiQuery, Auth};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::payments::{self as pay, PackageView, Upload};

/// The largest request body of an upload: a 20 MiB document in base64 inside JSON, or in a
/// multipart form, with room for the rest of the request.
pub const UPLOAD_BODY_LIMIT: usize = MAX_EVIDENCE_BYTES / 3 * 4 + 4 * 1024 * 1024;

/// Who records acceptances and payments: the purchaser and admins.
pub struct PurchaserOrAdmin;
impl Allowed for PurchaserOrAdmin {
    const ROLES: &'static [Role] = &[Role::Purchaser, Role::Admin];
}

/// Who uploads evidence documents: the purchaser, the provider's operators and admins.
pub struct EvidenceUploaders;
impl Allowed for EvidenceUploaders {
    const ROLES: &'static [Role] = &[Role::Purchaser, Role::Operator, Role::Admin];
}

#[derive(Serialize, ToSchema)]
pub struct PaymentsDto {
    /// The date (Beijing time) the statuses are computed for.
    pub today: String,
    pub packages: Vec<PackagePaymentsDto>,
}

#[derive(Serialize, ToSchema)]
pub struct PackagePaymentsDto {
    pub package: u8,
    pub name: String,
    pub short_name: String,
    pub milestones: Vec<MilestoneStatusDto>,
    pub acceptances: Vec<AcceptanceDto>,
    pub payments: Vec<PaymentDto>,
}

/// A payment milestone 付款节点 today.
#[derive(Serialize, ToSchema)]
pub struct MilestoneStatusDto {
    pub seq: u32,
    pub name: String,
    /// Share of the contract amount in percent; null where not stated.
    pub percent: Option<String>,
    /// signing | stage_acceptance | final_acceptance
    pub trigger: String,
    pub trigger_zh: String,
    /// The contract's terms.
    pub due_by: Option<String>,
    pub working_days_after_trigger: Option<u32>,
    pub acceptance_by: Option<String>,
    /// The due date: with `due_kind` `on` the payment is due by it; with `latest` the
    /// acceptance is not recorded and this is the latest it could fall due; null with `open`
    /// (the contract states no date).
    pub due_date: Option<String>,
    /// on | latest | open
    pub due_kind: String,
    /// True when the date runs through a year whose holiday notice is not yet in the data.
    pub provisional: bool,
    /// not_due | due | paid | overdue
    pub status: String,
    /// 未到期 | 应付 | 已付 | 逾期
    pub status_zh: String,
    /// The date of the acceptance that triggered it.
    pub triggered_on: Option<String>,
    /// The triggering acceptance came after the contract's `acceptance_by`.
    pub accepted_late: bool,
    pub paid_on: Option<String>,
    pub paid_late: bool,
    /// The recorded payment's id.
    pub payment: Option<String>,
    pub text: String,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptanceDto {
    pub id: String,
    pub package: i64,
    /// stage | final
    pub kind: String,
    pub kind_zh: String,
    pub accepted_on: String,
    pub note: String,
    pub recorded_by: String,
    pub created_at: String,
    pub documents: Vec<DocumentDto>,
}

/// An evidence document 验收材料; its bytes at `url`.
#[derive(Serialize, ToSchema)]
pub struct DocumentDto {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    /// SM3 of the bytes, lowercase hex (also sent as `X-Content-SM3` with them).
    pub sm3: String,
    pub uploaded_by: String,
    pub created_at: String,
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentDto {
    pub id: String,
    pub package: i64,
    pub milestone: i64,
    pub paid_on: String,
    /// 元 with two decimals, e.g. "216660.50".
    pub amount: String,
    /// The amount as shown: "216,660.50".
    pub amount_display: String,
    /// 大写金额, e.g. "贰拾壹万陆仟陆佰陆拾元伍角".
    pub amount_capitals: String,
    pub reference: String,
    pub recorded_by: String,
    pub created_at: String,
}

pub fn document_dto(d: &EvidenceDocument) -> DocumentDto {
    DocumentDto {
        url: format!("/api/v1/acceptances/{}/documents/{}", d.acceptance_id, d.id),
        id: d.id.clone(),
        name: d.name.clone(),
        content_type: d.content_type.clone(),
        size: d.size,
        sm3: d.sm3.clone(),
        uploaded_by: d.uploaded_by.clone(),
        created_at: utc(d.created_at),
    }
}

pub fn acceptance_dto(a: &AcceptanceRecord, docs: &[EvidenceDocument]) -> AcceptanceDto {
    AcceptanceDto {
        id: a.id.clone(),
        package: a.package_no,
        kind_zh: AcceptanceKind::parse(&a.kind)
            .map_or_else(|| a.kind.clone(), |k| k.label_zh().to_owned()),
        kind: a.kind.clone(),
        accepted_on: a.accepted_on.to_string(),
        note: a.note.clone(),
        recorded_by: a.recorded_by.clone(),
        created_at: utc(a.created_at),
        documents: docs.iter().map(document_dto).collect(),
    }
}

pub fn payment_dto(p: &PaymentRecord) -> PaymentDto {
    let amount = p
        .amount
        .parse::<rust_decimal::Decimal>()
        .unwrap_or_default();
    PaymentDto {
        id: p.id.clone(),
        package: p.package_no,
        milestone: p.milestone_seq,
        paid_on: p.paid_on.to_string(),
        amount: p.amount.clone(),
        amount_display: format_yuan(amount),
        amount_capitals: yuan_in_capitals(amount),
        reference: p.reference.clone(),
        recorded_by: p.recorded_by.clone(),
        created_at: utc(p.created_at),
    }
}

pub fn package_dto(v: &PackageView<'_>) -> PackagePaymentsDto {
    PackagePaymentsDto {
        package: v.package.number.get(),
        name: v.package.name.clone(),
        short_name: v.package.short_name.clone(),
        milestones: v
            .milestones
            .iter()
            .map(|m| {
                let (s, t) = (&m.state, m.milestone);
                MilestoneStatusDto {
                    seq: t.seq,
                    name: t.name.clone(),
                    percent: t.percent.map(|p| p.to_string()),
                    trigger: t.trigger.code().to_owned(),
                    trigger_zh: t.trigger.label_zh().to_owned(),
                    due_by: t.due_by.map(|d| d.to_string()),
                    working_days_after_trigger: t.working_days_after_trigger,
                    acceptance_by: t.acceptance_by.map(|d| d.to_string()),
                    due_date: s.due.date().map(|d| d.to_string()),
                    due_kind: match s.due {
                        DueDate::On(_) => "on",
                        DueDate::Latest(_) => "latest",
                        DueDate::Open => "open",
                    }
                    .to_owned(),
                    provisional: s.due.provisional(),
                    status: s.status.code().to_owned(),
                    status_zh: s.status.label_zh().to_owned(),
                    triggered_on: s.triggered_on.map(|d| d.to_string()),
                    accepted_late: s.accepted_late,
                    paid_on: s.paid_on.map(|d| d.to_string()),
                    paid_late: s.paid_late,
                    payment: m.payment.as_ref().map(|p| p.id.clone()),
                    text: t.text.clone(),
                }
            })
            .collect(),
        acceptances: v
            .acceptances
            .iter()
            .map(|(a, docs)| acceptance_dto(a, docs))
            .collect(),
        payments: v.payments.iter().map(payment_dto).collect(),
    }
}

/// Every package's (or one's) payments and acceptance on the day of `now` in Beijing.
pub async fn payments_dto(
    store: &dyn govcloud_store::Store,
    contract: Option<(
        govcloud_store::StoredContract,
        std::sync::Arc<govcloud_domain::catalog::Contract>,
    )>,
    calendar: &govcloud_domain::calendar::Calendar,
    package: Option<i64>,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<PaymentsDto> {
    let (stored, c) = contract.ok_or_else(no_contract)?;
    let today = crate::shanghai_date(now);
    let views = pay::overview(store, &stored.id, &c, calendar, package, today).await?;
    Ok(PaymentsDto {
        today: today.to_string(),
        packages: views.iter().map(package_dto).collect(),
    })
}

#[derive(Deserialize, IntoParams)]
pub struct PackageQuery {
    /// A package number (1–5); all packages without it.
    pub package: Option<i64>,
}

/// Payment milestones with their due dates and statuses today (未到期 / 应付 / 已付 / 逾期),
/// acceptances with their evidence documents, and payments, per package.
#[utoipa::path(get, path = "/payments", tag = "payments", params(PackageQuery),
    responses((status = 200, body = PaymentsDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, description = "no contract loaded", body = ErrorBody)))]
pub async fn list_payments(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiQuery(q): ApiQuery<PackageQuery>,
) -> ApiResult<Json<PaymentsDto>> {
    let contract = state.contract().await?;
    Ok(Json(
        payments_dto(
            state.store.as_ref(),
            contract,
            &state.calendar,
            q.package,
            state.now(),
        )
        .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPayment {
    pub package: i64,
    /// The milestone's `seq` in the package (1 首款, 2 中期款, 3 尾款).
    pub milestone: i64,
    /// YYYY-MM-DD, not after today.
    pub paid_on: String,
    /// 元 as a decimal string, at most two decimals, e.g. "216660.50".
    pub amount: String,
    /// Voucher or bank reference 凭证号.
    pub reference: Option<String>,
}

/// Record the payment of a milestone. 400 for an unknown package or milestone, a bad date
/// or amount, a date after today; 409 `not_triggered` before its acceptance is recorded,
/// `paid_before_trigger` when dated before it, `already_paid` for a second payment.
#[utoipa::path(post, path = "/payments", tag = "payments", request_body = RecordPayment,
    responses((status = 201, body = PaymentDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn record_payment(
    State(state): State<AppState>,
    caller: Auth<PurchaserOrAdmin>,
    ApiJson(req): ApiJson<RecordPayment>,
) -> ApiResult<(StatusCode, Json<PaymentDto>)> {
    let paid_on = pay::parse_date("paid_on", &req.paid_on)?;
    let (stored, c) = state.contract().await?.ok_or_else(no_contract)?;
    let p = pay::record_payment(
        state.ctx(caller.user.name.as_str()),
        &stored.id,
        &c,
        pay::NewPayment {
            package: req.package,
            milestone: req.milestone,
            paid_on,
            amount: &req.amount,
            reference: req.reference.as_deref().unwrap_or(""),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(payment_dto(&p))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordAcceptance {
    pub package: i64,
    /// stage (阶段性验收) | final (最终验收)
    pub kind: String,
    /// YYYY-MM-DD, not after today.
    pub accepted_on: String,
    pub note: Option<String>,
}

/// Record a package's stage or final acceptance (upload its documents next, to
/// `/acceptances/{id}/documents`). 400 for an unknown package or kind, a bad date or one
/// after today; 409 `duplicate_acceptance` (one of each kind per package),
/// `stage_acceptance_missing` or `final_before_stage` for a final acceptance.
#[utoipa::path(post, path = "/acceptances", tag = "payments", request_body = RecordAcceptance,
    responses((status = 201, body = AcceptanceDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn record_acceptance(
    State(state): State<AppState>,
    caller: Auth<PurchaserOrAdmin>,
    ApiJson(req): ApiJson<RecordAcceptance>,
) -> ApiResult<(StatusCode, Json<AcceptanceDto>)> {
    let accepted_on = pay::parse_date("accepted_on", &req.accepted_on)?;
    let (stored, c) = state.contract().await?.ok_or_else(no_contract)?;
    let (a, docs) = pay::record_acceptance(
        state.ctx(caller.user.name.as_str()),
        &stored.id,
        &c,
        pay::NewAcceptance {
            package: req.package,
            kind: &req.kind,
            accepted_on,
            note: req.note.as_deref().unwrap_or(""),
            documents: Vec::new(),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(acceptance_dto(&a, &docs))))
}

/// An evidence document in JSON.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadDocument {
    /// The file name (directories are dropped).
    pub name: String,
    /// e.g. application/pdf; guessed from the name when absent.
    pub content_type: Option<String>,
    /// The bytes, standard base64.
    pub content_base64: String,
}

fn too_large_body() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "请求体过大：验收材料不能超过 {} MiB",
            MAX_EVIDENCE_BYTES / (1024 * 1024)
        ),
        format!("request body too large: a document may have at most {MAX_EVIDENCE_BYTES} bytes"),
    )
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large_body()
    } else {
        ApiError::bad_request(
            "invalid_multipart",
            "无法读取表单上传内容",
            format!("cannot read the multipart form: {}", e.body_text()),
        )
    }
}

/// The text fields and the files of a multipart form (file inputs left empty are skipped).
pub(crate) async fn read_multipart(
    mut mp: Multipart,
) -> ApiResult<(Vec<(String, String)>, Vec<Upload>)> {
    let mut fields = Vec::new();
    let mut files = Vec::new();
    while let Some(field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.map_err(multipart_error)?;
        match file_name {
            Some(f) if f.is_empty() && bytes.is_empty() => {}
            Some(f) => files.push(Upload {
                name: f,
                content_type,
                content: bytes.to_vec(),
            }),
            None => fields.push((name, String::from_utf8_lossy(&bytes).into_owned())),
        }
    }
    Ok((fields, files))
}

fn multipart_rejection(r: MultipartRejection) -> ApiError {
    ApiError::bad_request(
        "invalid_multipart",
        "表单上传格式不正确（multipart/form-data）",
        format!(
            "not a readable multipart/form-data request: {}",
            r.body_text()
        ),
    )
}

/// Read a multipart request, if it is one.
pub(crate) async fn multipart_of(
    req: Request<Body>,
) -> ApiResult<Result<(Vec<(String, String)>, Vec<Upload>), Request<Body>>> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Ok(Err(req));
    }
    let mp = Multipart::from_request(req, &())
        .await
        .map_err(multipart_rejection)?;
    Ok(Ok(read_multipart(mp).await?))
}

/// Upload an evidence document 验收材料 to an acceptance: JSON `{name, content_type?,
/// content_base64}`, or a `multipart/form-data` form with one file field (any name). At most
/// 20 MiB (413 `document_too_large` / `payload_too_large`); the SM3 of the bytes is kept and
/// returned.
#[utoipa::path(post, path = "/acceptances/{id}/documents", tag = "payments",
    params(("id" = String, Path, description = "acceptance id")),
    request_body(content(
        (UploadDocument = "application/json"),
        (Vec<u8> = "multipart/form-data")
    )),
    responses((status = 201, body = DocumentDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn upload_document(
    State(state): State<AppState>,
    caller: Auth<EvidenceUploaders>,
    ApiPath(id): ApiPath<String>,
    req: Request<Body>,
) -> ApiResult<(StatusCode, Json<DocumentDto>)> {
    // Refused before the body is read when its declared length is over the limit (a client
    // sending `Expect: 100-continue`, as curl does for large files, then sends nothing).
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > UPLOAD_BODY_LIMIT as u64) {
        return Err(too_large_body());
    }
    let upload = match multipart_of(req).await? {
        Ok((_, mut files)) => {
            if files.len() != 1 {
                return Err(ApiError::bad_request(
                    "one_file_expected",
                    format!("表单中应恰好有一个文件（收到 {} 个）", files.len()),
                    format!(
                        "the form should carry exactly one file ({} sent)",
                        files.len()
                    ),
                ));
            }
            files.remove(0)
        }
        Err(req) => {
            let body: UploadDocument = match Json::<UploadDocument>::from_request(req, &()).await {
                Ok(Json(b)) => b,
                Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(too_large_body())
                }
                Err(rej) => return Err(super::json_rejection(rej)),
            };
            Upload {
                content: super::crypto::b64("content_base64", &body.content_base64)?,
                name: body.name,
                content_type: body.content_type,
            }
        }
    };
    let doc = pay::add_evidence(state.ctx(caller.user.name.as_str()), &id, upload).await?;
    Ok((StatusCode::CREATED, Json(document_dto(&doc))))
}

/// `Content-Disposition` for a file name of any script: an ASCII fallback and the UTF-8
/// name (RFC 6266 / RFC 8187).
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// A document as a download: its bytes with its content type, `Content-Disposition:
/// attachment` and its SM3 in `X-Content-SM3`.
pub fn document_response(doc: &EvidenceDocument, bytes: Vec<u8>) -> Response {
    let ct = HeaderValue::from_str(&doc.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let disposition = HeaderValue::from_str(&content_disposition(&doc.name))
        .unwrap_or(HeaderValue::from_static("attachment"));
    let sm3 = HeaderValue::from_str(&doc.sm3).unwrap_or(HeaderValue::from_static(""));
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, ct);
    h.insert(header::CONTENT_DISPOSITION, disposition);
    h.insert("x-content-sm3", sm3);
    resp
}

/// Download an evidence document with its `Content-Type`, `Content-Disposition` and
/// `X-Content-SM3` (lowercase hex SM3 of the body).
#[utoipa::path(get, path = "/acceptances/{id}/documents/{doc_id}", tag = "payments",
    params(("id" = String, Path, description = "acceptance id"), ("doc_id" = String, Path, description = "document id")),
    responses((status = 200, description = "the document's bytes", content_type = "application/octet-stream",
        headers(("X-Content-SM3" = String, description = "SM3 of the body, lowercase hex"))),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn download_document(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiPath((id, doc_id)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    match state.store.evidence(&doc_id).await? {
        Some((doc, bytes)) if doc.acceptance_id == id => Ok(document_response(&doc, bytes)),
        _ => Err(ApiError::not_found("验收材料", "evidence document")),
    }
}
