//! The statement as PDF, typeset by typst (as a library) from `templates/statement.typ`,
//! and the one typst world every PDF of the crate is made in (`render`, used by the
//! operations reports of [`crate::ops`] too).
//!
//! A document is handed to its template as a JSON file (`/data.json` in a world of two
//! files) with every number already formatted in Rust (the statement's from exact
//! decimals); the template reads it with `json(...)` and places the values as text. User
//! text (names, specs, labels) therefore cannot inject markup: `#eval("1")` prints as
//! itself.
//!
//! Fonts: Noto Sans CJK SC Regular and Bold, subset to GB2312 plus Latin and CJK
//! punctuation (`fonts/README.md`), compiled into the binary and embedded (subset again)
//! into each PDF. No system font is looked at, so output does not depend on the machine.
//! A character outside the subset prints as the font's blank box (tofu), not an error.
//!
//! Deterministic: no clock is read (`today` is `None`, the creation date and the document
//! id come from the document's input: for a statement its last day and its identity).

use std::sync::LazyLock;

use chrono::{Datelike, Timelike};
use govcloud_domain::catalog::Billing;
use govcloud_domain::money::format_yuan;
use govcloud_domain::statement::{Line, Statement};
use rust_decimal::Decimal;
use serde::Serialize;
use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, Timestamp};

use crate::{grouped, groups, ReportError, DEMO_WARNING};

const TEMPLATE: &str = include_str!("../templates/statement.typ");
const FONT_REGULAR: &[u8] = include_bytes!("../fonts/NotoSansSC-Regular-subset.otf");
const FONT_BOLD: &[u8] = include_bytes!("../fonts/NotoSansSC-Bold-subset.otf");

/// The column headings, shared with the XLSX.
const COLUMNS: [&str; 11] = [
    "序号",
    "类别",
    "服务内容",
    "规格",
    "单位",
    "合同数量",
    "实际提供",
    "服务天数",
    "单价（元）",
    "计价方式",
    "金额（元）",
];

