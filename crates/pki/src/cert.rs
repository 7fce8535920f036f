//! Certificate issuance (RFC 5280, GM/T 0015 profiles): the TBSCertificate is assembled
//! here, signed by a [`Signer`], and returned as DER. `x509-cert` 0.3 keeps its
//! TBSCertificate fields crate-private, so the structure is mirrored below; everything else
//! (names, extensions, validity) uses `x509-cert`'s types, and every issued certificate is
//! parsed back with `x509-cert` before it leaves.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use der::asn1::{BitString, Ia5String, ObjectIdentifier as Oid, OctetString};
use der::flagset::FlagSet;
use der::oid::AssociatedOid;
use der::{Decode, Encode, Sequence};
use sha1::Digest;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, Extensions};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use crate::{malformed, PkiError, Result, SigAlg, Signer};

pub const OID_KP_SERVER_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.1");
pub const OID_KP_CLIENT_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.2");
pub const OID_KP_EMAIL_PROTECTION: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.4");
pub const OID_KP_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
pub const OID_KP_OCSP_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.9");
const OID_AD_OCSP: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1");
const OID_AD_CA_ISSUERS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.2");
/// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): the responder's own status is not checked.
const OID_OCSP_NOCHECK: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.5");

/// RFC 5280 TBSCertificate (v3 only).
#[derive(Clone, Debug, Sequence)]
struct TbsCertificate {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: Version,
    serial_number: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

#[derive(Clone, Debug, Sequence)]
struct SignedCertificate {
    tbs_certificate: TbsCertificate,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// What a certificate is for; decides key usage, extended key usage, basic constraints and
/// the default validity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    RootCa,
    IssuingCa,
    /// The delegated OCSP responder (id-kp-OCSPSigning, ocsp-nocheck).
    OcspResponder,
    /// The timestamp authority (critical id-kp-timeStamping).
    Tsa,
    /// TLCP signing certificate of a server (SM2).
    ServerSign,
    /// TLCP encryption certificate of a server (SM2).
    ServerEnc,
    /// The RSA certificate of a server.
    ServerRsa,
    /// A device (SM2; its IP address in the SAN).
    Device,
    /// A person (SM2; name and ID number in the subject), for USB keys 智能密码钥匙.
    Personal,
    /// The provider's document signer (SM2, non-repudiation): signs issued monthly
    /// service statements 月度服务明细. A platform certificate, not a contracted one.
    DocumentSigner,
}

impl Profile {
    pub const ALL: [Profile; 10] = [
        Profile::RootCa,
        Profile::IssuingCa,
        Profile::OcspResponder,
        Profile::Tsa,
        Profile::ServerSign,
        Profile::ServerEnc,
        Profile::ServerRsa,
        Profile::Device,
        Profile::Personal,
        Profile::DocumentSigner,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Profile::RootCa => "root-ca",
            Profile::IssuingCa => "issuing-ca",
            Profile::OcspResponder => "ocsp",
            Profile::Tsa => "tsa",
            Profile::ServerSign => "server-sign",
            Profile::ServerEnc => "server-enc",
            Profile::ServerRsa => "server-rsa",
            Profile::Device => "device",
            Profile::Personal => "personal",
            Profile::DocumentSigner => "document-signer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == s)
    }

    /// Default validity: CAs 20 and 10 years, service certificates 5, subscriber
    /// certificates 1 year (the procurement's device and personal certificates are yearly).
    pub fn default_validity(self) -> Duration {
        const YEAR: u64 = 365 * 86_400;
        Duration::from_secs(match self {
            Profile::RootCa => 20 * YEAR,
            Profile::IssuingCa => 10 * YEAR,
            Profile::OcspResponder | Profile::Tsa | Profile::DocumentSigner => 5 * YEAR,
            _ => YEAR,
        })
    }

    pub fn is_ca(self) -> bool {
        matches!(self, Profile::RootCa | Profile::IssuingCa)
    }

