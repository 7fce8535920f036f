//! The workbook read back with calamine: amounts are numbers equal to the statement's,
//! text is intact, and the same statement always gives the same bytes.

mod common;

use std::io::Cursor;

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use govcloud_domain::statement::{Line, Statement};
use govcloud_domain::Decimal;
use govcloud_report::xlsx::{xlsx, TITLE};

fn rows(bytes: &[u8]) -> Vec<Vec<Data>> {
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap();
    let range = wb.worksheet_range(TITLE).unwrap();
    // Row and column 0 of the sheet are cell A1 (the title is there).
    assert_eq!(range.start(), Some((0, 0)));
    range.rows().map(|r| r.to_vec()).collect()
}

fn f(d: Decimal) -> f64 {
    d.to_string().parse().unwrap()
}

fn num(c: &Data) -> f64 {
    match c {
        Data::Float(x) => *x,
        Data::Int(x) => *x as f64,
        other => panic!("{other:?} is not a number"),
    }
}

fn text(c: &Data) -> &str {
    match c {
        Data::String(s) => s,
        other => panic!("{other:?} is not text"),
    }
}

/// The lines in the order the sheet lists them: grouped by category, categories in
/// order of first appearance.
fn listed(s: &Statement) -> Vec<&Line> {
    let mut cats: Vec<&str> = Vec::new();
    for l in &s.lines {
        if !cats.contains(&l.category.as_str()) {
            cats.push(&l.category);
        }
    }
    cats.iter()
        .flat_map(|c| s.lines.iter().filter(move |l| l.category == *c))
        .collect()
}

fn check(s: &Statement) {
    let bytes = xlsx(s).unwrap();
    assert_eq!(xlsx(s).unwrap(), bytes, "same statement, same bytes");
    let rows = rows(&bytes);
    assert_eq!(text(&rows[0][0]), "月度服务明细");
    let cell = |label: &str| {
        let r = rows
            .iter()
            .find(|r| r[0] == Data::String(label.into()))
            .unwrap();
        text(&r[2]).to_owned()
    };
    assert_eq!(
        cell("业务系统"),
        format!("{}（{}）", s.system_name, s.system)
    );
    assert_eq!(cell("服务商"), s.provider);
    assert_eq!(cell("采购人"), s.purchaser);
    assert_eq!(cell("服务期间"), "2026-12-01 至 2026-12-31");
    assert_eq!(
        rows.iter()
            .any(|r| matches!(&r[0], Data::String(t) if t.starts_with("演示价格"))),
        s.demo_prices
    );

    let head = rows
        .iter()
        .position(|r| r[0] == Data::String("序号".into()))
        .unwrap();
    assert_eq!(text(&rows[head][10]), "金额（元）");
    let mut r = head + 1;
    let mut n = 0;
    let mut sum = 0.0;
    let lines = listed(s);
    while n < lines.len() {
        let row = &rows[r];
        r += 1;
        if let Data::String(label) = &row[0] {
            // A subtotal row.
            let cat = label.strip_suffix(" 小计").unwrap();
            let st = s.subtotals.iter().find(|x| x.category == cat).unwrap();
            assert_eq!(num(&row[10]), f(st.amount), "{label}");
            continue;
        }
        let l = lines[n];
        n += 1;
        assert_eq!(num(&row[0]), n as f64);
        assert_eq!(text(&row[1]), l.category);
        assert_eq!(text(&row[2]), l.name);
        assert_eq!(text(&row[3]), l.spec);
        assert_eq!(text(&row[4]), l.unit);
        assert_eq!(num(&row[5]), f(l.contracted));
        assert_eq!(num(&row[6]), f(l.quantity), "{} quantity", l.item);
        match l.days {
            Some(d) => assert_eq!(num(&row[7]), f(d)),
            None => assert_eq!(row[7], Data::Empty),
        }
        match l.unit_price {
            Some(p) => assert_eq!(num(&row[8]), f(p)),
            None => assert_eq!(row[8], Data::Empty),
        }
        assert_eq!(text(&row[9]), l.billing.code());
        assert_eq!(num(&row[10]), f(l.amount), "{} amount", l.item);
        sum += num(&row[10]);
    }
    // The last group's subtotal, then 合计 and 大写金额.
    assert!(text(&rows[r][0]).ends_with("小计"));
    assert_eq!(text(&rows[r + 1][0]), "合计");
    assert_eq!(num(&rows[r + 1][10]), f(s.total));
    assert!(
        (sum - f(s.total)).abs() < 0.005,
        "the lines add up to the total"
    );
    assert_eq!(text(&rows[r + 2][0]), "大写金额");
    assert_eq!(
        text(&rows[r + 2][2]),
        format!("人民币{}", s.total_in_capitals)
    );
    let after: Vec<&Data> = rows[r + 3..].iter().flatten().collect();
    assert!(
        after.contains(&&Data::String(s.rule_zh.clone())),
        "the rule"
    );
    for d in &s.details {
        let row = rows[r + 3..]
            .iter()
            .find(|x| x[0] == Data::String(d.label.clone()))
            .unwrap();
        assert_eq!(num(&row[3]), d.value as f64);
    }
    for x in &s.sla {
        let row = rows[r + 3..]
            .iter()
            .find(|y| y[0] == Data::String(x.label.clone()))
            .unwrap();
        assert_eq!(text(&row[3]), x.value);
    }
    assert!(after.contains(&&Data::String("采购人确认（盖章）：".into())));
}

#[test]
fn every_amount_is_a_number_equal_to_the_statement() {
    for pkg in 1..=5 {
        let s = common::sample(pkg);
        common::dump(&format!("statement-{pkg}.xlsx"), &xlsx(&s).unwrap());
        check(&s);
    }
}

#[test]
fn a_long_statement_renders_quickly() {
    let mut s = common::sample(1);
    let lines = s.lines.clone();
    while s.lines.len() < 60 {
        s.lines.extend(lines.iter().cloned());
    }
    let t = std::time::Instant::now();
    let bytes = xlsx(&s).unwrap();
    eprintln!(
        "{}-line statement: {} bytes in {:?}",
        s.lines.len(),
        bytes.len(),
        t.elapsed()
    );
    assert!(t.elapsed().as_secs() < 5);
}

#[test]
fn hostile_text_is_kept_as_text() {
    let s = common::hostile();
    check(&s);
    let rows = rows(&xlsx(&s).unwrap());
    assert!(rows
        .iter()
        .flatten()
        .any(|c| *c == Data::String(common::HOSTILE.into())));
}

#[test]
fn a_statement_without_details_or_demo_prices_has_no_such_sections() {
    let mut s = common::sample(3);
    s.details.clear();
    s.sla.clear();
    s.demo_prices = false;
    check(&s);
    let rows = rows(&xlsx(&s).unwrap());
    let all: Vec<&Data> = rows.iter().flatten().collect();
    for absent in ["服务水平", "附列（仅供参考，不另计费）"] {
        assert!(!all.contains(&&Data::String(absent.into())), "{absent}");
    }
}
