//! The PKI service: two hierarchies (SM2 and RSA), each a root CA, an issuing CA, a
//! delegated OCSP responder and a timestamp authority, with keys held by the crypto
//! provider (wrapped under the master key, like app keys). Issuance, revocation, CRLs,
//! OCSP answers, RFC 3161 timestamps and strong authentication 强身份认证 live here; the
//! HTTP and CLI layers only translate.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use govcloud_crypto::{KeyKind, Provider};
use govcloud_domain::audit::AuditEvent;
use govcloud_pki::cert::{self, IssueParams, Pointers, Profile, San, Subject};
use govcloud_pki::{crl, csr, keygen, ocsp, tsp, PkiError, ProviderSigner, SigAlg};
use govcloud_store::{CertRecord, PkiKey, Store, StoreError, StoredCrl, TsaRecord};
use serde_json::json;
use x509_cert::Certificate;
use zeroize::Zeroizing;

use crate::api::pki::{IssueInput, Issued, IssuedCertificate};
use crate::error::ApiError;

/// govcloud's TSA policy: under IANA's private enterprise number 32473, which RFC 5612
/// reserves for documentation and examples; a production TSA sets its CPS's OID.
pub const TSA_POLICY: &str = "1.3.6.1.4.1.32473.3161.1";
/// The accuracy a token states: the server clock is NTP-disciplined to well within this.
pub const TSA_ACCURACY_MILLIS: u32 = 1000;
/// How long an authentication challenge may be answered.
pub const CHALLENGE_SECONDS: i64 = 120;
/// CRLs are valid for a day; a fetch reissues one older than 12 hours, and every
/// revocation reissues at once.
pub const CRL_VALIDITY_HOURS: i64 = 24;
pub const CRL_REISSUE_HOURS: i64 = 12;

impl From<PkiError> for ApiError {
    fn from(e: PkiError) -> Self {
        match e {
            PkiError::Malformed { what, detail } => ApiError::bad_request(
                "malformed_input",
                format!("无法解析 {what}：{detail}"),
                format!("malformed {what}: {detail}"),
            ),
            PkiError::Rejected(msg) => {
                ApiError::bad_request("rejected", format!("请求不被接受：{msg}"), msg)
            }
            PkiError::Crypto(c) => c.into(),
            PkiError::Internal(msg) => {
                tracing::error!(error = %msg, "PKI failure");
                ApiError::internal()
            }
        }
    }
}

/// One hierarchy's certificates and signers.
pub struct Hierarchy {
    pub alg: SigAlg,
    pub root_der: Vec<u8>,
    pub issuing_der: Vec<u8>,
    pub issuing: Certificate,
    pub issuing_signer: ProviderSigner,
    pub ocsp_der: Vec<u8>,
    pub ocsp_signer: ProviderSigner,
    pub tsa_der: Vec<u8>,
    pub tsa_signer: ProviderSigner,
}

impl Hierarchy {
    /// The issuing CA then the root, DER.
    pub fn chain(&self) -> Vec<Vec<u8>> {
        vec![self.issuing_der.clone(), self.root_der.clone()]
    }

    pub fn chain_pem(&self) -> String {
        format!(
            "{}{}",
            cert::to_pem("CERTIFICATE", &self.issuing_der),
            cert::to_pem("CERTIFICATE", &self.root_der)
        )
    }
}

pub struct PkiService {
    pub sm2: Hierarchy,
    pub rsa: Hierarchy,
    /// Where relying parties reach this installation (CRL and OCSP URLs in certificates).
    pub public_url: String,
    crl_lock: tokio::sync::Mutex<()>,
    /// Certificates whose issuing-CA signature was checked: SM3 of the DER → verdict.
    /// A signature never changes, so the answer never goes stale; bounded by clearing.
    chain_cache: std::sync::Mutex<std::collections::HashMap<[u8; 32], bool>>,
}

fn kind_code(alg: SigAlg) -> KeyKind {
    match alg {
        SigAlg::Sm2Sm3 => KeyKind::Sm2Sign,
        SigAlg::RsaSha256 => KeyKind::Rsa2048,
    }
}

/// The hierarchy that issued a stored certificate.
fn hierarchy_of(r: &CertRecord) -> SigAlg {
    SigAlg::parse(&r.alg).unwrap_or(SigAlg::Sm2Sm3)
}

/// What a platform key's wrapping is bound to.
fn key_binding(id: &str) -> Vec<u8> {
    format!("pki/{id}").into_bytes()
}

