//! The HTTP application: state, router, middleware and the `serve` loop with graceful
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use govcloud_domain::calendar::{self, Calendar};
use govcloud_store::Store;
use serde_json::json;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::{api, console};

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub calendar: Arc<Calendar>,
    pub metrics: Arc<Metrics>,
    pub console: Arc<console::Templates>,
    pub contracts: Arc<crate::ops::ContractCache>,
    pub crypto: Arc<crate::crypto::CryptoService>,
    pub pki: Arc<crate::pki::PkiService>,
    /// Provisions hosts and volumes (manual by default: the provider's own console).
    pub engine: Arc<dyn govcloud_engine::Engine>,
    /// How e-mail leaves (SMTP settings from the environment).
    pub notify: Arc<crate::notify::Settings>,
    /// Wakes the notification sender when something is queued.
    pub deliveries: Arc<tokio::sync::Notify>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        crypto: crate::crypto::CryptoService,
        pki: crate::pki::PkiService,
    ) -> Self {
        crate::install_crypto_provider();
        let calendar =
            calendar::parse(crate::CALENDAR).expect("the bundled calendar is checked by tests");
        Self {
            metrics: Arc::new(Metrics::new(store.backend())),
            store,
            calendar: Arc::new(calendar),
            console: Arc::new(console::Templates::new()),
            contracts: Arc::default(),
            crypto: Arc::new(crypto),
            pki: Arc::new(pki),
            engine: Arc::new(govcloud_engine::ManualEngine::new()),
            notify: Arc::new(crate::notify::Settings::from_env()),
            deliveries: Arc::default(),
        }
    }

    /// The same state with other notification settings.
    pub fn with_notify(mut self, settings: crate::notify::Settings) -> Self {
        self.notify = Arc::new(settings);
        self
    }

    /// The same state with another provisioning engine.
    pub fn with_engine(mut self, engine: Arc<dyn govcloud_engine::Engine>) -> Self {
        self.engine = engine;
        self
    }

    /// The clock, read here and nowhere in the rules.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// The current contract, parsed once per version.
    pub async fn contract(
        &self,
    ) -> Result<
        Option<(
            govcloud_store::StoredContract,
            Arc<govcloud_domain::catalog::Contract>,
        )>,
        crate::ops::OpError,
    > {
        crate::ops::current_contract(self.store.as_ref(), Some(&self.contracts)).await
    }

    /// The context for an operation by `actor`, now.
    pub fn ctx<'a>(&'a self, actor: &'a str) -> crate::ops::Ctx<'a> {
        crate::ops::Ctx {
            store: self.store.as_ref(),
            actor,
            now: self.now(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let (api_router, openapi) = api::routes().split_for_parts();
    let openapi = Arc::new(openapi);
    Router::new()
        .merge(api_router)
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(console::routes())
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.audit_head().await {
        Ok(_) => Json(json!({"status": "ok", "database": state.store.backend()})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": state.store.backend()})),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn fallback(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_route",
            "接口不存在",
            format!("no API route {}; see /api/openapi.json", uri.path()),
        )
        .into_response()
    } else {
        console::not_found_page()
    }
}

/// Conservative headers for every response: no framing, no sniffing, scripts and styles
/// only from this origin (htmx is served locally).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // Responses may carry one-time secrets (credentials, key passwords, encrypted keys):
    // nothing is stored by caches unless a handler says otherwise (assets, CRLs).
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

/// Serve until SIGINT or SIGTERM, then finish the requests in flight.
/// With `scheduler`, also run the monitors, SLA clock notices and notifications.
pub async fn serve(state: AppState, addr: SocketAddr, scheduler: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    eprintln!("govcloud 已启动 / listening: http://{local}/  (API: http://{local}/api/v1, OpenAPI: http://{local}/api/openapi.json)");
    tracing::info!(%local, backend = state.store.backend(), "serving");
    // Usage counters reach the store every few seconds and once more at shutdown.
    let flusher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                if let Err(e) = state.crypto.flush_usage(state.store.as_ref()).await {
                    tracing::warn!(error = %e, "usage counters not flushed; will retry");
                }
            }
        })
    };
    // Monitors, SLA clocks and notifications (运维调度).
    let scheduler = if scheduler {
        crate::monitors::spawn(state.clone())
    } else {
        tracing::info!("scheduler off (--no-scheduler): monitors and notifications run elsewhere");
        Vec::new()
    };
    axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    flusher.abort();
    for task in scheduler {
        task.abort();
    }
    state.crypto.flush_usage(state.store.as_ref()).await?;
    eprintln!("govcloud 已停止 / stopped");
    Ok(())
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing requests in flight");
}
