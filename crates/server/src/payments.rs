//! Payments and acceptance 付款与验收, shared by the API, the console and the CLI: recording
//! a package's stage and final acceptance with their evidence documents (kept with their
//! SM3), recording payments against the contract's milestones, and each milestone's due date
//! and status today. The rules (due dates from the working-day calendar, what may be
//! recorded when) are `govcloud_domain::payment`; this module looks up what they need,
//! checks the input and writes through the store with the audit entry.

use axum::http::StatusCode;
use chrono::NaiveDate;
use govcloud_domain::calendar::Calendar;
use govcloud_domain::catalog::{Contract, Milestone, Package, PackageNo};
use govcloud_domain::payment::{
    self as rules, AcceptanceKind, MilestoneState, PaymentRuleError, MAX_EVIDENCE_BYTES,
};
use govcloud_store::{AcceptanceRecord, EvidenceDocument, NewEvidence, PaymentRecord, StoreError};
use serde_json::json;

use crate::auth;
use crate::ops::{Ctx, OpError};

/// The longest note of an acceptance and the longest payment reference, in characters.
const MAX_NOTE_CHARS: usize = 2000;
const MAX_REFERENCE_CHARS: usize = 200;
/// The longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 255;

fn rule(e: PaymentRuleError) -> OpError {
    if e.is_input() {
        OpError::invalid(e.code(), e.message_zh(), e.message_en())
    } else {
        OpError::Refused {
            status: StatusCode::CONFLICT,
            code: e.code(),
            zh: e.message_zh(),
            en: e.message_en(),
        }
    }
}

/// Package `n` of the contract, or 400 `unknown_package`.
pub fn package_of(contract: &Contract, n: i64) -> Result<&Package, OpError> {
    PackageNo::new(n)
        .and_then(|p| contract.package(p))
        .ok_or_else(|| {
            OpError::invalid(
                "unknown_package",
                format!("合同中没有第 {n} 包"),
                format!("the contract has no package {n}"),
            )
        })
}

/// Milestone `seq` of a package, or 400 `unknown_milestone`.
pub fn milestone_of(p: &Package, seq: i64) -> Result<&Milestone, OpError> {
    p.milestones
        .iter()
        .find(|m| i64::from(m.seq) == seq)
        .ok_or_else(|| {
            let have: Vec<String> = p.milestones.iter().map(|m| m.seq.to_string()).collect();
            OpError::invalid(
                "unknown_milestone",
                format!(
                    "第 {} 包没有第 {seq} 个付款节点（有：{}）",
                    p.number,
                    have.join("、")
                ),
                format!(
                    "package {} has no milestone {seq} (it has {})",
                    p.number,
                    have.join(", ")
                ),
            )
        })
}

/// A `YYYY-MM-DD` date, or 400 `invalid_date` naming the field.
pub fn parse_date(field: &str, s: &str) -> Result<NaiveDate, OpError> {
    s.trim().parse().map_err(|_| {
        OpError::invalid(
            "invalid_date",
            format!("{field} 的日期格式应为 YYYY-MM-DD"),
            format!("{field} {s:?} is not a date like 2026-12-31"),
        )
    })
}

fn to_rules(a: &[AcceptanceRecord]) -> Vec<rules::Acceptance> {
    a.iter()
        .filter_map(|a| {
            Some(rules::Acceptance {
                kind: AcceptanceKind::parse(&a.kind)?,
                accepted_on: a.accepted_on,
            })
        })
        .collect()
}

fn payments_to_rules(p: &[PaymentRecord]) -> Vec<rules::Payment> {
    p.iter()
        .filter_map(|p| {
            Some(rules::Payment {
                milestone: u32::try_from(p.milestone_seq).ok()?,
                paid_on: p.paid_on,
            })
        })
        .collect()
}

/// A document as uploaded, before it is checked.
pub struct Upload {
    pub name: String,
    pub content_type: Option<String>,
    pub content: Vec<u8>,
}

/// The content type for a file name when the uploader gives none.
pub fn guess_content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "ofd" => "application/ofd",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "zip" => "application/zip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "json" => "application/json",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

