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

/// Text that would be markup, code or an escape somewhere: typst (`#`, `$`, `*`, `]`,
/// `#eval`), XML/HTML (`<`, `&`), JSON (`"`, `\`), spreadsheet formulas (`=`).
#[allow(dead_code)]
pub const HOSTILE: &str =
    r#"#eval("1") $x^2$ *粗* _斜_ ] [ \ \\ "引号" <b>&amp; =SUM(A1) @x `y` // 注释 /* c */"#;

/// `sample(1)` with [`HOSTILE`] in the spec and name of its first line, the system name,
/// a detail label and an SLA value.
#[allow(dead_code)]
pub fn hostile() -> Statement {
    let mut s = sample(1);
    s.lines[0].spec = format!("规格 {HOSTILE}");
    s.lines[0].name = HOSTILE.to_owned();
    s.system_name = format!("系统{HOSTILE}");
    s.details[0].label = HOSTILE.to_owned();
    s.sla[0].value = HOSTILE.to_owned();
    s
}

/// Run `tool args…` and return its stdout, or `None` when the tool is not installed
/// (allowed only outside CI: CI installs poppler-utils).
#[allow(dead_code)]
pub fn run_tool(tool: &str, args: &[&std::ffi::OsStr]) -> Option<String> {
    match std::process::Command::new(tool).args(args).output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{tool} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8(out.stdout).expect("UTF-8 output"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{tool} is missing on CI (apt-get install poppler-utils)"
            );
            eprintln!("{tool} is not installed: check skipped (apt-get install poppler-utils)");
            None
        }
        Err(e) => panic!("{tool}: {e}"),
    }
}

/// With `GOVCLOUD_REPORT_DUMP=dir`, keep a rendered document there to look at.
#[allow(dead_code)]
pub fn dump(name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("GOVCLOUD_REPORT_DUMP") {
        std::fs::write(std::path::Path::new(&dir).join(name), bytes).unwrap();
    }
}
