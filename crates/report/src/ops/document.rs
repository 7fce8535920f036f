//! The operations documents as PDF: the data handed to `templates/ops.typ` (one template,
//! two layouts chosen by `landscape` and the sections present).
//!
//! The template is generic: a header block, then sections that are summary cards, a
//! table (columns with widths and alignment, rows of cells that may span rows and be
//! marked) or a paragraph, each with the line it shows when it has nothing, then the
//! signatures. Everything the reader sees is decided here, as strings.

use rust_decimal::Decimal;
use serde::Serialize;

use super::{
    beijing, clock_state, ClockRow, OpsReport, OutageReport, NO_AVAILABILITY, NO_CLOCKS,
    NO_EXCEPTIONS, NO_INCIDENTS, NO_NOTICES, NO_TIMELINE, OPS_TITLE, OUTAGE_TITLE,
};
use crate::pdf::{beijing_timestamp, render, Meta};
use crate::{grouped, ReportError};

const TEMPLATE: &str = include_str!("../../templates/ops.typ");

/// What a paragraph section the caller left empty shows.
const NOT_GIVEN: &str = "（未填写）";

#[derive(Serialize)]
struct Data {
    title: String,
    author: String,
    heading: &'static str,
    landscape: bool,
    footer_left: String,
    footer_right: String,
    header: Vec<Pair>,
    sections: Vec<Section>,
}

#[derive(Serialize)]
struct Pair {
    label: String,
    value: String,
}

fn pair(label: &str, value: impl Into<String>) -> Pair {
    Pair {
        label: label.to_owned(),
        value: value.into(),
    }
}

#[derive(Serialize)]
struct Section {
    title: String,
    /// "cards" (`pairs`), "table" (`columns`, `rows`) or "text" (`text`).
    kind: &'static str,
    /// Shown instead of the content when there is none.
    empty: Option<&'static str>,
    pairs: Vec<Pair>,
    columns: Vec<Column>,
    rows: Vec<Vec<Cell>>,
    text: String,
}

impl Section {
    fn new(title: &str, kind: &'static str) -> Self {
        Section {
            title: title.to_owned(),
            kind,
            empty: None,
            pairs: Vec::new(),
            columns: Vec::new(),
            rows: Vec::new(),
            text: String::new(),
        }
    }

    fn table(title: &str, columns: Vec<Column>, rows: Vec<Vec<Cell>>, none: &'static str) -> Self {
        Section {
            empty: rows.is_empty().then_some(none),
            columns,
            rows,
            ..Section::new(title, "table")
        }
    }

    fn text(title: &str, text: &str) -> Self {
        let given = !text.trim().is_empty();
        Section {
            empty: (!given).then_some(NOT_GIVEN),
            text: text.to_owned(),
            ..Section::new(title, "text")
        }
    }
}

#[derive(Serialize)]
struct Column {
    name: &'static str,
    /// Millimetres, or `None`: as wide as the content (`fit`) or the rest of the width.
    width: Option<f64>,
    fit: bool,
}

fn col(name: &'static str, width: f64) -> Column {
    Column {
        name,
        width: Some(width),
        fit: false,
    }
}

fn rest(name: &'static str) -> Column {
    Column {
        name,
        width: None,
        fit: false,
    }
}

/// A column of identifiers, which cannot wrap ("INC-2026-0042" has no break opportunity
/// before its digits): as wide as its widest content.
fn fit(name: &'static str) -> Column {
    Column {
        name,
        width: None,
        fit: true,
    }
}

#[derive(Serialize)]
struct Cell {
    text: String,
    /// "left", "center" or "right".
    align: &'static str,
    rowspan: usize,
    /// "" or "alert" (a breached clock) or "muted" (a cancelled notice).
    tone: &'static str,
}

fn left(text: impl Into<String>) -> Cell {
    Cell {
        text: text.into(),
        align: "left",
        rowspan: 1,
        tone: "",
    }
}

fn center(text: impl Into<String>) -> Cell {
    Cell {
        align: "center",
        ..left(text)
    }
}

fn right(text: impl Into<String>) -> Cell {
    Cell {
        align: "right",
        ..left(text)
    }
}

fn minutes(m: i64) -> String {
    grouped(Decimal::from(m), 0)
}

/// A clock's four cells, its state marked when breached.
fn clock_cells(c: &ClockRow) -> [Cell; 4] {
    [
        center(&c.label),
        center(&c.limit),
        center(&c.elapsed),
        Cell {
            tone: if c.breached { "alert" } else { "" },
            ..center(clock_state(c))
        },
    ]
}

