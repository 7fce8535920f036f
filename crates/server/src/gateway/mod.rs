//! The crypto front proxy 密码前置 (`govcloud gateway`): business systems call it instead of
//! the crypto nodes. Per request it authenticates the app's credential, checks the app's
//! policy (operations and keys), takes a token from the app's rate-limit buckets, picks a
//! healthy node (power of two choices over latency × load) and forwards, retrying on
//! another node only a request the first node never received.
//!
//! Credentials, policies, limits and the node list come from the shared store into an
//! in-memory snapshot refreshed every second, so the request path reads no database and a
//! change (revocation, rotation, a new limit, a drained node) takes effect on every
//! replica within about a second. The gateway keeps only counters: per-app monthly calls
//! (flushed to the store for metering) and live figures (written to the store for the
//! console 接口监控 page, and exported at `/metrics`).

pub mod balance;
pub mod limiter;
pub mod policy;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use govcloud_store::{App, CallKey, GatewayReplica, NodeState, Store};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::json;

use self::balance::{BreakerConfig, Pool};
use self::limiter::{Limit, Limiter};
use self::policy::{Denied, Rule};
use crate::auth;
use crate::error::ApiError;

/// Largest request body forwarded (batches of 1,000 items fit).
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// How the gateway runs.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    /// Nodes given on the command line; added to the shared list if absent.
    pub nodes: Vec<String>,
    /// Whole-request timeout for every upstream call.
    pub upstream_timeout: Duration,
    /// Connect timeout for every upstream call (a refused or unreachable node is tried
    /// elsewhere, so this is short).
    pub connect_timeout: Duration,
    pub health_interval: Duration,
    /// How often credentials, policies and nodes are re-read from the store.
    pub refresh: Duration,
    pub breaker: BreakerConfig,
    /// Serve TLS with this certificate chain and key (PEM); client certificates optional.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl GatewayConfig {
    pub fn new(listen: SocketAddr, nodes: Vec<String>) -> Self {
        Self {
            listen,
            nodes,
            upstream_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_millis(500),
            health_interval: Duration::from_secs(1),
            refresh: Duration::from_secs(1),
            breaker: BreakerConfig::default(),
            tls: None,
        }
    }
}

/// One app as the gateway sees it.
struct AppEntry {
    app: App,
    rules: Vec<Rule>,
    limits: Vec<(String, Limit)>,
    /// Serials of the client certificates bound to the app (valid and not revoked); when
    /// there are any, requests must come over mutual TLS with one of them.
    certs: Vec<String>,
}

#[derive(Default)]
struct Snapshot {
    by_token: HashMap<String, Arc<AppEntry>>,
}

/// Live per-app figures since start.
#[derive(Clone, Default, Serialize, Deserialize, Debug, PartialEq)]
pub struct AppFigures {
    pub name: String,
    pub requests: u64,
    pub errors: u64,
    pub rejected: u64,
    pub limited: u64,
    pub latency_us_sum: u64,
    /// Requests per second over the last report interval.
    #[serde(default)]
    pub rps: f64,
    /// Mean latency over the last report interval, milliseconds.
    #[serde(default)]
    pub latency_ms: f64,
}

/// Live per-node figures.
#[derive(Clone, Default, Serialize, Deserialize, Debug, PartialEq)]
pub struct NodeFigures {
    pub url: String,
    pub state: String,
    pub up: bool,
    pub circuit: String,
    pub in_flight: u32,
    pub latency_ms: f64,
    pub requests: u64,
    pub failures: u64,
    #[serde(default)]
    pub rps: f64,
}

