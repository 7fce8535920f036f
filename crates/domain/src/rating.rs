//! The rating rule 计费规则 of monthly service statements 月度服务明细.
//!
//! A monthly service is charged by the time it was actually provided 按实际服务时长折算:
//! for each price period 价格期间 in force during the month,
//! `amount = round_fen(unit_price × Σ(quantity × seconds) ÷ seconds in the month)`, the month
//! being a calendar month 自然月 in Beijing time (Asia/Shanghai). Each line is rounded once, to
//! the fen; a total is the sum of the rounded lines. Per-occurrence services 按次服务 are
//! `unit_price × host-times 台次`.
//!
//! Like the rest of `domain`, nothing here reads a clock: the month comes in as values.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::money::round_fen;
use crate::resources::{clip, quantity_seconds, Interval};

/// The rule as printed on every statement (计费规则说明).
pub const RULE_ZH: &str =
    "月度服务按实际服务时长折算：金额 = 单价（元/月）× Σ(数量 × 服务秒数) ÷ 当月秒数\
（按北京时间自然月），月内单价调整的按调整时点分行计算，每行四舍五入到分，合计为各行之和；\
按次服务：金额 = 单价（元/次）× 当月实际台次，四舍五入到分。";

/// The rule in English, saying the same as [`RULE_ZH`].
pub const RULE_EN: &str = "Monthly services are charged pro rata to the time actually provided: \
amount = unit price (CNY per month) × Σ(quantity × seconds of service) ÷ seconds in the month \
(calendar month in Beijing time); a price change within the month starts a new line; each line \
is rounded to the fen (0.01 CNY, half away from zero) and the total is the sum of the lines. \
Per-occurrence services: amount = unit price (CNY per occurrence) × host-times in the month, \
rounded to the fen.";

const SECONDS_PER_DAY: i64 = 86_400;

/// Why a month could not be rated. `code()` is stable and meant for machines.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RatingError {
    /// Not a calendar month chrono can represent (月份无效).
    #[error("invalid month {year}-{month:02}")]
    InvalidMonth { year: i32, month: u32 },
    /// Some usage in the month lies before the first price period (无适用单价).
    #[error("no unit price is in force at {at}")]
    NoPrice { at: DateTime<Utc> },
    /// The input itself is malformed (输入无效).
    #[error("invalid rating input: {0}")]
    Invalid(String),
}

impl RatingError {
    pub fn code(&self) -> &'static str {
        match self {
            RatingError::InvalidMonth { .. } => "invalid_month",
            RatingError::NoPrice { .. } => "no_price",
            RatingError::Invalid(_) => "invalid_rating_input",
        }
    }
}

/// The month `[start, end)` as UTC instants: 00:00 Beijing time on the 1st of the month to
/// 00:00 on the 1st of the next (e.g. 2026-12 → 2026-11-30T16:00:00Z .. 2026-12-31T16:00:00Z).
pub fn month_bounds(year: i32, month: u32) -> Result<(DateTime<Utc>, DateTime<Utc>), RatingError> {
    let invalid = || RatingError::InvalidMonth { year, month };
    if !(1..=12).contains(&month) {
        return Err(invalid());
    }
    let (ny, nm) = if month == 12 {
        (year.checked_add(1).ok_or_else(invalid)?, 1)
    } else {
        (year, month + 1)
    };
    // Midnight is never skipped or repeated in Asia/Shanghai (the 1986–1991 summer-time
    // changes were at 02:00), so `single()` only fails out of chrono's range.
    let midnight = |y: i32, m: u32| {
        Shanghai
            .with_ymd_and_hms(y, m, 1, 0, 0, 0)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(invalid)
    };
    Ok((midnight(year, month)?, midnight(ny, nm)?))
}

/// Seconds in the calendar month (28, 29, 30 or 31 days × 86,400).
pub fn seconds_in_month(year: i32, month: u32) -> Result<i64, RatingError> {
    let (start, end) = month_bounds(year, month)?;
    Ok(end.timestamp() - start.timestamp())
}

/// A unit price 单价 in 元 per month, in force from `from` until the next period's `from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PricePeriod {
    pub from: DateTime<Utc>,
    pub unit_price: Decimal,
}