#[derive(Serialize)]
struct Data {
    title: String,
    provider: String,
    heading: &'static str,
    month: String,
    footer: String,
    header: Vec<Pair>,
    demo_warning: Option<&'static str>,
    columns: [&'static str; 11],
    groups: Vec<DataGroup>,
    total: String,
    total_in_capitals: String,
    rule: String,
    details: Vec<Pair>,
    sla: Vec<Pair>,
}

#[derive(Serialize)]
struct Pair {
    label: String,
    value: String,
}

#[derive(Serialize)]
struct DataGroup {
    subtotal: String,
    category: String,
    lines: Vec<DataLine>,
}

#[derive(Serialize)]
struct DataLine {
    n: String,
    category: String,
    name: String,
    spec: String,
    unit: String,
    contracted: String,
    quantity: String,
    days: String,
    unit_price: String,
    billing: &'static str,
    amount: String,
}

fn data_line(n: usize, l: &Line) -> DataLine {
    DataLine {
        n: n.to_string(),
        category: l.category.clone(),
        name: l.name.clone(),
        spec: l.spec.clone(),
        unit: l.unit.clone(),
        contracted: grouped(l.contracted, l.contracted.normalize().scale()),
        quantity: match l.billing {
            Billing::PerOccurrence => grouped(l.quantity, 0),
            _ => grouped(l.quantity, 4),
        },
        days: l.days.map(|d| grouped(d, 2)).unwrap_or_default(),
        unit_price: l.unit_price.map(format_yuan).unwrap_or_default(),
        billing: l.billing.code(),
        amount: format_yuan(l.amount),
    }
}

fn data(s: &Statement) -> Data {
    let pair = |label: &str, value: String| Pair {
        label: label.to_owned(),
        value,
    };
    let mut n = 0;
    Data {
        title: format!(
            "月度服务明细 {} 第{}包 {}",
            s.month, s.package, s.system_name
        ),
        provider: s.provider.clone(),
        heading: "月度服务明细",
        month: format!("{} · 第 {} 版", s.month, s.version),
        // Identifiers only (short, never wrapping into the page number).
        footer: format!("{} · 第{}包 · {}", s.contract_id, s.package, s.system),
        header: vec![
            pair("合同", format!("{}（{}）", s.contract_name, s.contract_id)),
            pair("服务商", s.provider.clone()),
            pair("包", format!("第{}包 {}", s.package, s.package_name)),
            pair("采购人", s.purchaser.clone()),
            pair("业务系统", format!("{}（{}）", s.system_name, s.system)),
            pair(
                "服务期间",
                format!(
                    "{} 至 {}",
                    s.period_from.format("%Y-%m-%d"),
                    s.period_to.format("%Y-%m-%d")
                ),
            ),
            pair("版本", format!("第 {} 版", s.version)),
            pair("月份", s.month.clone()),
        ],
        demo_warning: s.demo_prices.then_some(DEMO_WARNING),
        columns: COLUMNS,
        groups: groups(s)
            .into_iter()
            .map(|g| DataGroup {
                subtotal: format_yuan(g.amount),
                category: g.category.to_owned(),
                lines: g
                    .lines
                    .iter()
                    .map(|l| {
                        n += 1;
                        data_line(n, l)
                    })
                    .collect(),
            })
            .collect(),
        total: format_yuan(s.total),
        total_in_capitals: format!("人民币{}", s.total_in_capitals),
        rule: s.rule_zh.clone(),
        details: s
            .details
            .iter()
            .map(|d| pair(&d.label, grouped(Decimal::from(d.value), 0)))
            .collect(),
        sla: s
            .sla
            .iter()
            .map(|f| pair(&f.label, f.value.clone()))
            .collect(),
    }
}

/// What every rendering shares: the standard library and the embedded fonts.
struct Shared {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

static SHARED: LazyLock<Shared> = LazyLock::new(|| {
    let fonts: Vec<Font> = [FONT_REGULAR, FONT_BOLD]
        .into_iter()
        .flat_map(|b| Font::iter(Bytes::new(b)))
        .collect();
    Shared {
        library: LazyHash::new(Library::builder().build()),
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
    }
});

fn file_id(path: &str) -> FileId {
    let vpath = VirtualPath::new(path).expect("a constant, valid virtual path");
    RootedPath::new(VirtualRoot::Project, vpath).intern()
}

/// A world of two files: a template (`/main.typ`) and the JSON it reads (`/data.json`).
struct DocWorld {
    main: Source,
    data_id: FileId,
    data: Bytes,
}

impl World for DocWorld {
    fn library(&self) -> &LazyHash<Library> {
        &SHARED.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &SHARED.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.data_id {
            Ok(self.data.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        SHARED.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}

fn render_err(diags: impl IntoIterator<Item = SourceDiagnostic>) -> ReportError {
    ReportError::Render {
        what: "PDF",
        detail: diags
            .into_iter()
            .map(|d| d.message.to_string())
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// What a PDF says about itself besides its pages; both fixed by the document's input so
/// the same input gives the same bytes.
pub(crate) struct Meta {
    /// The document id (hashed into the PDF's `/ID`).
    pub ident: String,
    /// The creation date; `None` leaves it out.
    pub created: Option<Timestamp>,
}

/// Typeset `template` (typst source) with `data` serialized to `/data.json`, which the
/// template reads with `json("/data.json")`, and write the PDF (fonts embedded).
///
/// Every document of the crate goes through here: one world, one set of fonts.
pub(crate) fn render(
    template: &str,
    data: &impl Serialize,
    meta: Meta,
) -> Result<Vec<u8>, ReportError> {
    let json = serde_json::to_vec(data).map_err(|e| ReportError::Render {
        what: "PDF",
        detail: e.to_string(),
    })?;
    let world = DocWorld {
        main: Source::new(file_id("/main.typ"), template.to_owned()),
        data_id: file_id("/data.json"),
        data: Bytes::new(json),
    };
    let result = typst::compile::<PagedDocument>(&world)
        .output
        .map_err(render_err)
        .and_then(|doc| {
            let options = PdfOptions {
                ident: Smart::Custom(meta.ident),
                creator: Smart::Custom(Some("govcloud".to_owned())),
                timestamp: meta.created,
                ..PdfOptions::default()
            };
            typst_pdf::pdf(&doc, &options).map_err(render_err)
        });
    // typst memoizes across compilations; drop what this one left behind so a long-running
    // server does not grow with every document it renders.
    typst::comemo::evict(0);
    result
}

/// A Beijing time as a PDF timestamp with its +08:00 offset.
pub(crate) fn beijing_timestamp(t: chrono::NaiveDateTime) -> Option<Timestamp> {
    let dt = Datetime::from_ymd_hms(
        t.year(),
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    )?;
    Timestamp::new_local(dt, 8 * 60)
}

/// Render `s` as PDF bytes (A4 landscape, fonts embedded).
pub fn pdf(s: &Statement) -> Result<Vec<u8>, ReportError> {
    let end = s.period_to;
    let created = Datetime::from_ymd(end.year(), end.month() as u8, end.day() as u8);
    render(
        TEMPLATE,
        &data(s),
        Meta {
            ident: format!(
                "govcloud-statement/{}/{}/{}/{}/v{}",
                s.contract_id, s.package, s.system, s.month, s.version
            ),
            created: created.map(Timestamp::new_utc),
        },
    )
}
