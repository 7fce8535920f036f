//! The Chinese working-day calendar (工作日历): public holidays 法定节假日 and make-up
//! workdays 调休上班日, kept as data from the State Council's yearly notices.
//!
//! A year whose notice is not yet in the data is "provisional": only its statutory holidays
//! (《全国年节及纪念日放假办法》) are known, not the make-up arrangement, so any date computed
//! through it is flagged provisional and shown as such.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Deserialize;

use crate::catalog::{CatalogError, Issue};

/// A computed date and whether it depends on a year whose official arrangement is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkingDay {
    pub date: NaiveDate,
    pub provisional: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YearStatus {
    /// The State Council's notice for the year is in the data.
    Published,
    /// Only statutory holidays; the make-up arrangement is not known yet.
    Provisional,
}

#[derive(Clone, Debug)]
pub struct YearInfo {
    pub year: i32,
    pub status: YearStatus,
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DayKind {
    Workday,
    Weekend,
    Holiday(String),
    /// A Saturday or Sunday that is a working day (调休上班).
    MakeUpWorkday(String),
}

#[derive(Clone, Debug, Default)]
pub struct Calendar {
    years: BTreeMap<i32, YearInfo>,
    holidays: BTreeMap<NaiveDate, String>,
    workdays: BTreeMap<NaiveDate, String>,
}

impl Calendar {
    pub fn years(&self) -> impl Iterator<Item = &YearInfo> {
        self.years.values()
    }

    pub fn holidays(&self) -> impl Iterator<Item = (&NaiveDate, &String)> {
        self.holidays.iter()
    }

    pub fn make_up_workdays(&self) -> impl Iterator<Item = (&NaiveDate, &String)> {
        self.workdays.iter()
    }

    /// True when `year` has no published notice in the data (missing or provisional).
    pub fn is_provisional(&self, year: i32) -> bool {
        !matches!(
            self.years.get(&year).map(|y| y.status),
            Some(YearStatus::Published)
        )
    }

    pub fn day_kind(&self, d: NaiveDate) -> DayKind {
        if let Some(name) = self.holidays.get(&d) {
            return DayKind::Holiday(name.clone());
        }
        if let Some(name) = self.workdays.get(&d) {
            return DayKind::MakeUpWorkday(name.clone());
        }
        match d.weekday() {
            Weekday::Sat | Weekday::Sun => DayKind::Weekend,
            _ => DayKind::Workday,
        }
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        matches!(
            self.day_kind(d),
            DayKind::Workday | DayKind::MakeUpWorkday(_)
        )
    }

