//! The web console (管理控制台), server-rendered in Simplified Chinese with minijinja;
//! htmx and the stylesheet are served from the binary, nothing from a CDN. Every page shows
//! data that the API also serves (same DTOs), so every console view has an API call.

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use govcloud_domain::catalog::{MilestoneDue, PackageNo};
use govcloud_domain::money::{format_yuan, wan_to_yuan};
use govcloud_domain::role::Role;
use govcloud_store::User;
use minijinja::{context, Environment};
use serde::{Deserialize, Serialize};

use crate::api::audit::AuditEntryDto;
use crate::api::catalog::{package_detail, ItemDto};
use crate::api::session::{clear_cookie_header, session_cookie_header, UserDto};
use crate::api::{authenticate, session_cookie};
use crate::app::AppState;
use crate::ops;

mod operations;

const HTMX: &str = include_str!("../assets/htmx-2.0.11.min.js");
const CSS: &str = include_str!("../assets/app.css");

pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        for (name, src) in [
            ("base.html", include_str!("../templates/base.html")),
            ("login.html", include_str!("../templates/login.html")),
            ("overview.html", include_str!("../templates/overview.html")),
            ("package.html", include_str!("../templates/package.html")),
            ("audit.html", include_str!("../templates/audit.html")),
            ("message.html", include_str!("../templates/message.html")),
            ("crypto.html", include_str!("../templates/crypto.html")),
            ("pki.html", include_str!("../templates/pki.html")),
            ("gateway.html", include_str!("../templates/gateway.html")),
            (
                "resources.html",
                include_str!("../templates/resources.html"),
            ),
            ("payments.html", include_str!("../templates/payments.html")),
            (
                "statements.html",
                include_str!("../templates/statements.html"),
            ),
            (
                "statement.html",
                include_str!("../templates/statement.html"),
            ),
            (
                "gateway_live.html",
                include_str!("../templates/gateway_live.html"),
            ),
            ("ops.html", include_str!("../templates/ops.html")),
            ("ops_live.html", include_str!("../templates/ops_live.html")),
            (
                "ops_incident.html",
                include_str!("../templates/ops_incident.html"),
            ),
            (
                "ops_clocks.html",
                include_str!("../templates/ops_clocks.html"),
            ),
            (
                "ops_macros.html",
                include_str!("../templates/ops_macros.html"),
            ),
        ] {
            env.add_template(name, src)
                .expect("templates are checked by tests");
        }
        // RFC 3339 times from the API's DTOs, shown in Asia/Shanghai.
        env.add_filter("shanghai", |s: String| {
            chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| crate::shanghai_time(t.with_timezone(&chrono::Utc)))
                .unwrap_or(s)
        });
        // Seconds as h:mm:ss (mm:ss under an hour), the sign dropped: the template says
        // 剩余 or 已超.
        env.add_filter("hms", |s: i64| {
            govcloud_domain::ops::format_seconds(s.abs())
        });
        env.add_filter("minutes_zh", |m: u32| minutes_zh(m));
        Self { env }
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(error = %e, template = name, "template failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html("<h1>页面渲染失败</h1>".to_owned()),
                )
                    .into_response()
            }
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/packages/{number}", get(package_page))
        .route("/audit", get(audit_page))
        .route("/crypto", get(crypto_page))
        .route("/pki", get(pki_page))
        .route("/pki/issue", post(pki_issue))
        .route("/pki/revoke", post(pki_revoke))
        .route("/pki/download/{file}", get(pki_download))
        .route("/crypto/apps", post(crypto_create_app))
        .route("/resources", get(resources_page))
        .route("/resources/changes", post(resources_decide))
        .route("/statements", get(statements_page))
        .route("/statements/generate", post(statements_generate))
        .route("/statements/{id}", get(statement_page))
        .route("/payments", get(payments_page))
        .route(
            "/payments/acceptances",
            post(payments_accept).layer(axum::extract::DefaultBodyLimit::max(
                crate::api::payments::UPLOAD_BODY_LIMIT,
            )),
        )
        .route(
            "/payments/documents",
            post(payments_upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::api::payments::UPLOAD_BODY_LIMIT,
            )),
        )
        .route("/payments/record", post(payments_record))
        .route("/gateway", get(gateway_page))
        .route("/gateway/live", get(gateway_live))
        .route("/gateway/nodes", post(gateway_nodes))
        .merge(operations::routes())
        .route(
            "/assets/htmx.min.js",
            get(|| async { asset(HTMX, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset(CSS, "text/css; charset=utf-8") }),
        )
}

