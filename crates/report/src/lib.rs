//! Documents of govcloud (报表): the monthly service statement 月度服务明细 as canonical
//! JSON (the bytes that are stored, signed and timestamped), XLSX and PDF, and the
//! operations documents: the monthly operations report 月度运维报告 (XLSX and PDF) and the
//! outage report 宕机报告 of one incident (PDF).
//!
//! The JSON is the statement of record; the XLSX and the PDF are renderings of it and are
//! deterministic too (the same statement gives the same bytes). So are the operations
//! documents (the same report gives the same bytes).
//!
//! - [`json`]: `to_json` / `from_json`, the canonical bytes.
//! - [`xlsx::xlsx`]: one sheet with numbers as numbers (`rust_xlsxwriter`), print-ready
//!   (landscape A4, fit to width, header row repeated). The sheet helpers (formats,
//!   header block, table header, signatures, print setup) serve [`ops`] too.
//! - [`pdf::pdf`]: typst as a library with the template `templates/statement.typ`; the
//!   statement goes in as a JSON file the template reads, so user text is never markup.
//!   Noto Sans CJK SC (a GB2312 subset, `fonts/`) is built into the binary: no font
//!   setup on any machine; characters outside the subset print as a blank box (tofu).
//!   Every PDF of the crate is made by the one typst world there.
//! - [`ops`]: plain, preformatted input types ([`ops::OpsReport`],
//!   [`ops::OutageReport`]) and [`ops::ops_xlsx`] (sheets 概况, 可用率, 故障与SLA, 维护通知,
//!   例外事项), [`ops::ops_pdf`] and [`ops::outage_pdf`] (template `templates/ops.typ`).
//!
//! Both statement renderings show the lines grouped by category in the order the
//! categories first appear, each group followed by its 小计, then 合计 and 大写金额.

use govcloud_domain::statement::{Line, Statement};
use rust_decimal::{Decimal, RoundingStrategy};

pub mod json;
pub mod ops;
pub mod pdf;
pub mod xlsx;

/// Why a document could not be produced or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Stored or uploaded statement JSON that does not decode.
    #[error("statement JSON does not decode: {0}")]
    Json(String),
    /// A renderer failed (a defect or a resource problem, not user input).
    #[error("{what} rendering failed: {detail}")]
    Render { what: &'static str, detail: String },
}

/// The line printed on a statement any of whose prices is a demo price.
pub const DEMO_WARNING: &str = "演示价格：本明细使用演示单价，仅供演示和测试，不作为结算依据。";

/// The lines of one category 类别 and its 小计.
pub(crate) struct Group<'a> {
    pub category: &'a str,
    pub lines: Vec<&'a Line>,
    /// The statement's subtotal for the category (the lines' sum if it has none).
    pub amount: Decimal,
}

/// The lines grouped by category, categories in order of first appearance.
pub(crate) fn groups(s: &Statement) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for l in &s.lines {
        match out.iter_mut().find(|g| g.category == l.category) {
            Some(g) => g.lines.push(l),
            None => out.push(Group {
                category: &l.category,
                lines: vec![l],
                amount: Decimal::ZERO,
            }),
        }
    }
    for g in &mut out {
        g.amount = s
            .subtotals
            .iter()
            .find(|x| x.category == g.category)
            .map(|x| x.amount)
            .unwrap_or_else(|| g.lines.iter().map(|l| l.amount).sum());
    }
    out
}

/// Width of `s` in terminal/spreadsheet columns: CJK characters count two.
pub(crate) fn display_width(s: &str) -> usize {
    s.split('\n')
        .map(unicode_width::UnicodeWidthStr::width)
        .max()
        .unwrap_or(0)
}

/// `d` with `dp` decimals (half away from zero) and thousands separated: 12,345.6789.
pub(crate) fn grouped(d: Decimal, dp: u32) -> String {
    let r = d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    let s = format!("{:.*}", dp as usize, r.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((&s[..], None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    if r.is_sign_negative() && !r.is_zero() {
        out.push('-');
    }
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn numbers_are_grouped_and_rounded_half_away_from_zero() {
        assert_eq!(grouped(d("1234567.891"), 2), "1,234,567.89");
        assert_eq!(grouped(d("1000"), 4), "1,000.0000");
        assert_eq!(grouped(d("999"), 0), "999");
        assert_eq!(grouped(d("0.125"), 2), "0.13");
        assert_eq!(grouped(d("-1234.5"), 0), "-1,235");
        assert_eq!(grouped(d("-0.001"), 2), "0.00");
        assert_eq!(grouped(d("100000"), 0), "100,000");
    }

    #[test]
    fn chinese_counts_two_columns() {
        assert_eq!(display_width("vCPU"), 4);
        assert_eq!(display_width("服务内容"), 8);
        assert_eq!(display_width("单价（元）"), 10);
        assert_eq!(display_width("长的一行\nab"), 8);
    }
}
