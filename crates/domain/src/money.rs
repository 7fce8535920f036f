//! Money (金额). Amounts are exact decimals in 元; the one rounding rule of govcloud is
//! applied here: 四舍五入 to the fen, half away from zero.

use rust_decimal::{Decimal, RoundingStrategy};

const WAN: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// Round to the fen (0.01 元), half away from zero (四舍五入).
pub fn round_fen(yuan: Decimal) -> Decimal {
    yuan.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// 万元 to 元, exactly.
pub fn wan_to_yuan(wan: Decimal) -> Decimal {
    wan * WAN
}

/// "1,234,567.89" — two decimals, thousands separated, as shown to people.
pub fn format_yuan(yuan: Decimal) -> String {
    let r = round_fen(yuan);
    let s = format!("{:.2}", r.abs());
    let (int, frac) = s.split_once('.').expect("two decimals were formatted");
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if r.is_sign_negative() && !r.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{grouped}.{frac}")
}

/// The amount in Chinese capital numerals 大写金额, as written on invoices 发票 and contracts
/// 合同, e.g. 1002.07 → "壹仟零贰元零柒分". The amount is first rounded with [`round_fen`].
///
/// Follows 中国人民银行《支付结算办法》附件一《正确填写票据和结算凭证的基本规定》:
/// - digits 零壹贰叁肆伍陆柒捌玖, units 拾佰仟, groups 万 and 亿 (above 亿 the part before
///   亿 is written the same way again: 10¹² → 壹万亿), then 元, 角, 分; 拾 always carries its
///   digit (10 → 壹拾元整, never 拾元整);
/// - 整 after 元 when there is neither 角 nor 分; none after 角 or 分 (the standard lets 整
///   after 角 be omitted, and we omit it: 3.40 → 叁元肆角);
/// - (一)(二) zeros between non-zero digits are written as one 零 per run (1002 → 壹仟零贰);
/// - (三) a run of zeros only at the end of a 万/亿 group, followed by a non-zero 仟, gets no
///   零 (107,000 → 壹拾万柒仟, the first form of the standard's example); a run that reaches
///   into the next group's 仟 position gets one (100,010 → 壹拾万零壹拾;
///   100,007,000 → 壹亿零柒仟); likewise no 零 between 元 and a non-zero 角 when the 元 digit
///   is 0 (1680.30 → 壹仟陆佰捌拾元叁角, the form the standard allows "也可以不写");
/// - (四) 零 between 元 and a non-zero 分 when 角 is 0 (325.04 → 叁佰贰拾伍元零肆分);
/// - under one 元 the integer part is left out (0.05 → 伍分); zero is 零元整;
/// - negative amounts are prefixed 负 (a negative amount that rounds to zero is 零元整).
///
/// The prefix 人民币 is left to the caller.
pub fn yuan_in_capitals(yuan: Decimal) -> String {
    let r = round_fen(yuan);
    // After rounding the scale is at most 2; the mantissa holds fen up to that scale.
    let scale = r.scale().min(2);
    let m = r.mantissa().unsigned_abs();
    let pow = 10u128.pow(scale);
    let int = m / pow;
    let fen_total = (m % pow) * 10u128.pow(2 - scale);
    let (jiao, fen) = ((fen_total / 10) as usize, (fen_total % 10) as usize);

    let mut out = String::new();
    if r.is_sign_negative() && !r.is_zero() {
        out.push('负');
    }
    if int > 0 {
        out.push_str(&capitals_integer(int));
        out.push('元');
    } else if jiao == 0 && fen == 0 {
        out.push_str("零元");
    }
    if jiao > 0 {
        out.push(DIGITS[jiao]);
        out.push('角');
    }
    if fen > 0 {
        if jiao == 0 && int > 0 {
            out.push('零');
        }
        out.push(DIGITS[fen]);
        out.push('分');
    }
    if jiao == 0 && fen == 0 {
        out.push('整');
    }
    out
}

const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
const YI: u128 = 100_000_000;

/// A positive whole number of 元 in capitals, without 元.
fn capitals_integer(n: u128) -> String {
    debug_assert!(n > 0);
    if n < YI {
        return capitals_below_yi(n as u32);
    }
    let (hi, lo) = (n / YI, (n % YI) as u32);
    let mut s = capitals_integer(hi);
    s.push('亿');
    if lo > 0 {
        // The 仟万 digit below 亿 is 0: the zeros reach into this part.
        if lo < 10_000_000 {
            s.push('零');
        }
        s.push_str(&capitals_below_yi(lo));
    }
    s
}

/// 0 < n < 10⁸, without a leading 零.
fn capitals_below_yi(n: u32) -> String {
    let (hi, lo) = (n / 10_000, n % 10_000);
    let mut s = String::new();
    if hi > 0 {
        s.push_str(&capitals_group(hi));
        s.push('万');
        if lo > 0 && lo < 1000 {
            s.push('零');
        }
    }
    if lo > 0 {
        s.push_str(&capitals_group(lo));
    }
    s
}

/// 0 < n < 10⁴: one 零 for a run of zeros between digits, none leading or trailing.
fn capitals_group(n: u32) -> String {
    const UNITS: [&str; 4] = ["仟", "佰", "拾", ""];
    let digits = [n / 1000, n / 100 % 10, n / 10 % 10, n % 10];
    let mut s = String::new();
    let mut zero_pending = false;
    for (d, unit) in digits.into_iter().zip(UNITS) {
        if d == 0 {
            zero_pending = !s.is_empty();
        } else {
            if zero_pending {
                s.push('零');
                zero_pending = false;
            }
            s.push(DIGITS[d as usize]);
            s.push_str(unit);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        for (x, want) in [
            ("0.005", "0.01"),
            ("0.004", "0.00"),
            ("-0.005", "-0.01"),
            ("2.675", "2.68"),
            ("1.125", "1.13"),
        ] {
            assert_eq!(round_fen(d(x)).to_string(), want, "{x}");
        }
    }

    #[test]
    fn budgets_in_wan_become_yuan() {
        assert_eq!(format_yuan(wan_to_yuan(d("86.498"))), "864,980.00");
        assert_eq!(format_yuan(wan_to_yuan(d("48.525406"))), "485,254.06");
        assert_eq!(format_yuan(wan_to_yuan(d("37.783373"))), "377,833.73");
        assert_eq!(format_yuan(d("0")), "0.00");
        assert_eq!(format_yuan(d("-1234.5")), "-1,234.50");
        assert_eq!(format_yuan(d("999")), "999.00");
    }

    #[test]
    fn capitals_as_on_invoices() {
        for (x, want) in [
            ("0", "零元整"),
            ("0.00", "零元整"),
            ("0.004", "零元整"),
            ("-0.004", "零元整"),
            ("1", "壹元整"),
            ("10", "壹拾元整"),
            ("11", "壹拾壹元整"),
            ("100.5", "壹佰元伍角"),
            ("1002.07", "壹仟零贰元零柒分"),
            ("10000", "壹万元整"),
            ("100000", "壹拾万元整"),
            ("100010", "壹拾万零壹拾元整"),
            ("1000000", "壹佰万元整"),
            ("1010000", "壹佰零壹万元整"),
            ("100000000", "壹亿元整"),
            ("100000001", "壹亿零壹元整"),
            ("864980.00", "捌拾陆万肆仟玖佰捌拾元整"),
            ("20000000.30", "贰仟万元叁角"),
            ("0.05", "伍分"),
            ("0.5", "伍角"),
            ("0.55", "伍角伍分"),
            ("3.40", "叁元肆角"),
            ("3.04", "叁元零肆分"),
            ("-3.04", "负叁元零肆分"),
            ("-864980", "负捌拾陆万肆仟玖佰捌拾元整"),
            ("0.005", "壹分"),
            ("0.995", "壹元整"),
            ("9.995", "壹拾元整"),
            // the standard's own examples (支付结算办法 附件一)
            ("1409.50", "壹仟肆佰零玖元伍角"),
            ("6007.14", "陆仟零柒元壹角肆分"),
            ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
            ("107000.53", "壹拾万柒仟元伍角叁分"),
            ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
            ("325.04", "叁佰贰拾伍元零肆分"),
            // zeros across groups
            ("100007000", "壹亿零柒仟元整"),
            ("110000000", "壹亿壹仟万元整"),
            ("1000100000", "壹拾亿零壹拾万元整"),
            ("1001000000", "壹拾亿零壹佰万元整"),
            ("1010000000", "壹拾亿壹仟万元整"),
            ("10101", "壹万零壹佰零壹元整"),
            ("20001", "贰万零壹元整"),
            ("90909.09", "玖万零玖佰零玖元零玖分"),
            ("485254.06", "肆拾捌万伍仟贰佰伍拾肆元零陆分"),
            ("377833.73", "叁拾柒万柒仟捌佰叁拾叁元柒角叁分"),
            (
                "123456789.12",
                "壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元壹角贰分",
            ),
            ("1000000000000", "壹万亿元整"),
            ("1200000000000.1", "壹万贰仟亿元壹角"),
            ("10000000000000000", "壹亿亿元整"),
        ] {
            assert_eq!(yuan_in_capitals(d(x)), want, "{x}");
        }
    }

    #[test]
    fn capitals_take_any_decimal() {
        // The largest Decimal has 29 digits and must not panic.
        let s = yuan_in_capitals(Decimal::MAX);
        assert!(s.ends_with("元整") && s.starts_with("柒万玖仟"), "{s}");
        assert!(yuan_in_capitals(Decimal::MIN).starts_with('负'));
        // scales above 2 are rounded first
        assert_eq!(yuan_in_capitals(d("12.3456789")), "壹拾贰元叁角伍分");
    }
}
