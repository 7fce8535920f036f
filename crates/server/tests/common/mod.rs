//! The test server: the real router on a random port with a fresh SQLite database, a
//! user and an API token per role, and the 2026 contract loaded.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use govcloud::app::{self, AppState};
use govcloud::ops::{self, Ctx};
use govcloud_store::{SqliteStore, Store};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct App {
    pub base: String,
    pub store: Arc<dyn Store>,
    /// Bearer tokens by role code.
    pub tokens: BTreeMap<&'static str, String>,
    pub http: Client,
    pub state: AppState,
    pub dir: tempfile::TempDir,
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Log into the console as `user` (password `PASSWORD`); returns the `Cookie` header value.
    pub async fn console_session(&self, user: &str) -> String {
        let r = self
            .http
            .post(self.url("/login"))
            .form(&[("username", user), ("password", PASSWORD), ("next", "/")])
            .send()
            .await
            .unwrap();
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    pub fn as_role(&self, method: Method, path: &str, role: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.tokens[role])
    }

    /// Everything a failed request must leave alone: the audit chain's head and the users.
    pub async fn state(&self) -> (Option<(i64, [u8; 32])>, Vec<String>) {
        let head = self.store.audit_head().await.unwrap();
        let users = self
            .store
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| format!("{}:{}:{}:{}", u.name, u.role, u.disabled, u.display_name))
            .collect();
        (head, users)
    }
}

pub async fn spawn_app() -> App {
    spawn_app_with_engine(Arc::new(govcloud_engine::ManualEngine::new())).await
}

/// The test server with a given provisioning engine.
pub async fn spawn_app_with_engine(engine: Arc<dyn govcloud_engine::Engine>) -> App {
    spawn_app_with(move |s| s.with_engine(engine), false).await
}

/// The test server with the server's scheduler running (monitors, SLA clocks,
/// notifications) and these notification settings.
pub async fn spawn_app_with_scheduler(notify: govcloud::notify::Settings) -> App {
    spawn_app_with(move |s| s.with_notify(notify), true).await
}

/// The test server with its state changed by `setup`, and the scheduler when asked.
pub async fn spawn_app_with(setup: impl FnOnce(AppState) -> AppState, scheduler: bool) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("govcloud.db"))
            .await
            .unwrap(),
    );
    let mut tokens = BTreeMap::new();
    for role in ["admin", "purchaser", "operator", "auditor"] {
        let cx = Ctx {
            store: store.as_ref(),
            actor: "test",
            now: Utc::now(),
        };
        let u = ops::create_user(cx, role, role, None, PASSWORD)
            .await
            .unwrap();
        let (t, _) = ops::issue_token(cx, &u, "test").await.unwrap();
        tokens.insert(role, t);
    }
    let cx = Ctx {
        store: store.as_ref(),
        actor: "test",
        now: Utc::now(),
    };
    ops::load_catalog(cx, govcloud::BUNDLED_CONTRACT)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let crypto = govcloud::crypto::CryptoService::new(Arc::new(
        govcloud_crypto::SoftProvider::new(govcloud_crypto::MasterKey::generate().unwrap()),
    ));
    let pki = govcloud::pki::PkiService::load_or_init(
        store.as_ref(),
        crypto.provider.clone(),
        &format!("http://{addr}"),
    )
    .await
    .unwrap();
    let state = setup(AppState::new(store.clone(), crypto, pki));
    let router = app::router(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    if scheduler {
        govcloud::monitors::spawn(state.clone());
    }
    App {
        base: format!("http://{addr}"),
        store,
        tokens,
        state,
        http: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        dir,
    }
}

pub async fn error_code(r: reqwest::Response) -> (StatusCode, String, Value) {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message_zh"].as_str().is_some_and(|s| !s.is_empty()),
        "Chinese message: {body}"
    );
    assert!(
        body["message_en"].as_str().is_some_and(|s| !s.is_empty()),
        "English message: {body}"
    );
    (status, body["code"].as_str().unwrap().to_owned(), body)
}