/// What a replica reports to the store every few seconds.
#[derive(Clone, Default, Serialize, Deserialize, Debug, PartialEq)]
pub struct ReplicaFigures {
    pub apps: HashMap<String, AppFigures>,
    pub nodes: Vec<NodeFigures>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReqLabels {
    app: String,
    operation: String,
    node: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrLabels {
    app: String,
    operation: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    app: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
}

struct GatewayMetrics {
    registry: Registry,
    requests: Family<ReqLabels, Counter>,
    errors: Family<ErrLabels, Counter>,
    duration: Family<OpLabels, Histogram>,
    upstream: Family<NodeLabels, Histogram>,
    retries: Family<NodeLabels, Counter>,
    circuit: Family<NodeLabels, Gauge>,
    up: Family<NodeLabels, Gauge>,
    in_flight: Family<NodeLabels, Gauge>,
}

/// Latency buckets (seconds): fine below 10 ms where crypto requests live.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl GatewayMetrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("govcloud_gateway");
        let requests = Family::<ReqLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests by app, operation, node (none: answered by the gateway) and status",
            requests.clone(),
        );
        let errors = Family::<ErrLabels, Counter>::default();
        registry.register(
            "errors",
            "Error answers by app, operation and error code",
            errors.clone(),
        );
        let histogram = || Histogram::new(BUCKETS);
        let duration = Family::<OpLabels, Histogram>::new_with_constructor(histogram);
        registry.register(
            "request_duration_seconds",
            "Time from request to answer at the gateway",
            duration.clone(),
        );
        let upstream = Family::<NodeLabels, Histogram>::new_with_constructor(histogram);
        registry.register(
            "upstream_duration_seconds",
            "Time of each upstream call by node",
            upstream.clone(),
        );
        let retries = Family::<NodeLabels, Counter>::default();
        registry.register(
            "retries",
            "Requests tried on another node after this one never received them",
            retries.clone(),
        );
        let circuit = Family::<NodeLabels, Gauge>::default();
        registry.register(
            "circuit_state",
            "Circuit per node: 0 closed, 1 half-open, 2 open",
            circuit.clone(),
        );
        let up = Family::<NodeLabels, Gauge>::default();
        registry.register(
            "node_up",
            "Last active health check passed (1) or failed (0)",
            up.clone(),
        );
        let in_flight = Family::<NodeLabels, Gauge>::default();
        registry.register(
            "node_in_flight",
            "Requests in flight per node",
            in_flight.clone(),
        );
        Self {
            registry,
            requests,
            errors,
            duration,
            upstream,
            retries,
            circuit,
            up,
            in_flight,
        }
    }
}

pub struct Gateway {
    store: Arc<dyn Store>,
    cfg: GatewayConfig,
    pub id: String,
    started_at: DateTime<Utc>,
    snapshot: RwLock<Arc<Snapshot>>,
    pub pool: Pool,
    limiter: Limiter,
    client: reqwest::Client,
    metrics: GatewayMetrics,
    calls: Mutex<HashMap<CallKey, i64>>,
    figures: Mutex<HashMap<String, AppFigures>>,
    /// When an unknown credential last made the gateway re-read the store (also
    /// serializes those re-reads).
    miss_refreshed: tokio::sync::Mutex<Option<Instant>>,
    /// One load at a time, so an older read never replaces a newer snapshot.
    loading: tokio::sync::Mutex<()>,
}

/// An unknown credential triggers a refresh at most this often (a credential issued a
/// moment ago works at once; a flood of wrong ones costs at most a few reads a second).
const MISS_REFRESH: Duration = Duration::from_millis(250);

/// How a request ended, for counting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Error,
    Rejected,
}

impl Outcome {
    fn code(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Rejected => "rejected",
        }
    }
}

