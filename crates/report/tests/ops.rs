//! The operations documents as a reader gets them: the PDFs' text extracted with
//! poppler's `pdftotext`, their fonts listed by `pdffonts`; the workbook read back with
//! calamine. The same report always gives the same bytes.

mod common;

use std::io::Cursor;

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use common::{pdf_pages, pdf_tool};
use govcloud_report::ops::{ops_pdf, ops_xlsx, outage_pdf, OpsReport, OutageReport, OPS_SHEETS};

/// Hostile text for the operations documents: typst markup and code among the rest.
const HOSTILE: &str =
    r#"#panic("x") *bold* $math$ ] [ _斜_ #eval("1") <b>&amp; =SUM(A1) \ `y` // 注释"#;

/// The pages' text with all white space removed (typst sets a thin space between
/// Chinese and Latin; cells wrap), and the pages themselves.
fn text(bytes: &[u8]) -> Option<(String, Vec<String>)> {
    let pages = pdf_pages(bytes)?;
    let squeezed = pages.join("\n").split_whitespace().collect();
    Some((squeezed, pages))
}

fn squeeze(s: &str) -> String {
    s.split_whitespace().collect()
}

fn assert_page_numbers(pages: &[String]) {
    let n = pages.len();
    for (i, p) in pages.iter().enumerate() {
        assert!(
            squeeze(p).contains(&format!("第{}页/共{n}页", i + 1)),
            "page {}:\n{p}",
            i + 1
        );
    }
}

fn assert_fonts_embedded(bytes: &[u8]) {
    let Some(fonts) = pdf_tool("pdffonts", bytes) else {
        return;
    };
    let noto: Vec<&str> = fonts
        .lines()
        .filter(|l| l.contains("NotoSansCJK"))
        .collect();
    assert!(!noto.is_empty(), "{fonts}");
    for l in &noto {
        let cols: Vec<&str> = l.split_whitespace().collect();
        let n = cols.len();
        assert_eq!(&cols[n - 5..n - 2], ["yes", "yes", "yes"], "{l}");
    }
}

#[test]
fn the_monthly_report_pdf_shows_every_section() {
    let r = common::ops_sample();
    let bytes = ops_pdf(&r).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    common::dump("ops.pdf", &bytes);
    assert_eq!(ops_pdf(&r).unwrap(), bytes, "same report, same bytes");
    assert_fonts_embedded(&bytes);
    let Some((all, pages)) = text(&bytes) else {
        return;
    };
    for want in [
        "月度运维报告",
        &r.contract_name,
        &r.provider,
        "第1包云计算资源服务",
        // Summary, availability, incidents and their clocks.
        "故障总数",
        "99.731%",
        "未监控",
        "INC-2026-0042",
        "INC-2026-0043",
        "交易系统数据库主节点宕机",
        "30:01",
        "超时",
        "计时中",
        "未关闭",
        // Notices and exceptions.
        "数据库版本升级",
        "已取消",
        "2026-10-20 22:00至2026-10-21 02:00",
        "值班人员交接时未及时确认告警",
        "核心交换机板卡故障需立即更换",
        "服务商（盖章）",
        "采购人确认（盖章）",
    ] {
        assert!(
            all.contains(&squeeze(want)),
            "{want:?} not in:\n{}",
            pages.join("\n")
        );
    }
    for none in ["本月无故障", "本月无维护通知", "本月无例外事项"] {
        assert!(!all.contains(none), "{none}");
    }
    assert_page_numbers(&pages);
    let info = pdf_tool("pdfinfo", &bytes).unwrap();
    assert!(info.contains("841.89 x 595.276 pts (A4)"), "{info}");
    assert!(
        info.contains("CreationDate:") && info.contains("2026"),
        "{info}"
    );
}

#[test]
fn an_empty_month_says_so_instead_of_empty_tables() {
    let r = OpsReport {
        summary: vec![],
        availability: vec![],
        incidents: vec![],
        notices: vec![],
        exceptions: vec![],
        ..common::ops_sample()
    };
    let bytes = ops_pdf(&r).unwrap();
    let Some((all, _)) = text(&bytes) else { return };
    for none in [
        "本月无可用率数据",
        "本月无故障",
        "本月无维护通知",
        "本月无例外事项",
    ] {
        assert!(all.contains(none), "{none} not in {all}");
    }
    // No table headers without tables.
    for head in ["编号", "维护窗口", "原因"] {
        assert!(!all.contains(head), "{head}");
    }
}

