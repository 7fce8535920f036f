//! Payment milestones 付款节点 and acceptance 验收: when each milestone falls due and where it
//! stands (未到期 / 应付 / 已付 / 逾期), from the contract's milestone, the package's recorded
//! acceptances and payments, the working-day calendar and today's date.
//!
//! Like the rest of `domain`, nothing here reads a clock: `today` (a date in Beijing time)
//! comes in as a value.
//!
//! The rules, from the procurement's 付款条件:
//! - a milestone triggered by signing 合同签署 is due by its stated date (`due_by`); the
//!   contract being in the store means it was signed, so it is owed from the start;
//! - a milestone triggered by stage or final acceptance 阶段性验收/最终验收 is owed once that
//!   acceptance is recorded on date A: due on A + N working days when the contract gives N
//!   (`working_days_after_trigger`), but no later than a stated `due_by`; with no N, by
//!   `due_by`; with neither, owed with no date;
//! - before its acceptance a milestone is not due 未到期, and the latest date it could fall
//!   due is shown ([`Milestone::latest_due`]);
//! - a payment recorded for a milestone settles it 已付; otherwise it is overdue 逾期 from the
//!   day after its due date (the due date itself is not overdue).

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sm3::{Digest, Sm3};

use crate::calendar::{Calendar, WorkingDay};
use crate::catalog::{Milestone, MilestoneDue, Trigger};

/// The largest evidence document 验收材料 accepted: 20 MiB.
pub const MAX_EVIDENCE_BYTES: usize = 20 * 1024 * 1024;

/// SM3 of a document's bytes as lowercase hex: what is stored with it and shown beside it.
pub fn sm3_hex(bytes: &[u8]) -> String {
    hex::encode(Sm3::digest(bytes))
}

/// Which acceptance 验收 a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AcceptanceKind {
    /// 阶段性验收: triggers the 中期款.
    Stage,
    /// 最终验收: triggers the 尾款.
    Final,
}

impl AcceptanceKind {
    pub const ALL: [AcceptanceKind; 2] = [AcceptanceKind::Stage, AcceptanceKind::Final];

    pub fn code(self) -> &'static str {
        match self {
            AcceptanceKind::Stage => "stage",
            AcceptanceKind::Final => "final",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            AcceptanceKind::Stage => "阶段性验收",
            AcceptanceKind::Final => "最终验收",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s)
    }

    /// The acceptance a milestone's trigger waits for (none for signing).
    pub fn of_trigger(t: Trigger) -> Option<Self> {
        match t {
            Trigger::Signing => None,
            Trigger::StageAcceptance => Some(AcceptanceKind::Stage),
            Trigger::FinalAcceptance => Some(AcceptanceKind::Final),
        }
    }
}

impl fmt::Display for AcceptanceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A recorded acceptance of a package, as far as the rules need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acceptance {
    pub kind: AcceptanceKind,
    pub accepted_on: NaiveDate,
}

/// A recorded payment of a package's milestone, as far as the rules need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payment {
    pub milestone: u32,
    pub paid_on: NaiveDate,
}

/// Where a milestone stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    /// 未到期: its acceptance has not been recorded yet.
    NotDue,
    /// 应付: owed, not yet past its due date.
    Due,
    /// 已付: a payment is recorded for it.
    Paid,
    /// 逾期: today is after its due date and no payment is recorded.
    Overdue,
}

impl PaymentStatus {
    pub fn code(self) -> &'static str {
        match self {
            PaymentStatus::NotDue => "not_due",
            PaymentStatus::Due => "due",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Overdue => "overdue",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            PaymentStatus::NotDue => "未到期",
            PaymentStatus::Due => "应付",
            PaymentStatus::Paid => "已付",
            PaymentStatus::Overdue => "逾期",
        }
    }
}

/// A milestone's due date as far as it is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DueDate {
    /// Due on this day at the latest: a stated date, or computed from the recorded
    /// acceptance (provisional when the count runs through an unpublished calendar year).
    On(WorkingDay),
    /// The acceptance is not recorded yet; if it happens as late as the contract allows,
    /// the payment falls due on this day.
    Latest(WorkingDay),
    /// The contract states no date (e.g. package 5's 尾款).
    Open,
}