impl Gateway {
    /// A gateway over `store`; call [`Gateway::refresh`] before serving.
    pub fn new(store: Arc<dyn Store>, cfg: GatewayConfig) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .connect_timeout(cfg.connect_timeout)
            .pool_max_idle_per_host(256)
            .pool_idle_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            store,
            pool: Pool::new(cfg.breaker),
            id: auth::new_id("gw"),
            started_at: Utc::now(),
            cfg,
            snapshot: RwLock::default(),
            limiter: Limiter::default(),
            client,
            metrics: GatewayMetrics::new(),
            calls: Mutex::default(),
            figures: Mutex::default(),
            miss_refreshed: tokio::sync::Mutex::new(None),
            loading: tokio::sync::Mutex::new(()),
        })
    }

    /// Add the command line's nodes to the shared list (a drained node stays drained).
    pub async fn register_nodes(&self) -> anyhow::Result<()> {
        let known = self.store.gateway_nodes().await?;
        for url in &self.cfg.nodes {
            let url = crate::ops::normalize_node_url(url)?;
            if !known.iter().any(|n| n.url == url) {
                let actor = format!("gateway:{}", self.id);
                crate::ops::add_node(
                    crate::ops::Ctx {
                        store: self.store.as_ref(),
                        actor: &actor,
                        now: Utc::now(),
                    },
                    &url,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// The app behind a credential; an unknown one re-reads the store first unless that
    /// happened within [`MISS_REFRESH`].
    async fn app_for(&self, token: &str) -> Option<Arc<AppEntry>> {
        let hash = auth::token_hash(token);
        if let Some(e) = self.snapshot().by_token.get(&hash) {
            return Some(e.clone());
        }
        {
            let mut at = self.miss_refreshed.lock().await;
            if at.is_none_or(|t| t.elapsed() >= MISS_REFRESH) {
                *at = Some(Instant::now());
                if let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "policy refresh failed");
                }
            }
        }
        self.snapshot().by_token.get(&hash).cloned()
    }

    /// Re-read credentials, policies, limits, certificate bindings and nodes.
    pub async fn refresh(&self) -> Result<(), govcloud_store::StoreError> {
        let _one = self.loading.lock().await;
        let (creds, rules, limits, nodes, bindings) = tokio::try_join!(
            self.store.app_credentials(),
            self.store.app_rules(),
            self.store.app_limits(),
            self.store.gateway_nodes(),
            self.store.app_certs(),
        )?;
        let now = Utc::now();
        let mut certs: HashMap<String, Vec<String>> = HashMap::new();
        for (app_id, serial) in bindings {
            // A bound certificate that is revoked or expired admits nobody, but the app
            // still needs a certificate: an empty entry keeps the requirement.
            let valid = match self.store.certificate(&serial).await? {
                Some(c) => !c.revoked() && c.not_before <= now && now <= c.not_after,
                None => false,
            };
            let list = certs.entry(app_id).or_default();
            list.push(if valid { serial } else { String::new() });
        }
        type RulesAndLimits = (Vec<Rule>, Vec<(String, Limit)>);
        let mut by_app: HashMap<String, RulesAndLimits> = HashMap::new();
        for r in rules {
            by_app.entry(r.app_id).or_default().0.push(Rule {
                operation: r.operation,
                key: r.key_id,
            });
        }
        for l in limits {
            by_app.entry(l.app_id).or_default().1.push((
                l.operation,
                Limit {
                    rps: l.rps,
                    burst: l.burst as f64,
                },
            ));
        }
        let mut snap = Snapshot::default();
        for (hash, app) in creds {
            let (rules, limits) = by_app.remove(&app.id).unwrap_or_default();
            let certs = certs.remove(&app.id).unwrap_or_default();
            snap.by_token.insert(
                hash,
                Arc::new(AppEntry {
                    app,
                    rules,
                    limits,
                    certs,
                }),
            );
        }
        let configured: Vec<(String, bool)> = nodes
            .into_iter()
            .map(|n| (n.url, n.state == NodeState::Draining))
            .collect();
        self.pool.sync(&configured);
        self.limiter.retain(|app, op| {
            snap.by_token
                .values()
                .any(|e| e.app.id == app && e.limits.iter().any(|(o, _)| o == op))
        });
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snap);
        Ok(())
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One round of active health checks (GET /healthz on every node, in parallel).
    pub async fn check_health(&self) {
        let timeout = self.cfg.health_interval.max(Duration::from_millis(200));
        let mut checks = tokio::task::JoinSet::new();
        for n in self.pool.nodes() {
            let req = self
                .client
                .get(format!("{}/healthz", n.url))
                .timeout(timeout);
            checks.spawn(async move {
                let ok = matches!(req.send().await, Ok(r) if r.status().is_success());
                n.health(ok, Instant::now());
            });
        }
        checks.join_all().await;
    }

    fn count(&self, app: Option<&App>, operation: &str, answer: &Answer, latency: Duration) {
        let outcome = answer.outcome;
        let Some(app) = app else { return };
        let month = crate::shanghai_month(Utc::now());
        *self
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(CallKey {
                app_id: app.id.clone(),
                month,
                operation: operation.to_owned(),
                outcome: outcome.code().to_owned(),
            })
            .or_default() += 1;
        let mut f = self.figures.lock().unwrap_or_else(|e| e.into_inner());
        let e = f.entry(app.id.clone()).or_default();
        if e.name.is_empty() {
            e.name = app.name.clone();
        }
        e.requests += 1;
        e.latency_us_sum += latency.as_micros() as u64;
        match outcome {
            Outcome::Ok => {}
            Outcome::Error => e.errors += 1,
            Outcome::Rejected => e.rejected += 1,
        }
        if answer.code.as_deref() == Some("rate_limited") {
            e.limited += 1;
        }
    }

    /// Move counted calls into the store; kept for next time on failure.
    pub async fn flush_calls(&self) -> Result<(), govcloud_store::StoreError> {
        let pending: Vec<(CallKey, i64)> = self
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.store.add_gateway_calls(&pending).await {
            let mut m = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            for (k, n) in pending {
                *m.entry(k).or_default() += n;
            }
            return Err(e);
        }
        Ok(())
    }

    /// The replica's figures now; rates from the difference to `prev` over `dt`.
    pub fn figures(&self, prev: Option<&ReplicaFigures>, dt: Duration) -> ReplicaFigures {
        let secs = dt.as_secs_f64().max(1e-3);
        let mut apps = self
            .figures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (id, a) in apps.iter_mut() {
            let p = prev.and_then(|p| p.apps.get(id));
            let dn = a.requests - p.map_or(0, |p| p.requests);
            let dl = a.latency_us_sum - p.map_or(0, |p| p.latency_us_sum);
            a.rps = dn as f64 / secs;
            a.latency_ms = if dn > 0 {
                dl as f64 / dn as f64 / 1000.0
            } else {
                0.0
            };
        }
        let nodes = self
            .pool
            .nodes()
            .iter()
            .map(|n| {
                let v = n.view();
                let p = prev.and_then(|p| p.nodes.iter().find(|x| x.url == v.url));
                NodeFigures {
                    rps: (v.requests - p.map_or(0, |p| p.requests.min(v.requests))) as f64 / secs,
                    state: if v.draining { "draining" } else { "active" }.into(),
                    url: v.url,
                    up: v.up,
                    circuit: v.circuit.code().into(),
                    in_flight: v.in_flight,
                    latency_ms: v.latency_ms,
                    requests: v.requests,
                    failures: v.failures,
                }
            })
            .collect();
        ReplicaFigures { apps, nodes }
    }

    async fn report(&self, figures: &ReplicaFigures) -> Result<(), govcloud_store::StoreError> {
        self.store
            .save_gateway_replica(&GatewayReplica {
                id: self.id.clone(),
                listen: self.cfg.listen.to_string(),
                started_at: self.started_at,
                seen_at: Utc::now(),
                stats: serde_json::to_string(figures).unwrap_or_default(),
            })
            .await
    }

    fn render_metrics(&self) -> String {
        let m = &self.metrics;
        for n in self.pool.nodes() {
            let v = n.view();
            let l = NodeLabels { node: v.url };
            m.circuit.get_or_create(&l).set(v.circuit.gauge());
            m.up.get_or_create(&l).set(i64::from(v.up));
            m.in_flight.get_or_create(&l).set(i64::from(v.in_flight));
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Request headers passed to the node.
const FORWARDED: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::ACCEPT_LANGUAGE,
];

/// Response headers passed back to the client.
const RETURNED: [HeaderName; 3] = [
    header::CONTENT_TYPE,
    header::CACHE_CONTROL,
    header::CONTENT_DISPOSITION,
];

struct Answer {
    response: Response,
    node: String,
    outcome: Outcome,
    /// The machine-readable code of an error answer.
    code: Option<String>,
}

impl Answer {
    fn gateway(e: ApiError, outcome: Outcome) -> Self {
        let code = Some(e.body.code.to_owned());
        Self {
            response: e.into_response(),
            node: "none".into(),
            outcome,
            code,
        }
    }
}

async fn proxy(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let client_cert = parts
        .extensions
        .get::<tls::ClientCert>()
        .and_then(|c| c.0.clone());
    let route = policy::classify(&parts.method, parts.uri.path());
    let operation = route.as_ref().map_or("unknown", |r| r.operation);
    let entry = match (&route, bearer(&parts.headers)) {
        (Some(_), Some(t)) => gw.app_for(t).await,
        _ => None,
    };
    let answer = match route {
        None => Answer::gateway(
            ApiError::new(StatusCode::NOT_FOUND,
                "no_such_route",
                format!("密码前置不提供此接口：{} {}", parts.method, parts.uri.path()),
                format!(
                    "the gateway serves /api/v1/crypto/*, /api/v1/auth/*, /api/v1/tsa/verify and /tsa; not {} {}",
                    parts.method,
                    parts.uri.path()
                ),
            ),
            Outcome::Rejected,
        ),
        Some(route) => {
            handle(
                &gw,
                &parts,
                body,
                &route,
                entry.as_deref(),
                client_cert.as_deref(),
                peer,
            )
            .await
        }
    };
    let latency = start.elapsed();
    let app = entry.as_ref().map(|e| &e.app);
    gw.count(app, operation, &answer, latency);
    let app_label = app.map_or_else(|| "unknown".to_owned(), |a| a.name.clone());
    let m = &gw.metrics;
    let status = answer.response.status().as_u16();
    m.requests
        .get_or_create(&ReqLabels {
            app: app_label.clone(),
            operation: operation.to_owned(),
            node: answer.node,
            status,
        })
        .inc();
    m.duration
        .get_or_create(&OpLabels {
            app: app_label.clone(),
            operation: operation.to_owned(),
        })
        .observe(latency.as_secs_f64());
    if let Some(code) = answer.code {
        m.errors
            .get_or_create(&ErrLabels {
                app: app_label,
                operation: operation.to_owned(),
                code,
            })
            .inc();
    }
    answer.response
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    h.get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| t.starts_with(auth::APP_TOKEN_PREFIX))
}

async fn handle(
    gw: &Gateway,
    parts: &axum::http::request::Parts,
    body: Body,
    route: &policy::Route,
    entry: Option<&AppEntry>,
    client_cert: Option<&str>,
    peer: SocketAddr,
) -> Answer {
    let op = route.operation;
    let Some(entry) = entry else {
        let zh = if bearer(&parts.headers).is_some() {
            "应用凭据无效或已吊销"
        } else {
            "需要应用凭据：Authorization: Bearer gca_…"
        };
        return Answer::gateway(
            ApiError::new(StatusCode::UNAUTHORIZED,
                "unauthenticated",
                zh,
                "an app credential (Authorization: Bearer gca_…) that is known and not revoked is required",
            ),
            Outcome::Rejected,
        );
    };
    let app = &entry.app;
    if app.disabled {
        return Answer::gateway(
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "credential_revoked",
                format!("应用 {} 的凭据已停用", app.name),
                format!("the credential of app {} is revoked (disabled)", app.name),
            ),
            Outcome::Rejected,
        );
    }
    if !entry.certs.is_empty() && !client_cert.is_some_and(|c| entry.certs.iter().any(|s| s == c)) {
        let (code, zh, en) = match client_cert {
            None => (
                "client_certificate_required",
                format!("应用 {} 须以绑定的客户端证书通过双向 TLS 访问", app.name),
                format!(
                    "app {} must connect over mutual TLS with its bound client certificate",
                    app.name
                ),
            ),
            Some(serial) => (
                "client_certificate_mismatch",
                format!(
                    "客户端证书 {serial} 未绑定到应用 {}，或已吊销、已过期",
                    app.name
                ),
                format!(
                    "client certificate {serial} is not bound to app {}, or is revoked or expired",
                    app.name
                ),
            ),
        };
        return Answer::gateway(
            ApiError::new(StatusCode::UNAUTHORIZED, code, zh, en),
            Outcome::Rejected,
        );
    }
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return Answer::gateway(
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("请求体超过 {} MiB 或未能读完", BODY_LIMIT >> 20),
                    format!(
                        "request body over {} MiB or not read completely",
                        BODY_LIMIT >> 20
                    ),
                ),
                Outcome::Rejected,
            )
        }
    };
    let keys = if policy::needs_keys(&entry.rules, op) {
        match policy::keys_of(&route.keys, &body) {
            Ok(k) => k,
            Err(e) => {
                return Answer::gateway(
                    ApiError::bad_request(
                        "invalid_json",
                        "请求体不是该操作所需的 JSON，无法核对密钥授权",
                        format!(
                        "the body is not this operation's JSON, so its keys cannot be checked: {e}"
                    ),
                    ),
                    Outcome::Rejected,
                )
            }
        }
    } else {
        Vec::new()
    };
    if let Err(d) = policy::authorize(&entry.rules, op, &keys) {
        let (code, zh, en) = match d {
            Denied::Operation => (
                "operation_not_allowed",
                format!(
                    "应用 {} 未获授权执行“{}”（{op}）",
                    app.name,
                    policy::operation_zh(op)
                ),
                format!("app {} is not allowed the operation {op}", app.name),
            ),
            Denied::Key(k) => (
                "key_not_allowed",
                format!(
                    "应用 {} 未获授权以密钥 {k} 执行“{}”（{op}）",
                    app.name,
                    policy::operation_zh(op)
                ),
                format!("app {} is not allowed {op} with key {k}", app.name),
            ),
        };
        return Answer::gateway(
            ApiError::new(StatusCode::FORBIDDEN, code, zh, en),
            Outcome::Rejected,
        );
    }
    let limits: Vec<(&str, Limit)> = entry
        .limits
        .iter()
        .filter(|(o, _)| o == "*" || o == op)
        .map(|(o, l)| (o.as_str(), *l))
        .collect();
    if let Err(wait) = gw.limiter.take(&app.id, &limits, Instant::now()) {
        let secs = limiter::retry_after_secs(wait);
        let mut a = Answer::gateway(
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("应用 {} 超出调用频率限制，请 {secs} 秒后重试", app.name),
                format!("app {} is over its rate limit; retry in {secs} s", app.name),
            ),
            Outcome::Rejected,
        );
        a.response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return a;
    }
    forward(gw, parts, body, peer).await
}