    fn key_usage(self) -> FlagSet<KeyUsages> {
        use KeyUsages::*;
        match self {
            Profile::RootCa | Profile::IssuingCa => KeyCertSign | CRLSign,
            Profile::OcspResponder => DigitalSignature.into(),
            Profile::Tsa => DigitalSignature | NonRepudiation,
            Profile::ServerSign => DigitalSignature.into(),
            Profile::ServerEnc => KeyEncipherment | DataEncipherment | KeyAgreement,
            Profile::ServerRsa => DigitalSignature | KeyEncipherment,
            Profile::Device => DigitalSignature | KeyAgreement,
            Profile::Personal | Profile::DocumentSigner => DigitalSignature | NonRepudiation,
        }
    }

    fn extended_key_usage(self) -> Option<(bool, Vec<Oid>)> {
        match self {
            Profile::RootCa | Profile::IssuingCa | Profile::DocumentSigner => None,
            Profile::OcspResponder => Some((false, vec![OID_KP_OCSP_SIGNING])),
            Profile::Tsa => Some((true, vec![OID_KP_TIME_STAMPING])),
            Profile::ServerSign | Profile::ServerEnc | Profile::ServerRsa => {
                Some((false, vec![OID_KP_SERVER_AUTH, OID_KP_CLIENT_AUTH]))
            }
            Profile::Device => Some((false, vec![OID_KP_CLIENT_AUTH, OID_KP_SERVER_AUTH])),
            Profile::Personal => Some((false, vec![OID_KP_CLIENT_AUTH, OID_KP_EMAIL_PROTECTION])),
        }
    }

    /// Subscriber certificates carry revocation pointers (CRL distribution point, OCSP).
    fn is_subscriber(self) -> bool {
        !self.is_ca() && self != Profile::OcspResponder
    }
}

/// A subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

impl San {
    /// `dns:NAME` or `ip:ADDR` (as the CLI's `--san` takes them).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || PkiError::Rejected(format!("{s:?} is not dns:NAME or ip:ADDRESS"));
        let (kind, value) = s.split_once(':').ok_or_else(bad)?;
        match kind {
            "dns" => {
                let ok = !value.is_empty()
                    && value.len() <= 253
                    && value.split('.').all(|l| {
                        !l.is_empty()
                            && l.len() <= 63
                            && (l == "*"
                                || l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                    });
                if ok {
                    Ok(San::Dns(value.to_ascii_lowercase()))
                } else {
                    Err(PkiError::Rejected(format!(
                        "{value:?} is not a DNS name (letters, digits, hyphens, dots)"
                    )))
                }
            }
            "ip" => value.parse().map(San::Ip).map_err(|_| {
                PkiError::Rejected(format!("{value:?} is not an IPv4 or IPv6 address"))
            }),
            _ => Err(bad()),
        }
    }

    fn general_name(&self) -> Result<GeneralName> {
        Ok(match self {
            San::Dns(n) => GeneralName::DnsName(
                Ia5String::new(n).map_err(|e| PkiError::Rejected(format!("DNS name: {e}")))?,
            ),
            San::Ip(IpAddr::V4(a)) => GeneralName::IpAddress(
                OctetString::new(a.octets().to_vec()).map_err(malformed("IP address"))?,
            ),
            San::Ip(IpAddr::V6(a)) => GeneralName::IpAddress(
                OctetString::new(a.octets().to_vec()).map_err(malformed("IP address"))?,
            ),
        })
    }
}

impl std::fmt::Display for San {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            San::Dns(n) => write!(f, "dns:{n}"),
            San::Ip(a) => write!(f, "ip:{a}"),
        }
    }
}

/// A distinguished name from its parts; values may be Chinese (UTF8String).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub common_name: String,
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
    /// The X.520 serialNumber attribute: a person's ID number or a device's serial.
    pub serial_number: Option<String>,
}

impl Subject {
    pub fn new(common_name: impl Into<String>) -> Self {
        Self {
            common_name: common_name.into(),
            ..Self::default()
        }
    }

