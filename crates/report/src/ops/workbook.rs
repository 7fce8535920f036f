//! The monthly operations report as an Excel workbook: 概况 (header block, summary and
//! signatures), then one sheet per table (可用率, 故障与SLA, 维护通知, 例外事项), each with
//! its title, a frozen header row repeated on every printed page, A4 landscape.
//!
//! Minutes and counts are numbers, the availability a number of percent shown as
//! `99.731%`. An incident's columns are merged down over its clocks' rows (one row per
//! clock). An empty table is a line such as 本月无故障 instead.

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, XlsxError};

use super::{
    beijing, clock_state, IncidentRow, OpsReport, NO_AVAILABILITY, NO_EXCEPTIONS, NO_INCIDENTS,
    NO_NOTICES, OPS_SHEETS, OPS_TITLE,
};
use crate::xlsx::{clamp_widths, err, Sheet};
use crate::{display_width, ReportError};

const AVAILABILITY: [&str; 6] = [
    "业务系统",
    "监控项",
    "观测时长",
    "宕机（分钟）",
    "计划维护（分钟）",
    "可用率",
];
const INCIDENTS: [&str; 11] = [
    "编号",
    "业务系统",
    "级别",
    "标题",
    "来源",
    "发生时间",
    "关闭时间",
    "时限项",
    "时限",
    "用时",
    "状态",
];
const NOTICES: [&str; 7] = [
    "标题",
    "涉及系统",
    "维护窗口",
    "发布时间",
    "提前量",
    "类型",
    "状态",
];
const EXCEPTIONS: [&str; 4] = ["序号", "类型", "事项", "原因"];

/// What an open incident shows as its closing time.
const OPEN: &str = "未关闭";
/// What a system without monitors shows as its availability.
const UNWATCHED: &str = "未监控";

/// A summary value as a number when it is a plain decimal number ("3", "99.5").
fn plain_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    let ok = !digits.is_empty()
        && !digits.starts_with('.')
        && !digits.ends_with('.')
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1;
    ok.then(|| t.parse().ok()).flatten()
}

/// Column widths for a table: the widest of header and cells per column, clamped.
fn widths(headers: &[&str], rows: &[Vec<String>], min: &[f64], max: &[f64]) -> Vec<f64> {
    let mut w: Vec<usize> = headers.iter().map(|h| display_width(h)).collect();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            w[c] = w[c].max(display_width(cell));
        }
    }
    clamp_widths(&w, min, max)
}

/// The workbook's creation time: the report's `generated_at` (Beijing time) in UTC, or
/// the first of its month; never the time of rendering.
fn created(r: &OpsReport) -> Result<ExcelDateTime, XlsxError> {
    let t = beijing(&r.generated_at).or_else(|| beijing(&format!("{}-01", r.month)));
    match t {
        Some(t) => ExcelDateTime::from_timestamp(t.and_utc().timestamp() - 8 * 3600),
        None => ExcelDateTime::from_ymd(2000, 1, 1),
    }
}

pub(super) fn ops_xlsx(r: &OpsReport) -> Result<Vec<u8>, ReportError> {
    build(r).map_err(err)
}

fn build(r: &OpsReport) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!(
                "{OPS_TITLE} {} 第{}包 {}",
                r.month, r.package_no, r.package_name
            ))
            .set_subject(&r.contract_name)
            .set_author(&r.provider)
            .set_company(&r.provider)
            .set_creation_datetime(&created(r)?),
    );
    // A sheet's title: which report, month and package it belongs to.
    let title = |sheet: &str| {
        format!(
            "{sheet} · {} · 第{}包 {}",
            r.month, r.package_no, r.package_name
        )
    };
    overview(&mut wb, r)?;
    availability(&mut wb, r, &title(OPS_SHEETS[1]))?;
    incidents(&mut wb, r, &title("故障与 SLA"))?;
    notices(&mut wb, r, &title(OPS_SHEETS[3]))?;
    exceptions(&mut wb, r, &title(OPS_SHEETS[4]))?;
    wb.save_to_buffer()
}

