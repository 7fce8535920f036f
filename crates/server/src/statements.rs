//! Monthly service statements 月度服务明细, shared by the API, the console and the CLI:
//! unit prices (audited), generation of a month for each package and business system from
//! the usage store, issue with the provider's SM2 signature and an RFC 3161 timestamp from
//! govcloud's own TSA, immutable versions with a line-by-line diff, and verification.
//!
//! Generation is repeatable: the statement is built from stored data only, and its
//! canonical JSON is compared with the latest issued version. Equal bytes: nothing is
//! issued and the stored version is returned. Different (late data, a price set
//! afterwards): version + 1 is issued, with its diff to the previous version.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use govcloud_domain::catalog::{Contract, Package};
use govcloud_domain::rating::month_bounds;
use govcloud_domain::resources::{clip, intervals, Interval, Step};
use govcloud_domain::statement::{self as st, Detail, Diff, Price, Statement, StatementError};
use govcloud_pki::{tsp, Signer};
use govcloud_report::json;
use govcloud_store::{PriceRecord, StatementRecord, Store, StoreError};
use rust_decimal::Decimal;
use serde_json::json;
use sm3::Digest;

use crate::error::ApiError;
use crate::ops::{Ctx, OpError};
use crate::pki::PkiService;

/// The provider's name on statements and on its signing certificate: the environment
/// variable `GOVCLOUD_PROVIDER_NAME`, else a placeholder that says it is unset.
pub fn provider_name() -> String {
    std::env::var("GOVCLOUD_PROVIDER_NAME")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "服务商（未设置 GOVCLOUD_PROVIDER_NAME）".to_owned())
}

/// `YYYY-MM` → (year, month), or a 400 `invalid_month`.
pub fn parse_month(s: &str) -> Result<(i32, u32), OpError> {
    let bad = || {
        OpError::invalid(
            "invalid_month",
            format!("月份 {s:?} 格式应为 YYYY-MM，例如 2026-12"),
            format!("month {s:?} must be YYYY-MM, e.g. 2026-12"),
        )
    };
    let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    month_bounds(y, m).map_err(|_| bad())?;
    Ok((y, m))
}

/// A date (Beijing time, 00:00) or an RFC 3339 instant, for `--from` of a price.
pub fn parse_from(s: &str) -> Result<DateTime<Utc>, OpError> {
    if let Ok(d) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        if let Some(t) = d
            .and_hms_opt(0, 0, 0)
            .and_then(|t| Shanghai.from_local_datetime(&t).single())
        {
            return Ok(t.with_timezone(&Utc));
        }
    }
    crate::api::parse_time("from", Some(s))
        .ok()
        .flatten()
        .ok_or_else(|| {
        OpError::invalid(
            "invalid_time",
            format!("生效时间 {s:?} 应为日期（2026-12-01，北京时间零点）或 RFC 3339 时间"),
            format!("effective time {s:?} must be a date (2026-12-01, midnight Beijing time) or an RFC 3339 instant"),
        )
    })
}

/// A price to set: `unit_price` in 元 per the item's billing unit from `from`; `source` is
/// `manual` or `demo`.
pub struct NewPrice<'a> {
    pub item: &'a str,
    pub unit_price: &'a str,
    pub from: DateTime<Utc>,
    pub source: &'a str,
    pub note: &'a str,
}

