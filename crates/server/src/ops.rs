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
    fn event(&self, action: &str, target: &str, detail: serde_json::Value) -> AuditEvent {
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
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("{0}")]
    Catalog(CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OpError {
    pub fn invalid(code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        OpError::Invalid {
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