/// An HTTP token (RFC 9110) — the characters allowed in a media type's type and subtype.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Check a document: a file name without directories or control characters, a media type
/// `type/subtype` (parameters are dropped; none given: guessed from the name), not empty, at
/// most 20 MiB (413 `document_too_large`).
pub fn check_upload(
    u: Upload,
    by: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<NewEvidence, OpError> {
    let name = u
        .name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(OpError::invalid(
            "invalid_file_name",
            format!("文件名无效：须为 1–{MAX_NAME_CHARS} 个字符，不含控制字符"),
            format!("file name {:?} must be 1 to {MAX_NAME_CHARS} characters without control characters", u.name),
        ));
    }
    let content_type = match u
        .content_type
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => guess_content_type(&name).to_owned(),
        Some(ct) => {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            match essence.split_once('/') {
                Some((t, s)) if is_token(t) && is_token(s) && essence.len() <= 127 => essence,
                _ => {
                    return Err(OpError::invalid(
                        "invalid_content_type",
                        format!("文件类型 {ct:?} 无效，应如 application/pdf"),
                        format!("content type {ct:?} is not a media type like application/pdf"),
                    ))
                }
            }
        }
    };
    if u.content.is_empty() {
        return Err(OpError::invalid(
            "empty_document",
            format!("文件 {name} 为空"),
            format!("document {name} is empty"),
        ));
    }
    if u.content.len() > MAX_EVIDENCE_BYTES {
        return Err(too_large(u.content.len()));
    }
    Ok(NewEvidence {
        id: auth::new_id("doc"),
        name,
        content_type,
        content: u.content,
        uploaded_by: by.to_owned(),
        created_at: now,
    })
}

/// 413 for a document (or a request) over the cap.
pub fn too_large(size: usize) -> OpError {
    OpError::Refused {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "document_too_large",
        zh: format!(
            "验收材料不能超过 {} MiB（本次 {size} 字节）",
            MAX_EVIDENCE_BYTES / (1024 * 1024)
        ),
        en: format!(
            "an evidence document may have at most {MAX_EVIDENCE_BYTES} bytes ({size} sent)"
        ),
    }
}

fn docs_detail(docs: &[EvidenceDocument]) -> serde_json::Value {
    docs.iter()
        .map(|d| json!({"id": d.id, "name": d.name, "content_type": d.content_type, "size": d.size, "sm3": d.sm3}))
        .collect()
}

/// What a caller asks to record as an acceptance.
pub struct NewAcceptance<'a> {
    pub package: i64,
    pub kind: &'a str,
    pub accepted_on: NaiveDate,
    pub note: &'a str,
    pub documents: Vec<Upload>,
}

