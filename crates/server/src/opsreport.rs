//! The monthly operations report 月度运维报告 of a package and the outage report 宕机报告 of an
//! incident: figures from the store and the rules, preformatted for the renderers in
//! `govcloud_report::ops` (XLSX and PDF, sharing the statement renderer).
//!
//! What a month's report holds, for package N and month M (Beijing time):
//! - availability per business system of the package: its monitors' unplanned down spans
//!   (union) against the time they watched it within M; planned spans (inside notices)
//!   shown apart;
//! - incidents of package N opened in M, with every SLA clock's result (open ones as of
//!   now);
//! - notices of M (window overlapping M) that affect a system of the package;
//! - exceptions 例外事项: notices published less than 24 hours ahead (紧急变更), work in a
//!   key period (重点时期变更), and every breached clock (SLA 超时).

use chrono::{DateTime, Utc};
use govcloud_domain::catalog::Contract;
use govcloud_domain::ops::{self, availability, ClockStatus, Down, IncidentSeverity};
use govcloud_report::ops::{
    AvailabilityRow, ClockRow, ExceptionRow, IncidentRow, NoticeRow, OpsReport, OutageReport,
};
use govcloud_store::{IncidentFilter, IncidentRecord, Store};

use crate::incidents::{self as inc, IncidentView};
use crate::ops::OpError;

fn time(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A clock's elapsed time for people: 16分, 30分01秒, 4小时12分.
fn elapsed_zh(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let sec = if s > 0 {
        format!("{s:02}秒")
    } else {
        String::new()
    };
    match (h, m) {
        (0, 0) => format!("{s}秒"),
        (0, _) => format!("{m}分{sec}"),
        _ => format!("{h}小时{m:02}分{sec}"),
    }
}

fn clock_rows(clocks: &[ClockStatus]) -> Vec<ClockRow> {
    clocks
        .iter()
        .map(|k| ClockRow {
            label: k.clock.label_zh().to_owned(),
            limit: format!("{}分钟", k.limit_minutes),
            elapsed: elapsed_zh(k.elapsed_seconds),
            state: k.state.label_zh().to_owned(),
            breached: k.breached(),
        })
        .collect()
}

fn duration_zh(seconds: i64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (d, h) {
        (0, 0) => format!("{m}分钟"),
        (0, _) => format!("{h}小时{m}分钟"),
        _ => format!("{d}天{h}小时"),
    }
}

/// A month of the contract's operations, as of `now`.
#[derive(Clone, Copy)]
pub struct Month<'a> {
    pub store: &'a dyn Store,
    pub contract_id: &'a str,
    pub contract: &'a Contract,
    /// `YYYY-MM`
    pub month: &'a str,
    /// `[first instant, first instant of the next month)`, Beijing time.
    pub window: (DateTime<Utc>, DateTime<Utc>),
    pub now: DateTime<Utc>,
}