fn to_utc(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

fn random16() -> Result<[u8; 16], ApiError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|_| ApiError::internal())?;
    Ok(b)
}

/// The roles of the platform's own certificates, in creation order.
const ROLES: [(&str, Profile); 4] = [
    ("root", Profile::RootCa),
    ("issuing", Profile::IssuingCa),
    ("ocsp", Profile::OcspResponder),
    ("tsa", Profile::Tsa),
];

fn role_subject(alg: SigAlg, role: &str) -> Subject {
    let alg_zh = match alg {
        SigAlg::Sm2Sm3 => "SM2",
        SigAlg::RsaSha256 => "RSA",
    };
    let cn = match role {
        "root" => format!("govcloud {alg_zh} 根 CA"),
        "issuing" => format!("govcloud {alg_zh} 签发 CA"),
        "ocsp" => format!("govcloud {alg_zh} OCSP 响应者"),
        _ => format!("govcloud {alg_zh} 时间戳服务"),
    };
    Subject {
        common_name: cn,
        organization: Some("govcloud".into()),
        organizational_unit: Some("政务云密码服务".into()),
        serial_number: None,
    }
}

impl PkiService {
    /// Load the hierarchies, creating them on first start (audited as `pki.setup`).
    pub async fn load_or_init(
        store: &dyn Store,
        provider: Arc<dyn Provider>,
        public_url: &str,
    ) -> anyhow::Result<Self> {
        let public_url = public_url.trim_end_matches('/').to_owned();
        if store.pki_keys().await?.is_empty() {
            match Self::setup(store, &provider, &public_url).await {
                Ok(()) => {}
                // Another node set it up first.
                Err(e) if matches!(e.downcast_ref(), Some(StoreError::Conflict(_))) => {}
                Err(e) => return Err(e),
            }
        }
        let keys = store.pki_keys().await?;
        let certs = store.list_certificates().await?;
        let load = |alg: SigAlg| -> anyhow::Result<Hierarchy> {
            let part = |role: &str| -> anyhow::Result<(Vec<u8>, ProviderSigner)> {
                let id = format!("{}-{role}", alg.code());
                let key = keys
                    .iter()
                    .find(|k| k.id == id)
                    .ok_or_else(|| anyhow::anyhow!("PKI key {id} is missing from the store"))?;
                let cert = certs
                    .iter()
                    .filter(|c| c.key_id.as_deref() == Some(id.as_str()) && !c.revoked())
                    .max_by_key(|c| c.not_after)
                    .ok_or_else(|| anyhow::anyhow!("no certificate for PKI key {id}"))?;
                let signer = ProviderSigner {
                    provider: provider.clone(),
                    kind: kind_code(alg),
                    binding: key_binding(&id),
                    blob: key.wrapped.clone(),
                };
                Ok((cert.der.clone(), signer))
            };
            let (root_der, _) = part("root")?;
            let (issuing_der, issuing_signer) = part("issuing")?;
            let (ocsp_der, ocsp_signer) = part("ocsp")?;
            let (tsa_der, tsa_signer) = part("tsa")?;
            Ok(Hierarchy {
                alg,
                issuing: cert::parse_certificate(&issuing_der)?,
                root_der,
                issuing_der,
                issuing_signer,
                ocsp_der,
                ocsp_signer,
                tsa_der,
                tsa_signer,
            })
        };
        Ok(Self {
            sm2: load(SigAlg::Sm2Sm3)?,
            rsa: load(SigAlg::RsaSha256)?,
            public_url,
            crl_lock: tokio::sync::Mutex::new(()),
            chain_cache: Default::default(),
        })
    }

