//! The statement as an Excel workbook (one sheet, 月度服务明细) a purchaser can file and
//! print: header block, the lines grouped by category with 小计 rows, 合计 with 大写金额,
//! the rating rule, 附列 and service levels, and a signature block.
//!
//! Numbers are numbers (money `#,##0.00`, quantities four decimals, days two), so the
//! purchaser can check sums in the sheet. The only instant in the file, the document's
//! creation time, is the statement's last day: the same statement gives the same bytes.

use chrono::Datelike;
use govcloud_domain::catalog::Billing;
use govcloud_domain::statement::{Line, Statement};
use rust_decimal::Decimal;
use rust_xlsxwriter::{
    Color, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet,
    XlsxError,
};

use crate::{display_width, grouped, groups, ReportError};

/// The sheet's name (and title).
pub const TITLE: &str = "月度服务明细";

const HEADERS: [&str; 11] = [
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
/// The widest a column may grow (in Excel width units); text columns wrap beyond it,
/// number columns never reach it in practice.
const MAX_WIDTH: [f64; 11] = [
    8.0, 16.0, 22.0, 44.0, 10.0, 24.0, 24.0, 12.0, 24.0, 10.0, 26.0,
];
const MIN_WIDTH: [f64; 11] = [5.0, 8.0, 12.0, 20.0, 6.0, 10.0, 10.0, 9.0, 12.0, 9.0, 14.0];
const FONT: &str = "宋体";

pub(crate) fn err(e: XlsxError) -> ReportError {
    ReportError::Render {
        what: "XLSX",
        detail: e.to_string(),
    }
}

/// An exact decimal as the nearest `f64` (the only way a number goes into a cell). Parsing
/// the decimal's text is correctly rounded, unlike arithmetic conversions.
fn num(d: Decimal) -> f64 {
    d.to_string().parse().unwrap_or(0.0)
}

/// The formats of a sheet, all in one font (the statement's and the operations report's).
pub(crate) struct Formats {
    pub title: Format,
    pub label: Format,
    pub value: Format,
    pub warn: Format,
    pub head: Format,
    pub text: Format,
    pub wrap: Format,
    pub center: Format,
    pub qty4: Format,
    pub count: Format,
    pub days: Format,
    pub money: Format,
    pub sub_label: Format,
    pub sub_money: Format,
    pub total_label: Format,
    pub total_money: Format,
    pub section: Format,
    pub note: Format,
    pub int: Format,
    /// A percentage held as its number of percent (99.731 shows as 99.731%).
    pub percent: Format,
    /// A table cell that needs attention (a breached SLA clock): bold dark red on pink.
    pub alert: Format,
}

impl Formats {
    pub(crate) fn new() -> Self {
        let base = Format::new().set_font_name(FONT).set_font_size(10.5);
        let cell = base
            .clone()
            .set_border(FormatBorder::Thin)
            .set_align(FormatAlign::VerticalCenter);
        let bold = |f: &Format| f.clone().set_bold();
        let num =
            |f: &Format, fmt: &str| f.clone().set_num_format(fmt).set_align(FormatAlign::Right);
        let sub = bold(&cell).set_background_color(Color::RGB(0xF2F2F2));
        let total = bold(&cell).set_background_color(Color::RGB(0xD9E1F2));
        Formats {
            title: bold(&base)
                .set_font_size(18)
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter),
            label: bold(&base),
            value: base.clone().set_text_wrap().set_align(FormatAlign::Top),
            warn: bold(&base).set_font_color(Color::RGB(0xC00000)),
            head: bold(&cell)
                .set_text_wrap()
                .set_align(FormatAlign::Center)
                .set_background_color(Color::RGB(0xD9E1F2)),
            text: cell.clone(),
            wrap: cell.clone().set_text_wrap(),
            center: cell.clone().set_align(FormatAlign::Center),
            qty4: num(&cell, "#,##0.0000"),
            count: num(&cell, "#,##0"),
            days: num(&cell, "0.00"),
            money: num(&cell, "#,##0.00"),
            sub_label: sub.clone().set_align(FormatAlign::Right),
            sub_money: num(&sub, "#,##0.00"),
            total_label: total.clone().set_align(FormatAlign::Right),
            total_money: num(&total, "#,##0.00"),
            section: bold(&base).set_font_size(12),
            note: base
                .clone()
                .set_text_wrap()
                .set_align(FormatAlign::Top)
                .set_align(FormatAlign::Left),
            int: num(&base, "#,##0"),
            percent: num(&cell, "0.000\"%\""),
            alert: bold(&cell)
                .set_align(FormatAlign::Center)
                .set_font_color(Color::RGB(0xC00000))
                .set_background_color(Color::RGB(0xFDECEA)),
        }
    }
}