/// One line of a monthly statement: the part of the month one unit price was in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonthlyLine {
    /// 单价, 元 per month.
    pub unit_price: Decimal,
    /// First instant of service within this line (服务起始).
    pub from: DateTime<Utc>,
    /// End of the last service within this line (服务截止, exclusive).
    pub to: DateTime<Utc>,
    /// Σ quantity × seconds of service within this line, exactly.
    pub quantity_seconds: Decimal,
    /// Time-weighted mean quantity 折算数量: `quantity_seconds ÷ seconds in the month`,
    /// rounded to 4 decimals half away from zero. For display only; `amount` does not use it.
    pub provided: Decimal,
    /// Days with a positive quantity 服务天数: seconds ÷ 86,400, rounded to 2 decimals
    /// half away from zero. For reference only.
    pub active_days: Decimal,
    /// 金额: `round_fen(unit_price × quantity_seconds ÷ seconds in the month)`, rounded once.
    pub amount: Decimal,
}

/// Rates one item in one business system for one month: `intervals` are all the item's
/// usage intervals in the system (they may overlap when several resources rent the same
/// item; their quantities add up), `prices` its unit prices in strictly increasing `from`
/// order, `[month_start, month_end)` the month (see [`month_bounds`]).
///
/// The month is split at each price change; each part with service gives one line, parts
/// with zero quantity-seconds give none. The divisor is always the whole month's seconds.
/// Instants count at whole-second resolution, as in [`quantity_seconds`].
///
/// Errors: `NoPrice` when usage with a positive quantity lies in the month before the first
/// price period (or there is no price at all); `Invalid` for an empty month, prices out of
/// order, a negative price or quantity, or an amount too large for a `Decimal`.
pub fn rate_monthly(
    intervals: &[Interval],
    prices: &[PricePeriod],
    month_start: DateTime<Utc>,
    month_end: DateTime<Utc>,
) -> Result<Vec<MonthlyLine>, RatingError> {
    let month_seconds = month_end.timestamp() - month_start.timestamp();
    if month_seconds <= 0 {
        return Err(RatingError::Invalid(format!(
            "the month {month_start} .. {month_end} is empty"
        )));
    }
    if let Some(iv) = intervals.iter().find(|iv| iv.quantity < Decimal::ZERO) {
        return Err(RatingError::Invalid(format!(
            "interval from {} has negative quantity {}",
            iv.from, iv.quantity
        )));
    }
    for (i, p) in prices.iter().enumerate() {
        if p.unit_price < Decimal::ZERO {
            return Err(RatingError::Invalid(format!(
                "price from {} is negative: {}",
                p.from, p.unit_price
            )));
        }
        if i > 0 && p.from <= prices[i - 1].from {
            return Err(RatingError::Invalid(format!(
                "price periods must start in strictly increasing order: {} after {}",
                p.from,
                prices[i - 1].from
            )));
        }
    }

    // Usage before the first price (or anywhere, without prices) cannot be rated.
    let priced_from = prices
        .first()
        .map_or(month_end, |p| p.from.max(month_start));
    if let Some(at) = first_service(intervals, month_start, priced_from) {
        return Err(RatingError::NoPrice { at });
    }

    let divisor = Decimal::from(month_seconds);
    let overflow = || RatingError::Invalid("amount out of range".to_owned());
    let mut lines = Vec::new();
    for (i, p) in prices.iter().enumerate() {
        let from = p.from.max(month_start);
        let to = prices
            .get(i + 1)
            .map_or(month_end, |n| n.from.min(month_end));
        if from >= to {
            continue;
        }
        let qs = quantity_seconds(intervals, from, to);
        if qs.is_zero() {
            continue;
        }
        let pieces: Vec<Interval> = clip(intervals, from, to)
            .into_iter()
            .filter(|c| c.quantity > Decimal::ZERO)
            .collect();
        let service_from = pieces.iter().map(|c| c.from).min().unwrap_or(from);
        let service_to = pieces.iter().filter_map(|c| c.to).max().unwrap_or(to);
        let amount = p
            .unit_price
            .checked_mul(qs)
            .and_then(|x| x.checked_div(divisor))
            .ok_or_else(overflow)?;
        let provided = qs.checked_div(divisor).ok_or_else(overflow)?;
        let active = Decimal::from(covered_seconds(&pieces)) / Decimal::from(SECONDS_PER_DAY);
        lines.push(MonthlyLine {
            unit_price: p.unit_price,
            from: service_from,
            to: service_to,
            quantity_seconds: qs,
            provided: fixed(provided, 4),
            active_days: fixed(active, 2),
            amount: fen(amount),
        });
    }
    Ok(lines)
}

