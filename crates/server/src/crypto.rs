//! The crypto service as the server runs it: the provider (with its master key), key
//! resolution for an app, and usage counting for metering (kept in memory, flushed to the
//! store every few seconds and at shutdown, so that counting costs no write per request).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use govcloud_crypto::{
    CryptoError, KeyKind, KeyRef, MasterKey, Provider, Sm2PublicKey, SoftProvider,
};
use govcloud_store::{App, CryptoKey, KeyState, KeyVersion, Store, UsageKey};

use crate::error::ApiError;

/// How long a credential or key looked up in the store is trusted without asking again.
/// Changes made through this server take effect at once (the entry is dropped); changes
/// made elsewhere (the CLI, another replica) within this time.
const CACHE_TTL: Duration = Duration::from_secs(2);

type KeyCache = HashMap<(String, String), (Instant, Option<Arc<ResolvedKey>>)>;

pub struct CryptoService {
    pub provider: Arc<dyn Provider>,
    usage: Mutex<HashMap<UsageKey, i64>>,
    apps: Mutex<HashMap<String, (Instant, Option<App>)>>,
    keys: Mutex<KeyCache>,
}

impl CryptoService {
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        Self {
            provider,
            usage: Mutex::default(),
            apps: Mutex::default(),
            keys: Mutex::default(),
        }
    }

    /// The enabled app behind a credential hash (cached briefly).
    pub async fn app_by_token(
        &self,
        store: &dyn Store,
        token_hash: &str,
    ) -> Result<Option<App>, govcloud_store::StoreError> {
        if let Some((at, app)) = self
            .apps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token_hash)
        {
            if at.elapsed() < CACHE_TTL {
                return Ok(app.clone());
            }
        }
        let app = store.app_by_token(token_hash).await?;
        let mut m = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > 10_000 {
            m.clear();
        }
        m.insert(token_hash.to_owned(), (Instant::now(), app.clone()));
        Ok(app)
    }

    /// Forget cached credentials after a change made here.
    pub fn forget_app(&self) {
        self.apps.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Forget a cached key after a change made here.
    pub fn forget_key(&self, app_id: &str, key_id: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(app_id.to_owned(), key_id.to_owned()));
    }

    /// Find `key_id` among `app`'s keys, active and of one of the `allowed` kinds.
    pub async fn resolve(
        &self,
        store: &dyn Store,
        app: &App,
        key_id: &str,
        allowed: &[KeyKind],
    ) -> Result<Arc<ResolvedKey>, ApiError> {
        let id = (app.id.clone(), key_id.to_owned());
        let cached = self
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, k)| k.clone());
        let found = match cached {
            Some(k) => k,
            None => {
                let k = load(store, app, key_id).await?.map(Arc::new);
                let mut m = self.keys.lock().unwrap_or_else(|e| e.into_inner());
                if m.len() > 10_000 {
                    m.clear();
                }
                m.insert(id, (Instant::now(), k.clone()));
                k
            }
        };
        let key = found.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "key_not_found",
                format!("密钥 {key_id} 不存在或不属于当前应用"),
                format!("key {key_id} does not exist or belongs to another app"),
            )
        })?;
        check(&key, allowed)?;
        Ok(key)
    }

    /// The software provider with the master key from `GOVCLOUD_MASTER_KEY` (32 hex digits)
    /// or from `<data-dir>/master.key`, created with mode 0600 on first start.
    pub fn from_environment(data_dir: &Path) -> anyhow::Result<Self> {
        let master = match std::env::var("GOVCLOUD_MASTER_KEY") {
            Ok(hex) if !hex.is_empty() => MasterKey::from_hex(&hex)
                .map_err(|e| anyhow::anyhow!("GOVCLOUD_MASTER_KEY: {e}"))?,
            _ => {
                std::fs::create_dir_all(data_dir)?;
                MasterKey::load_or_create(&data_dir.join("master.key"))?
            }
        };
        Ok(Self::new(Arc::new(SoftProvider::new(master))))
    }

    /// Count one operation by `app` (on `key_id`, or "" for keyless operations).
    pub fn count(&self, app: &App, key_id: &str, operation: &str, n: i64, now: DateTime<Utc>) {
        let month = crate::shanghai_month(now);
        let k = UsageKey {
            app_id: app.id.clone(),
            key_id: key_id.to_owned(),
            month,
            operation: operation.to_owned(),
        };
        *self
            .usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(k)
            .or_default() += n;
    }

    /// Move the counted operations into the store; on failure they are kept for next time.
    pub async fn flush_usage(&self, store: &dyn Store) -> Result<(), govcloud_store::StoreError> {
        let pending: Vec<(UsageKey, i64)> = self
            .usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        if let Err(e) = store.add_usage(&pending).await {
            let mut map = self.usage.lock().unwrap_or_else(|e| e.into_inner());
            for (k, n) in pending {
                *map.entry(k).or_default() += n;
            }
            return Err(e);
        }
        Ok(())
    }

    /// Counts not yet flushed, added to what the store has (for up-to-the-second views).
    pub fn pending(&self, app_id: Option<&str>) -> Vec<(UsageKey, i64)> {
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(k, _)| app_id.is_none_or(|a| k.app_id == a))
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    }
}