impl DueDate {
    pub fn date(self) -> Option<NaiveDate> {
        match self {
            DueDate::On(w) | DueDate::Latest(w) => Some(w.date),
            DueDate::Open => None,
        }
    }

    pub fn provisional(self) -> bool {
        match self {
            DueDate::On(w) | DueDate::Latest(w) => w.provisional,
            DueDate::Open => false,
        }
    }
}

/// One milestone on a given day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MilestoneState {
    pub seq: u32,
    pub status: PaymentStatus,
    pub due: DueDate,
    /// Whether the trigger has happened (signing always has).
    pub triggered: bool,
    /// The date of the triggering acceptance, when there is one.
    pub triggered_on: Option<NaiveDate>,
    /// The first payment recorded for it.
    pub paid_on: Option<NaiveDate>,
    /// Paid after its due date.
    pub paid_late: bool,
    /// The triggering acceptance came after the contract's `acceptance_by`.
    pub accepted_late: bool,
}

fn fixed(d: NaiveDate) -> WorkingDay {
    WorkingDay {
        date: d,
        provisional: false,
    }
}

/// The due date and status of `m` on `today`, given the package's recorded acceptances and
/// payments (in any order; the earliest of a kind counts).
pub fn milestone_state(
    m: &Milestone,
    acceptances: &[Acceptance],
    payments: &[Payment],
    cal: &Calendar,
    today: NaiveDate,
) -> MilestoneState {
    let kind = AcceptanceKind::of_trigger(m.trigger);
    let accepted_on = kind.and_then(|k| {
        acceptances
            .iter()
            .filter(|a| a.kind == k)
            .map(|a| a.accepted_on)
            .min()
    });
    let triggered = kind.is_none() || accepted_on.is_some();
    let due = match (kind, accepted_on) {
        (Some(_), None) => match m.latest_due(cal) {
            MilestoneDue::By(d) => DueDate::Latest(fixed(d)),
            MilestoneDue::Latest(w) => DueDate::Latest(w),
            MilestoneDue::Open => DueDate::Open,
        },
        (_, accepted) => {
            let computed = accepted
                .zip(m.working_days_after_trigger)
                .map(|(a, n)| cal.add_working_days(a, n));
            match (computed, m.due_by) {
                (Some(w), Some(cap)) if cap < w.date => DueDate::On(fixed(cap)),
                (Some(w), _) => DueDate::On(w),
                (None, Some(d)) => DueDate::On(fixed(d)),
                (None, None) => DueDate::Open,
            }
        }
    };
    let paid_on = payments
        .iter()
        .filter(|p| p.milestone == m.seq)
        .map(|p| p.paid_on)
        .min();
    let due_date = match due {
        DueDate::On(w) => Some(w.date),
        _ => None,
    };
    let status = match (paid_on, triggered, due_date) {
        (Some(_), _, _) => PaymentStatus::Paid,
        (None, false, _) => PaymentStatus::NotDue,
        (None, true, Some(d)) if today > d => PaymentStatus::Overdue,
        (None, true, _) => PaymentStatus::Due,
    };
    MilestoneState {
        seq: m.seq,
        status,
        due,
        triggered,
        triggered_on: accepted_on,
        paid_on,
        paid_late: matches!((paid_on, due_date), (Some(p), Some(d)) if p > d),
        accepted_late: matches!((accepted_on, m.acceptance_by), (Some(a), Some(by)) if a > by),
    }
}

