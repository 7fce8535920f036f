//! Operations shared by the API, the console and the CLI. Each validates its input, makes
//! the change through the store with its audit entry, and returns domain values; callers
//! only translate to and from their own wire formats.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use govcloud_domain::audit::AuditEvent;
use govcloud_domain::catalog::{self, CatalogError, Contract};
use govcloud_domain::role::{check_password_policy, Role, UserName};
use govcloud_store::{
    ApiTokenInfo, LoadOutcome, NewUser, Store, StoreError, StoredContract, User, UserChange,
};
use serde_json::json;
use sm3::{Digest, Sm3};

use crate::auth;
use crate::error::ApiError;

/// Who is acting, and when.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub actor: &'a str,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    pub(crate) fn event(
        &self,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent::new(self.now, self.actor, action, target, detail.to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{en}")]
    Invalid {
        code: &'static str,
        zh: String,
        en: String,
    },
    /// Well-formed input that the current state refuses (409) or that is too large (413).
    #[error("{en}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        zh: String,
        en: String,
    },
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("{0}")]
    Catalog(CatalogError),
    /// The provisioning engine (libvirt …) failed; the accounts were left as before.
    #[error("engine {code}: {message}")]
    Engine { code: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An error already in its HTTP form (from the PKI service).
    #[error("{}", .0.body.message_en)]
    Api(Box<ApiError>),
}

impl OpError {
    pub fn invalid(code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        OpError::Invalid {
            code,
            zh: zh.into(),
            en: en.into(),
        }
    }

    /// Well-formed input the current state refuses: 409, 413 or 422.
    pub fn refused(
        status: StatusCode,
        code: &'static str,
        zh: impl Into<String>,
        en: impl Into<String>,
    ) -> Self {
        OpError::Refused {
            status,
            code,
            zh: zh.into(),
            en: en.into(),
        }
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Invalid { code, zh, en } => ApiError::bad_request(code, zh, en),
            OpError::Refused {
                status,
                code,
                zh,
                en,
            } => ApiError::new(status, code, zh, en),
            OpError::BadCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "用户名或密码错误",
                "wrong user name or password",
            ),
            OpError::Catalog(c) => {
                let issues: Vec<_> = c
                    .issues
                    .iter()
                    .map(|i| json!({"line": i.line, "column": i.column, "message": i.message}))
                    .collect();
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "catalog_invalid",
                    format!("合同目录文件有 {} 处错误", c.issues.len()),
                    c.to_string(),
                )
                .with_details(json!({ "issues": issues }))
            }
            OpError::Store(s) => s.into(),
            OpError::Api(e) => *e,
            OpError::Engine { code, message } => {
                tracing::error!(code, %message, "provisioning engine failed");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "engine_failed",
                    format!("资源编排引擎执行失败（{code}）：{message}；账目未变更"),
                    format!("the provisioning engine failed ({code}): {message}; the accounts are unchanged"),
                )
            }
        }
    }
}

pub fn fingerprint(source: &str) -> String {
    hex::encode(Sm3::digest(source.as_bytes()))
}

pub fn parse_catalog(source: &str) -> Result<Contract, OpError> {
    catalog::parse(source).map_err(OpError::Catalog)
}

/// Validate and store a contract; loading the same file twice changes nothing.
pub async fn load_catalog(cx: Ctx<'_>, source: &str) -> Result<(Contract, LoadOutcome), OpError> {
    let contract = parse_catalog(source)?;
    let fp = fingerprint(source);
    let items = contract.items().count();
    let ev = cx.event(
        "catalog.load",
        &contract.id,
        json!({"fingerprint": fp, "packages": contract.packages.len(), "items": items}),
    );
    let outcome = cx.store.load_contract(&contract, source, &fp, ev).await?;
    // The key periods 重点时期 shipped with govcloud, the first time (then they are data).
    crate::incidents::seed_key_periods(cx).await?;
    Ok((contract, outcome))
}

/// Parsed contracts by fingerprint: parsing the 2026 catalog takes about a millisecond
/// (docs/PERFORMANCE.md), too much to repeat on every request.
#[derive(Default)]
pub struct ContractCache(std::sync::RwLock<Option<(String, Arc<Contract>)>>);