/// The binding of a key version's wrapping: a blob copied to another key or version does
/// not unwrap.
pub fn binding(key_id: &str, version: i32) -> Vec<u8> {
    format!("{key_id}/{version}").into_bytes()
}

/// A key of the calling app, ready for use.
pub struct ResolvedKey {
    pub key: CryptoKey,
    pub kind: KeyKind,
    /// Newest first, each with its wrapping binding and, for SM2, its parsed public key.
    pub versions: Vec<(KeyVersion, Vec<u8>)>,
    pub publics: Vec<Option<Sm2PublicKey>>,
}

impl ResolvedKey {
    pub fn current(&self) -> Result<(&KeyVersion, KeyRef<'_>), ApiError> {
        self.version(self.key.current_version)
    }

    /// The current version's SM2 public key (kept even when the material is destroyed).
    pub fn current_public(&self) -> Result<(&KeyVersion, &Sm2PublicKey), ApiError> {
        let v = self.key.current_version;
        self.versions
            .iter()
            .zip(&self.publics)
            .find_map(|((kv, _), p)| {
                (kv.version == v)
                    .then_some(p.as_ref().map(|p| (kv, p)))
                    .flatten()
            })
            .ok_or_else(ApiError::internal)
    }

    pub fn version(&self, v: i32) -> Result<(&KeyVersion, KeyRef<'_>), ApiError> {
        let (kv, b) = self
            .versions
            .iter()
            .find(|(kv, _)| kv.version == v)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "key_version_not_found",
                    format!("密钥 {} 没有第 {v} 版", self.key.id),
                    format!("key {} has no version {v}", self.key.id),
                )
            })?;
        let blob = kv
            .wrapped
            .as_deref()
            .ok_or_else(|| destroyed(&self.key.id))?;
        Ok((
            kv,
            KeyRef {
                kind: self.kind,
                binding: b,
                blob,
            },
        ))
    }

    pub fn all(&self) -> impl Iterator<Item = (&KeyVersion, KeyRef<'_>)> {
        self.versions.iter().filter_map(|(kv, b)| {
            kv.wrapped.as_deref().map(|blob| {
                (
                    kv,
                    KeyRef {
                        kind: self.kind,
                        binding: b,
                        blob,
                    },
                )
            })
        })
    }
}

fn destroyed(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "key_destroyed",
        format!("密钥 {id} 已销毁"),
        format!("key {id} is destroyed"),
    )
}

/// A stored public key (SEC1, hex) parsed; `None` for SM4 keys.
pub fn stored_public_key(sec1_hex: Option<&str>) -> Option<Sm2PublicKey> {
    sec1_hex
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| Sm2PublicKey::from_sec1(&b).ok())
}

