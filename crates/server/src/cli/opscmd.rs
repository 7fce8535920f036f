//! `govcloud monitor|incident|notice|keyperiod|channel|opsreport …`: operations 运维 from the
//! command line, on the same operations as the API (notifications are queued in the store
//! and sent by a running server's scheduler).

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use std::path::PathBuf;

use super::{
    done, loaded_contract, now_ctx, op_err, open_store, print_json, print_table, Cli, Format,
};
use crate::api::operations as dto;
use crate::incidents as inc;

#[derive(Subcommand)]
pub enum MonitorCmd {
    /// Every monitor with its state (正常/故障/未检测).
    List,
    /// Add a monitor; a running server checks it every interval, 7×24.
    Add(Box<MonitorAdd>),
}

#[derive(clap::Args)]
pub struct MonitorAdd {
    /// http | tcp | tls
    #[arg(long)]
    kind: String,
    /// http: URL; tcp, tls: host:port
    #[arg(long)]
    target: String,
    #[arg(long)]
    package: i64,
    /// The business system watched (catalog code, e.g. jypt).
    #[arg(long)]
    system: String,
    #[arg(long)]
    name: Option<String>,
    /// outage (default) | fault: the severity of the incidents it opens.
    #[arg(long)]
    severity: Option<String>,
    #[arg(long)]
    interval: Option<i64>,
    #[arg(long)]
    timeout: Option<i64>,
    #[arg(long)]
    retries: Option<i64>,
    #[arg(long)]
    expect_status: Option<u16>,
    #[arg(long)]
    body_match: Option<String>,
    #[arg(long)]
    max_latency_ms: Option<u64>,
    #[arg(long)]
    tls_min_days: Option<i64>,
    /// A PEM file with a private CA to trust.
    #[arg(long)]
    ca: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum IncidentCmd {
    /// Incidents, newest first, with their SLA clocks now.
    List {
        /// Only those not closed.
        #[arg(long)]
        open: bool,
        #[arg(long)]
        package: Option<i64>,
        /// YYYY-MM
        #[arg(long)]
        month: Option<String>,
    },
    /// One incident with its timeline and SLA clocks.
    Show { id: String },
    /// Open an incident (hotline 热线 by default).
    Open {
        #[arg(long)]
        package: i64,
        #[arg(long)]
        system: String,
        /// outage 宕机 | fault 其他故障
        #[arg(long)]
        severity: String,
        #[arg(long, default_value = "")]
        title: String,
        /// When it happened: "2026-12-01 08:30" (Beijing) or RFC 3339; now by default.
        #[arg(long)]
        at: Option<String>,
        /// hotline | purchaser
        #[arg(long, default_value = "hotline")]
        source: String,
    },
    /// Add a timeline event: responded | located | onsite_requested | onsite_arrived |
    /// restored | closed (an outage closes with --cause, --impact and --actions).
    Event {
        id: String,
        #[arg(long)]
        kind: String,
        #[arg(long)]
        at: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long, default_value = "")]
        cause: String,
        #[arg(long, default_value = "")]
        impact: String,
        #[arg(long, default_value = "")]
        actions: String,
    },
}

