//! OCSP (RFC 6960), responder side: parse requests, answer with a `BasicOCSPResponse` signed
//! by a delegated responder (or an error status). Pure structures: looking certificates up
//! and keeping the responder key are the caller's job.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString, Uint};
use der::{Any, Choice, Decode, Encode, Enumerated, Sequence, Tag};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::{malformed, PkiError, Result};

/// id-pkix-ocsp-basic.
pub const OID_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-pkix-ocsp-nonce.
pub const OID_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// id-kp-OCSPSigning (the EKU of a delegated responder certificate).
pub const OID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");

/// Most single requests one OCSP request may carry.
pub const MAX_REQUESTS: usize = 64;
/// Longest nonce accepted, in octets (RFC 8954 §2.1 allows 1 to 32 octets; a little room is
/// left for the OCTET STRING wrapping most clients put inside the extension value).
const MAX_NONCE_LEN: usize = 34;

// ---------------------------------------------------------------------------------------
// ASN.1 structures (RFC 6960 §4.1.1, §4.2.1; EXPLICIT tags as the module says).

#[derive(Clone, Debug, Sequence)]
struct OcspRequestAsn1 {
    tbs_request: TbsRequest,
    /// Signature over the request: accepted, not checked.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    optional_signature: Option<Any>,
}

#[derive(Clone, Debug, Sequence)]
struct TbsRequest {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    requestor_name: Option<Any>,
    request_list: Vec<RequestAsn1>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    request_extensions: Option<Vec<Extension>>,
}

#[derive(Clone, Debug, Sequence)]
struct RequestAsn1 {
    req_cert: CertIdAsn1,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    single_request_extensions: Option<Vec<Extension>>,
}

#[derive(Clone, Debug, Sequence)]
struct CertIdAsn1 {
    hash_algorithm: AlgorithmIdentifierOwned,
    issuer_name_hash: OctetString,
    issuer_key_hash: OctetString,
    serial_number: Uint,
}

#[derive(Clone, Copy, Debug, Enumerated)]
#[repr(u8)]
enum ResponseStatus {
    Successful = 0,
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    SigRequired = 5,
    Unauthorized = 6,
}

#[derive(Clone, Debug, Sequence)]
struct OcspResponseAsn1 {
    response_status: ResponseStatus,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    response_bytes: Option<ResponseBytes>,
}