    /// The `n`-th working day after `start` (`start` itself does not count, so "within 15
    /// working days after acceptance on D" is `add_working_days(D, 15)`). `n = 0` gives
    /// `start` itself.
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> WorkingDay {
        let mut d = start;
        let mut left = n;
        let mut provisional = false;
        while left > 0 {
            d = d + Days::new(1);
            provisional |= self.is_provisional(d.year());
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        WorkingDay {
            date: d,
            provisional,
        }
    }

    /// Working days in `(from, to]`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        from.iter_days()
            .skip(1)
            .take_while(|d| *d <= to)
            .filter(|d| self.is_working_day(*d))
            .count() as u32
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    year: Vec<toml::Spanned<RawYear>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: i32,
    status: String,
    source: String,
    #[serde(default)]
    holiday: Vec<RawHoliday>,
    #[serde(default)]
    workday: Vec<RawWorkday>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: String,
    start: toml::value::Datetime,
    end: toml::value::Datetime,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkday {
    date: toml::value::Datetime,
    #[serde(rename = "for")]
    for_holiday: String,
}

pub(crate) fn to_date(d: &toml::value::Datetime) -> Option<NaiveDate> {
    match (&d.date, &d.time, &d.offset) {
        (Some(d), None, None) => {
            NaiveDate::from_ymd_opt(d.year as i32, d.month as u32, d.day as u32)
        }
        _ => None,
    }
}

/// Parse the calendar data file (`catalog/calendar-cn.toml`).
pub fn parse(source: &str) -> Result<Calendar, CatalogError> {
    let line_of = |at: usize| source[..at.min(source.len())].matches('\n').count() + 1;
    let fail = |at: usize, message: String| CatalogError {
        issues: vec![Issue {
            line: line_of(at),
            column: 1,
            message,
        }],
    };
    let raw: RawFile = toml::from_str(source)
        .map_err(|e| fail(e.span().map_or(0, |s| s.start), e.message().to_owned()))?;
    let mut cal = Calendar::default();
    let mut seen = BTreeSet::new();
    for y in raw.year {
        let at = y.span().start;
        let y = y.into_inner();
        if !seen.insert(y.year) {
            return Err(fail(at, format!("year {} is listed twice", y.year)));
        }
        let status = match y.status.as_str() {
            "published" => YearStatus::Published,
            "provisional" => YearStatus::Provisional,
            s => {
                return Err(fail(
                    at,
                    format!("unknown status {s:?}, expected published or provisional"),
                ))
            }
        };
        for h in &y.holiday {
            let (Some(start), Some(end)) = (to_date(&h.start), to_date(&h.end)) else {
                return Err(fail(at, format!("holiday {} needs plain dates", h.name)));
            };
            if start.year() != y.year || end < start || (end - start).num_days() > 10 {
                return Err(fail(
                    at,
                    format!(
                        "holiday {} runs {start} to {end}, outside year {} or longer than 10 days",
                        h.name, y.year
                    ),
                ));
            }
            for d in start.iter_days().take_while(|d| *d <= end) {
                cal.holidays.insert(d, h.name.clone());
            }
        }
        for w in &y.workday {
            let Some(d) = to_date(&w.date) else {
                return Err(fail(at, "make-up workday needs a plain date".to_owned()));
            };
            if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
                return Err(fail(
                    at,
                    format!("make-up workday {d} is not a weekend day"),
                ));
            }
            if cal.holidays.contains_key(&d) {
                return Err(fail(
                    at,
                    format!("{d} is both a holiday and a make-up workday"),
                ));
            }
            cal.workdays.insert(d, w.for_holiday.clone());
        }
        cal.years.insert(
            y.year,
            YearInfo {
                year: y.year,
                status,
                source: y.source,
            },
        );
    }
    Ok(cal)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = include_str!("../../../catalog/calendar-cn.toml");

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_2026_notice_is_encoded() {
        let cal = parse(DATA).unwrap();
        // 国办发明电〔2025〕7号: 春节 2月15日至23日放假调休，共9天；2月14日、2月28日上班.
        for day in 15..=23 {
            assert!(matches!(
                cal.day_kind(d(&format!("2026-02-{day:02}"))),
                DayKind::Holiday(_)
            ));
        }
        assert!(cal.is_working_day(d("2026-02-14")));
        assert!(cal.is_working_day(d("2026-02-28")));
        assert!(cal.is_working_day(d("2026-01-04")));
        assert!(!cal.is_working_day(d("2026-10-07")));
        assert!(cal.is_working_day(d("2026-10-10")));
        assert!(cal.is_working_day(d("2026-09-20")));
        assert!(cal.is_working_day(d("2026-05-09")));
        assert!(!cal.is_working_day(d("2026-06-19")));
        assert!(!cal.is_provisional(2026));
        let holidays_2026 = cal.holidays().filter(|(d, _)| d.year() == 2026).count();
        assert_eq!(holidays_2026, 3 + 9 + 3 + 5 + 3 + 3 + 7);
    }

    #[test]
    fn add_working_days_crosses_holidays_and_make_up_days() {
        let cal = parse(DATA).unwrap();
        let cases = [
            // (start, n, expected): 国庆 10月1日至7日 off, 10月10日 (Sat) works.
            ("2026-09-30", 1, "2026-10-08"),
            ("2026-09-30", 3, "2026-10-10"),
            ("2026-09-30", 4, "2026-10-12"),
            // 春节: 2月13日 (Fri) then 2月14日 (Sat) is a make-up workday.
            ("2026-02-13", 1, "2026-02-14"),
            ("2026-02-14", 1, "2026-02-24"),
            ("2026-02-24", 4, "2026-02-28"),
            // plain week
            ("2026-11-27", 1, "2026-11-30"),
            ("2026-11-27", 0, "2026-11-27"),
        ];
        for (start, n, want) in cases {
            let got = cal.add_working_days(d(start), n);
            assert_eq!(got.date, d(want), "{start} + {n}");
            assert!(!got.provisional);
        }
    }

    #[test]
    fn dates_in_an_unpublished_year_are_provisional() {
        let cal = parse(DATA).unwrap();
        // Stage acceptance on the last allowed day; 15 working days later lands in 2027.
        let got = cal.add_working_days(d("2026-12-31"), 15);
        assert!(got.provisional);
        assert!(got.date.year() == 2027);
        assert!(
            !cal.is_working_day(d("2027-01-01")),
            "元旦 is statutory even without a notice"
        );
    }

    #[test]
    fn working_days_between_counts_half_open() {
        let cal = parse(DATA).unwrap();
        assert_eq!(
            cal.working_days_between(d("2026-09-30"), d("2026-10-12")),
            4
        );
        assert_eq!(
            cal.working_days_between(d("2026-09-30"), d("2026-09-30")),
            0
        );
    }

    #[test]
    fn bad_data_is_refused_with_line() {
        let bad = DATA.replacen("status = \"published\"", "status = \"rumoured\"", 1);
        let e = parse(&bad).unwrap_err();
        assert!(e.issues[0].message.contains("unknown status"), "{e}");
    }
}