/// Why an acceptance or a payment cannot be recorded. `code()` is stable and meant for
/// machines; the messages are for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRuleError {
    /// A date after today (日期不能晚于今天).
    #[error("{what} {date} is after today ({today})")]
    FutureDate {
        what: &'static str,
        date: NaiveDate,
        today: NaiveDate,
    },
    /// The package already has this acceptance (each package has one of each).
    #[error("the package already has its {kind} acceptance (on {on})")]
    DuplicateAcceptance { kind: AcceptanceKind, on: NaiveDate },
    /// A final acceptance before the stage acceptance is recorded.
    #[error("the stage acceptance must be recorded before the final acceptance")]
    StageAcceptanceMissing,
    /// A final acceptance dated before the stage acceptance.
    #[error("the final acceptance ({final_on}) cannot precede the stage acceptance ({stage_on})")]
    FinalBeforeStage {
        stage_on: NaiveDate,
        final_on: NaiveDate,
    },
    /// A payment for a milestone whose acceptance is not recorded.
    #[error("milestone {seq} is not owed yet: its {kind} acceptance is not recorded")]
    NotTriggered { seq: u32, kind: AcceptanceKind },
    /// A payment dated before the acceptance that triggers it.
    #[error("payment on {paid_on} precedes the {kind} acceptance on {accepted_on}")]
    PaidBeforeTrigger {
        kind: AcceptanceKind,
        accepted_on: NaiveDate,
        paid_on: NaiveDate,
    },
    /// A second payment for a milestone.
    #[error("milestone {seq} is already paid (on {paid_on})")]
    AlreadyPaid { seq: u32, paid_on: NaiveDate },
    /// Not an amount in 元 with at most two decimals above zero.
    #[error("amount {0:?} must be a positive number of yuan with at most two decimals")]
    InvalidAmount(String),
}

impl PaymentRuleError {
    pub fn code(&self) -> &'static str {
        match self {
            PaymentRuleError::FutureDate { .. } => "future_date",
            PaymentRuleError::DuplicateAcceptance { .. } => "duplicate_acceptance",
            PaymentRuleError::StageAcceptanceMissing => "stage_acceptance_missing",
            PaymentRuleError::FinalBeforeStage { .. } => "final_before_stage",
            PaymentRuleError::NotTriggered { .. } => "not_triggered",
            PaymentRuleError::PaidBeforeTrigger { .. } => "paid_before_trigger",
            PaymentRuleError::AlreadyPaid { .. } => "already_paid",
            PaymentRuleError::InvalidAmount(_) => "invalid_amount",
        }
    }

    /// True for malformed input (a 400), false for a refusal in the current state (a 409).
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            PaymentRuleError::FutureDate { .. } | PaymentRuleError::InvalidAmount(_)
        )
    }

    pub fn message_zh(&self) -> String {
        match self {
            PaymentRuleError::FutureDate { what, date, today } => {
                let what = match *what {
                    "accepted_on" => "验收日期",
                    "paid_on" => "付款日期",
                    other => other,
                };
                format!("{what} {date} 晚于今天（{today}），只能登记已发生的事项")
            }
            PaymentRuleError::DuplicateAcceptance { kind, on } => {
                format!("本包已登记{}（{on}），每包只登记一次", kind.label_zh())
            }
            PaymentRuleError::StageAcceptanceMissing => {
                "须先登记阶段性验收，再登记最终验收".to_owned()
            }
            PaymentRuleError::FinalBeforeStage { stage_on, final_on } => {
                format!("最终验收日期 {final_on} 早于阶段性验收日期 {stage_on}")
            }
            PaymentRuleError::NotTriggered { seq, kind } => format!(
                "第 {seq} 个付款节点尚未到付款条件：本包{}尚未登记",
                kind.label_zh()
            ),
            PaymentRuleError::PaidBeforeTrigger {
                kind,
                accepted_on,
                paid_on,
            } => format!(
                "付款日期 {paid_on} 早于{}日期 {accepted_on}",
                kind.label_zh()
            ),
            PaymentRuleError::AlreadyPaid { seq, paid_on } => {
                format!("第 {seq} 个付款节点已于 {paid_on} 登记付款")
            }
            PaymentRuleError::InvalidAmount(s) => {
                format!("金额 {s:?} 应为大于零的元金额，最多两位小数")
            }
        }
    }

    pub fn message_en(&self) -> String {
        self.to_string()
    }
}

