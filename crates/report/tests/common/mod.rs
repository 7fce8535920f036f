//! A realistic statement to render: package 1 of the real 2026 contract for its first
//! system, with usage on most items, a price change mid-month and per-occurrence work.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use govcloud_domain::catalog::{self, Billing};
use govcloud_domain::resources::Interval;
use govcloud_domain::statement::{build, Detail, Input, Price, SlaFigure, Statement};
use govcloud_domain::Decimal;

pub const CATALOG: &str = include_str!("../../../../catalog/bjggzy-2026.toml");

fn bj(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(y, m, d, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Package `pkg`'s statement for its first system, December 2026.
#[allow(dead_code)]
pub fn sample(pkg: u8) -> Statement {
    let c = catalog::parse(CATALOG).unwrap();
    let package = c.packages.iter().find(|p| p.number.get() == pkg).unwrap();
    let system = c.system(&package.systems[0]).unwrap();
    let mut usage = BTreeMap::new();
    let mut occ = BTreeMap::new();
    let mut prices = BTreeMap::new();
    for (n, item) in package.items.iter().enumerate() {
        let id = item.id.as_str().to_owned();
        let base = Decimal::from(100 + 37 * n as i64);
        let mut ps = vec![Price {
            from: bj(2026, 1, 1),
            unit_price: base,
            demo: true,
        }];
        if n == 0 {
            ps.push(Price {
                from: bj(2026, 12, 16),
                unit_price: base + Decimal::from(20),
                demo: true,
            });
        }
        prices.insert(id.clone(), ps);
        match item.billing {
            Billing::PerOccurrence => {
                occ.insert(id, 3 + n as i64 % 5);
            }
            _ if n % 4 != 3 => {
                let q = item.quantity.value();
                usage.insert(
                    id,
                    vec![Interval {
                        from: bj(2026, 11, 1 + (n as u32 % 20)),
                        to: (n % 3 == 1).then(|| bj(2026, 12, 10 + (n as u32 % 15))),
                        quantity: q,
                    }],
                );
            }
            _ => {}
        }
    }
    build(&Input {
        contract: &c,
        package,
        system,
        provider: "示例云服务有限公司",
        year: 2026,
        month: 12,
        version: 1,
        usage: &usage,
        occurrences: &occ,
        prices: &prices,
        details: vec![
            Detail {
                label: "签名 sign".into(),
                value: 120_345,
            },
            Detail {
                label: "验签 verify".into(),
                value: 98_001,
            },
        ],
        sla: vec![SlaFigure {
            label: "可用率".into(),
            value: "99.98%".into(),
        }],
    })
    .unwrap()
}