/// Set a unit price (audited as `price.set`; the same price again changes nothing).
pub async fn set_price(
    cx: Ctx<'_>,
    contract: &Contract,
    contract_id: &str,
    p: NewPrice<'_>,
) -> Result<PriceRecord, OpError> {
    let NewPrice {
        item: item_id,
        unit_price,
        from,
        source,
        note,
    } = p;
    let item = contract
        .items()
        .find(|i| i.id.as_str() == item_id)
        .ok_or_else(|| {
            OpError::invalid(
                "unknown_item",
                format!("合同中没有服务项 {item_id}"),
                format!("the contract has no line item {item_id}"),
            )
        })?;
    let price: Decimal = unit_price.trim().parse().map_err(|_| {
        OpError::invalid(
            "invalid_price",
            format!("单价 {unit_price:?} 不是数字（单位：元，例如 45.50）"),
            format!("price {unit_price:?} is not a number (in yuan, e.g. 45.50)"),
        )
    })?;
    if price < Decimal::ZERO || price.scale() > 6 {
        return Err(OpError::invalid(
            "invalid_price",
            "单价不能为负，且最多六位小数",
            "a price may not be negative and has at most six decimals",
        ));
    }
    let rec = PriceRecord {
        contract_id: contract_id.to_owned(),
        item_id: item_id.to_owned(),
        effective_from: from,
        unit_price: price.normalize().to_string(),
        source: source.to_owned(),
        note: note.to_owned(),
        created_at: cx.now,
        created_by: cx.actor.to_owned(),
    };
    let event = cx.event(
        "price.set",
        item_id,
        json!({"unit_price": rec.unit_price, "billing": item.billing.code(), "from": from, "source": source, "note": note}),
    );
    cx.store.set_price(&rec, event).await?;
    Ok(rec)
}

/// What generating one statement did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new version was issued (version 1, or a re-issue with changed figures).
    Issued,
    /// The figures are the same as the latest issued version: nothing was written.
    Unchanged,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::Unchanged => "unchanged",
        }
    }
}

pub struct Generated {
    pub record: StatementRecord,
    pub statement: Statement,
    pub outcome: Outcome,
    /// The difference to the previous version, for a re-issue.
    pub diff: Option<Diff>,
}

/// What to generate: a month, optionally one package and one system.
pub struct Request<'a> {
    pub year: i32,
    pub month: u32,
    pub package: Option<u8>,
    pub system: Option<&'a str>,
}

fn statement_error(e: StatementError) -> OpError {
    match e {
        StatementError::NoPrice { item, at } => OpError::invalid(
            "no_price",
            format!(
                "服务项 {item} 在 {} 有用量但没有适用单价；请先用 govcloud price set 设置单价",
                crate::shanghai_time(at)
            ),
            format!("item {item} has usage at {at} but no unit price in force; set one with govcloud price set"),
        ),
        e => OpError::invalid(e.code(), format!("无法计费：{e}"), format!("cannot rate: {e}")),
    }
}

/// Prices per item, in the domain's form.
fn price_map(records: &[PriceRecord]) -> Result<BTreeMap<String, Vec<Price>>, OpError> {
    let mut map: BTreeMap<String, Vec<Price>> = BTreeMap::new();
    for r in records {
        let unit_price = r.unit_price.parse().map_err(|_| {
            OpError::Store(StoreError::Corrupt(format!(
                "price {:?} of {}",
                r.unit_price, r.item_id
            )))
        })?;
        map.entry(r.item_id.clone()).or_default().push(Price {
            from: r.effective_from,
            unit_price,
            demo: r.source == "demo",
        });
    }
    Ok(map)
}