    async fn setup(
        store: &dyn Store,
        provider: &Arc<dyn Provider>,
        public_url: &str,
    ) -> anyhow::Result<()> {
        let now = SystemTime::now();
        let mut keys = Vec::new();
        let mut records = Vec::new();
        for alg in [SigAlg::Sm2Sm3, SigAlg::RsaSha256] {
            let mut root: Option<(Certificate, ProviderSigner)> = None;
            let mut issuing: Option<(Certificate, ProviderSigner)> = None;
            for (role, profile) in ROLES {
                let id = format!("{}-{role}", alg.code());
                let k = provider.generate_key(kind_code(alg), &key_binding(&id))?;
                let signer = ProviderSigner {
                    provider: provider.clone(),
                    kind: kind_code(alg),
                    binding: k.binding.clone(),
                    blob: k.blob.clone(),
                };
                let public = signer.public_key_spki()?;
                let (issuer_cert, issuer_signer) = match profile {
                    Profile::RootCa => (None, &signer),
                    Profile::IssuingCa => {
                        let (c, s) = root.as_ref().expect("root first");
                        (Some(c), s)
                    }
                    _ => {
                        let (c, s) = issuing.as_ref().expect("issuing second");
                        (Some(c), s)
                    }
                };
                let pointers = Pointers {
                    crl_url: (profile == Profile::IssuingCa)
                        .then(|| format!("{public_url}/pki/crl/{}.crl", alg.code())),
                    ..Default::default()
                };
                let der = cert::issue(
                    issuer_signer,
                    &IssueParams {
                        profile,
                        subject: role_subject(alg, role).to_name()?,
                        public_key: &public,
                        sans: &[],
                        not_before: now - Duration::from_secs(300),
                        not_after: now + profile.default_validity(),
                        serial: random16()
                            .map_err(|_| anyhow::anyhow!("the random source failed"))?,
                        issuer: issuer_cert,
                        pointers: &pointers,
                    },
                )?;
                let parsed = cert::parse_certificate(&der)?;
                records.push(record(
                    alg,
                    profile,
                    &parsed,
                    &der,
                    Some(id.clone()),
                    "setup",
                    None,
                    "system",
                    "",
                ));
                keys.push(PkiKey {
                    id,
                    kind: kind_code(alg).code().to_owned(),
                    wrapped: k.blob,
                    created_at: Utc::now(),
                });
                match profile {
                    Profile::RootCa => root = Some((parsed, signer)),
                    Profile::IssuingCa => issuing = Some((parsed, signer)),
                    _ => {}
                }
            }
        }
        let event = AuditEvent::new(
            Utc::now(),
            "system",
            "pki.setup",
            "pki",
            json!({"hierarchies": ["sm2", "rsa"], "certificates": records.iter().map(|r| json!({"serial": r.serial, "profile": r.profile, "subject": r.subject})).collect::<Vec<_>>()}).to_string(),
        );
        Ok(store.pki_setup(&keys, &records, event).await?)
    }

    pub fn hierarchy(&self, alg: SigAlg) -> &Hierarchy {
        match alg {
            SigAlg::Sm2Sm3 => &self.sm2,
            SigAlg::RsaSha256 => &self.rsa,
        }
    }

    fn pointers(&self, alg: SigAlg) -> Pointers {
        Pointers {
            crl_url: Some(format!("{}/pki/crl/{}.crl", self.public_url, alg.code())),
            ocsp_url: Some(format!("{}/pki/ocsp", self.public_url)),
            ca_issuers_url: Some(format!("{}/pki/ca/{}.pem", self.public_url, alg.code())),
        }
    }