/// Send to a node; on a connection that never reached a node, try the next one.
async fn forward(
    gw: &Gateway,
    parts: &axum::http::request::Parts,
    body: Bytes,
    peer: SocketAddr,
) -> Answer {
    let path_query = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str());
    let mut tried = Vec::new();
    loop {
        let Some(lease) = gw.pool.pick(&tried) else {
            let (zh, en) = if tried.is_empty() {
                ("当前没有可用的密码服务节点", "no crypto node is available")
            } else {
                (
                    "所有可用的密码服务节点均无法连接",
                    "no available crypto node could be reached",
                )
            };
            let mut a = Answer::gateway(
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no_healthy_node",
                    format!("{zh}，请稍后重试"),
                    format!("{en}; retry shortly"),
                ),
                Outcome::Error,
            );
            a.response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            return a;
        };
        let node = lease.node.clone();
        let mut req = gw
            .client
            .request(parts.method.clone(), format!("{}{path_query}", node.url))
            .timeout(gw.cfg.upstream_timeout)
            .header("x-forwarded-for", peer.ip().to_string())
            .body(body.clone());
        for h in &FORWARDED {
            if let Some(v) = parts.headers.get(h) {
                req = req.header(h, v);
            }
        }
        let sent = Instant::now();
        let result = async {
            let resp = req.send().await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, bytes))
        }
        .await;
        let took = sent.elapsed();
        let node_label = NodeLabels {
            node: node.url.clone(),
        };
        gw.metrics
            .upstream
            .get_or_create(&node_label)
            .observe(took.as_secs_f64());
        match result {
            Ok((status, headers, bytes)) => {
                let failed = status.is_server_error();
                lease.finish(!failed, took);
                let code = (status.is_client_error() || status.is_server_error())
                    .then(|| error_code(&bytes));
                let mut resp = Response::new(Body::from(bytes));
                *resp.status_mut() = status;
                for h in &RETURNED {
                    if let Some(v) = headers.get(h) {
                        resp.headers_mut().insert(h.clone(), v.clone());
                    }
                }
                return Answer {
                    response: resp,
                    node: node.url.clone(),
                    outcome: if failed { Outcome::Error } else { Outcome::Ok },
                    code,
                };
            }
            Err(e) if e.is_connect() => {
                // The node never received the request: safe to try another.
                lease.finish(false, took);
                tracing::warn!(node = %node.url, error = %e, "node unreachable; trying another");
                gw.metrics.retries.get_or_create(&node_label).inc();
                tried.push(node);
            }
            Err(e) => {
                lease.finish(false, took);
                if !e.is_timeout() {
                    node.suspect();
                }
                let (status, code, zh, en) = if e.is_timeout() {
                    (
                        StatusCode::GATEWAY_TIMEOUT,
                        "upstream_timeout",
                        format!(
                            "密码服务节点未在 {} 毫秒内应答；请求可能已被处理，未重试",
                            gw.cfg.upstream_timeout.as_millis()
                        ),
                        format!(
                            "the crypto node did not answer within {} ms; the request may have been processed, so it was not retried",
                            gw.cfg.upstream_timeout.as_millis()
                        ),
                    )
                } else {
                    (
                        StatusCode::BAD_GATEWAY,
                        "upstream_failed",
                        "密码服务节点在收到请求后中断；请求可能已被处理，未重试".to_owned(),
                        "the crypto node failed after receiving the request; it may have been processed, so it was not retried".to_owned(),
                    )
                };
                tracing::warn!(node = %node.url, error = %e, code, "upstream call failed");
                let mut a = Answer::gateway(ApiError::new(status, code, zh, en), Outcome::Error);
                a.node = node.url.clone();
                return a;
            }
        }
    }
}

