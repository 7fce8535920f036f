//! Incidents 故障 with their SLA clocks, maintenance notices 维护通知 and key periods 重点时期:
//! validation, the change through the store with its audit entry, and the notifications.
//! The rules themselves are in `govcloud_domain::ops`; here they meet the store and the clock.

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use govcloud_domain::catalog::{Contract, Package};
use govcloud_domain::ops::{
    self, check_event, check_notice, ClockStatus, Event, EventError, EventKind, IncidentSeverity,
    KeyPeriod, NoticeError, NoticeRequest,
};
use govcloud_store::{
    IncidentClosing, IncidentEventRecord, IncidentRecord, KeyPeriodRecord, NoticeRecord, Store,
};
use serde_json::json;

use crate::notify::{self, Message};
use crate::ops::{Ctx, OpError};

/// Where an incident came from.
pub const SOURCES: [(&str, &str); 3] = [
    ("monitor", "监控告警"),
    ("hotline", "服务热线"),
    ("purchaser", "采购人报告"),
];

pub fn source_zh(code: &str) -> &str {
    SOURCES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, zh)| zh)
}

fn refused(code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> OpError {
    OpError::refused(StatusCode::UNPROCESSABLE_ENTITY, code, zh, en)
}

fn conflict(code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> OpError {
    OpError::refused(StatusCode::CONFLICT, code, zh, en)
}

/// Package `no` of the contract, or 400 `unknown_package`.
pub use crate::payments::package_of as package;

/// The system, which must be one of the package's.
pub fn check_system(p: &Package, system: &str) -> Result<(), OpError> {
    if p.systems.iter().any(|s| s.as_str() == system) {
        return Ok(());
    }
    let known: Vec<&str> = p.systems.iter().map(|s| s.as_str()).collect();
    Err(OpError::invalid(
        "unknown_system",
        format!(
            "第 {} 包没有业务系统 {system}（可选：{}）",
            p.number,
            known.join("、")
        ),
        format!(
            "package {} has no business system {system:?} (expected one of: {})",
            p.number,
            known.join(", ")
        ),
    ))
}

pub fn system_name<'a>(c: &'a Contract, code: &'a str) -> &'a str {
    c.systems
        .iter()
        .find(|s| s.code.as_str() == code)
        .map_or(code, |s| s.name.as_str())
}

pub fn parse_severity(s: &str) -> Result<IncidentSeverity, OpError> {
    IncidentSeverity::from_code(s).ok_or_else(|| {
        OpError::invalid(
            "invalid_severity",
            "severity 应为 outage（宕机）或 fault（其他故障）",
            format!("severity {s:?}: expected outage or fault"),
        )
    })
}

/// An incident to open.
pub struct NewIncident<'a> {
    pub package: i64,
    pub system: &'a str,
    pub severity: &'a str,
    pub title: &'a str,
    pub source: &'a str,
    pub monitor_id: Option<&'a str>,
    /// When it happened; now when not given. Not in the future.
    pub opened_at: Option<DateTime<Utc>>,
}

/// Open an incident and tell the channels.
pub async fn open(
    cx: Ctx<'_>,
    contract_id: &str,
    c: &Contract,
    n: NewIncident<'_>,
) -> Result<IncidentRecord, OpError> {
    let p = package(c, n.package)?;
    check_system(p, n.system)?;
    let severity = parse_severity(n.severity)?;
    if !SOURCES.iter().any(|(s, _)| *s == n.source) {
        return Err(OpError::invalid(
            "invalid_source",
            "来源应为 monitor、hotline 或 purchaser",
            format!(
                "source {:?}: expected monitor, hotline or purchaser",
                n.source
            ),
        ));
    }
    let opened_at = n.opened_at.unwrap_or(cx.now).trunc_subsecs(0);
    if opened_at > cx.now + chrono::Duration::minutes(1) {
        return Err(OpError::invalid(
            "time_in_future",
            "发生时间不能晚于当前时间",
            "opened_at is in the future",
        ));
    }
    let title = n.title.trim();
    let title = if title.is_empty() {
        format!("{}{}", system_name(c, n.system), severity.label_zh())
    } else {
        title.chars().take(200).collect()
    };
    let rec = IncidentRecord {
        id: String::new(),
        contract_id: contract_id.to_owned(),
        package_no: n.package,
        system: n.system.to_owned(),
        severity: severity.code().to_owned(),
        title,
        source: n.source.to_owned(),
        monitor_id: n.monitor_id.map(str::to_owned),
        opened_at,
        recorded_at: cx.now,
        opened_by: cx.actor.to_owned(),
        cause: String::new(),
        impact: String::new(),
        actions: String::new(),
        closed_at: None,
        events: vec![],
    };
    let rec = cx
        .store
        .open_incident(
            &rec,
            cx.event(
                "incident.open",
                "incident",
                json!({"package": n.package, "system": n.system, "severity": severity.code(),
                       "source": n.source, "opened_at": crate::api::utc(opened_at)}),
            ),
        )
        .await?;
    let view = IncidentView::new(c, &rec, cx.now);
    let deadlines: Vec<String> = view
        .clocks
        .iter()
        .filter_map(|k| {
            k.deadline.map(|d| {
                format!(
                    "{}时限 {} 分钟，截止 {}",
                    k.clock.label_zh(),
                    k.limit_minutes,
                    crate::shanghai_time(d)
                )
            })
        })
        .collect();
    notify::queue(
        cx.store,
        Message {
            key: format!("incident:{}:opened", rec.id),
            subject: format!(
                "【{}】{} {}：{}",
                severity.label_zh(),
                rec.id,
                system_name(c, &rec.system),
                rec.title
            ),
            text: format!(
                "故障 {}（第 {} 包，{}，{}）于 {} 发生，来源：{}。\n{}",
                rec.id,
                rec.package_no,
                system_name(c, &rec.system),
                severity.label_zh(),
                crate::shanghai_time(rec.opened_at),
                source_zh(&rec.source),
                deadlines.join("\n")
            ),
            data: incident_data(&rec),
            at: cx.now,
        },
    )
    .await?;
    Ok(rec)
}

fn incident_data(i: &IncidentRecord) -> serde_json::Value {
    json!({"incident": i.id, "package": i.package_no, "system": i.system,
           "severity": i.severity, "title": i.title, "source": i.source,
           "opened_at": crate::api::utc(i.opened_at)})
}

/// An event to add to an incident's timeline.
pub struct NewEvent<'a> {
    pub kind: &'a str,
    /// When it happened; now when not given.
    pub at: Option<DateTime<Utc>>,
    pub note: &'a str,
    /// The outage report's fields, required when an outage is closed.
    pub closing: Option<IncidentClosing>,
}

