//! The PDF as a reader gets it: text extracted with poppler's `pdftotext` (Chinese
//! included, so the font is embedded with a usable ToUnicode map), fonts listed by
//! `pdffonts`, and the same statement always giving the same bytes.

mod common;

use std::time::Instant;

use common::{pdf_pages as pages, pdf_tool};
use govcloud_domain::money::format_yuan;
use govcloud_domain::statement::Statement;
use govcloud_report::pdf::pdf;

/// Names short enough not to wrap in their column (so they extract in one piece).
fn short_names(s: &Statement) -> Vec<&str> {
    s.lines
        .iter()
        .map(|l| l.name.as_str())
        .filter(|n| n.chars().count() <= 7)
        .collect()
}

#[test]
fn the_chinese_text_extracts_and_the_bytes_are_stable() {
    for pkg in [1, 2] {
        let s = common::sample(pkg);
        let bytes = pdf(&s).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        common::dump(&format!("statement-{pkg}.pdf"), &bytes);
        assert_eq!(
            pdf(&s).unwrap(),
            bytes,
            "package {pkg}: same statement, same bytes"
        );
        let Some(pages) = pages(&bytes) else { return };
        let text = pages.join("\n");
        assert!(text.contains("月度服务明细"), "package {pkg}:\n{text}");
        assert!(text.contains(&s.system_name), "package {pkg}: system name");
        let names = short_names(&s);
        assert!(!names.is_empty());
        // typst sets a thin space between Chinese and Latin (配置1 → 配置 1).
        let squeezed: String = text.split_whitespace().collect();
        for n in names {
            let n: String = n.split_whitespace().collect();
            assert!(squeezed.contains(&n), "package {pkg}: item {n}");
        }
        let total = format_yuan(s.total);
        assert!(total.contains(','), "a total with thousands: {total}");
        assert!(text.contains(&total), "package {pkg}: total {total}");
        assert!(
            text.contains(&s.total_in_capitals),
            "package {pkg}: 大写金额"
        );
        for g in &s.subtotals {
            assert!(text.contains(&format!("{} 小计", g.category)));
            assert!(text.contains(&format_yuan(g.amount)));
        }
        assert!(text.contains("演示价格"), "sample prices are demo prices");
        assert!(text.contains("服务商（盖章）") && text.contains("采购人确认（盖章）"));
        let n = pages.len();
        for (i, p) in pages.iter().enumerate() {
            let p: String = p.split_whitespace().collect();
            assert!(
                p.contains(&format!("第{}页/共{n}页", i + 1)),
                "page {}",
                i + 1
            );
        }
    }
}

#[test]
fn the_font_is_embedded_and_the_page_is_a4_landscape() {
    let bytes = pdf(&common::sample(1)).unwrap();
    let Some(fonts) = pdf_tool("pdffonts", &bytes) else {
        return;
    };
    let noto: Vec<&str> = fonts
        .lines()
        .filter(|l| l.contains("NotoSansCJK"))
        .collect();
    assert!(!noto.is_empty(), "{fonts}");
    for l in &noto {
        // name type encoding emb sub uni object ID: embedded, subset, with ToUnicode.
        let cols: Vec<&str> = l.split_whitespace().collect();
        let n = cols.len();
        assert_eq!(&cols[n - 5..n - 2], ["yes", "yes", "yes"], "{l}");
    }
    assert!(
        noto.iter().any(|l| l.contains("Bold")),
        "the bold face is used: {fonts}"
    );
    let info = pdf_tool("pdfinfo", &bytes).unwrap();
    assert!(info.contains("841.89 x 595.276 pts (A4)"), "{info}");
    assert!(
        info.contains("CreationDate:") && info.contains("2026"),
        "{info}"
    );
}

#[test]
fn a_long_statement_repeats_the_table_header_and_renders_quickly() {
    let mut s = common::sample(1);
    let lines = s.lines.clone();
    while s.lines.len() < 60 {
        s.lines.extend(lines.iter().cloned());
    }
    s.lines.truncate(60);
    let t = Instant::now();
    let bytes = pdf(&s).unwrap();
    eprintln!(
        "60-line statement: {} bytes in {:?}",
        bytes.len(),
        t.elapsed()
    );
    assert!(t.elapsed().as_secs() < 10, "far too slow");
    let Some(pages) = pages(&bytes) else { return };
    assert!(pages.len() >= 3, "{} pages", pages.len());
    // Every page up to the one with the total row holds part of the table.
    let last = pages.iter().position(|p| p.contains("大写金额")).unwrap();
    assert!(last >= 1, "the table spans pages");
    for (i, p) in pages[..=last].iter().enumerate() {
        assert!(
            p.contains("服务内容") && p.contains("金额（元）"),
            "page {}:\n{p}",
            i + 1
        );
    }
}

#[test]
fn hostile_text_prints_as_itself() {
    let s = common::hostile();
    let bytes = pdf(&s).unwrap();
    common::dump("hostile.pdf", &bytes);
    assert_eq!(pdf(&s).unwrap(), bytes);
    let Some(pages) = pages(&bytes) else { return };
    let text = pages.join("\n");
    // Each piece somewhere in one piece (the text is in several cells, some wrap).
    for piece in common::HOSTILE.split_whitespace() {
        assert!(text.contains(piece), "{piece:?} not in:\n{text}");
    }
    assert!(!text.contains("系统1"), "#eval was not evaluated");
}

#[test]
fn characters_outside_the_font_do_not_fail() {
    let mut s = common::sample(1);
    // Outside GB2312 (a rare hanzi, an emoji, Devanagari): tofu, not an error.
    s.lines[0].spec = "𠀀 😀 देवनागरी 堃".to_owned();
    assert!(pdf(&s).is_ok());
}

#[test]
fn a_statement_without_lines_or_sections_renders() {
    let mut s = common::sample(4);
    s.lines.clear();
    s.subtotals.clear();
    s.details.clear();
    s.sla.clear();
    s.demo_prices = false;
    let bytes = pdf(&s).unwrap();
    let Some(pages) = pages(&bytes) else { return };
    let text = pages.join("\n");
    assert!(text.contains("合计") && !text.contains("演示价格") && !text.contains("服务水平"));
}
