//! Operations rules 运维规则: service-level clocks of incidents 故障, maintenance notices 维护通知
//! and key periods 重点时期, and availability 可用率. All pure: the clock is passed in.
//!
//! **SLA clocks.** A package's service levels (catalog data) name clocks with a limit in
//! minutes. A clock starts when the incident is opened, or for 到达现场 in packages 3 and 5
//! when the purchaser asks for people on site; it stops at the first event that ends it
//! ([`Clock`] → [`stops`]). Elapsed time is counted in whole seconds; a clock is breached when
//! it ran (or runs) **longer** than its limit, so exactly 30:00 meets a 30-minute limit and
//! 30:01 breaches it. Times are instants: midnight and month end change nothing.
//!
//! **Notices.** Work that affects the purchaser's systems is announced at least 24 hours
//! before it starts (至少提前一天通知); less is refused unless it is an emergency change 紧急变更
//! with a reason, which the monthly report lists as an exception. A window that touches a key
//! period (五一, 十一, 春节, 两会, business peaks, kept as data) needs an explicit override with a
//! reason, also an exception.
//!
//! **Availability.** A system is down while any of its monitors is down outside a notice
//! window (planned downtime is reported but not counted); availability is
//! 1 − unplanned down ÷ observed time.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use rust_decimal::Decimal;

use crate::catalog::{Clock, ClockStart, ServiceLevel, Severity};

/// How severe an incident is. Service levels with `applies_to = "any"` apply to both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IncidentSeverity {
    /// 宕机: the system is down.
    Outage,
    /// 其他故障: anything else.
    Fault,
}

impl IncidentSeverity {
    pub const ALL: [IncidentSeverity; 2] = [IncidentSeverity::Outage, IncidentSeverity::Fault];

    pub fn code(self) -> &'static str {
        match self {
            IncidentSeverity::Outage => "outage",
            IncidentSeverity::Fault => "fault",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.code() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            IncidentSeverity::Outage => "宕机",
            IncidentSeverity::Fault => "故障",
        }
    }

    fn matches(self, applies_to: Severity) -> bool {
        matches!(
            (self, applies_to),
            (_, Severity::Any)
                | (IncidentSeverity::Outage, Severity::Outage)
                | (IncidentSeverity::Fault, Severity::Fault)
        )
    }
}

/// A step in an incident's timeline 处置过程.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Responded,
    Located,
    OnsiteRequested,
    OnsiteArrived,
    Restored,
    Closed,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Responded,
        EventKind::Located,
        EventKind::OnsiteRequested,
        EventKind::OnsiteArrived,
        EventKind::Restored,
        EventKind::Closed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            EventKind::Responded => "responded",
            EventKind::Located => "located",
            EventKind::OnsiteRequested => "onsite_requested",
            EventKind::OnsiteArrived => "onsite_arrived",
            EventKind::Restored => "restored",
            EventKind::Closed => "closed",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.code() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            EventKind::Responded => "已响应",
            EventKind::Located => "已定位",
            EventKind::OnsiteRequested => "要求现场服务",
            EventKind::OnsiteArrived => "到达现场",
            EventKind::Restored => "已恢复",
            EventKind::Closed => "已关闭",
        }
    }

    pub fn expected() -> String {
        Self::ALL.map(|k| k.code()).join(", ")
    }
}

/// The events that stop a clock. A later stage implies the earlier ones: an incident that is
/// restored has been responded to, whether or not anyone recorded the response. Closing an
/// incident stops every clock still running.
pub fn stops(clock: Clock) -> &'static [EventKind] {
    use EventKind::*;
    match clock {
        Clock::Respond => &[Responded, Located, OnsiteArrived, Restored, Closed],
        Clock::Locate => &[Located, Restored, Closed],
        Clock::Onsite => &[OnsiteArrived, Closed],
        Clock::Restore | Clock::Resolve => &[Restored, Closed],
    }
}

/// One entry of an incident's timeline, at the time it happened (which may be earlier than
/// when it was recorded; the store keeps both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub at: DateTime<Utc>,
}

/// Where a clock stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockState {
    /// Its start event has not happened (no on-site request yet).
    NotStarted,
    /// Running and within its limit.
    Running,
    /// Stopped within its limit (达标).
    Met,
    /// Ran or runs longer than its limit (超时).
    Breached,
}