/// The month's usage intervals per (system, item), read as a stream of resource steps:
/// one resource's steps are held at a time, then clipped to the month.
async fn month_usage(
    store: &dyn Store,
    contract_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<BTreeMap<(String, String), Vec<Interval>>, OpError> {
    struct Acc {
        usage: BTreeMap<(String, String), Vec<Interval>>,
        current: Option<(String, String, String)>,
        steps: Vec<Step>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    }
    impl Acc {
        fn flush(&mut self) -> govcloud_store::Result<()> {
            if let Some((system, item, resource)) = self.current.take() {
                let ivs = intervals(&self.steps).map_err(|e| {
                    StoreError::Corrupt(format!("resource {resource} history: {e}"))
                })?;
                let clipped = clip(&ivs, self.start, self.end);
                if !clipped.is_empty() {
                    self.usage
                        .entry((system, item))
                        .or_default()
                        .extend(clipped);
                }
            }
            self.steps.clear();
            Ok(())
        }
    }
    let mut acc = Acc {
        usage: BTreeMap::new(),
        current: None,
        steps: Vec::new(),
        start,
        end,
    };
    store
        .usage_steps(contract_id, start, end, &mut |s| {
            let key = (s.system_code, s.item_id, s.resource_id);
            if acc.current.as_ref() != Some(&key) {
                acc.flush()?;
                acc.current = Some(key);
            }
            acc.steps.push(Step {
                at: s.effective_at,
                quantity: s.quantity,
            });
            Ok(())
        })
        .await?;
    acc.flush()?;
    Ok(acc.usage)
}

/// Crypto-service calls of the system's apps in the month, by operation (附列, not charged
/// separately): listed on package statements that rent crypto services.
async fn crypto_details(
    store: &dyn Store,
    system: &str,
    month: &str,
) -> Result<Vec<Detail>, OpError> {
    let apps: Vec<String> = store
        .list_apps()
        .await?
        .into_iter()
        .filter(|a| a.system_code.as_deref() == Some(system))
        .map(|a| a.id)
        .collect();
    let mut by_op: BTreeMap<String, i64> = BTreeMap::new();
    for (k, n) in store.usage(None).await? {
        if k.month == month && apps.contains(&k.app_id) {
            *by_op.entry(k.operation).or_default() += n;
        }
    }
    Ok(by_op
        .into_iter()
        .map(|(op, n)| Detail {
            label: format!("密码服务调用：{} {op}", operation_zh(&op)),
            value: n,
        })
        .collect())
}

fn operation_zh(op: &str) -> &'static str {
    match op {
        "sign" => "签名",
        "verify" => "验签",
        "encrypt" => "加密",
        "decrypt" => "解密",
        "hmac" => "消息鉴别码",
        "envelope.seal" | "seal" => "数字信封封装",
        "envelope.open" | "open" => "数字信封解封",
        "message.sign" => "签名消息",
        "message.verify" => "签名消息验证",
        _ => "调用",
    }
}

fn sm3_hex(data: &[u8]) -> String {
    hex::encode(sm3::Sm3::digest(data))
}