/// The contract in the store, parsed (once per fingerprint when a cache is given).
pub async fn current_contract(
    store: &dyn Store,
    cache: Option<&ContractCache>,
) -> Result<Option<(StoredContract, Arc<Contract>)>, OpError> {
    let Some(sc) = store.current_contract().await? else {
        return Ok(None);
    };
    if let Some(cache) = cache {
        let hit = cache.0.read().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = hit.as_ref().filter(|(fp, _)| *fp == sc.fingerprint) {
            return Ok(Some((sc, c.clone())));
        }
    }
    // The store only ever holds validated sources; failing here means the data or the
    // validation rules changed underneath it.
    let c = Arc::new(catalog::parse(&sc.source).map_err(|e| {
        StoreError::Corrupt(format!(
            "stored contract {} no longer validates: {e}",
            sc.id
        ))
    })?);
    if let Some(cache) = cache {
        *cache.0.write().unwrap_or_else(|e| e.into_inner()) =
            Some((sc.fingerprint.clone(), c.clone()));
    }
    Ok(Some((sc, c)))
}

pub fn parse_name(name: &str) -> Result<UserName, OpError> {
    UserName::parse(name).map_err(|e| {
        OpError::invalid(
            "invalid_user_name",
            "用户名格式不正确：只能包含字母、数字、“.”、“_”或“-”，长度 1–64",
            e,
        )
    })
}

pub fn parse_role(role: &str) -> Result<Role, OpError> {
    Role::parse(role).map_err(|e| {
        OpError::invalid(
            "invalid_role",
            "角色无效：应为 purchaser、operator、auditor 或 admin",
            e,
        )
    })
}

fn password_hash(password: &str) -> Result<String, OpError> {
    check_password_policy(password)
        .map_err(|e| OpError::invalid("weak_password", "密码至少需要 12 个字符", e))?;
    auth::hash_password(password)
        .map_err(|e| OpError::invalid("invalid_password", "密码无法处理", e.to_string()))
}

pub async fn create_user(
    cx: Ctx<'_>,
    name: &str,
    role: &str,
    display_name: Option<&str>,
    password: &str,
) -> Result<User, OpError> {
    let name = parse_name(name)?;
    let role = parse_role(role)?;
    let display_name = display_name
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(name.as_str())
        .to_owned();
    if display_name.chars().count() > 100 {
        return Err(OpError::invalid(
            "invalid_display_name",
            "显示名称最多 100 个字符",
            "display name must be at most 100 characters",
        ));
    }
    let new = NewUser {
        password_hash: password_hash(password)?,
        name: name.clone(),
        display_name,
        role,
    };
    let ev = cx.event("user.create", name.as_str(), json!({"role": role.code()}));
    Ok(cx.store.create_user(&new, ev).await?)
}

/// Apply several changes to one user, all or nothing, as one audited action.
pub async fn change_user(
    cx: Ctx<'_>,
    name: &UserName,
    changes: Vec<UserChange>,
) -> Result<User, OpError> {
    if changes.is_empty() {
        return Err(OpError::invalid(
            "empty_change",
            "没有要修改的字段",
            "nothing to change",
        ));
    }
    let mut detail = serde_json::Map::new();
    for c in &changes {
        let (k, v) = match c {
            UserChange::Role(r) => ("role", json!(r.code())),
            UserChange::Disabled(d) => ("disabled", json!(d)),
            UserChange::PasswordHash(_) => ("password", json!("changed")),
            UserChange::DisplayName(n) => ("display_name", json!(n)),
        };
        detail.insert(k.to_owned(), v);
    }
    let ev = cx.event(
        "user.update",
        name.as_str(),
        serde_json::Value::Object(detail),
    );
    Ok(cx.store.update_user(name, &changes, ev).await?)
}

/// The Argon2id hash of a new password that meets the policy.
pub fn new_password_hash(password: &str) -> Result<UserChange, OpError> {
    Ok(UserChange::PasswordHash(password_hash(password)?))
}

pub async fn set_password(cx: Ctx<'_>, name: &UserName, password: &str) -> Result<User, OpError> {
    change_user(cx, name, vec![new_password_hash(password)?]).await
}