impl ClockState {
    pub fn code(self) -> &'static str {
        match self {
            ClockState::NotStarted => "not_started",
            ClockState::Running => "running",
            ClockState::Met => "met",
            ClockState::Breached => "breached",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            ClockState::NotStarted => "未开始",
            ClockState::Running => "计时中",
            ClockState::Met => "达标",
            ClockState::Breached => "超时",
        }
    }
}

/// A clock of one incident at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockStatus {
    pub clock: Clock,
    pub limit_minutes: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// When the limit runs out (start + limit).
    pub deadline: Option<DateTime<Utc>>,
    pub elapsed_seconds: i64,
    pub state: ClockState,
    /// The service level's own words.
    pub text: String,
}

impl ClockStatus {
    pub fn breached(&self) -> bool {
        self.state == ClockState::Breached
    }

    /// Seconds left before the limit (negative once breached); `None` unless running.
    pub fn remaining_seconds(&self) -> Option<i64> {
        match self.state {
            ClockState::Running | ClockState::Breached if self.stopped_at.is_none() => {
                Some(self.limit_seconds() - self.elapsed_seconds)
            }
            _ => None,
        }
    }

    fn limit_seconds(&self) -> i64 {
        i64::from(self.limit_minutes) * 60
    }

    /// A running clock close to its limit: a fifth of the limit left, at least one minute.
    /// The scheduler sends the 即将超时 warning once this turns true.
    pub fn warning_due(&self) -> bool {
        let margin = (self.limit_seconds() / 5).max(60);
        self.state == ClockState::Running && self.limit_seconds() - self.elapsed_seconds <= margin
    }
}

/// Whole seconds from `a` to `b`, never negative.
fn seconds(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (b.timestamp() - a.timestamp()).max(0)
}

/// The clocks of an incident of `severity` opened at `opened_at`, under the package's
/// `levels`, given its `events` (any order), at `now`.
pub fn clocks(
    levels: &[ServiceLevel],
    severity: IncidentSeverity,
    opened_at: DateTime<Utc>,
    events: &[Event],
    now: DateTime<Utc>,
) -> Vec<ClockStatus> {
    let first = |kinds: &[EventKind]| {
        events
            .iter()
            .filter(|e| kinds.contains(&e.kind))
            .map(|e| e.at)
            .min()
    };
    levels
        .iter()
        .filter(|l| severity.matches(l.applies_to))
        .map(|l| {
            let started_at = match l.starts {
                ClockStart::Opened => Some(opened_at),
                ClockStart::OnsiteRequested => first(&[EventKind::OnsiteRequested]),
            };
            let stopped_at = started_at.and(first(stops(l.clock)));
            let limit = i64::from(l.minutes) * 60;
            let (elapsed_seconds, state) = match (started_at, stopped_at) {
                (None, _) => (0, ClockState::NotStarted),
                (Some(s), stop) => {
                    let elapsed = seconds(s, stop.unwrap_or(now));
                    let state = if elapsed > limit {
                        ClockState::Breached
                    } else if stop.is_some() {
                        ClockState::Met
                    } else {
                        ClockState::Running
                    };
                    (elapsed, state)
                }
            };
            ClockStatus {
                clock: l.clock,
                limit_minutes: l.minutes,
                started_at,
                stopped_at: stopped_at.map(|t| t.max(started_at.unwrap_or(t))),
                deadline: started_at.map(|s| s + Duration::seconds(limit)),
                elapsed_seconds,
                state,
                text: l.text.clone(),
            }
        })
        .collect()
}

/// `h:mm:ss` for people, always with the hours (`0:30:01`), so that a time is never read
/// as a time of day.
pub fn format_seconds(s: i64) -> String {
    let sign = if s < 0 { "-" } else { "" };
    let s = s.unsigned_abs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    format!("{sign}{h}:{m:02}:{sec:02}")
}