fn sheet<'a>(wb: &'a mut Workbook, name: &str, widths: Vec<f64>) -> Result<Sheet<'a>, XlsxError> {
    let ws = wb.add_worksheet();
    ws.set_name(name)?;
    let mut sh = Sheet::new(ws, widths)?;
    sh.print_setup();
    Ok(sh)
}

/// The line that stands for an empty table.
fn none_line(sh: &mut Sheet<'_>, text: &str) -> Result<(), XlsxError> {
    sh.ws
        .write_string_with_format(sh.row, 0, text, &sh.f.label)?;
    sh.row += 1;
    Ok(())
}

fn overview(wb: &mut Workbook, r: &OpsReport) -> Result<(), XlsxError> {
    let value_w = r
        .summary
        .iter()
        .map(|(_, v)| display_width(v))
        .max()
        .unwrap_or(0);
    let label_w = r
        .summary
        .iter()
        .map(|(l, _)| display_width(l))
        .max()
        .unwrap_or(0);
    // A:B labels (the summary's merged), C the summary's values, C:D the header's values.
    let a = (label_w as f64 / 2.0 + 2.0).clamp(9.0, 20.0);
    let c = (value_w as f64 + 2.0).clamp(12.0, 30.0);
    let mut sh = sheet(wb, OPS_SHEETS[0], vec![a, a, c, 48.0])?;
    sh.title(OPS_TITLE)?;
    sh.pair("合同", &r.contract_name)?;
    sh.pair("包", &format!("第{}包 {}", r.package_no, r.package_name))?;
    sh.pair("采购人", &r.purchaser)?;
    sh.pair("服务商", &r.provider)?;
    sh.pair("月份", &r.month)?;
    sh.pair("生成时间", &r.generated_at)?;
    sh.section("概况")?;
    if r.summary.is_empty() {
        none_line(&mut sh, "无")?;
    } else {
        let row = sh.row;
        sh.ws.merge_range(row, 0, row, 1, "项目", &sh.f.head)?;
        sh.ws.write_string_with_format(row, 2, "数值", &sh.f.head)?;
        sh.row += 1;
        for (label, value) in &r.summary {
            let row = sh.row;
            sh.ws.merge_range(row, 0, row, 1, label, &sh.f.wrap)?;
            match plain_number(value) {
                Some(n) => {
                    // As many decimals as the caller wrote ("99.730" stays 99.730).
                    let f = match value.trim().split_once('.') {
                        Some((_, frac)) => {
                            sh.f.count
                                .clone()
                                .set_num_format(format!("#,##0.{}", "0".repeat(frac.len())))
                        }
                        None => sh.f.count.clone(),
                    };
                    sh.ws.write_number_with_format(row, 2, n, &f)?
                }
                None => sh
                    .ws
                    .write_string_with_format(row, 2, value, &sh.f.center)?,
            };
            sh.row += 1;
        }
    }
    sh.sign_off(0, 3)?;
    Ok(())
}

/// A table sheet: title, then the header row (frozen, repeated) or the empty line.
fn table_sheet<'a>(
    wb: &'a mut Workbook,
    name: &str,
    title: &str,
    headers: &[&str],
    widths: Vec<f64>,
    empty: Option<&str>,
) -> Result<Sheet<'a>, XlsxError> {
    let mut sh = sheet(wb, name, widths)?;
    sh.title(title)?;
    match empty {
        Some(text) => none_line(&mut sh, text)?,
        None => sh.table_head(headers)?,
    }
    Ok(sh)
}