fn asset(body: &'static str, ty: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ty),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

pub fn not_found_page() -> Response {
    (StatusCode::NOT_FOUND, Html(MESSAGE_404)).into_response()
}

const MESSAGE_404: &str = "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>页面不存在</title>\
<link rel=\"stylesheet\" href=\"/assets/app.css\"><main class=\"narrow\"><h1>页面不存在</h1><p><a href=\"/\">返回总览</a></p></main></html>";

#[derive(Serialize)]
struct Viewer {
    #[serde(flatten)]
    user: UserDto,
    can_audit: bool,
}

impl From<&User> for Viewer {
    fn from(u: &User) -> Self {
        Self {
            user: UserDto::from(u),
            can_audit: matches!(u.role, Role::Auditor | Role::Admin),
        }
    }
}

/// The signed-in console user, or a redirect to the login page.
async fn viewer(state: &AppState, parts: &Parts) -> Result<User, Response> {
    match authenticate(parts, state).await {
        Ok(Some((u, Some(_)))) => Ok(u),
        Ok(_) => {
            let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let q = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
            Err(Redirect::to(&format!("/login?{q}")).into_response())
        }
        Err(e) => Err(e.into_response()),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// Only local paths may follow a login, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

async fn login_page(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    state.console.render(
        "login.html",
        context! { next => safe_next(q.next.as_deref()), error => None::<String>, username => "" },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login_submit(
    State(state): State<AppState>,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return (
            StatusCode::BAD_REQUEST,
            state.console.render(
                "login.html",
                context! { next => "/", error => "请输入用户名和密码", username => "" },
            ),
        )
            .into_response();
    };
    let cx = state.ctx("anonymous");
    match ops::login(cx, &f.username, &f.password).await {
        Ok((_, token)) => {
            let mut h = HeaderMap::new();
            h.insert(header::SET_COOKIE, session_cookie_header(&token));
            (h, Redirect::to(safe_next(f.next.as_deref()))).into_response()
        }
        Err(ops::OpError::BadCredentials) => (
            StatusCode::UNAUTHORIZED,
            state.console.render(
                "login.html",
                context! { next => safe_next(f.next.as_deref()), error => "用户名或密码错误", username => f.username },
            ),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console login failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("<h1>登录暂时不可用</h1>")).into_response()
        }
    }
}

async fn logout(State(state): State<AppState>, parts: Parts) -> Response {
    if let Some(token) = session_cookie(&parts) {
        if let Ok(Some((u, _))) = authenticate(&parts, &state).await {
            let cx = state.ctx(u.name.as_str());
            if let Err(e) = ops::logout(cx, &token).await {
                tracing::error!(error = %e, "logout failed");
            }
        }
    }
    (
        [(header::SET_COOKIE, clear_cookie_header())],
        Redirect::to("/login"),
    )
        .into_response()
}

/// A page's data, or the page that says why there is none: no contract loaded (404), or a
/// failed read (500, logged with `page`). The error is the page itself, as in `viewer`.
#[allow(clippy::result_large_err)]
fn page_data<T>(
    state: &AppState,
    user: &User,
    loaded: Result<Option<T>, ops::OpError>,
    page: &str,
    failed_zh: &str,
) -> Result<T, Response> {
    match loaded {
        Ok(Some(x)) => Ok(x),
        Ok(None) => Err(message(
            state,
            user,
            StatusCode::NOT_FOUND,
            "尚未加载合同",
            "请先加载合同目录。",
        )),
        Err(e) => {
            tracing::error!(error = %e, page, "page data not read");
            Err(message(
                state,
                user,
                StatusCode::INTERNAL_SERVER_ERROR,
                failed_zh,
                "详情见服务器日志。",
            ))
        }
    }
}

fn message(state: &AppState, user: &User, status: StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        state.console.render(
            "message.html",
            context! { viewer => Viewer::from(user), title, text },
        ),
    )
        .into_response()
}

#[derive(Serialize)]
struct PackageCard {
    number: u8,
    name: String,
    short_name: String,
    budget_wan: Option<String>,
    budget_yuan: Option<String>,
    systems: Vec<String>,
    items: usize,
    categories: usize,
    migration_working_days: Option<u32>,
    team_min: Option<u32>,
    sla: Vec<String>,
}

#[derive(Serialize)]
struct MilestoneRow {
    package: u8,
    short_name: String,
    name: String,
    percent: Option<String>,
    condition: String,
    due: String,
    provisional: bool,
}

async fn overview(State(state): State<AppState>, parts: Parts) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let loaded = match state.contract().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "overview: cannot read contract");
            return message(
                &state,
                &user,
                StatusCode::INTERNAL_SERVER_ERROR,
                "无法读取合同",
                "读取合同目录时出错，详情见服务器日志。",
            );
        }
    };
    let Some((stored, c)) = loaded else {
        return message(
            &state,
            &user,
            StatusCode::OK,
            "尚未导入合同",
            "请由管理员执行 govcloud catalog load catalog/bjggzy-2026.toml，或以 --demo 启动。",
        );
    };
    let system_name = |code: &str| {
        c.systems
            .iter()
            .find(|s| s.code.as_str() == code)
            .map_or(code.to_owned(), |s| s.name.clone())
    };
    let mut budget_total = rust_decimal::Decimal::ZERO;
    let cards: Vec<PackageCard> = c
        .packages
        .iter()
        .map(|p| {
            if let Some(b) = p.budget_wan {
                budget_total += b;
            }
            let mut cats: Vec<&str> = p.items.iter().map(|i| i.category.as_str()).collect();
            cats.sort();
            cats.dedup();
            PackageCard {
                number: p.number.get(),
                name: p.name.clone(),
                short_name: p.short_name.clone(),
                budget_wan: p.budget_wan.map(|b| b.to_string()),
                budget_yuan: p.budget_wan.map(|b| format_yuan(wan_to_yuan(b))),
                systems: p.systems.iter().map(|s| system_name(s.as_str())).collect(),
                items: p.items.len(),
                categories: cats.len(),
                migration_working_days: p.migration_working_days,
                team_min: p.team.as_ref().map(|t| t.min_size),
                sla: p
                    .service_levels
                    .iter()
                    .map(|s| {
                        format!(
                            "{}{} ≤ {}",
                            s.applies_to.label_zh(),
                            s.clock.label_zh(),
                            minutes_zh(s.minutes)
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let mut milestones = Vec::new();
    for p in &c.packages {
        for m in &p.milestones {
            let (due, provisional) = match m.latest_due(&state.calendar) {
                MilestoneDue::By(d) => (format!("{d} 前"), false),
                MilestoneDue::Latest(w) => (
                    format!(
                        "验收后 {} 个工作日内；按最迟 {} 验收计，最迟 {}",
                        m.working_days_after_trigger.unwrap_or(0),
                        m.acceptance_by.map(|d| d.to_string()).unwrap_or_default(),
                        w.date
                    ),
                    w.provisional,
                ),
                MilestoneDue::Open => ("未约定日期".to_owned(), false),
            };
            milestones.push(MilestoneRow {
                package: p.number.get(),
                short_name: p.short_name.clone(),
                name: m.name.clone(),
                percent: m.percent.map(|x| format!("{x}%")),
                condition: m.trigger.label_zh().to_owned(),
                due,
                provisional,
            });
        }
    }
    let total_items = c.items().count();
    state.console.render(
        "overview.html",
        context! {
            viewer => Viewer::from(&user),
            contract => context! {
                id => c.id.clone(), name => c.name.clone(), purchaser => c.purchaser.clone(),
                term_text => c.term_text.clone(), term_months => c.term_months,
                loaded_at => crate::shanghai_time(stored.loaded_at), loaded_by => stored.loaded_by.clone(),
                fingerprint => stored.fingerprint.chars().take(16).collect::<String>(),
            },
            packages => cards,
            milestones,
            total_items,
            budget_total_wan => budget_total.to_string(),
            budget_total_yuan => format_yuan(wan_to_yuan(budget_total)),
            systems => c.systems.iter().map(|s| context!{ code => s.code.to_string(), name => s.name.clone(), cloud => s.cloud.clone() }).collect::<Vec<_>>(),
            calendar_note => calendar_note(&state),
        },
    )
}

fn calendar_note(state: &AppState) -> Vec<String> {
    state
        .calendar
        .years()
        .filter(|y| state.calendar.is_provisional(y.year))
        .map(|y| {
            format!(
                "{} 年放假调休安排尚未录入（{}），涉及该年的工作日推算为暂定。",
                y.year, y.source
            )
        })
        .collect()
}

fn minutes_zh(m: u32) -> String {
    if m.is_multiple_of(60) {
        format!("{} 小时", m / 60)
    } else {
        format!("{m} 分钟")
    }
}

#[derive(Serialize)]
struct ItemGroup {
    title: String,
    items: Vec<ItemDto>,
}

async fn package_page(
    State(state): State<AppState>,
    axum::extract::Path(number): axum::extract::Path<String>,
    parts: Parts,
) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(Some((_, c))) = state.contract().await else {
        return message(
            &state,
            &user,
            StatusCode::NOT_FOUND,
            "尚未导入合同",
            "请先导入合同目录。",
        );
    };
    let Some(p) = number
        .parse::<i64>()
        .ok()
        .and_then(PackageNo::new)
        .and_then(|n| c.package(n))
    else {
        return message(
            &state,
            &user,
            StatusCode::NOT_FOUND,
            "包不存在",
            &format!("合同中没有“{number}”这个包。"),
        );
    };
    let detail = package_detail(p, &state.calendar, None);
    // Group items by business system (package 2 has two lists and a certificate table).
    let mut groups: Vec<ItemGroup> = Vec::new();
    for it in &p.items {
        let title = match &it.system {
            Some(code) => c.system(code).map_or(code.to_string(), |s| match &s.cloud {
                Some(cloud) => format!("{}（{}）", s.name, cloud),
                None => s.name.clone(),
            }),
            None => "证书服务采购（两个系统合计）".to_owned(),
        };
        match groups.iter_mut().find(|g| g.title == title) {
            Some(g) => g.items.push(ItemDto::from(it)),
            None => groups.push(ItemGroup {
                title,
                items: vec![ItemDto::from(it)],
            }),
        }
    }
    let budget_yuan = p.budget_wan.map(|b| format_yuan(wan_to_yuan(b)));
    let sla: Vec<_> = detail
        .service_levels
        .iter()
        .map(|s| context! { what => format!("{}{}", s.applies_to_zh, s.clock_zh), limit => minutes_zh(s.minutes), text => s.text.clone() })
        .collect();
    state.console.render(
        "package.html",
        context! {
            viewer => Viewer::from(&user),
            p => detail,
            groups,
            budget_yuan,
            sla,
            numbers => c.packages.iter().map(|p| p.number.get()).collect::<Vec<_>>(),
        },
    )
}

async fn audit_page(State(state): State<AppState>, parts: Parts) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !matches!(user.role, Role::Auditor | Role::Admin) {
        return message(
            &state,
            &user,
            StatusCode::FORBIDDEN,
            "无权访问",
            "审计日志仅对审计员和管理员开放。",
        );
    }
    let (entries, verdict) = match (
        state.store.audit_recent(200).await,
        govcloud_store::verify_audit(state.store.as_ref()).await,
    ) {
        (Ok(e), Ok(v)) => (e, v),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "audit page");
            return message(
                &state,
                &user,
                StatusCode::INTERNAL_SERVER_ERROR,
                "无法读取审计日志",
                "详情见服务器日志。",
            );
        }
    };
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            let dto = AuditEntryDto::from(e);
            context! { seq => dto.seq, at => crate::shanghai_time(e.event.at), actor => dto.actor, action => dto.action, target => dto.target,
                       detail => e.event.detail.clone(), hash => dto.hash.chars().take(12).collect::<String>() }
        })
        .collect();
    let verdict = match verdict {
        Ok(n) => {
            context! { ok => true, text => format!("审计链完整：已校验 {n} 条记录，每条均以 SM3 与前一条链接。") }
        }
        Err(b) => {
            context! { ok => false, text => format!("审计链在第 {} 条记录处断裂：{}", b.seq, b.reason) }
        }
    };
    state.console.render(
        "audit.html",
        context! { viewer => Viewer::from(&user), rows, verdict },
    )
}

