//! Monthly service statements 月度服务明细: one per package, business system and month.
//!
//! [`build`] turns the month's usage (intervals per item, host-times per item), the unit
//! prices and the contract into a [`Statement`] with the rating rule of [`crate::rating`];
//! [`diff`] compares two versions line by line. Nothing here reads a clock or a database,
//! and the same input always gives the same statement: the store keeps the canonical bytes
//! (the `report` crate's JSON) and a re-run compares against them.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use rust_decimal::Decimal;

use crate::catalog::{Billing, BusinessSystem, Contract, LineItem, Package};
use crate::money::yuan_in_capitals;
use crate::rating::{
    month_bounds, rate_monthly, rate_occurrences, total, PricePeriod, RatingError,
};
use crate::resources::Interval;

/// Added to the rule for items priced per year (元/年).
pub const RULE_PER_YEAR_ZH: &str =
    "按年计价的服务：月单价 = 年单价 ÷ 12，再按上式折算（不先行取整）。";
pub const RULE_PER_YEAR_EN: &str = "Services priced per year: monthly price = annual price ÷ 12, \
then prorated as above (not rounded in between).";

/// One statement: the header, the lines, subtotals per category and the total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// `YYYY-MM`, a calendar month in Beijing time.
    pub month: String,
    pub package: u8,
    pub package_name: String,
    pub system: String,
    pub system_name: String,
    /// 1 for the first issue; each re-issue with changed figures adds one.
    pub version: u32,
    pub contract_id: String,
    pub contract_name: String,
    pub purchaser: String,
    pub provider: String,
    /// First and last day of the month (Beijing time), for the header 服务期间.
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub lines: Vec<Line>,
    /// Per category 类别, in the order the categories first appear in the lines.
    pub subtotals: Vec<Subtotal>,
    /// 合计: the sum of the rounded line amounts.
    pub total: Decimal,
    /// 大写金额 of `total`.
    pub total_in_capitals: String,
    pub rule_zh: String,
    pub rule_en: String,
    /// Call counts and the like, listed for reference (not charged separately).
    pub details: Vec<Detail>,
    /// Service-level figures for the month, when operations data exists (issue 8).
    pub sla: Vec<SlaFigure>,
    /// Set when any unit price on the statement is a demo price 演示价格.
    pub demo_prices: bool,
}

/// One line 明细行: an item over the part of the month one unit price was in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The catalog line item id (`p1-vcpu`).
    pub item: String,
    /// 服务内容.
    pub name: String,
    pub category: String,
    /// 规格/指标要求.
    pub spec: String,
    /// 单位 as printed in the procurement.
    pub unit: String,
    pub billing: Billing,
    /// 合同数量.
    pub contracted: Decimal,
    /// 实际提供: the time-weighted mean quantity for monthly items (4 decimals), host-times
    /// 台次 for per-occurrence items.
    pub quantity: Decimal,
    /// 服务天数 (2 decimals), monthly items only.
    pub days: Option<Decimal>,
    /// 单价 in the item's billing unit (元/月, 元/年 or 元/次); `None` only on a line with
    /// no service and no price.
    pub unit_price: Option<Decimal>,
    /// Service span of the line (monthly items with service).
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// 金额, rounded to the fen.
    pub amount: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subtotal {
    pub category: String,
    pub amount: Decimal,
}

/// A figure listed for reference 附列, e.g. crypto-service calls by operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detail {
    pub label: String,
    pub value: i64,
}

/// A service-level figure of the month (e.g. availability, incidents, SLA breaches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlaFigure {
    pub label: String,
    pub value: String,
}

/// A unit price in the item's billing unit from an instant on; `demo` marks a price from
/// the demo price list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price {
    pub from: DateTime<Utc>,
    pub unit_price: Decimal,
    pub demo: bool,
}

/// Everything one statement is computed from. Maps are keyed by item id; items of the
/// package that apply to the system but have no entry had no usage.
pub struct Input<'a> {
    pub contract: &'a Contract,
    pub package: &'a Package,
    pub system: &'a BusinessSystem,
    pub provider: &'a str,
    pub year: i32,
    pub month: u32,
    pub version: u32,
    /// Usage intervals of the system's resources per item (any order, may overlap).
    pub usage: &'a BTreeMap<String, Vec<Interval>>,
    /// Host-times 台次 performed in the month per per-occurrence item.
    pub occurrences: &'a BTreeMap<String, i64>,
    /// Prices per item, in strictly increasing `from` order.
    pub prices: &'a BTreeMap<String, Vec<Price>>,
    pub details: Vec<Detail>,
    pub sla: Vec<SlaFigure>,
}