    /// Issue what one request asks for; see [`IssueInput`].
    pub async fn issue(
        &self,
        store: &dyn Store,
        actor: &str,
        input: &IssueInput,
        contract_limits: &[(String, i64)],
    ) -> Result<Issued, ApiError> {
        let profile_name = input.profile.as_str();
        if !matches!(profile_name, "server" | "device" | "personal") {
            return Err(ApiError::bad_request(
                "invalid_profile",
                "profile 须为 server、device 或 personal",
                format!("profile {profile_name:?} must be server, device or personal"),
            ));
        }
        let sans = input
            .sans
            .iter()
            .map(|s| San::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        let checked = input
            .csr_pem
            .as_deref()
            .map(|c| csr::parse_and_check(c.as_bytes()))
            .transpose()?;
        if checked.as_ref().is_some_and(|c| c.alg != SigAlg::Sm2Sm3) {
            return Err(ApiError::bad_request(
                "invalid_csr",
                "证书请求须为 SM2 密钥（RSA 证书请用 rsa_csr_pem）",
                "the CSR must be for an SM2 key (give an RSA request as rsa_csr_pem)",
            ));
        }
        let mut subject = match (&input.common_name, &checked) {
            (Some(cn), _) => Subject::new(cn.trim()),
            (None, Some(c)) => Subject::new(
                c.subject
                    .common_name()
                    .ok()
                    .flatten()
                    .map(|d| d.value().into_owned())
                    .unwrap_or_default(),
            ),
            (None, None) => Subject::new(
                sans.first()
                    .map(|s| match s {
                        San::Dns(n) => n.clone(),
                        San::Ip(a) => a.to_string(),
                    })
                    .unwrap_or_default(),
            ),
        };
        subject.organization = input.organization.clone();
        match profile_name {
            "server" if sans.is_empty() => {
                return Err(ApiError::bad_request(
                    "san_required",
                    "服务器证书至少需要一个 dns: 或 ip: 主题备用名称",
                    "a server certificate needs at least one dns: or ip: SAN",
                ))
            }
            "device" if !sans.iter().any(|s| matches!(s, San::Ip(_))) => {
                return Err(ApiError::bad_request(
                    "san_required",
                    "设备证书须以 ip: 给出设备的 IP 地址",
                    "a device certificate needs the device's IP address as an ip: SAN",
                ))
            }
            "personal" => {
                let Some(id) = input.id_number.as_deref().filter(|s| !s.trim().is_empty()) else {
                    return Err(ApiError::bad_request(
                        "id_number_required",
                        "个人证书须给出姓名（common_name）与证件号码（id_number）",
                        "a personal certificate needs the holder's name (common_name) and ID number (id_number)",
                    ));
                };
                subject.serial_number = Some(id.trim().to_owned());
            }
            _ => {}
        }
        let name = subject.to_name()?;

        // The contract's quantity: active certificates of this kind may not exceed it.
        let contract_profile = match profile_name {
            "server" => "server-sign",
            p => p,
        };
        if let Some((_, limit)) = contract_limits.iter().find(|(p, _)| p == contract_profile) {
            let now = Utc::now();
            let active = store
                .list_certificates()
                .await?
                .iter()
                .filter(|c| c.profile == contract_profile && !c.revoked() && c.not_after > now)
                .count() as i64;
            if active >= *limit {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "over_contract",
                    format!("合同约定的{}数量为 {limit} 张，已全部在用；请先吊销或续期", profile_zh(contract_profile)),
                    format!("the contract provides {limit} {contract_profile} certificates and all are in use; revoke or renew one first"),
                )
                .with_details(json!({"contracted": limit, "active": active, "remaining": 0})));
            }
        }

        let validity = input
            .validity_days
            .map(|d| {
                if (1..=825).contains(&d) {
                    Ok(Duration::from_secs(d as u64 * 86_400))
                } else {
                    Err(ApiError::bad_request(
                        "invalid_validity",
                        "有效期须为 1–825 天",
                        "validity_days must be 1 to 825",
                    ))
                }
            })
            .transpose()?;
        // Generated private keys (all of a request's) are encrypted under the caller's
        // password, or under a random one returned once.
        let generates_keys = checked.is_none() || profile_name == "server";
        let generated_password = match (&input.key_password, generates_keys) {
            (None, true) => Some(keygen::random_password()?),
            _ => None,
        };
        let password: Zeroizing<String> = match (&input.key_password, &generated_password) {
            (Some(p), _) => Zeroizing::new(p.clone()),
            (None, Some(p)) => p.clone(),
            (None, None) => Zeroizing::new(String::new()),
        };

        // What to issue: (profile, hierarchy, public key, generated private key).
        let mut plan: Vec<(Profile, SigAlg, Vec<u8>, Option<String>)> = Vec::new();
        let main_profile = match profile_name {
            "server" => Profile::ServerSign,
            "device" => Profile::Device,
            _ => Profile::Personal,
        };
        match &checked {
            Some(c) => plan.push((main_profile, SigAlg::Sm2Sm3, c.public_key.clone(), None)),
            None => {
                let k = keygen::generate(SigAlg::Sm2Sm3, &password)?;
                plan.push((
                    main_profile,
                    SigAlg::Sm2Sm3,
                    k.public_key,
                    Some(k.encrypted_pkcs8_pem),
                ));
            }
        }
        if profile_name == "server" {
            // The TLCP encryption key pair is generated here and delivered encrypted.
            let k = keygen::generate(SigAlg::Sm2Sm3, &password)?;
            plan.push((
                Profile::ServerEnc,
                SigAlg::Sm2Sm3,
                k.public_key,
                Some(k.encrypted_pkcs8_pem),
            ));
            match &input.rsa_csr_pem {
                Some(r) => {
                    let c = csr::parse_and_check(r.as_bytes())?;
                    if c.alg != SigAlg::RsaSha256 {
                        return Err(ApiError::bad_request(
                            "invalid_csr",
                            "rsa_csr_pem 须为 RSA 证书请求",
                            "rsa_csr_pem must be a request for an RSA key",
                        ));
                    }
                    plan.push((Profile::ServerRsa, SigAlg::RsaSha256, c.public_key, None));
                }
                None => {
                    let k = keygen::generate(SigAlg::RsaSha256, &password)?;
                    plan.push((
                        Profile::ServerRsa,
                        SigAlg::RsaSha256,
                        k.public_key,
                        Some(k.encrypted_pkcs8_pem),
                    ));
                }
            }
        }

