//! PKI over HTTP: certificates (issue, list, download, renew, revoke), CRLs and the OCSP
//! responder (public, as relying parties need them), RFC 3161 timestamps and their
//! verification, strong identity authentication 强身份认证, and the contract's inventory
//! of certificates, USB keys and 国密 browsers.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use govcloud_crypto::{SigFormat, SignInput, Sm2PublicKey};
use govcloud_domain::audit::AuditEvent;
use govcloud_pki::cert::{self, OID_KP_CLIENT_AUTH};
use govcloud_pki::{tsp, SigAlg};
use govcloud_store::{CertRecord, InventoryItem};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::crypto::{b64, AppCaller};
use super::{AnyRole, ApiJson, ApiPath, AppManagers, Auth};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::pki::CHALLENGE_SECONDS;

fn der_response(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------
// Public: CA chain, CRLs, OCSP.

/// The CA chain of a hierarchy (issuing CA, then root), PEM: `sm2.pem` or `rsa.pem`.
#[utoipa::path(get, path = "/pki/ca/{file}", tag = "pki",
    params(("file" = String, Path, description = "sm2.pem | rsa.pem")),
    responses((status = 200, description = "PEM certificates", content_type = "application/x-pem-file"), (status = 404, body = ErrorBody)))]
pub async fn ca_chain(
    State(state): State<AppState>,
    ApiPath(file): ApiPath<String>,
) -> ApiResult<Response> {
    let alg = file
        .strip_suffix(".pem")
        .and_then(SigAlg::parse)
        .ok_or_else(|| ApiError::not_found("CA 证书链", "CA chain"))?;
    Ok(der_response(
        "application/x-pem-file",
        state.pki.hierarchy(alg).chain_pem().into_bytes(),
    ))
}

/// The current CRL of a hierarchy: `sm2.crl` / `rsa.crl` (DER) or `sm2.crl.pem` /
/// `rsa.crl.pem`. Reissued at every revocation and when fetched 12 hours after issue; valid 24
/// hours.
#[utoipa::path(get, path = "/pki/crl/{file}", tag = "pki",
    params(("file" = String, Path, description = "sm2.crl | rsa.crl | sm2.crl.pem | rsa.crl.pem")),
    responses((status = 200, description = "the CRL", content_type = "application/pkix-crl"), (status = 404, body = ErrorBody)))]
pub async fn crl(
    State(state): State<AppState>,
    ApiPath(file): ApiPath<String>,
) -> ApiResult<Response> {
    let (name, pem) = match file.strip_suffix(".pem") {
        Some(n) => (n, true),
        None => (file.as_str(), false),
    };
    let alg = name
        .strip_suffix(".crl")
        .and_then(SigAlg::parse)
        .ok_or_else(|| ApiError::not_found("CRL", "CRL"))?;
    let c = state.pki.current_crl(state.store.as_ref(), alg).await?;
    Ok(if pem {
        der_response(
            "application/x-pem-file",
            cert::to_pem("X509 CRL", &c.der).into_bytes(),
        )
    } else {
        der_response("application/pkix-crl", c.der)
    })
}

/// OCSP (RFC 6960) by POST: body `application/ocsp-request`.
#[utoipa::path(post, path = "/pki/ocsp", tag = "pki",
    request_body(content = Vec<u8>, content_type = "application/ocsp-request"),
    responses((status = 200, description = "OCSP response (also for malformed requests, as RFC 6960 says)", content_type = "application/ocsp-response")))]
pub async fn ocsp_post(State(state): State<AppState>, body: Bytes) -> Response {
    let resp = state.pki.ocsp(state.store.as_ref(), &body).await;
    der_response("application/ocsp-response", resp)
}

/// OCSP (RFC 6960 Appendix A.1) by GET: the DER request, base64 and URL-encoded, as the path.
#[utoipa::path(get, path = "/pki/ocsp/{request}", tag = "pki",
    params(("request" = String, Path, description = "base64 (URL-encoded) DER OCSPRequest")),
    responses((status = 200, description = "OCSP response", content_type = "application/ocsp-response")))]