/// The order events must respect: an incident is not closed twice, nothing follows closing,
/// an event cannot be dated before the incident was opened or in the future.
pub fn check_event(
    opened_at: DateTime<Utc>,
    events: &[Event],
    new: Event,
    now: DateTime<Utc>,
) -> Result<(), EventError> {
    if events.iter().any(|e| e.kind == EventKind::Closed) {
        return Err(EventError::Closed);
    }
    if new.at < opened_at {
        return Err(EventError::BeforeOpened);
    }
    if new.at > now + Duration::minutes(1) {
        return Err(EventError::InFuture);
    }
    if new.kind != EventKind::Closed && events.iter().any(|e| e.kind == new.kind) {
        return Err(EventError::Duplicate);
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the incident is closed")]
    Closed,
    #[error("the event is dated before the incident was opened")]
    BeforeOpened,
    #[error("the event is dated in the future")]
    InFuture,
    #[error("the event is already recorded")]
    Duplicate,
}

/// A key period 重点时期: whole days in Beijing time, both ends included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPeriod {
    pub name: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

impl KeyPeriod {
    /// `[first day 00:00, day after the last 00:00)` Beijing time, as instants.
    pub fn window(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            beijing_midnight(self.first_day),
            beijing_midnight(self.last_day + Duration::days(1)),
        )
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyPeriodFile {
    period: Vec<KeyPeriodEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyPeriodEntry {
    name: String,
    first_day: toml::value::Datetime,
    last_day: toml::value::Datetime,
}

/// Key periods from their data file (`catalog/key-periods.toml`: `[[period]]` tables with
/// `name`, `first_day`, `last_day` as TOML dates).
pub fn parse_key_periods(source: &str) -> Result<Vec<KeyPeriod>, String> {
    let file: KeyPeriodFile = toml::from_str(source).map_err(|e| e.to_string())?;
    file.period
        .into_iter()
        .map(|p| {
            let day = |d: &toml::value::Datetime| {
                crate::calendar::to_date(d)
                    .ok_or_else(|| format!("{}: {d} is not a date like 2026-10-01", p.name))
            };
            let (first_day, last_day) = (day(&p.first_day)?, day(&p.last_day)?);
            if last_day < first_day || p.name.trim().is_empty() {
                return Err(format!(
                    "{}: an empty name or a last day before the first",
                    p.name
                ));
            }
            Ok(KeyPeriod {
                name: p.name,
                first_day,
                last_day,
            })
        })
        .collect()
}

/// Midnight at the start of `d` in Beijing (UTC+8, no daylight saving).
pub fn beijing_midnight(d: NaiveDate) -> DateTime<Utc> {
    Shanghai
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .single()
        .expect("Asia/Shanghai has no gaps")
        .with_timezone(&Utc)
}

/// The minimum lead time of a notice (至少提前一天).
pub const NOTICE_LEAD: Duration = Duration::hours(24);

/// A maintenance notice as asked for, before the rules.
#[derive(Clone, Debug)]
pub struct NoticeRequest<'a> {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub emergency: bool,
    /// Why this is an emergency change (required with `emergency`).
    pub reason: Option<&'a str>,
    /// Why work inside a key period is necessary (required when the window touches one).
    pub override_reason: Option<&'a str>,
}

/// Why a notice may not be published.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    #[error("the end must be after the start")]
    EndNotAfterStart,
    #[error("an emergency change needs a reason")]
    ReasonRequired,
    #[error("the work starts {minutes_ahead} minutes from now; notices are due at least 24 hours ahead unless marked emergency with a reason")]
    TooLate { minutes_ahead: i64 },
    #[error("the work starts in the past")]
    StartPassed,
    #[error("the window touches the key period {name}; an override with a reason is required")]
    KeyPeriod { name: String },
}

/// What a published notice is, for the monthly report.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NoticeVerdict {
    /// Published less than 24 hours ahead as an emergency change 紧急变更.
    pub late_emergency: bool,
    /// Key periods the window touches (each overridden with the reason).
    pub key_periods: Vec<String>,
}

impl NoticeVerdict {
    /// An exception 例外 in the monthly report.
    pub fn is_exception(&self) -> bool {
        self.late_emergency || !self.key_periods.is_empty()
    }
}

/// How long before its start an emergency notice may still be entered: work begun within the
/// last hour can be announced as it starts.
pub const EMERGENCY_GRACE: Duration = Duration::hours(1);