/// Why a statement could not be built. `code()` is stable and meant for machines.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error(transparent)]
    Rating(#[from] RatingError),
    /// Usage of an item that has no price in force (无适用单价).
    #[error("item {item} has usage at {at} but no unit price in force then")]
    NoPrice { item: String, at: DateTime<Utc> },
}

impl StatementError {
    pub fn code(&self) -> &'static str {
        match self {
            StatementError::Rating(e) => e.code(),
            StatementError::NoPrice { .. } => "no_price",
        }
    }
}

/// Does `item` belong on the statement of `system`? Items of a system's own table, and
/// items of tables shared by the package's systems (no `system`).
pub fn applies_to(item: &LineItem, system: &str) -> bool {
    item.system.as_ref().is_none_or(|s| s.as_str() == system)
}

/// Build the statement. Lines follow the catalog's item order; an item that applies to
/// the system but had no service gets one line with quantity 0 and amount 0.00 (so the
/// purchaser sees every contracted item). Per-occurrence items use the price in force at
/// the end of the month (the last price starting before the month ends).
pub fn build(input: &Input<'_>) -> Result<Statement, StatementError> {
    let (start, end) = month_bounds(input.year, input.month)?;
    let mut lines = Vec::new();
    let empty_iv = Vec::new();
    let empty_p = Vec::new();
    for item in input
        .package
        .items
        .iter()
        .filter(|i| applies_to(i, input.system.code.as_str()))
    {
        let id = item.id.as_str();
        let prices = input.prices.get(id).unwrap_or(&empty_p);
        let line = |quantity, days, unit_price, from, to, amount| Line {
            item: id.to_owned(),
            name: item.item.clone(),
            category: item.category.clone(),
            spec: item.spec.clone(),
            unit: item.unit_text.trim().to_owned(),
            billing: item.billing,
            contracted: item.quantity.value(),
            quantity,
            days,
            unit_price,
            from,
            to,
            amount,
        };
        // The price shown on a line without service: the one in force at the month's end.
        let latest = prices
            .iter()
            .rev()
            .find(|p| p.from < end)
            .map(|p| p.unit_price);
        match item.billing {
            Billing::PerOccurrence => {
                let n = input.occurrences.get(id).copied().unwrap_or(0);
                match (n, latest) {
                    (0, p) => lines.push(line(Decimal::ZERO, None, p, None, None, money0())),
                    (n, Some(p)) => lines.push(line(
                        Decimal::from(n),
                        None,
                        Some(p),
                        None,
                        None,
                        rate_occurrences(n, p),
                    )),
                    (_, None) => {
                        return Err(StatementError::NoPrice {
                            item: id.to_owned(),
                            at: end,
                        })
                    }
                }
            }
            Billing::PerMonth | Billing::PerYear => {
                let per_month = |p: &Price| match item.billing {
                    Billing::PerYear => p.unit_price / Decimal::from(12),
                    _ => p.unit_price,
                };
                let periods: Vec<PricePeriod> = prices
                    .iter()
                    .map(|p| PricePeriod {
                        from: p.from,
                        unit_price: per_month(p),
                    })
                    .collect();
                let intervals = input.usage.get(id).unwrap_or(&empty_iv);
                let rated = rate_monthly(intervals, &periods, start, end).map_err(|e| match e {
                    RatingError::NoPrice { at } => StatementError::NoPrice {
                        item: id.to_owned(),
                        at,
                    },
                    e => e.into(),
                })?;
                if rated.is_empty() {
                    lines.push(line(zero(4), Some(zero(2)), latest, None, None, money0()));
                }
                for r in rated {
                    // Show the price as procured (元/年 stays per year).
                    let shown = prices
                        .iter()
                        .find(|p| per_month(p) == r.unit_price && p.from < r.to)
                        .map_or(r.unit_price, |p| p.unit_price);
                    lines.push(line(
                        r.provided,
                        Some(r.active_days),
                        Some(shown),
                        Some(r.from),
                        Some(r.to),
                        r.amount,
                    ));
                }
            }
        }
    }

    let mut subtotals: Vec<Subtotal> = Vec::new();
    for l in &lines {
        match subtotals.iter_mut().find(|s| s.category == l.category) {
            Some(s) => s.amount += l.amount,
            None => subtotals.push(Subtotal {
                category: l.category.clone(),
                amount: l.amount,
            }),
        }
    }
    let amounts: Vec<Decimal> = lines.iter().map(|l| l.amount).collect();
    let mut sum = total(&amounts);
    sum.rescale(2);
    let per_year = lines.iter().any(|l| l.billing == Billing::PerYear);
    let demo_prices = input.package.items.iter().any(|i| {
        applies_to(i, input.system.code.as_str())
            && input
                .prices
                .get(i.id.as_str())
                .is_some_and(|ps| ps.iter().any(|p| p.demo && p.from < end))
    });
    let local_start = start.with_timezone(&Shanghai).date_naive();
    let local_end = (end - chrono::Duration::seconds(1))
        .with_timezone(&Shanghai)
        .date_naive();
    Ok(Statement {
        month: format!("{:04}-{:02}", local_start.year(), local_start.month()),
        package: input.package.number.get(),
        package_name: input.package.name.clone(),
        system: input.system.code.as_str().to_owned(),
        system_name: input.system.name.clone(),
        version: input.version,
        contract_id: input.contract.id.clone(),
        contract_name: input.contract.name.clone(),
        purchaser: input.contract.purchaser.clone(),
        provider: input.provider.to_owned(),
        period_from: local_start,
        period_to: local_end,
        lines,
        subtotals,
        total: sum,
        total_in_capitals: yuan_in_capitals(sum),
        rule_zh: if per_year {
            format!("{}{}", crate::rating::RULE_ZH, RULE_PER_YEAR_ZH)
        } else {
            crate::rating::RULE_ZH.to_owned()
        },
        rule_en: if per_year {
            format!("{} {}", crate::rating::RULE_EN, RULE_PER_YEAR_EN)
        } else {
            crate::rating::RULE_EN.to_owned()
        },
        details: input.details.clone(),
        sla: input.sla.clone(),
        demo_prices,
    })
}