#[test]
fn many_incidents_run_over_pages_with_the_header_repeated() {
    let mut r = common::ops_sample();
    let one = r.incidents.clone();
    for n in 0..40 {
        let mut more = one.clone();
        for i in &mut more {
            i.id = format!("{}-{n}", i.id);
        }
        r.incidents.extend(more);
    }
    let bytes = ops_pdf(&r).unwrap();
    common::dump("ops-long.pdf", &bytes);
    let Some((_, pages)) = text(&bytes) else {
        return;
    };
    assert!(pages.len() >= 3, "{} pages", pages.len());
    assert_page_numbers(&pages);
    // Pages with part of the incident table (the exceptions name INC-2026-0042 too).
    let with_incidents: Vec<&String> = pages
        .iter()
        .filter(|p| p.contains("INC-2026-0043-"))
        .collect();
    assert!(with_incidents.len() >= 2);
    for p in with_incidents {
        assert!(p.contains("时限项") && p.contains("关闭时间"), "{p}");
    }
}

fn hostile_ops() -> OpsReport {
    let mut r = common::ops_sample();
    r.contract_name = format!("合同{HOSTILE}");
    r.summary[0].0 = HOSTILE.to_owned();
    r.availability[0].system = HOSTILE.to_owned();
    r.incidents[0].title = HOSTILE.to_owned();
    r.incidents[0].clocks[0].label = "#panic(\"c\")".to_owned();
    r.notices[0].title = HOSTILE.to_owned();
    r.exceptions[0].reason = HOSTILE.to_owned();
    r
}

#[test]
fn hostile_text_prints_as_itself_in_the_pdfs() {
    let r = hostile_ops();
    let bytes = ops_pdf(&r).unwrap();
    common::dump("ops-hostile.pdf", &bytes);
    assert_eq!(ops_pdf(&r).unwrap(), bytes);
    let mut o = common::outage_sample();
    o.title = HOSTILE.to_owned();
    o.cause = HOSTILE.to_owned();
    o.timeline[1].2 = HOSTILE.to_owned();
    let outage = outage_pdf(&o).unwrap();
    common::dump("outage-hostile.pdf", &outage);
    for bytes in [bytes, outage] {
        let Some((_, pages)) = text(&bytes) else {
            return;
        };
        let plain = pages.join("\n");
        for piece in HOSTILE.split_whitespace() {
            assert!(plain.contains(piece), "{piece:?} not in:\n{plain}");
        }
        assert!(plain.contains("#panic(\"x\")") && plain.contains("$math$"));
        assert!(!plain.contains("合同1"), "#eval was not evaluated");
    }
}

#[test]
fn the_outage_report_pdf_tells_the_story() {
    let r = common::outage_sample();
    let bytes = outage_pdf(&r).unwrap();
    common::dump("outage.pdf", &bytes);
    assert_eq!(outage_pdf(&r).unwrap(), bytes, "same report, same bytes");
    assert_fonts_embedded(&bytes);
    let Some((all, pages)) = text(&bytes) else {
        return;
    };
    for want in [
        "宕机报告",
        "INC-2026-0042",
        &r.title,
        &r.system,
        "2小时0分钟",
        "主节点磁盘控制器故障，导致数据库实例停止响应。",
        "电子交易系统不可用2小时，期间开标顺延。",
        "切换至备节点；更换磁盘控制器；",
        "增加控制器健康监控。",
        "2026-10-20 11:10",
        "切换备节点",
        "值班工程师张三",
        "超时",
        "达标",
        "服务商（盖章）",
    ] {
        assert!(
            all.contains(&squeeze(want)),
            "{want:?} not in:\n{}",
            pages.join("\n")
        );
    }
    assert_page_numbers(&pages);
    let info = pdf_tool("pdfinfo", &bytes).unwrap();
    assert!(info.contains("595.276 x 841.89 pts (A4)"), "{info}");
}

#[test]
fn an_outage_report_left_blank_still_renders() {
    let r = OutageReport {
        incident_id: "INC-1".into(),
        ..OutageReport::default()
    };
    let bytes = outage_pdf(&r).unwrap();
    let Some((all, _)) = text(&bytes) else { return };
    assert!(all.contains("宕机报告") && all.contains("INC-1"));
    assert!(all.contains("无处置记录") && all.contains("（未填写）") && all.contains("无SLA计时"));
}

// ---- the workbook ----

fn sheets(bytes: &[u8]) -> Xlsx<Cursor<Vec<u8>>> {
    open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap()
}

fn rows(wb: &mut Xlsx<Cursor<Vec<u8>>>, name: &str) -> Vec<Vec<Data>> {
    let range = wb.worksheet_range(name).unwrap();
    assert_eq!(range.start(), Some((0, 0)), "{name} starts at A1");
    range.rows().map(|r| r.to_vec()).collect()
}

fn num(c: &Data) -> f64 {
    match c {
        Data::Float(x) => *x,
        Data::Int(x) => *x as f64,
        other => panic!("{other:?} is not a number"),
    }
}