/// Record a package's stage or final acceptance with its documents, in one transaction.
/// Refused: unknown package or kind, a date after today (Beijing), a second acceptance of
/// the kind, a final acceptance without (or before) the stage acceptance.
pub async fn record_acceptance(
    cx: Ctx<'_>,
    contract_id: &str,
    contract: &Contract,
    req: NewAcceptance<'_>,
) -> Result<(AcceptanceRecord, Vec<EvidenceDocument>), OpError> {
    let p = package_of(contract, req.package)?;
    let kind = AcceptanceKind::parse(req.kind).ok_or_else(|| {
        OpError::invalid(
            "invalid_kind",
            format!(
                "验收类型 {:?} 应为 stage（阶段性验收）或 final（最终验收）",
                req.kind
            ),
            format!("acceptance kind {:?} should be stage or final", req.kind),
        )
    })?;
    let note = req.note.trim();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(OpError::invalid(
            "note_too_long",
            format!("说明不能超过 {MAX_NOTE_CHARS} 个字符"),
            format!("the note may have at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    let documents = req
        .documents
        .into_iter()
        .map(|u| check_upload(u, cx.actor, cx.now))
        .collect::<Result<Vec<_>, _>>()?;
    let package_no = i64::from(p.number.get());
    let existing = cx.store.acceptances(contract_id, Some(package_no)).await?;
    let today = crate::shanghai_date(cx.now);
    rules::check_acceptance(&to_rules(&existing), kind, req.accepted_on, today).map_err(rule)?;
    let a = AcceptanceRecord {
        id: auth::new_id("acc"),
        contract_id: contract_id.to_owned(),
        package_no,
        kind: kind.code().to_owned(),
        accepted_on: req.accepted_on,
        note: note.to_owned(),
        recorded_by: cx.actor.to_owned(),
        created_at: cx.now,
    };
    let stored_docs: Vec<EvidenceDocument> = documents
        .iter()
        .map(|d| EvidenceDocument {
            id: d.id.clone(),
            acceptance_id: a.id.clone(),
            name: d.name.clone(),
            content_type: d.content_type.clone(),
            sm3: rules::sm3_hex(&d.content),
            size: d.content.len() as i64,
            uploaded_by: d.uploaded_by.clone(),
            created_at: d.created_at,
        })
        .collect();
    let audit = cx.event(
        "acceptance.record",
        &a.id,
        json!({"contract": contract_id, "package": package_no, "kind": a.kind,
               "accepted_on": a.accepted_on.to_string(), "note": a.note,
               "documents": docs_detail(&stored_docs)}),
    );
    let docs = cx
        .store
        .record_acceptance(&a, &documents, audit)
        .await
        .map_err(|e| match e {
            // Another request recorded this kind in between: the same refusal as above.
            StoreError::Conflict(_) => rule(PaymentRuleError::DuplicateAcceptance {
                kind,
                on: req.accepted_on,
            }),
            other => other.into(),
        })?;
    Ok((a, docs))
}

/// Add an evidence document to a recorded acceptance (404 for an unknown acceptance).
pub async fn add_evidence(
    cx: Ctx<'_>,
    acceptance_id: &str,
    upload: Upload,
) -> Result<EvidenceDocument, OpError> {
    let doc = check_upload(upload, cx.actor, cx.now)?;
    let a = cx
        .store
        .acceptance(acceptance_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("acceptance {acceptance_id}")))?;
    let audit = cx.event(
        "acceptance.evidence",
        &a.id,
        json!({"package": a.package_no, "kind": a.kind, "document": {"id": doc.id, "name": doc.name,
               "content_type": doc.content_type, "size": doc.content.len(), "sm3": rules::sm3_hex(&doc.content)}}),
    );
    Ok(cx.store.add_evidence(&a.id, &doc, audit).await?)
}

/// What a caller asks to record as a payment.
pub struct NewPayment<'a> {
    pub package: i64,
    pub milestone: i64,
    pub paid_on: NaiveDate,
    /// 元, at most two decimals.
    pub amount: &'a str,
    pub reference: &'a str,
}

/// Record a payment of a milestone. Refused: unknown package or milestone, a bad amount, a
/// date after today (Beijing), a milestone whose acceptance is not recorded or is later
/// than the payment, a milestone already paid.
pub async fn record_payment(
    cx: Ctx<'_>,
    contract_id: &str,
    contract: &Contract,
    req: NewPayment<'_>,
) -> Result<PaymentRecord, OpError> {
    let p = package_of(contract, req.package)?;
    let m = milestone_of(p, req.milestone)?;
    let amount = rules::parse_amount(req.amount).map_err(rule)?;
    let reference = req.reference.trim();
    if reference.chars().count() > MAX_REFERENCE_CHARS {
        return Err(OpError::invalid(
            "reference_too_long",
            format!("凭证号不能超过 {MAX_REFERENCE_CHARS} 个字符"),
            format!("the reference may have at most {MAX_REFERENCE_CHARS} characters"),
        ));
    }
    let package_no = i64::from(p.number.get());
    let acceptances = cx.store.acceptances(contract_id, Some(package_no)).await?;
    let payments = cx.store.payments(contract_id, Some(package_no)).await?;
    let today = crate::shanghai_date(cx.now);
    rules::check_payment(
        m,
        &to_rules(&acceptances),
        &payments_to_rules(&payments),
        req.paid_on,
        today,
    )
    .map_err(rule)?;
    let record = PaymentRecord {
        id: auth::new_id("pay"),
        contract_id: contract_id.to_owned(),
        package_no,
        milestone_seq: i64::from(m.seq),
        paid_on: req.paid_on,
        amount: amount.to_string(),
        reference: reference.to_owned(),
        recorded_by: cx.actor.to_owned(),
        created_at: cx.now,
    };
    let audit = cx.event(
        "payment.record",
        &record.id,
        json!({"contract": contract_id, "package": package_no, "milestone": m.seq, "name": m.name,
               "paid_on": record.paid_on.to_string(), "amount": record.amount, "reference": record.reference}),
    );
    cx.store
        .record_payment(&record, audit)
        .await
        .map_err(|e| match e {
            // Paid by another request in between.
            StoreError::Conflict(_) => rule(PaymentRuleError::AlreadyPaid {
                seq: m.seq,
                paid_on: req.paid_on,
            }),
            other => other.into(),
        })
}

/// One milestone today: the contract's terms, the computed state, its payment.
pub struct MilestoneView<'c> {
    pub milestone: &'c Milestone,
    pub state: MilestoneState,
    pub payment: Option<PaymentRecord>,
}