/// A quantity's own format: as many decimals as the contract wrote (`2000`, `0.5`).
fn contracted_format(f: &Formats, q: Decimal) -> Format {
    match q.normalize().scale() {
        0 => f.count.clone(),
        n => f
            .count
            .clone()
            .set_num_format(format!("#,##0.{}", "0".repeat(n as usize))),
    }
}

/// Column widths from the table's content as displayed: CJK characters count two units,
/// numbers as formatted (a too-narrow number column shows ####); text columns are
/// clamped to their range and wrap beyond it.
fn column_widths(s: &Statement) -> Vec<f64> {
    let mut w = [0usize; 11];
    for (i, h) in HEADERS.iter().enumerate() {
        w[i] = display_width(h);
    }
    let money = |d: Decimal| grouped(d, 2).len() + 1;
    for (n, l) in s.lines.iter().enumerate() {
        let qty_dp = if l.billing == Billing::PerOccurrence {
            0
        } else {
            4
        };
        let cells = [
            (0, (n + 1).to_string().len()),
            (1, display_width(&l.category)),
            (2, display_width(&l.name)),
            (3, display_width(&l.spec)),
            (4, display_width(&l.unit)),
            (
                5,
                grouped(l.contracted, l.contracted.normalize().scale()).len(),
            ),
            (6, grouped(l.quantity, qty_dp).len()),
            (7, l.days.map_or(0, |d| grouped(d, 2).len())),
            (8, l.unit_price.map_or(0, money)),
            (9, display_width(l.billing.code())),
            (10, money(l.amount)),
        ];
        for (col, cw) in cells {
            w[col] = w[col].max(cw);
        }
    }
    for x in &s.subtotals {
        w[10] = w[10].max(money(x.amount));
    }
    w[10] = w[10].max(money(s.total));
    clamp_widths(&w, &MIN_WIDTH, &MAX_WIDTH)
}

/// Column widths (Excel units) from the widest content of each column (display columns,
/// see [`display_width`]), two units of padding, clamped to `min..=max`.
pub(crate) fn clamp_widths(content: &[usize], min: &[f64], max: &[f64]) -> Vec<f64> {
    content
        .iter()
        .zip(min.iter().zip(max))
        .map(|(w, (lo, hi))| (*w as f64 + 2.0).clamp(*lo, *hi))
        .collect()
}

/// Rows a text needs in a wrapped cell `width` units wide (an estimate: Excel does not
/// size merged cells' rows itself).
pub(crate) fn rows_needed(text: &str, width: f64) -> f64 {
    let per_row = (width - 1.0).max(1.0);
    text.split('\n')
        .map(|part| (display_width(part) as f64 / per_row).ceil().max(1.0))
        .sum()
}

/// A worksheet being filled top to bottom: its formats, its column widths (which also
/// fix its last column) and the next row to write.
pub(crate) struct Sheet<'a> {
    pub ws: &'a mut Worksheet,
    pub f: Formats,
    pub widths: Vec<f64>,
    pub row: u32,
}

impl<'a> Sheet<'a> {
    /// A sheet with these column widths (at least three columns).
    pub(crate) fn new(ws: &'a mut Worksheet, widths: Vec<f64>) -> Result<Self, XlsxError> {
        for (i, w) in widths.iter().enumerate() {
            ws.set_column_width(i as u16, *w)?;
        }
        Ok(Sheet {
            ws,
            f: Formats::new(),
            widths,
            row: 0,
        })
    }

    /// The last column of the sheet's layout.
    pub(crate) fn last_col(&self) -> u16 {
        (self.widths.len() - 1) as u16
    }

    /// The title across the whole width of row 0; the next row is 2.
    pub(crate) fn title(&mut self, title: &str) -> Result<(), XlsxError> {
        let last = self.last_col();
        self.ws.merge_range(0, 0, 0, last, title, &self.f.title)?;
        self.ws.set_row_height(0, 30)?;
        self.row = 2;
        Ok(())
    }