/// The report of package `package_no` for the month.
pub async fn monthly(m: &Month<'_>, package_no: i64) -> Result<OpsReport, OpError> {
    let Month {
        store,
        contract_id,
        contract: c,
        month,
        window: (from, to),
        now,
    } = *m;
    let p = inc::package(c, package_no)?;
    let monitors = store.monitors().await?;
    let downs = store.downs(from, to).await?;
    let mut avail = Vec::new();
    for sys in &p.systems {
        let ms: Vec<_> = monitors
            .iter()
            .filter(|m| m.package_no == package_no && m.system == sys.as_str())
            .collect();
        let name = inc::system_name(c, sys.as_str()).to_owned();
        let Some(watched_from) = ms.iter().map(|m| m.created_at).min() else {
            avail.push(AvailabilityRow {
                system: name,
                monitors: 0,
                observed: "未监控".into(),
                down_minutes: 0,
                planned_minutes: 0,
                percent: None,
            });
            continue;
        };
        let spans: Vec<Down> = downs
            .iter()
            .filter(|d| ms.iter().any(|m| m.id == d.monitor_id))
            .map(|d| Down {
                start: d.started_at,
                end: d.ended_at,
                planned: d.planned,
            })
            .collect();
        let a = availability(from, to, watched_from, &spans, now);
        avail.push(AvailabilityRow {
            system: name,
            monitors: ms.len() as u32,
            observed: if a.observed_seconds > 0 {
                duration_zh(a.observed_seconds)
            } else {
                "未监控".into()
            },
            down_minutes: a.down_seconds / 60,
            planned_minutes: a.planned_seconds / 60,
            percent: a.percent().map(|p| p.to_string()),
        });
    }

    let incidents = store
        .incidents(
            contract_id,
            &IncidentFilter {
                package_no: Some(package_no),
                from: Some(from),
                to: Some(to),
                open_only: false,
            },
        )
        .await?;
    let mut exceptions = Vec::new();
    let mut rows = Vec::new();
    let mut breached = 0;
    let mut outages = 0;
    // Oldest first in a report.
    for i in incidents.iter().rev() {
        let view = IncidentView::new(c, i, now);
        if i.severity == IncidentSeverity::Outage.code() {
            outages += 1;
        }
        for k in view.clocks.iter().filter(|k| k.breached()) {
            breached += 1;
            exceptions.push(ExceptionRow {
                kind: "SLA 超时".into(),
                subject: format!(
                    "{} {}：{}时限 {} 分钟，用时 {}",
                    i.id,
                    inc::system_name(c, &i.system),
                    k.clock.label_zh(),
                    k.limit_minutes,
                    elapsed_zh(k.elapsed_seconds)
                ),
                reason: if i.cause.is_empty() {
                    i.title.clone()
                } else {
                    i.cause.clone()
                },
            });
        }
        rows.push(incident_row(c, i, &view));
    }

    let notices: Vec<_> = store
        .notices(contract_id, Some(from), Some(to))
        .await?
        .into_iter()
        .filter(|n| {
            n.systems
                .iter()
                .any(|s| p.systems.iter().any(|x| x.as_str() == s))
        })
        .collect();
    let mut notice_rows = Vec::new();
    for n in &notices {
        let late = inc::late(n);
        if n.cancelled_at.is_none() {
            if late {
                exceptions.push(ExceptionRow {
                    kind: "紧急变更".into(),
                    subject: format!(
                        "{}（{} 开始，提前 {}发布）",
                        n.title,
                        time(n.start_at),
                        duration_zh((n.start_at - n.published_at).num_seconds().max(0))
                    ),
                    reason: n.reason.clone(),
                });
            }
            if !n.key_periods.is_empty() {
                exceptions.push(ExceptionRow {
                    kind: "重点时期变更".into(),
                    subject: format!("{}（{}）", n.title, n.key_periods.join("、")),
                    reason: n.override_reason.clone(),
                });
            }
        }
        notice_rows.push(NoticeRow {
            title: n.title.clone(),
            systems: n
                .systems
                .iter()
                .map(|s| inc::system_name(c, s))
                .collect::<Vec<_>>()
                .join("、"),
            window: format!("{} 至 {}", time(n.start_at), time(n.end_at)),
            published_at: time(n.published_at),
            lead: duration_zh((n.start_at - n.published_at).num_seconds().max(0)),
            kind: if late { "紧急变更" } else { "计划维护" }.into(),
            cancelled: n.cancelled_at.is_some(),
        });
    }

    let summary = vec![
        ("故障总数".to_owned(), rows.len().to_string()),
        ("其中宕机".to_owned(), outages.to_string()),
        ("SLA 超时".to_owned(), breached.to_string()),
        ("维护通知".to_owned(), notice_rows.len().to_string()),
        ("例外事项".to_owned(), exceptions.len().to_string()),
        (
            "监控项".to_owned(),
            avail.iter().map(|a| a.monitors).sum::<u32>().to_string(),
        ),
    ];
    Ok(OpsReport {
        contract_name: c.name.clone(),
        purchaser: c.purchaser.clone(),
        provider: crate::statements::provider_name(),
        package_no: u32::from(p.number.get()),
        package_name: p.short_name.clone(),
        month: month.to_owned(),
        generated_at: time(now),
        summary,
        availability: avail,
        incidents: rows,
        notices: notice_rows,
        exceptions,
    })
}