/// Checks a notice against the lead time and the key periods at `now`.
pub fn check_notice(
    req: &NoticeRequest<'_>,
    key_periods: &[KeyPeriod],
    now: DateTime<Utc>,
) -> Result<NoticeVerdict, NoticeError> {
    let given = |s: Option<&str>| s.is_some_and(|s| !s.trim().is_empty());
    if req.end <= req.start {
        return Err(NoticeError::EndNotAfterStart);
    }
    if req.emergency && !given(req.reason) {
        return Err(NoticeError::ReasonRequired);
    }
    let ahead = req.start - now;
    let late = ahead < NOTICE_LEAD;
    if late && !req.emergency {
        return Err(NoticeError::TooLate {
            minutes_ahead: ahead.num_minutes(),
        });
    }
    if req.start < now - EMERGENCY_GRACE {
        return Err(NoticeError::StartPassed);
    }
    let touched: Vec<String> = key_periods
        .iter()
        .filter(|k| {
            let (a, b) = k.window();
            req.start < b && a < req.end
        })
        .map(|k| k.name.clone())
        .collect();
    if let Some(first) = touched.first() {
        if !given(req.override_reason) {
            return Err(NoticeError::KeyPeriod {
                name: first.clone(),
            });
        }
    }
    Ok(NoticeVerdict {
        late_emergency: late,
        key_periods: touched,
    })
}

/// A span of time a monitor was down; `end` is `None` while it still is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Down {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// Inside a published notice's window (计划内): reported, not counted against availability.
    pub planned: bool,
}

/// Availability of one system over a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Availability {
    /// Seconds of the window the system was watched.
    pub observed_seconds: i64,
    /// Seconds down outside notices (the union over its monitors).
    pub down_seconds: i64,
    /// Seconds down inside notices.
    pub planned_seconds: i64,
}