const KEY_STATE_ZH: [(&str, &str); 3] = [
    ("active", "启用"),
    ("disabled", "已停用"),
    ("destroyed", "已销毁"),
];

/// 密码服务: apps, their keys (never the secret part) and usage; operators issue credentials.
async fn crypto_page(State(state): State<AppState>, parts: Parts) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    render_crypto(&state, &user, None, None).await
}

async fn render_crypto(
    state: &AppState,
    user: &User,
    new_app: Option<minijinja::Value>,
    error: Option<String>,
) -> Response {
    let loaded = async {
        let apps = state.store.list_apps().await?;
        let keys = state.store.list_keys(None).await?;
        let usage: Vec<_> = state
            .store
            .usage(None)
            .await?
            .into_iter()
            .chain(state.crypto.pending(None))
            .collect();
        Ok::<_, govcloud_store::StoreError>((apps, keys, usage))
    };
    let (apps, keys, usage) = match loaded.await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "crypto page");
            return message(
                state,
                user,
                StatusCode::INTERNAL_SERVER_ERROR,
                "无法读取密码服务数据",
                "详情见服务器日志。",
            );
        }
    };
    let month = crate::shanghai_month(state.now());
    let apps: Vec<_> = apps
        .iter()
        .filter(|a| a.id != ops::SERVICE_APP)
        .map(|a| {
            let operations: i64 = usage.iter().filter(|(k, _)| k.app_id == a.id).map(|(_, n)| n).sum();
            let app_keys: Vec<_> = keys
                .iter()
                .filter(|k| k.app_id == a.id)
                .map(|k| {
                    let mut per_op: Vec<String> = usage
                        .iter()
                        .filter(|(u, _)| u.key_id == k.id && u.month == month)
                        .map(|(u, n)| format!("{} {n}", u.operation))
                        .collect();
                    per_op.sort();
                    let state_zh = KEY_STATE_ZH.iter().find(|(c, _)| *c == k.state.code()).map_or(k.state.code(), |(_, z)| z);
                    context! { id => k.id.clone(), kind => k.kind.clone(), label => k.label.clone(), state => state_zh,
                               version => k.current_version, created_at => crate::shanghai_time(k.created_at), usage => per_op.join("，") }
                })
                .collect();
            context! { id => a.id.clone(), name => a.name.clone(), system => a.system_code.clone(), disabled => a.disabled,
                       created_at => crate::shanghai_time(a.created_at), operations, keys => app_keys }
        })
        .collect();
    let systems: Vec<_> = match state.contract().await {
        Ok(Some((_, c))) => c
            .systems
            .iter()
            .map(|s| context! { code => s.code.to_string(), name => s.name.clone() })
            .collect(),
        _ => Vec::new(),
    };
    state.console.render(
        "crypto.html",
        context! { viewer => Viewer::from(user), apps, systems, new_app, error,
        can_manage => matches!(user.role, Role::Operator | Role::Admin) },
    )
}

#[derive(Deserialize)]
struct NewAppForm {
    name: String,
    system: Option<String>,
}

async fn crypto_create_app(
    State(state): State<AppState>,
    parts: Parts,
    form: Result<Form<NewAppForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let user = match manager(&state, &parts, "签发应用凭据").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(Form(f)) = form else {
        return render_crypto(&state, &user, None, Some("请填写应用名称".into())).await;
    };
    let system = f.system.filter(|s| !s.is_empty());
    match ops::create_app(state.ctx(user.name.as_str()), &f.name, system.as_deref()).await {
        Ok((app, token)) => {
            render_crypto(
                &state,
                &user,
                Some(context! { id => app.id, name => app.name, token }),
                None,
            )
            .await
        }
        Err(ops::OpError::Invalid { zh, .. }) => render_crypto(&state, &user, None, Some(zh)).await,
        Err(ops::OpError::Store(govcloud_store::StoreError::Conflict(_))) => {
            render_crypto(
                &state,
                &user,
                None,
                Some(format!("应用「{}」已存在", f.name.trim())),
            )
            .await
        }
        Err(e) => {
            tracing::error!(error = %e, "console: create app");
            message(
                &state,
                &user,
                StatusCode::INTERNAL_SERVER_ERROR,
                "签发失败",
                "详情见服务器日志。",
            )
        }
    }
}

