//! Monitors 监控 and the server's scheduler: HTTP(S), TCP and TLS-certificate probes run 7×24
//! with bounded concurrency; results are stored; a monitor going down opens an incident and
//! notifies, unless a published notice covers its system (then the downtime is planned).
//!
//! State machine per monitor (its state is `unknown` until the first check):
//! - a failed check (after `retries` extra attempts) when not down: the monitor goes down and
//!   a down span starts. Inside a notice window for the monitor's system the span is planned
//!   (计划内) and nothing is opened; otherwise an incident (source `monitor`) is opened and
//!   every channel is told.
//! - still down when the notice window ends: the planned span ends and an unplanned one
//!   starts with its incident, as if it had just gone down.
//! - a good check when down: the span ends; the incident it opened gets a `restored` event
//!   (by `monitor:<name>`) unless one is recorded. Closing stays with people: an outage
//!   report needs its cause, impact and actions.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use govcloud_domain::catalog::Contract;
use govcloud_store::{CheckRecord, DownRecord, MonitorRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::app::AppState;
use crate::incidents::{self, NewEvent, NewIncident};
use crate::ops::{Ctx, OpError};

/// Checks running at once, whatever the number of monitors.
pub const MAX_CONCURRENT_CHECKS: usize = 16;

/// Kind-specific settings, stored as JSON with the monitor.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// http: the status expected; any status below 400 when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    /// http: text the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_match: Option<String>,
    /// http: slower than this counts as down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_ms: Option<u64>,
    /// tls: fewer days of certificate validity left counts as down (default 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_min_days: Option<i64>,
    /// https / tls: a PEM CA certificate to trust besides the system's roots (a private CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

/// A monitor to add.
pub struct NewMonitor<'a> {
    pub name: Option<&'a str>,
    pub kind: &'a str,
    pub target: &'a str,
    pub package: i64,
    pub system: &'a str,
    pub severity: Option<&'a str>,
    pub interval_seconds: Option<i64>,
    pub timeout_seconds: Option<i64>,
    pub retries: Option<i64>,
    pub settings: Settings,
}

fn invalid(code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> OpError {
    OpError::invalid(code, zh, en)
}

/// `host:port` with a port.
fn host_port(target: &str) -> bool {
    target
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
}

pub async fn add(cx: Ctx<'_>, c: &Contract, m: NewMonitor<'_>) -> Result<MonitorRecord, OpError> {
    let target = m.target.trim();
    match m.kind {
        "http" => {
            let ok = reqwest::Url::parse(target)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(invalid(
                    "invalid_target",
                    "HTTP 监控的目标应为 http:// 或 https:// 开头的 URL",
                    format!("an http monitor's target is an http(s) URL, not {target:?}"),
                ));
            }
        }
        "tcp" | "tls" => {
            if !host_port(target) {
                return Err(invalid(
                    "invalid_target",
                    "TCP/TLS 监控的目标应为 主机:端口",
                    format!("a {} monitor's target is host:port, not {target:?}", m.kind),
                ));
            }
        }
        other => {
            return Err(invalid(
                "invalid_kind",
                "监控类型应为 http、tcp 或 tls",
                format!("monitor kind {other:?}: expected http, tcp or tls"),
            ))
        }
    }
    let p = incidents::package(c, m.package)?;
    incidents::check_system(p, m.system)?;
    let severity = incidents::parse_severity(m.severity.unwrap_or("outage"))?;
    let interval = m.interval_seconds.unwrap_or(60);
    let timeout = m.timeout_seconds.unwrap_or(10);
    let retries = m.retries.unwrap_or(1);
    let range = |v: i64, lo: i64, hi: i64, field: &'static str| {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(invalid(
                "out_of_range",
                format!("{field} 应在 {lo} 到 {hi} 之间"),
                format!("{field} must be between {lo} and {hi}, not {v}"),
            ))
        }
    };
    range(interval, 1, 86_400, "interval_seconds")?;
    range(timeout, 1, 120, "timeout_seconds")?;
    range(retries, 0, 5, "retries")?;
    if let Some(pem) = &m.settings.ca_pem {
        if reqwest::Certificate::from_pem(pem.as_bytes()).is_err() || root_store(Some(pem)).is_err()
        {
            return Err(invalid(
                "invalid_certificate",
                "ca_pem 不是有效的 PEM 证书",
                "ca_pem is not a PEM certificate",
            ));
        }
    }
    let name = m
        .name
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(target)
        .chars()
        .take(100)
        .collect::<String>();
    let rec = MonitorRecord {
        id: crate::auth::new_id("mon"),
        name: name.clone(),
        kind: m.kind.to_owned(),
        target: target.to_owned(),
        package_no: m.package,
        system: m.system.to_owned(),
        severity: severity.code().to_owned(),
        interval_seconds: interval,
        timeout_seconds: timeout,
        retries,
        settings: serde_json::to_string(&m.settings).expect("settings serialize"),
        enabled: true,
        created_by: cx.actor.to_owned(),
        created_at: cx.now,
        state: "unknown".to_owned(),
        state_since: None,
        last_check_at: None,
        last_latency_ms: None,
        last_detail: String::new(),
    };
    cx.store
        .add_monitor(
            &rec,
            cx.event(
                "monitor.add",
                &rec.id,
                json!({"name": name, "kind": m.kind, "target": target, "package": m.package,
                       "system": m.system, "interval_seconds": interval}),
            ),
        )
        .await
        .map_err(|e| match e {
            govcloud_store::StoreError::Conflict(_) => OpError::refused(
                axum::http::StatusCode::CONFLICT,
                "duplicate_name",
                format!("已有名为“{name}”的监控项"),
                format!("a monitor named {name:?} exists"),
            ),
            e => e.into(),
        })
}