#[derive(Clone, Debug, Sequence)]
struct ResponseBytes {
    response_type: ObjectIdentifier,
    response: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct BasicOcspResponse {
    tbs_response_data: ResponseData,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<Any>>,
}

#[derive(Clone, Debug, Sequence)]
struct ResponseData {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    responder_id: ResponderId,
    produced_at: GeneralizedTime,
    responses: Vec<SingleResponseAsn1>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    response_extensions: Option<Vec<Extension>>,
}

#[derive(Clone, Debug, Choice)]
#[allow(dead_code)] // byName is part of the structure; govcloud answers byKey
enum ResponderId {
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    ByName(Name),
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

#[derive(Clone, Debug, Sequence)]
struct SingleResponseAsn1 {
    cert_id: CertIdAsn1,
    cert_status: CertStatusAsn1,
    this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    next_update: Option<GeneralizedTime>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    single_extensions: Option<Vec<Extension>>,
}

#[derive(Clone, Debug, Choice)]
enum CertStatusAsn1 {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

#[derive(Clone, Debug, Sequence)]
struct RevokedInfo {
    revocation_time: GeneralizedTime,
    /// CRLReason, an ENUMERATED.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    revocation_reason: Option<Any>,
}

// ---------------------------------------------------------------------------------------
// Public API.

/// Names one certificate: hashes of its issuer's name and key, and its serial number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertId {
    pub hash_alg: ObjectIdentifier,
    pub issuer_name_hash: Vec<u8>,
    pub issuer_key_hash: Vec<u8>,
    /// The serial number as unsigned big-endian bytes, no leading zero byte.
    pub serial: Vec<u8>,
}

/// A parsed OCSP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspRequest {
    pub cert_ids: Vec<CertId>,
    /// The nonce extension's value octets as received, echoed back verbatim.
    pub nonce: Option<Vec<u8>>,
}

/// Parse a DER `OCSPRequest` (a POST body, or the base64-decoded GET path). More than
/// [`MAX_REQUESTS`] single requests, an unknown critical extension or an oversized nonce are
/// `Rejected`; a signed request is accepted and its signature ignored.
pub fn parse_request(der: &[u8]) -> Result<OcspRequest> {
    let req = OcspRequestAsn1::from_der(der).map_err(malformed("OCSP request"))?;
    let tbs = req.tbs_request;
    if let Some(v) = tbs.version {
        if v != 0 {
            return Err(PkiError::Rejected(format!(
                "OCSP request version {} is not supported",
                u16::from(v) + 1
            )));
        }
    }
    if tbs.request_list.is_empty() {
        return Err(PkiError::Malformed {
            what: "OCSP request",
            detail: "no certificate is asked about".into(),
        });
    }
    if tbs.request_list.len() > MAX_REQUESTS {
        return Err(PkiError::Rejected(format!(
            "an OCSP request may ask about at most {MAX_REQUESTS} certificates, this one asks about {}",
            tbs.request_list.len()
        )));
    }
    let mut nonce = None;
    for ext in tbs.request_extensions.iter().flatten() {
        if ext.extn_id == OID_OCSP_NONCE {
            if nonce.is_some() {
                return Err(PkiError::Malformed {
                    what: "OCSP request",
                    detail: "two nonce extensions".into(),
                });
            }
            let value = ext.extn_value.as_bytes();
            if value.is_empty() || value.len() > MAX_NONCE_LEN {
                return Err(PkiError::Rejected(format!(
                    "the nonce must be 1 to 32 octets (RFC 8954), this one is {} octets",
                    value.len()
                )));
            }
            nonce = Some(value.to_vec());
        } else {
            reject_critical(ext)?;
        }
    }
    let mut cert_ids = Vec::with_capacity(tbs.request_list.len());
    for r in tbs.request_list {
        for ext in r.single_request_extensions.iter().flatten() {
            reject_critical(ext)?;
        }
        let c = r.req_cert;
        cert_ids.push(CertId {
            hash_alg: c.hash_algorithm.oid,
            issuer_name_hash: c.issuer_name_hash.as_bytes().to_vec(),
            issuer_key_hash: c.issuer_key_hash.as_bytes().to_vec(),
            serial: c.serial_number.as_bytes().to_vec(),
        });
    }
    Ok(OcspRequest { cert_ids, nonce })
}

fn reject_critical(ext: &Extension) -> Result<()> {
    if ext.critical {
        Err(PkiError::Rejected(format!(
            "unsupported critical OCSP request extension {}",
            ext.extn_id
        )))
    } else {
        Ok(())
    }
}

/// A certificate's status as the responder reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked {
        at: SystemTime,
        /// The CRLReason code (0–10, not 7), if any.
        reason: Option<u8>,
    },
    Unknown,
}

/// One answer in a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleStatus {
    pub cert_id: CertId,
    pub status: Status,
    pub this_update: SystemTime,
    pub next_update: Option<SystemTime>,
}

/// The hash algorithms a CertID may use here.
fn cert_id_digest(oid: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    if *oid == crate::OID_SHA1 {
        Some(sha1::Sha1::digest(data).to_vec())
    } else if *oid == crate::OID_SHA256 {
        Some(sha2::Sha256::digest(data).to_vec())
    } else if *oid == crate::OID_SM3 {
        Some(sm3::Sm3::digest(data).to_vec())
    } else {
        None
    }
}

