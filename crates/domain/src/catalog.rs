//! The contract as data (合同目录): packages 包, line items 服务项, payment milestones
//! 付款节点, service levels 服务级别 and team requirements 团队要求, parsed from the TOML
//! file that ships in `catalog/` and validated with the file's line numbers in every error.
//!
//! Parsing goes through private `Raw*` structs that mirror the file; the public types are
//! built from them only after every rule below has been checked, so a `Contract` in hand is
//! always a valid one (parse, don't validate).

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::ops::Range;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use toml::Spanned;

use crate::calendar::{Calendar, WorkingDay};

/// A package number 包号 (1 to 99).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageNo(u8);

impl PackageNo {
    pub fn new(n: i64) -> Option<Self> {
        (1..=99).contains(&n).then_some(Self(n as u8))
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for PackageNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stable line-item id such as `p1-vcpu`: `p<package>-` then lower-case ASCII words
/// joined by `-`. Every later API that refers to a line item uses it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId(String);

impl ItemId {
    pub fn parse(package: PackageNo, s: &str) -> Result<Self, String> {
        let prefix = format!("p{package}-");
        let rest = s.strip_prefix(&prefix).ok_or_else(|| {
            format!("item id {s:?} must start with {prefix:?} (the package it belongs to)")
        })?;
        let ok = !rest.is_empty()
            && rest.split('-').all(|w| {
                !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "item id {s:?} may hold only lower-case ascii letters and digits in words joined by '-'"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A business system code 业务系统代码 such as `jypt`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SystemCode(String);

impl SystemCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "system code {s:?} must be 1 to 32 lower-case ascii letters, digits or '-'"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SystemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A procured quantity 数量: an exact, strictly positive decimal (package 5 rents 9.6 TFLOP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(Decimal);

impl Quantity {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let d: Decimal = t.parse().map_err(|_| {
            format!("quantity {s:?} is not a decimal number (expected e.g. \"392\" or \"9.6\")")
        })?;
        if d <= Decimal::ZERO {
            return Err(format!("quantity {s:?} must be greater than zero"));
        }
        Ok(Self(d.normalize()))
    }
    pub fn value(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            pub fn from_code(s: &str) -> Option<Self> {
                match s { $($code => Some($name::$variant),)+ _ => None }
            }
            fn expected() -> String {
                Self::ALL.iter().map(|v| v.code()).collect::<Vec<_>>().join(", ")
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.code()) }
        }
    };
}

code_enum!(
    /// The unit 计量单位 a quantity is counted in. `unit_text` keeps the procurement's own words.
    Unit {
        Vcpu => "vCPU", Gb => "GB", Gb100 => "100GB", Tb => "TB", Tai => "台", Kuai => "块",
        Mb => "Mb", Ip => "IP", InternalIp => "内网IP", Account => "账号", Tao => "套",
        MonitorPoint => "监控点", HostTime => "台次", CloudHost => "云主机", Tflop => "TFLOP",
        ItemMonth => "项/月", PieceMonth => "个/月", SetYear => "套/年", CertYear => "张/年",
        Cert => "张", Piece => "个", Year => "年",
    }
);

code_enum!(
    /// How a line item is priced 计价方式.
    Billing { PerMonth => "元/月", PerOccurrence => "元/次", PerYear => "元/年" }
);

code_enum!(
    /// What starts a payment milestone 付款条件.
    Trigger { Signing => "signing", StageAcceptance => "stage_acceptance", FinalAcceptance => "final_acceptance" }
);

code_enum!(
    /// Which incidents a service-level clock applies to.
    Severity { Outage => "outage", Fault => "fault", Any => "any" }
);

code_enum!(
    /// The service-level clocks the procurement names (响应, 定位, 到场, 恢复, 解决).
    Clock { Respond => "respond", Locate => "locate", Onsite => "onsite", Restore => "restore", Resolve => "resolve" }
);

code_enum!(
    /// What starts a service-level clock: the incident being opened (the default), or the
    /// purchaser asking for people on site (采购人提出现场维护要求后).
    ClockStart { Opened => "opened", OnsiteRequested => "onsite_requested" }
);

code_enum!(
    /// Whether every member of a team role must hold the certificates, or at least one.
    Holders { All => "all", One => "one" }
);

impl Trigger {
    pub fn label_zh(self) -> &'static str {
        match self {
            Trigger::Signing => "合同签署生效且财政资金拨付到位",
            Trigger::StageAcceptance => "阶段性验收通过",
            Trigger::FinalAcceptance => "最终验收通过",
        }
    }
}

impl Severity {
    pub fn label_zh(self) -> &'static str {
        match self {
            Severity::Outage => "宕机",
            Severity::Fault => "其他故障",
            Severity::Any => "故障",
        }
    }
}

impl Clock {
    pub fn label_zh(self) -> &'static str {
        match self {
            Clock::Respond => "响应",
            Clock::Locate => "定位",
            Clock::Onsite => "到达现场",
            Clock::Restore => "恢复",
            Clock::Resolve => "解决",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Contract {
    pub id: String,
    pub name: String,
    pub purchaser: String,
    pub term_months: u32,
    pub term_text: String,
    pub systems: Vec<BusinessSystem>,
    pub packages: Vec<Package>,
}

#[derive(Clone, Debug)]
pub struct BusinessSystem {
    pub code: SystemCode,
    pub name: String,
    pub cloud: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Package {
    pub number: PackageNo,
    pub name: String,
    pub short_name: String,
    /// 预算金额 in 万元, where the procurement gives one.
    pub budget_wan: Option<Decimal>,
    pub systems: Vec<SystemCode>,
    /// Working days after signing by which migration must be complete (迁移时限).
    pub migration_working_days: Option<u32>,
    pub notes: Vec<String>,
    pub milestones: Vec<Milestone>,
    pub service_levels: Vec<ServiceLevel>,
    pub team: Option<TeamRequirement>,
    pub items: Vec<LineItem>,
}

#[derive(Clone, Debug)]
pub struct Milestone {
    pub seq: u32,
    pub name: String,
    /// Share of the contract amount; `None` where the procurement states none (package 5).
    pub percent: Option<Decimal>,
    pub trigger: Trigger,
    pub due_by: Option<NaiveDate>,
    pub working_days_after_trigger: Option<u32>,
    pub acceptance_by: Option<NaiveDate>,
    pub text: String,
}

/// When a milestone falls due, as far as the contract data alone can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MilestoneDue {
    /// A fixed date in the contract.
    By(NaiveDate),
    /// N working days after the trigger, which must itself happen by a date: the payment is
    /// due at the latest on this day (provisional when the calendar for it is not published).
    Latest(WorkingDay),
    /// No date can be derived (e.g. after final acceptance with no deadline).
    Open,
}

impl Milestone {
    /// The latest due date derivable from the contract alone.
    pub fn latest_due(&self, calendar: &Calendar) -> MilestoneDue {
        match (
            self.due_by,
            self.acceptance_by,
            self.working_days_after_trigger,
        ) {
            (Some(d), _, _) => MilestoneDue::By(d),
            (None, Some(acc), Some(n)) => MilestoneDue::Latest(calendar.add_working_days(acc, n)),
            _ => MilestoneDue::Open,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ServiceLevel {
    pub applies_to: Severity,
    pub clock: Clock,
    pub starts: ClockStart,
    pub minutes: u32,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct TeamRequirement {
    pub min_size: u32,
    pub text: String,
    pub roles: Vec<TeamRole>,
}

#[derive(Clone, Debug)]
pub struct TeamRole {
    pub role: String,
    pub min_count: u32,
    pub min_years: Option<u32>,
    pub certificates: Vec<String>,
    pub holders: Holders,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct Frequency {
    pub text: String,
    pub times_per_year: u32,
}

#[derive(Clone, Debug)]
pub struct LineItem {
    pub id: ItemId,
    pub package: PackageNo,
    pub category: String,
    pub subcategory: Option<String>,
    pub item: String,
    pub spec: String,
    pub unit: Unit,
    pub unit_text: String,
    pub quantity: Quantity,
    pub months: u32,
    pub frequency: Option<Frequency>,
    pub billing: Billing,
    pub system: Option<SystemCode>,
}

impl Package {
    /// The day by which migration must be complete when the contract is signed on
    /// `signed_on` (package 1: 合同签订后10个工作日内; packages 3 and 5: 五个工作日内).
    pub fn migration_deadline(
        &self,
        calendar: &Calendar,
        signed_on: NaiveDate,
    ) -> Option<WorkingDay> {
        self.migration_working_days
            .map(|n| calendar.add_working_days(signed_on, n))
    }
}

impl Contract {
    pub fn package(&self, n: PackageNo) -> Option<&Package> {
        self.packages.iter().find(|p| p.number == n)
    }
    pub fn system(&self, code: &SystemCode) -> Option<&BusinessSystem> {
        self.systems.iter().find(|s| &s.code == code)
    }
    pub fn items(&self) -> impl Iterator<Item = &LineItem> {
        self.packages.iter().flat_map(|p| p.items.iter())
    }
}

/// One problem found in a catalog file, located by line and column (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Everything wrong with a catalog file; never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct CatalogError {
    pub issues: Vec<Issue>,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, is) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "line {}, column {}: {}", is.line, is.column, is.message)?;
        }
        Ok(())
    }
}

impl CatalogError {
    /// The report with a file name in front of each line, as compilers print it.
    pub fn report(&self, file: &str) -> String {
        self.issues
            .iter()
            .map(|is| format!("{file}:{}:{}: {}", is.line, is.column, is.message))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

// ---------------------------------------------------------------------------------------
// The file format. Every field is spanned so that an error can name its line.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    contract: Spanned<RawContract>,
    #[serde(default)]
    system: Vec<Spanned<RawSystem>>,
    #[serde(default)]
    package: Vec<Spanned<RawPackage>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContract {
    id: Spanned<String>,
    name: Spanned<String>,
    purchaser: Spanned<String>,
    term_months: Spanned<i64>,
    term_text: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystem {
    code: Spanned<String>,
    name: Spanned<String>,
    cloud: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackage {
    number: Spanned<i64>,
    name: Spanned<String>,
    short_name: Spanned<String>,
    budget_wan: Option<Spanned<RawDecimal>>,
    systems: Spanned<Vec<Spanned<String>>>,
    migration_working_days: Option<Spanned<i64>>,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    milestone: Vec<Spanned<RawMilestone>>,
    #[serde(default)]
    service_level: Vec<Spanned<RawServiceLevel>>,
    team: Option<Spanned<RawTeam>>,
    #[serde(default)]
    item: Vec<Spanned<RawItem>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMilestone {
    seq: Spanned<i64>,
    name: Spanned<String>,
    percent: Option<Spanned<RawDecimal>>,
    trigger: Spanned<String>,
    due_by: Option<Spanned<toml::value::Datetime>>,
    working_days_after_trigger: Option<Spanned<i64>>,
    acceptance_by: Option<Spanned<toml::value::Datetime>>,
    text: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServiceLevel {
    applies_to: Spanned<String>,
    clock: Spanned<String>,
    starts: Option<Spanned<String>>,
    minutes: Spanned<i64>,
    text: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    min_size: Spanned<i64>,
    text: Spanned<String>,
    #[serde(default)]
    role: Vec<Spanned<RawRole>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    role: Spanned<String>,
    min_count: Spanned<i64>,
    min_years: Option<Spanned<i64>>,
    #[serde(default)]
    certificates: Vec<String>,
    holders: Spanned<String>,
    text: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    id: Spanned<String>,
    category: Spanned<String>,
    subcategory: Option<Spanned<String>>,
    item: Spanned<String>,
    spec: Spanned<String>,
    unit: Spanned<String>,
    unit_text: Spanned<String>,
    quantity: Spanned<RawDecimal>,
    months: Spanned<i64>,
    frequency: Option<Spanned<String>>,
    times_per_year: Option<Spanned<i64>>,
    billing: Spanned<String>,
    system: Option<Spanned<String>>,
}

/// Decimals are written as strings to stay exact; integers are accepted too. A TOML float
/// is refused with advice, because it has already lost exactness when it reaches us.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDecimal {
    Str(String),
    Int(i64),
    Float(f64),
}

/// Parse and validate a catalog file. All problems are reported at once, each with its line.
pub fn parse(source: &str) -> Result<Contract, CatalogError> {
    let mut cx = Cx {
        src: source,
        issues: Vec::new(),
    };
    let raw: RawCatalog = match toml::from_str(source) {
        Ok(r) => r,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            cx.push(&span, e.message().to_owned());
            return Err(CatalogError { issues: cx.issues });
        }
    };
    let contract = cx.contract(raw);
    if cx.issues.is_empty() {
        Ok(contract)
    } else {
        cx.issues.sort_by_key(|i| (i.line, i.column));
        Err(CatalogError { issues: cx.issues })
    }
}

struct Cx<'a> {
    src: &'a str,
    issues: Vec<Issue>,
}

impl Cx<'_> {
    fn push(&mut self, span: &Range<usize>, message: String) {
        let at = span.start.min(self.src.len());
        let before = &self.src[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        self.issues.push(Issue {
            line,
            column,
            message,
        });
    }

    fn text(&mut self, v: Spanned<String>, what: &str) -> String {
        let span = v.span();
        let s = v.into_inner();
        if s.trim().is_empty() {
            self.push(&span, format!("{what} must not be empty"));
        }
        s
    }

    fn count(&mut self, v: &Spanned<i64>, what: &str, range: Range<i64>) -> u32 {
        let n = *v.get_ref();
        if !range.contains(&n) {
            self.push(
                &v.span(),
                format!(
                    "{what} is {n}, expected {} to {}",
                    range.start,
                    range.end - 1
                ),
            );
            return 0;
        }
        n as u32
    }

    fn decimal(&mut self, v: Spanned<RawDecimal>, what: &str) -> Option<Decimal> {
        let span = v.span();
        let s = match v.into_inner() {
            RawDecimal::Str(s) => s,
            RawDecimal::Int(i) => i.to_string(),
            RawDecimal::Float(f) => {
                self.push(
                    &span,
                    format!("{what} {f} is a float; write decimals as strings to keep them exact, e.g. \"{f}\""),
                );
                return None;
            }
        };
        match Quantity::parse(&s) {
            Ok(q) => Some(q.value()),
            Err(e) => {
                self.push(&span, format!("{what}: {e}"));
                None
            }
        }
    }

    fn code<T>(
        &mut self,
        v: Spanned<String>,
        what: &str,
        from: fn(&str) -> Option<T>,
        expected: fn() -> String,
    ) -> Option<T> {
        let r = from(v.get_ref());
        if r.is_none() {
            self.push(
                &v.span(),
                format!(
                    "unknown {what} {:?}, expected one of: {}",
                    v.get_ref(),
                    expected()
                ),
            );
        }
        r
    }

    fn date(&mut self, v: Spanned<toml::value::Datetime>, what: &str) -> Option<NaiveDate> {
        let dt = v.get_ref();
        match (&dt.date, &dt.time, &dt.offset) {
            (Some(d), None, None) => {
                NaiveDate::from_ymd_opt(d.year as i32, d.month as u32, d.day as u32)
            }
            _ => {
                self.push(
                    &v.span(),
                    format!("{what} must be a plain date such as 2026-06-30"),
                );
                None
            }
        }
    }

    fn contract(&mut self, raw: RawCatalog) -> Contract {
        let c = raw.contract.into_inner();
        let term_months = self.count(&c.term_months, "term_months", 1..121);
        let mut systems = Vec::new();
        let mut codes = HashSet::new();
        for s in raw.system {
            let span = s.span();
            let s = s.into_inner();
            let code_span = s.code.span();
            match SystemCode::parse(s.code.get_ref()) {
                Ok(code) => {
                    if !codes.insert(code.clone()) {
                        self.push(&code_span, format!("duplicate system code {:?}", code.0));
                    }
                    let name = self.text(s.name, "system name");
                    systems.push(BusinessSystem {
                        code,
                        name,
                        cloud: s.cloud.map(|c| c.into_inner()),
                    });
                }
                Err(e) => self.push(&code_span, e),
            }
            let _ = span;
        }
        let mut packages: Vec<Package> = Vec::new();
        let mut numbers = HashSet::new();
        let mut ids = HashSet::new();
        for p in raw.package {
            let p = p.into_inner();
            let Some(number) = PackageNo::new(*p.number.get_ref()) else {
                self.push(
                    &p.number.span(),
                    format!("package number {} must be 1 to 99", p.number.get_ref()),
                );
                continue;
            };
            if !numbers.insert(number) {
                self.push(
                    &p.number.span(),
                    format!("duplicate package number {number}"),
                );
            }
            let pkg = self.package(number, p, &codes, &mut ids, term_months);
            packages.push(pkg);
        }
        if packages.is_empty() {
            self.push(&(0..0), "the catalog has no [[package]]".to_owned());
        }
        packages.sort_by_key(|p| p.number);
        Contract {
            id: self.text(c.id, "contract id"),
            name: self.text(c.name, "contract name"),
            purchaser: self.text(c.purchaser, "purchaser"),
            term_months,
            term_text: self.text(c.term_text, "term_text"),
            systems,
            packages,
        }
    }

    fn system_ref(
        &mut self,
        v: Spanned<String>,
        known: &HashSet<SystemCode>,
    ) -> Option<SystemCode> {
        match SystemCode::parse(v.get_ref()) {
            Ok(c) if known.contains(&c) => Some(c),
            Ok(c) => {
                self.push(
                    &v.span(),
                    format!(
                        "unknown business system {:?}: declare it in a [[system]] table",
                        c.0
                    ),
                );
                None
            }
            Err(e) => {
                self.push(&v.span(), e);
                None
            }
        }
    }

    fn package(
        &mut self,
        number: PackageNo,
        p: RawPackage,
        known: &HashSet<SystemCode>,
        ids: &mut HashSet<ItemId>,
        term_months: u32,
    ) -> Package {
        let systems: Vec<SystemCode> = p
            .systems
            .into_inner()
            .into_iter()
            .filter_map(|s| self.system_ref(s, known))
            .collect();
        let budget_wan = p.budget_wan.and_then(|b| self.decimal(b, "budget_wan"));
        let migration_working_days = p
            .migration_working_days
            .map(|m| self.count(&m, "migration_working_days", 1..366));

        let mut milestones = Vec::new();
        let mut percent_sum = Decimal::ZERO;
        let mut all_have_percent = true;
        for m in p.milestone {
            let span = m.span();
            let m = m.into_inner();
            let percent = m.percent.and_then(|v| self.decimal(v, "percent"));
            match percent {
                Some(v) => percent_sum += v,
                None => all_have_percent = false,
            }
            let trigger = self.code(m.trigger, "trigger", Trigger::from_code, Trigger::expected);
            let due_by = m.due_by.and_then(|d| self.date(d, "due_by"));
            let acceptance_by = m.acceptance_by.and_then(|d| self.date(d, "acceptance_by"));
            let working_days_after_trigger = m
                .working_days_after_trigger
                .map(|w| self.count(&w, "working_days_after_trigger", 1..366));
            if acceptance_by.is_some() && working_days_after_trigger.is_none() {
                self.push(
                    &span,
                    "acceptance_by needs working_days_after_trigger".to_owned(),
                );
            }
            milestones.push(Milestone {
                seq: self.count(&m.seq, "seq", 1..100),
                name: self.text(m.name, "milestone name"),
                percent,
                trigger: trigger.unwrap_or(Trigger::Signing),
                due_by,
                working_days_after_trigger,
                acceptance_by,
                text: self.text(m.text, "milestone text"),
            });
        }
        if percent_sum > Decimal::ONE_HUNDRED
            || (all_have_percent && !milestones.is_empty() && percent_sum != Decimal::ONE_HUNDRED)
        {
            self.push(
                &p.number.span(),
                format!("payment milestones of package {number} add up to {percent_sum}%, expected 100%"),
            );
        }

        let mut service_levels = Vec::new();
        for s in p.service_level {
            let s = s.into_inner();
            let applies_to = self.code(
                s.applies_to,
                "applies_to",
                Severity::from_code,
                Severity::expected,
            );
            let clock = self.code(s.clock, "clock", Clock::from_code, Clock::expected);
            let starts = match s.starts {
                Some(st) => self.code(st, "starts", ClockStart::from_code, ClockStart::expected),
                None => Some(ClockStart::Opened),
            };
            let minutes = self.count(&s.minutes, "minutes", 1..100_000);
            let text = self.text(s.text, "service level text");
            if let (Some(applies_to), Some(clock), Some(starts)) = (applies_to, clock, starts) {
                service_levels.push(ServiceLevel {
                    applies_to,
                    clock,
                    starts,
                    minutes,
                    text,
                });
            }
        }

        let team = p.team.map(|t| {
            let t = t.into_inner();
            let min_size = self.count(&t.min_size, "min_size", 1..1000);
            let text = self.text(t.text, "team text");
            let roles = t
                .role
                .into_iter()
                .map(|r| {
                    let r = r.into_inner();
                    let holders =
                        self.code(r.holders, "holders", Holders::from_code, Holders::expected);
                    TeamRole {
                        role: self.text(r.role, "role"),
                        min_count: self.count(&r.min_count, "min_count", 1..1000),
                        min_years: r.min_years.map(|y| self.count(&y, "min_years", 0..60)),
                        certificates: r.certificates,
                        holders: holders.unwrap_or(Holders::One),
                        text: self.text(r.text, "role text"),
                    }
                })
                .collect();
            TeamRequirement {
                min_size,
                text,
                roles,
            }
        });

        let mut items = Vec::new();
        let mut keys = BTreeSet::new();
        for it in p.item {
            let span = it.span();
            if let Some(item) = self.item(number, it.into_inner(), known, &systems, term_months) {
                if !ids.insert(item.id.clone()) {
                    self.push(&span, format!("duplicate item id {:?}", item.id.as_str()));
                }
                let key = (
                    item.system.clone(),
                    item.category.clone(),
                    item.subcategory.clone(),
                    item.item.clone(),
                );
                if !keys.insert(key) {
                    self.push(
                        &span,
                        format!(
                            "duplicate item: package {number} already lists {:?} / {:?} / {:?} for this system",
                            item.category,
                            item.subcategory.as_deref().unwrap_or("-"),
                            item.item
                        ),
                    );
                }
                items.push(item);
            }
        }

        Package {
            number,
            name: self.text(p.name, "package name"),
            short_name: self.text(p.short_name, "short_name"),
            budget_wan,
            systems,
            migration_working_days,
            notes: p.notes,
            milestones,
            service_levels,
            team,
            items,
        }
    }

    fn item(
        &mut self,
        package: PackageNo,
        it: RawItem,
        known: &HashSet<SystemCode>,
        package_systems: &[SystemCode],
        term_months: u32,
    ) -> Option<LineItem> {
        let before = self.issues.len();
        let id_span = it.id.span();
        let id = ItemId::parse(package, it.id.get_ref())
            .map_err(|e| self.push(&id_span, e))
            .ok();
        let unit = self.code(it.unit, "unit", Unit::from_code, Unit::expected);
        let billing = self.code(
            it.billing,
            "billing unit",
            Billing::from_code,
            Billing::expected,
        );
        let quantity = self.decimal(it.quantity, "quantity").map(Quantity);
        let months = self.count(&it.months, "months", 1..(term_months.max(1) as i64 + 1));
        let frequency = match (it.frequency, it.times_per_year) {
            (Some(f), Some(t)) => Some(Frequency {
                times_per_year: self.count(&t, "times_per_year", 1..366),
                text: self.text(f, "frequency"),
            }),
            (None, None) => None,
            (Some(f), None) => {
                self.push(&f.span(), "frequency needs times_per_year".to_owned());
                None
            }
            (None, Some(t)) => {
                self.push(&t.span(), "times_per_year needs frequency".to_owned());
                None
            }
        };
        let system = match it.system {
            Some(s) => {
                let span = s.span();
                let code = self.system_ref(s, known);
                if let Some(c) = &code {
                    if !package_systems.contains(c) {
                        self.push(
                            &span,
                            format!(
                                "system {:?} is not among package {package}'s systems",
                                c.as_str()
                            ),
                        );
                    }
                }
                code
            }
            None => None,
        };
        let category = self.text(it.category, "category");
        let subcategory = it.subcategory.map(|s| self.text(s, "subcategory"));
        let item = self.text(it.item, "item");
        let spec = self.text(it.spec, "spec");
        let unit_text = self.text(it.unit_text, "unit_text");
        if self.issues.len() > before {
            return None;
        }
        Some(LineItem {
            id: id?,
            package,
            category,
            subcategory,
            item,
            spec,
            unit: unit?,
            unit_text,
            quantity: quantity?,
            months,
            frequency,
            billing: billing?,
            system,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[contract]
id = "t"
name = "测试合同"
purchaser = "采购人"
term_months = 12
term_text = "自合同签订之日起12个月"

[[system]]
code = "jypt"
name = "交易平台"

[[package]]
number = 5
name = "第五包"
short_name = "五"
budget_wan = "37.783373"
systems = ["jypt"]

[[package.milestone]]
seq = 1
name = "首款"
percent = "100"
trigger = "signing"
due_by = 2026-06-30
text = "t"

[[package.item]]
id = "p5-tflop"
category = "AI算力服务"
item = "半精度浮点运算能力"
spec = "需同时租用GPU显存"
unit = "TFLOP"
unit_text = "1TFLOP"
quantity = "9.6"
months = 12
billing = "元/月"
system = "jypt"
"#;

    /// Replace `from` in the good catalog and return the issues, as (line, message) pairs.
    fn check(from: &str, to: &str) -> Vec<(usize, String)> {
        assert!(GOOD.contains(from), "fixture lacks {from:?}");
        let src = GOOD.replacen(from, to, 1);
        match parse(&src) {
            Ok(_) => vec![],
            Err(e) => e.issues.into_iter().map(|i| (i.line, i.message)).collect(),
        }
    }

    #[test]
    fn good_catalog_parses_exactly() {
        let c = parse(GOOD).unwrap();
        let p = &c.packages[0];
        assert_eq!(p.number.get(), 5);
        assert_eq!(p.budget_wan.unwrap().to_string(), "37.783373");
        assert_eq!(p.items[0].quantity.to_string(), "9.6");
        assert_eq!(p.items[0].unit, Unit::Tflop);
    }

    #[test]
    fn errors_name_the_line() {
        let cases: &[(&str, &str, usize, &str)] = &[
            (
                r#"unit = "TFLOP""#,
                r#"unit = "PFLOP""#,
                33,
                "unknown unit \"PFLOP\"",
            ),
            (
                r#"quantity = "9.6""#,
                r#"quantity = "-9.6""#,
                35,
                "must be greater than zero",
            ),
            (
                r#"quantity = "9.6""#,
                r#"quantity = "many""#,
                35,
                "is not a decimal number",
            ),
            (
                r#"quantity = "9.6""#,
                r#"quantity = 9.6"#,
                35,
                "write decimals as strings",
            ),
            (
                "months = 12\nbilling",
                "months = 13\nbilling",
                36,
                "months is 13, expected 1 to 12",
            ),
            (
                r#"billing = "元/月""#,
                r#"billing = "元/天""#,
                37,
                "unknown billing unit",
            ),
            (
                r#"system = "jypt""#,
                r#"system = "nope""#,
                38,
                "unknown business system",
            ),
            (
                r#"id = "p5-tflop""#,
                r#"id = "p4-tflop""#,
                29,
                "must start with \"p5-\"",
            ),
            (
                r#"percent = "100""#,
                r#"percent = "150""#,
                14,
                "add up to 150%",
            ),
            (
                r#"spec = "需同时租用GPU显存""#,
                "",
                28,
                "missing field `spec`",
            ),
            (
                r#"unit_text = "1TFLOP""#,
                "unit_text = \"1TFLOP\"\ncolour = 1",
                35,
                "unknown field `colour`",
            ),
            (
                r#"due_by = 2026-06-30"#,
                r#"due_by = "soon""#,
                25,
                "invalid type",
            ),
        ];
        for (from, to, line, msg) in cases {
            let got = check(from, to);
            assert!(
                got.iter().any(|(l, m)| l == line && m.contains(msg)),
                "{from:?} -> {to:?}: expected line {line} with {msg:?}, got {got:?}"
            );
        }
    }

    #[test]
    fn duplicate_items_are_rejected() {
        let item = GOOD.split("[[package.item]]").nth(1).unwrap();
        let twice = format!("{GOOD}\n[[package.item]]{item}");
        let e = parse(&twice).unwrap_err();
        assert!(
            e.issues
                .iter()
                .any(|i| i.message.contains("duplicate item id")),
            "{e}"
        );
        assert!(
            e.issues.iter().any(|i| i.line >= 40),
            "second copy located: {e}"
        );
        let renamed = twice.replacen("id = \"p5-tflop\"", "id = \"p5-other\"", 1);
        let e = parse(&renamed).unwrap_err();
        assert!(
            e.issues
                .iter()
                .any(|i| i.message.contains("duplicate item: package 5")),
            "{e}"
        );
    }

    #[test]
    fn the_2026_contract_is_complete() {
        let c = parse(include_str!("../../../catalog/bjggzy-2026.toml")).unwrap();
        let counts: Vec<(u8, usize)> = c
            .packages
            .iter()
            .map(|p| (p.number.get(), p.items.len()))
            .collect();
        assert_eq!(counts, vec![(1, 19), (2, 35), (3, 19), (4, 7), (5, 20)]);
        let p2 = c.package(PackageNo::new(2).unwrap()).unwrap();
        let per_system = |code: &str| {
            p2.items
                .iter()
                .filter(|i| i.system.as_ref().map(|s| s.as_str()) == Some(code))
                .count()
        };
        assert_eq!((per_system("jypt"), per_system("zjk")), (15, 13));
        assert_eq!(
            p2.items.iter().filter(|i| i.system.is_none()).count(),
            7,
            "certificate table"
        );
        let budgets: Vec<Option<String>> = c
            .packages
            .iter()
            .map(|p| p.budget_wan.map(|b| b.to_string()))
            .collect();
        assert_eq!(
            budgets,
            [
                None,
                Some("86.498".into()),
                Some("48.525406".into()),
                None,
                Some("37.783373".into())
            ]
        );
        let tflop = c.items().find(|i| i.unit == Unit::Tflop).unwrap();
        assert_eq!(
            (tflop.package.get(), tflop.quantity.to_string().as_str()),
            (5, "9.6")
        );
        // packages 1-4 pay 50 / 16.67 / 33.33; package 5 states only the first share
        for p in &c.packages {
            let shares: Vec<Option<String>> = p
                .milestones
                .iter()
                .map(|m| m.percent.map(|d| d.to_string()))
                .collect();
            if p.number.get() == 5 {
                assert_eq!(shares, [Some("50".into()), None, None]);
            } else {
                assert_eq!(
                    shares,
                    [
                        Some("50".into()),
                        Some("16.67".into()),
                        Some("33.33".into())
                    ],
                    "package {}",
                    p.number
                );
            }
        }
    }

    #[test]
    fn migration_deadlines_count_working_days() {
        let c = parse(include_str!("../../../catalog/bjggzy-2026.toml")).unwrap();
        let cal =
            crate::calendar::parse(include_str!("../../../catalog/calendar-cn.toml")).unwrap();
        let signed: NaiveDate = "2026-09-28".parse().unwrap();
        let deadline = |n: i64| {
            c.package(PackageNo::new(n).unwrap())
                .unwrap()
                .migration_deadline(&cal, signed)
                .map(|w| w.date.to_string())
        };
        // 国庆 10月1日至7日 off; 10月10日 (Saturday) is a make-up workday.
        assert_eq!(
            deadline(1).as_deref(),
            Some("2026-10-16"),
            "10 working days"
        );
        assert_eq!(deadline(3).as_deref(), Some("2026-10-10"), "5 working days");
        assert_eq!(deadline(5).as_deref(), Some("2026-10-10"));
        assert_eq!(deadline(4), None, "package 4 sets no migration deadline");
    }

    #[test]
    fn report_is_compiler_style() {
        let e = parse(&GOOD.replace("\"TFLOP\"", "\"PFLOP\"")).unwrap_err();
        assert!(
            e.report("x.toml").starts_with("x.toml:33:8: unknown unit"),
            "{}",
            e.report("x.toml")
        );
    }
}