    /// A label in A:B and a wrapped value over C to the last column.
    pub(crate) fn pair(&mut self, label: &str, value: &str) -> Result<(), XlsxError> {
        let last = self.last_col();
        self.ws
            .merge_range(self.row, 0, self.row, 1, label, &self.f.label)?;
        self.ws
            .merge_range(self.row, 2, self.row, last, value, &self.f.value)?;
        self.fit_merged(value, 2);
        self.row += 1;
        Ok(())
    }

    /// Set the row's height for `text` wrapped across columns `from..=last`.
    pub(crate) fn fit_merged(&mut self, text: &str, from: usize) {
        let width: f64 = self.widths[from..].iter().sum();
        let rows = rows_needed(text, width);
        if rows > 1.0 {
            // Merged cells are not auto-fitted by Excel: size the row (14 pt a line of 10.5 pt text).
            let _ = self.ws.set_row_height(self.row, rows * 14.0 + 2.0);
        }
    }

    /// A section title after a blank row.
    pub(crate) fn section(&mut self, title: &str) -> Result<(), XlsxError> {
        self.row += 1;
        self.ws
            .write_string_with_format(self.row, 0, title, &self.f.section)?;
        self.row += 1;
        Ok(())
    }

    /// A table's header row at the current row: frozen on screen and repeated on every
    /// printed page.
    pub(crate) fn table_head(&mut self, headers: &[&str]) -> Result<(), XlsxError> {
        let r = self.row;
        for (c, h) in headers.iter().enumerate() {
            self.ws
                .write_string_with_format(r, c as u16, *h, &self.f.head)?;
        }
        self.ws.set_freeze_panes(r + 1, 0)?;
        self.ws.set_repeat_rows(r, r)?;
        self.row += 1;
        Ok(())
    }

    /// The signature block two rows below the current row: 服务商 in `left`, 采购人 in
    /// `right`, each with a 日期 three rows lower.
    pub(crate) fn sign_off(&mut self, left: u16, right: u16) -> Result<(), XlsxError> {
        self.row += 2;
        let r = self.row;
        let f = &self.f.label;
        self.ws
            .write_string_with_format(r, left, "服务商（盖章）：", f)?;
        self.ws
            .write_string_with_format(r, right, "采购人确认（盖章）：", f)?;
        self.ws.write_string_with_format(r + 3, left, "日期：", f)?;
        self.ws
            .write_string_with_format(r + 3, right, "日期：", f)?;
        self.row = r + 4;
        Ok(())
    }

    /// Print setup: A4 landscape, fit to one page wide, centred, 第 X 页 / 共 Y 页.
    pub(crate) fn print_setup(&mut self) {
        self.ws
            .set_landscape()
            .set_paper_size(9) // A4
            .set_print_fit_to_pages(1, 0)
            .set_print_center_horizontally(true)
            .set_margins(0.5, 0.5, 0.6, 0.6, 0.3, 0.3)
            .set_footer("&C第 &P 页 / 共 &N 页");
    }

    fn line(&mut self, n: usize, l: &Line) -> Result<(), XlsxError> {
        let (r, f) = (self.row, &self.f);
        let ws = &mut *self.ws;
        ws.write_number_with_format(r, 0, n as f64, &f.center)?;
        ws.write_string_with_format(r, 1, &l.category, &f.wrap)?;
        ws.write_string_with_format(r, 2, &l.name, &f.wrap)?;
        ws.write_string_with_format(r, 3, &l.spec, &f.wrap)?;
        ws.write_string_with_format(r, 4, &l.unit, &f.center)?;
        ws.write_number_with_format(r, 5, num(l.contracted), &contracted_format(f, l.contracted))?;
        let qty = if l.billing == Billing::PerOccurrence {
            &f.count
        } else {
            &f.qty4
        };
        ws.write_number_with_format(r, 6, num(l.quantity), qty)?;
        match l.days {
            Some(d) => ws.write_number_with_format(r, 7, num(d), &f.days)?,
            None => ws.write_blank(r, 7, &f.text)?,
        };
        match l.unit_price {
            Some(p) => ws.write_number_with_format(r, 8, num(p), &f.money)?,
            None => ws.write_blank(r, 8, &f.text)?,
        };
        ws.write_string_with_format(r, 9, l.billing.code(), &f.center)?;
        ws.write_number_with_format(r, 10, num(l.amount), &f.money)?;
        self.row += 1;
        Ok(())
    }
}