/// Money: [`round_fen`], shown with exactly two decimals (`200` → `200.00`).
fn fen(x: Decimal) -> Decimal {
    let mut r = round_fen(x);
    r.rescale(2);
    r
}

/// Display figures: half away from zero (as [`round_fen`]) to `dp` decimals, shown with
/// exactly `dp` decimals.
fn fixed(x: Decimal, dp: u32) -> Decimal {
    let mut r = x.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(dp);
    r
}

/// The first instant in `[from, to)` with a positive quantity that counts for at least one
/// whole second, if any.
fn first_service(
    intervals: &[Interval],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    clip(intervals, from, to)
        .into_iter()
        .filter(|c| {
            c.quantity > Decimal::ZERO && c.to.is_some_and(|t| c.from.timestamp() < t.timestamp())
        })
        .map(|c| c.from)
        .min()
}

/// Whole seconds covered by at least one of the (closed) pieces; overlaps count once.
fn covered_seconds(pieces: &[Interval]) -> i64 {
    let mut spans: Vec<(i64, i64)> = pieces
        .iter()
        .filter_map(|c| c.to.map(|t| (c.from.timestamp(), t.timestamp())))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort_unstable();
    let mut total = 0;
    let mut reach = i64::MIN;
    for (a, b) in spans {
        let start = a.max(reach);
        if b > start {
            total += b - start;
            reach = b;
        }
    }
    total
}

/// A per-occurrence service 按次服务: `unit_price` 元/次 × `host_times` 台次, rounded to the fen.
pub fn rate_occurrences(host_times: i64, unit_price: Decimal) -> Decimal {
    fen(unit_price * Decimal::from(host_times))
}