pub async fn add_event(
    cx: Ctx<'_>,
    c: &Contract,
    id: &str,
    e: NewEvent<'_>,
) -> Result<IncidentRecord, OpError> {
    let kind = EventKind::from_code(e.kind).ok_or_else(|| {
        OpError::invalid(
            "invalid_event",
            format!("事件类型应为以下之一：{}", EventKind::expected()),
            format!(
                "event kind {:?}: expected one of {}",
                e.kind,
                EventKind::expected()
            ),
        )
    })?;
    let inc = cx.store.incident(id).await?.ok_or_else(|| {
        OpError::Store(govcloud_store::StoreError::NotFound(format!(
            "incident {id}"
        )))
    })?;
    let at = e.at.unwrap_or(cx.now).trunc_subsecs(0);
    let events = timeline(&inc);
    check_event(inc.opened_at, &events, Event { kind, at }, cx.now).map_err(|err| match err {
        EventError::Closed => conflict(
            "incident_closed",
            "故障已关闭，不能再添加事件",
            err.to_string(),
        ),
        EventError::Duplicate => conflict(
            "duplicate_event",
            format!("该故障已记录“{}”", kind.label_zh()),
            format!("{} is already recorded for this incident", kind.code()),
        ),
        EventError::BeforeOpened => OpError::invalid(
            "time_before_opened",
            "事件时间不能早于故障发生时间",
            err.to_string(),
        ),
        EventError::InFuture => OpError::invalid(
            "time_in_future",
            "事件时间不能晚于当前时间",
            err.to_string(),
        ),
    })?;
    let closing = if kind == EventKind::Closed {
        let closing = e.closing.unwrap_or_default();
        let outage = inc.severity == IncidentSeverity::Outage.code();
        let missing = [
            ("cause", &closing.cause),
            ("impact", &closing.impact),
            ("actions", &closing.actions),
        ]
        .iter()
        .filter(|(_, v)| v.trim().is_empty())
        .map(|(k, _)| *k)
        .collect::<Vec<_>>();
        if outage && !missing.is_empty() {
            return Err(OpError::invalid(
                "outage_report_required",
                format!(
                    "关闭宕机故障须填写宕机报告：原因、影响、处置措施（缺少 {}）",
                    missing.join("、")
                ),
                format!(
                    "closing an outage needs its report: cause, impact and actions (missing: {})",
                    missing.join(", ")
                ),
            ));
        }
        Some(closing)
    } else {
        None
    };
    let rec = IncidentEventRecord {
        kind: kind.code().to_owned(),
        at,
        recorded_at: cx.now,
        actor: cx.actor.to_owned(),
        note: e.note.trim().chars().take(2000).collect(),
    };
    let out = cx
        .store
        .add_incident_event(
            id,
            &rec,
            closing.as_ref(),
            cx.event(
                "incident.event",
                id,
                json!({"kind": kind.code(), "at": crate::api::utc(at), "note": rec.note}),
            ),
        )
        .await?;
    if kind == EventKind::Closed {
        let view = IncidentView::new(c, &out, cx.now);
        let result: Vec<String> = view
            .clocks
            .iter()
            .map(|k| {
                format!(
                    "{} {}（时限 {} 分钟，用时 {}）",
                    k.clock.label_zh(),
                    k.state.label_zh(),
                    k.limit_minutes,
                    ops::format_seconds(k.elapsed_seconds)
                )
            })
            .collect();
        notify::queue(
            cx.store,
            Message {
                key: format!("incident:{}:closed", out.id),
                subject: format!("【已关闭】{} {}", out.id, out.title),
                text: format!(
                    "故障 {} 已于 {} 关闭。\nSLA：{}",
                    out.id,
                    crate::shanghai_time(at),
                    result.join("；")
                ),
                data: incident_data(&out),
                at: cx.now,
            },
        )
        .await?;
    }
    Ok(out)
}