fn s(c: &Data) -> &str {
    match c {
        Data::String(s) => s,
        other => panic!("{other:?} is not text"),
    }
}

/// The rows after the header row that starts with `first`.
fn table<'a>(rows: &'a [Vec<Data>], first: &str) -> &'a [Vec<Data>] {
    let head = rows
        .iter()
        .position(|r| r[0] == Data::String(first.into()))
        .unwrap_or_else(|| panic!("no header {first}"));
    &rows[head + 1..]
}

#[test]
fn the_workbook_has_its_sheets_with_numbers_as_numbers() {
    let r = common::ops_sample();
    let bytes = ops_xlsx(&r).unwrap();
    common::dump("ops.xlsx", &bytes);
    assert_eq!(ops_xlsx(&r).unwrap(), bytes, "same report, same bytes");
    let mut wb = sheets(&bytes);
    assert_eq!(wb.sheet_names(), OPS_SHEETS.map(str::to_owned).to_vec());
    assert_eq!(
        OPS_SHEETS,
        ["概况", "可用率", "故障与SLA", "维护通知", "例外事项"]
    );

    let o = rows(&mut wb, "概况");
    assert_eq!(s(&o[0][0]), "月度运维报告");
    let value = |label: &str| {
        o.iter()
            .find(|row| row[0] == Data::String(label.into()))
            .map(|row| row[2].clone())
            .unwrap_or_else(|| panic!("no {label}"))
    };
    assert_eq!(s(&value("合同")), r.contract_name);
    assert_eq!(s(&value("月份")), "2026-10");
    assert_eq!(num(&value("故障总数")), 2.0);
    assert_eq!(num(&value("平均可用率")), 99.731);
    assert!(o
        .iter()
        .flatten()
        .any(|c| *c == Data::String("采购人确认（盖章）：".into())));

    let a = rows(&mut wb, "可用率");
    let t = table(&a, "业务系统");
    assert_eq!(s(&t[0][0]), "电子交易系统");
    assert_eq!(num(&t[0][1]), 3.0);
    assert_eq!(num(&t[0][3]), 120.0);
    assert_eq!(num(&t[0][4]), 240.0);
    assert_eq!(num(&t[0][5]), 99.731, "the percent is a number");
    assert_eq!(s(&t[1][5]), "未监控");
    assert_eq!(num(&t[1][3]), 0.0);

    let i = rows(&mut wb, "故障与SLA");
    let t = table(&i, "编号");
    // One row per clock: the first incident's two, then the second's one.
    assert_eq!(s(&t[0][0]), "INC-2026-0042");
    assert_eq!(s(&t[0][7]), "响应");
    assert_eq!(s(&t[0][10]), "超时");
    assert_eq!(t[1][0], Data::Empty, "merged over its clocks");
    assert_eq!(s(&t[1][7]), "恢复");
    assert_eq!(s(&t[1][10]), "达标");
    assert_eq!(s(&t[2][0]), "INC-2026-0043");
    assert_eq!(s(&t[2][6]), "未关闭");
    assert_eq!(s(&t[2][10]), "计时中");

    let n = rows(&mut wb, "维护通知");
    let t = table(&n, "标题");
    assert_eq!(s(&t[0][0]), "数据库版本升级");
    assert_eq!(s(&t[0][2]), "2026-10-20 22:00 至 2026-10-21 02:00");
    assert_eq!(s(&t[1][6]), "已取消");

    let e = rows(&mut wb, "例外事项");
    let t = table(&e, "序号");
    assert_eq!(num(&t[0][0]), 1.0);
    assert_eq!(s(&t[0][1]), "SLA 超时");
    assert_eq!(s(&t[0][3]), "值班人员交接时未及时确认告警");
    assert_eq!(s(&t[1][2]), "网络设备更换");
}

#[test]
fn empty_sheets_say_so_and_hostile_text_stays_text() {
    let r = OpsReport {
        incidents: vec![],
        notices: vec![],
        exceptions: vec![],
        availability: vec![],
        ..hostile_ops()
    };
    let mut wb = sheets(&ops_xlsx(&r).unwrap());
    for (sheet, line) in [
        ("可用率", "本月无可用率数据"),
        ("故障与SLA", "本月无故障"),
        ("维护通知", "本月无维护通知"),
        ("例外事项", "本月无例外事项"),
    ] {
        let rows = rows(&mut wb, sheet);
        assert_eq!(s(&rows[2][0]), line, "{sheet}");
        assert_eq!(rows.len(), 3, "{sheet}: nothing after the line");
    }
    let o = rows(&mut wb, "概况");
    assert!(o
        .iter()
        .flatten()
        .any(|c| *c == Data::String(HOSTILE.into())));
    assert!(o
        .iter()
        .flatten()
        .any(|c| *c == Data::String(format!("合同{HOSTILE}"))));
}