    /// The subject as an RFC 4514 string, most significant RDN first (`C=CN,O=…,CN=…`).
    pub fn to_rfc4514(&self) -> String {
        let mut parts = vec![format!("CN={}", escape(&self.common_name))];
        if let Some(sn) = &self.serial_number {
            parts.push(format!("SERIALNUMBER={}", escape(sn)));
        }
        if let Some(ou) = &self.organizational_unit {
            parts.push(format!("OU={}", escape(ou)));
        }
        if let Some(o) = &self.organization {
            parts.push(format!("O={}", escape(o)));
        }
        parts.push("C=CN".into());
        parts.join(",")
    }

    pub fn to_name(&self) -> Result<Name> {
        for (field, v) in [
            ("common name", Some(&self.common_name)),
            ("organization", self.organization.as_ref()),
            ("organizational unit", self.organizational_unit.as_ref()),
            ("serial number", self.serial_number.as_ref()),
        ] {
            if let Some(v) = v {
                if v.trim().is_empty() || v.chars().count() > 64 || v.chars().any(char::is_control)
                {
                    return Err(PkiError::Rejected(format!(
                        "the {field} must be 1 to 64 printable characters"
                    )));
                }
            }
        }
        if let Some(sn) = &self.serial_number {
            if !sn.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(PkiError::Rejected(
                    "the serial number may hold only letters, digits and hyphens".into(),
                ));
            }
        }
        Name::from_str(&self.to_rfc4514())
            .map_err(|e| PkiError::Rejected(format!("cannot encode the subject name ({e})")))
    }
}

/// RFC 4514 §2.4 escaping of an attribute value.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == v.chars().count() - 1 && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Where subscribers find revocation information.
#[derive(Clone, Debug, Default)]
pub struct Pointers {
    pub crl_url: Option<String>,
    pub ocsp_url: Option<String>,
    pub ca_issuers_url: Option<String>,
}

/// Everything one certificate needs.
pub struct IssueParams<'a> {
    pub profile: Profile,
    pub subject: Name,
    /// The subject's public key, SubjectPublicKeyInfo DER.
    pub public_key: &'a [u8],
    pub sans: &'a [San],
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// 16 random bytes (a positive 128-bit serial is made of them).
    pub serial: [u8; 16],
    /// The issuer's certificate; `None` for a self-signed root (issuer = subject).
    pub issuer: Option<&'a Certificate>,
    pub pointers: &'a Pointers,
}

/// A positive serial from 16 random bytes (top bit cleared so that DER needs no sign byte;
/// 127 bits of entropy, above RFC 5280's and the CA/B Forum's 64).
pub fn serial_from_random(mut bytes: [u8; 16]) -> Result<SerialNumber> {
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 0x40;
    }
    SerialNumber::new(&bytes).map_err(malformed("serial number"))
}

/// SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 §4.2.1.2 method 1).
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    sha1::Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()
}

fn ext<T: der::Encode>(oid: Oid, critical: bool, value: &T) -> Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(malformed("extension"))?)
            .map_err(malformed("extension"))?,
    })
}

fn uri(s: &str) -> Result<GeneralName> {
    Ok(GeneralName::UniformResourceIdentifier(
        Ia5String::new(s).map_err(|e| PkiError::Rejected(format!("URL {s:?}: {e}")))?,
    ))
}

/// The signature algorithm of a SubjectPublicKeyInfo's key (SM2 or RSA); others rejected.
pub fn key_alg(spki: &SubjectPublicKeyInfoOwned) -> Result<SigAlg> {
    if spki.algorithm.oid == crate::OID_RSA_ENCRYPTION {
        return Ok(SigAlg::RsaSha256);
    }
    if spki.algorithm.oid == crate::OID_EC_PUBLIC_KEY {
        let der = spki.to_der().map_err(malformed("public key"))?;
        govcloud_crypto::Sm2PublicKey::from_spki_der(&der)?;
        return Ok(SigAlg::Sm2Sm3);
    }
    Err(PkiError::Rejected(format!(
        "public key algorithm {} is neither SM2 nor RSA",
        spki.algorithm.oid
    )))
}

