//! The REST API under `/api/v1`. Every route is declared through `utoipa_axum::routes!`,
//! so the OpenAPI document at `/api/openapi.json` lists exactly the routes that exist.
//!
//! Authentication: a console session cookie or `Authorization: Bearer <token>`. Roles are
//! checked by the [`Auth`] extractor before the body is read, so a caller with the wrong
//! role gets 403 even when the body is also malformed, and nothing is changed.

use std::marker::PhantomData;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use govcloud_domain::role::Role;
use govcloud_store::User;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::{self, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult};

pub mod apps;
pub mod audit;
pub mod calendar;
pub mod catalog;
pub mod crypto;
pub mod gateway;
pub mod operations;
pub mod payments;
pub mod pki;
pub mod resources;
pub mod session;
pub mod statements;
pub mod users;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "govcloud API",
        description = "政务云服务合同管理与商用密码服务平台 API。Errors are JSON: {code, message_zh, message_en}.",
        license(name = "Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "session", description = "登录与会话 log in and out"),
        (name = "users", description = "用户、角色与 API 令牌 users, roles and API tokens"),
        (name = "catalog", description = "合同目录 the contract as data"),
        (name = "calendar", description = "工作日历 working-day calendar"),
        (name = "audit", description = "审计日志 the audit chain"),
        (name = "apps", description = "业务系统应用凭据 business systems' credentials for the crypto service"),
        (name = "crypto", description = "商用密码服务 国密 services for business systems (app credentials)"),
        (name = "pki", description = "证书、吊销列表、OCSP 与时间戳 certificates, CRLs, OCSP and timestamps"),
        (name = "auth", description = "强身份认证 strong identity authentication (app credentials)"),
        (name = "resources", description = "云资源 cloud resources against the contract: systems, allocations, hosts, usage"),
        (name = "payments", description = "付款与验收 payment milestones with due dates and statuses, acceptances with evidence documents, payments"),
        (name = "gateway", description = "密码前置 the crypto front proxy: nodes, app policies, rate limits, live figures"),
        (name = "operations", description = "运维 monitors, incidents with SLA clocks, maintenance notices, key periods, notifications, monthly operations reports"),
        (name = "statements", description = "月度服务明细 monthly service statements and unit prices: generate, verify, download"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("gct_…")
                    .build(),
            ),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(session::login, session::logout))
        .routes(routes!(session::me))
        .routes(routes!(session::change_own_password))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::update_user))
        .routes(routes!(users::list_tokens, users::create_token))
        .routes(routes!(users::revoke_token))
        .routes(routes!(catalog::show_catalog, catalog::load_catalog))
        .routes(routes!(catalog::show_package))
        .routes(routes!(catalog::validate_catalog))
        .routes(routes!(calendar::working_days))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit::verify_audit))
        .routes(routes!(apps::list_apps, apps::create_app))
        .routes(routes!(apps::disable_app))
        .routes(routes!(apps::enable_app))
        .routes(routes!(resources::list_systems))
        .routes(routes!(
            resources::list_resources,
            resources::create_resource
        ))
        .routes(routes!(
            resources::show_resource,
            resources::release_resource
        ))
        .routes(routes!(resources::resize_resource))
        .routes(routes!(resources::item_usage))
        .routes(routes!(resources::usage))
        .routes(routes!(resources::list_hosts, resources::add_host))
        .routes(routes!(resources::list_changes, resources::request_change))
        .routes(routes!(resources::approve_change))
        .routes(routes!(resources::reject_change))
        .routes(routes!(resources::execute_change))
        .routes(routes!(
            resources::list_occurrences,
            resources::record_occurrence
        ))
        .routes(routes!(statements::list_prices, statements::set_price))
        .routes(routes!(statements::list_statements))
        .routes(routes!(statements::generate))
        .routes(routes!(statements::show_statement))
        .routes(routes!(statements::download))
        .routes(routes!(payments::list_payments, payments::record_payment))
        .routes(routes!(payments::record_acceptance))
        .routes(routes!(payments::download_document))
        .merge(
            // Evidence documents of up to 20 MiB (in base64 inside JSON, or multipart).
            OpenApiRouter::new()
                .routes(routes!(payments::upload_document))
                .layer(axum::extract::DefaultBodyLimit::max(
                    payments::UPLOAD_BODY_LIMIT,
                )),
        )
        .routes(routes!(
            operations::list_monitors,
            operations::create_monitor
        ))
        .routes(routes!(operations::show_monitor))
        .routes(routes!(operations::switch_monitor))
        .routes(routes!(
            operations::list_incidents,
            operations::open_incident
        ))
        .routes(routes!(operations::show_incident))
        .routes(routes!(operations::add_event))
        .routes(routes!(
            operations::list_notices,
            operations::publish_notice
        ))
        .routes(routes!(operations::cancel_notice))
        .routes(routes!(
            operations::list_key_periods,
            operations::add_key_period
        ))
        .routes(routes!(operations::remove_key_period))
        .routes(routes!(operations::list_channels, operations::add_channel))
        .routes(routes!(operations::remove_channel))
        .routes(routes!(operations::list_deliveries))
        .routes(routes!(operations::status))
        .routes(routes!(operations::monthly_report))
        .routes(routes!(operations::outage_report))
        .routes(routes!(gateway::rotate))
        .routes(routes!(gateway::show_policy))
        .routes(routes!(gateway::allow))
        .routes(routes!(gateway::disallow))
        .routes(routes!(gateway::limit))
        .routes(routes!(gateway::unlimit))
        .routes(routes!(gateway::bind_cert))
        .routes(routes!(gateway::unbind_cert))
        .routes(routes!(gateway::show_status))
        .routes(routes!(gateway::add_node))
        .routes(routes!(gateway::drain_node))
        .routes(routes!(gateway::remove_node))
        .routes(routes!(crypto::create_key, crypto::list_keys))
        .routes(routes!(crypto::show_key, crypto::destroy_key))
        .routes(routes!(crypto::rotate_key))
        .routes(routes!(crypto::disable_key))
        .routes(routes!(crypto::enable_key))
        .routes(routes!(crypto::import_key_info))
        .routes(routes!(crypto::import_key))
        .routes(routes!(crypto::sign))
        .routes(routes!(crypto::verify))
        .routes(routes!(crypto::encrypt))
        .routes(routes!(crypto::decrypt))
        .routes(routes!(crypto::hash))
        .routes(routes!(crypto::hmac))
        .routes(routes!(crypto::random))
        .routes(routes!(crypto::envelope_seal))
        .routes(routes!(crypto::envelope_open))
        .routes(routes!(crypto::message_sign))
        .routes(routes!(crypto::message_verify))
        .routes(routes!(crypto::sign_batch))
        .routes(routes!(crypto::verify_batch))
        .routes(routes!(crypto::encrypt_batch))
        .routes(routes!(crypto::decrypt_batch))
        .routes(routes!(pki::list_certificates, pki::issue))
        .routes(routes!(pki::show_certificate))
        .routes(routes!(pki::revoke))
        .routes(routes!(pki::renew))
        .routes(routes!(pki::summary))
        .routes(routes!(pki::list_inventory, pki::add_inventory))
        .routes(routes!(pki::assign_inventory))
        .routes(routes!(pki::challenge))
        .routes(routes!(pki::verify))
        .routes(routes!(pki::tsa_verify));
    // Relying-party endpoints at fixed, short paths (they are written into certificates).
    let public = OpenApiRouter::new()
        .routes(routes!(pki::ca_chain))
        .routes(routes!(pki::crl))
        .routes(routes!(pki::ocsp_post))
        .routes(routes!(pki::ocsp_get))
        .routes(routes!(pki::tsa));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .merge(public)
}