/// Generate (and issue where the figures changed) the statements of a month. The month
/// must have ended in Beijing time: a running month would be issued with partial data.
pub async fn generate(
    cx: Ctx<'_>,
    pki: &PkiService,
    contract: &Contract,
    contract_id: &str,
    req: &Request<'_>,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<Vec<Generated>, OpError> {
    let (start, end) = month_bounds(req.year, req.month).map_err(statement_error_r)?;
    let month = format!("{:04}-{:02}", req.year, req.month);
    if end > cx.now {
        return Err(OpError::invalid(
            "month_not_ended",
            format!("{month} 尚未结束（北京时间），结束后才能出具月度服务明细"),
            format!("{month} has not ended yet (Beijing time); statements are issued after the month ends"),
        ));
    }
    let packages: Vec<&Package> = match req.package {
        Some(n) => vec![contract
            .packages
            .iter()
            .find(|p| p.number.get() == n)
            .ok_or_else(|| {
                OpError::invalid(
                    "unknown_package",
                    format!("合同没有第 {n} 包"),
                    format!("the contract has no package {n}"),
                )
            })?],
        None => contract.packages.iter().collect(),
    };
    let mut targets = Vec::new();
    for p in &packages {
        for code in &p.systems {
            if req.system.is_none_or(|s| s == code.as_str()) {
                let sys = contract.system(code).ok_or_else(|| {
                    OpError::Store(StoreError::Corrupt(format!(
                        "system {code} of package {}",
                        p.number
                    )))
                })?;
                targets.push((*p, sys));
            }
        }
    }
    if targets.is_empty() {
        let s = req.system.unwrap_or("");
        return Err(OpError::invalid(
            "unknown_system",
            format!("所选服务包中没有业务系统 {s}"),
            format!("no business system {s} in the selected packages"),
        ));
    }

    let prices = price_map(&cx.store.prices(contract_id).await?)?;
    let usage = month_usage(cx.store, contract_id, start, end).await?;
    let mut occurrences: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (s, i, n) in cx.store.occurrence_totals(contract_id, start, end).await? {
        occurrences.insert((s, i), n);
    }
    let existing = cx.store.statements(contract_id, Some(&month), None).await?;
    let provider = provider_name();
    let mut out = Vec::new();
    let mut ops_reports = BTreeMap::new();
    let total = targets.len();
    for (n, (package, system)) in targets.into_iter().enumerate() {
        progress(n, total, system.code.as_str());
        let code = system.code.as_str();
        let usage_of: BTreeMap<String, Vec<Interval>> = usage
            .iter()
            .filter(|((s, _), _)| s == code)
            .map(|((_, i), v)| (i.clone(), v.clone()))
            .collect();
        let occ_of: BTreeMap<String, i64> = occurrences
            .iter()
            .filter(|((s, _), _)| s == code)
            .map(|((_, i), n)| (i.clone(), *n))
            .collect();
        let crypto = package.items.iter().any(|i| {
            govcloud_domain::resources::kind_of(i)
                == govcloud_domain::resources::ResourceKind::CryptoService
        });
        let details = if crypto {
            crypto_details(cx.store, code, &month).await?
        } else {
            Vec::new()
        };
        // One operations report per package, for all its systems.
        let package_no = i64::from(package.number.get());
        if let std::collections::btree_map::Entry::Vacant(e) = ops_reports.entry(package_no) {
            let month = crate::opsreport::Month {
                store: cx.store,
                contract_id,
                contract,
                month: &month,
                window: (start, end),
                now: cx.now,
            };
            e.insert(crate::opsreport::monthly(&month, package_no).await?);
        }
        let sla = crate::opsreport::statement_figures(
            &ops_reports[&package_no],
            crate::incidents::system_name(contract, code),
        );
        let latest = existing
            .iter()
            .filter(|r| r.package == package_no && r.system_code == code)
            .max_by_key(|r| r.version);
        let build = |version: u32| {
            st::build(&st::Input {
                contract,
                package,
                system,
                provider: &provider,
                year: req.year,
                month: req.month,
                version,
                usage: &usage_of,
                occurrences: &occ_of,
                prices: &prices,
                details: details.clone(),
                sla: sla.clone(),
            })
            .map_err(statement_error)
        };
        if let Some(prev) = latest {
            let same = build(prev.version as u32)?;
            if json::to_json(&same) == prev.data {
                out.push(Generated {
                    record: prev.clone(),
                    statement: same,
                    outcome: Outcome::Unchanged,
                    diff: None,
                });
                continue;
            }
        }
        let version = latest.map_or(1, |r| r.version as u32 + 1);
        let statement = build(version)?;
        let diff = latest
            .map(|prev| {
                json::from_json(&prev.data)
                    .map(|old| st::diff(&old, &statement))
                    .map_err(|e| StoreError::Corrupt(format!("statement {}: {e}", prev.id)))
            })
            .transpose()?;
        let record = issue(cx, pki, contract_id, &statement, &provider).await?;
        out.push(Generated {
            record,
            statement,
            outcome: Outcome::Issued,
            diff,
        });
    }
    progress(total, total, "");
    Ok(out)
}

fn statement_error_r(e: govcloud_domain::rating::RatingError) -> OpError {
    statement_error(e.into())
}

