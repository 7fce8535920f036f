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
}