fn money0() -> Decimal {
    zero(2)
}

/// Zero shown with `dp` decimals.
fn zero(dp: u32) -> Decimal {
    let mut z = Decimal::ZERO;
    z.rescale(dp);
    z
}

/// How one line changed between two versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    Changed,
}

impl Change {
    pub fn code(&self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }
    pub fn label_zh(&self) -> &'static str {
        match self {
            Change::Added => "新增",
            Change::Removed => "删除",
            Change::Changed => "变更",
        }
    }
}

/// One changed line: the same item's n-th line in both versions compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineDiff {
    pub item: String,
    pub name: String,
    pub change: Change,
    pub before: Option<Line>,
    pub after: Option<Line>,
}

/// The difference between two versions of a statement, line by line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diff {
    pub from_version: u32,
    pub to_version: u32,
    pub lines: Vec<LineDiff>,
    pub total_before: Decimal,
    pub total_after: Decimal,
}

/// Compare `old` and `new` line by line. Lines are matched by item and position among
/// that item's lines (a price change splits an item into several lines); a matched pair
/// is reported when any figure differs. Header changes (version) are not lines.
pub fn diff(old: &Statement, new: &Statement) -> Diff {
    fn keyed(s: &Statement) -> Vec<((String, usize), &Line)> {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        s.lines
            .iter()
            .map(|l| {
                let n = seen.entry(l.item.as_str()).or_default();
                *n += 1;
                ((l.item.clone(), *n), l)
            })
            .collect()
    }
    let a = keyed(old);
    let b = keyed(new);
    let mut lines = Vec::new();
    // Walk in the new statement's order, then lines only the old one has.
    for (k, nl) in &b {
        match a.iter().find(|(ka, _)| ka == k) {
            None => lines.push(LineDiff {
                item: nl.item.clone(),
                name: nl.name.clone(),
                change: Change::Added,
                before: None,
                after: Some((*nl).clone()),
            }),
            Some((_, ol)) if ol != nl => lines.push(LineDiff {
                item: nl.item.clone(),
                name: nl.name.clone(),
                change: Change::Changed,
                before: Some((*ol).clone()),
                after: Some((*nl).clone()),
            }),
            Some(_) => {}
        }
    }
    for (k, ol) in &a {
        if !b.iter().any(|(kb, _)| kb == k) {
            lines.push(LineDiff {
                item: ol.item.clone(),
                name: ol.name.clone(),
                change: Change::Removed,
                before: Some((*ol).clone()),
                after: None,
            });
        }
    }
    Diff {
        from_version: old.version,
        to_version: new.version,
        lines,
        total_before: old.total,
        total_after: new.total,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::catalog;

    const CATALOG: &str = include_str!("../../../catalog/bjggzy-2026.toml");

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn bj(y: i32, m: u32, day: u32, h: u32) -> DateTime<Utc> {
        Shanghai
            .with_ymd_and_hms(y, m, day, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn contract() -> Contract {
        catalog::parse(CATALOG).unwrap()
    }

    struct Fixture {
        usage: BTreeMap<String, Vec<Interval>>,
        occ: BTreeMap<String, i64>,
        prices: BTreeMap<String, Vec<Price>>,
    }

    fn run(c: &Contract, pkg: u8, sys: &str, f: &Fixture, y: i32, m: u32) -> Statement {
        let package = c.packages.iter().find(|p| p.number.get() == pkg).unwrap();
        let system = c.systems.iter().find(|s| s.code.as_str() == sys).unwrap();
        build(&Input {
            contract: c,
            package,
            system,
            provider: "示例服务商",
            year: y,
            month: m,
            version: 1,
            usage: &f.usage,
            occurrences: &f.occ,
            prices: &f.prices,
            details: vec![],
            sla: vec![],
        })
        .unwrap()
    }

    fn price(from: DateTime<Utc>, p: &str) -> Price {
        Price {
            from,
            unit_price: d(p),
            demo: false,
        }
    }

    fn first_item(c: &Contract, pkg: u8, sys: &str, billing: Billing) -> String {
        c.packages
            .iter()
            .find(|p| p.number.get() == pkg)
            .unwrap()
            .items
            .iter()
            .find(|i| applies_to(i, sys) && i.billing == billing)
            .unwrap()
            .id
            .as_str()
            .to_owned()
    }

    #[test]
    fn every_applicable_item_is_listed_and_the_total_adds_up() {
        let c = contract();
        let sys = c.packages[0].systems[0].as_str().to_owned();
        let item = first_item(&c, 1, &sys, Billing::PerMonth);
        let f = Fixture {
            // 10 units for half of December (15.5 of 31 days).
            usage: BTreeMap::from([(
                item.clone(),
                vec![Interval {
                    from: bj(2026, 12, 1, 0),
                    to: Some(bj(2026, 12, 16, 12)),
                    quantity: d("10"),
                }],
            )]),
            occ: BTreeMap::new(),
            prices: BTreeMap::from([(item.clone(), vec![price(bj(2026, 1, 1, 0), "31")])]),
        };
        let s = run(&c, 1, &sys, &f, 2026, 12);
        let applicable = c.packages[0]
            .items
            .iter()
            .filter(|i| applies_to(i, &sys))
            .count();
        assert_eq!(s.lines.len(), applicable);
        let l = s.lines.iter().find(|l| l.item == item).unwrap();
        // 31 × 10 × 15.5 days / 31 days = 155.00
        assert_eq!(l.amount, d("155.00"));
        assert_eq!(l.quantity, d("5.0000"));
        assert_eq!(l.days, Some(d("15.50")));
        assert_eq!(s.total, d("155.00"));
        assert_eq!(s.total.to_string(), "155.00");
        assert_eq!(s.total_in_capitals, "壹佰伍拾伍元整");
        assert_eq!(
            s.subtotals.iter().map(|x| x.amount).sum::<Decimal>(),
            s.total
        );
        assert_eq!(s.period_from, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(s.period_to, NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
        assert_eq!(s.month, "2026-12");
        // Lines with no service are zero with the price shown when known.
        assert!(s
            .lines
            .iter()
            .filter(|l| l.item != item)
            .all(|l| l.amount == Decimal::ZERO && l.amount.to_string() == "0.00"));
    }

    #[test]
    fn per_year_items_are_charged_a_twelfth_per_month() {
        let c = contract();
        let (pkg, sys, item) = c
            .packages
            .iter()
            .flat_map(|p| {
                p.items
                    .iter()
                    .filter(|i| i.billing == Billing::PerYear && i.system.is_some())
                    .map(move |i| (p.number.get(), i.system.clone().unwrap(), i.id.clone()))
            })
            .next()
            .unwrap();
        let f = Fixture {
            usage: BTreeMap::from([(
                item.as_str().to_owned(),
                vec![Interval {
                    from: bj(2026, 1, 1, 0),
                    to: None,
                    quantity: d("3"),
                }],
            )]),
            occ: BTreeMap::new(),
            prices: BTreeMap::from([(
                item.as_str().to_owned(),
                vec![price(bj(2026, 1, 1, 0), "1000")],
            )]),
        };
        let s = run(&c, pkg, sys.as_str(), &f, 2027, 2);
        let l = s.lines.iter().find(|l| l.item == item.as_str()).unwrap();
        // 1000/12 × 3 for a whole month = 250.00; the price is shown per year.
        assert_eq!(l.amount, d("250.00"));
        assert_eq!(l.unit_price, Some(d("1000")));
        assert!(s.rule_zh.contains("年单价 ÷ 12"));
    }

    #[test]
    fn occurrences_use_the_price_at_month_end_and_usage_without_price_is_refused() {
        let c = contract();
        let (pkg, sys, item) = c
            .packages
            .iter()
            .flat_map(|p| {
                let sys = p.systems[0].clone();
                p.items
                    .iter()
                    .filter(move |i| {
                        i.billing == Billing::PerOccurrence && applies_to(i, sys.as_str())
                    })
                    .map(move |i| (p.number.get(), p.systems[0].clone(), i.id.clone()))
            })
            .next()
            .unwrap();
        let mut f = Fixture {
            usage: BTreeMap::new(),
            occ: BTreeMap::from([(item.as_str().to_owned(), 7)]),
            prices: BTreeMap::from([(
                item.as_str().to_owned(),
                vec![
                    price(bj(2026, 1, 1, 0), "100"),
                    price(bj(2026, 12, 20, 0), "120.5"),
                ],
            )]),
        };
        let s = run(&c, pkg, sys.as_str(), &f, 2026, 12);
        let l = s.lines.iter().find(|l| l.item == item.as_str()).unwrap();
        assert_eq!(l.amount, d("843.50"));
        assert_eq!(l.quantity, d("7"));
        assert_eq!(l.days, None);

        f.prices.clear();
        let package = c.packages.iter().find(|p| p.number.get() == pkg).unwrap();
        let system = c.system(&sys).unwrap();
        let err = build(&Input {
            contract: &c,
            package,
            system,
            provider: "p",
            year: 2026,
            month: 12,
            version: 1,
            usage: &f.usage,
            occurrences: &f.occ,
            prices: &f.prices,
            details: vec![],
            sla: vec![],
        })
        .unwrap_err();
        assert_eq!(err.code(), "no_price");
    }

    #[test]
    fn diff_reports_changed_added_and_removed_lines() {
        let c = contract();
        let sys = c.packages[0].systems[0].as_str().to_owned();
        let item = first_item(&c, 1, &sys, Billing::PerMonth);
        let mk = |to_day: u32, second_price: bool| {
            let mut prices = vec![price(bj(2026, 1, 1, 0), "31")];
            if second_price {
                prices.push(price(bj(2026, 12, 10, 0), "62"));
            }
            Fixture {
                usage: BTreeMap::from([(
                    item.clone(),
                    vec![Interval {
                        from: bj(2026, 12, 1, 0),
                        to: Some(bj(2026, 12, to_day, 0)),
                        quantity: d("1"),
                    }],
                )]),
                occ: BTreeMap::new(),
                prices: BTreeMap::from([(item.clone(), prices)]),
            }
        };
        let v1 = run(&c, 1, &sys, &mk(5, false), 2026, 12);
        let same = run(&c, 1, &sys, &mk(5, false), 2026, 12);
        assert!(diff(&v1, &same).lines.is_empty());
        let mut v2 = run(&c, 1, &sys, &mk(15, true), 2026, 12);
        v2.version = 2;
        let dd = diff(&v1, &v2);
        assert_eq!(dd.lines.len(), 2, "{dd:?}");
        assert_eq!(dd.lines[0].change, Change::Changed);
        assert_eq!(dd.lines[0].before.as_ref().unwrap().amount, d("4.00"));
        assert_eq!(dd.lines[0].after.as_ref().unwrap().amount, d("9.00"));
        assert_eq!(dd.lines[1].change, Change::Added);
        assert_eq!(dd.lines[1].after.as_ref().unwrap().amount, d("10.00"));
        assert_eq!((dd.total_before, dd.total_after), (d("4.00"), d("19.00")));
        let back = diff(&v2, &v1);
        assert_eq!(back.lines[1].change, Change::Removed);
    }
}