        let request_id = crate::auth::new_id("req");
        let now = SystemTime::now();
        let mut records = Vec::new();
        let mut out = Vec::new();
        for (profile, alg, public, private) in plan {
            let h = self.hierarchy(alg);
            let der = cert::issue(
                &h.issuing_signer,
                &IssueParams {
                    profile,
                    subject: name.clone(),
                    public_key: &public,
                    sans: &sans,
                    not_before: now - Duration::from_secs(60),
                    not_after: now + validity.unwrap_or(profile.default_validity()),
                    serial: random16()?,
                    issuer: Some(&h.issuing),
                    pointers: &self.pointers(alg),
                },
            )?;
            let parsed = cert::parse_certificate(&der)?;
            let rec = record(
                alg,
                profile,
                &parsed,
                &der,
                None,
                &request_id,
                None,
                actor,
                &sans_text(&sans),
            );
            out.push(IssuedCertificate::from_record(&rec, private));
            records.push(rec);
        }
        let event = AuditEvent::new(
            Utc::now(),
            actor,
            "pki.issue",
            &request_id,
            json!({
                "profile": profile_name,
                "subject": records[0].subject,
                "sans": records[0].sans,
                "serials": records.iter().map(|r| &r.serial).collect::<Vec<_>>(),
                "from_csr": checked.is_some(),
            })
            .to_string(),
        );
        store.insert_certificates(&records, event).await?;
        Ok(Issued {
            request_id,
            certificates: out,
            key_password: generated_password.map(|p| p.to_string()),
        })
    }

    /// Renew a subscriber certificate: the same profile, subject and SANs, a new validity;
    /// the same key unless a CSR is given. The old certificate is revoked as superseded.
    pub async fn renew(
        &self,
        store: &dyn Store,
        actor: &str,
        serial: &str,
        csr_pem: Option<&str>,
    ) -> Result<IssuedCertificate, ApiError> {
        let old = store
            .certificate(serial)
            .await?
            .ok_or_else(|| ApiError::not_found("证书", "certificate"))?;
        let profile = Profile::parse(&old.profile)
            .filter(|p| {
                matches!(
                    p,
                    Profile::ServerSign
                        | Profile::ServerEnc
                        | Profile::ServerRsa
                        | Profile::Device
                        | Profile::Personal
                )
            })
            .ok_or_else(|| {
                ApiError::bad_request(
                    "not_renewable",
                    "平台自身的 CA、OCSP、时间戳证书不能在此续期",
                    "the platform's own CA, OCSP and TSA certificates are not renewed here",
                )
            })?;
        if old.revoked() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "revoked",
                "已吊销的证书不能续期，请重新签发",
                "a revoked certificate cannot be renewed; issue a new one",
            ));
        }
        let alg = hierarchy_of(&old);
        let old_cert = cert::parse_certificate(&old.der)?;
        let public = match csr_pem {
            Some(c) => {
                let c = csr::parse_and_check(c.as_bytes())?;
                if c.alg != alg {
                    return Err(ApiError::bad_request(
                        "invalid_csr",
                        "新证书请求的算法须与原证书相同",
                        "the new request must use the same algorithm as the certificate",
                    ));
                }
                c.public_key
            }
            None => der::Encode::to_der(old_cert.tbs_certificate().subject_public_key_info())
                .map_err(|_| ApiError::internal())?,
        };
        let sans = old
            .sans
            .split_whitespace()
            .map(San::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let h = self.hierarchy(alg);
        let now = SystemTime::now();
        let der = cert::issue(
            &h.issuing_signer,
            &IssueParams {
                profile,
                subject: old_cert.tbs_certificate().subject().clone(),
                public_key: &public,
                sans: &sans,
                not_before: now - Duration::from_secs(60),
                not_after: now + profile.default_validity(),
                serial: random16()?,
                issuer: Some(&h.issuing),
                pointers: &self.pointers(alg),
            },
        )?;
        let parsed = cert::parse_certificate(&der)?;
        let rec = record(
            alg,
            profile,
            &parsed,
            &der,
            None,
            &old.request_id,
            Some(old.serial.clone()),
            actor,
            &old.sans,
        );
        let event = AuditEvent::new(
            Utc::now(),
            actor,
            "pki.renew",
            &rec.serial,
            json!({"renews": old.serial, "profile": old.profile, "subject": old.subject, "new_key": csr_pem.is_some()}).to_string(),
        );
        store
            .insert_certificates(std::slice::from_ref(&rec), event)
            .await?;
        self.revoke(store, actor, &old.serial, "superseded").await?;
        Ok(IssuedCertificate::from_record(&rec, None))
    }

    pub async fn revoke(
        &self,
        store: &dyn Store,
        actor: &str,
        serial: &str,
        reason: &str,
    ) -> Result<CertRecord, ApiError> {
        let code = crl::reason_code(reason).ok_or_else(|| {
            let names: Vec<&str> = crl::REASONS.iter().map(|(n, _)| *n).collect();
            ApiError::bad_request(
                "invalid_reason",
                format!("吊销原因须为：{}", names.join("、")),
                format!("the reason must be one of {}", names.join(", ")),
            )
        })?;
        let serial = serial.trim().to_ascii_lowercase();
        let existing = store
            .certificate(&serial)
            .await?
            .ok_or_else(|| ApiError::not_found("证书", "certificate"))?;
        if existing.key_id.is_some() {
            return Err(ApiError::bad_request(
                "platform_certificate",
                "平台自身的 CA、OCSP、时间戳证书不能通过此接口吊销",
                "the platform's own CA, OCSP and TSA certificates are not revoked through this interface",
            ));
        }
        let event = AuditEvent::new(
            Utc::now(),
            actor,
            "pki.revoke",
            &serial,
            json!({"reason": crl::reason_name(code), "subject": existing.subject, "profile": existing.profile}).to_string(),
        );
        let rec = store
            .revoke_certificate(&serial, Utc::now(), code as i32, event)
            .await?;
        let alg = hierarchy_of(&rec);
        self.regenerate_crl(store, alg).await?;
        Ok(rec)
    }

    /// Build, sign and store a fresh CRL of a hierarchy.
    pub async fn regenerate_crl(
        &self,
        store: &dyn Store,
        alg: SigAlg,
    ) -> Result<StoredCrl, ApiError> {
        let _one_at_a_time = self.crl_lock.lock().await;
        let h = self.hierarchy(alg);
        let revoked: Vec<crl::Revoked> = store
            .list_certificates()
            .await?
            .into_iter()
            .filter(|c| c.alg == alg.code() && c.key_id.is_none())
            .filter_map(|c| {
                Some(crl::Revoked {
                    serial: hex::decode(&c.serial).ok()?,
                    at: c.revoked_at?.into(),
                    reason: c.reason.unwrap_or(0) as u8,
                })
            })
            .collect();
        let number = store.next_crl_number(alg.code()).await?;
        let this_update = Utc::now();
        let next_update = this_update + chrono::Duration::hours(CRL_VALIDITY_HOURS);
        let der = crl::build(
            &h.issuing_signer,
            &h.issuing,
            number as u64,
            this_update.into(),
            next_update.into(),
            &revoked,
        )?;
        let c = StoredCrl {
            alg: alg.code().to_owned(),
            number,
            this_update,
            next_update,
            der,
        };
        store.save_crl(&c).await?;
        Ok(c)
    }

    /// The current CRL, reissued when it is older than the reissue period.
    pub async fn current_crl(&self, store: &dyn Store, alg: SigAlg) -> Result<StoredCrl, ApiError> {
        match store.crl(alg.code()).await? {
            Some(c) if Utc::now() < c.this_update + chrono::Duration::hours(CRL_REISSUE_HOURS) => {
                Ok(c)
            }
            _ => self.regenerate_crl(store, alg).await,
        }
    }

    /// Answer an OCSP request (DER in, DER out; errors become OCSP error responses).
    pub async fn ocsp(&self, store: &dyn Store, request: &[u8]) -> Vec<u8> {
        let req = match ocsp::parse_request(request) {
            Ok(r) => r,
            Err(_) => return ocsp::error_response(ocsp::ErrorStatus::MalformedRequest),
        };
        let Some(first) = req.cert_ids.first() else {
            return ocsp::error_response(ocsp::ErrorStatus::MalformedRequest);
        };
        let h = if ocsp::issued_by(first, &self.sm2.issuing_der).unwrap_or(false) {
            &self.sm2
        } else if ocsp::issued_by(first, &self.rsa.issuing_der).unwrap_or(false) {
            &self.rsa
        } else {
            return ocsp::error_response(ocsp::ErrorStatus::Unauthorized);
        };
        let now = SystemTime::now();
        let mut answers = Vec::new();
        for id in &req.cert_ids {
            let ours = ocsp::issued_by(id, &h.issuing_der).unwrap_or(false);
            let status = if !ours {
                ocsp::Status::Unknown
            } else {
                match store.certificate(&hex::encode(&id.serial)).await {
                    Ok(Some(c)) if c.alg == h.alg.code() && c.key_id.is_none() => {
                        match c.revoked_at {
                            Some(at) => ocsp::Status::Revoked {
                                at: at.into(),
                                reason: c.reason.map(|r| r as u8),
                            },
                            None => ocsp::Status::Good,
                        }
                    }
                    Ok(_) => ocsp::Status::Unknown,
                    Err(_) => return ocsp::error_response(ocsp::ErrorStatus::TryLater),
                }
            };
            answers.push(ocsp::SingleStatus {
                cert_id: id.clone(),
                status,
                this_update: now,
                next_update: Some(now + Duration::from_secs(3600)),
            });
        }
        ocsp::build_response(
            &h.ocsp_signer,
            &h.ocsp_der,
            now,
            &answers,
            req.nonce.as_deref(),
        )
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "OCSP response not built");
            ocsp::error_response(ocsp::ErrorStatus::InternalError)
        })
    }

    /// Timestamp a request: SM3 imprints are signed by the SM2 TSA, SHA-2 ones by the RSA
    /// TSA. Refusals are RFC 3161 rejection responses, not HTTP errors.
    pub async fn timestamp(
        &self,
        store: &dyn Store,
        app_id: &str,
        request: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        let req = match tsp::parse_request(request) {
            Ok(r) => r,
            Err(e) => return Ok(tsp::rejection(&e)),
        };
        let policy: der::asn1::ObjectIdentifier = TSA_POLICY.parse().expect("a valid OID");
        if let Some(p) = &req.policy {
            if *p != policy {
                return Ok(tsp::rejection(&tsp::TspError::UnacceptedPolicy(format!(
                    "policy {p} is not offered; this TSA issues under {TSA_POLICY}"
                ))));
            }
        }
        let alg = if req.hash_alg == govcloud_pki::OID_SM3 {
            SigAlg::Sm2Sm3
        } else {
            SigAlg::RsaSha256
        };
        let h = self.hierarchy(alg);
        let gen_time = Utc::now();
        let serial = store
            .record_timestamp(&TsaRecord {
                serial: 0,
                alg: alg.code().to_owned(),
                app_id: app_id.to_owned(),
                gen_time,
                hash_alg: req.hash_alg.to_string(),
                imprint: hex::encode(&req.hashed_message),
            })
            .await?;
        let chain = h.chain();
        let resp = tsp::build_response(
            &h.tsa_signer,
            &req,
            &tsp::TokenParams {
                policy,
                serial: serial as u64,
                gen_time: gen_time.into(),
                accuracy_millis: TSA_ACCURACY_MILLIS,
                tsa_cert_der: &h.tsa_der,
                extra_certs: &chain,
            },
        )?;
        store.set_timestamp_token(serial, &resp).await?;
        Ok(resp)
    }

    /// The provider's document signer (key `sm2-statement`, profile `document-signer`,
    /// issued by the SM2 issuing CA), created on first use (audited as
    /// `pki.document-signer`). Returns the signer and its certificate (DER).
    pub async fn document_signer(
        &self,
        store: &dyn Store,
        provider_name: &str,
    ) -> Result<(ProviderSigner, Vec<u8>), ApiError> {
        const ID: &str = "sm2-statement";
        let provider = self.sm2.issuing_signer.provider.clone();
        let signer = |blob: Vec<u8>| ProviderSigner {
            provider: provider.clone(),
            kind: KeyKind::Sm2Sign,
            binding: key_binding(ID),
            blob,
        };
        let now = Utc::now();
        let find = |keys: &[PkiKey], certs: &[CertRecord]| {
            let key = keys.iter().find(|k| k.id == ID)?;
            let cert = certs
                .iter()
                .filter(|c| c.key_id.as_deref() == Some(ID) && !c.revoked() && c.not_after > now)
                .max_by_key(|c| c.not_after)?;
            Some((key.wrapped.clone(), cert.der.clone()))
        };
        if let Some((blob, der)) = find(&store.pki_keys().await?, &store.list_certificates().await?)
        {
            return Ok((signer(blob), der));
        }
        let k = provider.generate_key(KeyKind::Sm2Sign, &key_binding(ID))?;
        let s = signer(k.blob.clone());
        let public = s.public_key_spki()?;
        let t = SystemTime::now();
        let der = cert::issue(
            &self.sm2.issuing_signer,
            &IssueParams {
                profile: Profile::DocumentSigner,
                subject: Subject {
                    common_name: format!("{provider_name} 月度服务明细签名"),
                    organization: Some(provider_name.to_owned()),
                    organizational_unit: None,
                    serial_number: None,
                }
                .to_name()?,
                public_key: &public,
                sans: &[],
                not_before: t - Duration::from_secs(300),
                not_after: t + Profile::DocumentSigner.default_validity(),
                serial: random16()?,
                issuer: Some(&self.sm2.issuing),
                pointers: &Pointers {
                    crl_url: Some(format!("{}/pki/crl/sm2.crl", self.public_url)),
                    ocsp_url: Some(format!("{}/pki/ocsp", self.public_url)),
                    ca_issuers_url: None,
                },
            },
        )?;
        let parsed = cert::parse_certificate(&der)?;
        let rec = record(
            SigAlg::Sm2Sm3,
            Profile::DocumentSigner,
            &parsed,
            &der,
            Some(ID.to_owned()),
            "document-signer",
            None,
            "system",
            "",
        );
        let event = AuditEvent::new(
            now,
            "system",
            "pki.document-signer",
            &rec.serial,
            json!({"subject": rec.subject, "profile": rec.profile}).to_string(),
        );
        let key = PkiKey {
            id: ID.to_owned(),
            kind: KeyKind::Sm2Sign.code().to_owned(),
            wrapped: k.blob,
            created_at: now,
        };
        match store.pki_setup(&[key], &[rec], event).await {
            Ok(()) => Ok((s, der)),
            // Another process created it first: use theirs.
            Err(StoreError::Conflict(_)) => {
                let (blob, der) = find(&store.pki_keys().await?, &store.list_certificates().await?)
                    .ok_or_else(ApiError::internal)?;
                Ok((signer(blob), der))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Is `tsa_cert_der` one of this platform's timestamp authorities?
    pub fn is_own_tsa(&self, tsa_cert_der: &[u8]) -> bool {
        [&self.sm2, &self.rsa]
            .iter()
            .any(|h| h.tsa_der == tsa_cert_der)
    }

    /// Is `c` (DER `der`) signed by the SM2 issuing CA? Remembered per certificate.
    pub fn issued_by_sm2_ca(&self, c: &Certificate, der: &[u8]) -> bool {
        use sm3::Digest;
        let h: [u8; 32] = sm3::Sm3::digest(der).into();
        if let Some(v) = self.chain_cache.lock().expect("not poisoned").get(&h) {
            return *v;
        }
        let v = cert::signed_by(c, &self.sm2.issuing).unwrap_or(false);
        let mut cache = self.chain_cache.lock().expect("not poisoned");
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(h, v);
        v
    }
}

pub fn profile_zh(p: &str) -> &'static str {
    match p {
        "server-sign" | "server" => "服务器证书",
        "server-enc" => "服务器加密证书",
        "server-rsa" => "服务器 RSA 证书",
        "device" => "设备证书",
        "personal" => "个人数字证书",
        "root-ca" => "根 CA",
        "issuing-ca" => "签发 CA",
        "ocsp" => "OCSP 响应者",
        "tsa" => "时间戳服务",
        "document-signer" => "月度服务明细签名",
        _ => "证书",
    }
}

fn sans_text(sans: &[San]) -> String {
    sans.iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[allow(clippy::too_many_arguments)]
fn record(
    alg: SigAlg,
    profile: Profile,
    c: &Certificate,
    der: &[u8],
    key_id: Option<String>,
    request_id: &str,
    renews: Option<String>,
    actor: &str,
    sans: &str,
) -> CertRecord {
    let (nb, na) = cert::validity(c);
    CertRecord {
        serial: cert::serial_hex(c),
        alg: alg.code().to_owned(),
        profile: profile.code().to_owned(),
        subject: cert::subject_string(c),
        sans: sans.to_owned(),
        not_before: to_utc(nb),
        not_after: to_utc(na),
        der: der.to_vec(),
        key_id,
        request_id: request_id.to_owned(),
        renews,
        revoked_at: None,
        reason: None,
        created_at: Utc::now(),
        created_by: actor.to_owned(),
    }
}