/// Issue one certificate: build the TBSCertificate for the profile, sign it, and return
/// the certificate as DER (checked to parse).
pub fn issue(signer: &dyn Signer, p: &IssueParams<'_>) -> Result<Vec<u8>> {
    let spki =
        SubjectPublicKeyInfoOwned::from_der(p.public_key).map_err(malformed("public key"))?;
    let subject_alg = key_alg(&spki)?;
    let expect = match p.profile {
        Profile::ServerRsa => SigAlg::RsaSha256,
        Profile::RootCa | Profile::IssuingCa | Profile::OcspResponder | Profile::Tsa => subject_alg,
        _ => SigAlg::Sm2Sm3,
    };
    if subject_alg != expect {
        return Err(PkiError::Rejected(format!(
            "a {} certificate needs an {} key",
            p.profile.code(),
            if expect == SigAlg::Sm2Sm3 {
                "SM2"
            } else {
                "RSA"
            }
        )));
    }
    if p.not_after <= p.not_before {
        return Err(PkiError::Rejected("the validity period is empty".into()));
    }
    let ski = key_identifier(&spki);
    let (issuer_name, aki) = match p.issuer {
        Some(ca) => {
            let ca_spki = ca.tbs_certificate().subject_public_key_info();
            (
                ca.tbs_certificate().subject().clone(),
                key_identifier(ca_spki),
            )
        }
        None => (p.subject.clone(), ski.clone()),
    };

    let mut exts = vec![ext(
        <BasicConstraints as AssociatedOid>::OID,
        true,
        &BasicConstraints {
            ca: p.profile.is_ca(),
            path_len_constraint: (p.profile == Profile::IssuingCa).then_some(0),
        },
    )?];
    exts.push(ext(
        <KeyUsage as AssociatedOid>::OID,
        true,
        &KeyUsage(p.profile.key_usage()),
    )?);
    if let Some((critical, purposes)) = p.profile.extended_key_usage() {
        exts.push(ext(
            <ExtendedKeyUsage as AssociatedOid>::OID,
            critical,
            &ExtendedKeyUsage(purposes),
        )?);
    }
    exts.push(ext(
        <SubjectKeyIdentifier as AssociatedOid>::OID,
        false,
        &SubjectKeyIdentifier(OctetString::new(ski).map_err(malformed("SKI"))?),
    )?);
    if p.issuer.is_some() {
        exts.push(ext(
            <AuthorityKeyIdentifier as AssociatedOid>::OID,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(aki).map_err(malformed("AKI"))?),
                ..Default::default()
            },
        )?);
    }
    if !p.sans.is_empty() {
        let names = p
            .sans
            .iter()
            .map(San::general_name)
            .collect::<Result<Vec<_>>>()?;
        exts.push(ext(
            <SubjectAltName as AssociatedOid>::OID,
            false,
            &SubjectAltName(names),
        )?);
    }
    if p.profile == Profile::OcspResponder {
        exts.push(ext(OID_OCSP_NOCHECK, false, &der::asn1::Null)?);
    }
    if p.profile.is_subscriber() || p.profile == Profile::IssuingCa {
        if let Some(url) = &p.pointers.crl_url {
            exts.push(ext(
                <CrlDistributionPoints as AssociatedOid>::OID,
                false,
                &CrlDistributionPoints(vec![DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![uri(url)?])),
                    reasons: None,
                    crl_issuer: None,
                }]),
            )?);
        }
        let mut aia = Vec::new();
        if let Some(url) = &p.pointers.ocsp_url {
            aia.push(AccessDescription {
                access_method: OID_AD_OCSP,
                access_location: uri(url)?,
            });
        }
        if let Some(url) = &p.pointers.ca_issuers_url {
            aia.push(AccessDescription {
                access_method: OID_AD_CA_ISSUERS,
                access_location: uri(url)?,
            });
        }
        if !aia.is_empty() {
            exts.push(ext(
                <AuthorityInfoAccessSyntax as AssociatedOid>::OID,
                false,
                &AuthorityInfoAccessSyntax(aia),
            )?);
        }
    }

    let alg = signer.alg().algorithm_identifier();
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: serial_from_random(p.serial)?,
        signature: alg.clone(),
        issuer: issuer_name,
        validity: Validity::new(time(p.not_before)?, time(p.not_after)?),
        subject: p.subject.clone(),
        subject_public_key_info: spki,
        extensions: Some(exts),
    };
    let tbs_der = tbs.to_der().map_err(malformed("TBSCertificate"))?;
    let signature = signer.sign(&tbs_der)?;
    let cert = SignedCertificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&signature).map_err(malformed("signature"))?,
    }
    .to_der()
    .map_err(malformed("certificate"))?;
    Certificate::from_der(&cert).map_err(|e| PkiError::Internal(format!("issued DER: {e}")))?;
    Ok(cert)
}

/// UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5), whole seconds.
pub fn time(t: SystemTime) -> Result<Time> {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| PkiError::Rejected("times before 1970 are not supported".into()))?
        .as_secs();
    Time::try_from(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .map_err(|e| PkiError::Rejected(format!("time out of range ({e})")))
}

/// A certificate in PEM or DER.
pub fn parse_certificate(input: &[u8]) -> Result<Certificate> {
    govcloud_crypto::parse_certificate(input).map_err(|e| PkiError::Malformed {
        what: "certificate",
        detail: e.to_string(),
    })
}

pub fn to_pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .expect("PEM encoding of bytes cannot fail")
}

/// The serial as lowercase hex without leading zero bytes.
pub fn serial_hex(cert: &Certificate) -> String {
    hex::encode(trim_serial(
        cert.tbs_certificate().serial_number().as_bytes(),
    ))
}

pub(crate) fn trim_serial(b: &[u8]) -> &[u8] {
    let mut b = b;
    while b.len() > 1 && b[0] == 0 {
        b = &b[1..];
    }
    b
}

/// The key usage bits a certificate asserts (all bits when it has no KeyUsage extension).
pub fn key_usages(cert: &Certificate) -> Result<FlagSet<KeyUsages>> {
    Ok(
        match cert
            .tbs_certificate()
            .get_extension::<KeyUsage>()
            .map_err(malformed("key usage"))?
        {
            Some((_, ku)) => ku.0,
            None => FlagSet::full(),
        },
    )
}

/// Is the certificate's signature made by `issuer`'s key, and is `issuer` the named issuer?
pub fn signed_by(cert: &Certificate, issuer: &Certificate) -> Result<bool> {
    if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return Ok(false);
    }
    let Some(alg) = crate::sig_alg_of(&cert.signature_algorithm().oid) else {
        return Ok(false);
    };
    let tbs = cert
        .tbs_certificate()
        .to_der()
        .map_err(malformed("TBSCertificate"))?;
    let spki = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(malformed("issuer key"))?;
    let Some(sig) = cert.signature().as_bytes() else {
        return Ok(false);
    };
    match crate::verify_signature(alg, &spki, &tbs, sig) {
        Ok(v) => Ok(v),
        Err(PkiError::Crypto(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The not-before and not-after of a certificate.
pub fn validity(cert: &Certificate) -> (SystemTime, SystemTime) {
    let v = cert.tbs_certificate().validity();
    (v.not_before.to_system_time(), v.not_after.to_system_time())
}

/// A readable subject: the RFC 4514 string x509-cert prints.
pub fn subject_string(cert: &Certificate) -> String {
    cert.tbs_certificate().subject().to_string()
}

/// Does the certificate's EKU (if any) include `purpose`? A certificate without EKU allows
/// every purpose.
pub fn allows_purpose(cert: &Certificate, purpose: Oid) -> Result<bool> {
    Ok(
        match cert
            .tbs_certificate()
            .get_extension::<ExtendedKeyUsage>()
            .map_err(malformed("extended key usage"))?
        {
            Some((_, eku)) => eku.0.contains(&purpose),
            None => true,
        },
    )
}