pub fn settings(m: &MonitorRecord) -> Settings {
    serde_json::from_str(&m.settings).unwrap_or_default()
}

/// What one check saw.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub ok: bool,
    pub latency_ms: Option<i64>,
    pub detail: String,
}

/// The system's trusted roots, read once (not on every check).
fn native_roots() -> &'static [rustls::pki_types::CertificateDer<'static>] {
    static ROOTS: std::sync::OnceLock<Vec<rustls::pki_types::CertificateDer<'static>>> =
        std::sync::OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The HTTP client of monitors that trust only the system's roots, shared (its connection
/// pool and roots built once); a monitor with a private CA builds its own per check.
fn shared_client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = http_client(None)?;
    Ok(CLIENT.get_or_init(|| c))
}

fn http_client(ca_pem: Option<&str>) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(5));
    if let Some(pem) = ca_pem {
        let ca =
            reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| format!("ca_pem: {e}"))?;
        b = b.add_root_certificate(ca);
    }
    b.build().map_err(|e| format!("HTTP 客户端：{e}"))
}

fn root_store(ca_pem: Option<&str>) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(native_roots().iter().cloned());
    if let Some(pem) = ca_pem {
        let mut n = 0;
        for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots
                .add(c.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            n += 1;
        }
        if n == 0 {
            return Err("no certificate in ca_pem".into());
        }
    }
    Ok(roots)
}

async fn probe_once(m: &MonitorRecord, s: &Settings) -> Outcome {
    let timeout = StdDuration::from_secs(m.timeout_seconds.max(1) as u64);
    let started = Instant::now();
    let ms = |t: Instant| Some(t.elapsed().as_millis() as i64);
    let fail = |detail: String, latency| Outcome {
        ok: false,
        latency_ms: latency,
        detail,
    };
    crate::install_crypto_provider();
    match m.kind.as_str() {
        "http" => {
            let own = match s
                .ca_pem
                .as_deref()
                .map(|pem| http_client(Some(pem)))
                .transpose()
            {
                Ok(c) => c,
                Err(e) => return fail(e, None),
            };
            let client: &reqwest::Client = match &own {
                Some(c) => c,
                None => match shared_client() {
                    Ok(c) => c,
                    Err(e) => return fail(e, None),
                },
            };
            let resp = match client.get(&m.target).timeout(timeout).send().await {
                Ok(r) => r,
                Err(e) => return fail(format!("请求失败：{}", root_cause(&e)), ms(started)),
            };
            let status = resp.status().as_u16();
            let body = if s.body_match.is_some() {
                resp.text().await.unwrap_or_default()
            } else {
                String::new()
            };
            let latency = ms(started);
            let status_ok = s.expect_status.map_or(status < 400, |e| e == status);
            if !status_ok {
                return fail(format!("HTTP {status}"), latency);
            }
            if let Some(want) = &s.body_match {
                if !body.contains(want.as_str()) {
                    return fail(format!("HTTP {status}，响应中没有“{want}”"), latency);
                }
            }
            if let (Some(max), Some(l)) = (s.max_latency_ms, latency) {
                if l as u64 > max {
                    return fail(format!("HTTP {status}，耗时 {l} ms 超过 {max} ms"), latency);
                }
            }
            Outcome {
                ok: true,
                latency_ms: latency,
                detail: format!("HTTP {status}"),
            }
        }
        "tcp" => {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&m.target)).await {
                Ok(Ok(_)) => Outcome {
                    ok: true,
                    latency_ms: ms(started),
                    detail: "已连接".into(),
                },
                Ok(Err(e)) => fail(format!("连接失败：{e}"), ms(started)),
                Err(_) => fail(format!("连接超时（{} 秒）", timeout.as_secs()), ms(started)),
            }
        }
        _ => match tokio::time::timeout(timeout, tls_days_left(&m.target, s.ca_pem.as_deref()))
            .await
        {
            Ok(Ok(days)) => {
                let min = s.tls_min_days.unwrap_or(14);
                Outcome {
                    ok: days >= min,
                    latency_ms: ms(started),
                    detail: if days >= min {
                        format!("证书剩余 {days} 天")
                    } else {
                        format!("证书剩余 {days} 天，少于 {min} 天")
                    },
                }
            }
            Ok(Err(e)) => fail(format!("TLS：{e}"), ms(started)),
            Err(_) => fail(
                format!("TLS 握手超时（{} 秒）", timeout.as_secs()),
                ms(started),
            ),
        },
    }
}

