//! Operations documents (运维报告): the monthly operations report 月度运维报告 of one
//! package (availability, incidents with their SLA clocks, maintenance notices,
//! exceptions) as XLSX and PDF, and the outage report 宕机报告 of one incident as PDF.
//!
//! The inputs are plain presentation data: every string is preformatted by the caller
//! (times in Beijing time, e.g. "2026-10-20 10:00"; durations like "30分钟"), and is
//! printed as given, never interpreted as markup or a formula. The only values read as
//! numbers are the minutes and the availability percentage (and summary values that are
//! plain decimal numbers, which the workbook stores as numbers).
//!
//! Both renderings are deterministic: the document's creation time is its
//! `generated_at`, not the time of rendering, so the same report gives the same bytes.
//! The PDFs are typeset by the statement's typst world ([`crate::pdf`]) from
//! `templates/ops.typ`, one template with the two layouts.

mod document;
mod workbook;

use crate::ReportError;

/// The monthly operations report 月度运维报告 of one package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpsReport {
    pub contract_name: String,
    pub purchaser: String,
    pub provider: String,
    pub package_no: u32,
    pub package_name: String,
    /// "2026-10"
    pub month: String,
    pub generated_at: String,
    /// Label/value pairs shown first, e.g. ("故障总数","3"), ("SLA 超时","1"), ("维护通知","2"), ("例外事项","1").
    pub summary: Vec<(String, String)>,
    pub availability: Vec<AvailabilityRow>,
    pub incidents: Vec<IncidentRow>,
    pub notices: Vec<NoticeRow>,
    pub exceptions: Vec<ExceptionRow>,
}

/// The month's availability of one business system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AvailabilityRow {
    pub system: String,
    pub monitors: u32,
    pub observed: String,
    pub down_minutes: i64,
    pub planned_minutes: i64,
    /// "99.731" or None when not watched
    pub percent: Option<String>,
}

/// One SLA clock of an incident.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClockRow {
    /// e.g. "响应"
    pub label: String,
    /// "30分钟"
    pub limit: String,
    /// "30:01"
    pub elapsed: String,
    /// "达标" | "超时" | "计时中" | "未开始"
    pub state: String,
    pub breached: bool,
}

/// An incident of the month and its SLA clocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentRow {
    pub id: String,
    pub system: String,
    /// 宕机 | 故障
    pub severity: String,
    pub title: String,
    pub source: String,
    pub opened_at: String,
    pub closed_at: Option<String>,
    pub clocks: Vec<ClockRow>,
}

/// A maintenance notice 维护通知 of the month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeRow {
    pub title: String,
    pub systems: String,
    /// "2026-10-20 22:00 至 2026-10-21 02:00"
    pub window: String,
    pub published_at: String,
    /// "25小时"
    pub lead: String,
    /// "计划维护" | "紧急变更"
    pub kind: String,
    pub cancelled: bool,
}

/// An exception 例外事项 of the month and why it happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExceptionRow {
    /// "紧急变更" | "重点时期变更" | "SLA 超时"
    pub kind: String,
    pub subject: String,
    pub reason: String,
}

/// The outage report 宕机报告 of one incident.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutageReport {
    pub contract_name: String,
    pub package_no: u32,
    pub package_name: String,
    pub system: String,
    pub incident_id: String,
    pub title: String,
    pub severity: String,
    pub source: String,
    pub opened_at: String,
    pub closed_at: String,
    pub generated_at: String,
    /// (time, event label, actor/note)
    pub timeline: Vec<(String, String, String)>,
    pub cause: String,
    pub impact: String,
    pub actions: String,
    pub clocks: Vec<ClockRow>,
}

/// The title of the monthly operations report (and of its PDF).
pub const OPS_TITLE: &str = "月度运维报告";
/// The title of the outage report.
pub const OUTAGE_TITLE: &str = "宕机报告";
/// The sheets of the operations workbook, in order.
pub const OPS_SHEETS: [&str; 5] = ["概况", "可用率", "故障与SLA", "维护通知", "例外事项"];

/// The line printed instead of an empty section's table.
const NO_AVAILABILITY: &str = "本月无可用率数据";
const NO_INCIDENTS: &str = "本月无故障";
const NO_NOTICES: &str = "本月无维护通知";
const NO_EXCEPTIONS: &str = "本月无例外事项";
const NO_TIMELINE: &str = "无处置记录";
const NO_CLOCKS: &str = "无 SLA 计时";
/// A clock's state as printed: a breached clock says 超时 even while still running.
fn clock_state(c: &ClockRow) -> String {
    if c.breached && !c.state.contains("超时") {
        format!("{}（超时）", c.state)
    } else {
        c.state.clone()
    }
}

/// A Beijing-time string as (date, time): "2026-10-20 10:00", seconds optional, or a
/// bare date (00:00).
fn beijing(s: &str) -> Option<chrono::NaiveDateTime> {
    let s = s.trim();
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// Render the monthly operations report as an XLSX workbook (sheets [`OPS_SHEETS`]).
pub fn ops_xlsx(r: &OpsReport) -> Result<Vec<u8>, ReportError> {
    workbook::ops_xlsx(r)
}

/// Render the monthly operations report as PDF (A4 landscape, fonts embedded).
pub fn ops_pdf(r: &OpsReport) -> Result<Vec<u8>, ReportError> {
    document::ops_pdf(r)
}

/// Render the outage report of one incident as PDF (A4 portrait, fonts embedded).
pub fn outage_pdf(r: &OutageReport) -> Result<Vec<u8>, ReportError> {
    document::outage_pdf(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_times_parse_with_or_without_seconds() {
        let t = beijing("2026-10-20 10:00").unwrap();
        assert_eq!(t.to_string(), "2026-10-20 10:00:00");
        assert!(beijing("2026-10-20 10:00:30").is_some());
        assert_eq!(
            beijing(" 2026-10-20 ").unwrap().to_string(),
            "2026-10-20 00:00:00"
        );
        assert!(beijing("2026-10").is_none() && beijing("").is_none());
    }

    #[test]
    fn a_breached_clock_says_so() {
        let mut c = ClockRow {
            state: "超时".into(),
            breached: true,
            ..ClockRow::default()
        };
        assert_eq!(clock_state(&c), "超时");
        c.state = "计时中".into();
        assert_eq!(clock_state(&c), "计时中（超时）");
        c.breached = false;
        assert_eq!(clock_state(&c), "计时中");
    }
}
