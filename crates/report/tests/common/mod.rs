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

/// A month of operations of package 1: two systems (one not watched), a breached
/// outage with two clocks, a fault still open, a cancelled notice and two exceptions.
#[allow(dead_code)]
pub fn ops_sample() -> govcloud_report::ops::OpsReport {
    use govcloud_report::ops::*;
    let clock = |label: &str, limit: &str, elapsed: &str, state: &str, breached| ClockRow {
        label: label.into(),
        limit: limit.into(),
        elapsed: elapsed.into(),
        state: state.into(),
        breached,
    };
    let s = |x: &str| x.to_owned();
    OpsReport {
        contract_name: s("北京市公共资源交易平台政务云服务采购项目"),
        purchaser: s("北京市公共资源交易中心"),
        provider: s("示例云服务有限公司"),
        package_no: 1,
        package_name: s("云计算资源服务"),
        month: s("2026-10"),
        generated_at: s("2026-11-01 09:00"),
        summary: vec![
            (s("故障总数"), s("2")),
            (s("SLA 超时"), s("1")),
            (s("维护通知"), s("2")),
            (s("例外事项"), s("2")),
            (s("平均可用率"), s("99.731")),
        ],
        availability: vec![
            AvailabilityRow {
                system: s("电子交易系统"),
                monitors: 3,
                observed: s("31天"),
                down_minutes: 120,
                planned_minutes: 240,
                percent: Some(s("99.731")),
            },
            AvailabilityRow {
                system: s("档案管理系统"),
                monitors: 0,
                observed: s("—"),
                down_minutes: 0,
                planned_minutes: 0,
                percent: None,
            },
        ],
        incidents: vec![
            IncidentRow {
                id: s("INC-2026-0042"),
                system: s("电子交易系统"),
                severity: s("宕机"),
                title: s("交易系统数据库主节点宕机"),
                source: s("监控"),
                opened_at: s("2026-10-20 10:00"),
                closed_at: Some(s("2026-10-20 12:00")),
                clocks: vec![
                    clock("响应", "30分钟", "30:01", "超时", true),
                    clock("恢复", "4小时", "2:00:00", "达标", false),
                ],
            },
            IncidentRow {
                id: s("INC-2026-0043"),
                system: s("档案管理系统"),
                severity: s("故障"),
                title: s("报表导出缓慢"),
                source: s("采购人报告"),
                opened_at: s("2026-10-30 15:20"),
                closed_at: None,
                clocks: vec![clock("响应", "30分钟", "12:00", "计时中", false)],
            },
        ],
        notices: vec![
            NoticeRow {
                title: s("数据库版本升级"),
                systems: s("电子交易系统"),
                window: s("2026-10-20 22:00 至 2026-10-21 02:00"),
                published_at: s("2026-10-19 21:00"),
                lead: s("25小时"),
                kind: s("计划维护"),
                cancelled: false,
            },
            NoticeRow {
                title: s("网络设备更换"),
                systems: s("电子交易系统、档案管理系统"),
                window: s("2026-10-25 23:00 至 2026-10-26 01:00"),
                published_at: s("2026-10-25 20:00"),
                lead: s("3小时"),
                kind: s("紧急变更"),
                cancelled: true,
            },
        ],
        exceptions: vec![
            ExceptionRow {
                kind: s("SLA 超时"),
                subject: s("INC-2026-0042 响应"),
                reason: s("值班人员交接时未及时确认告警"),
            },
            ExceptionRow {
                kind: s("紧急变更"),
                subject: s("网络设备更换"),
                reason: s("核心交换机板卡故障需立即更换"),
            },
        ],
    }
}

/// The outage report of the sample's breached incident.
#[allow(dead_code)]
pub fn outage_sample() -> govcloud_report::ops::OutageReport {
    let r = ops_sample();
    let i = r.incidents[0].clone();
    let s = |x: &str| x.to_owned();
    govcloud_report::ops::OutageReport {
        contract_name: r.contract_name,
        package_no: r.package_no,
        package_name: r.package_name,
        system: i.system,
        incident_id: i.id,
        title: i.title,
        severity: i.severity,
        source: i.source,
        opened_at: i.opened_at,
        closed_at: i.closed_at.unwrap(),
        generated_at: s("2026-10-21 09:30"),
        timeline: vec![
            (
                s("2026-10-20 10:00"),
                s("监控告警"),
                s("数据库主节点无响应"),
            ),
            (s("2026-10-20 10:30"), s("响应"), s("值班工程师 张三")),
            (s("2026-10-20 11:10"), s("切换备节点"), s("李四")),
            (s("2026-10-20 12:00"), s("恢复"), s("业务验证通过")),
        ],
        cause: s("主节点磁盘控制器故障，导致数据库实例停止响应。"),
        impact: s("电子交易系统不可用 2 小时，期间开标顺延。"),
        actions: s("切换至备节点；更换磁盘控制器；\n增加控制器健康监控。"),
        clocks: i.clocks,
    }
}

/// Write `bytes` to a temporary file and extract its text (layout kept), one string
/// per page; `None` when poppler is not installed (outside CI).
#[allow(dead_code)]
pub fn pdf_pages(bytes: &[u8]) -> Option<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, bytes).unwrap();
    let text = run_tool(
        "pdftotext",
        &[
            std::ffi::OsStr::new("-layout"),
            path.as_os_str(),
            std::ffi::OsStr::new("-"),
        ],
    )?;
    Some(
        text.split('\u{c}')
            .filter(|p| !p.trim().is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

#[allow(dead_code)]
pub fn pdf_tool(tool: &str, bytes: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, bytes).unwrap();
    run_tool(tool, &[path.as_os_str()])
}