fn availability(wb: &mut Workbook, r: &OpsReport, title: &str) -> Result<(), XlsxError> {
    let cells: Vec<Vec<String>> = r
        .availability
        .iter()
        .map(|a| {
            vec![
                a.system.clone(),
                a.monitors.to_string(),
                a.observed.clone(),
                a.down_minutes.to_string(),
                a.planned_minutes.to_string(),
                a.percent.clone().map_or(UNWATCHED.to_owned(), |p| p + "%"),
            ]
        })
        .collect();
    let w = widths(
        &AVAILABILITY,
        &cells,
        &[16.0, 8.0, 14.0, 12.0, 16.0, 11.0],
        &[40.0, 10.0, 30.0, 16.0, 18.0, 14.0],
    );
    let empty = r.availability.is_empty().then_some(NO_AVAILABILITY);
    let mut sh = table_sheet(wb, OPS_SHEETS[1], title, &AVAILABILITY, w, empty)?;
    for a in &r.availability {
        let (row, f) = (sh.row, &sh.f);
        let ws = &mut *sh.ws;
        ws.write_string_with_format(row, 0, &a.system, &f.wrap)?;
        ws.write_number_with_format(row, 1, f64::from(a.monitors), &f.count)?;
        ws.write_string_with_format(row, 2, &a.observed, &f.center)?;
        ws.write_number_with_format(row, 3, a.down_minutes as f64, &f.count)?;
        ws.write_number_with_format(row, 4, a.planned_minutes as f64, &f.count)?;
        match a.percent.as_deref().map(|p| (p, p.trim().parse::<f64>())) {
            Some((_, Ok(p))) => ws.write_number_with_format(row, 5, p, &f.percent)?,
            Some((p, Err(_))) => ws.write_string_with_format(row, 5, p, &f.center)?,
            None => ws.write_string_with_format(row, 5, UNWATCHED, &f.center)?,
        };
        sh.row += 1;
    }
    Ok(())
}

fn incident_cells(i: &IncidentRow) -> [&str; 7] {
    [
        &i.id,
        &i.system,
        &i.severity,
        &i.title,
        &i.source,
        &i.opened_at,
        i.closed_at.as_deref().unwrap_or(OPEN),
    ]
}

fn incidents(wb: &mut Workbook, r: &OpsReport, title: &str) -> Result<(), XlsxError> {
    let cells: Vec<Vec<String>> = r
        .incidents
        .iter()
        .flat_map(|i| {
            let head: Vec<String> = incident_cells(i).map(str::to_owned).into();
            let clocks: Vec<Vec<String>> = i
                .clocks
                .iter()
                .map(|c| {
                    vec![
                        c.label.clone(),
                        c.limit.clone(),
                        c.elapsed.clone(),
                        clock_state(c),
                    ]
                })
                .collect();
            let mut rows = vec![head];
            for (n, c) in clocks.into_iter().enumerate() {
                if n > 0 {
                    rows.push(vec![String::new(); 7]);
                }
                rows.last_mut().unwrap().extend(c);
            }
            rows
        })
        .collect();
    let w = widths(
        &INCIDENTS,
        &cells,
        &[10.0, 12.0, 6.0, 20.0, 8.0, 17.0, 17.0, 8.0, 9.0, 8.0, 8.0],
        &[
            24.0, 24.0, 8.0, 40.0, 14.0, 18.0, 18.0, 12.0, 12.0, 10.0, 16.0,
        ],
    );
    let empty = r.incidents.is_empty().then_some(NO_INCIDENTS);
    let mut sh = table_sheet(wb, OPS_SHEETS[2], title, &INCIDENTS, w, empty)?;
    for i in &r.incidents {
        let first = sh.row;
        let last = first + i.clocks.len().max(1) as u32 - 1;
        for (c, text) in incident_cells(i).into_iter().enumerate() {
            let f = match c {
                2 | 4..=6 => &sh.f.center,
                _ => &sh.f.wrap,
            };
            if last > first {
                sh.ws
                    .merge_range(first, c as u16, last, c as u16, text, f)?;
            } else {
                sh.ws.write_string_with_format(first, c as u16, text, f)?;
            }
        }
        if i.clocks.is_empty() {
            for c in 7..11 {
                sh.ws.write_blank(first, c, &sh.f.text)?;
            }
        }
        for (n, c) in i.clocks.iter().enumerate() {
            let (row, f) = (first + n as u32, &sh.f);
            let ws = &mut *sh.ws;
            ws.write_string_with_format(row, 7, &c.label, &f.center)?;
            ws.write_string_with_format(row, 8, &c.limit, &f.center)?;
            ws.write_string_with_format(row, 9, &c.elapsed, &f.center)?;
            let state: &Format = if c.breached { &f.alert } else { &f.center };
            ws.write_string_with_format(row, 10, clock_state(c), state)?;
        }
        sh.row = last + 1;
    }
    Ok(())
}

