//! The contract as data over HTTP. The JSON shapes here are also what
//! `govcloud catalog show --format json` prints.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use govcloud_domain::calendar::Calendar;
use govcloud_domain::catalog::{Contract, LineItem, MilestoneDue, Package, PackageNo};
use govcloud_store::{LoadOutcome, StoredContract};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{utc, AdminOnly, AnyRole, ApiPath, ApiQuery, Auth};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ops;

#[derive(Serialize, ToSchema)]
pub struct CatalogDto {
    pub contract: ContractDto,
    pub systems: Vec<SystemDto>,
    pub packages: Vec<PackageDto>,
}

#[derive(Serialize, ToSchema)]
pub struct ContractDto {
    pub id: String,
    pub name: String,
    pub purchaser: String,
    pub term_months: u32,
    pub term_text: String,
    /// SM3 of the catalog file, hex; absent when shown straight from a file.
    pub fingerprint: Option<String>,
    pub loaded_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SystemDto {
    pub code: String,
    pub name: String,
    pub cloud: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PackageDto {
    pub number: u8,
    pub name: String,
    pub short_name: String,
    /// 预算金额 in 万元 as a decimal string; null where the procurement gives none.
    pub budget_wan: Option<String>,
    pub systems: Vec<String>,
    pub items: Vec<ItemDto>,
}

/// One procured line item 服务项.
#[derive(Serialize, ToSchema)]
pub struct ItemDto {
    /// Stable id used by every API that refers to a line item.
    pub id: String,
    pub category: String,
    pub subcategory: Option<String>,
    pub item: String,
    pub spec: String,
    /// Canonical unit, e.g. vCPU, GB, TFLOP, 台次.
    pub unit: String,
    /// The unit as the procurement prints it.
    pub unit_text: String,
    /// Exact decimal as a string, e.g. "9.6".
    pub quantity: String,
    /// Service period in months (1 for one-off work).
    pub months: u32,
    pub frequency: Option<String>,
    pub times_per_year: Option<u32>,
    /// 元/月, 元/次 or 元/年
    pub billing: String,
    /// Business system code; null for package-wide items.
    pub system: Option<String>,
}

impl From<&LineItem> for ItemDto {
    fn from(i: &LineItem) -> Self {
        Self {
            id: i.id.to_string(),
            category: i.category.clone(),
            subcategory: i.subcategory.clone(),
            item: i.item.clone(),
            spec: i.spec.clone(),
            unit: i.unit.code().to_owned(),
            unit_text: i.unit_text.clone(),
            quantity: i.quantity.to_string(),
            months: i.months,
            frequency: i.frequency.as_ref().map(|f| f.text.clone()),
            times_per_year: i.frequency.as_ref().map(|f| f.times_per_year),
            billing: i.billing.code().to_owned(),
            system: i.system.as_ref().map(|s| s.to_string()),
        }
    }
}

impl From<&Package> for PackageDto {
    fn from(p: &Package) -> Self {
        Self {
            number: p.number.get(),
            name: p.name.clone(),
            short_name: p.short_name.clone(),
            budget_wan: p.budget_wan.map(|b| b.to_string()),
            systems: p.systems.iter().map(|s| s.to_string()).collect(),
            items: p.items.iter().map(ItemDto::from).collect(),
        }
    }
}

pub fn catalog_dto(
    c: &Contract,
    stored: Option<&StoredContract>,
    package: Option<PackageNo>,
) -> CatalogDto {
    CatalogDto {
        contract: ContractDto {
            id: c.id.clone(),
            name: c.name.clone(),
            purchaser: c.purchaser.clone(),
            term_months: c.term_months,
            term_text: c.term_text.clone(),
            fingerprint: stored.map(|s| s.fingerprint.clone()),
            loaded_at: stored.map(|s| utc(s.loaded_at)),
        },
        systems: c
            .systems
            .iter()
            .map(|s| SystemDto {
                code: s.code.to_string(),
                name: s.name.clone(),
                cloud: s.cloud.clone(),
            })
            .collect(),
        packages: c
            .packages
            .iter()
            .filter(|p| package.is_none_or(|n| n == p.number))
            .map(PackageDto::from)
            .collect(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct PackageDetailDto {
    #[serde(flatten)]
    pub package: PackageDto,
    pub notes: Vec<String>,
    /// Working days after signing by which migration must be complete.
    pub migration_working_days: Option<u32>,
    /// The migration deadline for the `signed_on` date asked, where the package sets one.
    pub migration_deadline: Option<DeadlineDto>,
    pub milestones: Vec<MilestoneDto>,
    pub service_levels: Vec<ServiceLevelDto>,
    pub team: Option<TeamDto>,
}

/// A payment milestone 付款节点 with the latest due date the contract implies.
#[derive(Serialize, ToSchema)]
pub struct MilestoneDto {
    pub seq: u32,
    pub name: String,
    /// Share of the contract amount in percent; null where not stated.
    pub percent: Option<String>,
    /// signing | stage_acceptance | final_acceptance
    pub trigger: String,
    pub trigger_zh: String,
    pub due_by: Option<String>,
    pub acceptance_by: Option<String>,
    pub working_days_after_trigger: Option<u32>,
    /// The latest due date derivable from the contract alone, or null.
    pub latest_due: Option<String>,
    /// True when the date runs through a year whose holiday notice is not yet in the data.
    pub latest_due_provisional: bool,
    pub text: String,
}

#[derive(Serialize, ToSchema)]
pub struct DeadlineDto {
    pub date: String,
    /// True when the count runs through a year whose holiday notice is not yet in the data.
    pub provisional: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceLevelDto {
    /// outage | fault | any
    pub applies_to: String,
    pub applies_to_zh: String,
    /// respond | locate | onsite | restore | resolve
    pub clock: String,
    pub clock_zh: String,
    pub minutes: u32,
    pub text: String,
}

#[derive(Serialize, ToSchema)]
pub struct TeamDto {
    pub min_size: u32,
    pub text: String,
    pub roles: Vec<TeamRoleDto>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamRoleDto {
    pub role: String,
    pub min_count: u32,
    pub min_years: Option<u32>,
    pub certificates: Vec<String>,
    /// all | one: whether every member of the role, or at least one, holds the certificates
    pub holders: String,
    pub text: String,
}

pub fn package_detail(
    p: &Package,
    cal: &Calendar,
    signed_on: Option<NaiveDate>,
) -> PackageDetailDto {
    PackageDetailDto {
        package: PackageDto::from(p),
        notes: p.notes.clone(),
        migration_working_days: p.migration_working_days,
        migration_deadline: signed_on
            .and_then(|d| p.migration_deadline(cal, d))
            .map(|w| DeadlineDto {
                date: w.date.to_string(),
                provisional: w.provisional,
            }),
        milestones: p
            .milestones
            .iter()
            .map(|m| {
                let (latest_due, provisional) = match m.latest_due(cal) {
                    MilestoneDue::By(d) => (Some(d.to_string()), false),
                    MilestoneDue::Latest(w) => (Some(w.date.to_string()), w.provisional),
                    MilestoneDue::Open => (None, false),
                };
                MilestoneDto {
                    seq: m.seq,
                    name: m.name.clone(),
                    percent: m.percent.map(|p| p.to_string()),
                    trigger: m.trigger.code().to_owned(),
                    trigger_zh: m.trigger.label_zh().to_owned(),
                    due_by: m.due_by.map(|d| d.to_string()),
                    acceptance_by: m.acceptance_by.map(|d| d.to_string()),
                    working_days_after_trigger: m.working_days_after_trigger,
                    latest_due,
                    latest_due_provisional: provisional,
                    text: m.text.clone(),
                }
            })
            .collect(),
        service_levels: p
            .service_levels
            .iter()
            .map(|s| ServiceLevelDto {
                applies_to: s.applies_to.code().to_owned(),
                applies_to_zh: s.applies_to.label_zh().to_owned(),
                clock: s.clock.code().to_owned(),
                clock_zh: s.clock.label_zh().to_owned(),
                minutes: s.minutes,
                text: s.text.clone(),
            })
            .collect(),
        team: p.team.as_ref().map(|t| TeamDto {
            min_size: t.min_size,
            text: t.text.clone(),
            roles: t
                .roles
                .iter()
                .map(|r| TeamRoleDto {
                    role: r.role.clone(),
                    min_count: r.min_count,
                    min_years: r.min_years,
                    certificates: r.certificates.clone(),
                    holders: r.holders.code().to_owned(),
                    text: r.text.clone(),
                })
                .collect(),
        }),
    }
}

pub(crate) fn no_contract() -> ApiError {
    ApiError::not_found(
        "合同目录（尚未导入，请先执行 govcloud catalog load）",
        "contract (none loaded yet: run govcloud catalog load)",
    )
}

/// The current contract: every line item of every package.
#[utoipa::path(get, path = "/catalog", tag = "catalog",
    responses((status = 200, body = CatalogDto), (status = 401, body = ErrorBody), (status = 404, description = "no contract loaded", body = ErrorBody)))]
pub async fn show_catalog(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
) -> ApiResult<Json<CatalogDto>> {
    let (stored, c) = state.contract().await?.ok_or_else(no_contract)?;
    Ok(Json(catalog_dto(&c, Some(&stored), None)))
}

#[derive(Deserialize, IntoParams)]
pub struct PackageQuery {
    /// Contract signing date (YYYY-MM-DD): when given, the migration deadline is computed.
    pub signed_on: Option<String>,
}

/// One package with its payment milestones, service levels and team requirements.
#[utoipa::path(get, path = "/catalog/packages/{number}", tag = "catalog",
    params(("number" = u8, Path, description = "package number 包号"), PackageQuery),
    responses((status = 200, body = PackageDetailDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show_package(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiPath(number): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PackageQuery>,
) -> ApiResult<Json<PackageDetailDto>> {
    let signed_on = q
        .signed_on
        .as_deref()
        .map(|s| super::parse_date("signed_on", s))
        .transpose()?;
    let (_, c) = state.contract().await?.ok_or_else(no_contract)?;
    let p = PackageNo::new(number)
        .and_then(|n| c.package(n))
        .ok_or_else(|| {
            ApiError::not_found(&format!("第{number}包"), &format!("package {number}"))
        })?;
    Ok(Json(package_detail(p, &state.calendar, signed_on)))
}

#[derive(Serialize, ToSchema)]
pub struct ValidationDto {
    pub valid: bool,
    pub contract_id: String,
    pub packages: usize,
    pub items: usize,
}

fn body_text(body: &Bytes) -> ApiResult<&str> {
    std::str::from_utf8(body).map_err(|_| {
        ApiError::bad_request(
            "invalid_encoding",
            "合同目录文件须为 UTF-8 编码",
            "the catalog must be UTF-8 text",
        )
    })
}

/// Check a catalog file (TOML, in the body) without storing it.
#[utoipa::path(post, path = "/catalog/validate", tag = "catalog",
    request_body(content = String, content_type = "application/toml", description = "the catalog file"),
    responses(
        (status = 200, body = ValidationDto),
        (status = 401, body = ErrorBody),
        (status = 422, description = "invalid; details.issues lists each problem with its line", body = ErrorBody),
    ))]
pub async fn validate_catalog(
    _caller: Auth<AnyRole>,
    body: Bytes,
) -> ApiResult<Json<ValidationDto>> {
    let c = ops::parse_catalog(body_text(&body)?)?;
    Ok(Json(ValidationDto {
        valid: true,
        contract_id: c.id.clone(),
        packages: c.packages.len(),
        items: c.items().count(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct LoadDto {
    /// created | replaced | unchanged
    pub outcome: String,
    pub contract_id: String,
    pub fingerprint: String,
    pub packages: usize,
    pub items: usize,
}

pub fn outcome_code(o: LoadOutcome) -> &'static str {
    match o {
        LoadOutcome::Created => "created",
        LoadOutcome::Replaced => "replaced",
        LoadOutcome::Unchanged => "unchanged",
    }
}

/// Load a catalog file (TOML, in the body) into the store; loading the same file again
/// changes nothing.
#[utoipa::path(post, path = "/catalog", tag = "catalog",
    request_body(content = String, content_type = "application/toml", description = "the catalog file"),
    responses(
        (status = 200, body = LoadDto),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "invalid; nothing was stored", body = ErrorBody),
    ))]
pub async fn load_catalog(
    State(state): State<AppState>,
    caller: Auth<AdminOnly>,
    body: Bytes,
) -> ApiResult<Json<LoadDto>> {
    let source = body_text(&body)?;
    let cx = state.ctx(caller.user.name.as_str());
    let (c, outcome) = ops::load_catalog(cx, source).await?;
    Ok(Json(LoadDto {
        outcome: outcome_code(outcome).to_owned(),
        contract_id: c.id.clone(),
        fingerprint: ops::fingerprint(source),
        packages: c.packages.len(),
        items: c.items().count(),
    }))
}