/// The `code` of a JSON error body, or `http_<status>`-style fallback.
fn error_code(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct E {
        code: String,
    }
    serde_json::from_slice::<E>(body)
        .map(|e| e.code)
        .unwrap_or_else(|_| "upstream_error".into())
}

async fn healthz(State(gw): State<Arc<Gateway>>) -> Response {
    let nodes: Vec<_> = gw
        .pool
        .nodes()
        .iter()
        .map(|n| {
            let v = n.view();
            json!({"url": v.url, "up": v.up, "circuit": v.circuit.code(), "draining": v.draining})
        })
        .collect();
    Json(json!({"status": "ok", "role": "gateway", "replica": gw.id, "nodes": nodes}))
        .into_response()
}

async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        gw.render_metrics(),
    )
        .into_response()
}

pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(proxy)
        .with_state(gw)
}

/// Run the gateway until SIGINT/SIGTERM: refresh, health checks, counters and reports in
/// the background; requests in flight finish before it stops.
pub async fn run(store: Arc<dyn Store>, cfg: GatewayConfig) -> anyhow::Result<()> {
    let listen = cfg.listen;
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(tls::server_config(store.as_ref(), cert, key).await?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let gw = Arc::new(Gateway::new(store, cfg)?);
    gw.register_nodes().await?;
    gw.refresh().await?;
    gw.check_health().await;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr()?;
    eprintln!(
        "govcloud 密码前置已启动 / gateway listening: {scheme}://{local}/  nodes: {}",
        gw.pool
            .nodes()
            .iter()
            .map(|n| n.url.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let background = {
        let gw = gw.clone();
        tokio::spawn(async move {
            let mut refresh = tokio::time::interval(gw.cfg.refresh);
            let mut health = tokio::time::interval(gw.cfg.health_interval);
            let mut report = tokio::time::interval(Duration::from_secs(2));
            let mut prev: Option<(Instant, ReplicaFigures)> = None;
            loop {
                tokio::select! {
                    _ = refresh.tick() => {
                        if let Err(e) = gw.refresh().await {
                            tracing::warn!(error = %e, "policy refresh failed; serving with the last snapshot");
                        }
                    }
                    _ = health.tick() => gw.check_health().await,
                    _ = report.tick() => {
                        if let Err(e) = gw.flush_calls().await {
                            tracing::warn!(error = %e, "call counts not flushed; will retry");
                        }
                        let now = Instant::now();
                        let dt = prev.as_ref().map_or(Duration::from_secs(2), |(t, _)| now - *t);
                        let f = gw.figures(prev.as_ref().map(|(_, f)| f), dt);
                        if let Err(e) = gw.report(&f).await {
                            tracing::warn!(error = %e, "figures not reported");
                        }
                        prev = Some((now, f));
                    }
                }
            }
        })
    };
    match &tls {
        Some(config) => {
            tls::serve(
                listener,
                config.clone(),
                router(gw.clone()),
                crate::app::shutdown_signal(),
            )
            .await
        }
        None => {
            axum::serve(
                listener,
                router(gw.clone()).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(crate::app::shutdown_signal())
            .await?
        }
    }
    background.abort();
    gw.flush_calls().await?;
    eprintln!("govcloud 密码前置已停止 / gateway stopped");
    Ok(())
}
