//! 运维 in the console: the live status board (monitors, incidents with their SLA clocks,
//! refreshed every 5 s), an incident's page with its timeline, the maintenance calendar with
//! key periods, the monthly operations report, notification channels and the delivery log.
//!
//! Every form calls what the API calls (`crate::api::operations::report_incident`,
//! `record_event`, `announce`, `add_monitor`, … — the bodies of the API's handlers), under the
//! same roles (`Operators`, `Reporters`): the console only turns form fields into the API's
//! requests (a `datetime-local` is Beijing time) and shows the outcome.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use govcloud_domain::ops::{beijing_midnight, EventKind, IncidentSeverity};
use govcloud_domain::role::Role;
use govcloud_store::{IncidentFilter, KeyPeriodRecord, NoticeRecord, User};
use minijinja::context;

// `payments_user` checks any role set (`Allowed`), not only the payments page's.
use super::{field, message, payments_user as permitted, viewer, MonthParam, Viewer};
use crate::api::operations::{self as api, Operators, Reporters};
use crate::api::Allowed;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::incidents::system_name;

type Fields = Vec<(String, String)>;
type FormResult = Result<Form<Fields>, axum::extract::rejection::FormRejection>;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops", get(ops_page))
        .route("/ops/live", get(ops_live))
        .route("/ops/incidents", post(open_incident))
        .route("/ops/incidents/{id}", get(incident_page))
        .route("/ops/incidents/{id}/clocks", get(incident_clocks))
        .route("/ops/incidents/{id}/events", post(add_event))
        .route("/ops/notices", post(publish_notice))
        .route("/ops/notices/cancel", post(cancel_notice))
        .route("/ops/monitors", post(add_monitor))
        .route("/ops/monitors/enabled", post(switch_monitor))
        .route("/ops/key-periods", post(add_key_period))
        .route("/ops/key-periods/remove", post(remove_key_period))
        .route("/ops/channels", post(add_channel))
        .route("/ops/channels/remove", post(remove_channel))
}

fn may<A: Allowed>(user: &User) -> bool {
    A::ROLES.contains(&user.role)
}

/// `YYYY-MM` when valid, else this month in Beijing.
fn month_or_now(state: &AppState, m: Option<&str>) -> String {
    m.map(str::trim)
        .filter(|m| crate::statements::parse_month(m).is_ok())
        .map_or_else(|| crate::shanghai_month(state.now()), str::to_owned)
}

fn shift_month(m: &str, by: i32) -> String {
    let (y, mo) = crate::statements::parse_month(m).unwrap_or((2026, 1));
    let n = y * 12 + mo as i32 - 1 + by;
    format!("{:04}-{:02}", n.div_euclid(12), n.rem_euclid(12) + 1)
}

/// A `datetime-local` value (Beijing time) as the API's RFC 3339; `None` when empty. What
/// does not look like one goes to the API as it is, whose parser says what is wrong.
fn beijing(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| crate::parse_beijing(s).map_or_else(|| s.to_owned(), crate::api::utc))
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn fields(form: FormResult) -> Fields {
    form.map(|Form(f)| f).unwrap_or_default()
}

fn hm(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai).format("%H:%M").to_string()
}

/// The page's month grid, Monday first: the first and last day shown.
fn grid(month: &str) -> (NaiveDate, NaiveDate) {
    let (y, m) = crate::statements::parse_month(month).unwrap_or((2026, 1));
    let first = NaiveDate::from_ymd_opt(y, m, 1).expect("parse_month checked it");
    let (ny, nm) = crate::statements::parse_month(&shift_month(month, 1)).unwrap_or((y, m));
    let last = NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .expect("a month has a last day");
    (
        first - Days::new(u64::from(first.weekday().num_days_from_monday())),
        last + Days::new(u64::from(6 - last.weekday().num_days_from_monday())),
    )
}