/// 证书服务: issued against contracted, expiries within 30 days, every certificate; operators
/// issue and revoke here as with `POST /api/v1/pki/certificates` and `…/revoke`.
async fn pki_page(State(state): State<AppState>, parts: Parts) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    render_pki(&state, &user, None, None).await
}

async fn render_pki(
    state: &AppState,
    user: &User,
    done: Option<minijinja::Value>,
    error: Option<String>,
) -> Response {
    let (summary, certs) = match (
        crate::api::pki::pki_summary(state).await,
        state.store.list_certificates().await,
    ) {
        (Ok(s), Ok(c)) => (s, c),
        _ => {
            return message(
                state,
                user,
                StatusCode::INTERNAL_SERVER_ERROR,
                "无法读取证书数据",
                "详情见服务器日志。",
            )
        }
    };
    let now = state.now();
    let row = |c: &crate::api::pki::CertificateInfo| {
        context! { serial => c.serial.clone(), profile => c.profile_zh.clone(), alg => c.alg.to_uppercase(),
        subject => c.subject.clone(), sans => c.sans.join(" "), not_after => crate::shanghai_time(c.not_after),
        status => match c.status.as_str() { "good" => "有效", "revoked" => "已吊销", _ => "已过期" },
        reason => c.revocation_reason.clone(),
        revocable => c.status == "good" && !matches!(c.profile.as_str(), "root-ca" | "issuing-ca" | "ocsp" | "tsa") }
    };
    let all: Vec<_> = certs
        .iter()
        .map(|r| row(&crate::api::pki::CertificateInfo::from_record(r, now)))
        .collect();
    let expiring: Vec<_> = summary.expiring.iter().map(row).collect();
    let lines: Vec<_> = summary
        .lines
        .iter()
        .map(|l| context! { name => l.name_zh.clone(), contracted => l.contracted, in_use => l.in_use, on_hand => l.on_hand })
        .collect();
    let reasons: Vec<&str> = govcloud_pki::crl::REASONS.iter().map(|(n, _)| *n).collect();
    state.console.render(
        "pki.html",
        context! { viewer => Viewer::from(user), lines, expiring, certs => all, timestamps => summary.timestamps_issued,
        done, error, reasons, can_manage => matches!(user.role, Role::Operator | Role::Admin) },
    )
}

/// The operator check of the PKI forms.
/// The signed-in operator or admin; anyone else sees "only operators and admins may
/// `what_zh`".
async fn manager(state: &AppState, parts: &Parts, what_zh: &str) -> Result<User, Response> {
    let user = viewer(state, parts).await?;
    if !matches!(user.role, Role::Operator | Role::Admin) {
        return Err(message(
            state,
            &user,
            StatusCode::FORBIDDEN,
            "无权操作",
            &format!("仅服务商运维与管理员可{what_zh}。"),
        ));
    }
    Ok(user)
}

async fn pki_manager(state: &AppState, parts: &Parts) -> Result<User, Response> {
    manager(state, parts, "签发或吊销证书").await
}

#[derive(Deserialize)]
struct IssueForm {
    profile: String,
    common_name: Option<String>,
    organization: Option<String>,
    id_number: Option<String>,
    /// Space- or newline-separated `dns:…` / `ip:…`.
    sans: Option<String>,
    csr_pem: Option<String>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

async fn pki_issue(
    State(state): State<AppState>,
    parts: Parts,
    form: Result<Form<IssueForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let user = match pki_manager(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(Form(f)) = form else {
        return render_pki(&state, &user, None, Some("请选择证书类型".into())).await;
    };
    let input = crate::api::pki::IssueInput {
        profile: f.profile,
        csr_pem: non_empty(f.csr_pem),
        sans: f
            .sans
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        common_name: non_empty(f.common_name),
        organization: non_empty(f.organization),
        id_number: non_empty(f.id_number),
        ..Default::default()
    };
    let limits = match crate::api::pki::contract_limits(&state).await {
        Ok(l) => l,
        Err(e) => return render_pki(&state, &user, None, Some(e.body.message_zh)).await,
    };
    match state
        .pki
        .issue(state.store.as_ref(), user.name.as_str(), &input, &limits)
        .await
    {
        Ok(issued) => {
            let certificates: Vec<_> = issued
                .certificates
                .iter()
                .map(|c| context! { serial => c.serial.clone(), profile => crate::pki::profile_zh(&c.profile),
                                     subject => c.subject.clone(), pem => c.certificate_pem.clone(),
                                     key => c.encrypted_private_key_pem.clone() })
                .collect();
            let done = context! { certificates, password => issued.key_password };
            render_pki(&state, &user, Some(done), None).await
        }
        Err(e) => render_pki(&state, &user, None, Some(e.body.message_zh)).await,
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    serial: String,
    reason: String,
}

async fn pki_revoke(
    State(state): State<AppState>,
    parts: Parts,
    form: Result<Form<RevokeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let user = match pki_manager(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(Form(f)) = form else {
        return render_pki(&state, &user, None, Some("请选择吊销原因".into())).await;
    };
    match state
        .pki
        .revoke(
            state.store.as_ref(),
            user.name.as_str(),
            &f.serial,
            &f.reason,
        )
        .await
    {
        Ok(r) => {
            let done = context! { revoked => r.serial };
            render_pki(&state, &user, Some(done), None).await
        }
        Err(e) => render_pki(&state, &user, None, Some(e.body.message_zh)).await,
    }
}

/// A certificate as a PEM file (the API's `GET /api/v1/pki/certificates/{serial}` as JSON).
async fn pki_download(
    State(state): State<AppState>,
    parts: Parts,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let serial = file.trim_end_matches(".pem").to_ascii_lowercase();
    match state.store.certificate(&serial).await {
        Ok(Some(r)) => (
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "application/x-pem-file".to_owned(),
                ),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{serial}.pem\""),
                ),
            ],
            govcloud_pki::cert::to_pem("CERTIFICATE", &r.der),
        )
            .into_response(),
        Ok(None) => message(&state, &user, StatusCode::NOT_FOUND, "未找到证书", &serial),
        Err(e) => {
            tracing::error!(error = %e, "console: certificate download");
            message(
                &state,
                &user,
                StatusCode::INTERNAL_SERVER_ERROR,
                "无法读取证书",
                "详情见服务器日志。",
            )
        }
    }
}