/// The timeline as the rules see it.
pub fn timeline(i: &IncidentRecord) -> Vec<Event> {
    i.events
        .iter()
        .filter_map(|e| EventKind::from_code(&e.kind).map(|kind| Event { kind, at: e.at }))
        .collect()
}

/// An incident with its clocks at an instant.
pub struct IncidentView<'a> {
    pub record: &'a IncidentRecord,
    pub clocks: Vec<ClockStatus>,
}

impl<'a> IncidentView<'a> {
    pub fn new(c: &Contract, record: &'a IncidentRecord, now: DateTime<Utc>) -> Self {
        let levels = package(c, record.package_no)
            .map(|p| p.service_levels.as_slice())
            .unwrap_or(&[]);
        let severity =
            IncidentSeverity::from_code(&record.severity).unwrap_or(IncidentSeverity::Fault);
        let clocks = ops::clocks(levels, severity, record.opened_at, &timeline(record), now);
        Self { record, clocks }
    }
}

/// Send the 即将超时 warnings and 已超时 notices that are due for the open incidents.
/// Each goes out once per incident and clock (the delivery log is keyed by it).
pub async fn sweep_clocks(
    store: &dyn Store,
    contract_id: &str,
    c: &Contract,
    now: DateTime<Utc>,
) -> Result<usize, OpError> {
    let open = store
        .incidents(
            contract_id,
            &govcloud_store::IncidentFilter {
                open_only: true,
                ..Default::default()
            },
        )
        .await?;
    let mut queued = 0;
    for i in &open {
        let view = IncidentView::new(c, i, now);
        for k in &view.clocks {
            let (what, zh) = if k.state == ops::ClockState::Breached && k.stopped_at.is_none() {
                ("breached", "已超时")
            } else if k.warning_due() {
                ("warning", "即将超时")
            } else {
                continue;
            };
            let deadline = k.deadline.map(crate::shanghai_time).unwrap_or_default();
            queued += notify::queue(
                store,
                Message {
                    key: format!("incident:{}:{}:{what}", i.id, k.clock.code()),
                    subject: format!("【SLA {zh}】{} {}时限 {} 分钟", i.id, k.clock.label_zh(), k.limit_minutes),
                    text: format!(
                        "故障 {}（{}）的{}时限为 {} 分钟，截止 {}，已用时 {}。\n依据：{}",
                        i.id,
                        i.title,
                        k.clock.label_zh(),
                        k.limit_minutes,
                        deadline,
                        ops::format_seconds(k.elapsed_seconds),
                        k.text
                    ),
                    data: json!({"incident": i.id, "clock": k.clock.code(), "state": what,
                                 "limit_minutes": k.limit_minutes, "elapsed_seconds": k.elapsed_seconds,
                                 "deadline": k.deadline.map(crate::api::utc)}),
                    at: now,
                },
            )
            .await?;
        }
    }
    Ok(queued)
}