/// The weeks of the calendar: each day with the key periods it is in and the notices
/// whose window touches it.
fn calendar(
    month: &str,
    today: NaiveDate,
    notices: &[NoticeRecord],
    kps: &[KeyPeriodRecord],
) -> Vec<Vec<minijinja::Value>> {
    let (_, m) = crate::statements::parse_month(month).unwrap_or((2026, 1));
    let (from, to) = grid(month);
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
    days.chunks(7)
        .map(|week| {
            week.iter()
                .map(|&d| {
                    let (a, b) = (beijing_midnight(d), beijing_midnight(d + Days::new(1)));
                    let names: Vec<&str> = kps
                        .iter()
                        .filter(|k| k.first_day <= d && d <= k.last_day)
                        .map(|k| k.name.as_str())
                        .collect();
                    let on: Vec<_> = notices
                        .iter()
                        .filter(|n| n.start_at < b && n.end_at > a)
                        .map(|n| {
                            context! { id => n.id.clone(), title => n.title.clone(),
                            window => format!("{}–{}", hm(n.start_at), hm(n.end_at)),
                            full => format!("{} 至 {}", crate::shanghai_time(n.start_at), crate::shanghai_time(n.end_at)),
                            emergency => n.emergency, cancelled => n.cancelled_at.is_some() }
                        })
                        .collect();
                    context! { day => d.day(), date => d.to_string(), other => d.month() != m,
                    today => d == today, weekend => d.weekday().num_days_from_monday() >= 5,
                    key_periods => names, notices => on }
                })
                .collect()
        })
        .collect()
}

/// The live part: the monitors and the incidents — open ones first, then those opened in
/// `month` and closed — with their clocks now (the API's `GET /ops/status` and
/// `GET /incidents?month=`).
async fn live_context(state: &AppState, user: &User, month: &str) -> ApiResult<minijinja::Value> {
    let status = api::status_dto(state).await?;
    let (stored, c) = state
        .contract()
        .await?
        .ok_or_else(crate::api::catalog::no_contract)?;
    let (from, to) = api::month_window(month)?;
    let now = state.now();
    let mut closed: Vec<_> = state
        .store
        .incidents(
            &stored.id,
            &IncidentFilter {
                from: Some(from),
                to: Some(to),
                ..Default::default()
            },
        )
        .await?
        .iter()
        .filter(|i| i.closed_at.is_some())
        .map(|i| api::incident_dto(&c, i, now))
        .collect();
    closed.sort_by(|a, b| b.opened_at.cmp(&a.opened_at));
    let count = |s: &str| {
        status
            .monitors
            .iter()
            .filter(|m| m.enabled && m.state == s)
            .count()
    };
    let (open_count, closed_count) = (status.open_incidents.len(), closed.len());
    let mut incidents = status.open_incidents;
    incidents.extend(closed);
    Ok(context! {
        now => status.now.clone(), month, up => count("up"), down => count("down"),
        monitors => status.monitors, incidents, open_count, closed_count,
        smtp_configured => status.smtp_configured, can_operate => may::<Operators>(user),
    })
}

/// What a form left behind for the page.
#[derive(Default)]
struct Outcome {
    done: Option<String>,
    error: Option<String>,
    /// A new webhook's secret, shown once.
    secret: Option<String>,
    /// The month to show instead of the form's.
    month: Option<String>,
    /// The refused form's name and fields, to fill it again.
    form: Option<(&'static str, Fields)>,
}

impl Outcome {
    fn done(s: String) -> Self {
        Self {
            done: Some(s),
            ..Default::default()
        }
    }
}

/// The forms that are filled again after a refusal.
const FORMS: [&str; 6] = [
    "incident",
    "monitor",
    "notice",
    "key_period",
    "channel",
    "event",
];

/// Every form's fields by form name: the refused one's as sent, the others empty.
fn refill(form: Option<(&'static str, Fields)>) -> (Option<&'static str>, minijinja::Value) {
    let empty = || context! { systems => Vec::<String>::new() };
    let mut all: BTreeMap<&str, minijinja::Value> = FORMS.iter().map(|n| (*n, empty())).collect();
    let name = form.as_ref().map(|(n, _)| *n);
    if let Some((name, f)) = form {
        let systems: Vec<String> = f
            .iter()
            .filter(|(k, _)| k == "systems")
            .map(|(_, v)| v.clone())
            .collect();
        let mut map: BTreeMap<String, minijinja::Value> = f
            .into_iter()
            .filter(|(k, _)| k != "systems")
            .map(|(k, v)| (k, v.into()))
            .collect();
        map.insert("systems".into(), systems.into());
        all.insert(name, minijinja::Value::from_serialize(&map));
    }
    (name, minijinja::Value::from_serialize(&all))
}

fn failed(state: &AppState, user: &User, e: &ApiError, what: &str) -> Response {
    // The page's only lookup that can miss is the contract (`catalog::no_contract`).
    if e.status == StatusCode::NOT_FOUND {
        return message(
            state,
            user,
            StatusCode::NOT_FOUND,
            "尚未加载合同",
            "请先加载合同目录。",
        );
    }
    tracing::error!(code = e.body.code, what, "运维 page: {}", e.body.message_en);
    message(
        state,
        user,
        StatusCode::INTERNAL_SERVER_ERROR,
        "无法读取运维数据",
        "详情见服务器日志。",
    )
}

async fn ops_page(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<MonthParam>,
) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    render(&state, &user, q.month.as_deref(), Outcome::default()).await
}

async fn ops_live(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<MonthParam>,
) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let month = month_or_now(&state, q.month.as_deref());
    match live_context(&state, &user, &month).await {
        Ok(live) => state.console.render(
            "ops_live.html",
            context! { live, viewer => Viewer::from(&user) },
        ),
        Err(e) => failed(&state, &user, &e, "live"),
    }
}