/// 接口监控: the gateways' nodes and per-app figures, refreshed every 2 s (the API's
/// `GET /api/v1/gateway`), with node management for operators.
async fn gateway_page(State(state): State<AppState>, parts: Parts) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    render_gateway(&state, &user, "gateway.html", None, None).await
}

async fn gateway_live(State(state): State<AppState>, parts: Parts) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    render_gateway(&state, &user, "gateway_live.html", None, None).await
}

async fn render_gateway(
    state: &AppState,
    user: &User,
    template: &str,
    done: Option<String>,
    error: Option<String>,
) -> Response {
    let now = state.now();
    let status = match crate::api::gateway::status(state.store.as_ref(), now).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "gateway page");
            return message(
                state,
                user,
                StatusCode::INTERNAL_SERVER_ERROR,
                "无法读取接口监控数据",
                "详情见服务器日志。",
            );
        }
    };
    let month = crate::shanghai_month(now);
    state.console.render(
        template,
        context! { viewer => Viewer::from(user), status, month, done, error,
        now => crate::shanghai_time(now),
        can_manage => matches!(user.role, Role::Operator | Role::Admin) },
    )
}

#[derive(Deserialize)]
struct NodeForm {
    url: String,
    action: String,
}

async fn gateway_nodes(
    State(state): State<AppState>,
    parts: Parts,
    form: Result<Form<NodeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let user = match manager(&state, &parts, "管理密码服务节点").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(Form(f)) = form else {
        return render_gateway(
            &state,
            &user,
            "gateway.html",
            None,
            Some("请填写节点地址".into()),
        )
        .await;
    };
    let cx = state.ctx(user.name.as_str());
    let result = match f.action.as_str() {
        "add" => ops::add_node(cx, &f.url).await.map(|(n, changed)| {
            if changed {
                format!("已加入节点 {}", n.url)
            } else {
                format!("节点 {} 已在使用中", n.url)
            }
        }),
        "drain" => ops::drain_node(cx, &f.url)
            .await
            .map(|n| format!("节点 {} 已排空：不再接收新请求", n.url)),
        "remove" => ops::remove_node(cx, &f.url).await.map(|changed| {
            if changed {
                format!("已移除节点 {}", f.url.trim())
            } else {
                format!("节点 {} 不在列表中", f.url.trim())
            }
        }),
        _ => Err(ops::OpError::invalid(
            "invalid_action",
            "未知操作",
            "unknown action",
        )),
    };
    match result {
        Ok(done) => render_gateway(&state, &user, "gateway.html", Some(done), None).await,
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            render_gateway(&state, &user, "gateway.html", None, Some(e.body.message_zh)).await
        }
    }
}

#[derive(Deserialize)]
struct SystemParam {
    system: Option<String>,
}

/// 资源: per business system, every line item's contracted, allocated and free quantity
/// (with bars), the resources, and changes awaiting the purchaser (the API's
/// `GET /api/v1/items/{id}/usage`, `/resources`, `/changes`).
async fn resources_page(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<SystemParam>,
) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    render_resources(&state, &user, q.system, None, None).await
}

async fn render_resources(
    state: &AppState,
    user: &User,
    system: Option<String>,
    done: Option<String>,
    error: Option<String>,
) -> Response {
    let loaded = async {
        let Some((stored, c)) = state.contract().await? else {
            return Ok(None);
        };
        let usage = state.store.items_usage(&stored.id).await?;
        let changes = state.store.list_changes(Some("pending")).await?;
        Ok::<_, ops::OpError>(Some((c, usage, changes)))
    };
    let (c, usage, changes) =
        match page_data(state, user, loaded.await, "resources", "无法读取资源数据") {
            Ok(x) => x,
            Err(r) => return r,
        };
    let cloud: Vec<_> = c
        .systems
        .iter()
        .map(|s| {
            let packages: Vec<u8> = c
                .packages
                .iter()
                .filter(|p| p.systems.contains(&s.code) && p.number.get() != 2)
                .map(|p| p.number.get())
                .collect();
            (s, packages)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let system = system
        .filter(|s| cloud.iter().any(|(x, _)| x.code.as_str() == s))
        .or_else(|| cloud.first().map(|(s, _)| s.code.as_str().to_owned()))
        .unwrap_or_default();
    let system_name = cloud
        .iter()
        .find(|(s, _)| s.code.as_str() == system)
        .map(|(s, _)| s.name.clone())
        .unwrap_or_default();
    let lines: Vec<_> = c
        .items()
        .filter(|i| crate::resources::item_for(&c, &system, i.id.as_str()).is_ok())
        .map(|i| {
            let allocated = usage
                .iter()
                .find(|u| u.item_id == i.id.as_str())
                .and_then(|u| u.allocated.parse::<rust_decimal::Decimal>().ok())
                .unwrap_or_default();
            let contracted = i.quantity.value();
            let percent = if contracted.is_zero() {
                0
            } else {
                use rust_decimal::prelude::ToPrimitive;
                (allocated * rust_decimal::Decimal::from(100) / contracted)
                    .round()
                    .to_i64()
                    .unwrap_or(0)
                    .clamp(0, 100)
            };
            context! { id => i.id.as_str(), item => i.item.clone(), category => i.category.clone(),
            unit => i.unit_text.clone(), contracted => contracted.normalize().to_string(),
            allocated => allocated.normalize().to_string(),
            free => (contracted - allocated).normalize().to_string(), percent }
        })
        .collect();
    let hosts = state.store.physical_hosts().await.unwrap_or_default();
    let resources: Vec<_> = match state.store.list_resources(Some(&system)).await {
        Ok(list) => list
            .into_iter()
            .map(|r| {
                let host = r.host_id.as_ref().map(|h| {
                    hosts
                        .iter()
                        .find(|(p, _)| &p.id == h)
                        .map_or_else(|| h.clone(), |(p, _)| p.name.clone())
                });
                context! { id => r.id, name => r.name, item => r.item_id, quantity => r.quantity,
                host, released => r.released,
                created_at => crate::shanghai_time(r.created_at), created_by => r.created_by }
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "resources page");
            Vec::new()
        }
    };
    let kind_zh = |k: &str| match k {
        "create" => "新增",
        "resize" => "调整",
        "release" => "释放",
        _ => "变更",
    };
    let pending: Vec<_> = changes
        .into_iter()
        .map(|ch| {
            context! { id => ch.id, kind_zh => kind_zh(&ch.kind), system => ch.system_code,
            item => ch.item_id, quantity => ch.quantity, reason => ch.reason,
            requested_by => ch.requested_by, requested_at => crate::shanghai_time(ch.requested_at) }
        })
        .collect();
    let systems: Vec<_> = cloud
        .iter()
        .map(|(s, p)| context! { id => s.code.as_str(), name => s.name.clone(), packages => p })
        .collect();
    state.console.render(
        "resources.html",
        context! { viewer => Viewer::from(user), systems, system, system_name, lines, resources,
        pending, done, error, can_approve => user.role == Role::Purchaser },
    )
}

#[derive(Deserialize)]
struct DecisionForm {
    id: String,
    decision: String,
    system: Option<String>,
}

async fn resources_decide(
    State(state): State<AppState>,
    parts: Parts,
    form: Result<Form<DecisionForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if user.role != Role::Purchaser {
        return message(
            &state,
            &user,
            StatusCode::FORBIDDEN,
            "无权操作",
            "变更须由采购人审批。",
        );
    }
    let Ok(Form(f)) = form else {
        return render_resources(&state, &user, None, None, Some("请选择变更".into())).await;
    };
    let result = match state.contract().await {
        Ok(Some((_, c))) => {
            crate::resources::decide_change(
                state.ctx(user.name.as_str()),
                &state.engine,
                &c,
                &f.id,
                f.decision == "approve",
                None,
            )
            .await
        }
        Ok(None) => Err(ops::OpError::invalid(
            "no_contract",
            "尚未加载合同",
            "no contract",
        )),
        Err(e) => Err(e),
    };
    match result {
        Ok(ch) => {
            let done = if ch.state == "executed" {
                format!("已批准并执行变更 {}", ch.id)
            } else {
                format!("已驳回变更 {}", ch.id)
            };
            render_resources(&state, &user, f.system, Some(done), None).await
        }
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            render_resources(&state, &user, f.system, None, Some(e.body.message_zh)).await
        }
    }
}

#[derive(Deserialize)]
struct MonthParam {
    month: Option<String>,
}

/// The last ended month (Beijing time) before `now`, `YYYY-MM`.
fn last_ended_month(now: chrono::DateTime<chrono::Utc>) -> String {
    let m = crate::shanghai_month(now);
    let (y, mo) = crate::statements::parse_month(&m).unwrap_or((2026, 1));
    if mo == 1 {
        format!("{:04}-12", y - 1)
    } else {
        format!("{y:04}-{:02}", mo - 1)
    }
}

/// 月度服务明细: the statements of a month (newest versions) with downloads, and for
/// operators the form that generates a month (`POST /api/v1/statements/generate`).
async fn statements_page(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<MonthParam>,
) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    render_statements(&state, &user, q.month, None, None).await
}