async fn load(store: &dyn Store, app: &App, key_id: &str) -> Result<Option<ResolvedKey>, ApiError> {
    let Some((key, versions)) = store.key(&app.id, key_id).await? else {
        return Ok(None);
    };
    let kind = KeyKind::parse(&key.kind).ok_or_else(|| {
        tracing::error!(key = key_id, kind = key.kind, "stored key of unknown kind");
        ApiError::internal()
    })?;
    let publics = versions
        .iter()
        .map(|v| stored_public_key(v.public_key.as_deref()))
        .collect();
    let versions = versions
        .into_iter()
        .map(|v| {
            let b = binding(&key.id, v.version);
            (v, b)
        })
        .collect();
    Ok(Some(ResolvedKey {
        kind,
        versions,
        publics,
        key,
    }))
}

fn check(key: &ResolvedKey, allowed: &[KeyKind]) -> Result<(), ApiError> {
    let key_id = &key.key.id;
    match key.key.state {
        KeyState::Active => {}
        KeyState::Disabled => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "key_disabled",
                format!("密钥 {key_id} 已停用"),
                format!("key {key_id} is disabled"),
            ))
        }
        KeyState::Destroyed => return Err(destroyed(key_id)),
    }
    if !allowed.contains(&key.kind) {
        let kind = key.kind;
        let want: Vec<&str> = allowed.iter().map(|k| k.code()).collect();
        return Err(ApiError::bad_request(
            "wrong_key_type",
            format!(
                "密钥 {key_id} 的类型为 {kind}，此操作需要 {}",
                want.join(" 或 ")
            ),
            format!(
                "key {key_id} is a {kind} key; this operation needs {}",
                want.join(" or ")
            ),
        ));
    }
    Ok(())
}

/// Crypto failures as API errors: what the caller sent is at fault (4xx), except a key that
/// does not unwrap or a failing random source (5xx, logged).
impl From<CryptoError> for ApiError {
    fn from(e: CryptoError) -> Self {
        let (status, code, zh) = match &e {
            CryptoError::WrongKeyKind { .. } => {
                (StatusCode::BAD_REQUEST, "wrong_key_type", "密钥类型不符")
            }
            CryptoError::KeyMaterial(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_key_material",
                "密钥材料无效",
            ),
            CryptoError::PublicKey(_) => {
                (StatusCode::BAD_REQUEST, "invalid_public_key", "公钥无效")
            }
            CryptoError::Certificate(_) => {
                (StatusCode::BAD_REQUEST, "invalid_certificate", "证书无效")
            }
            CryptoError::SignatureEncoding(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_signature_encoding",
                "签名值编码无效",
            ),
            CryptoError::DigestLength(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_digest",
                "摘要须为 32 字节（SM3）",
            ),
            CryptoError::SignerId => (
                StatusCode::BAD_REQUEST,
                "invalid_signer_id",
                "签名者标识须为 1–8191 字节",
            ),
            CryptoError::IvLength { .. } => {
                (StatusCode::BAD_REQUEST, "invalid_iv", "IV 长度不正确")
            }
            CryptoError::Decrypt => (
                StatusCode::BAD_REQUEST,
                "decryption_failed",
                "密文格式错误或无法用此密钥解密",
            ),
            CryptoError::Authentication => (
                StatusCode::BAD_REQUEST,
                "authentication_failed",
                "认证失败：密文、标签、IV 或附加数据被改动",
            ),
            CryptoError::Malformed(_) => (
                StatusCode::BAD_REQUEST,
                "malformed_input",
                "数据结构格式错误",
            ),
            CryptoError::Unwrap | CryptoError::Rng | CryptoError::Internal(_) => {
                tracing::error!(error = %e, "crypto provider failure");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "crypto_unavailable",
                    "密码服务内部错误，已记录日志",
                    "the crypto provider failed; it has been logged",
                );
            }
        };
        ApiError::new(status, code, zh, e.to_string())
    }
}
