//! The canonical JSON of a statement: pretty-printed (two spaces, trailing newline), fields
//! in a fixed order, money and quantities as decimal strings in 元, instants as RFC 3339 UTC.
//! `to_json` of the same statement always gives the same bytes, and `from_json` reads them
//! back to an equal statement.

use chrono::{DateTime, NaiveDate, Utc};
use govcloud_domain::catalog::Billing;
use govcloud_domain::statement::{Detail, Diff, Line, SlaFigure, Statement, Subtotal};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ReportError;

/// The `schema` field of every statement document.
pub const SCHEMA: &str = "govcloud.statement/1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    schema: String,
    month: String,
    package: u8,
    package_name: String,
    system: String,
    system_name: String,
    version: u32,
    contract: Contract,
    period: Period,
    lines: Vec<DocLine>,
    subtotals: Vec<DocSubtotal>,
    total: Dec,
    total_in_capitals: String,
    rule: Rule,
    details: Vec<DocDetail>,
    sla: Vec<DocSla>,
    demo_prices: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contract {
    id: String,
    name: String,
    purchaser: String,
    provider: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Period {
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocLine {
    item: String,
    name: String,
    category: String,
    spec: String,
    unit: String,
    billing: String,
    contracted: Dec,
    quantity: Dec,
    days: Option<Dec>,
    unit_price: Option<Dec>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    amount: Dec,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocSubtotal {
    category: String,
    amount: Dec,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    zh: String,
    en: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocDetail {
    label: String,
    value: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocSla {
    label: String,
    value: String,
}

/// A decimal written as a JSON string with its scale kept (`"155.00"`).
#[derive(Clone, Copy)]
struct Dec(Decimal);

impl Serialize for Dec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<Decimal>()
            .map(Dec)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a decimal number")))
    }
}

fn line_doc(l: &Line) -> DocLine {
    DocLine {
        item: l.item.clone(),
        name: l.name.clone(),
        category: l.category.clone(),
        spec: l.spec.clone(),
        unit: l.unit.clone(),
        billing: l.billing.code().to_owned(),
        contracted: Dec(l.contracted),
        quantity: Dec(l.quantity),
        days: l.days.map(Dec),
        unit_price: l.unit_price.map(Dec),
        from: l.from,
        to: l.to,
        amount: Dec(l.amount),
    }
}

fn line_from(l: DocLine) -> Result<Line, ReportError> {
    Ok(Line {
        billing: Billing::from_code(&l.billing)
            .ok_or_else(|| ReportError::Json(format!("unknown billing {:?}", l.billing)))?,
        item: l.item,
        name: l.name,
        category: l.category,
        spec: l.spec,
        unit: l.unit,
        contracted: l.contracted.0,
        quantity: l.quantity.0,
        days: l.days.map(|d| d.0),
        unit_price: l.unit_price.map(|d| d.0),
        from: l.from,
        to: l.to,
        amount: l.amount.0,
    })
}

/// The canonical bytes of `s`.
pub fn to_json(s: &Statement) -> Vec<u8> {
    let doc = Doc {
        schema: SCHEMA.to_owned(),
        month: s.month.clone(),
        package: s.package,
        package_name: s.package_name.clone(),
        system: s.system.clone(),
        system_name: s.system_name.clone(),
        version: s.version,
        contract: Contract {
            id: s.contract_id.clone(),
            name: s.contract_name.clone(),
            purchaser: s.purchaser.clone(),
            provider: s.provider.clone(),
        },
        period: Period {
            from: s.period_from,
            to: s.period_to,
        },
        lines: s.lines.iter().map(line_doc).collect(),
        subtotals: s
            .subtotals
            .iter()
            .map(|x| DocSubtotal {
                category: x.category.clone(),
                amount: Dec(x.amount),
            })
            .collect(),
        total: Dec(s.total),
        total_in_capitals: s.total_in_capitals.clone(),
        rule: Rule {
            zh: s.rule_zh.clone(),
            en: s.rule_en.clone(),
        },
        details: s
            .details
            .iter()
            .map(|d| DocDetail {
                label: d.label.clone(),
                value: d.value,
            })
            .collect(),
        sla: s
            .sla
            .iter()
            .map(|f| DocSla {
                label: f.label.clone(),
                value: f.value.clone(),
            })
            .collect(),
        demo_prices: s.demo_prices,
    };
    let mut out = serde_json::to_vec_pretty(&doc).expect("a statement always serializes");
    out.push(b'\n');
    out
}

/// Read a statement back from its canonical (or any equivalent) JSON.
pub fn from_json(bytes: &[u8]) -> Result<Statement, ReportError> {
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| ReportError::Json(e.to_string()))?;
    if doc.schema != SCHEMA {
        return Err(ReportError::Json(format!(
            "schema {:?} is not {SCHEMA:?}",
            doc.schema
        )));
    }
    Ok(Statement {
        month: doc.month,
        package: doc.package,
        package_name: doc.package_name,
        system: doc.system,
        system_name: doc.system_name,
        version: doc.version,
        contract_id: doc.contract.id,
        contract_name: doc.contract.name,
        purchaser: doc.contract.purchaser,
        provider: doc.contract.provider,
        period_from: doc.period.from,
        period_to: doc.period.to,
        lines: doc
            .lines
            .into_iter()
            .map(line_from)
            .collect::<Result<_, _>>()?,
        subtotals: doc
            .subtotals
            .into_iter()
            .map(|x| Subtotal {
                category: x.category,
                amount: x.amount.0,
            })
            .collect(),
        total: doc.total.0,
        total_in_capitals: doc.total_in_capitals,
        rule_zh: doc.rule.zh,
        rule_en: doc.rule.en,
        details: doc
            .details
            .into_iter()
            .map(|d| Detail {
                label: d.label,
                value: d.value,
            })
            .collect(),
        sla: doc
            .sla
            .into_iter()
            .map(|f| SlaFigure {
                label: f.label,
                value: f.value,
            })
            .collect(),
        demo_prices: doc.demo_prices,
    })
}

#[derive(Serialize)]
struct DiffDoc {
    from_version: u32,
    to_version: u32,
    total_before: Dec,
    total_after: Dec,
    lines: Vec<DiffLine>,
}

#[derive(Serialize)]
struct DiffLine {
    item: String,
    name: String,
    change: &'static str,
    before: Option<DocLine>,
    after: Option<DocLine>,
}

/// A version difference as JSON (same conventions as the statement).
pub fn diff_to_json(d: &Diff) -> serde_json::Value {
    serde_json::to_value(DiffDoc {
        from_version: d.from_version,
        to_version: d.to_version,
        total_before: Dec(d.total_before),
        total_after: Dec(d.total_after),
        lines: d
            .lines
            .iter()
            .map(|l| DiffLine {
                item: l.item.clone(),
                name: l.name.clone(),
                change: l.change.code(),
                before: l.before.as_ref().map(line_doc),
                after: l.after.as_ref().map(line_doc),
            })
            .collect(),
    })
    .expect("a diff always serializes")
}