/// Render `s` as XLSX bytes.
pub fn xlsx(s: &Statement) -> Result<Vec<u8>, ReportError> {
    let mut wb = Workbook::new();
    // The creation time is the statement's last day (00:00 UTC), not the time of rendering.
    let end = s.period_to;
    let created = ExcelDateTime::from_ymd(
        u16::try_from(end.year()).unwrap_or(2000),
        end.month() as u8,
        end.day() as u8,
    )
    .map_err(err)?;
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!(
                "{TITLE} {} 第{}包 {}",
                s.month, s.package, s.system_name
            ))
            .set_subject(&s.contract_name)
            .set_author(&s.provider)
            .set_company(&s.provider)
            .set_creation_datetime(&created),
    );
    let ws = wb.add_worksheet();
    ws.set_name(TITLE).map_err(err)?;
    let mut sh = Sheet::new(ws, column_widths(s)).map_err(err)?;
    fill(&mut sh, s).map_err(err)?;
    wb.save_to_buffer().map_err(err)
}

fn fill(sh: &mut Sheet<'_>, s: &Statement) -> Result<(), XlsxError> {
    const LAST_COL: u16 = 10;
    sh.title(TITLE)?;
    sh.pair("合同", &format!("{}（{}）", s.contract_name, s.contract_id))?;
    sh.pair("包", &format!("第{}包 {}", s.package, s.package_name))?;
    sh.pair("业务系统", &format!("{}（{}）", s.system_name, s.system))?;
    sh.pair(
        "服务期间",
        &format!(
            "{} 至 {}",
            s.period_from.format("%Y-%m-%d"),
            s.period_to.format("%Y-%m-%d")
        ),
    )?;
    sh.pair("服务商", &s.provider)?;
    sh.pair("采购人", &s.purchaser)?;
    sh.pair("版本", &format!("第 {} 版", s.version))?;
    if s.demo_prices {
        sh.ws
            .merge_range(sh.row, 0, sh.row, LAST_COL, crate::DEMO_WARNING, &sh.f.warn)?;
        sh.row += 1;
    }
    sh.row += 1;

    sh.table_head(&HEADERS)?;
    let mut n = 0;
    for g in groups(s) {
        for l in &g.lines {
            n += 1;
            sh.line(n, l)?;
        }
        sh.ws.merge_range(
            sh.row,
            0,
            sh.row,
            LAST_COL - 1,
            &format!("{} 小计", g.category),
            &sh.f.sub_label,
        )?;
        sh.ws
            .write_number_with_format(sh.row, LAST_COL, num(g.amount), &sh.f.sub_money)?;
        sh.row += 1;
    }
    sh.ws
        .merge_range(sh.row, 0, sh.row, LAST_COL - 1, "合计", &sh.f.total_label)?;
    sh.ws
        .write_number_with_format(sh.row, LAST_COL, num(s.total), &sh.f.total_money)?;
    sh.row += 1;
    sh.ws
        .merge_range(sh.row, 0, sh.row, 1, "大写金额", &sh.f.total_label)?;
    sh.ws.merge_range(
        sh.row,
        2,
        sh.row,
        LAST_COL,
        &format!("人民币{}", s.total_in_capitals),
        &sh.f.total_label.clone().set_align(FormatAlign::Left),
    )?;
    sh.row += 1;

    sh.section("计价规则")?;
    sh.ws
        .merge_range(sh.row, 0, sh.row, LAST_COL, &s.rule_zh, &sh.f.note)?;
    sh.fit_merged(&s.rule_zh, 0);
    sh.row += 1;

    if !s.details.is_empty() {
        sh.section("附列（仅供参考，不另计费）")?;
        for d in &s.details {
            sh.ws
                .merge_range(sh.row, 0, sh.row, 2, &d.label, &sh.f.value)?;
            sh.ws
                .write_number_with_format(sh.row, 3, d.value as f64, &sh.f.int)?;
            sh.row += 1;
        }
    }
    if !s.sla.is_empty() {
        sh.section("服务水平")?;
        for x in &s.sla {
            sh.ws
                .merge_range(sh.row, 0, sh.row, 2, &x.label, &sh.f.value)?;
            sh.ws
                .write_string_with_format(sh.row, 3, &x.value, &sh.f.value)?;
            sh.row += 1;
        }
    }

    sh.sign_off(1, 6)?;
    sh.print_setup();
    Ok(())
}