fn clock_columns() -> [Column; 4] {
    [
        col("时限项", 14.0),
        col("时限", 17.0),
        col("用时", 15.0),
        col("状态", 22.0),
    ]
}

/// The PDF's creation date: `generated_at` (Beijing time), or the first of the month.
fn meta(ident: String, generated_at: &str, month: Option<&str>) -> Meta {
    let t = beijing(generated_at).or_else(|| month.and_then(|m| beijing(&format!("{m}-01"))));
    Meta {
        ident,
        created: t.and_then(beijing_timestamp),
    }
}

fn ops_data(r: &OpsReport) -> Data {
    let mut sections = Vec::new();

    let mut summary = Section::new("一、概况", "cards");
    summary.pairs = r.summary.iter().map(|(l, v)| pair(l, v.as_str())).collect();
    summary.empty = summary.pairs.is_empty().then_some("无");
    sections.push(summary);

    let rows = r
        .availability
        .iter()
        .map(|a| {
            vec![
                left(&a.system),
                right(a.monitors.to_string()),
                center(&a.observed),
                right(minutes(a.down_minutes)),
                right(minutes(a.planned_minutes)),
                match &a.percent {
                    Some(p) => right(format!("{p}%")),
                    None => center("未监控"),
                },
            ]
        })
        .collect();
    sections.push(Section::table(
        "二、可用率",
        vec![
            rest("业务系统"),
            col("监控项", 18.0),
            col("观测时长", 40.0),
            col("宕机（分钟）", 28.0),
            col("计划维护（分钟）", 32.0),
            col("可用率", 26.0),
        ],
        rows,
        NO_AVAILABILITY,
    ));

    let mut rows = Vec::new();
    for i in &r.incidents {
        let span = i.clocks.len().max(1);
        let spanned = |c: Cell| Cell { rowspan: span, ..c };
        let mut first = vec![
            spanned(left(&i.id)),
            spanned(left(&i.system)),
            spanned(center(&i.severity)),
            spanned(left(&i.title)),
            spanned(center(&i.source)),
            spanned(center(&i.opened_at)),
            spanned(center(i.closed_at.as_deref().unwrap_or("未关闭"))),
        ];
        let mut clocks = i.clocks.iter();
        match clocks.next() {
            Some(c) => first.extend(clock_cells(c)),
            None => first.extend([center("—"), center(""), center(""), center("")]),
        }
        rows.push(first);
        rows.extend(clocks.map(|c| clock_cells(c).into()));
    }
    let mut columns = vec![
        fit("编号"),
        col("业务系统", 28.0),
        col("级别", 11.0),
        rest("标题"),
        col("来源", 20.0),
        col("发生时间", 28.0),
        col("关闭时间", 28.0),
    ];
    columns.extend(clock_columns());
    sections.push(Section::table(
        "三、故障与 SLA",
        columns,
        rows,
        NO_INCIDENTS,
    ));

    let rows = r
        .notices
        .iter()
        .map(|n| {
            let mut cells = vec![
                left(&n.title),
                left(&n.systems),
                center(&n.window),
                center(&n.published_at),
                center(&n.lead),
                center(&n.kind),
                center(if n.cancelled { "已取消" } else { "有效" }),
            ];
            if n.cancelled {
                for c in &mut cells {
                    c.tone = "muted";
                }
            }
            cells
        })
        .collect();
    sections.push(Section::table(
        "四、维护通知",
        vec![
            rest("标题"),
            col("涉及系统", 40.0),
            col("维护窗口", 58.0),
            col("发布时间", 28.0),
            col("提前量", 16.0),
            col("类型", 18.0),
            col("状态", 14.0),
        ],
        rows,
        NO_NOTICES,
    ));

    let rows = r
        .exceptions
        .iter()
        .enumerate()
        .map(|(n, e)| {
            vec![
                center((n + 1).to_string()),
                center(&e.kind),
                left(&e.subject),
                left(&e.reason),
            ]
        })
        .collect();
    sections.push(Section::table(
        "五、例外事项",
        vec![
            col("序号", 11.0),
            col("类型", 28.0),
            col("事项", 80.0),
            rest("原因"),
        ],
        rows,
        NO_EXCEPTIONS,
    ));

    Data {
        title: format!(
            "{OPS_TITLE} {} 第{}包 {}",
            r.month, r.package_no, r.package_name
        ),
        author: r.provider.clone(),
        heading: OPS_TITLE,
        landscape: true,
        // Short identifiers only (never wrapping into the page number).
        footer_left: format!("{OPS_TITLE} · 第{}包 · {}", r.package_no, r.month),
        footer_right: format!("生成于 {}", r.generated_at),
        header: vec![
            pair("合同", r.contract_name.as_str()),
            pair("服务商", r.provider.as_str()),
            pair("包", format!("第{}包 {}", r.package_no, r.package_name)),
            pair("采购人", r.purchaser.as_str()),
            pair("月份", r.month.as_str()),
            pair("生成时间", r.generated_at.as_str()),
        ],
        sections,
    }
}