/// The innermost cause of an error ("Connection refused (os error 111)"), which says what
/// happened more plainly than the layers above it.
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(c) = cur.source() {
        cur = c;
    }
    cur.to_string()
}

/// Days until the server certificate at `target` (host:port) expires, after a verified
/// handshake (an expired or untrusted certificate fails the handshake).
async fn tls_days_left(target: &str, ca_pem: Option<&str>) -> Result<i64, String> {
    use der::Decode;
    let (host, _) = target.rsplit_once(':').ok_or("target is not host:port")?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(root_store(ca_pem)?)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect(target)
        .await
        .map_err(|e| format!("连接失败：{e}"))?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("握手失败：{e}"))?;
    let (_, conn) = tls.get_ref();
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("the server sent no certificate")?;
    let cert = x509_cert::Certificate::from_der(leaf.as_ref()).map_err(|e| e.to_string())?;
    let not_after = cert
        .tbs_certificate()
        .validity()
        .not_after
        .to_unix_duration()
        .as_secs() as i64;
    Ok((not_after - Utc::now().timestamp()).div_euclid(86_400))
}

/// One check: up to `retries` extra attempts half a second apart before it counts as failed.
pub async fn probe(m: &MonitorRecord) -> Outcome {
    let s = settings(m);
    let mut out = probe_once(m, &s).await;
    for _ in 0..m.retries {
        if out.ok {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(500)).await;
        out = probe_once(m, &s).await;
    }
    out
}

/// Store a check's outcome and move the monitor's state (see the module docs).
pub async fn handle(
    state: &AppState,
    m: &MonitorRecord,
    out: &Outcome,
    at: DateTime<Utc>,
) -> Result<(), OpError> {
    let store = state.store.as_ref();
    let was_down = m.state == "down";
    store
        .record_check(&CheckRecord {
            monitor_id: m.id.clone(),
            at,
            ok: out.ok,
            latency_ms: out.latency_ms,
            detail: out.detail.clone(),
            state: if out.ok { "up" } else { "down" }.to_owned(),
        })
        .await?;
    let Some((stored, c)) = state.contract().await? else {
        return Ok(());
    };
    let actor = format!("monitor:{}", m.name);
    let cx = Ctx {
        store,
        actor: &actor,
        now: at,
    };
    let open_span = if was_down {
        store
            .downs(at, at + Duration::seconds(1))
            .await?
            .into_iter()
            .find(|d| d.monitor_id == m.id && d.ended_at.is_none())
    } else {
        None
    };
    if out.ok {
        if let Some(span) = store.close_down(&m.id, at).await? {
            restore_incident(cx, &c, &span).await;
        }
        return Ok(());
    }
    let notices = store
        .notices(&stored.id, Some(at), Some(at + Duration::seconds(1)))
        .await?;
    let covering = incidents::covering(&notices, &m.system, at);
    match (&open_span, covering) {
        (None, _) => {}
        (Some(span), None) if span.planned => {
            // The notice window is over and the system is still down.
            store.close_down(&m.id, at).await?;
        }
        (Some(_), _) => return Ok(()),
    }
    let (planned, notice_id, incident_id) = match covering {
        Some(n) => {
            tracing::info!(monitor = %m.name, notice = %n.id, "monitor down inside a notice window: planned");
            (true, Some(n.id.clone()), None)
        }
        None => {
            let inc = incidents::open(
                cx,
                &stored.id,
                &c,
                NewIncident {
                    package: m.package_no,
                    system: &m.system,
                    severity: &m.severity,
                    title: &format!("监控“{}”告警：{}", m.name, out.detail),
                    source: "monitor",
                    monitor_id: Some(&m.id),
                    opened_at: Some(at),
                },
            )
            .await?;
            state.deliveries.notify_one();
            (false, None, Some(inc.id))
        }
    };
    store
        .open_down(&DownRecord {
            id: 0,
            monitor_id: m.id.clone(),
            started_at: at,
            ended_at: None,
            planned,
            notice_id,
            incident_id,
        })
        .await?;
    Ok(())
}