async fn render_statements(
    state: &AppState,
    user: &User,
    month: Option<String>,
    done: Option<Vec<minijinja::Value>>,
    error: Option<String>,
) -> Response {
    let month = month
        .filter(|m| crate::statements::parse_month(m).is_ok())
        .unwrap_or_else(|| last_ended_month(state.now()));
    let loaded = async {
        let Some((stored, c)) = state.contract().await? else {
            return Ok(None);
        };
        let all = state.store.statements(&stored.id, None, None).await?;
        let prices = state.store.prices(&stored.id).await?;
        Ok::<_, ops::OpError>(Some((c, all, prices)))
    };
    let (c, all, prices) = match page_data(
        state,
        user,
        loaded.await,
        "statements",
        "无法读取月度服务明细",
    ) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let system_name = |code: &str| {
        c.systems
            .iter()
            .find(|s| s.code.as_str() == code)
            .map_or_else(|| code.to_owned(), |s| s.name.clone())
    };
    let rows: Vec<_> = crate::api::statements::listing(&all, None, false)
        .into_iter()
        .filter(|m| m.month == month)
        .map(|m| {
            let total = m.total.parse::<rust_decimal::Decimal>().unwrap_or_default();
            context! { id => m.id, package => m.package, system => system_name(&m.system),
            version => m.version, total => govcloud_domain::money::format_yuan(total),
            issued_at => crate::shanghai_time(all.iter().find(|r| r.version == m.version && r.month == m.month && r.package == m.package && r.system_code == m.system).map_or(state.now(), |r| r.issued_at)),
            issued_by => m.issued_by }
        })
        .collect();
    let mut months: Vec<String> = all.iter().map(|r| r.month.clone()).collect();
    months.dedup();
    months.reverse();
    let month_total: rust_decimal::Decimal = all
        .iter()
        .filter(|r| r.month == month)
        .filter(|r| {
            !all.iter().any(|n| {
                n.month == r.month
                    && n.package == r.package
                    && n.system_code == r.system_code
                    && n.version > r.version
            })
        })
        .filter_map(|r| r.total.parse::<rust_decimal::Decimal>().ok())
        .sum();
    let demo_prices = prices.iter().any(|p| p.source == "demo");
    state.console.render(
        "statements.html",
        context! {
            viewer => Viewer::from(user),
            can_generate => matches!(user.role, Role::Operator | Role::Admin),
            month, months, rows, done, error,
            month_total => govcloud_domain::money::format_yuan(month_total),
            packages => c.packages.iter().map(|p| p.number.get()).collect::<Vec<_>>(),
            price_count => prices.len(), demo_prices,
            max_month => last_ended_month(state.now()),
        },
    )
}

#[derive(Deserialize)]
struct GenerateForm {
    month: String,
    package: Option<String>,
}

async fn statements_generate(
    State(state): State<AppState>,
    parts: Parts,
    form: Result<Form<GenerateForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let user = match manager(&state, &parts, "生成月度服务明细").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(Form(f)) = form else {
        return render_statements(&state, &user, None, None, Some("请选择月份".into())).await;
    };
    let result = async {
        let (stored, c) = state.contract().await?.ok_or_else(|| {
            ops::OpError::invalid("no_contract", "尚未加载合同", "no contract loaded")
        })?;
        let (year, month) = crate::statements::parse_month(&f.month)?;
        let package = match f
            .package
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            Some(p) => Some(p.parse::<u8>().map_err(|_| {
                ops::OpError::invalid(
                    "unknown_package",
                    "服务包编号无效",
                    "invalid package number",
                )
            })?),
            None => None,
        };
        crate::statements::generate(
            state.ctx(user.name.as_str()),
            &state.pki,
            &c,
            &stored.id,
            &crate::statements::Request {
                year,
                month,
                package,
                system: None,
            },
            |_, _, _| {},
        )
        .await
    };
    match result.await {
        Ok(list) => {
            let done: Vec<_> = list
                .iter()
                .map(|g| {
                    context! { id => g.record.id.clone(), outcome => g.outcome.code(),
                    version => g.record.version,
                    changed => g.diff.as_ref().map_or(0, |d| d.lines.len()) }
                })
                .collect();
            render_statements(&state, &user, Some(f.month), Some(done), None).await
        }
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            render_statements(&state, &user, Some(f.month), None, Some(e.body.message_zh)).await
        }
    }
}