#[derive(Subcommand)]
pub enum NoticeCmd {
    /// Notices by start (those overlapping --month).
    List {
        #[arg(long)]
        month: Option<String>,
    },
    /// Publish a maintenance notice: at least 24 hours ahead unless --emergency --reason.
    Publish {
        #[arg(long)]
        title: String,
        /// An affected system (repeatable).
        #[arg(long = "system", required = true)]
        systems: Vec<String>,
        /// "2026-12-05 22:00" (Beijing) or RFC 3339.
        #[arg(long)]
        start: String,
        #[arg(long)]
        end: String,
        #[arg(long, default_value = "")]
        impact: String,
        #[arg(long, default_value = "")]
        rollback: String,
        #[arg(long)]
        emergency: bool,
        #[arg(long)]
        reason: Option<String>,
        /// Why work inside a key period 重点时期 is necessary.
        #[arg(long)]
        override_reason: Option<String>,
    },
    Cancel {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum KeyPeriodCmd {
    /// Key periods 重点时期 by first day.
    List,
    Add {
        #[arg(long)]
        name: String,
        /// YYYY-MM-DD (Beijing), included.
        #[arg(long)]
        first: chrono::NaiveDate,
        #[arg(long)]
        last: chrono::NaiveDate,
    },
    Remove {
        id: i64,
    },
}

#[derive(Subcommand)]
pub enum ChannelCmd {
    /// Notification channels.
    List,
    /// email (addresses, comma-separated) or webhook (URL; prints its HMAC-SM3 secret once).
    Add {
        #[arg(long)]
        kind: String,
        #[arg(long)]
        target: String,
    },
    Remove {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum OpsReportCmd {
    /// Write the monthly operations report 月度运维报告 (JSON, XLSX, PDF) of each package.
    Generate {
        /// YYYY-MM
        #[arg(long)]
        month: String,
        /// One package; all when not given.
        #[arg(long)]
        package: Option<i64>,
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

/// A time given on the command line: Beijing wall-clock time or RFC 3339.
fn parse_time(flag: &str, s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Some(t) = crate::parse_beijing(s) {
        return Ok(t);
    }
    Err(anyhow!(
        "{flag} 应为北京时间“2026-12-01 08:30”或 RFC 3339 / {flag} {s:?} is neither \"2026-12-01 08:30\" (Beijing) nor RFC 3339"
    ))
}

fn state_zh(s: &str) -> &str {
    match s {
        "up" => "正常",
        "down" => "故障",
        _ => "未检测",
    }
}

fn clocks_text(i: &dto::IncidentDto) -> String {
    i.sla
        .iter()
        .map(|k| {
            format!(
                "{} {} {}/{}分",
                k.clock_zh,
                k.state_zh,
                govcloud_domain::ops::format_seconds(k.elapsed_seconds),
                k.limit_minutes
            )
        })
        .collect::<Vec<_>>()
        .join("；")
}

fn time(s: &Option<String>) -> String {
    s.as_deref()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| crate::shanghai_time(t.with_timezone(&Utc)))
        .unwrap_or_default()
}

pub async fn monitor_cmd(cli: &Cli, cmd: &MonitorCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = super::actor();
    let cx = now_ctx(store.as_ref(), &who);
    let (_, c) = loaded_contract(store.as_ref()).await?;
    match cmd {
        MonitorCmd::List => {
            let list: Vec<_> = store
                .monitors()
                .await?
                .iter()
                .map(|m| dto::monitor_dto(Some(&c), m))
                .collect();
            if fmt == Format::Json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|m| {
                    vec![
                        m.id.clone(),
                        m.name.clone(),
                        m.kind.clone(),
                        m.target.clone(),
                        format!("第{}包 {}", m.package, m.system_name),
                        format!("{}秒", m.interval_seconds),
                        if m.enabled {
                            state_zh(&m.state)
                        } else {
                            "已停用"
                        }
                        .to_owned(),
                        m.last_detail.clone(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "编号",
                    "名称",
                    "类型",
                    "目标",
                    "系统",
                    "间隔",
                    "状态",
                    "最近结果",
                ],
                &rows,
            );
        }
        MonitorCmd::Add(a) => {
            let MonitorAdd {
                kind,
                target,
                package,
                system,
                name,
                severity,
                interval,
                timeout,
                retries,
                expect_status,
                body_match,
                max_latency_ms,
                tls_min_days,
                ca,
            } = a.as_ref();
            let ca_pem = ca
                .as_ref()
                .map(|p| std::fs::read_to_string(p).map_err(|e| anyhow!("{}: {e}", p.display())))
                .transpose()?;
            let m = crate::monitors::add(
                cx,
                &c,
                crate::monitors::NewMonitor {
                    name: name.as_deref(),
                    kind,
                    target,
                    package: *package,
                    system,
                    severity: severity.as_deref(),
                    interval_seconds: *interval,
                    timeout_seconds: *timeout,
                    retries: *retries,
                    settings: crate::monitors::Settings {
                        expect_status: *expect_status,
                        body_match: body_match.clone(),
                        max_latency_ms: *max_latency_ms,
                        tls_min_days: *tls_min_days,
                        ca_pem,
                    },
                },
            )
            .await
            .map_err(op_err)?;
            let d = dto::monitor_dto(Some(&c), &m);
            done(
                fmt,
                &serde_json::to_value(&d)?,
                &format!(
                    "已添加监控 {}（{}，每 {} 秒）；运行中的服务器将按间隔检测",
                    d.id, d.name, d.interval_seconds
                ),
            )?;
        }
    }
    Ok(())
}

pub async fn incident_cmd(cli: &Cli, cmd: &IncidentCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = super::actor();
    let cx = now_ctx(store.as_ref(), &who);
    let (stored, c) = loaded_contract(store.as_ref()).await?;
    let show = |i: &govcloud_store::IncidentRecord| dto::incident_dto(&c, i, cx.now);
    match cmd {
        IncidentCmd::List {
            open,
            package,
            month,
        } => {
            let (from, to) = dto::optional_window(month.as_deref()).map_err(super::api_err)?;
            let list: Vec<_> = store
                .incidents(
                    &stored.id,
                    &govcloud_store::IncidentFilter {
                        package_no: *package,
                        from,
                        to,
                        open_only: *open,
                    },
                )
                .await?
                .iter()
                .map(show)
                .collect();
            if fmt == Format::Json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|i| {
                    vec![
                        i.id.clone(),
                        format!("第{}包", i.package),
                        i.system_name.clone(),
                        i.severity_zh.clone(),
                        i.title.clone(),
                        time(&Some(i.opened_at.clone())),
                        if i.status == "open" {
                            "处理中"
                        } else {
                            "已关闭"
                        }
                        .to_owned(),
                        clocks_text(i),
                    ]
                })
                .collect();
            print_table(
                &[
                    "编号",
                    "包",
                    "系统",
                    "类型",
                    "标题",
                    "发生时间",
                    "状态",
                    "SLA",
                ],
                &rows,
            );
        }
        IncidentCmd::Show { id } => {
            let i = store
                .incident(id)
                .await?
                .ok_or_else(|| anyhow!("没有故障 {id} / no incident {id}"))?;
            let d = show(&i);
            if fmt == Format::Json {
                return print_json(&d);
            }
            println!(
                "{} {}（第{}包 {}，{}，来源：{}）",
                d.id, d.title, d.package, d.system_name, d.severity_zh, d.source_zh
            );
            println!("发生时间：{}", time(&Some(d.opened_at.clone())));
            for e in &d.events {
                println!(
                    "  {}  {}  {} {}",
                    time(&Some(e.at.clone())),
                    e.kind_zh,
                    e.actor,
                    e.note
                );
            }
            let rows: Vec<Vec<String>> = d
                .sla
                .iter()
                .map(|k| {
                    vec![
                        k.clock_zh.clone(),
                        format!("{}分钟", k.limit_minutes),
                        govcloud_domain::ops::format_seconds(k.elapsed_seconds),
                        time(&k.deadline),
                        k.state_zh.clone(),
                    ]
                })
                .collect();
            print_table(&["时限", "要求", "已用", "截止", "结果"], &rows);
            if d.status == "closed" && !d.cause.is_empty() {
                println!(
                    "原因：{}\n影响：{}\n处置措施：{}",
                    d.cause, d.impact, d.actions
                );
            }
        }
        IncidentCmd::Open {
            package,
            system,
            severity,
            title,
            at,
            source,
        } => {
            let opened_at = at.as_deref().map(|s| parse_time("--at", s)).transpose()?;
            let i = inc::open(
                cx,
                &stored.id,
                &c,
                inc::NewIncident {
                    package: *package,
                    system,
                    severity,
                    title,
                    source,
                    monitor_id: None,
                    opened_at,
                },
            )
            .await
            .map_err(op_err)?;
            let d = show(&i);
            done(
                fmt,
                &serde_json::to_value(&d)?,
                &format!("已登记故障 {}：{}\nSLA：{}", d.id, d.title, clocks_text(&d)),
            )?;
        }
        IncidentCmd::Event {
            id,
            kind,
            at,
            note,
            cause,
            impact,
            actions,
        } => {
            let at = at.as_deref().map(|s| parse_time("--at", s)).transpose()?;
            let i = inc::add_event(
                cx,
                &c,
                id,
                inc::NewEvent {
                    kind,
                    at,
                    note,
                    closing: (kind == "closed").then(|| govcloud_store::IncidentClosing {
                        cause: cause.clone(),
                        impact: impact.clone(),
                        actions: actions.clone(),
                    }),
                },
            )
            .await
            .map_err(op_err)?;
            let d = show(&i);
            done(
                fmt,
                &serde_json::to_value(&d)?,
                &format!("已记录 {} 的事件 {kind}\nSLA：{}", d.id, clocks_text(&d)),
            )?;
        }
    }
    Ok(())
}

pub async fn notice_cmd(cli: &Cli, cmd: &NoticeCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = super::actor();
    let cx = now_ctx(store.as_ref(), &who);
    let (stored, c) = loaded_contract(store.as_ref()).await?;
    match cmd {
        NoticeCmd::List { month } => {
            let (from, to) = dto::optional_window(month.as_deref()).map_err(super::api_err)?;
            let list: Vec<_> = store
                .notices(&stored.id, from, to)
                .await?
                .iter()
                .map(|n| dto::notice_dto(&c, n))
                .collect();
            if fmt == Format::Json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|n| {
                    vec![
                        n.id.clone(),
                        n.title.clone(),
                        n.system_names.join("、"),
                        format!(
                            "{} 至 {}",
                            time(&Some(n.start.clone())),
                            time(&Some(n.end.clone()))
                        ),
                        format!("{}小时", n.lead_hours),
                        match (n.cancelled_at.is_some(), n.late) {
                            (true, _) => "已取消",
                            (_, true) => "紧急变更",
                            _ => "计划维护",
                        }
                        .to_owned(),
                    ]
                })
                .collect();
            print_table(
                &["编号", "标题", "受影响系统", "维护窗口", "提前", "类型"],
                &rows,
            );
        }
        NoticeCmd::Publish {
            title,
            systems,
            start,
            end,
            impact,
            rollback,
            emergency,
            reason,
            override_reason,
        } => {
            let n = inc::publish_notice(
                cx,
                &stored.id,
                &c,
                inc::NewNotice {
                    title,
                    systems,
                    start: parse_time("--start", start)?,
                    end: parse_time("--end", end)?,
                    impact,
                    rollback,
                    emergency: *emergency,
                    reason: reason.as_deref(),
                    override_reason: override_reason.as_deref(),
                },
            )
            .await
            .map_err(op_err)?;
            let d = dto::notice_dto(&c, &n);
            done(
                fmt,
                &serde_json::to_value(&d)?,
                &format!(
                    "已发布维护通知 {}：{}（提前 {} 小时）",
                    d.id, d.title, d.lead_hours
                ),
            )?;
        }
        NoticeCmd::Cancel { id } => {
            let n = inc::cancel_notice(cx, id).await.map_err(op_err)?;
            let d = dto::notice_dto(&c, &n);
            done(
                fmt,
                &serde_json::to_value(&d)?,
                &format!("已取消维护通知 {}", d.id),
            )?;
        }
    }
    Ok(())
}

pub async fn key_period_cmd(cli: &Cli, cmd: &KeyPeriodCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = super::actor();
    let cx = now_ctx(store.as_ref(), &who);
    match cmd {
        KeyPeriodCmd::List => {
            let list: Vec<_> = store
                .key_periods()
                .await?
                .iter()
                .map(dto::key_period_dto)
                .collect();
            if fmt == Format::Json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|k| {
                    vec![
                        k.id.to_string(),
                        k.name.clone(),
                        k.first_day.clone(),
                        k.last_day.clone(),
                    ]
                })
                .collect();
            print_table(&["编号", "名称", "开始", "结束"], &rows);
        }
        KeyPeriodCmd::Add { name, first, last } => {
            let k = inc::add_key_period(cx, name, *first, *last)
                .await
                .map_err(op_err)?;
            let d = dto::key_period_dto(&k);
            done(
                fmt,
                &serde_json::to_value(&d)?,
                &format!(
                    "已添加重点时期 {}：{} 至 {}",
                    d.name, d.first_day, d.last_day
                ),
            )?;
        }
        KeyPeriodCmd::Remove { id } => {
            inc::remove_key_period(cx, *id).await.map_err(op_err)?;
            done(
                fmt,
                &serde_json::json!({"removed": id}),
                &format!("已删除重点时期 {id}"),
            )?;
        }
    }
    Ok(())
}

pub async fn channel_cmd(cli: &Cli, cmd: &ChannelCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = super::actor();
    let cx = now_ctx(store.as_ref(), &who);
    match cmd {
        ChannelCmd::List => {
            let list: Vec<_> = store
                .channels()
                .await?
                .iter()
                .map(dto::channel_dto)
                .collect();
            if fmt == Format::Json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|c| vec![c.id.clone(), c.kind.clone(), c.target.clone()])
                .collect();
            print_table(&["编号", "类型", "目标"], &rows);
        }
        ChannelCmd::Add { kind, target } => {
            let crypto = crate::crypto::CryptoService::from_environment(&cli.data_dir)?;
            let (c, secret) = crate::notify::add_channel(cx, &crypto, kind, target)
                .await
                .map_err(op_err)?;
            let text = match &secret {
                Some(s) => format!(
                    "已添加通知渠道 {}（{}）\n签名密钥（仅显示一次）：{s}",
                    c.id, c.target
                ),
                None => format!("已添加通知渠道 {}（{}）", c.id, c.target),
            };
            let d = dto::NewChannelDto {
                channel: dto::channel_dto(&c),
                secret,
            };
            done(fmt, &serde_json::to_value(&d)?, &text)?;
        }
        ChannelCmd::Remove { id } => {
            crate::notify::remove_channel(cx, id)
                .await
                .map_err(op_err)?;
            done(
                fmt,
                &serde_json::json!({"removed": id}),
                &format!("已删除通知渠道 {id}"),
            )?;
        }
    }
    Ok(())
}

pub async fn ops_report_cmd(cli: &Cli, cmd: &OpsReportCmd, fmt: Format) -> Result<()> {
    let OpsReportCmd::Generate {
        month,
        package,
        out,
    } = cmd;
    let store = open_store(cli).await?;
    let (stored, c) = loaded_contract(store.as_ref()).await?;
    let window = dto::month_window(month).map_err(super::api_err)?;
    let packages: Vec<i64> = match package {
        Some(p) => vec![*p],
        None => c
            .packages
            .iter()
            .map(|p| i64::from(p.number.get()))
            .collect(),
    };
    std::fs::create_dir_all(out).map_err(|e| anyhow!("{}: {e}", out.display()))?;
    let mut written = Vec::new();
    for (n, p) in packages.iter().enumerate() {
        eprintln!("[{}/{}] 第{p}包 {month} 运维报告…", n + 1, packages.len());
        let scope = crate::opsreport::Month {
            store: store.as_ref(),
            contract_id: &stored.id,
            contract: &c,
            month,
            window,
            now: Utc::now(),
        };
        let r = crate::opsreport::monthly(&scope, *p)
            .await
            .map_err(op_err)?;
        let base = out.join(format!("运维报告-{month}-第{p}包"));
        let files = [
            ("json", serde_json::to_vec_pretty(&dto::report_json(&r))?),
            ("xlsx", govcloud_report::ops::ops_xlsx(&r)?),
            ("pdf", govcloud_report::ops::ops_pdf(&r)?),
        ];
        for (ext, bytes) in files {
            let path = base.with_extension(ext);
            std::fs::write(&path, bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            written.push(path.display().to_string());
        }
    }
    done(
        fmt,
        &serde_json::json!({"files": written}),
        &format!("已写入 {} 个文件：\n{}", written.len(), written.join("\n")),
    )
}

/// Demo operations data, once (when there is no monitor yet): two monitors on the server
/// itself, two October incidents (an outage whose restore clock was breached and a fault in
/// package 3), a planned notice and an emergency change, each entered at its own time
/// through the same rules as the API.
pub async fn demo(store: &dyn govcloud_store::Store, public_url: &str) -> Result<()> {
    if !store.monitors().await?.is_empty() {
        return Ok(());
    }
    let (stored, c) = loaded_contract(store).await?;
    let at = |s: &str| parse_time("demo", s).expect("demo times parse");
    let cx = |who: &'static str, now: DateTime<Utc>| crate::ops::Ctx {
        store,
        actor: who,
        now,
    };
    let now = Utc::now();
    let host = public_url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    for (name, kind, target, package, system) in [
        (
            "govcloud 健康检查（演示）",
            "http",
            format!("{}/healthz", public_url.trim_end_matches('/')),
            1,
            "jypt",
        ),
        ("专家库端口（演示）", "tcp", host.to_owned(), 3, "zjk"),
    ] {
        crate::monitors::add(
            cx("demo", now),
            &c,
            crate::monitors::NewMonitor {
                name: Some(name),
                kind,
                target: &target,
                package,
                system,
                severity: None,
                interval_seconds: Some(60),
                timeout_seconds: None,
                retries: None,
                settings: crate::monitors::Settings {
                    body_match: (kind == "http").then(|| "ok".to_owned()),
                    ..Default::default()
                },
            },
        )
        .await
        .map_err(op_err)?;
    }
    // October: an outage on the trading platform, restored after 4 h 12 min (breached).
    let opened = at("2026-10-12 09:05");
    let i = inc::open(
        cx("demo-operator", opened + chrono::Duration::minutes(3)),
        &stored.id,
        &c,
        inc::NewIncident {
            package: 1,
            system: "jypt",
            severity: "outage",
            title: "交易平台无法登录（演示）",
            source: "hotline",
            monitor_id: None,
            opened_at: Some(opened),
        },
    )
    .await
    .map_err(op_err)?;
    for (kind, when, note) in [
        ("responded", "2026-10-12 09:21", "值班工程师响应"),
        ("located", "2026-10-12 10:40", "数据库连接池耗尽"),
        ("restored", "2026-10-12 13:17", "扩容连接池并重启应用"),
    ] {
        inc::add_event(
            cx("demo-operator", at(when)),
            &c,
            &i.id,
            inc::NewEvent {
                kind,
                at: Some(at(when)),
                note,
                closing: None,
            },
        )
        .await
        .map_err(op_err)?;
    }
    inc::add_event(
        cx("demo-operator", at("2026-10-13 10:00")),
        &c,
        &i.id,
        inc::NewEvent {
            kind: "closed",
            at: None,
            note: "",
            closing: Some(govcloud_store::IncidentClosing {
                cause: "数据库连接池配置过小，业务高峰时耗尽（演示）".into(),
                impact: "交易平台登录失败约 4 小时 12 分钟（演示）".into(),
                actions: "连接池扩容、增加连接数监控与告警（演示）".into(),
            }),
        },
    )
    .await
    .map_err(op_err)?;
    // A fault in package 3, handled within its clocks.
    let opened = at("2026-10-20 14:00");
    let f = inc::open(
        cx("demo-purchaser", opened),
        &stored.id,
        &c,
        inc::NewIncident {
            package: 3,
            system: "zjk",
            severity: "fault",
            title: "专家抽取页面响应缓慢（演示）",
            source: "purchaser",
            monitor_id: None,
            opened_at: Some(opened),
        },
    )
    .await
    .map_err(op_err)?;
    for (who, kind, when) in [
        ("demo-operator", "responded", "2026-10-20 14:03"),
        ("demo-operator", "located", "2026-10-20 14:25"),
        ("demo-purchaser", "onsite_requested", "2026-10-20 14:30"),
        ("demo-operator", "onsite_arrived", "2026-10-20 15:10"),
        ("demo-operator", "restored", "2026-10-20 15:40"),
        ("demo-operator", "closed", "2026-10-20 16:00"),
    ] {
        inc::add_event(
            cx(who, at(when)),
            &c,
            &f.id,
            inc::NewEvent {
                kind,
                at: Some(at(when)),
                note: "",
                closing: None,
            },
        )
        .await
        .map_err(op_err)?;
    }
    // A planned notice three days ahead, and an emergency change the same evening.
    for (published, title, start, end, emergency, reason) in [
        (
            "2026-10-22 10:00",
            "交易平台数据库版本升级（演示）",
            "2026-10-25 22:00",
            "2026-10-26 02:00",
            false,
            None,
        ),
        (
            "2026-10-28 16:00",
            "交易平台安全补丁紧急修复（演示）",
            "2026-10-28 22:00",
            "2026-10-28 23:30",
            true,
            Some("厂商发布高危漏洞通告（演示）"),
        ),
    ] {
        inc::publish_notice(
            cx("demo-operator", at(published)),
            &stored.id,
            &c,
            inc::NewNotice {
                title,
                systems: &["jypt".to_owned()],
                start: at(start),
                end: at(end),
                impact: "维护期间交易平台暂停服务",
                rollback: "按变更方案回退至维护前快照",
                emergency,
                reason,
                override_reason: None,
            },
        )
        .await
        .map_err(op_err)?;
    }
    // Nothing of this is news: the demo's history is not sent to anyone.
    eprintln!("演示模式 / demo: 2 个监控项、2 起十月故障、2 条维护通知");
    Ok(())
}