/// Does this CertId name a certificate issued by `issuer_cert_der` (a DER certificate)?
/// Computes issuerNameHash / issuerKeyHash with the CertId's hash algorithm (SHA-1,
/// SHA-256 or SM3; any other gives `false`). The serial number is not looked at.
pub fn issued_by(cert_id: &CertId, issuer_cert_der: &[u8]) -> Result<bool> {
    let issuer = Certificate::from_der(issuer_cert_der).map_err(malformed("issuer certificate"))?;
    let tbs = issuer.tbs_certificate();
    let name = tbs.subject().to_der().map_err(malformed("issuer name"))?;
    let key = tbs.subject_public_key_info().subject_public_key.raw_bytes();
    let (Some(name_hash), Some(key_hash)) = (
        cert_id_digest(&cert_id.hash_alg, &name),
        cert_id_digest(&cert_id.hash_alg, key),
    ) else {
        return Ok(false);
    };
    Ok(name_hash == cert_id.issuer_name_hash && key_hash == cert_id.issuer_key_hash)
}

/// Whole seconds (GeneralizedTime in OCSP carries no fraction).
pub(crate) fn generalized_time(t: SystemTime, what: &'static str) -> Result<GeneralizedTime> {
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| PkiError::Malformed {
            what,
            detail: "before 1970".into(),
        })?;
    GeneralizedTime::from_unix_duration(Duration::from_secs(d.as_secs())).map_err(malformed(what))
}

fn cert_id_asn1(id: &CertId) -> Result<CertIdAsn1> {
    Ok(CertIdAsn1 {
        // OpenSSL, Go, BouncyCastle and Java all send explicit NULL parameters, whatever
        // the hash; OpenSSL matches on the OID only.
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: id.hash_alg,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(id.issuer_name_hash.clone())
            .map_err(malformed("CertID"))?,
        issuer_key_hash: OctetString::new(id.issuer_key_hash.clone())
            .map_err(malformed("CertID"))?,
        serial_number: Uint::new(&id.serial).map_err(malformed("CertID serial number"))?,
    })
}

fn single_response(s: &SingleStatus) -> Result<SingleResponseAsn1> {
    let cert_status = match &s.status {
        Status::Good => CertStatusAsn1::Good(Null),
        Status::Unknown => CertStatusAsn1::Unknown(Null),
        Status::Revoked { at, reason } => {
            let revocation_reason = match reason {
                None => None,
                Some(r) if *r <= 10 && *r != 7 => {
                    Some(Any::new(Tag::Enumerated, vec![*r]).map_err(malformed("CRLReason"))?)
                }
                Some(r) => {
                    return Err(PkiError::Internal(format!(
                        "{r} is not a CRLReason code (0-10, not 7)"
                    )))
                }
            };
            CertStatusAsn1::Revoked(RevokedInfo {
                revocation_time: generalized_time(*at, "revocation time")?,
                revocation_reason,
            })
        }
    };
    Ok(SingleResponseAsn1 {
        cert_id: cert_id_asn1(&s.cert_id)?,
        cert_status,
        this_update: generalized_time(s.this_update, "thisUpdate")?,
        next_update: s
            .next_update
            .map(|t| generalized_time(t, "nextUpdate"))
            .transpose()?,
        single_extensions: None,
    })
}

/// Is `spki`'s key of the kind `alg` signs with?
pub(crate) fn key_fits(alg: crate::SigAlg, spki: &spki::SubjectPublicKeyInfoOwned) -> bool {
    match alg {
        crate::SigAlg::RsaSha256 => spki.algorithm.oid == crate::OID_RSA_ENCRYPTION,
        crate::SigAlg::Sm2Sm3 => spki.algorithm.oid == crate::OID_EC_PUBLIC_KEY,
    }
}