/// Check a new acceptance against the package's recorded ones: not in the future, one of
/// each kind, and the final one after the stage one (the 中期款 waits for the stage
/// acceptance, so a final acceptance without it would leave that milestone never owed).
pub fn check_acceptance(
    existing: &[Acceptance],
    kind: AcceptanceKind,
    accepted_on: NaiveDate,
    today: NaiveDate,
) -> Result<(), PaymentRuleError> {
    if accepted_on > today {
        return Err(PaymentRuleError::FutureDate {
            what: "accepted_on",
            date: accepted_on,
            today,
        });
    }
    if let Some(a) = existing.iter().find(|a| a.kind == kind) {
        return Err(PaymentRuleError::DuplicateAcceptance {
            kind,
            on: a.accepted_on,
        });
    }
    let stage = existing
        .iter()
        .find(|a| a.kind == AcceptanceKind::Stage)
        .map(|a| a.accepted_on);
    match (kind, stage) {
        (AcceptanceKind::Final, None) => Err(PaymentRuleError::StageAcceptanceMissing),
        (AcceptanceKind::Final, Some(s)) if accepted_on < s => {
            Err(PaymentRuleError::FinalBeforeStage {
                stage_on: s,
                final_on: accepted_on,
            })
        }
        _ => Ok(()),
    }
}