async fn render(state: &AppState, user: &User, month: Option<&str>, out: Outcome) -> Response {
    let month = month_or_now(state, out.month.as_deref().or(month));
    let operator = may::<Operators>(user);
    let loaded = async {
        let Some((stored, c)) = state.contract().await? else {
            return Err(crate::api::catalog::no_contract());
        };
        let live = live_context(state, user, &month).await?;
        let (from, to) = api::month_window(&month)?;
        let (first, last) = grid(&month);
        let notices = state
            .store
            .notices(
                &stored.id,
                Some(beijing_midnight(first)),
                Some(beijing_midnight(last + Days::new(1))),
            )
            .await?;
        let kps = state.store.key_periods().await?;
        let (channels, deliveries) = if operator {
            (
                state.store.channels().await?,
                state.store.deliveries(50).await?,
            )
        } else {
            Default::default()
        };
        Ok::<_, ApiError>((c, live, (from, to), notices, kps, channels, deliveries))
    };
    let (c, live, (from, to), notices, kps, channels, deliveries) = match loaded.await {
        Ok(x) => x,
        Err(e) => return failed(state, user, &e, "page"),
    };
    let weeks = calendar(&month, crate::shanghai_date(state.now()), &notices, &kps);
    let listed: Vec<_> = notices
        .iter()
        .filter(|n| n.start_at < to && n.end_at > from)
        .map(|n| api::notice_dto(&c, n))
        .collect();
    let targets: BTreeMap<&str, &str> = channels
        .iter()
        .map(|ch| (ch.id.as_str(), ch.target.as_str()))
        .collect();
    let deliveries: Vec<_> = deliveries
        .iter()
        .map(|d| {
            let status_zh = match d.status.as_str() {
                "sent" => "已发送",
                "failed" => "发送失败",
                _ => "待发送",
            };
            context! { d => api::delivery_dto(d), status_zh,
            target => targets.get(d.channel_id.as_str()).copied().unwrap_or("（已删除的渠道）") }
        })
        .collect();
    let packages: Vec<_> = c
        .packages
        .iter()
        .map(|p| {
            let systems: Vec<_> = p
                .systems
                .iter()
                .map(|s| context! { code => s.as_str(), name => system_name(&c, s.as_str()) })
                .collect();
            context! { number => p.number.get(), short_name => p.short_name.clone(), systems }
        })
        .collect();
    let systems: Vec<_> = c
        .systems
        .iter()
        .map(|s| context! { code => s.code.as_str(), name => s.name.clone() })
        .collect();
    let (y, m) = crate::statements::parse_month(&month).unwrap_or((2026, 1));
    let (form_name, f) = refill(out.form);
    state.console.render(
        "ops.html",
        context! {
            viewer => Viewer::from(user), live, month, month_label => format!("{y} 年 {m} 月"),
            prev_month => shift_month(&month, -1), next_month => shift_month(&month, 1),
            this_month => crate::shanghai_month(state.now()),
            weeks, notices => listed,
            key_periods => kps.iter().map(api::key_period_dto).collect::<Vec<_>>(),
            channels => channels.iter().map(api::channel_dto).collect::<Vec<_>>(),
            deliveries, packages, systems,
            can_operate => operator, can_report => may::<Reporters>(user),
            done => out.done, error => out.error, secret => out.secret, form_name, forms => f,
        },
    )
}

