//! The 国密 service API for business systems, under `/api/v1/crypto`: keys, sign/verify,
//! encrypt/decrypt, hash, HMAC, random, digital envelopes and signed messages, and batch
//! forms. Callers are apps (`Authorization: Bearer gca_…`), never console users; each key
//! is usable only by its app. All binary fields are standard base64.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use govcloud_crypto::cms;
use govcloud_crypto::{
    CipherFormat, KeyKind, MacKey, SigFormat, SignInput, Sm2PublicKey, Sm4Mode, DEFAULT_SIGNER_ID,
};
use govcloud_store::{App, CryptoKey, KeyState};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::{utc, ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth;
use crate::crypto::ResolvedKey;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ops;

/// The calling business system, from its app credential.
pub struct AppCaller(pub App);

impl FromRequestParts<AppState> for AppCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with(auth::APP_TOKEN_PREFIX));
        let Some(token) = token else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "需要应用凭据：Authorization: Bearer gca_…（由服务商运维通过 govcloud app add 签发）",
                "an app credential is required: Authorization: Bearer gca_… (issued with govcloud app add)",
            ));
        };
        match state
            .crypto
            .app_by_token(state.store.as_ref(), &auth::token_hash(token))
            .await?
        {
            Some(app) => Ok(AppCaller(app)),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "应用凭据无效或已停用",
                "unknown or disabled app credential",
            )),
        }
    }
}

/// How an app appears in the audit log.
pub fn app_actor(app: &App) -> String {
    format!("app:{}", app.id)
}

pub(crate) fn b64(field: &str, s: &str) -> ApiResult<Vec<u8>> {
    B64.decode(s.trim()).map_err(|_| {
        ApiError::bad_request(
            "invalid_base64",
            format!("字段 {field} 不是合法的 Base64"),
            format!("field {field} is not valid standard base64"),
        )
    })
}

fn enc(b: &[u8]) -> String {
    B64.encode(b)
}

fn missing(what_zh: &str, what_en: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_body",
        format!("缺少{what_zh}"),
        format!("missing {what_en}"),
    )
}

// ---------------------------------------------------------------------------------------
// Keys

#[derive(Serialize, ToSchema)]
pub struct KeyDto {
    pub id: String,
    /// sm2-sign | sm2-enc | sm4
    #[serde(rename = "type")]
    pub kind: String,
    pub label: String,
    /// active | disabled | destroyed
    pub state: String,
    /// The version new operations use.
    pub version: i32,
    /// SM2 keys only: the current version's public key.
    pub public_key_pem: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

async fn key_dto(state: &AppState, app: &App, key: &CryptoKey) -> ApiResult<KeyDto> {
    let public = match state.store.key(&app.id, &key.id).await? {
        Some((_, versions)) => versions
            .iter()
            .find(|v| v.version == key.current_version)
            .and_then(|v| {
                crate::crypto::stored_public_key(v.public_key.as_deref()).map(|p| p.to_pem())
            }),
        None => None,
    };
    Ok(KeyDto {
        id: key.id.clone(),
        kind: key.kind.clone(),
        label: key.label.clone(),
        state: key.state.code().to_owned(),
        version: key.current_version,
        public_key_pem: public,
        created_at: utc(key.created_at),
        updated_at: utc(key.updated_at),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// sm2-sign | sm2-enc | sm4
    #[serde(rename = "type")]
    pub kind: String,
    pub label: Option<String>,
}

/// Generate a key for the calling app.
#[utoipa::path(post, path = "/crypto/keys", tag = "crypto", security(("app" = [])),
    request_body = CreateKeyRequest,
    responses((status = 201, body = KeyDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create_key(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> ApiResult<(StatusCode, Json<KeyDto>)> {
    let kind = ops::parse_key_kind(&req.kind)?;
    let actor = app_actor(&app);
    let key = ops::create_key(
        state.ctx(&actor),
        state.crypto.provider.as_ref(),
        &app,
        kind,
        req.label.as_deref(),
        None,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(key_dto(&state, &app, &key).await?),
    ))
}

/// The calling app's keys (never their secret part).
#[utoipa::path(get, path = "/crypto/keys", tag = "crypto", security(("app" = [])),
    responses((status = 200, body = [KeyDto]), (status = 401, body = ErrorBody)))]
pub async fn list_keys(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
) -> ApiResult<Json<Vec<KeyDto>>> {
    let mut out = Vec::new();
    for k in state.store.list_keys(Some(&app.id)).await? {
        out.push(key_dto(&state, &app, &k).await?);
    }
    Ok(Json(out))
}

async fn own_key(state: &AppState, app: &App, id: &str) -> ApiResult<CryptoKey> {
    state
        .store
        .key(&app.id, id)
        .await?
        .map(|(k, _)| k)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "key_not_found",
                format!("密钥 {id} 不存在或不属于当前应用"),
                format!("key {id} does not exist or belongs to another app"),
            )
        })
}