async fn restore_incident(cx: Ctx<'_>, c: &Contract, span: &DownRecord) {
    let Some(id) = &span.incident_id else { return };
    let Ok(Some(inc)) = cx.store.incident(id).await else {
        return;
    };
    if inc.closed_at.is_some() || inc.events.iter().any(|e| e.kind == "restored") {
        return;
    }
    let r = incidents::add_event(
        cx,
        c,
        id,
        NewEvent {
            kind: "restored",
            at: Some(cx.now),
            note: "监控检测恢复正常",
            closing: None,
        },
    )
    .await;
    if let Err(e) = r {
        tracing::warn!(incident = %id, error = %e, "could not record the monitor's recovery");
    }
}

/// Run the monitors and the notification queue until the task is aborted.
pub fn spawn(state: AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let checks = {
        let state = state.clone();
        tokio::spawn(async move {
            let sem = Arc::new(Semaphore::new(MAX_CONCURRENT_CHECKS));
            let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
            let mut tick = tokio::time::interval(StdDuration::from_millis(500));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                if let Err(e) = start_due(&state, &sem, &in_flight).await {
                    tracing::warn!(error = %e, "monitor round failed; will retry");
                }
            }
        })
    };
    let deliveries = tokio::spawn(async move {
        let mut last_sweep = Instant::now() - StdDuration::from_secs(3600);
        loop {
            tokio::select! {
                _ = state.deliveries.notified() => {}
                _ = tokio::time::sleep(StdDuration::from_secs(1)) => {}
            }
            if last_sweep.elapsed() >= StdDuration::from_secs(10) {
                last_sweep = Instant::now();
                if let Err(e) = sweep(&state).await {
                    tracing::warn!(error = %e, "SLA clock sweep failed; will retry");
                }
            }
            if let Err(e) = crate::notify::deliver_due(&state).await {
                tracing::warn!(error = %e, "notification round failed; will retry");
            }
        }
    });
    vec![checks, deliveries]
}

async fn sweep(state: &AppState) -> Result<(), OpError> {
    if let Some((stored, c)) = state.contract().await? {
        incidents::sweep_clocks(state.store.as_ref(), &stored.id, &c, state.now()).await?;
    }
    Ok(())
}

async fn start_due(
    state: &AppState,
    sem: &Arc<Semaphore>,
    in_flight: &Arc<Mutex<HashSet<String>>>,
) -> Result<(), OpError> {
    let now = state.now();
    for m in state.store.monitors().await? {
        let due = m.enabled
            && m.last_check_at
                .is_none_or(|t| now >= t + Duration::seconds(m.interval_seconds));
        if !due || !in_flight.lock().expect("not poisoned").insert(m.id.clone()) {
            continue;
        }
        let (state, sem, in_flight) = (state.clone(), sem.clone(), in_flight.clone());
        tokio::spawn(async move {
            let _permit = sem.acquire().await;
            let out = probe(&m).await;
            let at = state.now();
            if let Err(e) = handle(&state, &m, &out, at).await {
                tracing::warn!(monitor = %m.name, error = %e, "monitor result not recorded");
            }
            in_flight.lock().expect("not poisoned").remove(&m.id);
        });
    }
    Ok(())
}