/// One package's payments and acceptance today.
pub struct PackageView<'c> {
    pub package: &'c Package,
    pub milestones: Vec<MilestoneView<'c>>,
    pub acceptances: Vec<(AcceptanceRecord, Vec<EvidenceDocument>)>,
    pub payments: Vec<PaymentRecord>,
}

/// Every package (or one) with its milestones' due dates and statuses on `today`, its
/// acceptances with their documents, and its payments.
pub async fn overview<'c>(
    store: &dyn govcloud_store::Store,
    contract_id: &str,
    contract: &'c Contract,
    calendar: &Calendar,
    package: Option<i64>,
    today: NaiveDate,
) -> Result<Vec<PackageView<'c>>, OpError> {
    let packages: Vec<&Package> = match package {
        Some(n) => vec![package_of(contract, n)?],
        None => contract.packages.iter().collect(),
    };
    let acceptances = store.acceptances(contract_id, package).await?;
    let documents = store.evidence_list(contract_id, package).await?;
    let payments = store.payments(contract_id, package).await?;
    Ok(packages
        .into_iter()
        .map(|p| {
            let n = i64::from(p.number.get());
            let acc: Vec<AcceptanceRecord> = acceptances
                .iter()
                .filter(|a| a.package_no == n)
                .cloned()
                .collect();
            let pay: Vec<PaymentRecord> = payments
                .iter()
                .filter(|x| x.package_no == n)
                .cloned()
                .collect();
            let (acc_rules, pay_rules) = (to_rules(&acc), payments_to_rules(&pay));
            let milestones = p
                .milestones
                .iter()
                .map(|m| MilestoneView {
                    milestone: m,
                    state: rules::milestone_state(m, &acc_rules, &pay_rules, calendar, today),
                    payment: pay
                        .iter()
                        .find(|x| x.milestone_seq == i64::from(m.seq))
                        .cloned(),
                })
                .collect();
            let acceptances = acc
                .into_iter()
                .map(|a| {
                    let docs = documents
                        .iter()
                        .filter(|d| d.acceptance_id == a.id)
                        .cloned()
                        .collect();
                    (a, docs)
                })
                .collect();
            PackageView {
                package: p,
                milestones,
                acceptances,
                payments: pay,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(name: &str, ct: Option<&str>, content: &[u8]) -> Result<NewEvidence, &'static str> {
        check_upload(
            Upload {
                name: name.to_owned(),
                content_type: ct.map(str::to_owned),
                content: content.to_vec(),
            },
            "tester",
            chrono::Utc::now(),
        )
        .map_err(|e| match e {
            OpError::Invalid { code, .. } | OpError::Refused { code, .. } => code,
            _ => "other",
        })
    }

    #[test]
    fn uploads_are_checked() {
        let ok = up("C:\\材料\\验收报告.PDF", None, b"%PDF").unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.content_type.as_str()),
            ("验收报告.PDF", "application/pdf")
        );
        let ok = up(
            "../../etc/纪要.ofd",
            Some("Application/OFD; charset=binary"),
            b"x",
        )
        .unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.content_type.as_str()),
            ("纪要.ofd", "application/ofd")
        );
        assert_eq!(
            up("a.bin", None, b"x").unwrap().content_type,
            "application/octet-stream"
        );
        for (name, ct, content, code) in [
            ("", None, &b"x"[..], "invalid_file_name"),
            ("dir/", None, b"x", "invalid_file_name"),
            ("..", None, b"x", "invalid_file_name"),
            ("a\nb.pdf", None, b"x", "invalid_file_name"),
            ("a.pdf", Some("pdf"), b"x", "invalid_content_type"),
            (
                "a.pdf",
                Some("text/html\r\nX-Evil: 1"),
                b"x",
                "invalid_content_type",
            ),
            ("a.pdf", None, b"", "empty_document"),
        ] {
            assert_eq!(up(name, ct, content).err(), Some(code), "{name:?} {ct:?}");
        }
        let long = "长".repeat(256);
        assert_eq!(up(&long, None, b"x").err(), Some("invalid_file_name"));
        assert_eq!(
            up("big.bin", None, &vec![0; MAX_EVIDENCE_BYTES + 1]).err(),
            Some("document_too_large")
        );
        assert!(up("max.bin", None, &vec![0; MAX_EVIDENCE_BYTES]).is_ok());
    }
}