/// Issue a new API token; the token itself is returned once and never stored.
pub async fn issue_token(
    cx: Ctx<'_>,
    user: &User,
    label: &str,
) -> Result<(String, ApiTokenInfo), OpError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 100 {
        return Err(OpError::invalid(
            "invalid_label",
            "令牌说明不能为空，最多 100 个字符",
            "token label must be 1 to 100 characters",
        ));
    }
    let token = auth::new_api_token();
    let prefix: String = token.chars().take(12).collect();
    let ev = cx.event(
        "token.create",
        user.name.as_str(),
        json!({"label": label, "prefix": prefix}),
    );
    let info = cx
        .store
        .create_api_token(user.id, label, &prefix, &auth::token_hash(&token), ev)
        .await?;
    Ok((token, info))
}

/// Check a password and open a console session. A failure is audited and says nothing
/// about whether the user exists.
pub async fn login(cx: Ctx<'_>, name: &str, password: &str) -> Result<(User, String), OpError> {
    let found = match UserName::parse(name) {
        Ok(n) => cx.store.user_with_secret(&n).await?,
        Err(_) => None,
    };
    let ok = match &found {
        Some(u) => auth::verify_password(password, &u.password_hash) && !u.user.disabled,
        None => {
            auth::verify_password(password, auth::dummy_hash());
            false
        }
    };
    let Some(u) = found.filter(|_| ok) else {
        let target: String = name.chars().take(64).collect();
        cx.store
            .append_audit(AuditEvent::new(
                cx.now,
                &target,
                "session.login_failed",
                &target,
                "{}".into(),
            ))
            .await?;
        return Err(OpError::BadCredentials);
    };
    let token = auth::new_session_token();
    let ev = AuditEvent::new(
        cx.now,
        u.user.name.as_str(),
        "session.login",
        u.user.name.as_str(),
        "{}".into(),
    );
    cx.store
        .create_session(
            u.user.id,
            &auth::token_hash(&token),
            cx.now + Duration::hours(auth::SESSION_HOURS),
            ev,
        )
        .await?;
    Ok((u.user, token))
}

pub async fn logout(cx: Ctx<'_>, session_token: &str) -> Result<bool, OpError> {
    let ev = cx.event("session.logout", cx.actor, json!({}));
    Ok(cx
        .store
        .delete_session(&auth::token_hash(session_token), ev)
        .await?)
}

// --- the crypto service -----------------------------------------------------------------

use govcloud_crypto::{KeyKind, NewKey, Provider, Sm2PublicKey};
use govcloud_store::{App, CryptoKey, NewApp, NewKeyVersion};

/// The app that owns the service's own keys (the BYOK import key); it has no usable credential.
pub const SERVICE_APP: &str = "_govcloud";
const IMPORT_KEY: &str = "_import";

pub fn parse_key_kind(s: &str) -> Result<KeyKind, OpError> {
    KeyKind::parse(s).ok_or_else(|| {
        OpError::invalid(
            "invalid_key_type",
            "密钥类型须为 sm2-sign、sm2-enc 或 sm4",
            format!("key type {s:?} must be sm2-sign, sm2-enc or sm4"),
        )
    })
}

/// Register a business system's credential; the token is returned once and never stored.
pub async fn create_app(
    cx: Ctx<'_>,
    name: &str,
    system: Option<&str>,
) -> Result<(App, String), OpError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(OpError::invalid(
            "invalid_app_name",
            "应用名称须为 1–100 个字符",
            "app name must be 1 to 100 characters",
        ));
    }
    let token = auth::new_app_token();
    let new = NewApp {
        id: auth::new_id("app"),
        name: name.to_owned(),
        system_code: system.map(str::to_owned),
        token_hash: auth::token_hash(&token),
    };
    let ev = cx.event(
        "app.create",
        &new.id,
        json!({"name": name, "system": system}),
    );
    let app = cx.store.create_app(&new, ev).await?;
    Ok((app, token))
}

fn version_of(k: &NewKey) -> NewKeyVersion {
    NewKeyVersion {
        wrapped: k.blob.clone(),
        public_key: k.public.as_ref().map(|p| hex::encode(p.to_sec1())),
    }
}