impl Availability {
    /// 1 − down ÷ observed as a percentage with 3 decimals (half away from zero); `None`
    /// when nothing was observed.
    pub fn percent(&self) -> Option<Decimal> {
        (self.observed_seconds > 0).then(|| {
            let up = Decimal::from(self.observed_seconds - self.down_seconds);
            (up * Decimal::from(100) / Decimal::from(self.observed_seconds))
                .round_dp_with_strategy(3, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        })
    }
}

/// Total length of the union of `spans` clipped to `[from, to)`.
fn union_seconds(
    mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> i64 {
    spans.retain_mut(|(a, b)| {
        *a = (*a).max(from);
        *b = (*b).min(to);
        a < b
    });
    spans.sort();
    let mut total = 0;
    let mut cur: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for (a, b) in spans {
        match cur {
            Some((ca, cb)) if a <= cb => cur = Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += seconds(ca, cb);
                cur = Some((a, b));
            }
            None => cur = Some((a, b)),
        }
    }
    total + cur.map_or(0, |(a, b)| seconds(a, b))
}

/// Availability over `[from, to)` of a system watched since `watched_from`, whose monitors
/// were down during `downs` (all its monitors together), at `now`.
pub fn availability(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    watched_from: DateTime<Utc>,
    downs: &[Down],
    now: DateTime<Utc>,
) -> Availability {
    let start = from.max(watched_from);
    let end = to.min(now);
    let spans = |planned: bool| {
        downs
            .iter()
            .filter(|d| d.planned == planned)
            .map(|d| (d.start, d.end.unwrap_or(now)))
            .collect::<Vec<_>>()
    };
    let down = union_seconds(spans(false), start, end);
    Availability {
        observed_seconds: seconds(start, end),
        down_seconds: down,
        planned_seconds: union_seconds(spans(true), start, end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        // Beijing wall-clock time, as people enter it.
        let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        Shanghai
            .from_local_datetime(&naive)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn level(applies_to: Severity, clock: Clock, starts: ClockStart, minutes: u32) -> ServiceLevel {
        ServiceLevel {
            applies_to,
            clock,
            starts,
            minutes,
            text: String::new(),
        }
    }

    /// Packages 1 and 4: outage respond 30 min, restore 4 h; fault on site 1 h.
    fn p1() -> Vec<ServiceLevel> {
        vec![
            level(Severity::Outage, Clock::Respond, ClockStart::Opened, 30),
            level(Severity::Outage, Clock::Restore, ClockStart::Opened, 240),
            level(Severity::Fault, Clock::Onsite, ClockStart::Opened, 60),
        ]
    }

    /// Packages 3 and 5: respond 5 min, locate 30 min, on site 1 h after the request.
    fn p3() -> Vec<ServiceLevel> {
        vec![
            level(Severity::Any, Clock::Respond, ClockStart::Opened, 5),
            level(Severity::Any, Clock::Locate, ClockStart::Opened, 30),
            level(
                Severity::Any,
                Clock::Onsite,
                ClockStart::OnsiteRequested,
                60,
            ),
        ]
    }

    /// Package 2: respond 1 h, resolve 4 h.
    fn p2() -> Vec<ServiceLevel> {
        vec![
            level(Severity::Any, Clock::Respond, ClockStart::Opened, 60),
            level(Severity::Any, Clock::Resolve, ClockStart::Opened, 240),
        ]
    }

    fn ev(kind: EventKind, at: &str) -> Event {
        Event { kind, at: t(at) }
    }

    /// One row: levels, severity, opened, events, now → the clock's (elapsed, state).
    struct Case {
        name: &'static str,
        levels: Vec<ServiceLevel>,
        severity: IncidentSeverity,
        opened: &'static str,
        events: Vec<Event>,
        now: &'static str,
        clock: Clock,
        elapsed: &'static str,
        state: ClockState,
    }

    fn check(cases: Vec<Case>) {
        for c in cases {
            let all = clocks(&c.levels, c.severity, t(c.opened), &c.events, t(c.now));
            let got = all
                .iter()
                .find(|s| s.clock == c.clock)
                .unwrap_or_else(|| panic!("{}: no {} clock", c.name, c.clock));
            assert_eq!(
                (format_seconds(got.elapsed_seconds).as_str(), got.state),
                (c.elapsed, c.state),
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn sla_clock_edges() {
        use ClockState::*;
        use EventKind::*;
        let o = IncidentSeverity::Outage;
        let f = IncidentSeverity::Fault;
        check(vec![
            Case {
                name: "respond at exactly 30:00 is met",
                levels: p1(),
                severity: o,
                opened: "2026-10-20 10:00:00",
                events: vec![ev(Responded, "2026-10-20 10:30:00")],
                now: "2026-10-20 12:00:00",
                clock: Clock::Respond,
                elapsed: "0:30:00",
                state: Met,
            },
            Case {
                name: "respond at 30:01 is breached",
                levels: p1(),
                severity: o,
                opened: "2026-10-20 10:00:00",
                events: vec![ev(Responded, "2026-10-20 10:30:01")],
                now: "2026-10-20 12:00:00",
                clock: Clock::Respond,
                elapsed: "0:30:01",
                state: Breached,
            },
            Case {
                name: "running at exactly 30:00 is still running",
                levels: p1(),
                severity: o,
                opened: "2026-10-20 10:00:00",
                events: vec![],
                now: "2026-10-20 10:30:00",
                clock: Clock::Respond,
                elapsed: "0:30:00",
                state: Running,
            },
            Case {
                name: "running at 30:01 is breached",
                levels: p1(),
                severity: o,
                opened: "2026-10-20 10:00:00",
                events: vec![],
                now: "2026-10-20 10:30:01",
                clock: Clock::Respond,
                elapsed: "0:30:01",
                state: Breached,
            },
            Case {
                name: "restore across midnight, exactly 4 h",
                levels: p1(),
                severity: o,
                opened: "2026-10-20 22:00:00",
                events: vec![ev(Restored, "2026-10-21 02:00:00")],
                now: "2026-10-21 09:00:00",
                clock: Clock::Restore,
                elapsed: "4:00:00",
                state: Met,
            },
            Case {
                name: "restore across month end, 4 h 1 s",
                levels: p1(),
                severity: o,
                opened: "2026-10-31 22:00:00",
                events: vec![ev(Restored, "2026-11-01 02:00:01")],
                now: "2026-11-02 00:00:00",
                clock: Clock::Restore,
                elapsed: "4:00:01",
                state: Breached,
            },
            Case {
                name: "restore across year end while running",
                levels: p1(),
                severity: o,
                opened: "2026-12-31 23:00:00",
                events: vec![],
                now: "2027-01-01 01:30:00",
                clock: Clock::Restore,
                elapsed: "2:30:00",
                state: Running,
            },
            Case {
                name: "restoring also counts as the response",
                levels: p1(),
                severity: o,
                opened: "2026-10-20 10:00:00",
                events: vec![ev(Restored, "2026-10-20 10:20:00")],
                now: "2026-10-20 12:00:00",
                clock: Clock::Respond,
                elapsed: "0:20:00",
                state: Met,
            },
            Case {
                name: "closing stops a clock that had no event",
                levels: p1(),
                severity: o,
                opened: "2026-10-20 10:00:00",
                events: vec![ev(Closed, "2026-10-20 10:45:00")],
                now: "2026-10-20 12:00:00",
                clock: Clock::Respond,
                elapsed: "0:45:00",
                state: Breached,
            },
            Case {
                name: "package 1 fault: on site counts from opening",
                levels: p1(),
                severity: f,
                opened: "2026-10-20 23:30:00",
                events: vec![ev(OnsiteArrived, "2026-10-21 00:30:00")],
                now: "2026-10-21 08:00:00",
                clock: Clock::Onsite,
                elapsed: "1:00:00",
                state: Met,
            },
            Case {
                name: "package 3 on site waits for the request",
                levels: p3(),
                severity: f,
                opened: "2026-10-20 10:00:00",
                events: vec![],
                now: "2026-10-20 18:00:00",
                clock: Clock::Onsite,
                elapsed: "0:00:00",
                state: NotStarted,
            },
            Case {
                name: "package 3 on site from the request, 60:01",
                levels: p3(),
                severity: o,
                opened: "2026-10-20 10:00:00",
                events: vec![
                    ev(OnsiteRequested, "2026-10-20 11:00:00"),
                    ev(OnsiteArrived, "2026-10-20 12:00:01"),
                ],
                now: "2026-10-20 18:00:00",
                clock: Clock::Onsite,
                elapsed: "1:00:01",
                state: Breached,
            },
            Case {
                name: "package 3 respond 5:00 is met",
                levels: p3(),
                severity: o,
                opened: "2026-10-20 10:00:00",
                events: vec![ev(Responded, "2026-10-20 10:05:00")],
                now: "2026-10-20 18:00:00",
                clock: Clock::Respond,
                elapsed: "0:05:00",
                state: Met,
            },
            Case {
                name: "package 3 locate 30:01 is breached",
                levels: p3(),
                severity: f,
                opened: "2026-10-20 10:00:00",
                events: vec![ev(Located, "2026-10-20 10:30:01")],
                now: "2026-10-20 18:00:00",
                clock: Clock::Locate,
                elapsed: "0:30:01",
                state: Breached,
            },
            Case {
                name: "package 2 resolve at 4 h is met",
                levels: p2(),
                severity: f,
                opened: "2026-10-31 21:00:00",
                events: vec![ev(Restored, "2026-11-01 01:00:00")],
                now: "2026-11-01 09:00:00",
                clock: Clock::Resolve,
                elapsed: "4:00:00",
                state: Met,
            },
            Case {
                name: "events out of order, earliest stop wins",
                levels: p2(),
                severity: f,
                opened: "2026-10-20 10:00:00",
                events: vec![
                    ev(Closed, "2026-10-20 13:00:00"),
                    ev(Responded, "2026-10-20 10:59:59"),
                ],
                now: "2026-10-20 18:00:00",
                clock: Clock::Respond,
                elapsed: "0:59:59",
                state: Met,
            },
        ]);
    }

    #[test]
    fn clocks_follow_severity() {
        let now = t("2026-10-20 10:10:00");
        let names = |sev| {
            clocks(&p1(), sev, t("2026-10-20 10:00:00"), &[], now)
                .iter()
                .map(|c| c.clock.code())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(IncidentSeverity::Outage), ["respond", "restore"]);
        assert_eq!(names(IncidentSeverity::Fault), ["onsite"]);
        let c = &clocks(
            &p1(),
            IncidentSeverity::Outage,
            t("2026-10-20 10:00:00"),
            &[],
            now,
        )[0];
        assert_eq!(c.remaining_seconds(), Some(20 * 60));
        assert_eq!(c.deadline, Some(t("2026-10-20 10:30:00")));
        assert!(!c.warning_due());
        let late = &clocks(
            &p1(),
            IncidentSeverity::Outage,
            t("2026-10-20 10:00:00"),
            &[],
            t("2026-10-20 10:24:00"),
        )[0];
        assert!(late.warning_due(), "6 minutes of 30 left is a fifth");
    }

    #[test]
    fn events_are_checked() {
        let opened = t("2026-10-20 10:00:00");
        let now = t("2026-10-20 11:00:00");
        let closed = [ev(EventKind::Closed, "2026-10-20 10:50:00")];
        assert_eq!(
            check_event(
                opened,
                &closed,
                ev(EventKind::Restored, "2026-10-20 10:55:00"),
                now
            ),
            Err(EventError::Closed)
        );
        assert_eq!(
            check_event(
                opened,
                &[],
                ev(EventKind::Responded, "2026-10-20 09:59:59"),
                now
            ),
            Err(EventError::BeforeOpened)
        );
        assert_eq!(
            check_event(
                opened,
                &[],
                ev(EventKind::Responded, "2026-10-20 11:05:00"),
                now
            ),
            Err(EventError::InFuture)
        );
        let responded = [ev(EventKind::Responded, "2026-10-20 10:10:00")];
        assert_eq!(
            check_event(
                opened,
                &responded,
                ev(EventKind::Responded, "2026-10-20 10:20:00"),
                now
            ),
            Err(EventError::Duplicate)
        );
        assert_eq!(
            check_event(
                opened,
                &responded,
                ev(EventKind::Located, "2026-10-20 10:05:00"),
                now
            ),
            Ok(()),
            "entered times may be earlier than other events"
        );
    }

    fn notice(
        start: &str,
        end: &str,
        emergency: bool,
        reason: Option<&'static str>,
    ) -> NoticeRequest<'static> {
        NoticeRequest {
            start: t(start),
            end: t(end),
            emergency,
            reason,
            override_reason: None,
        }
    }

    #[test]
    fn notices_need_a_day() {
        let now = t("2026-11-10 09:00:00");
        let none: &[KeyPeriod] = &[];
        // 23 h ahead: refused.
        assert_eq!(
            check_notice(
                &notice("2026-11-11 08:00:00", "2026-11-11 10:00:00", false, None),
                none,
                now
            ),
            Err(NoticeError::TooLate {
                minutes_ahead: 23 * 60
            })
        );
        // Exactly 24 h: accepted.
        assert_eq!(
            check_notice(
                &notice("2026-11-11 09:00:00", "2026-11-11 10:00:00", false, None),
                none,
                now
            ),
            Ok(NoticeVerdict::default())
        );
        // 23 h 59 min 59 s: refused.
        let mut r = notice("2026-11-11 09:00:00", "2026-11-11 10:00:00", false, None);
        r.start -= Duration::seconds(1);
        assert!(matches!(
            check_notice(&r, none, now),
            Err(NoticeError::TooLate { .. })
        ));
        // 25 h: accepted, not an exception.
        let ok = check_notice(
            &notice("2026-11-11 10:00:00", "2026-11-11 12:00:00", false, None),
            none,
            now,
        )
        .unwrap();
        assert!(!ok.is_exception());
        // 23 h as an emergency with a reason: accepted, an exception.
        let em = check_notice(
            &notice(
                "2026-11-11 08:00:00",
                "2026-11-11 10:00:00",
                true,
                Some("数据库补丁"),
            ),
            none,
            now,
        )
        .unwrap();
        assert!(em.late_emergency && em.is_exception());
        // An emergency without a reason: refused.
        assert_eq!(
            check_notice(
                &notice(
                    "2026-11-11 08:00:00",
                    "2026-11-11 10:00:00",
                    true,
                    Some("  ")
                ),
                none,
                now
            ),
            Err(NoticeError::ReasonRequired)
        );
        // An emergency that began within the hour is accepted; earlier is refused.
        assert!(check_notice(
            &notice(
                "2026-11-10 08:00:00",
                "2026-11-10 10:00:00",
                true,
                Some("故障")
            ),
            none,
            now
        )
        .is_ok());
        assert_eq!(
            check_notice(
                &notice(
                    "2026-11-10 07:59:59",
                    "2026-11-10 10:00:00",
                    true,
                    Some("故障")
                ),
                none,
                now
            ),
            Err(NoticeError::StartPassed)
        );
        // The end must follow the start.
        assert_eq!(
            check_notice(
                &notice("2026-11-12 10:00:00", "2026-11-12 10:00:00", false, None),
                none,
                now
            ),
            Err(NoticeError::EndNotAfterStart)
        );
    }

    #[test]
    fn key_periods_need_an_override() {
        let now = t("2026-09-20 09:00:00");
        let national_day = KeyPeriod {
            name: "十一".into(),
            first_day: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            last_day: NaiveDate::from_ymd_opt(2026, 10, 7).unwrap(),
        };
        let kp = std::slice::from_ref(&national_day);
        // Ends exactly at the period's first midnight: outside.
        assert!(check_notice(
            &notice("2026-09-30 22:00:00", "2026-10-01 00:00:00", false, None),
            kp,
            now
        )
        .is_ok());
        // One second into it: refused without an override.
        assert_eq!(
            check_notice(
                &notice("2026-09-30 22:00:00", "2026-10-01 00:00:01", false, None),
                kp,
                now
            ),
            Err(NoticeError::KeyPeriod {
                name: "十一".into()
            })
        );
        // The last day counts until midnight Beijing time.
        assert!(check_notice(
            &notice("2026-10-07 23:00:00", "2026-10-08 01:00:00", false, None),
            kp,
            now
        )
        .is_err());
        assert!(check_notice(
            &notice("2026-10-08 00:00:00", "2026-10-08 01:00:00", false, None),
            kp,
            now
        )
        .is_ok());
        let mut r = notice("2026-10-03 01:00:00", "2026-10-03 03:00:00", false, None);
        r.override_reason = Some("安全漏洞紧急修复");
        let v = check_notice(&r, kp, now).unwrap();
        assert_eq!(v.key_periods, ["十一"]);
        assert!(v.is_exception());
    }

    #[test]
    fn the_bundled_key_periods_parse() {
        let kp = parse_key_periods(include_str!("../../../catalog/key-periods.toml")).unwrap();
        let names: Vec<&str> = kp.iter().map(|k| k.name.as_str()).collect();
        for want in ["春节", "两会", "五一", "十一"] {
            assert!(names.contains(&want), "{names:?}");
        }
        assert!(parse_key_periods(
            "[[period]]\nname = \"x\"\nfirst_day = 2026-02-02\nlast_day = 2026-02-01\n"
        )
        .is_err());
        assert!(parse_key_periods(
            "[[period]]\nname = \"x\"\nfirst_day = \"soon\"\nlast_day = 2026-02-01\n"
        )
        .is_err());
    }

    #[test]
    fn availability_counts_the_union_of_unplanned_downs() {
        let from = t("2026-10-01 00:00:00");
        let to = t("2026-11-01 00:00:00");
        let now = t("2026-11-15 00:00:00");
        let down = |a: &str, b: Option<&str>, planned| Down {
            start: t(a),
            end: b.map(t),
            planned,
        };
        let downs = [
            // Two monitors down over the same hour: counted once.
            down("2026-10-05 10:00:00", Some("2026-10-05 11:00:00"), false),
            down("2026-10-05 10:30:00", Some("2026-10-05 11:00:00"), false),
            // Planned: reported apart.
            down("2026-10-06 01:00:00", Some("2026-10-06 03:00:00"), true),
            // Across the month end: only October's part.
            down("2026-10-31 23:00:00", Some("2026-11-01 01:00:00"), false),
        ];
        let a = availability(from, to, from, &downs, now);
        assert_eq!(a.observed_seconds, 31 * 86400);
        assert_eq!(a.down_seconds, 2 * 3600);
        assert_eq!(a.planned_seconds, 2 * 3600);
        assert_eq!(a.percent(), Some("99.731".parse().unwrap()));
        // Watched from mid-month, still down now.
        let a = availability(
            from,
            to,
            t("2026-10-31 00:00:00"),
            &[down("2026-10-31 12:00:00", None, false)],
            t("2026-10-31 18:00:00"),
        );
        assert_eq!((a.observed_seconds, a.down_seconds), (18 * 3600, 6 * 3600));
        assert_eq!(a.percent(), Some("66.667".parse().unwrap()));
        assert_eq!(availability(from, to, to, &[], now).percent(), None);
    }
}