/// Show the page with a form's outcome; a refused form keeps its fields and the API's
/// status and Chinese message.
async fn respond(
    state: &AppState,
    user: &User,
    form_name: &'static str,
    f: Fields,
    result: ApiResult<Outcome>,
) -> Response {
    let month = opt(field(&f, "month"));
    match result {
        Ok(out) => render(state, user, month.as_deref(), out).await,
        Err(e) => {
            let out = Outcome {
                error: Some(e.body.message_zh),
                form: Some((form_name, f)),
                ..Default::default()
            };
            let mut r = render(state, user, month.as_deref(), out).await;
            if r.status().is_success() {
                *r.status_mut() = e.status;
            }
            r
        }
    }
}

/// `包号/系统` of the package-and-system select.
fn package_system(v: &str) -> (i64, String) {
    match v.split_once('/') {
        Some((p, s)) => (p.trim().parse().unwrap_or(0), s.trim().to_owned()),
        None => (0, v.trim().to_owned()),
    }
}

async fn open_incident(State(state): State<AppState>, parts: Parts, form: FormResult) -> Response {
    let user = match permitted::<Reporters>(&state, &parts, "报告故障").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let f = fields(form);
    let (package, system) = package_system(field(&f, "target"));
    let req = api::OpenIncident {
        package,
        system,
        severity: field(&f, "severity").to_owned(),
        title: opt(field(&f, "title")),
        opened_at: beijing(field(&f, "opened_at")),
        source: None,
    };
    let result = api::report_incident(&state, &user, req).await.map(|i| {
        Outcome::done(format!(
            "已登记故障 {}（{}），SLA 计时自 {} 开始",
            i.id,
            i.title,
            chrono::DateTime::parse_from_rfc3339(&i.opened_at)
                .map(|t| crate::shanghai_time(t.with_timezone(&Utc)))
                .unwrap_or(i.opened_at.clone())
        ))
    });
    respond(&state, &user, "incident", f, result).await
}

async fn publish_notice(State(state): State<AppState>, parts: Parts, form: FormResult) -> Response {
    let user = match permitted::<Operators>(&state, &parts, "发布维护通知").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let f = fields(form);
    let req = api::PublishNotice {
        title: field(&f, "title").to_owned(),
        systems: f
            .iter()
            .filter(|(k, _)| k == "systems")
            .map(|(_, v)| v.clone())
            .collect(),
        start: beijing(field(&f, "start")).unwrap_or_default(),
        end: beijing(field(&f, "end")).unwrap_or_default(),
        impact: opt(field(&f, "impact")),
        rollback: opt(field(&f, "rollback")),
        emergency: Some(matches!(field(&f, "emergency"), "on" | "true")),
        reason: opt(field(&f, "reason")),
        override_reason: opt(field(&f, "override_reason")),
    };
    let result = api::announce(&state, &user, req).await.map(|n| {
        let start = chrono::DateTime::parse_from_rfc3339(&n.start)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| state.now());
        Outcome {
            done: Some(format!(
                "已发布{}“{}”（{} 至 {}）",
                if n.emergency {
                    "紧急变更通知"
                } else {
                    "维护通知"
                },
                n.title,
                crate::shanghai_time(start),
                chrono::DateTime::parse_from_rfc3339(&n.end)
                    .map(|t| crate::shanghai_time(t.with_timezone(&Utc)))
                    .unwrap_or_default()
            )),
            month: Some(crate::shanghai_month(start)),
            ..Default::default()
        }
    });
    respond(&state, &user, "notice", f, result).await
}

async fn cancel_notice(State(state): State<AppState>, parts: Parts, form: FormResult) -> Response {
    let user = match permitted::<Operators>(&state, &parts, "取消维护通知").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let f = fields(form);
    let result = api::withdraw_notice(&state, &user, field(&f, "id"))
        .await
        .map(|n| Outcome::done(format!("已取消维护通知“{}”", n.title)));
    respond(&state, &user, "cancel", f, result).await
}

