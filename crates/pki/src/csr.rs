//! PKCS #10 certificate requests: parsed, and their self-signature checked (SM2 with SM3 and
//! the default signer ID, or RSA with SHA-256), before anything is issued from them.

use der::{Decode, DecodePem, Encode};
use x509_cert::request::CertReq;

use crate::{malformed, sig_alg_of, verify_signature, PkiError, Result, SigAlg};

/// Requests larger than this are refused before parsing.
pub const MAX_CSR_BYTES: usize = 64 * 1024;

/// A request whose signature verified.
#[derive(Debug)]
pub struct CheckedCsr {
    pub subject: x509_cert::name::Name,
    /// SubjectPublicKeyInfo DER of the requested key.
    pub public_key: Vec<u8>,
    pub alg: SigAlg,
}

/// Parse a CSR (PEM `CERTIFICATE REQUEST` or DER) and check its proof of possession.
pub fn parse_and_check(input: &[u8]) -> Result<CheckedCsr> {
    if input.len() > MAX_CSR_BYTES {
        return Err(PkiError::Rejected(format!(
            "the request is {} bytes; at most {MAX_CSR_BYTES} are accepted",
            input.len()
        )));
    }
    let req = match std::str::from_utf8(input) {
        Ok(text) if text.trim_start().starts_with("-----BEGIN") => {
            CertReq::from_pem(text.trim().as_bytes())
        }
        _ => CertReq::from_der(input),
    }
    .map_err(malformed("certificate request (PKCS #10)"))?;
    let alg = sig_alg_of(&req.algorithm.oid).ok_or_else(|| {
        PkiError::Rejected(format!(
            "the request is signed with {}; SM2 with SM3 (1.2.156.10197.1.501) or \
             sha256WithRSAEncryption is required",
            req.algorithm.oid
        ))
    })?;
    let public_key = req
        .info
        .public_key
        .to_der()
        .map_err(malformed("request public key"))?;
    let key_alg = crate::cert::key_alg(&req.info.public_key)?;
    if key_alg != alg {
        return Err(PkiError::Rejected(
            "the request's signature algorithm does not match its key".into(),
        ));
    }
    let info = req.info.to_der().map_err(malformed("request info"))?;
    let sig = req
        .signature
        .as_bytes()
        .ok_or_else(|| PkiError::Rejected("the request's signature is not whole bytes".into()))?;
    if !verify_signature(alg, &public_key, &info, sig)? {
        return Err(PkiError::Rejected(
            "the request's signature does not verify with its own key (proof of possession \
             failed; SM2 requests must use the signer ID 1234567812345678)"
                .into(),
        ));
    }
    Ok(CheckedCsr {
        subject: req.info.subject,
        public_key,
        alg,
    })
}