pub async fn ocsp_get(
    State(state): State<AppState>,
    axum::extract::Path(request): axum::extract::Path<String>,
) -> Response {
    let resp = match B64.decode(request.trim()) {
        Ok(der) => state.pki.ocsp(state.store.as_ref(), &der).await,
        Err(_) => {
            govcloud_pki::ocsp::error_response(govcloud_pki::ocsp::ErrorStatus::MalformedRequest)
        }
    };
    der_response("application/ocsp-response", resp)
}

// ---------------------------------------------------------------------------------------
// Timestamps.

/// RFC 3161 timestamping: `application/timestamp-query` in, `application/timestamp-reply`
/// out. SM3 imprints are signed by the SM2 TSA, SHA-256/384/512 by the RSA TSA. Refusals
/// (unknown hash, bad imprint, other policy) are rejection replies with status 2.
#[utoipa::path(post, path = "/tsa", tag = "pki", security(("app" = [])),
    request_body(content = Vec<u8>, content_type = "application/timestamp-query"),
    responses((status = 200, description = "TimeStampResp", content_type = "application/timestamp-reply"), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn tsa(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    body: Bytes,
) -> ApiResult<Response> {
    if body.len() > 16 * 1024 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "时间戳请求过大（上限 16 KiB）",
            "a timestamp request is at most 16 KiB",
        ));
    }
    let resp = state
        .pki
        .timestamp(state.store.as_ref(), &app.id, &body)
        .await?;
    state.crypto.count(&app, "", "timestamp", 1, state.now());
    Ok(der_response("application/timestamp-reply", resp))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TsaVerifyRequest {
    /// The TimeStampResp or TimeStampToken, base64 DER.
    pub token: String,
    /// The timestamped data, base64.
    pub data: String,
}

#[derive(Serialize, ToSchema)]
pub struct TsaVerifyResponse {
    pub valid: bool,
    /// genTime of the token (UTC).
    pub time: Option<DateTime<Utc>>,
    pub serial: Option<String>,
    /// The TSA's certificate subject.
    pub tsa: Option<String>,
    /// Whether the TSA certificate is one of this platform's.
    pub trusted: bool,
    pub reason: Option<String>,
}