/// Check a new payment of milestone `m`: not in the future, its trigger recorded and not
/// after the payment, and no payment recorded for it yet.
pub fn check_payment(
    m: &Milestone,
    acceptances: &[Acceptance],
    payments: &[Payment],
    paid_on: NaiveDate,
    today: NaiveDate,
) -> Result<(), PaymentRuleError> {
    if paid_on > today {
        return Err(PaymentRuleError::FutureDate {
            what: "paid_on",
            date: paid_on,
            today,
        });
    }
    if let Some(p) = payments.iter().find(|p| p.milestone == m.seq) {
        return Err(PaymentRuleError::AlreadyPaid {
            seq: m.seq,
            paid_on: p.paid_on,
        });
    }
    if let Some(kind) = AcceptanceKind::of_trigger(m.trigger) {
        let accepted = acceptances
            .iter()
            .filter(|a| a.kind == kind)
            .map(|a| a.accepted_on)
            .min();
        match accepted {
            None => return Err(PaymentRuleError::NotTriggered { seq: m.seq, kind }),
            Some(a) if paid_on < a => {
                return Err(PaymentRuleError::PaidBeforeTrigger {
                    kind,
                    accepted_on: a,
                    paid_on,
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A payment amount in 元: above zero, at most two decimals (the fen), at most fourteen
/// integer digits. Returned with exactly two decimals.
pub fn parse_amount(s: &str) -> Result<Decimal, PaymentRuleError> {
    let bad = || PaymentRuleError::InvalidAmount(s.to_owned());
    let t = s.trim();
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    let d = Decimal::from_str(t).map_err(|_| bad())?.normalize();
    if d <= Decimal::ZERO || d.scale() > 2 || d.trunc() >= Decimal::from(10_i64.pow(14)) {
        return Err(bad());
    }
    let mut d = d;
    d.rescale(2);
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar;

    const CAL: &str = include_str!("../../../catalog/calendar-cn.toml");
    const CONTRACT: &str = include_str!("../../../catalog/bjggzy-2026.toml");

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cal() -> Calendar {
        calendar::parse(CAL).unwrap()
    }

    fn milestone(
        trigger: Trigger,
        due_by: Option<&str>,
        n: Option<u32>,
        acceptance_by: Option<&str>,
    ) -> Milestone {
        Milestone {
            seq: 2,
            name: "中期款".into(),
            percent: None,
            trigger,
            due_by: due_by.map(d),
            working_days_after_trigger: n,
            acceptance_by: acceptance_by.map(d),
            text: String::new(),
        }
    }

    fn stage(on: &str) -> Acceptance {
        Acceptance {
            kind: AcceptanceKind::Stage,
            accepted_on: d(on),
        }
    }

    fn fin(on: &str) -> Acceptance {
        Acceptance {
            kind: AcceptanceKind::Final,
            accepted_on: d(on),
        }
    }

    fn paid(seq: u32, on: &str) -> Payment {
        Payment {
            milestone: seq,
            paid_on: d(on),
        }
    }

    fn on(date: &str, provisional: bool) -> DueDate {
        DueDate::On(WorkingDay {
            date: d(date),
            provisional,
        })
    }

    fn latest(date: &str, provisional: bool) -> DueDate {
        DueDate::Latest(WorkingDay {
            date: d(date),
            provisional,
        })
    }

    use PaymentStatus::*;

    /// (name, milestone, acceptances, payments, today, due date, status)
    type StateCase<'a> = (
        &'a str,
        &'a Milestone,
        Vec<Acceptance>,
        Vec<Payment>,
        &'a str,
        DueDate,
        PaymentStatus,
    );
    /// (name, recorded, kind, date, outcome)
    type AcceptanceCase<'a> = (
        &'a str,
        Vec<Acceptance>,
        AcceptanceKind,
        &'a str,
        Result<(), &'a str>,
    );
    /// (name, milestone, acceptances, payments, paid on, outcome)
    type PaymentCase<'a> = (
        &'a str,
        &'a Milestone,
        Vec<Acceptance>,
        Vec<Payment>,
        &'a str,
        Result<(), &'a str>,
    );

    #[test]
    fn due_dates_and_statuses_at_the_edges() {
        let cal = cal();
        let signing = milestone(Trigger::Signing, Some("2026-06-30"), None, None);
        // Package 1's 中期款: 15 working days after stage acceptance, which is due by 12-31.
        let mid = milestone(Trigger::StageAcceptance, None, Some(15), Some("2026-12-31"));
        // Package 1's 尾款: after final acceptance, by 2027-06-30.
        let tail = milestone(Trigger::FinalAcceptance, Some("2027-06-30"), None, None);
        // Package 5's 尾款: no date at all.
        let open = milestone(Trigger::FinalAcceptance, None, None, None);
        // Both a working-day count and a cap.
        let capped = milestone(Trigger::StageAcceptance, Some("2026-10-20"), Some(15), None);
        let cap_later = milestone(Trigger::StageAcceptance, Some("2027-01-31"), Some(15), None);
        let cap_earlier = milestone(Trigger::StageAcceptance, Some("2027-01-15"), Some(15), None);

        #[rustfmt::skip]
        let cases: Vec<StateCase> = vec![
            // Signing: owed from the start; the due date itself is not overdue, the day after is.
            ("signing, before", &signing, vec![], vec![], "2026-03-01", on("2026-06-30", false), Due),
            ("signing, on the day", &signing, vec![], vec![], "2026-06-30", on("2026-06-30", false), Due),
            ("signing, day after", &signing, vec![], vec![], "2026-07-01", on("2026-06-30", false), Overdue),
            ("signing, paid late", &signing, vec![], vec![paid(2, "2026-07-10")], "2026-08-01", on("2026-06-30", false), Paid),
            // Not yet accepted: not due, with the latest possible date (2026-12-31 + 15
            // working days runs into 2027, whose notice is not in the data).
            ("stage, not accepted", &mid, vec![], vec![], "2026-11-29", latest("2027-01-22", true), NotDue),
            ("stage, not accepted, late", &mid, vec![], vec![], "2027-03-01", latest("2027-01-22", true), NotDue),
            // The other acceptance does not trigger it.
            ("stage, only final", &mid, vec![fin("2026-10-09")], vec![], "2026-11-29", latest("2027-01-22", true), NotDue),
            // Accepted 09-30: 国庆 10-01..07 off, 10-10 (Sat) worked → 15th working day 10-27.
            ("stage, over 国庆, day of acceptance", &mid, vec![stage("2026-09-30")], vec![], "2026-09-30", on("2026-10-27", false), Due),
            ("stage, over 国庆, on the due day", &mid, vec![stage("2026-09-30")], vec![], "2026-10-27", on("2026-10-27", false), Due),
            ("stage, over 国庆, day after", &mid, vec![stage("2026-09-30")], vec![], "2026-10-28", on("2026-10-27", false), Overdue),
            ("stage, paid on the due day", &mid, vec![stage("2026-09-30")], vec![paid(2, "2026-10-27")], "2026-12-01", on("2026-10-27", false), Paid),
            // A payment of another milestone does not settle this one.
            ("stage, other milestone paid", &mid, vec![stage("2026-09-30")], vec![paid(1, "2026-10-01")], "2026-12-01", on("2026-10-27", false), Overdue),
            // Accepted on the last allowed day: the count runs into provisional 2027.
            ("stage, into 2027", &mid, vec![stage("2026-12-31")], vec![], "2027-01-22", on("2027-01-22", true), Due),
            ("stage, into 2027, after", &mid, vec![stage("2026-12-31")], vec![], "2027-01-23", on("2027-01-22", true), Overdue),
            // The stated date caps the count: min(10-27, 10-20).
            ("capped", &capped, vec![stage("2026-09-30")], vec![], "2026-10-20", on("2026-10-20", false), Due),
            ("capped, after", &capped, vec![stage("2026-10-01")], vec![], "2026-10-21", on("2026-10-20", false), Overdue),
            // The count wins when it is earlier; a fixed cap is never provisional.
            ("cap later", &cap_later, vec![stage("2026-12-31")], vec![], "2027-01-05", on("2027-01-22", true), Due),
            ("cap earlier", &cap_earlier, vec![stage("2026-12-31")], vec![], "2027-01-05", on("2027-01-15", false), Due),
            // Final acceptance with a stated date and no count: due by the date.
            ("final, accepted", &tail, vec![stage("2026-09-30"), fin("2026-12-20")], vec![], "2027-06-30", on("2027-06-30", false), Due),
            ("final, day after", &tail, vec![stage("2026-09-30"), fin("2026-12-20")], vec![], "2027-07-01", on("2027-06-30", false), Overdue),
            ("final, not accepted", &tail, vec![stage("2026-09-30")], vec![], "2027-07-01", latest("2027-06-30", false), NotDue),
            // No date in the contract: owed once accepted, never overdue.
            ("open, not accepted", &open, vec![], vec![], "2026-11-29", DueDate::Open, NotDue),
            ("open, accepted", &open, vec![fin("2026-12-20")], vec![], "2030-01-01", DueDate::Open, Due),
        ];
        for (name, m, acc, pay, today, due, status) in cases {
            let s = milestone_state(m, &acc, &pay, &cal, d(today));
            assert_eq!((s.due, s.status), (due, status), "{name}");
            assert_eq!(s.due.date(), due.date(), "{name}");
        }
    }

    #[test]
    fn state_details() {
        let cal = cal();
        let mid = milestone(Trigger::StageAcceptance, None, Some(15), Some("2026-12-31"));
        let s = milestone_state(
            &mid,
            &[stage("2027-01-04")],
            &[paid(2, "2027-02-01")],
            &cal,
            d("2027-03-01"),
        );
        assert!(s.triggered && s.accepted_late && s.paid_late);
        assert_eq!(s.triggered_on, Some(d("2027-01-04")));
        assert_eq!(s.paid_on, Some(d("2027-02-01")));
        let s = milestone_state(&mid, &[], &[], &cal, d("2026-11-29"));
        assert!(!s.triggered && !s.accepted_late && !s.paid_late);
        assert_eq!(s.triggered_on, None);
    }

    #[test]
    fn every_milestone_of_the_contract_is_not_due_or_due_on_signing() {
        let contract = crate::catalog::parse(CONTRACT).unwrap();
        let cal = cal();
        for p in &contract.packages {
            for m in &p.milestones {
                let s = milestone_state(m, &[], &[], &cal, d("2026-05-01"));
                let want = if m.trigger == Trigger::Signing {
                    Due
                } else {
                    NotDue
                };
                assert_eq!(s.status, want, "package {} milestone {}", p.number, m.seq);
            }
        }
    }

    #[test]
    fn labels() {
        let all = [NotDue, Due, Paid, Overdue];
        let zh: Vec<_> = all.iter().map(|s| s.label_zh()).collect();
        assert_eq!(zh, ["未到期", "应付", "已付", "逾期"]);
        let codes: Vec<_> = all.iter().map(|s| s.code()).collect();
        assert_eq!(codes, ["not_due", "due", "paid", "overdue"]);
        for k in AcceptanceKind::ALL {
            assert_eq!(AcceptanceKind::parse(k.code()), Some(k));
        }
        assert_eq!(AcceptanceKind::parse("initial"), None);
        assert_eq!(AcceptanceKind::Stage.label_zh(), "阶段性验收");
    }

    #[test]
    fn acceptances_are_checked() {
        let today = d("2026-11-29");
        let st = AcceptanceKind::Stage;
        let fi = AcceptanceKind::Final;
        #[rustfmt::skip]
        let cases: Vec<AcceptanceCase> = vec![
            ("stage today", vec![], st, "2026-11-29", Ok(())),
            ("stage tomorrow", vec![], st, "2026-11-30", Err("future_date")),
            ("second stage", vec![stage("2026-09-30")], st, "2026-10-30", Err("duplicate_acceptance")),
            ("final without stage", vec![], fi, "2026-10-30", Err("stage_acceptance_missing")),
            ("final before stage", vec![stage("2026-09-30")], fi, "2026-09-29", Err("final_before_stage")),
            ("final on the stage day", vec![stage("2026-09-30")], fi, "2026-09-30", Ok(())),
            ("second final", vec![stage("2026-09-30"), fin("2026-10-30")], fi, "2026-11-01", Err("duplicate_acceptance")),
        ];
        for (name, existing, kind, on, want) in cases {
            let got = check_acceptance(&existing, kind, d(on), today).map_err(|e| e.code());
            assert_eq!(got, want, "{name}");
        }
        let e = check_acceptance(&[], st, d("2026-12-01"), today).unwrap_err();
        assert!(e.is_input());
        assert!(e.message_zh().contains("晚于今天"), "{}", e.message_zh());
    }

    #[test]
    fn payments_are_checked() {
        let today = d("2026-11-29");
        let signing = milestone(Trigger::Signing, Some("2026-06-30"), None, None);
        let mut first = signing.clone();
        first.seq = 1;
        let mid = milestone(Trigger::StageAcceptance, None, Some(15), None);
        #[rustfmt::skip]
        let cases: Vec<PaymentCase> = vec![
            ("signing, any past day", &first, vec![], vec![], "2026-05-01", Ok(())),
            ("future", &first, vec![], vec![], "2026-11-30", Err("future_date")),
            ("twice", &first, vec![], vec![paid(1, "2026-06-01")], "2026-06-02", Err("already_paid")),
            ("other milestone paid", &mid, vec![stage("2026-09-30")], vec![paid(1, "2026-06-01")], "2026-10-01", Ok(())),
            ("before its trigger is recorded", &mid, vec![], vec![], "2026-10-01", Err("not_triggered")),
            ("before the acceptance day", &mid, vec![stage("2026-09-30")], vec![], "2026-09-29", Err("paid_before_trigger")),
            ("on the acceptance day", &mid, vec![stage("2026-09-30")], vec![], "2026-09-30", Ok(())),
        ];
        for (name, m, acc, pay, on, want) in cases {
            let got = check_payment(m, &acc, &pay, d(on), today).map_err(|e| e.code());
            assert_eq!(got, want, "{name}");
        }
        let e = check_payment(&mid, &[], &[], d("2026-10-01"), today).unwrap_err();
        assert!(!e.is_input());
        assert!(
            e.message_zh().contains("阶段性验收尚未登记"),
            "{}",
            e.message_zh()
        );
    }

    #[test]
    fn amounts() {
        for (s, want) in [
            ("1", "1.00"),
            ("216660.5", "216660.50"),
            (" 0.01 ", "0.01"),
            ("1234.500", "1234.50"),
            ("99999999999999.99", "99999999999999.99"),
        ] {
            assert_eq!(parse_amount(s).unwrap().to_string(), want, "{s}");
        }
        for s in [
            "0",
            "0.00",
            "-1",
            "0.001",
            "1e3",
            "1,000",
            "",
            "abc",
            "100000000000000",
            "¥5",
        ] {
            assert_eq!(
                parse_amount(s).map_err(|e| e.code()),
                Err("invalid_amount"),
                "{s}"
            );
        }
    }

    #[test]
    fn sm3_of_known_input() {
        // GB/T 32905 example 1.
        assert_eq!(
            sm3_hex(b"abc"),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
        assert_eq!(MAX_EVIDENCE_BYTES, 20_971_520);
    }
}