async fn add_monitor(State(state): State<AppState>, parts: Parts, form: FormResult) -> Response {
    let user = match permitted::<Operators>(&state, &parts, "新增监控项").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let f = fields(form);
    // An empty number field leaves the API's default; anything else must be a number, as
    // in the API's JSON.
    let num = |k: &str, zh: &str| -> ApiResult<Option<i64>> {
        let v = field(&f, k).trim();
        if v.is_empty() {
            return Ok(None);
        }
        v.parse().map(Some).map_err(|_| {
            ApiError::bad_request(
                "invalid_number",
                format!("{zh}应为整数"),
                format!("{k} {v:?} is not an integer"),
            )
        })
    };
    let (package, system) = package_system(field(&f, "target_system"));
    let numbers = (|| {
        Ok::<_, ApiError>((
            num("interval_seconds", "检测间隔")?,
            num("timeout_seconds", "超时")?,
            num("retries", "重试次数")?,
            num("expect_status", "期望状态码")?,
            num("max_latency_ms", "最长响应时间")?,
            num("tls_min_days", "证书至少剩余天数")?,
        ))
    })();
    let (interval_seconds, timeout_seconds, retries, expect_status, max_latency_ms, tls_min_days) =
        match numbers {
            Ok(n) => n,
            Err(e) => return respond(&state, &user, "monitor", f, Err(e)).await,
        };
    // Numbers the API takes unsigned: out of range is refused here, never dropped.
    let out_of_range = |k: &str, zh: &str| {
        ApiError::bad_request(
            "invalid_number",
            zh.to_owned(),
            format!("{k} is out of range"),
        )
    };
    let unsigned = (|| {
        Ok::<_, ApiError>((
            expect_status
                .map(u16::try_from)
                .transpose()
                .map_err(|_| out_of_range("expect_status", "期望状态码应为 100–599 的整数"))?,
            max_latency_ms
                .map(u64::try_from)
                .transpose()
                .map_err(|_| out_of_range("max_latency_ms", "最长响应时间不能为负数"))?,
        ))
    })();
    let (expect_status, max_latency_ms) = match unsigned {
        Ok(n) => n,
        Err(e) => return respond(&state, &user, "monitor", f, Err(e)).await,
    };
    let req = api::CreateMonitor {
        kind: field(&f, "kind").to_owned(),
        target: field(&f, "target").to_owned(),
        package,
        system,
        name: opt(field(&f, "name")),
        severity: opt(field(&f, "severity")),
        interval_seconds,
        timeout_seconds,
        retries,
        expect_status,
        body_match: opt(field(&f, "body_match")),
        max_latency_ms,
        tls_min_days,
        ca_pem: opt(field(&f, "ca_pem")),
    };
    let result = api::add_monitor(&state, &user, req).await.map(|m| {
        Outcome::done(format!(
            "已新增监控项“{}”（{} {}），每 {} 秒检测一次",
            m.name,
            m.kind.to_uppercase(),
            m.target,
            m.interval_seconds
        ))
    });
    respond(&state, &user, "monitor", f, result).await
}

async fn switch_monitor(State(state): State<AppState>, parts: Parts, form: FormResult) -> Response {
    let user = match permitted::<Operators>(&state, &parts, "启用或停用监控项").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let f = fields(form);
    let enabled = field(&f, "enabled") == "true";
    let result = api::set_monitor_enabled(
        &state,
        &user,
        field(&f, "id"),
        api::MonitorSwitch { enabled },
    )
    .await
    .map(|m| {
        Outcome::done(format!(
            "已{}监控项“{}”",
            if enabled { "启用" } else { "停用" },
            m.name
        ))
    });
    respond(&state, &user, "switch", f, result).await
}

async fn add_key_period(State(state): State<AppState>, parts: Parts, form: FormResult) -> Response {
    let user = match permitted::<Reporters>(&state, &parts, "维护重点时期").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let f = fields(form);
    let req = api::AddKeyPeriod {
        name: field(&f, "name").to_owned(),
        first_day: field(&f, "first_day").trim().to_owned(),
        last_day: field(&f, "last_day").trim().to_owned(),
    };
    let result = api::keep_key_period(&state, &user, req).await.map(|k| {
        Outcome::done(format!(
            "已添加重点时期“{}”（{} 至 {}）",
            k.name, k.first_day, k.last_day
        ))
    });
    respond(&state, &user, "key_period", f, result).await
}

async fn remove_key_period(
    State(state): State<AppState>,
    parts: Parts,
    form: FormResult,
) -> Response {
    let user = match permitted::<Reporters>(&state, &parts, "维护重点时期").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let f = fields(form);
    let id = field(&f, "id").trim().parse::<i64>().unwrap_or(0);
    let name = opt(field(&f, "name")).unwrap_or_else(|| id.to_string());
    let result = api::drop_key_period(&state, &user, id)
        .await
        .map(|()| Outcome::done(format!("已删除重点时期“{name}”")));
    respond(&state, &user, "key_period_remove", f, result).await
}