/// A successful response: a `BasicOCSPResponse` signed by `signer` (the key of
/// `responder_cert_der`, a delegated responder certificate with EKU id-kp-OCSPSigning
/// issued by the CA, or the CA itself), responderID byKey (SHA-1 of the responder's
/// subjectPublicKey), `certs` = [responder certificate], the nonce extension echoed when
/// given. CertIDs are encoded with NULL hash parameters.
pub fn build_response(
    signer: &dyn crate::Signer,
    responder_cert_der: &[u8],
    produced_at: SystemTime,
    responses: &[SingleStatus],
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>> {
    use sha1::Digest;
    let cert =
        Certificate::from_der(responder_cert_der).map_err(malformed("responder certificate"))?;
    let spki = cert.tbs_certificate().subject_public_key_info();
    if !key_fits(signer.alg(), spki) {
        return Err(PkiError::Internal(format!(
            "the responder certificate's key ({}) is not a {} key",
            spki.algorithm.oid,
            signer.alg().code()
        )));
    }
    if responses.is_empty() {
        return Err(PkiError::Internal("an OCSP response needs a status".into()));
    }
    let key_hash = sha1::Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec();
    let response_extensions = match nonce {
        None => None,
        Some(n) => Some(vec![Extension {
            extn_id: OID_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(n.to_vec()).map_err(malformed("nonce"))?,
        }]),
    };
    let data = ResponseData {
        version: None,
        responder_id: ResponderId::ByKey(
            OctetString::new(key_hash).map_err(malformed("key hash"))?,
        ),
        produced_at: generalized_time(produced_at, "producedAt")?,
        responses: responses
            .iter()
            .map(single_response)
            .collect::<Result<_>>()?,
        response_extensions,
    };
    let tbs = data.to_der().map_err(malformed("ResponseData"))?;
    let signature = signer.sign(&tbs)?;
    let basic = BasicOcspResponse {
        tbs_response_data: data,
        signature_algorithm: signer.alg().algorithm_identifier(),
        signature: BitString::from_bytes(&signature).map_err(malformed("signature"))?,
        certs: Some(vec![
            Any::from_der(responder_cert_der).map_err(malformed("responder certificate"))?
        ]),
    };
    let resp = OcspResponseAsn1 {
        response_status: ResponseStatus::Successful,
        response_bytes: Some(ResponseBytes {
            response_type: OID_OCSP_BASIC,
            response: OctetString::new(basic.to_der().map_err(malformed("BasicOCSPResponse"))?)
                .map_err(malformed("BasicOCSPResponse"))?,
        }),
    };
    resp.to_der().map_err(malformed("OCSPResponse"))
}

/// The unsuccessful OCSP response statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorStatus {
    MalformedRequest,
    InternalError,
    TryLater,
    SigRequired,
    Unauthorized,
}

/// An `OCSPResponse` carrying only an error status (no responseBytes, unsigned).
pub fn error_response(status: ErrorStatus) -> Vec<u8> {
    let code = match status {
        ErrorStatus::MalformedRequest => ResponseStatus::MalformedRequest,
        ErrorStatus::InternalError => ResponseStatus::InternalError,
        ErrorStatus::TryLater => ResponseStatus::TryLater,
        ErrorStatus::SigRequired => ResponseStatus::SigRequired,
        ErrorStatus::Unauthorized => ResponseStatus::Unauthorized,
    };
    // SEQUENCE { ENUMERATED code }
    vec![0x30, 0x03, 0x0a, 0x01, code as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_response_is_der() {
        let r = error_response(ErrorStatus::TryLater);
        let parsed = OcspResponseAsn1::from_der(&r).unwrap();
        assert!(matches!(parsed.response_status, ResponseStatus::TryLater));
        assert!(parsed.response_bytes.is_none());
        let again = OcspResponseAsn1 {
            response_status: ResponseStatus::Unauthorized,
            response_bytes: None,
        };
        assert_eq!(
            again.to_der().unwrap(),
            error_response(ErrorStatus::Unauthorized)
        );
    }
}