/// "3 小时 25 分钟" between two Beijing times, when both parse and are in order.
fn duration(from: &str, to: &str) -> Option<String> {
    let m = (beijing(to)? - beijing(from)?).num_minutes();
    match (m / 1440, m % 1440 / 60, m % 60) {
        _ if m < 0 => None,
        (0, 0, m) => Some(format!("{m} 分钟")),
        (0, h, m) => Some(format!("{h} 小时 {m} 分钟")),
        (d, h, m) => Some(format!("{d} 天 {h} 小时 {m} 分钟")),
    }
}

fn outage_data(r: &OutageReport) -> Data {
    // Read in pairs across two columns: the two times side by side.
    let mut header = vec![
        pair("合同", r.contract_name.as_str()),
        pair("包", format!("第{}包 {}", r.package_no, r.package_name)),
        pair("业务系统", r.system.as_str()),
        pair("事件编号", r.incident_id.as_str()),
        pair("事件", r.title.as_str()),
        pair("级别", r.severity.as_str()),
        pair("发生时间", r.opened_at.as_str()),
        pair("关闭时间", r.closed_at.as_str()),
    ];
    if let Some(d) = duration(&r.opened_at, &r.closed_at) {
        header.push(pair("持续时间", d));
    }
    header.push(pair("来源", r.source.as_str()));
    header.push(pair("生成时间", r.generated_at.as_str()));

    let timeline = r
        .timeline
        .iter()
        .map(|(t, event, note)| vec![center(t), left(event), left(note)])
        .collect();
    let clocks = r.clocks.iter().map(|c| clock_cells(c).into()).collect();
    let mut clock_cols: Vec<Column> = clock_columns().into();
    clock_cols[0] = rest("时限项");
    Data {
        title: format!("{OUTAGE_TITLE} {} {}", r.incident_id, r.title),
        author: String::new(),
        heading: OUTAGE_TITLE,
        landscape: false,
        footer_left: format!("{OUTAGE_TITLE} · {}", r.incident_id),
        footer_right: format!("生成于 {}", r.generated_at),
        header,
        sections: vec![
            Section::table(
                "一、处置经过",
                vec![col("时间", 30.0), col("事件", 40.0), rest("处理人 / 说明")],
                timeline,
                NO_TIMELINE,
            ),
            Section::text("二、原因分析", &r.cause),
            Section::text("三、影响范围", &r.impact),
            Section::text("四、处置措施", &r.actions),
            Section::table("五、SLA 计时", clock_cols, clocks, NO_CLOCKS),
        ],
    }
}

pub(super) fn ops_pdf(r: &OpsReport) -> Result<Vec<u8>, ReportError> {
    let ident = format!(
        "govcloud-ops/{}/{}/{}",
        r.contract_name, r.package_no, r.month
    );
    render(
        TEMPLATE,
        &ops_data(r),
        meta(ident, &r.generated_at, Some(&r.month)),
    )
}

pub(super) fn outage_pdf(r: &OutageReport) -> Result<Vec<u8>, ReportError> {
    let ident = format!(
        "govcloud-outage/{}/{}/{}",
        r.contract_name, r.package_no, r.incident_id
    );
    let month = r.opened_at.get(..7);
    render(
        TEMPLATE,
        &outage_data(r),
        meta(ident, &r.generated_at, month),
    )
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_between_beijing_times() {
        let d = |a, b| duration(a, b);
        assert_eq!(
            d("2026-10-20 10:00", "2026-10-20 10:45").unwrap(),
            "45 分钟"
        );
        assert_eq!(
            d("2026-10-20 10:00", "2026-10-20 13:25").unwrap(),
            "3 小时 25 分钟"
        );
        assert_eq!(
            d("2026-10-20 10:00", "2026-10-22 11:05").unwrap(),
            "2 天 1 小时 5 分钟"
        );
        assert_eq!(d("2026-10-20 10:00", "2026-10-20 09:00"), None);
        assert_eq!(d("2026-10-20 10:00", ""), None);
    }
}