async fn add_channel(State(state): State<AppState>, parts: Parts, form: FormResult) -> Response {
    let user = match permitted::<Operators>(&state, &parts, "添加通知渠道").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let f = fields(form);
    let req = api::AddChannel {
        kind: field(&f, "kind").to_owned(),
        target: field(&f, "target").to_owned(),
    };
    let result = api::open_channel(&state, &user, req)
        .await
        .map(|c| Outcome {
            done: Some(format!(
                "已添加{}通知渠道：{}",
                if c.channel.kind == "webhook" {
                    " Webhook "
                } else {
                    "邮件"
                },
                c.channel.target
            )),
            secret: c.secret,
            ..Default::default()
        });
    respond(&state, &user, "channel", f, result).await
}

async fn remove_channel(State(state): State<AppState>, parts: Parts, form: FormResult) -> Response {
    let user = match permitted::<Operators>(&state, &parts, "删除通知渠道").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let f = fields(form);
    let result = api::close_channel(&state, &user, field(&f, "id"))
        .await
        .map(|()| Outcome::done("已删除通知渠道（其投递记录保留）".to_owned()));
    respond(&state, &user, "channel_remove", f, result).await
}

// ---------------------------------------------------------------- one incident

async fn incident_page(
    State(state): State<AppState>,
    parts: Parts,
    Path(id): Path<String>,
) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    render_incident(&state, &user, &id, "ops_incident.html", Outcome::default()).await
}

async fn incident_clocks(
    State(state): State<AppState>,
    parts: Parts,
    Path(id): Path<String>,
) -> Response {
    let user = match viewer(&state, &parts).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    render_incident(&state, &user, &id, "ops_clocks.html", Outcome::default()).await
}

/// An incident with its timeline and clocks (the API's `GET /incidents/{id}`), and the
/// form adding an event.
async fn render_incident(
    state: &AppState,
    user: &User,
    id: &str,
    template: &str,
    out: Outcome,
) -> Response {
    let loaded = async {
        let (_, c) = state
            .contract()
            .await?
            .ok_or_else(crate::api::catalog::no_contract)?;
        let i = state.store.incident(id).await?;
        Ok::<_, ApiError>(i.map(|i| (api::incident_dto(&c, &i, state.now()), i)))
    };
    let (dto, rec) = match loaded.await {
        Ok(Some(x)) => x,
        Ok(None) => {
            return message(
                state,
                user,
                StatusCode::NOT_FOUND,
                "没有这起故障",
                &format!("未找到故障 {id}。"),
            )
        }
        Err(e) => return failed(state, user, &e, "incident"),
    };
    let purchaser = user.role == Role::Purchaser;
    let kinds: Vec<_> = EventKind::ALL
        .iter()
        .filter(|k| !purchaser || **k == EventKind::OnsiteRequested)
        .filter(|k| !rec.events.iter().any(|e| e.kind == k.code()))
        .map(|k| context! { code => k.code(), label => k.label_zh() })
        .collect();
    let (form_name, f) = refill(out.form);
    state.console.render(
        template,
        context! {
            viewer => Viewer::from(user), i => dto, kinds, purchaser,
            outage => rec.severity == IncidentSeverity::Outage.code(),
            open => rec.closed_at.is_none(),
            month => crate::shanghai_month(rec.opened_at),
            now => crate::shanghai_time(state.now()),
            can_report => may::<Reporters>(user),
            done => out.done, error => out.error, form_name, forms => f,
        },
    )
}

async fn add_event(
    State(state): State<AppState>,
    parts: Parts,
    Path(id): Path<String>,
    form: FormResult,
) -> Response {
    let user = match permitted::<Reporters>(&state, &parts, "登记处置事件").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let f = fields(form);
    let kind = field(&f, "kind").to_owned();
    let req = api::AddEvent {
        kind: kind.clone(),
        at: beijing(field(&f, "at")),
        note: opt(field(&f, "note")),
        cause: opt(field(&f, "cause")),
        impact: opt(field(&f, "impact")),
        actions: opt(field(&f, "actions")),
    };
    match api::record_event(&state, &user, &id, req).await {
        Ok(_) => {
            let label = EventKind::from_code(&kind).map_or("事件", |k| k.label_zh());
            let out = Outcome::done(format!("已记录“{label}”"));
            render_incident(&state, &user, &id, "ops_incident.html", out).await
        }
        Err(e) => {
            let out = Outcome {
                error: Some(e.body.message_zh),
                form: Some(("event", f)),
                ..Default::default()
            };
            let mut r = render_incident(&state, &user, &id, "ops_incident.html", out).await;
            if r.status().is_success() {
                *r.status_mut() = e.status;
            }
            r
        }
    }
}