/// Generate (or, with `material`, import) a key for `app`; audited, material never stored unwrapped.
pub async fn create_key(
    cx: Ctx<'_>,
    provider: &dyn Provider,
    app: &App,
    kind: KeyKind,
    label: Option<&str>,
    material: Option<&[u8]>,
) -> Result<CryptoKey, OpError> {
    let label = label.map(str::trim).unwrap_or("").to_owned();
    if label.chars().count() > 100 {
        return Err(OpError::invalid(
            "invalid_label",
            "密钥说明最多 100 个字符",
            "label must be at most 100 characters",
        ));
    }
    let id = auth::new_id("key");
    let binding = crate::crypto::binding(&id, 1);
    let new = match material {
        Some(m) => provider.import_key(kind, &binding, m),
        None => provider.generate_key(kind, &binding),
    }
    .map_err(|e| OpError::invalid("invalid_key_material", "密钥材料无效", e.to_string()))?;
    let action = if material.is_some() {
        "key.import"
    } else {
        "key.create"
    };
    let ev = cx.event(
        action,
        &id,
        json!({"app": app.id, "type": kind.code(), "label": label}),
    );
    Ok(cx
        .store
        .create_key(&app.id, &id, kind.code(), &label, &version_of(&new), ev)
        .await?)
}

pub async fn rotate_key(
    cx: Ctx<'_>,
    provider: &dyn Provider,
    app: &App,
    key: &CryptoKey,
) -> Result<CryptoKey, OpError> {
    let kind = parse_key_kind(&key.kind)?;
    let next = provider
        .generate_key(
            kind,
            &crate::crypto::binding(&key.id, key.current_version + 1),
        )
        .map_err(|e| OpError::invalid("crypto_unavailable", "生成新版本密钥失败", e.to_string()))?;
    let ev = cx.event(
        "key.rotate",
        &key.id,
        json!({"app": app.id, "version": key.current_version + 1}),
    );
    Ok(cx
        .store
        .rotate_key(&app.id, &key.id, &version_of(&next), ev)
        .await?)
}

/// The service's SM2 import key (created on first use) and its public key.
pub async fn service_import_key(
    cx: Ctx<'_>,
    cache: &crate::crypto::CryptoService,
) -> Result<(Sm2PublicKey, Arc<crate::crypto::ResolvedKey>), crate::error::ApiError> {
    let (store, provider) = (cx.store, cache.provider.as_ref());
    let app = match store.app(SERVICE_APP).await? {
        Some(a) => a,
        None => {
            let new = NewApp {
                id: SERVICE_APP.into(),
                name: "govcloud 服务自身".into(),
                system_code: None,
                token_hash: auth::token_hash(&auth::random_secret(32)),
            };
            match store
                .create_app(
                    &new,
                    cx.event("app.create", SERVICE_APP, json!({"service": true})),
                )
                .await
            {
                Ok(a) => a,
                Err(_) => store
                    .app(SERVICE_APP)
                    .await?
                    .ok_or_else(crate::error::ApiError::internal)?,
            }
        }
    };
    if store.key(&app.id, IMPORT_KEY).await?.is_none() {
        let new = provider.generate_key(KeyKind::Sm2Enc, &crate::crypto::binding(IMPORT_KEY, 1))?;
        let ev = cx.event(
            "key.create",
            IMPORT_KEY,
            json!({"app": app.id, "type": "sm2-enc", "label": "BYOK import key"}),
        );
        if let Err(e) = store
            .create_key(
                &app.id,
                IMPORT_KEY,
                "sm2-enc",
                "BYOK import key",
                &version_of(&new),
                ev,
            )
            .await
        {
            tracing::debug!(error = %e, "import key created concurrently");
        }
    }
    let key = cache
        .resolve(store, &app, IMPORT_KEY, &[KeyKind::Sm2Enc])
        .await?;
    let public = key
        .publics
        .first()
        .cloned()
        .flatten()
        .ok_or_else(crate::error::ApiError::internal)?;
    Ok((public, key))
}

// ---------------------------------------------------------------------------------------
// The gateway 密码前置: app policies, rate limits, credential rotation, crypto nodes.

/// An app by id or by name (the CLI takes either).
pub async fn find_app(store: &dyn Store, id_or_name: &str) -> Result<App, OpError> {
    if let Some(a) = store.app(id_or_name).await? {
        return Ok(a);
    }
    store
        .list_apps()
        .await?
        .into_iter()
        .find(|a| a.name == id_or_name && a.id != SERVICE_APP)
        .ok_or_else(|| StoreError::NotFound(format!("app {id_or_name}")).into())
}