/// Verify a timestamp token against data: imprint, signature, TSA certificate, and
/// whether the TSA is this platform's.
#[utoipa::path(post, path = "/tsa/verify", tag = "pki", security(("app" = [])),
    request_body = TsaVerifyRequest,
    responses((status = 200, body = TsaVerifyResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn tsa_verify(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<TsaVerifyRequest>,
) -> ApiResult<Json<TsaVerifyResponse>> {
    let token = b64("token", &req.token)?;
    let data = b64("data", &req.data)?;
    state
        .crypto
        .count(&app, "", "timestamp-verify", 1, state.now());
    Ok(Json(verify_timestamp(&state, &token, &data)?))
}

pub fn verify_timestamp(
    state: &AppState,
    token: &[u8],
    data: &[u8],
) -> ApiResult<TsaVerifyResponse> {
    match tsp::verify_token(token, data) {
        Ok(v) => {
            let tsa = cert::parse_certificate(&v.tsa_cert_der)?;
            let trusted = state.pki.is_own_tsa(&v.tsa_cert_der);
            Ok(TsaVerifyResponse {
                valid: trusted,
                time: Some(DateTime::<Utc>::from(v.gen_time)),
                serial: Some(v.serial.to_string()),
                tsa: Some(cert::subject_string(&tsa)),
                trusted,
                reason: (!trusted)
                    .then(|| "the token is signed by a TSA that is not this platform's".into()),
            })
        }
        Err(govcloud_pki::PkiError::Rejected(reason)) => Ok(TsaVerifyResponse {
            valid: false,
            time: None,
            serial: None,
            tsa: None,
            trusted: false,
            reason: Some(reason),
        }),
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------
// Strong identity authentication 强身份认证.

#[derive(Serialize, ToSchema)]
pub struct Challenge {
    pub challenge_id: String,
    /// 32 random bytes, base64: what the holder signs (SM2 with SM3 and its signer ID).
    pub challenge: String,
    pub expires_at: DateTime<Utc>,
}

/// Issue a one-time challenge for this app, valid for two minutes.
#[utoipa::path(post, path = "/auth/challenge", tag = "auth", security(("app" = [])),
    responses((status = 200, body = Challenge), (status = 401, body = ErrorBody)))]
pub async fn challenge(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
) -> ApiResult<Json<Challenge>> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::internal())?;
    let id = crate::auth::new_id("ch");
    let expires_at = state.now() + chrono::Duration::seconds(CHALLENGE_SECONDS);
    state
        .store
        .create_challenge(&id, &app.id, &bytes, expires_at)
        .await?;
    Ok(Json(Challenge {
        challenge_id: id,
        challenge: B64.encode(bytes),
        expires_at,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthVerifyRequest {
    /// signature | signature+certificate | certificate
    pub mode: String,
    pub challenge_id: String,
    /// The SM2 signature over the challenge bytes, base64 DER (GM/T 0009) or raw r‖s.
    pub signature: Option<String>,
    pub certificate_pem: Option<String>,
    /// Mode `signature` only, instead of a certificate.
    pub public_key_pem: Option<String>,
    /// Default 1234567812345678.
    pub signer_id: Option<String>,
}

#[derive(Serialize, ToSchema, Default, Debug)]
pub struct AuthChecks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<bool>,
    /// Issued by this platform's SM2 CA (signature checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<bool>,
    /// Now within notBefore..notAfter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity: Option<bool>,
    /// digitalSignature, and clientAuth when the certificate names purposes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<bool>,
    /// Not revoked (the status the CRL and OCSP publish).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<bool>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct AuthVerifyResponse {
    pub ok: bool,
    pub mode: String,
    pub checks: AuthChecks,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// challenge_invalid | signature_invalid | untrusted_issuer | expired | not_yet_valid |
    /// key_usage | revoked
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Check an answer to a challenge in one of the three modes. The challenge is used up by
/// this call, whatever the outcome; a failed check is `ok: false` with a reason code.
#[utoipa::path(post, path = "/auth/verify", tag = "auth", security(("app" = [])),
    request_body = AuthVerifyRequest,
    responses((status = 200, body = AuthVerifyResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    ApiJson(req): ApiJson<AuthVerifyRequest>,
) -> ApiResult<Json<AuthVerifyResponse>> {
    let (need_sig, need_cert) = match req.mode.as_str() {
        "signature" => (true, false),
        "signature+certificate" => (true, true),
        "certificate" => (false, true),
        other => {
            return Err(ApiError::bad_request(
                "invalid_mode",
                "mode 须为 signature、signature+certificate 或 certificate",
                format!("mode {other:?} must be signature, signature+certificate or certificate"),
            ))
        }
    };
    let missing = |f: &str| {
        ApiError::bad_request(
            "missing_field",
            format!("模式 {} 需要字段 {f}", req.mode),
            format!("mode {} needs {f}", req.mode),
        )
    };
    let signature = match (&req.signature, need_sig) {
        (Some(s), true) => Some(b64("signature", s)?),
        (None, true) => return Err(missing("signature")),
        _ => None,
    };
    let certificate = match &req.certificate_pem {
        Some(pem) => Some(cert::parse_certificate(pem.as_bytes())?),
        None if need_cert => return Err(missing("certificate_pem")),
        None => None,
    };
    let public =
        match (&certificate, &req.public_key_pem) {
            (Some(c), None) => Some(Sm2PublicKey::from_spki_der(
                &der::Encode::to_der(c.tbs_certificate().subject_public_key_info())
                    .map_err(|_| ApiError::internal())?,
            )?),
            (None, Some(pem)) if req.mode == "signature" => Some(Sm2PublicKey::from_pem(pem)?),
            (Some(_), Some(_)) | (None, Some(_)) => return Err(ApiError::bad_request(
                "invalid_body",
                "public_key_pem 仅用于 signature 模式，且不能与 certificate_pem 同时给出",
                "public_key_pem is for mode signature only, and not together with certificate_pem",
            )),
            (None, None) => return Err(missing("certificate_pem or public_key_pem")),
        };
    let signer_id = req
        .signer_id
        .as_deref()
        .unwrap_or(govcloud_crypto::DEFAULT_SIGNER_ID);

    state.crypto.count(&app, "", "auth", 1, state.now());
    let mut checks = AuthChecks::default();
    let mut reason: Option<&str> = None;
    let now = state.now();
    let Some(challenge) = state
        .store
        .consume_challenge(&req.challenge_id, &app.id, now)
        .await?
    else {
        return Ok(Json(AuthVerifyResponse {
            ok: false,
            mode: req.mode,
            checks,
            subject: certificate.as_ref().map(cert::subject_string),
            serial: certificate.as_ref().map(cert::serial_hex),
            reason: Some("challenge_invalid".into()),
        }));
    };
    if let (Some(sig), Some(public)) = (&signature, &public) {
        let format = if sig.len() == 64 {
            SigFormat::Raw
        } else {
            SigFormat::Der
        };
        let ok = state
            .crypto
            .provider
            .verify(public, signer_id, SignInput::Data(&challenge), sig, format)
            .unwrap_or(false);
        checks.signature = Some(ok);
        if !ok {
            reason.get_or_insert("signature_invalid");
        }
    }
    if let Some(c) = certificate.as_ref().filter(|_| need_cert) {
        let der = der::Encode::to_der(c).map_err(|_| ApiError::internal())?;
        let issued_by_us = state.pki.issued_by_sm2_ca(c, &der);
        checks.chain = Some(issued_by_us);
        if !issued_by_us {
            reason.get_or_insert("untrusted_issuer");
        }
        let (nb, na) = cert::validity(c);
        let now_sys: std::time::SystemTime = now.into();
        let in_time = nb <= now_sys && now_sys <= na;
        checks.validity = Some(in_time);
        if now_sys < nb {
            reason.get_or_insert("not_yet_valid");
        } else if now_sys > na {
            reason.get_or_insert("expired");
        }
        if need_sig {
            let ku = cert::key_usages(c)
                .map(|k| k.contains(x509_cert::ext::pkix::KeyUsages::DigitalSignature))
                .unwrap_or(false)
                && cert::allows_purpose(c, OID_KP_CLIENT_AUTH).unwrap_or(false);
            checks.key_usage = Some(ku);
            if !ku {
                reason.get_or_insert("key_usage");
            }
        }
        if issued_by_us {
            let rec = state.store.certificate(&cert::serial_hex(c)).await?;
            let good = rec.as_ref().is_some_and(|r| !r.revoked());
            checks.revocation = Some(good);
            if !good {
                reason.get_or_insert("revoked");
            }
        }
    }
    Ok(Json(AuthVerifyResponse {
        ok: reason.is_none(),
        mode: req.mode,
        checks,
        subject: certificate.as_ref().map(cert::subject_string),
        serial: certificate.as_ref().map(cert::serial_hex),
        reason: reason.map(str::to_owned),
    }))
}

// ---------------------------------------------------------------------------------------
// Certificates (operators and admins issue and revoke; everyone signed in may read).

#[derive(Serialize, ToSchema)]
pub struct CertificateInfo {
    pub serial: String,
    pub profile: String,
    pub profile_zh: String,
    pub alg: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// good | revoked | expired
    pub status: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<String>,
    pub request_id: String,
    pub renews: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl CertificateInfo {
    pub fn from_record(r: &CertRecord, now: DateTime<Utc>) -> Self {
        Self {
            serial: r.serial.clone(),
            profile: r.profile.clone(),
            profile_zh: crate::pki::profile_zh(&r.profile).to_owned(),
            alg: r.alg.clone(),
            subject: r.subject.clone(),
            sans: r.sans.split_whitespace().map(str::to_owned).collect(),
            not_before: r.not_before,
            not_after: r.not_after,
            status: if r.revoked() {
                "revoked"
            } else if r.not_after < now {
                "expired"
            } else {
                "good"
            }
            .into(),
            revoked_at: r.revoked_at,
            revocation_reason: r
                .reason
                .map(|c| govcloud_pki::crl::reason_name(c as u8).to_owned()),
            request_id: r.request_id.clone(),
            renews: r.renews.clone(),
            created_at: r.created_at,
            created_by: r.created_by.clone(),
        }
    }
}

/// Every certificate issued, newest first (the platform's own included).
#[utoipa::path(get, path = "/pki/certificates", tag = "pki", security(("token" = [])),
    responses((status = 200, body = [CertificateInfo]), (status = 401, body = ErrorBody)))]
pub async fn list_certificates(
    State(state): State<AppState>,
    _auth: Auth<AnyRole>,
) -> ApiResult<Json<Vec<CertificateInfo>>> {
    let now = state.now();
    Ok(Json(
        state
            .store
            .list_certificates()
            .await?
            .iter()
            .map(|r| CertificateInfo::from_record(r, now))
            .collect(),
    ))
}

/// Issue certificates: `server` (SM2 signing + SM2 encryption + RSA), `device`, `personal`.
/// From a CSR, or with key pairs generated here and returned once, encrypted.
#[utoipa::path(post, path = "/pki/certificates", tag = "pki", security(("token" = [])),
    request_body = IssueInput,
    responses((status = 201, body = Issued), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn issue(
    State(state): State<AppState>,
    auth: Auth<AppManagers>,
    ApiJson(input): ApiJson<IssueInput>,
) -> ApiResult<(StatusCode, Json<Issued>)> {
    let limits = contract_limits(&state).await?;
    let out = state
        .pki
        .issue(
            state.store.as_ref(),
            auth.user.name.as_str(),
            &input,
            &limits,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// One certificate with its PEM.
#[utoipa::path(get, path = "/pki/certificates/{serial}", tag = "pki", security(("token" = [])),
    params(("serial" = String, Path, description = "hex serial")),
    responses((status = 200, body = IssuedCertificate), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show_certificate(
    State(state): State<AppState>,
    _auth: Auth<AnyRole>,
    ApiPath(serial): ApiPath<String>,
) -> ApiResult<Json<IssuedCertificate>> {
    let r = state
        .store
        .certificate(&serial.trim().to_ascii_lowercase())
        .await?
        .ok_or_else(|| ApiError::not_found("证书", "certificate"))?;
    Ok(Json(IssuedCertificate::from_record(&r, None)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise.
    pub reason: String,
}

/// Revoke a certificate; the CRL is reissued at once and OCSP answers `revoked`.
#[utoipa::path(post, path = "/pki/certificates/{serial}/revoke", tag = "pki", security(("token" = [])),
    params(("serial" = String, Path, description = "hex serial")),
    request_body = RevokeRequest,
    responses((status = 200, body = CertificateInfo), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    auth: Auth<AppManagers>,
    ApiPath(serial): ApiPath<String>,
    ApiJson(req): ApiJson<RevokeRequest>,
) -> ApiResult<Json<CertificateInfo>> {
    let r = state
        .pki
        .revoke(
            state.store.as_ref(),
            auth.user.name.as_str(),
            &serial,
            &req.reason,
        )
        .await?;
    Ok(Json(CertificateInfo::from_record(&r, state.now())))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// A new CSR for a new key; without it the certificate's key is certified again.
    pub csr_pem: Option<String>,
}

/// Renew a certificate (same subject and SANs, new validity); the old one is revoked as
/// superseded.
#[utoipa::path(post, path = "/pki/certificates/{serial}/renew", tag = "pki", security(("token" = [])),
    params(("serial" = String, Path, description = "hex serial")),
    request_body = RenewRequest,
    responses((status = 201, body = IssuedCertificate), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn renew(
    State(state): State<AppState>,
    auth: Auth<AppManagers>,
    ApiPath(serial): ApiPath<String>,
    ApiJson(req): ApiJson<RenewRequest>,
) -> ApiResult<(StatusCode, Json<IssuedCertificate>)> {
    let out = state
        .pki
        .renew(
            state.store.as_ref(),
            auth.user.name.as_str(),
            &serial.trim().to_ascii_lowercase(),
            req.csr_pem.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

// ---------------------------------------------------------------------------------------
// Inventory against the contract.

/// The contract's quantities by certificate profile / inventory kind, summed over the
/// business systems' lines of package 2 (the system-less certificate table repeats them).
pub async fn contract_limits(state: &AppState) -> ApiResult<Vec<(String, i64)>> {
    let Some((_, contract)) = state.contract().await? else {
        return Ok(Vec::new());
    };
    Ok(limits_from_contract(&contract))
}

pub fn limits_from_contract(contract: &govcloud_domain::catalog::Contract) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = Vec::new();
    for pkg in &contract.packages {
        for item in &pkg.items {
            if item.system.is_none() {
                continue;
            }
            let key = match item.item.as_str() {
                "服务器证书" => "server-sign",
                "设备证书" => "device",
                "个人数字证书" => "personal",
                "智能密码钥匙" => "usbkey",
                "国密浏览器" => "browser",
                _ => continue,
            };
            // Certificates and devices are counted in whole pieces (张, 套).
            let q = rust_decimal::prelude::ToPrimitive::to_i64(&item.quantity.value().trunc())
                .unwrap_or(0);
            match out.iter_mut().find(|(k, _)| k == key) {
                Some((_, n)) => *n += q,
                None => out.push((key.to_owned(), q)),
            }
        }
    }
    out
}

#[derive(Serialize, ToSchema)]
pub struct InventoryLine {
    /// server-sign | device | personal | usbkey | browser
    pub kind: String,
    pub name_zh: String,
    pub contracted: i64,
    /// Active certificates (good, unexpired) or assigned items.
    pub in_use: i64,
    /// Items on hand (USB keys and browsers): registered but not assigned.
    pub on_hand: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct PkiSummary {
    pub lines: Vec<InventoryLine>,
    /// Good certificates whose notAfter is within 30 days.
    pub expiring: Vec<CertificateInfo>,
    pub timestamps_issued: i64,
    pub crl_numbers: serde_json::Value,
}

/// Issued against contracted (server 2, device 2, personal 200, USB keys 200, browsers 200)
/// and what expires within 30 days.
#[utoipa::path(get, path = "/pki/summary", tag = "pki", security(("token" = [])),
    responses((status = 200, body = PkiSummary), (status = 401, body = ErrorBody)))]
pub async fn summary(
    State(state): State<AppState>,
    _auth: Auth<AnyRole>,
) -> ApiResult<Json<PkiSummary>> {
    Ok(Json(pki_summary(&state).await?))
}

pub async fn pki_summary(state: &AppState) -> ApiResult<PkiSummary> {
    let now = state.now();
    let limits = contract_limits(state).await?;
    let certs = state.store.list_certificates().await?;
    let items = state.store.list_inventory().await?;
    let mut lines = Vec::new();
    for (kind, name) in [
        ("server-sign", "服务器证书（SM2 签名/加密 + RSA）"),
        ("device", "设备证书"),
        ("personal", "个人数字证书"),
        ("usbkey", "智能密码钥匙"),
        ("browser", "国密浏览器"),
    ] {
        let contracted = limits
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        let (in_use, on_hand) = if matches!(kind, "usbkey" | "browser") {
            let of_kind: Vec<&InventoryItem> = items.iter().filter(|i| i.kind == kind).collect();
            let assigned = of_kind.iter().filter(|i| i.assigned_to.is_some()).count() as i64;
            (assigned, Some(of_kind.len() as i64 - assigned))
        } else {
            (
                certs
                    .iter()
                    .filter(|c| c.profile == kind && !c.revoked() && c.not_after > now)
                    .count() as i64,
                None,
            )
        };
        lines.push(InventoryLine {
            kind: kind.into(),
            name_zh: name.into(),
            contracted,
            in_use,
            on_hand,
        });
    }
    let soon = now + chrono::Duration::days(30);
    let expiring = certs
        .iter()
        .filter(|c| !c.revoked() && c.not_after > now && c.not_after <= soon)
        .map(|c| CertificateInfo::from_record(c, now))
        .collect();
    let mut crl_numbers = serde_json::Map::new();
    for alg in ["sm2", "rsa"] {
        if let Some(c) = state.store.crl(alg).await? {
            crl_numbers.insert(alg.into(), json!({"number": c.number, "this_update": c.this_update, "next_update": c.next_update}));
        }
    }
    Ok(PkiSummary {
        lines,
        expiring,
        timestamps_issued: state.store.count_timestamps().await?,
        crl_numbers: crl_numbers.into(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddInventory {
    /// usbkey | browser
    pub kind: String,
    /// One label (device serial, licence number) per item.
    pub labels: Vec<String>,
}

/// Register USB keys 智能密码钥匙 or 国密 browser licences received from the provider.
#[utoipa::path(post, path = "/pki/inventory", tag = "pki", security(("token" = [])),
    request_body = AddInventory,
    responses((status = 201, body = [InventoryView]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_inventory(
    State(state): State<AppState>,
    auth: Auth<AppManagers>,
    ApiJson(req): ApiJson<AddInventory>,
) -> ApiResult<(StatusCode, Json<Vec<InventoryView>>)> {
    if !matches!(req.kind.as_str(), "usbkey" | "browser") {
        return Err(ApiError::bad_request(
            "invalid_kind",
            "kind 须为 usbkey 或 browser",
            "kind must be usbkey or browser",
        ));
    }
    let labels: Vec<String> = req.labels.iter().map(|l| l.trim().to_owned()).collect();
    if labels.is_empty()
        || labels.len() > 500
        || labels
            .iter()
            .any(|l| l.is_empty() || l.chars().count() > 100)
    {
        return Err(ApiError::bad_request(
            "invalid_labels",
            "labels 须为 1–500 个、每个 1–100 字符的编号",
            "labels must be 1 to 500 identifiers of 1 to 100 characters",
        ));
    }
    let limits = contract_limits(&state).await?;
    let contracted = limits
        .iter()
        .find(|(k, _)| *k == req.kind)
        .map(|(_, n)| *n)
        .unwrap_or(0);
    let existing = state
        .store
        .list_inventory()
        .await?
        .iter()
        .filter(|i| i.kind == req.kind)
        .count() as i64;
    if existing + labels.len() as i64 > contracted {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "over_contract",
            format!("合同约定 {contracted} 套，已登记 {existing} 套，本次 {} 套将超出", labels.len()),
            format!("the contract provides {contracted}; {existing} are registered and {} more would exceed it", labels.len()),
        )
        .with_details(json!({"contracted": contracted, "registered": existing, "remaining": contracted - existing})));
    }
    let now = state.now();
    let items: Vec<InventoryItem> = labels
        .iter()
        .map(|l| InventoryItem {
            id: format!("{}-{}", req.kind, l),
            kind: req.kind.clone(),
            label: l.clone(),
            assigned_to: None,
            assigned_at: None,
            created_at: now,
        })
        .collect();
    let event = AuditEvent::new(
        now,
        auth.user.name.as_str(),
        "pki.inventory.add",
        &req.kind,
        json!({"labels": labels}).to_string(),
    );
    state.store.add_inventory(&items, event).await?;
    Ok((
        StatusCode::CREATED,
        Json(items.iter().map(InventoryView::from).collect()),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct InventoryView {
    pub id: String,
    pub kind: String,
    pub label: String,
    pub assigned_to: Option<String>,
    pub assigned_at: Option<DateTime<Utc>>,
}

impl From<&InventoryItem> for InventoryView {
    fn from(i: &InventoryItem) -> Self {
        Self {
            id: i.id.clone(),
            kind: i.kind.clone(),
            label: i.label.clone(),
            assigned_to: i.assigned_to.clone(),
            assigned_at: i.assigned_at,
        }
    }
}

/// USB keys and browsers registered, with whom they are assigned to.
#[utoipa::path(get, path = "/pki/inventory", tag = "pki", security(("token" = [])),
    responses((status = 200, body = [InventoryView]), (status = 401, body = ErrorBody)))]
pub async fn list_inventory(
    State(state): State<AppState>,
    _auth: Auth<AnyRole>,
) -> ApiResult<Json<Vec<InventoryView>>> {
    Ok(Json(
        state
            .store
            .list_inventory()
            .await?
            .iter()
            .map(InventoryView::from)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignInventory {
    /// The holder (a person or a workstation); null returns the item to stock.
    pub to: Option<String>,
}

/// Hand an item to a holder, or take it back (`to: null`).
#[utoipa::path(post, path = "/pki/inventory/{id}/assign", tag = "pki", security(("token" = [])),
    params(("id" = String, Path, description = "inventory item id")),
    request_body = AssignInventory,
    responses((status = 200, body = InventoryView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn assign_inventory(
    State(state): State<AppState>,
    auth: Auth<AppManagers>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<AssignInventory>,
) -> ApiResult<Json<InventoryView>> {
    let to = req.to.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if to.is_some_and(|t| t.chars().count() > 100) {
        return Err(ApiError::bad_request(
            "invalid_holder",
            "领用人不超过 100 字符",
            "the holder is at most 100 characters",
        ));
    }
    let now = state.now();
    let event = AuditEvent::new(
        now,
        auth.user.name.as_str(),
        "pki.inventory.assign",
        &id,
        json!({"to": to}).to_string(),
    );
    let item = state.store.assign_inventory(&id, to, now, event).await?;
    Ok(Json(InventoryView::from(&item)))
}

/// What `POST /api/v1/pki/certificates` asks for.
#[derive(serde::Deserialize, ToSchema, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct IssueInput {
    /// server | device | personal
    pub profile: String,
    /// PKCS #10 request (PEM) for the SM2 (signing) key; without it the key pair is
    /// generated here and returned once as encrypted PKCS #8.
    pub csr_pem: Option<String>,
    /// Server only: PKCS #10 request for the RSA key; generated here when absent.
    pub rsa_csr_pem: Option<String>,
    /// `dns:NAME` / `ip:ADDRESS`.
    #[serde(default)]
    pub sans: Vec<String>,
    /// Subject CN: the server's name, the device's name, the person's name (姓名).
    pub common_name: Option<String>,
    pub organization: Option<String>,
    /// Personal only: the holder's ID number (证件号码), in the subject's serialNumber.
    pub id_number: Option<String>,
    /// Password for generated private keys (at least 8 characters); a random one is made
    /// and returned once when absent.
    pub key_password: Option<String>,
    /// Default: 365.
    pub validity_days: Option<u32>,
}

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct IssuedCertificate {
    pub serial: String,
    pub profile: String,
    /// sm2 | rsa
    pub alg: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub certificate_pem: String,
    /// Present only in the issuing response, once: the generated private key, encrypted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_private_key_pem: Option<String>,
}

impl IssuedCertificate {
    pub fn from_record(r: &CertRecord, private: Option<String>) -> Self {
        Self {
            serial: r.serial.clone(),
            profile: r.profile.clone(),
            alg: r.alg.clone(),
            subject: r.subject.clone(),
            sans: r.sans.split_whitespace().map(str::to_owned).collect(),
            not_before: r.not_before,
            not_after: r.not_after,
            certificate_pem: cert::to_pem("CERTIFICATE", &r.der),
            encrypted_private_key_pem: private,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Issued {
    pub request_id: String,
    pub certificates: Vec<IssuedCertificate>,
    /// The generated password of the private keys, shown once; absent when the caller
    /// chose one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_password: Option<String>,
}