/// The set of roles a route admits.
pub trait Allowed: Send + Sync + 'static {
    const ROLES: &'static [Role];
}

/// Every signed-in role.
pub struct AnyRole;
impl Allowed for AnyRole {
    const ROLES: &'static [Role] = &Role::ALL;
}

pub struct AdminOnly;
impl Allowed for AdminOnly {
    const ROLES: &'static [Role] = &[Role::Admin];
}

/// The audit log is for auditors (and admins, who answer for the installation).
pub struct AuditReaders;
impl Allowed for AuditReaders {
    const ROLES: &'static [Role] = &[Role::Auditor, Role::Admin];
}

/// Who manages business systems' credentials: the provider's operators and admins.
pub struct AppManagers;
impl Allowed for AppManagers {
    const ROLES: &'static [Role] = &[Role::Operator, Role::Admin];
}

/// The purchaser approves changes to the resources it pays for.
pub struct Purchasers;
impl Allowed for Purchasers {
    const ROLES: &'static [Role] = &[Role::Purchaser];
}

/// Who may ask for a change 变更: the purchaser, the provider's operators, admins.
pub struct ChangeRequesters;
impl Allowed for ChangeRequesters {
    const ROLES: &'static [Role] = &[Role::Purchaser, Role::Operator, Role::Admin];
}