/// The total 合计 of a statement: the sum of the already-rounded line amounts, not rounded
/// again (so the printed lines always add up to the printed total).
pub fn total(lines: &[Decimal]) -> Decimal {
    lines.iter().sum()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// An instant in Beijing time.
    fn bj(y: i32, mo: u32, day: u32, h: u32) -> DateTime<Utc> {
        Shanghai
            .with_ymd_and_hms(y, mo, day, h, 0, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn iv(from: DateTime<Utc>, to: Option<DateTime<Utc>>, q: &str) -> Interval {
        Interval {
            from,
            to,
            quantity: d(q),
        }
    }

    fn price(from: DateTime<Utc>, p: &str) -> PricePeriod {
        PricePeriod {
            from,
            unit_price: d(p),
        }
    }

    /// A price in force long before any month in these tests.
    fn always(p: &str) -> Vec<PricePeriod> {
        vec![price(bj(2020, 1, 1, 0), p)]
    }

    fn rate(ivs: &[Interval], prices: &[PricePeriod], y: i32, m: u32) -> Vec<MonthlyLine> {
        let (a, b) = month_bounds(y, m).unwrap();
        rate_monthly(ivs, prices, a, b).unwrap()
    }

    fn amounts(lines: &[MonthlyLine]) -> Vec<String> {
        lines.iter().map(|l| l.amount.to_string()).collect()
    }

    #[test]
    fn months_are_beijing_calendar_months() {
        assert_eq!(
            month_bounds(2026, 12).unwrap(),
            (utc("2026-11-30T16:00:00Z"), utc("2026-12-31T16:00:00Z"))
        );
        assert_eq!(
            month_bounds(2027, 1).unwrap(),
            (utc("2026-12-31T16:00:00Z"), utc("2027-01-31T16:00:00Z"))
        );
        for (y, m, days) in [
            (2026, 12, 31),
            (2026, 11, 30),
            (2027, 2, 28),
            (2028, 2, 29),
            (2027, 1, 31),
        ] {
            assert_eq!(seconds_in_month(y, m).unwrap(), days * 86_400, "{y}-{m}");
        }
        for m in [0, 13] {
            let e = month_bounds(2026, m).unwrap_err();
            assert_eq!(
                e,
                RatingError::InvalidMonth {
                    year: 2026,
                    month: m
                }
            );
            assert_eq!(e.code(), "invalid_month");
        }
        assert!(month_bounds(i32::MAX, 12).is_err());
    }

    #[test]
    fn mid_month_start() {
        // 8 vCPU at 100 元/月 from 2026-12-16 00:00 Beijing, still running.
        // December has 31 days; 16 days of service (16th..31st).
        // 8 × 100 × 16 / 31 = 12800 / 31 = 412.9032… → 412.90
        // provided = 8 × 16 / 31 = 4.12903… → 4.1290; active days 16.00
        let lines = rate(
            &[iv(bj(2026, 12, 16, 0), None, "8")],
            &always("100"),
            2026,
            12,
        );
        assert_eq!(
            lines,
            [MonthlyLine {
                unit_price: d("100"),
                from: bj(2026, 12, 16, 0),
                to: bj(2027, 1, 1, 0),
                quantity_seconds: Decimal::from(8 * 16 * 86_400),
                provided: d("4.1290"),
                active_days: d("16.00"),
                amount: d("412.90"),
            }]
        );
    }

    #[test]
    fn mid_month_resize() {
        // 4 units 12-01..12-11 (10 days), then 8 units 12-11..month end (21 days), 100 元/月.
        // Σ q × days = 4 × 10 + 8 × 21 = 208; 100 × 208 / 31 = 670.9677… → 670.97
        // provided = 208 / 31 = 6.70967… → 6.7097; active 31.00 days
        let ivs = [
            iv(bj(2026, 12, 1, 0), Some(bj(2026, 12, 11, 0)), "4"),
            iv(bj(2026, 12, 11, 0), None, "8"),
        ];
        let lines = rate(&ivs, &always("100"), 2026, 12);
        assert_eq!(amounts(&lines), ["670.97"]);
        assert_eq!(lines[0].provided, d("6.7097"));
        assert_eq!(lines[0].active_days, d("31.00"));
        assert_eq!(lines[0].quantity_seconds, Decimal::from(208 * 86_400));
    }

    #[test]
    fn released_at_midnight_on_the_first_gives_no_line() {
        // 2 units from 2026-11-20 00:00 to 2026-12-01 00:00 Beijing, 100 元/月.
        // November (30 days): 11 days; 2 × 100 × 11 / 30 = 2200 / 30 = 73.333… → 73.33
        // December: zero quantity-seconds, the line is omitted.
        let ivs = [iv(bj(2026, 11, 20, 0), Some(bj(2026, 12, 1, 0)), "2")];
        assert_eq!(amounts(&rate(&ivs, &always("100"), 2026, 11)), ["73.33"]);
        assert_eq!(rate(&ivs, &always("100"), 2026, 12), []);
        assert_eq!(rate(&[], &always("100"), 2026, 12), []);
    }

    #[test]
    fn february_and_a_31_day_month_divide_differently() {
        // 3 units for 10 days at 100 元/月.
        // 2027-02 (28 days): 3 × 100 × 10 / 28 = 3000 / 28 = 107.142857… → 107.14
        // 2027-01 (31 days): 3000 / 31 = 96.774193… → 96.77
        let feb = [iv(bj(2027, 2, 5, 0), Some(bj(2027, 2, 15, 0)), "3")];
        let jan = [iv(bj(2027, 1, 5, 0), Some(bj(2027, 1, 15, 0)), "3")];
        assert_eq!(amounts(&rate(&feb, &always("100"), 2027, 2)), ["107.14"]);
        assert_eq!(amounts(&rate(&jan, &always("100"), 2027, 1)), ["96.77"]);
        // A whole month is the whole price in either: 3 × 100 = 300.00
        let whole = [iv(bj(2026, 6, 1, 0), None, "3")];
        assert_eq!(amounts(&rate(&whole, &always("100"), 2027, 2)), ["300.00"]);
        assert_eq!(amounts(&rate(&whole, &always("100"), 2027, 1)), ["300.00"]);
    }

    #[test]
    fn fractional_quantity() {
        // 9.6 units at 123.45 元/月 for 7 days of November 2026 (30 days).
        // 9.6 × 123.45 = 1185.12; × 7 = 8295.84; / 30 = 276.528 → 276.53
        // provided = 9.6 × 7 / 30 = 2.24 → 2.2400; active 7.00 days
        let ivs = [iv(bj(2026, 11, 10, 0), Some(bj(2026, 11, 17, 0)), "9.6")];
        let lines = rate(&ivs, &always("123.45"), 2026, 11);
        assert_eq!(amounts(&lines), ["276.53"]);
        assert_eq!(lines[0].provided.to_string(), "2.2400");
        assert_eq!(lines[0].active_days.to_string(), "7.00");
    }

    #[test]
    fn price_change_mid_month_gives_two_lines() {
        // 2 units all December; 100 元/月 until 12-21 00:00 Beijing, then 120 元/月.
        // 12-01..12-21 (20 days): 2 × 100 × 20 / 31 = 4000 / 31 = 129.032… → 129.03
        // 12-21..01-01 (11 days): 2 × 120 × 11 / 31 = 2640 / 31 = 85.161… → 85.16
        // total 129.03 + 85.16 = 214.19
        let ivs = [iv(bj(2026, 10, 1, 0), None, "2")];
        let prices = [
            price(bj(2026, 1, 1, 0), "100"),
            price(bj(2026, 12, 21, 0), "120"),
        ];
        let lines = rate(&ivs, &prices, 2026, 12);
        assert_eq!(amounts(&lines), ["129.03", "85.16"]);
        assert_eq!(
            (lines[0].from, lines[0].to, lines[1].from, lines[1].to),
            (
                bj(2026, 12, 1, 0),
                bj(2026, 12, 21, 0),
                bj(2026, 12, 21, 0),
                bj(2027, 1, 1, 0)
            )
        );
        assert_eq!(lines[0].unit_price, d("100"));
        assert_eq!(lines[1].unit_price, d("120"));
        let amts: Vec<Decimal> = lines.iter().map(|l| l.amount).collect();
        assert_eq!(total(&amts), d("214.19"));
        // A price that starts after the month does not show.
        let later = [
            price(bj(2026, 1, 1, 0), "100"),
            price(bj(2027, 1, 1, 0), "120"),
        ];
        // 2 × 100 = 200.00
        assert_eq!(amounts(&rate(&ivs, &later, 2026, 12)), ["200.00"]);
    }

    #[test]
    fn crossing_midnight_at_month_end_in_beijing_not_utc() {
        // 2026-12-31T15:00Z..17:00Z = 23:00..01:00 Beijing: one hour in each month, though
        // the whole interval is on 31 December in UTC. Both months have 31 days
        // = 2,678,400 s, so one hour is 3600 / 2678400 = 1/744 of the month.
        // 1 × 744 / 744 = 1.00 in December and 1.00 in January.
        let ivs = [iv(
            utc("2026-12-31T15:00:00Z"),
            Some(utc("2026-12-31T17:00:00Z")),
            "1",
        )];
        let dec = rate(&ivs, &always("744"), 2026, 12);
        let jan = rate(&ivs, &always("744"), 2027, 1);
        assert_eq!(amounts(&dec), ["1.00"]);
        assert_eq!(amounts(&jan), ["1.00"]);
        assert_eq!(dec[0].quantity_seconds, d("3600"));
        assert_eq!(jan[0].quantity_seconds, d("3600"));
        assert_eq!(dec[0].to, utc("2026-12-31T16:00:00Z"));
        assert_eq!(jan[0].from, utc("2026-12-31T16:00:00Z"));
        // 3600 / 86400 = 0.041666… → 0.04 days; 1/744 = 0.0013440… → 0.0013
        assert_eq!(dec[0].active_days, d("0.04"));
        assert_eq!(dec[0].provided, d("0.0013"));
    }

    #[test]
    fn rounding_is_half_away_from_zero_at_half_a_fen() {
        // November 2026 has 30 days.
        // 1 unit for 15 days at 10.01: 10.01 × 15 / 30 = 5.005 exactly → 5.01 (not 5.00)
        let half = [iv(bj(2026, 11, 1, 0), Some(bj(2026, 11, 16, 0)), "1")];
        assert_eq!(amounts(&rate(&half, &always("10.01"), 2026, 11)), ["5.01"]);
        // 1 unit for 5 days at 0.03: 0.03 × 5 / 30 = 0.005 exactly → 0.01
        let five = [iv(bj(2026, 11, 1, 0), Some(bj(2026, 11, 6, 0)), "1")];
        assert_eq!(amounts(&rate(&five, &always("0.03"), 2026, 11)), ["0.01"]);
        // 1 unit for 15 days at 10.05: 10.05 × 15 / 30 = 5.025 exactly → 5.03 (half-even
        // would give 5.02)
        assert_eq!(amounts(&rate(&half, &always("10.05"), 2026, 11)), ["5.03"]);
    }

    #[test]
    fn overlapping_resources_add_up_and_days_count_once() {
        // Two hosts of the same item in one system, 2 units each, 100 元/月, November (30 d).
        // A: 11-01..11-11 (10 d), B: 11-06..11-16 (10 d) → Σ = 2 × 10 + 2 × 10 = 40 unit-days
        // 100 × 40 / 30 = 133.333… → 133.33; active days = 11-01..11-16 = 15.00
        let ivs = [
            iv(bj(2026, 11, 1, 0), Some(bj(2026, 11, 11, 0)), "2"),
            iv(bj(2026, 11, 6, 0), Some(bj(2026, 11, 16, 0)), "2"),
        ];
        let lines = rate(&ivs, &always("100"), 2026, 11);
        assert_eq!(amounts(&lines), ["133.33"]);
        assert_eq!(lines[0].active_days, d("15.00"));
        assert_eq!(
            (lines[0].from, lines[0].to),
            (bj(2026, 11, 1, 0), bj(2026, 11, 16, 0))
        );
    }

    #[test]
    fn usage_without_a_price_is_an_error() {
        let (a, b) = month_bounds(2026, 12).unwrap();
        let ivs = [iv(bj(2026, 11, 1, 0), None, "1")];
        // the price only starts on the 10th: the usage from the 1st has none
        let prices = [price(bj(2026, 12, 10, 0), "100")];
        let e = rate_monthly(&ivs, &prices, a, b).unwrap_err();
        assert_eq!(e, RatingError::NoPrice { at: a });
        assert_eq!(e.code(), "no_price");
        let late = [iv(bj(2026, 12, 3, 0), None, "1")];
        assert_eq!(
            rate_monthly(&late, &[], a, b).unwrap_err(),
            RatingError::NoPrice {
                at: bj(2026, 12, 3, 0)
            }
        );
        // usage only after the price starts is fine: 1 × 100 × 5 / 31 = 16.129… → 16.13
        let after = [iv(bj(2026, 12, 10, 0), Some(bj(2026, 12, 15, 0)), "1")];
        let lines = rate_monthly(&after, &prices, a, b).unwrap();
        assert_eq!(amounts(&lines), ["16.13"]);
        // no usage, no price: nothing to rate
        assert_eq!(rate_monthly(&[], &[], a, b).unwrap(), []);
    }

    #[test]
    fn malformed_input_is_rejected() {
        let (a, b) = month_bounds(2026, 12).unwrap();
        let ivs = [iv(a, None, "1")];
        let unordered = [price(bj(2026, 6, 1, 0), "1"), price(bj(2026, 6, 1, 0), "2")];
        let negative = [price(bj(2026, 6, 1, 0), "-1")];
        for (ivs, prices, a, b) in [
            (&ivs[..], &unordered[..], a, b),
            (&ivs[..], &negative[..], a, b),
            (&ivs[..], &always("1")[..], b, a),
            (&[iv(a, None, "-1")][..], &always("1")[..], a, b),
        ] {
            let e = rate_monthly(ivs, prices, a, b).unwrap_err();
            assert_eq!(e.code(), "invalid_rating_input", "{e}");
        }
    }

    #[test]
    fn occurrences_and_totals() {
        // 12 台次 × 200 元/次 = 2400.00
        assert_eq!(rate_occurrences(12, d("200")), d("2400"));
        // 3 × 33.335 = 100.005 → 100.01
        assert_eq!(rate_occurrences(3, d("33.335")).to_string(), "100.01");
        assert_eq!(rate_occurrences(0, d("150")), d("0"));
        // totals are plain sums of rounded lines: 412.90 + 0.01 + 85.16 = 498.07
        assert_eq!(total(&[d("412.90"), d("0.01"), d("85.16")]), d("498.07"));
        assert_eq!(total(&[]), d("0"));
    }

    #[test]
    fn the_printed_rule_names_its_parts() {
        for part in [
            "单价",
            "Σ(数量 × 服务秒数)",
            "当月秒数",
            "北京时间自然月",
            "四舍五入到分",
            "各行之和",
            "台次",
        ] {
            assert!(RULE_ZH.contains(part), "{part}");
        }
        for part in [
            "seconds in the month",
            "Beijing time",
            "half away from zero",
            "sum of the lines",
        ] {
            assert!(RULE_EN.contains(part), "{part}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Offsets in seconds from the start of December 2026 (Beijing); a little before and
        /// after the month so that intervals cross its bounds.
        const LO: i64 = -5 * 86_400;
        const HI: i64 = 36 * 86_400;

        fn at(off: i64) -> DateTime<Utc> {
            bj(2026, 12, 1, 0) + Duration::seconds(off)
        }

        fn quantity() -> impl Strategy<Value = Decimal> {
            prop_oneof![
                1 => Just(Decimal::ZERO),
                6 => (1i64..10_000, 0u32..=2).prop_map(|(n, s)| Decimal::new(n, s)),
            ]
        }

        fn interval() -> impl Strategy<Value = Interval> {
            (LO..HI, 1i64..20 * 86_400, any::<bool>(), quantity()).prop_map(
                |(from, len, open, quantity)| Interval {
                    from: at(from),
                    to: (!open).then(|| at(from + len)),
                    quantity,
                },
            )
        }

        /// One to three prices; the first in force before the month starts.
        fn prices() -> impl Strategy<Value = Vec<PricePeriod>> {
            prop::collection::btree_set(0i64..31 * 86_400, 0..3).prop_flat_map(|changes| {
                let n = changes.len() + 1;
                prop::collection::vec((1i64..100_000, 0u32..=2), n).prop_map(move |ps| {
                    std::iter::once(LO - 86_400)
                        .chain(changes.iter().copied())
                        .zip(ps)
                        .map(|(off, (p, s))| PricePeriod {
                            from: at(off),
                            unit_price: Decimal::new(p, s),
                        })
                        .collect()
                })
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn splitting_and_order_change_nothing(
                ivs in prop::collection::vec(interval(), 0..8),
                prices in prices(),
                which in any::<prop::sample::Index>(),
                cut in 0.0f64..1.0,
                seed in any::<prop::sample::Index>(),
            ) {
                let (a, b) = month_bounds(2026, 12).unwrap();
                let want = rate_monthly(&ivs, &prices, a, b).unwrap();

                // split one interval at an instant strictly inside it (second resolution)
                if !ivs.is_empty() {
                    let i = which.index(ivs.len());
                    let iv = ivs[i];
                    let end = iv.to.unwrap_or(at(HI + 86_400)).timestamp();
                    let len = end - iv.from.timestamp();
                    let off = 1 + ((len - 1) as f64 * cut) as i64;
                    if off < len {
                        let m = iv.from + Duration::seconds(off);
                        let mut split = ivs.clone();
                        split[i] = Interval { to: Some(m), ..iv };
                        split.insert(i + 1, Interval { from: m, ..iv });
                        prop_assert_eq!(&rate_monthly(&split, &prices, a, b).unwrap(), &want);
                    }
                }

                // any order of the intervals
                let mut rev = ivs.clone();
                rev.reverse();
                prop_assert_eq!(&rate_monthly(&rev, &prices, a, b).unwrap(), &want);
                if !ivs.is_empty() {
                    let mut rot = ivs.clone();
                    rot.rotate_left(seed.index(ivs.len()));
                    prop_assert_eq!(&rate_monthly(&rot, &prices, a, b).unwrap(), &want);
                }

                // every line is its own formula, rounded once; lines are non-empty
                for l in &want {
                    prop_assert!(!l.quantity_seconds.is_zero());
                    prop_assert_eq!(
                        l.amount,
                        round_fen(l.unit_price * l.quantity_seconds / Decimal::from(31 * 86_400))
                    );
                }
                // the lines together carry all the month's quantity-seconds
                let qs: Decimal = want.iter().map(|l| l.quantity_seconds).sum();
                prop_assert_eq!(qs, quantity_seconds(&ivs, a, b));
            }
        }
    }
}