fn incident_row(c: &Contract, i: &IncidentRecord, view: &IncidentView<'_>) -> IncidentRow {
    IncidentRow {
        id: i.id.clone(),
        system: inc::system_name(c, &i.system).to_owned(),
        severity: IncidentSeverity::from_code(&i.severity)
            .map_or("", |s| s.label_zh())
            .to_owned(),
        title: i.title.clone(),
        source: inc::source_zh(&i.source).to_owned(),
        opened_at: time(i.opened_at),
        closed_at: i.closed_at.map(time),
        clocks: clock_rows(&view.clocks),
    }
}

/// The outage report of a closed outage; `None` for other incidents.
pub fn outage(c: &Contract, i: &IncidentRecord, now: DateTime<Utc>) -> Option<OutageReport> {
    let closed_at = i.closed_at?;
    if i.severity != IncidentSeverity::Outage.code() {
        return None;
    }
    let p = inc::package(c, i.package_no).ok()?;
    let view = IncidentView::new(c, i, now);
    let mut timeline = vec![(
        time(i.opened_at),
        "故障发生".to_owned(),
        format!("{}（{}）", inc::source_zh(&i.source), i.opened_by),
    )];
    let mut events: Vec<_> = i.events.iter().collect();
    events.sort_by_key(|e| e.at);
    for e in events {
        let label = ops::EventKind::from_code(&e.kind).map_or(e.kind.as_str(), |k| k.label_zh());
        let who = if e.note.is_empty() {
            e.actor.clone()
        } else {
            format!("{}：{}", e.actor, e.note)
        };
        timeline.push((time(e.at), label.to_owned(), who));
    }
    Some(OutageReport {
        contract_name: c.name.clone(),
        package_no: u32::from(p.number.get()),
        package_name: p.short_name.clone(),
        system: inc::system_name(c, &i.system).to_owned(),
        incident_id: i.id.clone(),
        title: i.title.clone(),
        severity: "宕机".into(),
        source: inc::source_zh(&i.source).to_owned(),
        opened_at: time(i.opened_at),
        closed_at: time(closed_at),
        generated_at: time(now),
        timeline,
        cause: i.cause.clone(),
        impact: i.impact.clone(),
        actions: i.actions.clone(),
        clocks: clock_rows(&view.clocks),
    })
}

/// The 服务水平 figures of a monthly service statement for one business system (by its
/// name): its availability, incidents and SLA results, and notices, from its package's
/// operations report of the month.
pub fn statement_figures(r: &OpsReport, name: &str) -> Vec<govcloud_domain::statement::SlaFigure> {
    use govcloud_domain::statement::SlaFigure;
    let fig = |label: &str, value: String| SlaFigure {
        label: label.to_owned(),
        value,
    };
    let availability = r
        .availability
        .iter()
        .find(|a| a.system == name)
        .and_then(|a| a.percent.clone())
        .map_or_else(|| "未监控".to_owned(), |p| format!("{p}%"));
    let incidents: Vec<_> = r.incidents.iter().filter(|i| i.system == name).collect();
    let outages = incidents.iter().filter(|i| i.severity == "宕机").count();
    let breached: usize = incidents
        .iter()
        .map(|i| i.clocks.iter().filter(|k| k.breached).count())
        .sum();
    let notices: Vec<_> = r
        .notices
        .iter()
        .filter(|n| !n.cancelled && n.systems.split('、').any(|s| s == name))
        .collect();
    let emergency = notices.iter().filter(|n| n.kind == "紧急变更").count();
    vec![
        fig("监控可用率", availability),
        fig(
            "故障（其中宕机）",
            format!("{}（{}）", incidents.len(), outages),
        ),
        fig("SLA 超时", breached.to_string()),
        fig(
            "维护通知（其中紧急变更）",
            format!("{}（{}）", notices.len(), emergency),
        ),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn elapsed_times_read_in_chinese() {
        for (s, want) in [
            (0, "0秒"),
            (59, "59秒"),
            (960, "16分"),
            (1801, "30分01秒"),
            (4 * 3600 + 12 * 60, "4小时12分"),
            (4 * 3600 + 1, "4小时00分01秒"),
        ] {
            assert_eq!(super::elapsed_zh(s), want);
        }
    }
}