/// The authenticated caller, admitted only with one of `A::ROLES`.
pub struct Auth<A: Allowed> {
    pub user: User,
    /// The session token when the caller came with the console cookie.
    pub session: Option<String>,
    _roles: PhantomData<A>,
}

impl<A: Allowed> FromRequestParts<AppState> for Auth<A> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (user, session) = authenticate(parts, state)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        if !A::ROLES.contains(&user.role) {
            let allowed: Vec<&str> = A::ROLES.iter().map(|r| r.label_zh()).collect();
            let allowed_en: Vec<&str> = A::ROLES.iter().map(|r| r.code()).collect();
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "当前角色（{}）无权执行此操作，需要：{}",
                    user.role.label_zh(),
                    allowed.join("、")
                ),
                format!(
                    "role {} may not do this; allowed: {}",
                    user.role,
                    allowed_en.join(", ")
                ),
            ));
        }
        Ok(Self {
            user,
            session,
            _roles: PhantomData,
        })
    }
}

/// Find the caller from a bearer token or the session cookie. `Ok(None)`: no valid
/// credential. A malformed or unknown credential is the same as none.
pub async fn authenticate(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<(User, Option<String>)>, ApiError> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION) {
        let token = v
            .to_str()
            .ok()
            .and_then(|s| {
                s.strip_prefix("Bearer ")
                    .or_else(|| s.strip_prefix("bearer "))
            })
            .map(str::trim);
        return match token {
            Some(t) if !t.is_empty() => Ok(state
                .store
                .token_user(&auth::token_hash(t))
                .await?
                .map(|u| (u, None))),
            _ => Ok(None),
        };
    }
    if let Some(token) = session_cookie(parts) {
        let user = state
            .store
            .session_user(&auth::token_hash(&token), state.now())
            .await?;
        return Ok(user.map(|u| (u, Some(token))));
    }
    Ok(None)
}

pub fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// A JSON body whose rejection is one of our errors: 400 with what was wrong.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

pub(crate) fn json_rejection(rej: JsonRejection) -> ApiError {
    match rej {
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "invalid_json",
            "请求体不是合法的 JSON",
            format!("request body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => ApiError::bad_request(
            "invalid_body",
            "请求体字段缺失或类型不正确",
            format!("request body does not match the schema: {}", e.body_text()),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "请求体须为 JSON（Content-Type: application/json）",
            "expected Content-Type: application/json",
        ),
        other => ApiError::bad_request("invalid_body", "无法读取请求体", other.body_text()),
    }
}

/// Path parameters with our error on rejection.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| {
                ApiError::bad_request(
                    "invalid_path",
                    "路径参数不正确",
                    format!("invalid path parameter: {}", e.body_text()),
                )
            })
    }
}

/// Query parameters with our error on rejection.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::bad_request(
                    "invalid_query",
                    "查询参数不正确",
                    format!("invalid query parameter: {}", e.body_text()),
                )
            })
    }
}

/// A `YYYY-MM-DD` date from a query parameter, or a 400 naming the parameter.
pub fn parse_date(field: &str, s: &str) -> Result<chrono::NaiveDate, ApiError> {
    s.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_date",
            format!("{field} 的日期格式应为 YYYY-MM-DD"),
            format!("{field} {s:?} is not a date like 2026-12-31"),
        )
    })
}

/// An optional RFC 3339 time from a request field, or a 400 naming the field.
pub fn parse_time(
    field: &str,
    s: Option<&str>,
) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    s.map(|s| {
        chrono::DateTime::parse_from_rfc3339(s.trim())
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_time",
                    format!("{field} 应为 RFC 3339 时间，如 2026-07-01T00:00:00+08:00"),
                    format!("{field} should be an RFC 3339 time like 2026-07-01T00:00:00+08:00"),
                )
            })
    })
    .transpose()
}

/// Times on the wire are RFC 3339 in UTC; people see Asia/Shanghai in the console.
pub fn utc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