fn notices(wb: &mut Workbook, r: &OpsReport, title: &str) -> Result<(), XlsxError> {
    let state = |cancelled: bool| if cancelled { "已取消" } else { "有效" };
    let cells: Vec<Vec<String>> = r
        .notices
        .iter()
        .map(|n| {
            vec![
                n.title.clone(),
                n.systems.clone(),
                n.window.clone(),
                n.published_at.clone(),
                n.lead.clone(),
                n.kind.clone(),
                state(n.cancelled).to_owned(),
            ]
        })
        .collect();
    let w = widths(
        &NOTICES,
        &cells,
        &[20.0, 14.0, 36.0, 17.0, 8.0, 10.0, 8.0],
        &[44.0, 30.0, 40.0, 18.0, 12.0, 14.0, 8.0],
    );
    let empty = r.notices.is_empty().then_some(NO_NOTICES);
    let mut sh = table_sheet(wb, OPS_SHEETS[3], title, &NOTICES, w, empty)?;
    for (row, c) in cells.iter().enumerate() {
        let row = sh.row + row as u32;
        for (col, text) in c.iter().enumerate() {
            let f = match col {
                0 | 1 => &sh.f.wrap,
                _ => &sh.f.center,
            };
            sh.ws.write_string_with_format(row, col as u16, text, f)?;
        }
    }
    sh.row += cells.len() as u32;
    Ok(())
}

fn exceptions(wb: &mut Workbook, r: &OpsReport, title: &str) -> Result<(), XlsxError> {
    let cells: Vec<Vec<String>> = r
        .exceptions
        .iter()
        .enumerate()
        .map(|(n, e)| {
            vec![
                (n + 1).to_string(),
                e.kind.clone(),
                e.subject.clone(),
                e.reason.clone(),
            ]
        })
        .collect();
    let w = widths(
        &EXCEPTIONS,
        &cells,
        &[6.0, 14.0, 30.0, 50.0],
        &[6.0, 16.0, 50.0, 70.0],
    );
    let empty = r.exceptions.is_empty().then_some(NO_EXCEPTIONS);
    let mut sh = table_sheet(wb, OPS_SHEETS[4], title, &EXCEPTIONS, w, empty)?;
    for (n, e) in r.exceptions.iter().enumerate() {
        let (row, f) = (sh.row, &sh.f);
        let ws = &mut *sh.ws;
        ws.write_number_with_format(row, 0, (n + 1) as f64, &f.center)?;
        ws.write_string_with_format(row, 1, &e.kind, &f.center)?;
        ws.write_string_with_format(row, 2, &e.subject, &f.wrap)?;
        ws.write_string_with_format(row, 3, &e.reason, &f.wrap)?;
        sh.row += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::plain_number;

    #[test]
    fn only_plain_numbers_are_numbers() {
        assert_eq!(plain_number("3"), Some(3.0));
        assert_eq!(plain_number(" 99.5 "), Some(99.5));
        assert_eq!(plain_number("-2"), Some(-2.0));
        for s in [
            "", "1e3", "99.9%", "1,000", ".5", "5.", "NaN", "inf", "1.2.3", "3小时",
        ] {
            assert_eq!(plain_number(s), None, "{s}");
        }
    }
}