fn check_operation(op: &str) -> Result<(), OpError> {
    if crate::gateway::policy::is_operation(op) {
        return Ok(());
    }
    let all: Vec<&str> = crate::gateway::policy::OPERATIONS
        .iter()
        .map(|(o, _)| *o)
        .collect();
    Err(OpError::invalid(
        "invalid_operation",
        format!("未知操作 {op:?}，可选：*、{}", all.join("、")),
        format!("unknown operation {op:?}; one of *, {}", all.join(", ")),
    ))
}

/// Allow `app` an operation (or `*`) on a key of its own (or `*`). The first rule turns an
/// unrestricted app into one restricted to its rules. `false`: the rule was there.
pub async fn allow(cx: Ctx<'_>, app: &App, operation: &str, key: &str) -> Result<bool, OpError> {
    check_operation(operation)?;
    if key != "*" && cx.store.key(&app.id, key).await?.is_none() {
        return Err(OpError::invalid(
            "key_not_found",
            format!("密钥 {key} 不存在或不属于应用 {}", app.name),
            format!("key {key} does not exist or is not app {}'s", app.name),
        ));
    }
    let rule = govcloud_store::AppRule {
        app_id: app.id.clone(),
        operation: operation.to_owned(),
        key_id: key.to_owned(),
        created_at: cx.now,
        created_by: cx.actor.to_owned(),
    };
    let ev = cx.event(
        "app.policy.allow",
        &app.id,
        json!({"operation": operation, "key": key}),
    );
    Ok(cx.store.add_app_rule(&rule, ev).await?)
}

/// Remove an allow rule. `false`: there was none.
pub async fn disallow(cx: Ctx<'_>, app: &App, operation: &str, key: &str) -> Result<bool, OpError> {
    check_operation(operation)?;
    let ev = cx.event(
        "app.policy.disallow",
        &app.id,
        json!({"operation": operation, "key": key}),
    );
    Ok(cx
        .store
        .remove_app_rule(&app.id, operation, key, ev)
        .await?)
}

/// Set a rate limit on `app` (for one operation, or `*` for all its requests together).
/// The burst defaults to one second's worth (at least 1).
pub async fn set_limit(
    cx: Ctx<'_>,
    app: &App,
    operation: &str,
    rps: f64,
    burst: Option<i64>,
) -> Result<govcloud_store::AppLimit, OpError> {
    check_operation(operation)?;
    if !(rps.is_finite() && rps > 0.0 && rps <= 1_000_000.0) {
        return Err(OpError::invalid(
            "invalid_limit",
            "每秒请求数须大于 0 且不超过 1000000",
            "rps must be above 0 and at most 1000000",
        ));
    }
    let burst = burst.unwrap_or_else(|| (rps.ceil() as i64).max(1));
    if !(1..=10_000_000).contains(&burst) {
        return Err(OpError::invalid(
            "invalid_limit",
            "突发量须为 1–10000000",
            "burst must be 1 to 10000000",
        ));
    }
    let limit = govcloud_store::AppLimit {
        app_id: app.id.clone(),
        operation: operation.to_owned(),
        rps,
        burst,
        updated_at: cx.now,
        updated_by: cx.actor.to_owned(),
    };
    let ev = cx.event(
        "app.policy.limit",
        &app.id,
        json!({"operation": operation, "rps": rps, "burst": burst}),
    );
    cx.store.set_app_limit(&limit, ev).await?;
    Ok(limit)
}

/// Remove a rate limit. `false`: there was none.
pub async fn remove_limit(cx: Ctx<'_>, app: &App, operation: &str) -> Result<bool, OpError> {
    check_operation(operation)?;
    let ev = cx.event(
        "app.policy.unlimit",
        &app.id,
        json!({"operation": operation}),
    );
    Ok(cx.store.remove_app_limit(&app.id, operation, ev).await?)
}

/// Give `app` a new credential; the old one stops working (on gateways and nodes within
/// their cache time, about 2 s). Returns the new token, shown once.
pub async fn rotate_app(cx: Ctx<'_>, app: &App) -> Result<(App, String), OpError> {
    let token = auth::new_app_token();
    let ev = cx.event("app.rotate", &app.id, json!({"name": app.name}));
    let app = cx
        .store
        .rotate_app_token(&app.id, &auth::token_hash(&token), ev)
        .await?;
    Ok((app, token))
}