/// One statement as the purchaser reads it: header, lines, subtotals, total in figures and
/// in capitals, the rule, details, the signature and timestamp check, and what changed
/// since the previous version.
async fn statement_page(
    State(state): State<AppState>,
    parts: Parts,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let d = match crate::api::statements::detail(&state, &id).await {
        Ok(d) => d,
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return message(
                &state,
                &user,
                StatusCode::NOT_FOUND,
                "没有这份月度服务明细",
                &id,
            )
        }
        Err(_) => {
            return message(
                &state,
                &user,
                StatusCode::INTERNAL_SERVER_ERROR,
                "无法读取月度服务明细",
                "详情见服务器日志。",
            )
        }
    };
    let Ok(s) = govcloud_report::json::from_json(
        serde_json::to_vec(&d.statement)
            .unwrap_or_default()
            .as_slice(),
    ) else {
        return message(
            &state,
            &user,
            StatusCode::INTERNAL_SERVER_ERROR,
            "无法读取月度服务明细",
            &id,
        );
    };
    let yuan = |x: rust_decimal::Decimal| govcloud_domain::money::format_yuan(x);
    let lines: Vec<_> = s
        .lines
        .iter()
        .enumerate()
        .map(|(n, l)| {
            context! { no => n + 1, item => l.item.clone(), name => l.name.clone(), category => l.category.clone(),
            unit => l.unit.clone(), billing => l.billing.code(), contracted => l.contracted.normalize().to_string(),
            quantity => l.quantity.to_string(), days => l.days.map(|d| d.to_string()),
            unit_price => l.unit_price.map(yuan), amount => yuan(l.amount),
            span => match (l.from, l.to) { (Some(a), Some(b)) => Some(format!("{} 至 {}", crate::shanghai_time(a), crate::shanghai_time(b))), _ => None } }
        })
        .collect();
    let versions: Vec<_> = match state
        .store
        .statements(&s.contract_id, Some(&s.month), Some(i64::from(s.package)))
        .await
    {
        Ok(v) => v
            .into_iter()
            .filter(|r| r.system_code == s.system)
            .map(|r| context! { id => r.id, version => r.version, total => r.total.parse().map(yuan).unwrap_or(r.total), issued_at => crate::shanghai_time(r.issued_at) })
            .collect(),
        Err(_) => Vec::new(),
    };
    let diff: Vec<_> = d
        .diff
        .as_ref()
        .and_then(|v| v.get("lines"))
        .and_then(|v| v.as_array())
        .map(|ls| {
            ls.iter()
                .map(|l| {
                    let amt = |k: &str| l.get(k).and_then(|b| b.get("amount")).and_then(|a| a.as_str()).map(str::to_owned);
                    let qty = |k: &str| l.get(k).and_then(|b| b.get("quantity")).and_then(|a| a.as_str()).map(str::to_owned);
                    context! { item => l["item"].as_str(), name => l["name"].as_str(),
                    change => match l["change"].as_str() { Some("added") => "新增", Some("removed") => "删除", _ => "变更" },
                    before_qty => qty("before"), after_qty => qty("after"),
                    before => amt("before"), after => amt("after") }
                })
                .collect()
        })
        .unwrap_or_default();
    state.console.render(
        "statement.html",
        context! {
            viewer => Viewer::from(&user),
            id => d.meta.id, version => d.meta.version, latest => d.meta.latest,
            issued_at => d.meta.issued_at, issued_by => d.meta.issued_by, data_sm3 => d.meta.data_sm3,
            v => context! { valid => d.verification.valid, signature => d.verification.signature_valid,
                signer => d.verification.signer_subject, platform => d.verification.signer_issued_by_platform,
                timestamp => d.verification.timestamp_valid, ts_time => d.verification.timestamp_time },
            s => context! { month => s.month.clone(), package => s.package, package_name => s.package_name.clone(),
                system => s.system_name.clone(), contract => s.contract_name.clone(), contract_id => s.contract_id.clone(),
                purchaser => s.purchaser.clone(), provider => s.provider.clone(),
                period => format!("{} 至 {}", s.period_from, s.period_to),
                total => yuan(s.total), capitals => s.total_in_capitals.clone(), rule => s.rule_zh.clone(),
                demo_prices => s.demo_prices },
            lines,
            subtotals => s.subtotals.iter().map(|x| context! { category => x.category.clone(), amount => yuan(x.amount) }).collect::<Vec<_>>(),
            details => s.details.iter().map(|x| context! { label => x.label.clone(), value => x.value }).collect::<Vec<_>>(),
            sla => s.sla.iter().map(|x| context! { label => x.label.clone(), value => x.value.clone() }).collect::<Vec<_>>(),
            diff, versions,
        },
    )
}

#[derive(Deserialize)]
struct PackageParam {
    package: Option<String>,
}

/// 付款与验收: per package, the milestones with their due dates and status badges, the
/// acceptances with their evidence documents (download, SM3), the payments; forms for the
/// roles that may record (the API's `GET /api/v1/payments`, `POST /api/v1/acceptances`,
/// `…/documents`, `POST /api/v1/payments`).
async fn payments_page(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<PackageParam>,
) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let package = q.package.and_then(|p| p.trim().parse().ok());
    render_payments(&state, &user, package, None, None).await
}

async fn render_payments(
    state: &AppState,
    user: &User,
    package: Option<i64>,
    done: Option<String>,
    error: Option<String>,
) -> Response {
    let contract = match page_data(
        state,
        user,
        state.contract().await,
        "payments",
        "无法读取合同",
    ) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let numbers: Vec<_> = contract
        .1
        .packages
        .iter()
        .map(|p| context! { number => p.number.get(), short_name => p.short_name.clone() })
        .collect();
    let package = package
        .filter(|n| crate::payments::package_of(&contract.1, *n).is_ok())
        .or_else(|| {
            contract
                .1
                .packages
                .first()
                .map(|p| i64::from(p.number.get()))
        })
        .unwrap_or(1);
    let dto = match crate::api::payments::payments_dto(
        state.store.as_ref(),
        Some(contract),
        &state.calendar,
        Some(package),
        state.now(),
    )
    .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(code = e.body.code, "payments page: {}", e.body.message_en);
            return message(
                state,
                user,
                StatusCode::INTERNAL_SERVER_ERROR,
                "无法读取付款与验收数据",
                "详情见服务器日志。",
            );
        }
    };
    let Some(p) = dto.packages.first() else {
        return message(
            state,
            user,
            StatusCode::NOT_FOUND,
            "包不存在",
            "合同中没有这个包。",
        );
    };
    // Each milestone with its payment, each payment with its milestone's name.
    let mut view = serde_json::to_value(p).unwrap_or_default();
    let by_id: std::collections::BTreeMap<&str, serde_json::Value> = p
        .payments
        .iter()
        .map(|x| (x.id.as_str(), serde_json::to_value(x).unwrap_or_default()))
        .collect();
    if let Some(ms) = view["milestones"].as_array_mut() {
        for m in ms {
            let paid = m["payment"].as_str().and_then(|id| by_id.get(id)).cloned();
            m["paid"] = paid.unwrap_or_default();
        }
    }
    if let Some(xs) = view["payments"].as_array_mut() {
        for x in xs {
            let name = p
                .milestones
                .iter()
                .find(|m| x["milestone"].as_i64() == Some(i64::from(m.seq)))
                .map(|m| format!("{}. {}", m.seq, m.name))
                .unwrap_or_default();
            x["milestone_name"] = name.into();
        }
    }
    let unpaid: Vec<_> = p
        .milestones
        .iter()
        .filter(|m| m.status != "paid")
        .map(
            |m| context! { seq => m.seq, name => m.name.clone(), status_zh => m.status_zh.clone() },
        )
        .collect();
    let may = |roles: &[Role]| roles.contains(&user.role);
    state.console.render(
        "payments.html",
        context! { viewer => Viewer::from(user), p => minijinja::Value::from_serialize(&view),
        numbers, unpaid, today => dto.today.clone(), done, error,
        calendar_note => calendar_note(state),
        can_accept => may(<crate::api::payments::PurchaserOrAdmin as crate::api::Allowed>::ROLES),
        can_pay => may(<crate::api::payments::PurchaserOrAdmin as crate::api::Allowed>::ROLES),
        can_upload => may(<crate::api::payments::EvidenceUploaders as crate::api::Allowed>::ROLES) },
    )
}