/// One key of the calling app.
#[utoipa::path(get, path = "/crypto/keys/{id}", tag = "crypto", security(("app" = [])),
    params(("id" = String, Path, description = "key id")),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show_key(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<KeyDto>> {
    let k = own_key(&state, &app, &id).await?;
    Ok(Json(key_dto(&state, &app, &k).await?))
}

/// Add a new version; new operations use it, earlier signatures and ciphertexts keep working.
#[utoipa::path(post, path = "/crypto/keys/{id}/rotate", tag = "crypto", security(("app" = [])),
    params(("id" = String, Path, description = "key id")),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rotate_key(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<KeyDto>> {
    let k = own_key(&state, &app, &id).await?;
    let actor = app_actor(&app);
    let k = ops::rotate_key(state.ctx(&actor), state.crypto.provider.as_ref(), &app, &k).await?;
    state.crypto.forget_key(&app.id, &k.id);
    Ok(Json(key_dto(&state, &app, &k).await?))
}

async fn change_state(
    state: &AppState,
    app: &App,
    id: &str,
    to: KeyState,
) -> ApiResult<Json<KeyDto>> {
    own_key(state, app, id).await?;
    let action = match to {
        KeyState::Active => "key.enable",
        KeyState::Disabled => "key.disable",
        KeyState::Destroyed => "key.destroy",
    };
    let ev = govcloud_domain::audit::AuditEvent::new(
        state.now(),
        &app_actor(app),
        action,
        id,
        json!({"app": app.id}).to_string(),
    );
    let k = state.store.set_key_state(&app.id, id, to, ev).await?;
    state.crypto.forget_key(&app.id, id);
    Ok(Json(key_dto(state, app, &k).await?))
}

/// Disable a key: every operation with it is refused until it is enabled again.
#[utoipa::path(post, path = "/crypto/keys/{id}/disable", tag = "crypto", security(("app" = [])),
    params(("id" = String, Path, description = "key id")),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn disable_key(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<KeyDto>> {
    change_state(&state, &app, &id, KeyState::Disabled).await
}

/// Enable a disabled key.
#[utoipa::path(post, path = "/crypto/keys/{id}/enable", tag = "crypto", security(("app" = [])),
    params(("id" = String, Path, description = "key id")),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn enable_key(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<KeyDto>> {
    change_state(&state, &app, &id, KeyState::Active).await
}

/// Destroy a key: its wrapped material is erased; this cannot be undone.
#[utoipa::path(delete, path = "/crypto/keys/{id}", tag = "crypto", security(("app" = [])),
    params(("id" = String, Path, description = "key id")),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn destroy_key(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<KeyDto>> {
    change_state(&state, &app, &id, KeyState::Destroyed).await
}

#[derive(Serialize, ToSchema)]
pub struct ImportKeyDto {
    /// The service's SM2 import key: seal key material to it in a digital envelope.
    pub public_key_pem: String,
    pub algorithm: String,
}

/// The public key to seal imported key material to (BYOK).
#[utoipa::path(get, path = "/crypto/import-key", tag = "crypto", security(("app" = [])),
    responses((status = 200, body = ImportKeyDto), (status = 401, body = ErrorBody)))]
pub async fn import_key_info(
    State(state): State<AppState>,
    AppCaller(_app): AppCaller,
) -> ApiResult<Json<ImportKeyDto>> {
    let (key, _) = ops::service_import_key(state.ctx("system"), &state.crypto).await?;
    Ok(Json(ImportKeyDto {
        public_key_pem: key.to_pem(),
        algorithm: "SM2 key transport, SM4-CBC (GM/T 0010 EnvelopedData)".into(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportKeyRequest {
    /// sm2-sign | sm2-enc | sm4
    #[serde(rename = "type")]
    pub kind: String,
    pub label: Option<String>,
    /// GM/T 0010 EnvelopedData sealed to the import key; its content is the raw key:
    /// a 32-byte SM2 private scalar or a 16-byte SM4 key.
    pub envelope: String,
}

/// Import a key (BYOK) delivered in a digital envelope to the service's import key.
#[utoipa::path(post, path = "/crypto/keys/import", tag = "crypto", security(("app" = [])),
    request_body = ImportKeyRequest,
    responses((status = 201, body = KeyDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn import_key(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<ImportKeyRequest>,
) -> ApiResult<(StatusCode, Json<KeyDto>)> {
    let kind = ops::parse_key_kind(&req.kind)?;
    let envelope = b64("envelope", &req.envelope)?;
    let p = state.crypto.provider.as_ref();
    let (_, import) = ops::service_import_key(state.ctx("system"), &state.crypto).await?;
    let (material, _) = try_versions(&import, None, true, |r| cms::open_envelope(p, r, &envelope))?;
    let material = Zeroizing::new(material);
    let actor = app_actor(&app);
    let key = ops::create_key(
        state.ctx(&actor),
        p,
        &app,
        kind,
        req.label.as_deref(),
        Some(&material),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(key_dto(&state, &app, &key).await?),
    ))
}

// ---------------------------------------------------------------------------------------
// Operations. Each is a function of (state, app, request) so the batch forms reuse it.

fn sig_format(f: Option<&str>) -> ApiResult<SigFormat> {
    match f.unwrap_or("der") {
        "der" => Ok(SigFormat::Der),
        "raw" => Ok(SigFormat::Raw),
        other => Err(ApiError::bad_request(
            "invalid_format",
            "format 须为 der 或 raw",
            format!("format {other:?} must be der or raw"),
        )),
    }
}

fn cipher_format(f: Option<&str>) -> ApiResult<CipherFormat> {
    match f.unwrap_or("der") {
        "der" => Ok(CipherFormat::Der),
        "raw" | "c1c3c2" => Ok(CipherFormat::Raw),
        other => Err(ApiError::bad_request(
            "invalid_format",
            "SM2 密文格式须为 der 或 raw（C1C3C2）",
            format!("format {other:?} must be der or raw"),
        )),
    }
}

fn signer_id(s: Option<&str>) -> &str {
    s.unwrap_or(DEFAULT_SIGNER_ID)
}

/// Exactly one of `data` and `digest`.
fn sign_input<'a>(
    data: &'a Option<Vec<u8>>,
    digest: &'a Option<Vec<u8>>,
) -> ApiResult<SignInput<'a>> {
    match (data, digest) {
        (Some(d), None) => Ok(SignInput::Data(d)),
        (None, Some(e)) => Ok(SignInput::Digest(e)),
        _ => Err(ApiError::bad_request(
            "invalid_body",
            "data 与 digest 须且只须给出一个",
            "give exactly one of data and digest",
        )),
    }
}

fn opt_b64(field: &str, s: &Option<String>) -> ApiResult<Option<Vec<u8>>> {
    s.as_deref().map(|v| b64(field, v)).transpose()
}

#[derive(Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    pub key_id: String,
    /// The message (base64); or give `digest`.
    pub data: Option<String>,
    /// e = SM3(Z_A ‖ M), 32 bytes (base64).
    pub digest: Option<String>,
    /// Signer ID (default 1234567812345678).
    pub signer_id: Option<String>,
    /// der (default, GM/T 0009) | raw (r ‖ s)
    pub format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SignResponse {
    pub signature: String,
    pub key_version: i32,
}

async fn do_sign(state: &AppState, app: &App, req: &SignRequest) -> ApiResult<SignResponse> {
    let format = sig_format(req.format.as_deref())?;
    let (data, digest) = (opt_b64("data", &req.data)?, opt_b64("digest", &req.digest)?);
    let input = sign_input(&data, &digest)?;
    let key = state
        .crypto
        .resolve(state.store.as_ref(), app, &req.key_id, &[KeyKind::Sm2Sign])
        .await?;
    let (kv, kref) = key.current()?;
    let sig =
        state
            .crypto
            .provider
            .sign(kref, signer_id(req.signer_id.as_deref()), input, format)?;
    state.crypto.count(app, &key.key.id, "sign", 1, state.now());
    Ok(SignResponse {
        signature: enc(&sig),
        key_version: kv.version,
    })
}

/// SM2 signature with SM3 over data or a precomputed digest.
#[utoipa::path(post, path = "/crypto/sign", tag = "crypto", security(("app" = [])),
    request_body = SignRequest,
    responses((status = 200, body = SignResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn sign(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<SignRequest>,
) -> ApiResult<Json<SignResponse>> {
    Ok(Json(do_sign(&state, &app, &req).await?))
}

#[derive(Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub data: Option<String>,
    pub digest: Option<String>,
    pub signature: String,
    /// One of key_id (a key of this app; every version is tried), public_key_pem, certificate_pem.
    pub key_id: Option<String>,
    pub public_key_pem: Option<String>,
    pub certificate_pem: Option<String>,
    pub signer_id: Option<String>,
    pub format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    /// With key_id: the version whose public key verified.
    pub key_version: Option<i32>,
}

async fn do_verify(state: &AppState, app: &App, req: &VerifyRequest) -> ApiResult<VerifyResponse> {
    let format = sig_format(req.format.as_deref())?;
    let (data, digest) = (opt_b64("data", &req.data)?, opt_b64("digest", &req.digest)?);
    let input = sign_input(&data, &digest)?;
    let sig = b64("signature", &req.signature)?;
    let id = signer_id(req.signer_id.as_deref());
    let p = &state.crypto.provider;
    let out = match (&req.key_id, &req.public_key_pem, &req.certificate_pem) {
        (Some(key_id), None, None) => {
            let key = state
                .crypto
                .resolve(state.store.as_ref(), app, key_id, &[KeyKind::Sm2Sign])
                .await?;
            let mut found = None;
            for ((kv, _), public) in key.versions.iter().zip(&key.publics) {
                let Some(public) = public else { continue };
                if p.verify(public, id, input, &sig, format)? {
                    found = Some(kv.version);
                    break;
                }
            }
            state.crypto.count(app, key_id, "verify", 1, state.now());
            return Ok(VerifyResponse {
                valid: found.is_some(),
                key_version: found,
            });
        }
        (None, Some(pem), None) => {
            p.verify(&Sm2PublicKey::from_pem(pem)?, id, input, &sig, format)?
        }
        (None, None, Some(cert)) => p.verify(
            &Sm2PublicKey::from_certificate(cert.as_bytes())?,
            id,
            input,
            &sig,
            format,
        )?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "key_id、public_key_pem、certificate_pem 须且只须给出一个",
                "give exactly one of key_id, public_key_pem, certificate_pem",
            ))
        }
    };
    state.crypto.count(app, "", "verify", 1, state.now());
    Ok(VerifyResponse {
        valid: out,
        key_version: None,
    })
}

/// Verify an SM2 signature with a stored key, a PEM public key or a certificate.
#[utoipa::path(post, path = "/crypto/verify", tag = "crypto", security(("app" = [])),
    request_body = VerifyRequest,
    responses((status = 200, body = VerifyResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> ApiResult<Json<VerifyResponse>> {
    Ok(Json(do_verify(&state, &app, &req).await?))
}

fn sm4_mode(mode: &str) -> Option<Sm4Mode> {
    match mode {
        "sm4-cbc" => Some(Sm4Mode::Cbc),
        "sm4-ctr" => Some(Sm4Mode::Ctr),
        "sm4-gcm" => Some(Sm4Mode::Gcm),
        _ => None,
    }
}

fn bad_mode(mode: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_mode",
        "mode 须为 sm4-cbc、sm4-ctr、sm4-gcm 或 sm2",
        format!("mode {mode:?} must be sm4-cbc, sm4-ctr, sm4-gcm or sm2"),
    )
}

#[derive(Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct EncryptRequest {
    pub key_id: String,
    pub plaintext: String,
    /// sm4-cbc | sm4-ctr | sm4-gcm | sm2
    pub mode: String,
    /// SM4 only; a random one is made when absent (16 bytes for CBC/CTR, 12 for GCM).
    pub iv: Option<String>,
    /// SM4-GCM only.
    pub aad: Option<String>,
    /// SM2 only: der (GM/T 0009, default) | raw (C1C3C2)
    pub format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EncryptResponse {
    /// For sm4-gcm the 16-byte tag is appended.
    pub ciphertext: String,
    pub iv: Option<String>,
    pub key_version: i32,
}

async fn do_encrypt(
    state: &AppState,
    app: &App,
    req: &EncryptRequest,
) -> ApiResult<EncryptResponse> {
    let pt = b64("plaintext", &req.plaintext)?;
    let p = &state.crypto.provider;
    let out = if req.mode == "sm2" {
        let format = cipher_format(req.format.as_deref())?;
        let key = state
            .crypto
            .resolve(state.store.as_ref(), app, &req.key_id, &[KeyKind::Sm2Enc])
            .await?;
        let (kv, public) = key.current_public()?;
        let ct = p.sm2_encrypt(public, &pt, format)?;
        EncryptResponse {
            ciphertext: enc(&ct),
            iv: None,
            key_version: kv.version,
        }
    } else {
        let mode = sm4_mode(&req.mode).ok_or_else(|| bad_mode(&req.mode))?;
        let iv = opt_b64("iv", &req.iv)?;
        let aad = opt_b64("aad", &req.aad)?.unwrap_or_default();
        if !aad.is_empty() && mode != Sm4Mode::Gcm {
            return Err(ApiError::bad_request(
                "invalid_body",
                "aad 仅适用于 sm4-gcm",
                "aad applies to sm4-gcm only",
            ));
        }
        let key = state
            .crypto
            .resolve(state.store.as_ref(), app, &req.key_id, &[KeyKind::Sm4])
            .await?;
        let (kv, kref) = key.current()?;
        let (ct, iv) = p.sm4_encrypt(kref, mode, iv.as_deref(), &aad, &pt)?;
        EncryptResponse {
            ciphertext: enc(&ct),
            iv: Some(enc(&iv)),
            key_version: kv.version,
        }
    };
    state
        .crypto
        .count(app, &req.key_id, "encrypt", 1, state.now());
    Ok(out)
}

/// Encrypt with SM4 (CBC with PKCS#7, CTR, GCM) or SM2.
#[utoipa::path(post, path = "/crypto/encrypt", tag = "crypto", security(("app" = [])),
    request_body = EncryptRequest,
    responses((status = 200, body = EncryptResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn encrypt(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<EncryptRequest>,
) -> ApiResult<Json<EncryptResponse>> {
    Ok(Json(do_encrypt(&state, &app, &req).await?))
}

#[derive(Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct DecryptRequest {
    pub key_id: String,
    pub ciphertext: String,
    pub mode: String,
    pub iv: Option<String>,
    pub aad: Option<String>,
    pub format: Option<String>,
    /// The version that encrypted (from the encrypt response). When absent: SM2 and
    /// SM4-GCM try every version (authentication tells which); CBC and CTR use the current one.
    pub key_version: Option<i32>,
}

#[derive(Serialize, ToSchema)]
pub struct DecryptResponse {
    pub plaintext: String,
    pub key_version: i32,
}

/// Decrypt with the version asked, or try each version where the mode authenticates.
fn try_versions<T>(
    key: &ResolvedKey,
    asked: Option<i32>,
    authenticates: bool,
    mut f: impl FnMut(govcloud_crypto::KeyRef<'_>) -> govcloud_crypto::Result<T>,
) -> ApiResult<(T, i32)> {
    if let Some(v) = asked {
        let (kv, r) = key.version(v)?;
        return Ok((f(r)?, kv.version));
    }
    if !authenticates {
        let (kv, r) = key.current()?;
        return Ok((f(r)?, kv.version));
    }
    let mut last = None;
    for (kv, r) in key.all() {
        match f(r) {
            Ok(t) => return Ok((t, kv.version)),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .map(ApiError::from)
        .unwrap_or_else(|| ApiError::from(govcloud_crypto::CryptoError::Decrypt)))
}

async fn do_decrypt(
    state: &AppState,
    app: &App,
    req: &DecryptRequest,
) -> ApiResult<DecryptResponse> {
    let ct = b64("ciphertext", &req.ciphertext)?;
    let p = &state.crypto.provider;
    let (pt, version) = if req.mode == "sm2" {
        let format = cipher_format(req.format.as_deref())?;
        let key = state
            .crypto
            .resolve(state.store.as_ref(), app, &req.key_id, &[KeyKind::Sm2Enc])
            .await?;
        try_versions(&key, req.key_version, true, |r| {
            p.sm2_decrypt(r, &ct, format)
        })?
    } else {
        let mode = sm4_mode(&req.mode).ok_or_else(|| bad_mode(&req.mode))?;
        let iv = opt_b64("iv", &req.iv)?.ok_or_else(|| missing("iv", "iv"))?;
        let aad = opt_b64("aad", &req.aad)?.unwrap_or_default();
        let key = state
            .crypto
            .resolve(state.store.as_ref(), app, &req.key_id, &[KeyKind::Sm4])
            .await?;
        try_versions(&key, req.key_version, mode == Sm4Mode::Gcm, |r| {
            p.sm4_decrypt(r, mode, &iv, &aad, &ct)
        })?
    };
    state
        .crypto
        .count(app, &req.key_id, "decrypt", 1, state.now());
    Ok(DecryptResponse {
        plaintext: enc(&pt),
        key_version: version,
    })
}

/// Decrypt what `encrypt` made.
#[utoipa::path(post, path = "/crypto/decrypt", tag = "crypto", security(("app" = [])),
    request_body = DecryptRequest,
    responses((status = 200, body = DecryptResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn decrypt(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<DecryptRequest>,
) -> ApiResult<Json<DecryptResponse>> {
    Ok(Json(do_decrypt(&state, &app, &req).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HashRequest {
    pub data: String,
    /// sm3 (the default and only algorithm)
    pub algorithm: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DigestResponse {
    pub digest: String,
}

/// SM3 hash.
#[utoipa::path(post, path = "/crypto/hash", tag = "crypto", security(("app" = [])),
    request_body = HashRequest,
    responses((status = 200, body = DigestResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn hash(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<HashRequest>,
) -> ApiResult<Json<DigestResponse>> {
    if req.algorithm.as_deref().is_some_and(|a| a != "sm3") {
        return Err(ApiError::bad_request(
            "invalid_algorithm",
            "仅支持 sm3",
            "algorithm must be sm3",
        ));
    }
    let d = state.crypto.provider.sm3(&b64("data", &req.data)?);
    state.crypto.count(&app, "", "hash", 1, state.now());
    Ok(Json(DigestResponse { digest: enc(&d) }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HmacRequest {
    pub data: String,
    /// An sm4 key of this app used as the HMAC key; or give `key`.
    pub key_id: Option<String>,
    /// A caller-supplied HMAC key (base64).
    pub key: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MacResponse {
    pub mac: String,
}

/// HMAC-SM3 with a stored secret key or a supplied one.
#[utoipa::path(post, path = "/crypto/hmac", tag = "crypto", security(("app" = [])),
    request_body = HmacRequest,
    responses((status = 200, body = MacResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn hmac(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<HmacRequest>,
) -> ApiResult<Json<MacResponse>> {
    let data = b64("data", &req.data)?;
    let p = &state.crypto.provider;
    let mac = match (&req.key_id, &req.key) {
        (Some(id), None) => {
            let key = state
                .crypto
                .resolve(state.store.as_ref(), &app, id, &[KeyKind::Sm4])
                .await?;
            let (_, r) = key.current()?;
            p.hmac_sm3(MacKey::Stored(r), &data)?
        }
        (None, Some(k)) => p.hmac_sm3(MacKey::Raw(&Zeroizing::new(b64("key", k)?)), &data)?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "key_id 与 key 须且只须给出一个",
                "give exactly one of key_id and key",
            ))
        }
    };
    state.crypto.count(
        &app,
        req.key_id.as_deref().unwrap_or(""),
        "hmac",
        1,
        state.now(),
    );
    Ok(Json(MacResponse { mac: enc(&mac) }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomRequest {
    /// 1 to 4096 bytes.
    pub length: usize,
}

#[derive(Serialize, ToSchema)]
pub struct DataResponse {
    pub data: String,
}

/// Random bytes from the provider.
#[utoipa::path(post, path = "/crypto/random", tag = "crypto", security(("app" = [])),
    request_body = RandomRequest,
    responses((status = 200, body = DataResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn random(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<RandomRequest>,
) -> ApiResult<Json<DataResponse>> {
    if !(1..=4096).contains(&req.length) {
        return Err(ApiError::bad_request(
            "invalid_length",
            "length 须在 1 到 4096 之间",
            "length must be 1 to 4096",
        ));
    }
    let b = state.crypto.provider.random(req.length)?;
    state.crypto.count(&app, "", "random", 1, state.now());
    Ok(Json(DataResponse { data: enc(&b) }))
}

// ---------------------------------------------------------------------------------------
// Digital envelopes and signed messages (GM/T 0010)

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SealRequest {
    pub data: String,
    /// The recipient's SM2 encryption certificate (PEM); or give `public_key_pem`.
    pub certificate_pem: Option<String>,
    /// The recipient's SM2 public key (PEM), named in the envelope by key identifier.
    pub public_key_pem: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EnvelopeResponse {
    /// DER ContentInfo of GM/T 0010 EnvelopedData (1.2.156.10197.6.1.4.2.3).
    pub envelope: String,
}

/// Seal data for a recipient's SM2 encryption certificate or public key.
#[utoipa::path(post, path = "/crypto/envelope/seal", tag = "crypto", security(("app" = [])),
    request_body = SealRequest,
    responses((status = 200, body = EnvelopeResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn envelope_seal(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<SealRequest>,
) -> ApiResult<Json<EnvelopeResponse>> {
    let data = b64("data", &req.data)?;
    let p = state.crypto.provider.as_ref();
    let env = match (&req.certificate_pem, &req.public_key_pem) {
        (Some(cert), None) => cms::seal_envelope(p, cert.as_bytes(), &data)?,
        (None, Some(pem)) => cms::seal_envelope_to_key(p, &Sm2PublicKey::from_pem(pem)?, &data)?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "certificate_pem 与 public_key_pem 须且只须给出一个",
                "give exactly one of certificate_pem and public_key_pem",
            ))
        }
    };
    state
        .crypto
        .count(&app, "", "envelope.seal", 1, state.now());
    Ok(Json(EnvelopeResponse {
        envelope: enc(&env),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    /// An sm2-enc key of this app (every version is tried).
    pub key_id: String,
    pub envelope: String,
}

#[derive(Serialize, ToSchema)]
pub struct OpenResponse {
    pub data: String,
    pub key_version: i32,
}

/// Open an envelope with the recipient's SM2 encryption key.
#[utoipa::path(post, path = "/crypto/envelope/open", tag = "crypto", security(("app" = [])),
    request_body = OpenRequest,
    responses((status = 200, body = OpenResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn envelope_open(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<OpenRequest>,
) -> ApiResult<Json<OpenResponse>> {
    let env = b64("envelope", &req.envelope)?;
    let key = state
        .crypto
        .resolve(state.store.as_ref(), &app, &req.key_id, &[KeyKind::Sm2Enc])
        .await?;
    let p = state.crypto.provider.as_ref();
    let (data, version) = try_versions(&key, None, true, |r| cms::open_envelope(p, r, &env))?;
    state
        .crypto
        .count(&app, &req.key_id, "envelope.open", 1, state.now());
    Ok(Json(OpenResponse {
        data: enc(&data),
        key_version: version,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageSignRequest {
    /// An sm2-sign key of this app.
    pub key_id: String,
    pub data: String,
    /// The certificate of the key's current version (PEM).
    pub certificate_pem: String,
    /// Leave the content out of the message (default false: attached).
    pub detached: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageResponse {
    /// DER ContentInfo of GM/T 0010 SignedData (1.2.156.10197.6.1.4.2.2).
    pub message: String,
    pub key_version: i32,
}

/// Make a GM/T 0010 signed message, attached or detached, with the signer certificate.
#[utoipa::path(post, path = "/crypto/message/sign", tag = "crypto", security(("app" = [])),
    request_body = MessageSignRequest,
    responses((status = 200, body = MessageResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn message_sign(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<MessageSignRequest>,
) -> ApiResult<Json<MessageResponse>> {
    let data = b64("data", &req.data)?;
    let key = state
        .crypto
        .resolve(state.store.as_ref(), &app, &req.key_id, &[KeyKind::Sm2Sign])
        .await?;
    let (kv, r) = key.current()?;
    let msg = cms::sign_message(
        state.crypto.provider.as_ref(),
        r,
        req.certificate_pem.as_bytes(),
        &data,
        req.detached.unwrap_or(false),
        std::time::SystemTime::from(state.now()),
    )?;
    state
        .crypto
        .count(&app, &req.key_id, "message.sign", 1, state.now());
    Ok(Json(MessageResponse {
        message: enc(&msg),
        key_version: kv.version,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageVerifyRequest {
    pub message: String,
    /// The content, for a detached message.
    pub data: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageVerifyResponse {
    pub valid: bool,
    /// The signed content.
    pub data: String,
    pub signer_certificate_pem: String,
    pub signing_time: Option<String>,
}

/// Verify a GM/T 0010 signed message (signature and digest; not the certificate chain).
#[utoipa::path(post, path = "/crypto/message/verify", tag = "crypto", security(("app" = [])),
    request_body = MessageVerifyRequest,
    responses((status = 200, body = MessageVerifyResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn message_verify(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<MessageVerifyRequest>,
) -> ApiResult<Json<MessageVerifyResponse>> {
    let msg = b64("message", &req.message)?;
    let detached = opt_b64("data", &req.data)?;
    let v = cms::verify_message(state.crypto.provider.as_ref(), &msg, detached.as_deref())?;
    state
        .crypto
        .count(&app, "", "message.verify", 1, state.now());
    let pem = der::pem::encode_string(
        "CERTIFICATE",
        der::pem::LineEnding::LF,
        &v.signer_certificate,
    )
    .map_err(|_| ApiError::internal())?;
    Ok(Json(MessageVerifyResponse {
        valid: v.valid,
        data: enc(&v.content),
        signer_certificate_pem: pem,
        signing_time: v
            .signing_time
            .map(|t| utc(chrono::DateTime::<chrono::Utc>::from(t))),
    }))
}

// ---------------------------------------------------------------------------------------
// Batch forms

/// Up to 1,000 items a request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch<T> {
    pub items: Vec<T>,
}

/// One result of a batch: the operation's response, or its error.
#[derive(Serialize, ToSchema)]
pub struct BatchResults {
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<serde_json::Value>,
}

const BATCH_MAX: usize = 1000;

async fn run_batch<T, R: Serialize, F, Fut>(items: Vec<T>, f: F) -> ApiResult<Json<BatchResults>>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = ApiResult<R>>,
{
    if items.is_empty() || items.len() > BATCH_MAX {
        return Err(ApiError::bad_request(
            "invalid_batch",
            "批量请求须含 1 到 1000 项",
            "a batch holds 1 to 1000 items",
        ));
    }
    let mut results = Vec::with_capacity(items.len());
    for it in items {
        results.push(match f(it).await {
            Ok(r) => serde_json::to_value(r).map_err(|_| ApiError::internal())?,
            Err(e) => json!({ "error": e.body }),
        });
    }
    Ok(Json(BatchResults { results }))
}

/// Sign many items; each result is a sign response or `{"error": …}`.
#[utoipa::path(post, path = "/crypto/sign/batch", tag = "crypto", security(("app" = [])),
    request_body = Batch<SignRequest>,
    responses((status = 200, body = BatchResults), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn sign_batch(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<Batch<SignRequest>>,
) -> ApiResult<Json<BatchResults>> {
    run_batch(req.items, |r| {
        let (state, app) = (&state, &app);
        async move { do_sign(state, app, &r).await }
    })
    .await
}

/// Verify many signatures.
#[utoipa::path(post, path = "/crypto/verify/batch", tag = "crypto", security(("app" = [])),
    request_body = Batch<VerifyRequest>,
    responses((status = 200, body = BatchResults), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn verify_batch(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<Batch<VerifyRequest>>,
) -> ApiResult<Json<BatchResults>> {
    run_batch(req.items, |r| {
        let (state, app) = (&state, &app);
        async move { do_verify(state, app, &r).await }
    })
    .await
}

/// Encrypt many items.
#[utoipa::path(post, path = "/crypto/encrypt/batch", tag = "crypto", security(("app" = [])),
    request_body = Batch<EncryptRequest>,
    responses((status = 200, body = BatchResults), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn encrypt_batch(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<Batch<EncryptRequest>>,
) -> ApiResult<Json<BatchResults>> {
    run_batch(req.items, |r| {
        let (state, app) = (&state, &app);
        async move { do_encrypt(state, app, &r).await }
    })
    .await
}

/// Decrypt many items.
#[utoipa::path(post, path = "/crypto/decrypt/batch", tag = "crypto", security(("app" = [])),
    request_body = Batch<DecryptRequest>,
    responses((status = 200, body = BatchResults), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn decrypt_batch(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<Batch<DecryptRequest>>,
) -> ApiResult<Json<BatchResults>> {
    run_batch(req.items, |r| {
        let (state, app) = (&state, &app);
        async move { do_decrypt(state, app, &r).await }
    })
    .await
}