/// A node's base URL as stored: `http(s)://host:port`, no path, no trailing slash.
pub fn normalize_node_url(url: &str) -> Result<String, OpError> {
    let u = url.trim().trim_end_matches('/');
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"));
    let ok = rest.is_some_and(|r| {
        !r.is_empty()
            && !r.contains(['/', '?', '#', '@', ' '])
            && r.parse::<axum::http::uri::Authority>().is_ok()
    });
    if !ok {
        return Err(OpError::invalid(
            "invalid_node_url",
            format!("节点地址 {url:?} 应形如 http://10.0.0.5:8080（不含路径）"),
            format!("node URL {url:?} should look like http://10.0.0.5:8080 (no path)"),
        ));
    }
    Ok(u.to_owned())
}

/// Add a crypto node (or make a draining one active again). `false`: it was active.
pub async fn add_node(
    cx: Ctx<'_>,
    url: &str,
) -> Result<(govcloud_store::GatewayNode, bool), OpError> {
    let url = normalize_node_url(url)?;
    let ev = cx.event("gateway.node.add", &url, json!({}));
    Ok(cx
        .store
        .add_gateway_node(&url, cx.now, cx.actor, ev)
        .await?)
}

/// Stop sending new requests to a node; requests in flight finish.
pub async fn drain_node(cx: Ctx<'_>, url: &str) -> Result<govcloud_store::GatewayNode, OpError> {
    let url = normalize_node_url(url)?;
    let ev = cx.event("gateway.node.drain", &url, json!({}));
    Ok(cx
        .store
        .set_gateway_node_state(&url, govcloud_store::NodeState::Draining, cx.now, ev)
        .await?)
}

/// Remove a node from the list. `false`: it was not there.
pub async fn remove_node(cx: Ctx<'_>, url: &str) -> Result<bool, OpError> {
    let url = normalize_node_url(url)?;
    let ev = cx.event("gateway.node.remove", &url, json!({}));
    Ok(cx.store.remove_gateway_node(&url, ev).await?)
}

/// Disable (revoke) or re-enable an app's credential.
pub async fn set_app_disabled(cx: Ctx<'_>, app: &App, disabled: bool) -> Result<App, OpError> {
    let action = if disabled {
        "app.disable"
    } else {
        "app.enable"
    };
    let ev = cx.event(action, &app.id, json!({"name": app.name}));
    Ok(cx.store.set_app_disabled(&app.id, disabled, ev).await?)
}

/// Bind a govcloud-issued RSA certificate with clientAuth to `app` (`bind`), or unbind it:
/// an app with a bound certificate must present one over mutual TLS at the gateway.
/// `false`: nothing changed.
pub async fn bind_cert(cx: Ctx<'_>, app: &App, serial: &str, bind: bool) -> Result<bool, OpError> {
    let serial = serial.trim().to_ascii_lowercase();
    let serial = serial.as_str();
    if bind {
        let Some(c) = cx.store.certificate(serial).await? else {
            return Err(StoreError::NotFound(format!("certificate {serial}")).into());
        };
        if c.alg != "rsa" || !matches!(c.profile.as_str(), "server-rsa") {
            return Err(OpError::invalid(
                "unsupported_client_certificate",
                format!(
                    "证书 {serial}（{}，{}）不能用于双向 TLS：密码前置只接受本平台签发的 RSA 服务器证书（含客户端认证用途）；SM2 证书无法在 TLS 中协商（rustls 与 OpenSSL 3.0 均不支持）",
                    c.alg, c.profile
                ),
                format!(
                    "certificate {serial} ({}, {}) cannot be used for mutual TLS: the gateway accepts govcloud-issued RSA server certificates (they carry clientAuth); SM2 certificates cannot be negotiated in TLS here (neither rustls nor OpenSSL 3.0 support it)",
                    c.alg, c.profile
                ),
            ));
        }
        if c.revoked() || c.not_after < cx.now {
            return Err(OpError::invalid(
                "certificate_not_valid",
                format!("证书 {serial} 已吊销或已过期"),
                format!("certificate {serial} is revoked or expired"),
            ));
        }
    }
    let action = if bind {
        "app.policy.bind-cert"
    } else {
        "app.policy.unbind-cert"
    };
    let ev = cx.event(action, &app.id, json!({"serial": serial}));
    Ok(cx.store.bind_app_cert(&app.id, serial, bind, ev).await?)
}