/// The signed-in user when their role is one of `A`'s, else the page saying who may.
async fn payments_user<A: crate::api::Allowed>(
    state: &AppState,
    parts: &Parts,
    what_zh: &str,
) -> Result<User, Response> {
    let user = viewer(state, parts).await?;
    if !A::ROLES.contains(&user.role) {
        let who: Vec<&str> = A::ROLES.iter().map(|r| r.label_zh()).collect();
        return Err(message(
            state,
            &user,
            StatusCode::FORBIDDEN,
            "无权操作",
            &format!("仅{}可{what_zh}。", who.join("、")),
        ));
    }
    Ok(user)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Render the page again with the outcome of a form.
async fn payments_outcome(
    state: &AppState,
    user: &User,
    package: Option<i64>,
    outcome: Result<String, crate::error::ApiError>,
) -> Response {
    match outcome {
        Ok(done) => render_payments(state, user, package, Some(done), None).await,
        Err(e) => {
            let status = e.status;
            let mut r = render_payments(state, user, package, None, Some(e.body.message_zh)).await;
            if r.status().is_success() {
                *r.status_mut() = status;
            }
            r
        }
    }
}

type Multipart = Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>;

async fn read_form(
    mp: Multipart,
) -> Result<(Vec<(String, String)>, Vec<crate::payments::Upload>), crate::error::ApiError> {
    let mp = mp.map_err(|e| {
        crate::error::ApiError::bad_request(
            "invalid_multipart",
            "表单上传格式不正确",
            e.body_text(),
        )
    })?;
    crate::api::payments::read_multipart(mp).await
}

async fn payments_accept(State(state): State<AppState>, parts: Parts, mp: Multipart) -> Response {
    let user =
        match payments_user::<crate::api::payments::PurchaserOrAdmin>(&state, &parts, "登记验收")
            .await
        {
            Ok(u) => u,
            Err(r) => return r,
        };
    let mut package = None;
    let outcome = async {
        let (fields, files) = read_form(mp).await?;
        package = field(&fields, "package").trim().parse::<i64>().ok();
        let on = crate::payments::parse_date("验收日期", field(&fields, "accepted_on"))?;
        let (stored, c) = state
            .contract()
            .await?
            .ok_or_else(crate::api::catalog::no_contract)?;
        let (a, docs) = crate::payments::record_acceptance(
            state.ctx(user.name.as_str()),
            &stored.id,
            &c,
            crate::payments::NewAcceptance {
                package: package.unwrap_or(0),
                kind: field(&fields, "kind"),
                accepted_on: on,
                note: field(&fields, "note"),
                documents: files,
            },
        )
        .await?;
        let kind = govcloud_domain::payment::AcceptanceKind::parse(&a.kind)
            .map_or("验收", |k| k.label_zh());
        Ok::<_, crate::error::ApiError>(format!(
            "已登记{kind}（{}），验收材料 {} 份",
            a.accepted_on,
            docs.len()
        ))
    }
    .await;
    payments_outcome(&state, &user, package, outcome).await
}

async fn payments_upload(State(state): State<AppState>, parts: Parts, mp: Multipart) -> Response {
    let user = match payments_user::<crate::api::payments::EvidenceUploaders>(
        &state,
        &parts,
        "上传验收材料",
    )
    .await
    {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut package = None;
    let outcome = async {
        let (fields, mut files) = read_form(mp).await?;
        package = field(&fields, "package").trim().parse::<i64>().ok();
        if files.len() != 1 {
            return Err(crate::error::ApiError::bad_request(
                "one_file_expected",
                "请选择一个文件",
                "choose one file",
            ));
        }
        let doc = crate::payments::add_evidence(
            state.ctx(user.name.as_str()),
            field(&fields, "acceptance"),
            files.remove(0),
        )
        .await?;
        Ok(format!(
            "已上传 {}（{} 字节），SM3 {}",
            doc.name, doc.size, doc.sm3
        ))
    }
    .await;
    payments_outcome(&state, &user, package, outcome).await
}

#[derive(Deserialize)]
struct PaymentForm {
    package: i64,
    milestone: i64,
    paid_on: String,
    amount: String,
    reference: Option<String>,
}

async fn payments_record(
    State(state): State<AppState>,
    parts: Parts,
    form: Result<Form<PaymentForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let user =
        match payments_user::<crate::api::payments::PurchaserOrAdmin>(&state, &parts, "登记付款")
            .await
        {
            Ok(u) => u,
            Err(r) => return r,
        };
    let Ok(Form(f)) = form else {
        return payments_outcome(
            &state,
            &user,
            None,
            Err(crate::error::ApiError::bad_request(
                "invalid_body",
                "请填写款项、付款日期和金额",
                "fill in milestone, date and amount",
            )),
        )
        .await;
    };
    let outcome = async {
        let on = crate::payments::parse_date("付款日期", &f.paid_on)?;
        let (stored, c) = state
            .contract()
            .await?
            .ok_or_else(crate::api::catalog::no_contract)?;
        let p = crate::payments::record_payment(
            state.ctx(user.name.as_str()),
            &stored.id,
            &c,
            crate::payments::NewPayment {
                package: f.package,
                milestone: f.milestone,
                paid_on: on,
                amount: &f.amount,
                reference: f.reference.as_deref().unwrap_or(""),
            },
        )
        .await?;
        Ok(format!(
            "已登记第 {} 个付款节点的付款：¥{}（{}），{}",
            p.milestone_seq,
            format_yuan(p.amount.parse().unwrap_or_default()),
            govcloud_domain::money::yuan_in_capitals(p.amount.parse().unwrap_or_default()),
            p.paid_on
        ))
    }
    .await;
    payments_outcome(&state, &user, Some(f.package), outcome).await
}