/// The key periods as the rules see them.
pub fn key_periods(records: &[KeyPeriodRecord]) -> Vec<KeyPeriod> {
    records
        .iter()
        .map(|k| KeyPeriod {
            name: k.name.clone(),
            first_day: k.first_day,
            last_day: k.last_day,
        })
        .collect()
}

/// A notice to publish.
pub struct NewNotice<'a> {
    pub title: &'a str,
    pub systems: &'a [String],
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub impact: &'a str,
    pub rollback: &'a str,
    pub emergency: bool,
    pub reason: Option<&'a str>,
    pub override_reason: Option<&'a str>,
}

/// Publish a notice after the rules (lead time, key periods) and tell the channels.
pub async fn publish_notice(
    cx: Ctx<'_>,
    contract_id: &str,
    c: &Contract,
    n: NewNotice<'_>,
) -> Result<NoticeRecord, OpError> {
    let title = n.title.trim();
    if title.is_empty() {
        return Err(OpError::invalid(
            "title_required",
            "请填写通知标题",
            "a notice needs a title",
        ));
    }
    if n.systems.is_empty() {
        return Err(OpError::invalid(
            "systems_required",
            "请选择受影响的业务系统",
            "a notice names the affected systems",
        ));
    }
    for s in n.systems {
        if !c.systems.iter().any(|x| x.code.as_str() == s) {
            let known: Vec<&str> = c.systems.iter().map(|x| x.code.as_str()).collect();
            return Err(OpError::invalid(
                "unknown_system",
                format!("没有业务系统 {s}（可选：{}）", known.join("、")),
                format!(
                    "no business system {s:?} (expected one of: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    let kps = cx.store.key_periods().await?;
    let verdict = check_notice(
        &NoticeRequest {
            start: n.start,
            end: n.end,
            emergency: n.emergency,
            reason: n.reason,
            override_reason: n.override_reason,
        },
        &key_periods(&kps),
        cx.now,
    )
    .map_err(|e| match &e {
        NoticeError::TooLate { minutes_ahead } => refused(
            "notice_too_late",
            format!(
                "维护通知须至少提前 24 小时发布（距开始仅 {} 小时 {} 分钟）；确属紧急变更的，请按紧急变更发布并填写原因",
                minutes_ahead / 60,
                minutes_ahead % 60
            ),
            e.to_string(),
        ),
        NoticeError::KeyPeriod { name } => refused(
            "key_period",
            format!("维护窗口与重点时期“{name}”重叠；如确需实施，请填写 override_reason 说明理由"),
            e.to_string(),
        ),
        NoticeError::ReasonRequired => OpError::invalid(
            "reason_required",
            "紧急变更须填写原因（reason）",
            e.to_string(),
        ),
        NoticeError::EndNotAfterStart => {
            OpError::invalid("invalid_window", "结束时间须晚于开始时间", e.to_string())
        }
        NoticeError::StartPassed => refused(
            "start_passed",
            "开始时间已过去一小时以上，不能再发布",
            e.to_string(),
        ),
    })?;
    let trimmed = |s: Option<&str>| s.map(str::trim).unwrap_or("").to_owned();
    let rec = NoticeRecord {
        id: crate::auth::new_id("ntc"),
        contract_id: contract_id.to_owned(),
        title: title.chars().take(200).collect(),
        systems: n.systems.to_vec(),
        start_at: n.start,
        end_at: n.end,
        impact: n.impact.trim().to_owned(),
        rollback: n.rollback.trim().to_owned(),
        emergency: n.emergency,
        reason: trimmed(n.reason),
        override_reason: if verdict.key_periods.is_empty() {
            String::new()
        } else {
            trimmed(n.override_reason)
        },
        key_periods: verdict.key_periods.clone(),
        published_at: cx.now,
        published_by: cx.actor.to_owned(),
        cancelled_at: None,
    };
    let rec = cx
        .store
        .publish_notice(
            &rec,
            cx.event(
                "notice.publish",
                &rec.id,
                json!({"title": rec.title, "systems": rec.systems,
                       "start": crate::api::utc(rec.start_at), "end": crate::api::utc(rec.end_at),
                       "emergency": rec.emergency, "late": verdict.late_emergency,
                       "key_periods": rec.key_periods}),
            ),
        )
        .await?;
    let systems: Vec<&str> = rec.systems.iter().map(|s| system_name(c, s)).collect();
    notify::queue(
        cx.store,
        Message {
            key: format!("notice:{}:published", rec.id),
            subject: format!(
                "【{}】{}",
                if rec.emergency {
                    "紧急变更通知"
                } else {
                    "维护通知"
                },
                rec.title
            ),
            text: format!(
                "维护时间：{} 至 {}\n受影响系统：{}\n影响：{}\n回退方案：{}{}",
                crate::shanghai_time(rec.start_at),
                crate::shanghai_time(rec.end_at),
                systems.join("、"),
                rec.impact,
                rec.rollback,
                if rec.emergency {
                    format!("\n紧急变更原因：{}", rec.reason)
                } else {
                    String::new()
                }
            ),
            data: json!({"notice": rec.id, "title": rec.title, "systems": rec.systems,
                         "start": crate::api::utc(rec.start_at), "end": crate::api::utc(rec.end_at),
                         "emergency": rec.emergency}),
            at: cx.now,
        },
    )
    .await?;
    Ok(rec)
}

/// Whether a notice was published less than 24 hours ahead (an emergency change).
pub fn late(n: &NoticeRecord) -> bool {
    n.start_at - n.published_at < ops::NOTICE_LEAD
}

/// The notice (not cancelled) whose window covers `at` for `system`, if any.
pub fn covering<'a>(
    notices: &'a [NoticeRecord],
    system: &str,
    at: DateTime<Utc>,
) -> Option<&'a NoticeRecord> {
    notices.iter().find(|n| {
        n.cancelled_at.is_none_or(|c| c > at)
            && n.start_at <= at
            && at < n.end_at
            && n.systems.iter().any(|s| s == system)
    })
}

pub async fn cancel_notice(cx: Ctx<'_>, id: &str) -> Result<NoticeRecord, OpError> {
    match cx
        .store
        .cancel_notice(id, cx.now, cx.event("notice.cancel", id, json!({})))
        .await
    {
        Ok(Some(n)) => Ok(n),
        Ok(None) => Err(OpError::Store(govcloud_store::StoreError::NotFound(
            format!("notice {id}"),
        ))),
        Err(govcloud_store::StoreError::Conflict(_)) => Err(conflict(
            "already_cancelled",
            "该通知已取消",
            "the notice is already cancelled",
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn add_key_period(
    cx: Ctx<'_>,
    name: &str,
    first_day: NaiveDate,
    last_day: NaiveDate,
) -> Result<KeyPeriodRecord, OpError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(OpError::invalid(
            "name_required",
            "请填写重点时期名称",
            "a key period needs a name",
        ));
    }
    if last_day < first_day {
        return Err(OpError::invalid(
            "invalid_window",
            "结束日期不能早于开始日期",
            "last_day is before first_day",
        ));
    }
    let rec = KeyPeriodRecord {
        id: 0,
        name: name.to_owned(),
        first_day,
        last_day,
        created_by: cx.actor.to_owned(),
        created_at: cx.now,
    };
    cx.store
        .add_key_period(
            &rec,
            cx.event(
                "key_period.add",
                name,
                json!({"first_day": first_day.to_string(), "last_day": last_day.to_string()}),
            ),
        )
        .await
        .map_err(|e| match e {
            govcloud_store::StoreError::Conflict(_) => conflict(
                "duplicate_key_period",
                "同名同起始日的重点时期已存在",
                "a key period with this name and first day exists",
            ),
            e => e.into(),
        })
}

/// Remove a key period (404 when there is none).
pub async fn remove_key_period(cx: Ctx<'_>, id: i64) -> Result<(), OpError> {
    let ev = cx.event("key_period.remove", &id.to_string(), json!({}));
    if cx.store.remove_key_period(id, ev).await? {
        Ok(())
    } else {
        Err(OpError::Api(Box::new(crate::error::ApiError::not_found(
            "重点时期",
            "key period",
        ))))
    }
}

/// The key periods shipped with govcloud (`catalog/key-periods.toml`), added when a contract
/// is loaded into a store that has none; editable afterwards.
pub const KEY_PERIODS: &str = include_str!("../../../catalog/key-periods.toml");

/// Add the bundled key periods when there are none.
pub async fn seed_key_periods(cx: Ctx<'_>) -> Result<usize, OpError> {
    if !cx.store.key_periods().await?.is_empty() {
        return Ok(0);
    }
    // A domain test checks that the bundled file parses.
    let periods = ops::parse_key_periods(KEY_PERIODS)
        .map_err(|e| OpError::invalid("key_periods_invalid", e.clone(), e))?;
    for p in &periods {
        add_key_period(cx, &p.name, p.first_day, p.last_day).await?;
    }
    Ok(periods.len())
}