/// Sign, timestamp and store one statement version (audited as `statement.issue`).
async fn issue(
    cx: Ctx<'_>,
    pki: &PkiService,
    contract_id: &str,
    s: &Statement,
    provider: &str,
) -> Result<StatementRecord, OpError> {
    let data = json::to_json(s);
    let digest = sm3::Sm3::digest(&data);
    let (signer, cert) = pki
        .document_signer(cx.store, provider)
        .await
        .map_err(api_op)?;
    let signature = signer.sign(&data).map_err(|e| api_op(e.into()))?;
    let request = tsp::request_der(&govcloud_pki::OID_SM3, &digest, None, true)
        .map_err(|e| api_op(e.into()))?;
    let token = pki
        .timestamp(cx.store, "statements", &request)
        .await
        .map_err(api_op)?;
    // A rejection would come back as a response without a token: check before storing.
    tsp::verify_token(&token, &data).map_err(|e| {
        tracing::error!(error = %e, "the TSA did not timestamp a statement");
        api_op(ApiError::internal())
    })?;
    let id = format!("st-{}-p{}-{}-v{}", s.month, s.package, s.system, s.version);
    let rec = StatementRecord {
        id: id.clone(),
        contract_id: contract_id.to_owned(),
        month: s.month.clone(),
        package: i64::from(s.package),
        system_code: s.system.clone(),
        version: i64::from(s.version),
        data_sm3: hex::encode(digest),
        data,
        total: s.total.to_string(),
        signature,
        signer_cert: cert,
        timestamp_token: token,
        issued_at: cx.now,
        issued_by: cx.actor.to_owned(),
    };
    let event = cx.event(
        "statement.issue",
        &id,
        json!({"month": s.month, "package": s.package, "system": s.system, "version": s.version, "total": s.total.to_string(), "data_sm3": rec.data_sm3}),
    );
    cx.store.insert_statement(&rec, event).await?;
    Ok(rec)
}

/// An ApiError where an OpError is expected (the PKI speaks ApiError).
fn api_op(e: ApiError) -> OpError {
    OpError::Api(Box::new(e))
}

/// What verifying an issued statement found.
pub struct Verification {
    pub signature_valid: bool,
    pub signer_subject: String,
    pub signer_issued_by_platform: bool,
    pub timestamp_valid: bool,
    pub timestamp_time: Option<DateTime<Utc>>,
    pub data_sm3_matches: bool,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.signature_valid
            && self.signer_issued_by_platform
            && self.timestamp_valid
            && self.data_sm3_matches
    }
}

/// Verify a stored statement: the SM2 signature over the data with the signer
/// certificate's key, the certificate's issuer (the platform's SM2 CA), the timestamp over
/// SM3(data) by the platform's TSA, and the recorded SM3.
pub fn verify(pki: &PkiService, r: &StatementRecord) -> Verification {
    let cert = govcloud_pki::cert::parse_certificate(&r.signer_cert).ok();
    let signature_valid = govcloud_crypto::Sm2PublicKey::from_certificate(&r.signer_cert)
        .ok()
        .and_then(|k| {
            let e = k
                .message_digest(govcloud_crypto::DEFAULT_SIGNER_ID, &r.data)
                .ok()?;
            Some(govcloud_crypto::verify_digest_der(&k, &e, &r.signature))
        })
        .unwrap_or(false);
    let signer_issued_by_platform = cert
        .as_ref()
        .is_some_and(|c| pki.issued_by_sm2_ca(c, &r.signer_cert));
    let ts = tsp::verify_token(&r.timestamp_token, &r.data)
        .ok()
        .filter(|t| pki.is_own_tsa(&t.tsa_cert_der));
    Verification {
        signature_valid,
        signer_subject: cert
            .as_ref()
            .map(govcloud_pki::cert::subject_string)
            .unwrap_or_default(),
        signer_issued_by_platform,
        timestamp_valid: ts.is_some(),
        timestamp_time: ts.map(|t| DateTime::<Utc>::from(t.gen_time)),
        data_sm3_matches: sm3_hex(&r.data) == r.data_sm3,
    }
}
